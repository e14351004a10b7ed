//! Inputs a hostile or careless client sends, each answered with a 4xx problem while the
//! server stays up and every other route keeps answering.

use serde_json::json;

use crate::helpers::{TestApp, spawn_sqlite_app};

/// `/readyz` and a read of another route still answer, and the store holds only `events`.
async fn still_serving(app: &TestApp, events: usize) {
    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(app.get("/v1/search?q=청소기").await.status, 200);
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

/// A token no receipt of this store can have carried is refused at once, instead of every read
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
        reply.assert_problem(400, "bad-request");
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
