//! Every command route end to end over HTTP, and the read-back routes.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_sqlite_app;

#[tokio::test]
async fn the_default_configuration_keeps_sqlite_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = eventmall::config::Settings {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    settings.http.addr = "127.0.0.1:0".into();
    let app = eventmall::startup::Application::build(&settings)
        .await
        .unwrap();
    let address = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let ready = reqwest::get(format!("{address}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(dir.path().join("data/eventmall.db").exists());
    // graceful shutdown: the server returns once told to stop
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_sqlite_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["event_store"], "sqlite");
}

#[tokio::test]
async fn product_commands_change_the_product() {
    let app = spawn_sqlite_app().await;
    let id = app.register_product("shop-1", "VAC-1", 990_000).await;
    let path = |suffix: &str| format!("/v1/products/{id}/{suffix}");
    let details = json!({
        "partner_id": "shop-1", "title": "삼성 비스포크 제트 AI 무선청소기",
        "brand": "삼성", "category": ["가전", "청소기"], "model_number": "VS28C973"
    });
    for (route, body, events) in [
        ("details", details, vec!["ProductDetailsUpdated"]),
        (
            "price",
            json!({"partner_id": "shop-1", "price": {"amount": 890000}}),
            vec!["ProductPriceChanged"],
        ),
        (
            "price",
            json!({"partner_id": "shop-1", "price": {"amount": 890000}}),
            vec![],
        ),
        (
            "stock",
            json!({"partner_id": "shop-1", "stock": 0}),
            vec!["ProductStockChanged"],
        ),
        (
            "delist",
            json!({"partner_id": "shop-1", "reason": "품절"}),
            vec!["ProductDelisted"],
        ),
        (
            "relist",
            json!({"partner_id": "shop-1"}),
            vec!["ProductRelisted"],
        ),
    ] {
        let reply = app.post(&path(route), body).await;
        assert_eq!(reply.status, 200, "{route}: {}", reply.body);
        assert_eq!(reply.body["events"], json!(events), "{route}");
    }
    let product = app.get(&format!("/v1/products/{id}/state")).await;
    assert_eq!(product.status, 200);
    assert_eq!(product.body["version"], 6);
    assert_eq!(product.headers["etag"], "\"6\"");
    assert_eq!(product.body["state"]["price"]["amount"], 890000);
    assert_eq!(product.body["state"]["details"]["model_number"], "VS28C973");
    assert_eq!(product.body["state"]["listed"], true);
    let history = app.get(&format!("/v1/products/{id}/events?after=4")).await;
    let types: Vec<&str> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["ProductDelisted", "ProductRelisted"]);
}

