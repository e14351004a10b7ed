//! A retried command with the same Idempotency-Key returns the first answer and appends nothing.

use serde_json::json;

use crate::helpers::{TestApp, on_both_backends};

/// Events committed in the store, counted directly (not through the gap-safe reader).
async fn event_count(app: &TestApp) -> i64 {
    app.commands.backend().count_after(0).await.unwrap()
}

async fn replayed_keys_append_nothing(app: TestApp) {
    let product = app.register_product("shop-1", "A", 1000).await;
    let place = || {
        app.client
            .post(format!("{}/v1/orders", app.address))
            .header("idempotency-key", "order-kim-1")
            .json(&json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 2}]}))
    };
    let first = app.send(place()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["replayed"], false);
    let events = event_count(&app).await;

    // retries, also concurrent ones, answer with the same order and append nothing
    let retries = futures::future::join_all((0..8).map(|_| app.send(place()))).await;
    for retry in retries {
        assert_eq!(retry.status, 201, "{}", retry.body);
        assert_eq!(retry.body["aggregate_id"], first.body["aggregate_id"]);
        assert_eq!(retry.body["version"], first.body["version"]);
        assert_eq!(retry.body["global_position"], first.body["global_position"]);
        assert_eq!(retry.body["replayed"], true);
    }
    assert_eq!(event_count(&app).await, events);

    // the same key with another body is refused
    let other = app
        .send(
            app.client
                .post(format!("{}/v1/orders", app.address))
                .header("idempotency-key", "order-kim-1")
                .json(&json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 3}]})),
        )
        .await;
    other.assert_problem(422, "idempotency-key-reused");
    assert_eq!(event_count(&app).await, events);

    // A retry that the aggregate would refuse now (the order is no longer placed) still gets
    // the first answer.
    let order = first.body["aggregate_id"].as_str().unwrap();
    let cancel = || {
        app.client
            .post(format!("{}/v1/orders/{order}/cancel", app.address))
            .header("idempotency-key", "cancel-kim-1")
            .json(&json!({"reason": "changed my mind"}))
    };
    let cancelled = app.send(cancel()).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let events = event_count(&app).await;
    let again = app.send(cancel()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["version"], cancelled.body["version"]);
    assert_eq!(event_count(&app).await, events);
}

/// Concurrent first requests with one key: one command runs, every caller gets its answer.
async fn concurrent_first_requests_with_one_key_append_once(app: TestApp) {
    let product = app.register_product("shop-1", "A", 1000).await;
    let before = event_count(&app).await;
    let replies = futures::future::join_all((0..16).map(|_| {
        app.send(
            app.client
                .post(format!("{}/v1/orders", app.address))
                .header("idempotency-key", "race")
                .json(&json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 1}]})),
        )
    }))
    .await;
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["aggregate_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry names the same order");
    assert_eq!(event_count(&app).await, before + 1);
}

on_both_backends!(
    replayed_keys_append_nothing,
    concurrent_first_requests_with_one_key_append_once
);
