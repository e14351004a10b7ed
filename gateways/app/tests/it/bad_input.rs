//! Every class of bad input gets a problem+json answer with a stable type; nothing panics.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_sqlite_app;

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_sqlite_app().await;
    let request = app
        .client
        .post(format!("{}/v1/products", app.address))
        .header("content-type", "application/json")
        .body("{\"partner_id\": \"shop-1\", ");
    app.send(request)
        .await
        .assert_problem(400, "malformed-json");
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let app = spawn_sqlite_app().await;
    let request = app
        .client
        .post(format!("{}/v1/products", app.address))
        .header("content-type", "application/json")
        .body(b"{\"partner_id\": \"\xff\xfe\"}".to_vec());
    let reply = app.send(request).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_are_400() {
    let app = spawn_sqlite_app().await;
    for body in [
        json!({"partner_id": "s", "sku": "a", "title": "t", "category": ["c"], "price": {"amount": "1000"}}),
        json!({"partner_id": "s", "sku": "a", "title": "t", "category": ["c"], "price": 1000}),
        json!({"partner_id": "s", "sku": "a", "title": "t", "category": ["c"]}),
        json!({"partner_id": "s", "sku": "a", "title": "t", "category": ["c"], "price": {"amount": 1}, "colour": "red"}),
        json!({"partner_id": "s", "sku": "a", "title": "t", "category": ["c"], "price": {"amount": 1}, "stock": -1}),
        json!([1, 2, 3]),
    ] {
        app.post("/v1/products", body)
            .await
            .assert_problem(400, "invalid-body");
    }
    let order = app
        .post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [{"product_id": "not-a-uuid", "quantity": 1}]}),
        )
        .await;
    order.assert_problem(400, "invalid-body");
}

#[tokio::test]
async fn a_bad_field_is_named_by_its_path_and_whole_floats_are_integers() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("shop-1", "A", 1000).await;
    let stock = format!("/v1/products/{product}/stock");
    let half = app
        .post(&stock, json!({"partner_id": "shop-1", "stock": 2.5}))
        .await;
    half.assert_problem(400, "invalid-body");
    assert!(
        half.body["detail"].as_str().unwrap().starts_with("stock: "),
        "{}",
        half.body
    );
    // In JSON, as in JSON Schema, 3.0 is the integer 3.
    let whole = app
        .post(&stock, json!({"partner_id": "shop-1", "stock": 3.0}))
        .await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    let state = app.get(&format!("/v1/products/{product}/state")).await;
    assert_eq!(state.body["state"]["stock"], 3);
    let line = app
        .post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": "1"}]}),
        )
        .await;
    line.assert_problem(400, "invalid-body");
    assert!(
        line.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("lines[0].quantity: "),
        "{}",
        line.body
    );
}

#[tokio::test]
async fn a_command_without_required_fields_takes_no_body_or_null() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("shop-1", "A", 1000).await;
    let order = app.delivered_order(&product, 1, 1000).await;
    let command = |path: &str, body: Option<&'static str>| {
        let request = app
            .client
            .post(format!("{}/v1/orders/{order}/{path}", app.address));
        match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(body),
            None => request,
        }
    };
    // Cancelling needs a reason: no body is a missing field.
    let cancel = app.send(command("cancel", None)).await;
    cancel.assert_problem(400, "invalid-body");
    let confirm = app.send(command("confirm", Some("null"))).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(confirm.body["events"], json!(["OrderPurchaseConfirmed"]));
}

