//! The read routes end to end: commands through the relay and the projectors to the read
//! models, read-your-writes with the receipt's consistency token, projector status, and bad
//! query strings.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with, sqlite_backend};
use crate::kafka::{TestBroker, kafka_settings};

/// An app whose read routes wait up to `read_wait_ms` for a consistency token.
pub async fn app_on(broker: &TestBroker, read_wait_ms: u64) -> TestApp {
    let bootstrap = broker.bootstrap();
    spawn_app_with(sqlite_backend().await, move |settings| {
        settings.kafka = kafka_settings();
        settings.kafka.bootstrap_servers = bootstrap;
        settings.projectors.read_wait_ms = read_wait_ms;
        settings.projectors.batch_wait_ms = 5;
    })
    .await
}

fn token(receipt: &serde_json::Value) -> String {
    receipt["global_position"].as_i64().unwrap().to_string()
}

impl TestApp {
    async fn read(&self, path: &str, token: &str) -> crate::helpers::Reply {
        self.send(
            self.client
                .get(format!("{}{path}", self.address))
                .header("x-consistency-token", token),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_the_receipt_token_sees_the_write_or_says_it_is_stale() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 3_000).await;
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let (projectors, stop) = app.start_projectors(&broker).await;

    let registered = app
        .post(
            "/v1/products",
            json!({"partner_id": "p-1", "sku": "fan", "title": "신일 무선 선풍기 SIF-14", "brand": "신일",
                   "category": ["가전", "계절가전", "선풍기"], "price": {"amount": 59000}, "stock": 3}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let product = registered.body["aggregate_id"].as_str().unwrap().to_owned();
    let read = app
        .read(&format!("/v1/products/{product}"), &token(&registered.body))
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.headers["x-consistency"], "fresh");
    let found = app
        .read("/v1/search?q=ㅅㅍㄱ", &token(&registered.body))
        .await;
    assert_eq!(found.body["total"], 1, "{}", found.body);
    let suggested = app
        .read("/v1/search/suggest?q=ㅅㅇ", &token(&registered.body))
        .await;
    assert_eq!(suggested.headers["x-consistency"], "fresh");
    assert_eq!(
        suggested.body["suggestions"][0]["text"], "신일",
        "{}",
        suggested.body
    );
    let misspelt = app.get("/v1/search?q=선퐁기").await;
    assert_eq!(misspelt.body["did_you_mean"], "선풍기", "{}", misspelt.body);

    let placed = app
        .post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 2}]}),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order = placed.body["aggregate_id"].as_str().unwrap().to_owned();
    let view = app
        .read(&format!("/v1/orders/{order}"), &token(&placed.body))
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.headers["x-consistency"], "fresh");
    assert_eq!(view.body["status"], "placed");
    let history = app
        .read("/v1/customers/kim/orders", &token(&placed.body))
        .await;
    assert_eq!(history.body["total"], 1, "{}", history.body);

    // Every projection has the order once each says so.
    for path in ["/v1/trending", "/v1/search?q=선풍기"] {
        let read = app.read(path, &token(&placed.body)).await;
        assert_eq!(read.headers["x-consistency"], "fresh", "{path}");
    }
    let status = app.get("/v1/projections").await;
    assert_eq!(status.status, 200, "{}", status.body);
    let names: Vec<&str> = status
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order-views", "search", "recommendations"]);
    assert!(
        status
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["lag"] == 0),
        "{}",
        status.body
    );

    // With the projectors stopped, a read past the bound says it is stale.
    drop(stop);
    for projector in projectors {
        projector.await.unwrap().unwrap();
    }
    let changed = app
        .post(
            &format!("/v1/products/{product}/price"),
            json!({"partner_id": "p-1", "price": {"amount": 49000}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let asked = std::time::Instant::now();
    let read = app
        .read(&format!("/v1/products/{product}"), &token(&changed.body))
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.headers["x-consistency"], "stale");
    assert_eq!(
        read.body["price"]["amount"], 59000,
        "the stale answer is the old one"
    );
    assert!(asked.elapsed() >= std::time::Duration::from_secs(3));
    let lagging = app.get("/v1/projections").await;
    assert!(
        lagging
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["lag"].as_i64() > Some(0)),
        "{}",
        lagging.body
    );
}

