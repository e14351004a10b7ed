//! Inputs a hostile or careless client sends, each answered with a 4xx problem while the
//! server stays up and every other route keeps answering.

use serde_json::json;

use crate::helpers::{TestApp, spawn_sqlite_app};

/// `/readyz` and a read of another route still answer, and the store holds only `events`
/// (a feed's rows are stored while it runs: they are waited for, a few seconds at most).
async fn still_serving(app: &TestApp, events: usize) {
    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(app.get("/v1/search?q=청소기").await.status, 200);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.stored().await.len() < events && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(app.stored().await.len(), events, "nothing else was stored");
}

#[tokio::test]
async fn party_ids_outside_the_charset_are_refused_at_every_door() {
    let app = spawn_sqlite_app().await;
    for id in ["a%0Ab", "a%2Fb", "a%20b", "%EA%B0%80"] {
        let feed = app
            .send(
                app.client
                    .post(format!("{}/v1/partners/{id}/feeds", app.address))
                    .body("id\ttitle\n"),
            )
            .await;
        feed.assert_problem(400, "bad-request");
        app.get(&format!("/v1/customers/{id}/profile"))
            .await
            .assert_problem(400, "bad-request");
    }
    for partner in ["a/b", "a\nb", "", &"p".repeat(101)] {
        let product = json!({
            "partner_id": partner, "sku": "c", "title": "의자", "category": ["가구"],
            "price": {"amount": 1000}, "stock": 1
        });
        app.post("/v1/products", product)
            .await
            .assert_problem(422, "invalid-id");
    }
    let order = json!({"customer_id": "kim/lee", "lines": []});
    app.post("/v1/orders", order)
        .await
        .assert_problem(422, "invalid-id");
    still_serving(&app, 0).await;
}

/// A product id is UUID v5 of `partner/sku`: with `/` in neither, (a, b/c) and (a/b, c) cannot
/// both exist, so neither can be refused as the other's product.
#[tokio::test]
async fn a_partner_and_sku_pair_names_one_product() {
    let app = spawn_sqlite_app().await;
    let register = |partner: &str, sku: &str| {
        json!({
            "partner_id": partner, "sku": sku, "title": "의자", "category": ["가구"],
            "price": {"amount": 1000}, "stock": 1
        })
    };
    app.post("/v1/products", register("a", "b/c"))
        .await
        .assert_problem(422, "invalid-sku");
    app.post("/v1/products", register("a/b", "c"))
        .await
        .assert_problem(422, "invalid-id");
    assert_eq!(
        app.post("/v1/products", register("a", "b.c")).await.status,
        201
    );
    assert_eq!(
        app.post("/v1/products", register("a.b", "c")).await.status,
        201
    );
    still_serving(&app, 2).await;
}

/// A feed's `Location` is built from the partner id after the run has committed: it must never
/// fail then, or the client retries a feed that already ran.
#[tokio::test]
async fn a_feed_run_answers_with_a_location_it_can_build() {
    let app = spawn_sqlite_app().await;
    let feed = "id\ttitle\tprice_pc\tlink\timage_link\tcategory_name1\tshipping\n\
                c-1\t의자\t1000\thttps://s.example/p\thttps://s.example/i.jpg\t가구\t0\n";
    let reply = app
        .send(
            app.client
                .post(format!("{}/v1/partners/shop.kr_1-a/feeds", app.address))
                .body(feed),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let location = reply.headers["location"].to_str().unwrap();
    assert!(
        location.starts_with("/v1/partners/shop.kr_1-a/feeds/"),
        "{location}"
    );
    assert_eq!(app.get(location).await.status, 200);
}

/// A token no receipt of this store can have carried is refused at once (422: the header is
/// well-formed, the position unreachable), instead of every read
/// waiting out the bound while it polls the store.
#[tokio::test]
async fn a_consistency_token_past_the_store_is_refused() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("p-1", "chair", 1_000).await;
    let head = app.last_position().await;
    for token in [i64::MAX, head + 1] {
        let reply = app
            .send(
                app.client
                    .get(format!("{}/v1/products/{product}", app.address))
                    .header("x-consistency-token", token.to_string()),
            )
            .await;
        reply.assert_problem(422, "consistency-token-ahead");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("past the event store's last position {head}")),
            "{}",
            reply.body
        );
    }
    still_serving(&app, 1).await;
}