#[tokio::test]
async fn empty_or_overlong_trace_headers_are_400() {
    let app = spawn_sqlite_app().await;
    for (name, value) in [
        ("x-correlation-id", String::new()),
        ("x-actor", "a".repeat(201)),
        ("x-request-id", String::new()),
    ] {
        let request = app
            .client
            .post(format!("{}/v1/products", app.address))
            .header(name, value)
            .json(&json!({"partner_id": "s", "sku": "a", "title": "t", "category": ["c"], "price": {"amount": 1}}));
        app.send(request).await.assert_problem(400, "bad-request");
    }
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_sqlite_app().await;
    let huge = json!({"partner_id": "shop-1", "sku": "x", "title": "가".repeat(40_000), "category": ["c"], "price": {"amount": 1}});
    let reply = app.post("/v1/products", huge).await;
    reply.assert_problem(413, "payload-too-large");
    assert!(reply.body["detail"].as_str().unwrap().contains("65536"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_sqlite_app().await;
    let request = app
        .client
        .post(format!("{}/v1/products", app.address))
        .header("content-type", "text/plain")
        .body("partner_id=shop-1");
    app.send(request)
        .await
        .assert_problem(415, "unsupported-media-type");
}

#[tokio::test]
async fn unknown_aggregates_and_routes_are_404() {
    let app = spawn_sqlite_app().await;
    let missing = Uuid::now_v7();
    app.get(&format!("/v1/orders/{missing}/state"))
        .await
        .assert_problem(404, "not-found");
    app.get(&format!("/v1/payments/{missing}/events"))
        .await
        .assert_problem(404, "not-found");
    app.post(
        &format!("/v1/orders/{missing}/deliver"),
        json!({"partner_id": "shop-1"}),
    )
    .await
    .assert_problem(404, "order-not-found");
    app.post(&format!("/v1/payments/{missing}/capture"), json!({}))
        .await
        .assert_problem(404, "payment-not-found");
    app.post(
        &format!("/v1/products/{missing}/relist"),
        json!({"partner_id": "x"}),
    )
    .await
    .assert_problem(404, "product-not-registered");
    app.get("/v1/nothing-here")
        .await
        .assert_problem(404, "not-found");
}

#[tokio::test]
async fn bad_ids_and_headers_are_400() {
    let app = spawn_sqlite_app().await;
    app.get("/v1/orders/12345")
        .await
        .assert_problem(400, "bad-request");
    app.get(&format!("/v1/orders/{}/events?limit=0", Uuid::now_v7()))
        .await
        .assert_problem(400, "bad-request");
    let id = app.register_product("shop-1", "A", 1000).await;
    let request = app
        .client
        .post(format!("{}/v1/products/{id}/stock", app.address))
        .header("if-match", "yesterday")
        .json(&json!({"partner_id": "shop-1", "stock": 1}));
    app.send(request).await.assert_problem(400, "bad-request");
    let request = app
        .client
        .post(format!("{}/v1/products/{id}/stock", app.address))
        .header("idempotency-key", "k".repeat(300))
        .json(&json!({"partner_id": "shop-1", "stock": 1}));
    app.send(request).await.assert_problem(400, "bad-request");
}

#[tokio::test]
async fn broken_invariants_and_illegal_transitions_are_422() {
    let app = spawn_sqlite_app().await;
    let zero = app
        .post("/v1/products", json!({"partner_id": "s", "sku": "a", "title": "청소기", "category": ["가전"], "price": {"amount": 0}}))
        .await;
    zero.assert_problem(422, "invalid-price");
    let product = app.register_product("shop-1", "A", 1000).await;
    let again = app
        .post("/v1/products", json!({"partner_id": "shop-1", "sku": "A", "title": "다른", "category": ["가전"], "price": {"amount": 5}}))
        .await;
    again.assert_problem(422, "product-already-registered");
    let placed = app
        .post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    let order = placed.body["aggregate_id"].as_str().unwrap();
    let ship = app
        .post(
            &format!("/v1/orders/{order}/ship"),
            json!({"carrier": "CJ", "tracking_number": "1", "partner_id": "shop-1"}),
        )
        .await;
    ship.assert_problem(422, "illegal-transition");
    assert_eq!(ship.body["detail"], "cannot ship an order that is placed");
    let empty = app
        .post("/v1/orders", json!({"customer_id": "kim", "lines": []}))
        .await;
    empty.assert_problem(422, "invalid-line-count");
}

#[tokio::test]
async fn changing_another_partners_product_is_403() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("shop-1", "A", 1000).await;
    app.post(
        &format!("/v1/products/{product}/price"),
        json!({"partner_id": "shop-2", "price": {"amount": 1}}),
    )
    .await
    .assert_problem(403, "not-product-owner");
}

#[tokio::test]
async fn if_match_with_a_stale_version_is_409() {
    let app = spawn_sqlite_app().await;
    let product = app.register_product("shop-1", "A", 1000).await;
    let stock = |version: &str| {
        app.client
            .post(format!("{}/v1/products/{product}/stock", app.address))
            .header("if-match", version.to_owned())
            .json(&json!({"partner_id": "shop-1", "stock": 7}))
    };
    app.send(stock("\"0\""))
        .await
        .assert_problem(409, "version-conflict");
    let reply = app.send(stock("\"1\"")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.headers["etag"], "\"2\"");
}