#[tokio::test]
async fn an_order_goes_from_placed_to_returned_and_its_payment_is_refunded() {
    let app = spawn_sqlite_app().await;
    let vacuum = app.register_product("shop-1", "VAC-1", 300_000).await;
    let bags = app.register_product("shop-1", "BAG-1", 10_000).await;

    let placed = app
        .post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [
                {"product_id": vacuum, "quantity": 1},
                {"product_id": bags, "quantity": 3}
            ]}),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert_eq!(placed.body["version"], 1);
    assert!(placed.body["global_position"].as_i64().unwrap() > 0);
    let order = placed.body["aggregate_id"].as_str().unwrap().to_owned();
    assert_eq!(Uuid::parse_str(&order).unwrap().get_version_num(), 7);

    // price changes after placing do not touch the snapshot taken
    let reply = app
        .post(
            &format!("/v1/products/{bags}/price"),
            json!({"partner_id": "shop-1", "price": {"amount": 99_000}}),
        )
        .await;
    assert_eq!(reply.status, 200);

    let requested = app
        .post(
            "/v1/payments",
            json!({"order_id": order, "customer_id": "kim", "wallet_id": "wallet-kim", "amount": {"amount": 330_000}}),
        )
        .await;
    assert_eq!(requested.status, 201, "{}", requested.body);
    let payment = requested.body["aggregate_id"].as_str().unwrap().to_owned();
    for (route, body, event) in [
        ("authorize", json!({}), "PaymentAuthorized"),
        ("capture", json!({}), "PaymentCaptured"),
    ] {
        let reply = app
            .post(&format!("/v1/payments/{payment}/{route}"), body)
            .await;
        assert_eq!(reply.status, 200, "{route}: {}", reply.body);
        assert_eq!(reply.body["events"], json!([event]));
    }
    for (route, body, event) in [
        (
            "pay",
            json!({"payment_id": payment, "amount": {"amount": 330_000}}),
            "OrderPaid",
        ),
        (
            "ship",
            json!({"carrier": "CJ대한통운", "tracking_number": "6543210987", "partner_id": "shop-1"}),
            "OrderShipped",
        ),
        ("deliver", json!({"partner_id": "shop-1"}), "OrderDelivered"),
        (
            "return",
            json!({"lines": [{"line_no": 2, "quantity": 1}], "reason": "불량"}),
            "OrderLinesReturned",
        ),
    ] {
        let reply = app.post(&format!("/v1/orders/{order}/{route}"), body).await;
        assert_eq!(reply.status, 200, "{route}: {}", reply.body);
        assert_eq!(reply.body["events"], json!([event]));
    }
    let refund = app
        .post(
            &format!("/v1/payments/{payment}/refund"),
            json!({"amount": {"amount": 10_000}, "reason": "반품"}),
        )
        .await;
    assert_eq!(refund.status, 200, "{}", refund.body);

    let view = app.get(&format!("/v1/orders/{order}/state")).await;
    assert_eq!(view.status, 200);
    assert_eq!(view.body["version"], 5);
    assert_eq!(view.body["state"]["status"], "delivered");
    assert_eq!(view.body["state"]["total"]["amount"], 330_000);
    assert_eq!(view.body["state"]["refunded"]["amount"], 10_000);
    assert_eq!(
        view.body["state"]["lines"][1]["unit_price"]["amount"],
        10_000
    );
    let confirm = app
        .post(&format!("/v1/orders/{order}/confirm"), json!({}))
        .await;
    assert_eq!(confirm.body["events"], json!(["OrderPurchaseConfirmed"]));

    let payment_view = app.get(&format!("/v1/payments/{payment}")).await;
    assert_eq!(payment_view.body["state"]["status"], "captured");
    assert_eq!(payment_view.body["state"]["refunded"]["amount"], 10_000);

    let history = app.get(&format!("/v1/orders/{order}/events")).await;
    let events = history.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 6);
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    assert!(
        events
            .iter()
            .all(|e| e["metadata"]["traceparent"].is_string())
    );
}

#[tokio::test]
async fn cancellations_declines_and_voids() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("shop-1", "VAC-1", 50_000).await;
    let placed = app
        .post(
            "/v1/orders",
            json!({"customer_id": "lee", "lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    let order = placed.body["aggregate_id"].as_str().unwrap().to_owned();

    // a blocked wallet is declined by the simulated wallet
    let declined = app
        .post(
            "/v1/payments",
            json!({"order_id": order, "customer_id": "lee", "wallet_id": "blocked-lee", "amount": {"amount": 50_000}}),
        )
        .await;
    let declined = declined.body["aggregate_id"].as_str().unwrap().to_owned();
    let reply = app
        .post(&format!("/v1/payments/{declined}/authorize"), json!({}))
        .await;
    assert_eq!(reply.body["events"], json!(["PaymentDeclined"]));

    let payment_id = Uuid::now_v7();
    let requested = app
        .post(
            "/v1/payments",
            json!({"payment_id": payment_id, "order_id": order, "customer_id": "lee", "wallet_id": "wallet-lee", "amount": {"amount": 50_000}}),
        )
        .await;
    assert_eq!(requested.body["aggregate_id"], payment_id.to_string());
    let reply = app
        .post(&format!("/v1/payments/{payment_id}/authorize"), json!({}))
        .await;
    assert_eq!(reply.body["events"], json!(["PaymentAuthorized"]));
    let reply = app
        .post(
            &format!("/v1/payments/{payment_id}/void"),
            json!({"reason": "주문 취소"}),
        )
        .await;
    assert_eq!(reply.body["events"], json!(["PaymentVoided"]));

    let other = Uuid::now_v7();
    app.post(
        "/v1/payments",
        json!({"payment_id": other, "order_id": order, "customer_id": "lee", "wallet_id": "w", "amount": {"amount": 1}}),
    )
    .await;
    let reply = app
        .post(
            &format!("/v1/payments/{other}/decline"),
            json!({"reason": "fraud suspected"}),
        )
        .await;
    assert_eq!(reply.body["events"], json!(["PaymentDeclined"]));

    let reply = app
        .post(
            &format!("/v1/orders/{order}/cancel"),
            json!({"reason": "결제 실패"}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["events"], json!(["OrderCancelled"]));
}