const EP_HEADER: &str = "id\ttitle\tprice_pc\tlink\timage_link\tcategory_name1\tshipping\n";

fn ep_row(sku: &str) -> String {
    format!("{sku}\t의자\t1000\thttps://s.example/p\thttps://s.example/i.jpg\t가구\t0\n")
}

/// A POST that announces `length` bytes and sends only `start` of them, on a raw connection:
/// the body stops part of the way, as a slow or stuck client's does.
async fn posted(app: &TestApp, path: &str, length: usize, start: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = app.address.trim_start_matches("http://");
    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {length}\r\n\
         Authorization: Bearer {}\r\n\r\n{start}",
        app.admin_key
    );
    connection.write_all(request.as_bytes()).await.unwrap();
    connection
}

/// An upload that sends its header and a row, then nothing.
async fn stalled_upload(app: &TestApp, partner: &str) -> tokio::net::TcpStream {
    let body = format!("{EP_HEADER}{}", ep_row("held-1"));
    posted(
        app,
        &format!("/v1/partners/{partner}/feeds"),
        1_000_000,
        &body,
    )
    .await
}

/// The status line and body a stalled upload is finally answered with.
async fn answer(mut connection: tokio::net::TcpStream) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut text = Vec::new();
    connection.read_to_end(&mut text).await.unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn running_run(app: &TestApp, partner: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let runs = app.get(&format!("/v1/partners/{partner}/feeds")).await;
        if runs.body["runs"][0]["status"] == "running" {
            return runs.body["runs"][0]["run_id"].as_str().unwrap().to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", runs.body);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn upload(app: &TestApp, partner: &str, feed: String) -> crate::helpers::Reply {
    app.send(
        app.client
            .post(format!("{}/v1/partners/{partner}/feeds", app.address))
            .body(feed),
    )
    .await
}

/// Two full runs of one partner at once would each delist what the other listed; uploads that
/// stop sending must not hold runs (and their blocking readers) for ever; and no number of them
/// starves the other routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_runs_are_one_per_partner_capped_and_time_out_when_idle() {
    let app = crate::helpers::spawn_app_with(crate::helpers::sqlite_backend().await, |s| {
        s.feeds.max_concurrent_runs = 2;
        s.http.feed_idle_timeout_ms = 1_500;
    })
    .await;
    let first = stalled_upload(&app, "p1").await;
    let running = running_run(&app, "p1").await;

    // The same partner's second run: refused, naming the run going.
    let second = upload(&app, "p1", format!("{EP_HEADER}{}", ep_row("other"))).await;
    second.assert_problem(409, "feed-run-in-progress");
    assert!(
        second.body["detail"].as_str().unwrap().contains(&running),
        "{}",
        second.body
    );

    // Another partner's run takes the last slot; a third partner's waits for one.
    let other = stalled_upload(&app, "p2").await;
    running_run(&app, "p2").await;
    let third = upload(&app, "p3", format!("{EP_HEADER}{}", ep_row("c-1"))).await;
    third.assert_problem(429, "too-many-requests");
    assert_eq!(third.headers["retry-after"], "5");

    // The other routes answer while both uploads are held.
    still_serving(&app, 2).await;

    // The stalled uploads end with 408 once they have sent nothing for the idle timeout.
    for connection in [first, other] {
        let (status, text) = answer(connection).await;
        assert_eq!(status, 408, "{text}");
        assert!(
            text.contains("urn:eventmall:problem:request-timeout"),
            "{text}"
        );
    }
    let held = app.get(&format!("/v1/partners/p1/feeds/{running}")).await;
    assert_eq!(held.body["status"], "failed", "{}", held.body);
    assert_eq!(held.body["delisted"], 0, "a run cut short delists nothing");

    // With the runs ended, the partner's next full feed runs.
    let next = upload(&app, "p1", format!("{EP_HEADER}{}", ep_row("held-1"))).await;
    assert_eq!(next.status, 201, "{}", next.body);
}