#[tokio::test]
async fn bad_read_queries_are_problems() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 100).await;
    let long_prefix = format!("/v1/search/suggest?q={}", "가".repeat(33));
    for (path, why) in [
        ("/v1/search?limit=0", "limit"),
        ("/v1/search?limit=101", "limit"),
        ("/v1/search?offset=9901&limit=10", "window"),
        ("/v1/search?sort=cheapest", "sort"),
        ("/v1/search?price_min=ten", "price type"),
        ("/v1/search?colour=red", "unknown parameter"),
        ("/v1/search/suggest", "no prefix"),
        ("/v1/search/suggest?q=삼&limit=21", "limit"),
        ("/v1/search/suggest?q=삼&limit=0", "limit"),
        (long_prefix.as_str(), "prefix length"),
        (
            "/v1/partners/p-1/sales?from=yesterday&to=2026-11-01",
            "date",
        ),
        ("/v1/partners/p-1/settlements?month=2026-13", "month"),
        ("/v1/partners/p-1/settlements?month=november", "month"),
        ("/v1/partners/p-1/orders?status=lost", "status"),
        ("/v1/customers/kim/orders?limit=1000", "limit"),
        ("/v1/orders/not-a-uuid", "id"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 400, "{why}: {path} gave {}", reply.body);
        reply.assert_problem(400, "bad-request");
    }
    let reply = app.read("/v1/search", "yesterday").await;
    reply.assert_problem(400, "bad-request");
    for path in [
        "/v1/orders/0190a000-0000-7000-8000-000000000001",
        "/v1/customers/nobody/profile",
    ] {
        app.get(path).await.assert_problem(404, "not-found");
    }
    let empty = app.get("/v1/partners/p-1/settlements?month=2026-11").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!([]));
    // Empty ranges match nothing, as a range query does.
    let reversed = app.get("/v1/search?price_min=10&price_max=5").await;
    assert_eq!(reversed.status, 200, "{}", reversed.body);
    assert_eq!(reversed.body["total"], 0);
    let reversed = app
        .get("/v1/partners/p-1/sales?from=2026-11-02&to=2026-11-01")
        .await;
    assert_eq!(reversed.status, 200, "{}", reversed.body);
    assert_eq!(reversed.body["days"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_are_served_and_beat_popularity_on_the_demo() {
    use eventmall::demo::{self, DemoPlan};
    use eventmall_projections::recommendations::{TrendClock, evaluate};

    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 60_000).await;
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let (_projectors, _stop) = app.start_projectors(&broker).await;
    let plan = DemoPlan {
        partners: 4,
        products_per_partner: 12,
        customers: 60,
        orders: 700,
        seed: 5,
        concurrency: 8,
    };
    demo::run(&app.feeds(), plan).await.unwrap();
    let last = app.last_position().await.to_string();
    // Waiting on the token of the last write: every read model has it all.
    let trending = app.read("/v1/trending?limit=5", &last).await;
    assert_eq!(trending.headers["x-consistency"], "fresh");
    let top = &trending.body[0];
    assert!(top["score"].as_f64().unwrap() > 0.0, "{}", trending.body);
    assert!(
        top["product"]["title"].is_string(),
        "items carry the product: {top}"
    );

    let product = top["product_id"].as_str().unwrap();
    let together = app
        .read(&format!("/v1/products/{product}/bought-together"), &last)
        .await;
    let scores: Vec<f64> = together
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["score"].as_f64().unwrap())
        .collect();
    assert!(!scores.is_empty(), "{}", together.body);
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1])
            && scores.iter().all(|s| *s > 0.0 && *s <= 1.0 + 1e-9),
        "{scores:?}"
    );
    let also = app
        .read(&format!("/v1/products/{product}/also-bought"), &last)
        .await;
    assert_eq!(also.status, 200, "{}", also.body);
    let history = app
        .read("/v1/customers/customer-0001/orders?limit=100", &last)
        .await;
    let bought: Vec<String> = history.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["paid"]["amount"].as_i64() > Some(0))
        .flat_map(|o| {
            o["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["product_id"].as_str().unwrap().to_owned())
        })
        .collect();
    let picks = app
        .read("/v1/customers/customer-0001/recommendations", &last)
        .await;
    let picks = picks.body.as_array().unwrap();
    assert_eq!(picks.len(), 10, "{picks:?}");
    assert!(
        picks
            .iter()
            .all(|p| !bought.contains(&p["product_id"].as_str().unwrap().to_owned()))
    );
    if !bought.is_empty() {
        assert_eq!(
            picks[0]["reason"]["kind"], "because_you_bought",
            "{:?}",
            picks[0]
        );
        assert!(
            bought.contains(
                &picks[0]["reason"]["product_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            )
        );
    }
    let cold = app
        .read("/v1/customers/newcomer/recommendations?limit=3", &last)
        .await;
    assert!(
        cold.body
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["reason"]["kind"] == "popular"),
        "{}",
        cold.body
    );
    let purchases = eventmall::cli::purchases(app.backend().as_ref())
        .await
        .unwrap();
    let report = evaluate(
        &purchases,
        10,
        TrendClock {
            half_life_hours: 72.0,
        },
    );
    assert!(report.customers > 30, "{report:?}");
    assert!(
        report.model.hit_at_k > report.popularity.hit_at_k,
        "{report:?}"
    );
    assert!(
        report.model.precision_at_k > report.popularity.precision_at_k,
        "{report:?}"
    );
    assert!(
        report.model.recall_at_k > report.popularity.recall_at_k,
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_read_models_work_on_postgresql_and_rebuild_to_the_same_checksum() {
    use eventmall::demo::{self, DemoPlan};
    use eventmall_kafka::projector::Projector;
    use eventmall_projections::Projection;
    use eventmall_projections::recommendations::TrendClock;
    use eventmall_read_models::{OrderViews, Recommendations};

    let broker = TestBroker::in_memory().await;
    let views = crate::helpers::postgres_db().await;
    let bootstrap = broker.bootstrap();
    let views_url = views.url();
    let app = spawn_app_with(sqlite_backend().await, move |settings| {
        settings.kafka = kafka_settings();
        settings.kafka.bootstrap_servers = bootstrap;
        settings.projectors.url = views_url;
        settings.projectors.read_wait_ms = 60_000;
        settings.projectors.batch_wait_ms = 5;
    })
    .await;
    let scheme = app
        .views
        .orders
        .pool()
        .connect_options()
        .database_url
        .scheme()
        .to_owned();
    assert_eq!(scheme, "postgres", "the read models are on PostgreSQL");
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let (_projectors, _stop) = app.start_projectors(&broker).await;
    let plan = DemoPlan {
        partners: 3,
        products_per_partner: 8,
        customers: 20,
        orders: 150,
        seed: 9,
        concurrency: 8,
    };
    demo::run(&app.feeds(), plan).await.unwrap();
    let last = app.last_position().await.to_string();
    let history = app.read("/v1/customers/customer-0001/orders", &last).await;
    assert_eq!(history.headers["x-consistency"], "fresh");
    let trending = app.read("/v1/trending", &last).await;
    assert_eq!(trending.headers["x-consistency"], "fresh");
    assert!(!trending.body.as_array().unwrap().is_empty());
    let sales = app
        .get("/v1/partners/partner-001/sales?from=2026-01-01&to=2026-12-31")
        .await;
    assert_eq!(sales.status, 200, "{}", sales.body);
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let settled = app
        .get(&format!(
            "/v1/partners/partner-001/settlements?month={month}"
        ))
        .await;
    assert_eq!(settled.status, 200, "{}", settled.body);

    // A second generation built from offset 0 on PostgreSQL equals the live one.
    let pool = app.views.orders.pool().clone();
    let clock = TrendClock {
        half_life_hours: app.settings.projectors.trending_half_life_hours,
    };
    let next = app.views.orders.generation().next();
    let rebuilt: Vec<Arc<dyn Projection>> = vec![
        Arc::new(OrderViews::open(pool.clone(), next).await.unwrap()),
        Arc::new(
            Recommendations::open(pool.clone(), next, clock)
                .await
                .unwrap(),
        ),
    ];
    let stop = tokio_util::sync::CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    for projection in &rebuilt {
        Projector::new(
            projection.clone(),
            app.codec(),
            &broker.bootstrap(),
            &app.settings.projectors.runtime(),
        )
        .unwrap()
        .spawn(stop.clone());
    }
    for projection in &rebuilt {
        let live: i64 = match projection.name() {
            OrderViews::NAME => sum(app.views.orders.checkpoints().await.unwrap()),
            _ => sum(app.views.recommendations.checkpoints().await.unwrap()),
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while sum(projection.checkpoints().await.unwrap()) < live {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not catch up",
                projection.name()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let again_orders = OrderViews::open(pool.clone(), next).await.unwrap();
    assert_eq!(
        app.views.orders.checksum().await.unwrap(),
        again_orders.checksum().await.unwrap()
    );
    let again = Recommendations::open(pool, next, clock).await.unwrap();
    assert_eq!(
        app.views.recommendations.checksum().await.unwrap(),
        again.checksum().await.unwrap()
    );
}

fn sum(checkpoints: Vec<eventmall_projections::Checkpoint>) -> i64 {
    checkpoints.iter().map(|c| c.next_offset).sum()
}
