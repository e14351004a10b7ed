//! Every way a request fails, answered by the router itself (`oneshot`, no port): a problem+json
//! body with a stable type; a 5xx with a generic detail and the request id, its cause logged
//! once under that id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use eventmall_feeds::FeedIngest;
use eventmall_http::auth::{AuthMode, AuthSettings, Gate};
use eventmall_http::{AppState, HttpSettings, router};
use eventmall_kafka::consistency::ReadConsistency;
use eventmall_read_models::{ReadModelSettings, ReadModels, Serving, Stores};
use eventmall_store::keys::ApiKeys;
use eventmall_store::{CommandGateway, StoreSettings, WalletSettings};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

const BODY_LIMIT: usize = 4096;

struct Api {
    router: Router,
    views: ReadModels,
    _dir: TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let backend = eventmall_store::connect(&url, 2).await.unwrap();
    let store_pool = eventmall_store::connect_pool(&url).await.unwrap();
    let commands = CommandGateway::with_simulated_wallet(
        backend,
        &StoreSettings::default(),
        &WalletSettings::default(),
    );
    let views_url = format!("sqlite://{}", dir.path().join("views.db").display());
    let serving = Serving::open(Stores::new(
        eventmall_read_models::connect(&views_url).await.unwrap(),
        dir.path().join("search"),
        ReadModelSettings {
            search_replica: String::new(),
            search_dictionary: None,
            trending_half_life_hours: 72.0,
            commission_rate_bp: 1080,
        },
    ))
    .await
    .unwrap();
    let views = (*serving.current()).clone();
    let state = AppState {
        commands: commands.clone(),
        store_pool: store_pool.clone(),
        views: Arc::new(serving),
        consistency: ReadConsistency::new(store_pool.clone(), "eventmall", None, Duration::ZERO),
        feeds: FeedIngest::new(commands, store_pool.clone()),
        dead_letters: None,
        replay: None,
        feed_limit_bytes: 1 << 20,
        feed_idle_timeout: Duration::from_secs(30),
        // What is checked here is what every caller gets; keys are tested with the app.
        gate: Gate::new(
            ApiKeys::new(store_pool.clone()),
            AuthSettings {
                mode: AuthMode::Open,
                ..AuthSettings::default()
            },
        ),
        deadlines: HttpSettings::default().deadlines(),
        vault: eventmall_store::pii::PiiVault::new(store_pool.clone()),
    };
    Api {
        router: router(state, BODY_LIMIT),
        views,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    request_id: String,
    content_type: String,
    body: Value,
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let text = |name| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (request_id, content_type) = (text("x-request-id"), text("content-type"));
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            request_id,
            content_type,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

fn json_request(method: &str, path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn product(sku: &str, price: i64) -> String {
    json!({"partner_id": "shop-1", "sku": sku, "title": "삼성 무선청소기", "category": ["가전"],
           "price": {"amount": price}, "stock": 1})
    .to_string()
}

/// What the process logs while `run` runs, on this thread.
async fn logged<T>(run: impl Future<Output = T>) -> (T, String) {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let result = run.await;
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (result, text)
}

#[tokio::test]
async fn every_error_is_a_problem_with_a_stable_type() {
    let api = api().await;
    let registered = api
        .send(json_request("POST", "/v1/products", product("A-1", 1000)))
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let id = registered.body["aggregate_id"].as_str().unwrap().to_owned();
    let unknown = "01940000-0000-5000-8000-000000000000";
    let price = json!({"partner_id": "shop-1", "price": {"amount": 2000}}).to_string();
    let cases: Vec<(Request<Body>, u16, &str)> = vec![
        (
            json_request("POST", "/v1/products", "{"),
            400,
            "malformed-json",
        ),
        (
            json_request("POST", "/v1/products", r#"{"sku": 1}"#),
            400,
            "invalid-body",
        ),
        (get("/v1/products/not-an-id/state"), 400, "bad-request"),
        (
            Request::post("/v1/products")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("x"))
                .unwrap(),
            415,
            "unsupported-media-type",
        ),
        (
            json_request("POST", "/v1/products", "x".repeat(BODY_LIMIT + 1)),
            413,
            "payload-too-large",
        ),
        (get("/v1/nowhere"), 404, "not-found"),
        (
            json_request("DELETE", "/v1/products", ""),
            405,
            "method-not-allowed",
        ),
        (
            json_request(
                "POST",
                &format!("/v1/products/{unknown}/price"),
                price.clone(),
            ),
            404,
            "product-not-registered",
        ),
        (
            Request::post(format!("/v1/products/{id}/price"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::IF_MATCH, "\"7\"")
                .body(Body::from(price))
                .unwrap(),
            409,
            "version-conflict",
        ),
        (
            json_request("POST", "/v1/products", product("A-2", 0)),
            422,
            "invalid-price",
        ),
        (get("/v1/admin/dead-letters"), 503, "unavailable"),
    ];
    for (request, status, slug) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let answer = api.send(request).await;
        assert_eq!(answer.status.as_u16(), status, "{what}: {}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json", "{what}");
        assert_eq!(
            answer.body["type"],
            format!("urn:eventmall:problem:{slug}"),
            "{what}"
        );
        assert_eq!(answer.body["status"], status, "{what}");
        assert!(answer.body["detail"].is_string(), "{what}");
        assert!(
            !answer.request_id.is_empty(),
            "{what}: every answer has a request id"
        );
        if status >= 500 {
            assert_eq!(
                answer.body["request_id"],
                answer.request_id.as_str(),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn a_corrupt_view_row_is_a_500_with_a_generic_detail_and_its_cause_in_the_log() {
    let api = api().await;
    sqlx::query(
        "INSERT INTO order_views_g1_orders (order_id, customer_id, partner_id, status, \
         placed_at_ms, placed_day, version, view) VALUES ('0194aaaa-0000-7000-8000-000000000001', 'kim', 'shop-1', 'placed', \
         0, '2026-12-06', 1, '{not json')",
    )
    .execute(api.views.orders.pool())
    .await
    .unwrap();

    let (answer, log) =
        logged(api.send(get("/v1/orders/0194aaaa-0000-7000-8000-000000000001"))).await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert_eq!(answer.body["type"], "urn:eventmall:problem:internal");
    assert_eq!(answer.body["detail"], "the request could not be completed");
    assert_eq!(answer.body["request_id"], answer.request_id.as_str());
    let line: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&answer.request_id))
        .collect();
    assert_eq!(line.len(), 1, "logged once under its request id: {log}");
    assert!(
        line[0].contains("read model row is unreadable") && line[0].contains("key must be"),
        "the log has the cause: {log}"
    );
}

#[tokio::test]
async fn a_read_model_database_that_is_down_is_a_503_and_its_cause_in_the_log() {
    let api = api().await;
    api.views.orders.pool().close().await;
    let (answer, log) = logged(api.send(get("/v1/customers/kim/orders"))).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["type"], "urn:eventmall:problem:unavailable");
    assert_eq!(
        answer.body["detail"],
        "the read models' database is unavailable; try again later"
    );
    assert!(
        log.lines()
            .any(|line| line.contains(&answer.request_id) && line.contains("pool")),
        "the log has the cause: {log}"
    );
}