/// A feed of one-character lines rejects every line: the answer and the run's report hold the
/// first 100 rejections and the count, the rest are paged, and the run stops after the
/// configured number instead of recording millions.
#[tokio::test]
async fn feed_reports_are_bounded_and_paged() {
    let app = crate::helpers::spawn_app_with(crate::helpers::sqlite_backend().await, |s| {
        s.feeds.max_rejections = 1_000;
    })
    .await;
    let junk = |lines: usize| format!("{EP_HEADER}{}", "x\n".repeat(lines));

    let reply = upload(&app, "p1", junk(250)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["rejected"], 250);
    assert_eq!(reply.body["rejections"].as_array().unwrap().len(), 100);
    let mut after = reply.body["more_rejections_after"].as_i64().unwrap();
    assert_eq!(after, 101, "line 1 is the header");
    let run = reply.body["run_id"].as_str().unwrap().to_owned();
    let mut paged = 100;
    loop {
        let page = app
            .get(&format!(
                "/v1/partners/p1/feeds/{run}/rejections?after={after}&limit=60"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        paged += page.body["rejections"].as_array().unwrap().len();
        match page.body["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(paged, 250);

    let stopped = upload(&app, "p2", junk(100_000)).await;
    stopped.assert_problem(422, "too-many-rejections");
    let runs = app.get("/v1/partners/p2/feeds").await;
    let summary = &runs.body["runs"][0];
    assert_eq!(summary["status"], "failed", "{}", runs.body);
    assert!(
        summary["error"]
            .as_str()
            .unwrap()
            .contains("1000 rejected lines")
    );
    let rejected = summary["rejected"].as_i64().unwrap();
    assert!((1_000..1_000 + 256).contains(&rejected), "{rejected}");
    still_serving(&app, 0).await;
}

fn enumeration(symbols: usize) -> String {
    let symbols: Vec<String> = (0..symbols).map(|n| format!("\"S{n}\"")).collect();
    let schema = format!(
        r#"{{"type": "enum", "name": "Colour", "symbols": [{}]}}"#,
        symbols.join(",")
    );
    serde_json::to_string(&json!({ "schema": schema })).unwrap()
}

/// The registry's routes sit under the same layers as every other route (body limit, request
/// ids), and a schema whose check would cost the square of its size is refused before it is
/// checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_bounds_what_it_parses_and_checks() {
    let app = spawn_sqlite_app().await;
    let post = |body: String| {
        app.client
            .post(format!("{}/subjects/colours-value/versions", app.address))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body)
    };
    let fine = app.send(post(enumeration(1_000))).await;
    assert_eq!(fine.status, 200, "{}", fine.body);
    assert!(
        fine.headers.contains_key("x-request-id"),
        "the API's layers"
    );

    let wide = app.send(post(enumeration(5_000))).await;
    assert_eq!(wide.status, 422, "{}", wide.body);
    assert_eq!(wide.body["error_code"], 42201);
    let message = wide.body["message"].as_str().unwrap();
    assert!(
        message.contains("symbols are 5000, at most 1000"),
        "{message}"
    );

    // Larger than the API's body limit (64 KiB here), as every other route. The server answers
    // once it has read past the limit and closes: the rest of the body may meet a broken pipe,
    // so it is written on the side while the answer is read.
    let body = enumeration(20_000);
    let connection = posted(&app, "/subjects/colours-value/versions", body.len(), "").await;
    let (mut reading, mut writing) = connection.into_split();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = writing.write_all(body.as_bytes()).await;
    });
    let mut text = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reading, &mut text)
        .await
        .unwrap();
    writer.abort();
    let text = String::from_utf8_lossy(&text);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"error_code\":413"), "{text}");
    assert_eq!(
        app.get("/subjects/colours-value/versions").await.body,
        json!([1])
    );
    still_serving(&app, 0).await;
}

