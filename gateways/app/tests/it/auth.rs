//! API keys and who may call what: the authorization matrix over the served OpenAPI document,
//! the key as the actor, rate limits, revocation, and idempotency keys kept apart per
//! principal and out of the system's own namespaces.

use std::time::Duration;

use eventmall_events::ingest::{IngestRecord, ProductIngest, ProductUpserted};
use eventmall_events::{Money, PartnerId};
use eventmall_store::keys::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, client_with, issue, spawn_app_with, sqlite_backend};

/// Who the matrix calls as: two partners, two customers, an admin.
struct World {
    app: TestApp,
    partner: String,
    other_partner: String,
    customer: String,
    other_customer: String,
    product: String,
    order: String,
    payment: String,
    /// A key for the admin key routes to revoke and rotate.
    spare_key: String,
}

const PARTNER: &str = "p-own";
const CUSTOMER: &str = "c-own";

impl World {
    async fn new(app: TestApp) -> Self {
        let partner = issue(&app.keys, Role::Partner, Some(PARTNER)).await;
        let other_partner = issue(&app.keys, Role::Partner, Some("p-other")).await;
        let customer = issue(&app.keys, Role::Customer, Some(CUSTOMER)).await;
        let other_customer = issue(&app.keys, Role::Customer, Some("c-other")).await;
        let spare = app
            .post(
                "/v1/admin/keys",
                json!({"role": "customer", "customer_id": "c-spare"}),
            )
            .await;
        assert_eq!(spare.status, 201, "{}", spare.body);
        let mut world = World {
            product: String::new(),
            order: String::new(),
            payment: String::new(),
            spare_key: spare.body["key_id"].as_str().unwrap().to_owned(),
            app,
            partner,
            other_partner,
            customer,
            other_customer,
        };
        let registered = world
            .call(
                &world.partner,
                Method::POST,
                "/v1/products",
                Some(register(PARTNER)),
            )
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        world.product = id_of(&registered);
        let lines = json!([{"product_id": world.product, "quantity": 1}]);
        let placed = world
            .call(
                &world.customer,
                Method::POST,
                "/v1/orders",
                Some(json!({"customer_id": CUSTOMER, "lines": lines})),
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        world.order = id_of(&placed);
        let requested = world
            .call(
                &world.customer,
                Method::POST,
                "/v1/payments",
                Some(json!({"order_id": world.order, "customer_id": CUSTOMER,
                            "wallet_id": "w-1", "amount": {"amount": 10_000}})),
            )
            .await;
        assert_eq!(requested.status, 201, "{}", requested.body);
        world.payment = id_of(&requested);
        world
    }

    /// Calls `path` with `key` (none when empty).
    async fn call(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let client = match key {
            "" => reqwest::Client::new(),
            key => client_with(key),
        };
        let mut request = client.request(method, format!("{}{path}", self.app.address));
        match body {
            Some(Value::String(feed)) => {
                request = request
                    .header("content-type", "text/tab-separated-values")
                    .body(feed);
            }
            Some(body) => request = request.json(&body),
            None => {}
        }
        // Not every answer is JSON (`/metrics` is text): the status is what counts here.
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A concrete path for a templated one of the document.
    fn path(&self, template: &str) -> String {
        let id = match template {
            t if t.starts_with("/v1/products/") => &self.product,
            t if t.starts_with("/v1/orders/") => &self.order,
            t if t.starts_with("/v1/payments/") => &self.payment,
            t if t.starts_with("/v1/partners/") => PARTNER,
            t if t.starts_with("/v1/customers/") => CUSTOMER,
            _ => "search",
        };
        let query = match template {
            "/v1/partners/{id}/sales" => "?from=2026-11-01&to=2026-11-30",
            "/v1/partners/{id}/settlements" => "?month=2026-11",
            _ => "",
        };
        let path = template
            .replace("{id}", id)
            .replace("{run}", "0190a1e2-0000-7000-8000-000000000000")
            .replace("{format}", "ep-tsv")
            .replace("{partition}", "0")
            .replace("{offset}", "0")
            .replace("{name}", "search")
            .replace("{key_id}", &self.spare_key);
        format!("{path}{query}")
    }

    /// A body the route can read, naming this world's own partner and customer.
    fn body(&self, method: &str, template: &str) -> Option<Value> {
        let money = json!({"amount": 10_000});
        let body = match (method, template) {
            ("post", "/v1/products") => register(PARTNER),
            ("post", "/v1/products/{id}/details") => {
                json!({"partner_id": PARTNER, "title": "무선청소기 2", "category": ["가전"]})
            }
            ("post", "/v1/products/{id}/price") => json!({"partner_id": PARTNER, "price": money}),
            ("post", "/v1/products/{id}/stock") => json!({"partner_id": PARTNER, "stock": 5}),
            ("post", "/v1/products/{id}/delist" | "/v1/products/{id}/relist") => {
                json!({"partner_id": PARTNER})
            }
            ("post", "/v1/orders") => json!({"customer_id": CUSTOMER,
                "lines": [{"product_id": self.product, "quantity": 1}]}),
            ("post", "/v1/orders/{id}/pay") => json!({"payment_id": self.payment, "amount": money}),
            ("post", "/v1/orders/{id}/ship") => {
                json!({"carrier": "CJ", "tracking_number": "1", "partner_id": PARTNER})
            }
            ("post", "/v1/orders/{id}/deliver") => json!({"partner_id": PARTNER}),
            ("post", "/v1/orders/{id}/cancel") => json!({"reason": "changed my mind"}),
            ("post", "/v1/orders/{id}/return") => json!({"lines": [], "reason": "broken"}),
            ("post", "/v1/payments") => json!({"order_id": self.order, "customer_id": CUSTOMER,
                "wallet_id": "w-1", "amount": money}),
            ("post", "/v1/payments/{id}/decline" | "/v1/payments/{id}/void") => {
                json!({"reason": "no"})
            }
            ("post", "/v1/payments/{id}/refund") => json!({"amount": money, "reason": "no"}),
            ("put", "/v1/partners/{id}/feed-mappings/{format}") => json!({"fields": {}}),
            ("post", "/v1/partners/{id}/feeds") => Value::String("id\ttitle\n".into()),
            ("post", "/v1/admin/keys") => json!({"role": "admin"}),
            ("post", _) => json!({}),
            _ => return None,
        };
        Some(body)
    }
}

fn register(partner: &str) -> Value {
    json!({"partner_id": partner, "sku": "A-1", "title": "무선청소기", "category": ["가전"],
           "price": {"amount": 10_000}, "stock": 10})
}

fn id_of(reply: &Reply) -> String {
    reply.body["aggregate_id"].as_str().unwrap().to_owned()
}

/// Every operation of the served document, called with no key, with another principal's key
/// and with the right one. The roles come from the operation's `security`: none means anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_401_without_a_key_403_to_another_and_neither_to_its_own() {
    let world = World::new(spawn_app_with(sqlite_backend().await, |_| {}).await).await;
    let document = world.app.get("/openapi.json").await.body;
    let mut checked = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let roles: Vec<&str> = operation["security"][0]
                .get("apiKey")
                .map(|scopes| {
                    scopes
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            let path = world.path(template);
            let body = world.body(method, template);
            let verb: Method = method.to_uppercase().parse().unwrap();
            let what = format!("{method} {template}");
            let call = |key: String| {
                let (verb, path, body) = (verb.clone(), path.clone(), body.clone());
                let world = &world;
                async move { world.call(&key, verb, &path, body).await }
            };
            if roles.is_empty() {
                let anonymous = call(String::new()).await;
                assert!(
                    ![401, 403].contains(&anonymous.status),
                    "{what} anonymous: {}",
                    anonymous.body
                );
                checked += 1;
                continue;
            }
            let anonymous = call(String::new()).await;
            assert_eq!(
                anonymous.status, 401,
                "{what} anonymous: {}",
                anonymous.body
            );
            anonymous.assert_problem(401, "unauthorized");
            let (others, own) = match roles.as_slice() {
                ["partner", "admin"] => {
                    (vec![&world.other_partner, &world.customer], &world.partner)
                }
                ["customer", "admin"] => {
                    (vec![&world.other_customer, &world.partner], &world.customer)
                }
                ["partner", "customer", "admin"] => (
                    vec![&world.other_partner, &world.other_customer],
                    &world.customer,
                ),
                ["admin"] => (vec![&world.partner, &world.customer], &world.app.admin_key),
                other => panic!("{what}: unexpected roles {other:?}"),
            };
            for other in others {
                let refused = call(other.clone()).await;
                assert_eq!(
                    refused.status, 403,
                    "{what} with another's key: {}",
                    refused.body
                );
            }
            let allowed = call(own.clone()).await;
            assert!(
                ![401, 403].contains(&allowed.status),
                "{what} with its own key: {} {}",
                allowed.status,
                allowed.body
            );
            if roles.contains(&"partner") && roles.contains(&"customer") {
                let partner = call(world.partner.clone()).await;
                assert!(
                    ![401, 403].contains(&partner.status),
                    "{what} as the order's partner"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_decides_who_acts_and_a_body_naming_another_is_refused() {
    let world = World::new(spawn_app_with(sqlite_backend().await, |_| {}).await).await;
    // A partner's product is registered as that partner, whatever `X-Actor` says.
    let client = client_with(&world.partner);
    let reply = world
        .app
        .send(
            client
                .post(format!("{}/v1/products", world.app.address))
                .header("x-actor", "someone-else")
                .json(
                    &json!({"partner_id": PARTNER, "sku": "A-2", "title": "청소기",
                              "category": ["가전"], "price": {"amount": 1_000}}),
                ),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let events = world.app.stored().await;
    let registered = events.last().unwrap();
    assert_eq!(registered.metadata.actor.as_deref(), Some("partner:p-own"));

    // Another partner's name in the body: 403, and nothing is written.
    let before = world.app.last_position().await;
    let reply = world
        .call(
            &world.other_partner,
            Method::POST,
            "/v1/products",
            Some(register(PARTNER)),
        )
        .await;
    reply.assert_problem(403, "forbidden");
    assert_eq!(world.app.last_position().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_or_unknown_key_is_401_and_a_malformed_header_too() {
    let world = World::new(spawn_app_with(sqlite_backend().await, |_| {}).await).await;
    let orders = format!("/v1/customers/{CUSTOMER}/orders");
    let key = issue(&world.app.keys, Role::Customer, Some(CUSTOMER)).await;
    assert_eq!(
        world.call(&key, Method::GET, &orders, None).await.status,
        200
    );
    let listed = world.app.get("/v1/admin/keys").await;
    let id = listed.body.as_array().unwrap().last().unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        listed.body.to_string().find("emk_").is_none(),
        "a listed key shows no secret"
    );
    let revoked = world
        .call(
            &world.app.admin_key,
            Method::DELETE,
            &format!("/v1/admin/keys/{id}"),
            None,
        )
        .await;
    assert!(revoked.body["revoked_at_ms"].is_i64(), "{}", revoked.body);
    world
        .call(&key, Method::GET, &orders, None)
        .await
        .assert_problem(401, "unauthorized");
    let unknown = format!("emk_{}", "A".repeat(43));
    world
        .call(&unknown, Method::GET, &orders, None)
        .await
        .assert_problem(401, "unauthorized");
    let reply = world
        .app
        .send(
            reqwest::Client::new()
                .get(format!("{}{orders}", world.app.address))
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    reply.assert_problem(401, "unauthorized");
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_rate_gets_429_with_retry_after_and_other_keys_are_unaffected() {
    let app = spawn_app_with(sqlite_backend().await, |settings| {
        settings.auth.rate_per_second = 1.0;
        settings.auth.burst = 5;
    })
    .await;
    let noisy = client_with(&issue(&app.keys, Role::Customer, Some("noisy")).await);
    let quiet = client_with(&issue(&app.keys, Role::Customer, Some("quiet")).await);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let reply = app
            .send(noisy.get(format!("{}/v1/customers/noisy/orders", app.address)))
            .await;
        if reply.status == 429 {
            reply.assert_problem(429, "rate-limited");
            let wait: u64 = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&wait), "Retry-After {wait}");
        }
        statuses.push(reply.status);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(statuses[..5].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(limited >= 6, "{statuses:?}");
    let reply = app
        .send(quiet.get(format!("{}/v1/customers/quiet/orders", app.address)))
        .await;
    assert_eq!(reply.status, 200, "another key has its own bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_is_503() {
    let app = spawn_app_with(sqlite_backend().await, |settings| {
        settings.http.request_timeout_ms = 200;
        // A read-your-writes wait longer than the deadline.
        settings.projectors.read_wait_ms = 5_000;
    })
    .await;
    app.register_product("p-1", "A-1", 1_000).await;
    let reply = app
        .send(
            app.client
                .get(format!("{}/v1/search?q=청소기", app.address))
                .header("x-consistency-token", "1"),
        )
        .await;
    reply.assert_problem(503, "took-too-long");
}

mod idempotency_scopes {
    //! Issue: idempotency keys scoped to who sent them.

    use super::*;
    use std::sync::Arc;

    use eventmall_store::EventBackend;

    use crate::helpers::{TestDb, on_both_backends, postgres_backend};

    async fn http_key_spelled_like_an_ingest_key_blocks_nothing(app: TestApp) {
        let event_id = "upstream-42";
        let partner = issue(&app.keys, Role::Partner, Some("shop")).await;
        // A client claims the key the ingest consumer will use for the shop's record.
        let sneaky = format!("ingest/eventmall.ingest.products.v1/shop/{event_id}");
        let reply = app
            .send(
                client_with(&partner)
                    .post(format!("{}/v1/products", app.address))
                    .header("idempotency-key", &sneaky)
                    .json(&register("shop")),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        // The shop's real record still applies, once.
        let record = upstream("shop", event_id);
        let ingest = app.ingest().await;
        let first = ingest.run(&record, "shop/B-1").await.unwrap();
        assert!(!first.replayed, "the record applied: {first:?}");
        let again = ingest.run(&record, "shop/B-1").await.unwrap();
        assert!(again.replayed, "and only once");
    }

    async fn two_principals_with_one_key_each_get_their_own_result(app: TestApp) {
        let first = issue(&app.keys, Role::Partner, Some("shop-a")).await;
        let second = issue(&app.keys, Role::Partner, Some("shop-b")).await;
        let mut receipts = Vec::new();
        for (key, partner) in [(&first, "shop-a"), (&second, "shop-b"), (&first, "shop-a")] {
            let reply = app
                .send(
                    client_with(key)
                        .post(format!("{}/v1/products", app.address))
                        .header("idempotency-key", "order-1")
                        .json(&register(partner)),
                )
                .await;
            assert!([200, 201].contains(&reply.status), "{}", reply.body);
            receipts.push(reply.body);
        }
        assert_eq!(receipts[0]["replayed"], false);
        assert_eq!(
            receipts[1]["replayed"], false,
            "the second principal's key is its own"
        );
        assert_ne!(receipts[0]["aggregate_id"], receipts[1]["aggregate_id"]);
        assert_eq!(
            receipts[2]["replayed"], true,
            "the first one's retry replays its own"
        );
        assert_eq!(receipts[2]["aggregate_id"], receipts[0]["aggregate_id"]);
    }

    async fn an_expired_key_is_a_new_request_and_an_unexpired_one_replays(app: TestApp) {
        let partner = client_with(&issue(&app.keys, Role::Partner, Some("shop")).await);
        let stock = |key: &'static str, stock: u32| {
            let request = partner
                .post(format!(
                    "{}/v1/products/{}/stock",
                    app.address,
                    product_of("shop")
                ))
                .header("idempotency-key", key)
                .json(&json!({"partner_id": "shop", "stock": stock}));
            app.send(request)
        };
        let registered = app
            .send(
                partner
                    .post(format!("{}/v1/products", app.address))
                    .json(&register("shop")),
            )
            .await;
        assert_eq!(registered.status, 201);
        assert_eq!(stock("kept", 3).await.body["replayed"], false);
        assert_eq!(stock("lapses", 4).await.body["replayed"], false);
        // Retention is 2 s here: "kept" is retried at once, "lapses" after it expired.
        assert_eq!(stock("kept", 3).await.body["replayed"], true);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let retried = stock("lapses", 4).await;
        assert_eq!(retried.status, 200, "{}", retried.body);
        assert_eq!(
            retried.body["replayed"], false,
            "an expired key's retry is a new command"
        );

        // A sweep removes clients' keys, a batch at a time, and never the system's own.
        let record = upstream("shop", "upstream-1");
        let ingest = app.ingest().await;
        assert!(!ingest.run(&record, "shop/B-1").await.unwrap().replayed);
        let removed = eventmall_store::idempotency::sweep(
            app.backend().as_ref(),
            eventmall_store::idempotency::Retention(Duration::ZERO),
            1,
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert!(removed >= 1, "{removed}");
        assert_eq!(stock("lapses", 4).await.body["replayed"], false, "swept");
        assert!(
            ingest.run(&record, "shop/B-1").await.unwrap().replayed,
            "an ingest key is kept"
        );
    }

    /// A partner's upstream product record, of SKU B-1.
    fn upstream(partner: &str, event_id: &str) -> IngestRecord {
        ProductIngest::from(ProductUpserted {
            event_id: event_id.into(),
            partner_id: PartnerId::from(partner),
            sku: "B-1".into(),
            title: "로봇청소기".into(),
            brand: None,
            category: vec!["가전".into()],
            model_number: None,
            price: Money::krw(20_000),
            stock: Some(1),
        })
        .into()
    }

    fn product_of(partner: &str) -> String {
        eventmall_events::ProductId::for_partner_sku(&PartnerId::from(partner), "A-1").to_string()
    }

    async fn short_retention(backend: (Arc<dyn EventBackend>, TestDb)) -> TestApp {
        spawn_app_with(backend, |settings| {
            settings.store.idempotency_retention_hours = 2.0 / 3600.0;
        })
        .await
    }

    on_both_backends!(
        http_key_spelled_like_an_ingest_key_blocks_nothing,
        two_principals_with_one_key_each_get_their_own_result,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_keys_expire() {
        an_expired_key_is_a_new_request_and_an_unexpired_one_replays(
            short_retention(sqlite_backend().await).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_keys_expire() {
        an_expired_key_is_a_new_request_and_an_unexpired_one_replays(
            short_retention(postgres_backend().await).await,
        )
        .await;
    }
}

mod legacy_keys {
    //! Keys recorded before idempotency keys had namespaces keep working after the migration.

    use std::borrow::Cow;

    use sha2::{Digest, Sha256};
    use sqlx::migrate::Migrator;

    use super::*;
    use crate::helpers::{TestDb, postgres_db, reopen, spawn_app, sqlite_db};

    /// A command's body as the client sends it, and its fingerprint as the server takes it.
    fn request(path: &str, body: &Value) -> (Vec<u8>, String) {
        let bytes = serde_json::to_vec(body).unwrap();
        let mut digest = Sha256::new();
        digest.update(format!("POST {path}\n"));
        digest.update(&bytes);
        (bytes, format!("{:x}", digest.finalize()))
    }

    /// The database as it was before namespaces: migrated to 0006, with a client's key, an
    /// ingest key and a demo key recorded as they were then.
    async fn before_namespaces(db: &TestDb, fingerprint: &str) {
        let sqlite = matches!(db, TestDb::Sqlite(_));
        let mut migrator = match sqlite {
            true => sqlx::migrate!("../store/migrations/sqlite"),
            false => sqlx::migrate!("../store/migrations/postgres"),
        };
        let before: Vec<_> = migrator.iter().filter(|m| m.version < 7).cloned().collect();
        migrator.migrations = Cow::Owned(before);
        let rows = [
            ("order-1", fingerprint, "Product", "legacy-product"),
            (
                "ingest/eventmall.ingest.products.v1/shop/e-1",
                "f",
                "Product",
                "p-2",
            ),
            ("demo-42-7", "f", "Product", "p-3"),
        ];
        let insert = "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, \
            aggregate_id, version, global_position, event_types, created_at) \
            VALUES ($1, $2, $3, $4, 1, 1, $5, $6)";
        let event_types = sqlx::types::Json(vec!["ProductRegistered".to_owned()]);
        let now = chrono::Utc::now();
        match sqlite {
            true => {
                let options = db
                    .url()
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .unwrap();
                let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                    .await
                    .unwrap();
                Migrator::run(&migrator, &pool).await.unwrap();
                for (key, fingerprint, kind, id) in rows {
                    let query = sqlx::query(insert).bind(key).bind(fingerprint).bind(kind);
                    let query = query.bind(id).bind(&event_types).bind(now);
                    query.execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
            false => {
                let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
                Migrator::run(&migrator, &pool).await.unwrap();
                for (key, fingerprint, kind, id) in rows {
                    let query = sqlx::query(insert).bind(key).bind(fingerprint).bind(kind);
                    let query = query.bind(id).bind(&event_types).bind(now);
                    query.execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
        }
    }

    async fn a_key_from_before_namespaces_still_replays_its_request(db: TestDb) {
        let path = "/v1/products";
        let body = register("shop");
        let (bytes, fingerprint) = request(path, &body);
        before_namespaces(&db, &fingerprint).await;
        let backend = reopen(&db).await;
        for (key, moved) in [
            ("order-1", Some("legacy/order-1")),
            ("ingest/eventmall.ingest.products.v1/shop/e-1", None),
            ("demo-42-7", Some("demo/42-7")),
        ] {
            assert!(
                backend.idempotency(key).await.unwrap().is_some() == moved.is_none(),
                "{key}"
            );
            if let Some(moved) = moved {
                assert!(
                    backend.idempotency(moved).await.unwrap().is_some(),
                    "{moved}"
                );
            }
        }
        let app = spawn_app((backend, db)).await;
        let partner = client_with(&issue(&app.keys, Role::Partner, Some("shop")).await);
        let send = |bytes: Vec<u8>| {
            app.send(
                partner
                    .post(format!("{}{path}", app.address))
                    .header("idempotency-key", "order-1")
                    .header("content-type", "application/json")
                    .body(bytes),
            )
        };
        // The same request under its old key: the recorded answer.
        let replayed = send(bytes).await;
        assert_eq!(replayed.status, 201, "{}", replayed.body);
        assert_eq!(replayed.body["replayed"], true, "{}", replayed.body);
        assert_eq!(replayed.body["aggregate_id"], "legacy-product");
        // Another request with the same key is this principal's own new one.
        let mut other = body.clone();
        other["sku"] = json!("A-9");
        let fresh = send(serde_json::to_vec(&other).unwrap()).await;
        assert_eq!(fresh.status, 201, "{}", fresh.body);
        assert_eq!(fresh.body["replayed"], false);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_a_legacy_key_replays() {
        a_key_from_before_namespaces_still_replays_its_request(sqlite_db().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_legacy_key_replays() {
        a_key_from_before_namespaces_still_replays_its_request(postgres_db().await).await;
    }
}

/// `eventmall keys …` against the database of a running server (SQLite: beside its writer).
async fn keys_cli(app: &TestApp, args: &[&str]) -> String {
    keys_command(app.data.path(), Some(&app.store_url()), args).await
}

/// `eventmall --data-dir <data> keys …`, on the store at `store` (else the data directory's);
/// what it printed.
pub(crate) async fn keys_command(
    data: &std::path::Path,
    store: Option<&str>,
    args: &[&str],
) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"));
    command.arg("--data-dir").arg(data).arg("keys").args(args);
    if let Some(url) = store {
        command.env("EVENTMALL__STORE__URL", url);
    }
    let output = command
        .env("EVENTMALL__LOG__FILTER", "warn")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "keys {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_command_creates_lists_rotates_and_revokes_beside_a_running_server() {
    let app = spawn_app_with(sqlite_backend().await, |_| {}).await;
    let created: Value = serde_json::from_str(
        &keys_cli(
            &app,
            &[
                "create",
                "--role",
                "customer",
                "--customer",
                "c-9",
                "--label",
                "app",
            ],
        )
        .await,
    )
    .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("emk_") && secret.len() == 47,
        "{created}"
    );
    let orders = |secret: String| {
        let client = client_with(&secret);
        let url = format!("{}/v1/customers/c-9/orders", app.address);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(orders(secret.clone()).await, 200);

    let listed = keys_cli(&app, &["list"]).await;
    assert!(
        !listed.contains("emk_"),
        "the list shows no secret: {listed}"
    );
    let line = listed.lines().find(|l| l.contains("c-9")).unwrap();
    let id = serde_json::from_str::<Value>(line).unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id, created["key_id"].as_str().unwrap());

    let rotated: Value = serde_json::from_str(&keys_cli(&app, &["rotate", &id]).await).unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(rotated["subject"], "c-9");
    // The server remembers a checked key for a while; another process's revocation reaches it
    // within `key_cache_ms`. A new key works at once.
    assert_eq!(orders(new_secret.clone()).await, 200);
    let revoked: Value = serde_json::from_str(
        &keys_cli(&app, &["revoke", rotated["key_id"].as_str().unwrap()]).await,
    )
    .unwrap();
    assert!(revoked["revoked_at_ms"].is_i64());
    let keys = &app.keys;
    assert!(
        keys.authenticate(&secret).await.unwrap().is_none(),
        "rotated away"
    );
    assert!(
        keys.authenticate(&new_secret).await.unwrap().is_none(),
        "revoked"
    );
}