/// An order is marked paid only with a payment of its own that the wallet captured for its
/// total; only its seller ships and delivers it, and the seller is always named.
#[tokio::test]
async fn mark_paid_ship_and_deliver_check_who_and_what() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("shop-1", "chair", 25_000).await;
    let place = || {
        app.post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 1}]}),
        )
    };
    let order = place().await.body["aggregate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = place().await.body["aggregate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pay_path = format!("/v1/orders/{order}/pay");
    let pay = |payment: String| {
        app.post(
            &pay_path,
            json!({"payment_id": payment, "amount": {"amount": 25_000}}),
        )
    };
    pay(uuid::Uuid::now_v7().to_string())
        .await
        .assert_problem(422, "unknown-payment");
    let others = app.pay(&other).await;
    pay(others)
        .await
        .assert_problem(422, "payment-of-another-order");
    let requested = app
        .post(
            "/v1/payments",
            json!({"order_id": order, "customer_id": "kim", "wallet_id": "wallet-kim",
                   "amount": {"amount": 25_000}}),
        )
        .await;
    let authorized_only = requested.body["aggregate_id"].as_str().unwrap().to_owned();
    let authorize = format!("/v1/payments/{authorized_only}/authorize");
    assert_eq!(app.post(&authorize, json!({})).await.status, 200);
    pay(authorized_only.clone())
        .await
        .assert_problem(422, "payment-not-captured");

    // Another customer's payment from kim's wallet is declined by the wallet.
    let lees = app
        .post(
            "/v1/payments",
            json!({"order_id": order, "customer_id": "lee", "wallet_id": "wallet-kim",
                   "amount": {"amount": 25_000}}),
        )
        .await;
    let lees = lees.body["aggregate_id"].as_str().unwrap().to_owned();
    let declined = app
        .post(&format!("/v1/payments/{lees}/authorize"), json!({}))
        .await;
    assert_eq!(
        declined.body["events"],
        json!(["PaymentDeclined"]),
        "{}",
        declined.body
    );

    let capture = format!("/v1/payments/{authorized_only}/capture");
    assert_eq!(app.post(&capture, json!({})).await.status, 200);
    assert_eq!(pay(authorized_only).await.status, 200);

    let ship_path = format!("/v1/orders/{order}/ship");
    let ship = |body| app.post(&ship_path, body);
    ship(json!({"carrier": "CJ", "tracking_number": "1"}))
        .await
        .assert_problem(400, "invalid-body");
    ship(json!({"carrier": "CJ", "tracking_number": "1", "partner_id": "shop-2"}))
        .await
        .assert_problem(403, "not-order-seller");
    let shipped = ship(json!({"carrier": "CJ", "tracking_number": "1", "partner_id": "shop-1"}));
    assert_eq!(shipped.await.status, 200);
}

/// Upstream event ids are each producer's own: two partners whose producers both count from 1
/// are two records, not one record and a conflict.
#[tokio::test]
async fn ingest_event_ids_are_scoped_by_partner() {
    use eventmall_events::ingest::{IngestRecord, ProductIngest, ProductUpserted};
    use eventmall_events::{Money, PartnerId};
    use eventmall_kafka::ingest::Failure;

    let app = spawn_sqlite_app().await;
    let ingest = app.ingest().await;
    let record = |partner: &str, title: &str| -> IngestRecord {
        ProductIngest::from(ProductUpserted {
            event_id: "1".into(),
            partner_id: PartnerId::from(partner),
            sku: "mug".into(),
            title: title.into(),
            brand: None,
            category: vec!["주방".into()],
            model_number: None,
            price: Money::krw(9_000),
            stock: Some(1),
        })
        .into()
    };
    let execute = |record: IngestRecord| {
        let ingest = &ingest;
        async move { ingest.run(&record, "mug").await }
    };
    assert!(execute(record("shop-a", "머그컵")).await.is_ok());
    assert!(execute(record("shop-b", "머그컵")).await.is_ok());
    match execute(record("shop-a", "다른 머그컵")).await {
        Err(Failure::Poison(reason)) => assert!(reason.contains("used before"), "{reason}"),
        other => panic!("the same partner's event id for another record: {other:?}"),
    }
    still_serving(&app, 2).await;
}
