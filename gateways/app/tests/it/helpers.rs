//! Per-test databases and servers. Every test gets its own SQLite file or PostgreSQL database
//! and its own server on a free port, so tests run in parallel without sharing state.

use std::sync::Arc;

use eventmall_kafka::relay::{Relay, relay_rows};
use eventmall_registry::{Level, RegisteredCodec, RegistryStore};
use eventmall_store::CommandGateway;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::kafka::{TestBroker, kafka_settings, relay_settings};
use eventmall::config::Settings;
use eventmall::startup::{Application, commands_over};
use eventmall_read_models::{ReadModels, Serving};
use eventmall_store::keys::{ApiKeys, Grant, Role};
use eventmall_store::{EventBackend, PostgresBackend, SqliteBackend};
use serde_json::{Value, json};
use sqlx::Connection;
use tempfile::TempDir;
use uuid::Uuid;

/// Where the tests create their PostgreSQL databases; `scripts/test` starts the cluster.
fn postgres_admin_url() -> String {
    std::env::var("EVENTMALL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://eventmall:eventmall@127.0.0.1:5432/postgres".into())
}

/// A database that lives as long as the test.
pub enum TestDb {
    Sqlite(TempDir),
    Postgres { url: String },
}

impl TestDb {
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}", dir.path().join("events.db").display()),
            TestDb::Postgres { url } => url.clone(),
        }
    }
}

pub async fn sqlite_db() -> TestDb {
    TestDb::Sqlite(tempfile::tempdir().unwrap())
}

/// A fresh PostgreSQL database. Panics, never skips, when PostgreSQL is not there.
pub async fn postgres_db() -> TestDb {
    let admin = postgres_admin_url();
    let mut connection = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin}: {e}. \
             Run the tests with scripts/test, which starts it."
            )
        });
    let name = format!("eventmall_test_{}", Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("admin url has a database");
    TestDb::Postgres {
        url: format!("{base}/{name}"),
    }
}

pub async fn sqlite_backend() -> (Arc<dyn EventBackend>, TestDb) {
    let db = sqlite_db().await;
    let backend = SqliteBackend::connect(&db.url(), 8).await.unwrap();
    (Arc::new(backend), db)
}

pub async fn postgres_backend() -> (Arc<dyn EventBackend>, TestDb) {
    let (backend, db) = postgres_backend_typed().await;
    (backend, db)
}

pub async fn postgres_backend_typed() -> (Arc<PostgresBackend>, TestDb) {
    let db = postgres_db().await;
    let backend = PostgresBackend::connect(&db.url(), 16).await.unwrap();
    (Arc::new(backend), db)
}

/// Opens the same database again, as a restarted process would.
pub async fn reopen(db: &TestDb) -> Arc<dyn EventBackend> {
    eventmall_store::connect(&db.url(), 4).await.unwrap()
}

/// The application serving on a free port.
pub struct TestApp {
    pub address: String,
    /// A client with an admin key, which may call every route.
    pub client: reqwest::Client,
    /// The admin key `client` sends.
    pub admin_key: String,
    /// The API keys, to make keys of other principals.
    pub keys: ApiKeys,
    pub commands: CommandGateway,
    /// The database's second pool: registry and relay state.
    pub store_pool: sqlx::AnyPool,
    /// The read models the app served when it started, in the app's own data directory.
    pub views: ReadModels,
    /// The read models it serves now, following swaps.
    pub serving: Arc<Serving>,
    pub data: TempDir,
    pub settings: Settings,
    db: TestDb,
}

pub async fn spawn_app(backend: (Arc<dyn EventBackend>, TestDb)) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// The application on a free port, with settings adjusted by `adjust`.
pub async fn spawn_app_with(
    backend: (Arc<dyn EventBackend>, TestDb),
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let (backend, db) = backend;
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: data.path().to_owned(),
        ..Settings::default()
    };
    settings.http.addr = "127.0.0.1:0".into();
    settings.http.body_limit_bytes = 64 * 1024;
    settings.store.snapshot_every = 10;
    // Tests send many requests with one key; the rate limit has a test of its own.
    settings.auth.rate_per_second = 0.0;
    adjust(&mut settings);
    let store_pool = eventmall_store::connect_pool(&db.url()).await.unwrap();
    let vault = eventmall_store::pii::PiiVault::new(store_pool.clone());
    let commands = commands_over(backend, &settings).with_pii(vault);
    let app = Application::with_gateway(&settings, commands.clone(), store_pool.clone())
        .await
        .unwrap();
    let address = format!("http://{}", app.local_addr().unwrap());
    let views = (*app.views()).clone();
    let serving = app.serving().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let keys = eventmall_store::keys::ApiKeys::new(store_pool.clone());
    let admin = issue(&keys, Role::Admin, None).await;
    TestApp {
        address,
        client: client_with(&admin),
        admin_key: admin,
        keys,
        commands,
        store_pool,
        views,
        serving,
        data,
        settings,
        db,
    }
}

/// A new key of `role` for `subject`; its secret.
pub async fn issue(keys: &ApiKeys, role: Role, subject: Option<&str>) -> String {
    let grant = Grant::new(role, subject, "test").unwrap();
    keys.create(&grant).await.unwrap().secret
}

/// A client that sends `secret` as its bearer key on every request.
pub fn client_with(secret: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {secret}").parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The JSON `client` gets from `url`.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    response.json().await.unwrap()
}

pub async fn spawn_sqlite_app() -> TestApp {
    spawn_app(sqlite_backend().await).await
}

/// The application on PostgreSQL, with its read models in the same database.
pub async fn spawn_postgres_app() -> TestApp {
    let (backend, db) = postgres_backend().await;
    let url = db.url();
    spawn_app_with((backend, db), |settings| settings.projectors.url = url).await
}

/// The ingest consumer's commands, run on records without a broker.
pub struct Ingest {
    commands: eventmall_kafka::ingest::IngestCommands,
    codec: RegisteredCodec,
}

impl Ingest {
    /// Runs an upstream record's command as the ingest consumer does with the record read from
    /// its topic (partition 0, offset 0, keyed `key`).
    pub async fn run(
        &self,
        record: &eventmall_events::ingest::IngestRecord,
        key: &str,
    ) -> Result<eventmall_store::Receipt, eventmall_kafka::ingest::Failure> {
        let mut value = Vec::new();
        self.codec
            .codec()
            .await
            .encode_ingest(record, &mut value)
            .unwrap();
        let consumed = eventmall_kafka::Consumed {
            topic: record.topic().to_owned(),
            partition: 0,
            offset: 0,
            key: Some(key.as_bytes().to_vec()),
            value: Some(value),
            headers: Vec::new(),
            timestamp_ms: None,
        };
        self.commands.execute(&consumed).await
    }
}

/// A response's status, headers and JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts a problem+json answer with `status` and the problem type ending in `slug`.
    pub fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:eventmall:problem:{slug}"),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].is_string());
    }
}

impl TestApp {
    /// The ingest consumer's commands over the app's store, its contract registered.
    pub async fn ingest(&self) -> Ingest {
        let codec = self.codec();
        let commands =
            eventmall_kafka::ingest::IngestCommands::new(self.commands.clone(), codec.clone())
                .await
                .unwrap();
        Ingest { commands, codec }
    }

    /// Feed ingest over the app's store, as the upload route runs it.
    pub fn feeds(&self) -> eventmall_feeds::FeedIngest {
        eventmall_feeds::FeedIngest::new(self.commands.clone(), self.store_pool.clone())
    }

    pub fn backend(&self) -> &Arc<dyn EventBackend> {
        self.commands.backend()
    }

    /// The URL of the app's database, for another process to open.
    pub fn store_url(&self) -> String {
        self.db.url()
    }

    /// A codec over the embedded registry.
    pub fn codec(&self) -> RegisteredCodec {
        RegisteredCodec::new(Arc::new(RegistryStore::new(
            self.store_pool.clone(),
            Level::BackwardTransitive,
        )))
    }

    /// Starts a relay over the app's store, publishing to `broker`.
    pub async fn start_relay(&self, broker: &TestBroker) -> (JoinHandle<()>, CancellationToken) {
        let relay = Relay::connect(
            self.backend().clone(),
            self.store_pool.clone(),
            self.codec(),
            &broker.bootstrap(),
            &kafka_settings(),
            &relay_settings(),
        )
        .await
        .unwrap();
        let stop = CancellationToken::new();
        (tokio::spawn(relay.run(stop.clone())), stop)
    }

    /// Starts every projector of the app's read models, consuming `broker`.
    pub async fn start_projectors(
        &self,
        broker: &TestBroker,
    ) -> (Vec<JoinHandle<eventmall_kafka::Result<()>>>, DropGuard) {
        let projectors = eventmall::startup::projectors(
            &self.settings,
            &self.views,
            self.codec(),
            &broker.bootstrap(),
            &[],
        )
        .await
        .unwrap();
        let stop = CancellationToken::new();
        let running = projectors
            .into_iter()
            .map(|projector| projector.spawn(stop.clone()))
            .collect();
        // Projector threads must end before the runtime does, also when a test panics.
        (running, stop.drop_guard())
    }

    /// The relay's published position.
    pub async fn published(&self) -> i64 {
        relay_rows(&self.store_pool)
            .await
            .unwrap()
            .first()
            .map_or(0, |row| row.position)
    }

    pub async fn wait_published(&self, position: i64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
        while self.published().await < position {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the relay published up to {} of {position}",
                self.published().await
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Every event committed so far. On PostgreSQL the gap-safe reader holds back behind the
    /// oldest transaction running anywhere in the cluster (other tests' too), so this waits
    /// until every committed event is readable instead of answering with a part of them.
    pub async fn stored(&self) -> Vec<eventmall_events::StoredEvent> {
        let committed = self.backend().count_after(0).await.unwrap();
        read_until(&**self.backend(), 0, committed as usize).await
    }

    pub async fn last_position(&self) -> i64 {
        self.stored().await.last().map_or(0, |e| e.global_position)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .json(&body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.address)))
            .await
    }

    /// Registers a product and returns its id.
    pub async fn register_product(&self, partner: &str, sku: &str, price: i64) -> String {
        let reply = self
            .post(
                "/v1/products",
                json!({
                    "partner_id": partner,
                    "sku": sku,
                    "title": format!("삼성 비스포크 제트 무선청소기 {sku}"),
                    "brand": "삼성",
                    "category": ["가전", "청소기", "무선청소기"],
                    "model_number": "VS20A956A",
                    "price": {"amount": price, "currency": "KRW"},
                    "stock": 100
                }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["aggregate_id"].as_str().unwrap().to_owned()
    }

    /// Pays for a placed order as a customer would: a wallet payment of its total, authorized
    /// and captured, then the order marked paid with it. Answers the payment id.
    pub async fn pay(&self, order: &str) -> String {
        let state = self.get(&format!("/v1/orders/{order}/state")).await.body["state"].clone();
        let customer = state["customer_id"].as_str().unwrap();
        let total = &state["total"];
        let requested = self
            .post(
                "/v1/payments",
                json!({"order_id": order, "customer_id": customer,
                       "wallet_id": format!("wallet-{customer}"), "amount": total}),
            )
            .await;
        assert_eq!(requested.status, 201, "{}", requested.body);
        let payment = requested.body["aggregate_id"].as_str().unwrap().to_owned();
        for step in ["authorize", "capture"] {
            let reply = self
                .post(&format!("/v1/payments/{payment}/{step}"), json!({}))
                .await;
            assert_eq!(reply.status, 200, "{step}: {}", reply.body);
        }
        let paid = self
            .post(
                &format!("/v1/orders/{order}/pay"),
                json!({"payment_id": payment, "amount": total}),
            )
            .await;
        assert_eq!(paid.status, 200, "{}", paid.body);
        payment
    }

    /// Places customer kim's order of `quantity` units of `product` and pays for it; answers
    /// the order's id.
    pub async fn paid_order(&self, product: &str, quantity: u32) -> String {
        let placed = self
            .post(
                "/v1/orders",
                json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": quantity}]}),
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        let order = placed.body["aggregate_id"].as_str().unwrap().to_owned();
        self.pay(&order).await;
        order
    }

    /// Places an order of `quantity` units of `product`, pays for it and has its seller take
    /// it to delivered.
    pub async fn delivered_order(&self, product: &str, quantity: u32, price: i64) -> String {
        let order = self.paid_order(product, quantity).await;
        let state = self.get(&format!("/v1/orders/{order}/state")).await.body;
        assert_eq!(
            state["state"]["total"]["amount"],
            price * i64::from(quantity)
        );
        let seller = state["state"]["partner_id"].clone();
        for (path, body) in [
            (
                "ship",
                json!({"carrier": "CJ대한통운", "tracking_number": "1234", "partner_id": seller}),
            ),
            ("deliver", json!({"partner_id": seller})),
        ] {
            let reply = self.post(&format!("/v1/orders/{order}/{path}"), body).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        }
        order
    }
}

/// Reads after `position` until `count` events arrived, as a tailing reader does: on
/// PostgreSQL, events of transactions that committed while an older one (in any database of
/// the cluster) was still running become readable a moment later.
pub async fn read_until(
    backend: &dyn EventBackend,
    position: i64,
    count: usize,
) -> Vec<eventmall_events::StoredEvent> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut after = position;
    while seen.len() < count {
        let page = backend.read_after(after, 1000).await.unwrap();
        match page.last() {
            Some(last) => after = last.global_position,
            None => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "only {} of {count} events became readable",
                    seen.len()
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        seen.extend(page);
    }
    seen
}

/// An append of one `OrderDelivered` to a new order `id`, as the store tests write it directly.
pub fn delivered(id: &str) -> eventmall_store::Append {
    use eventmall_store::{Append, NewEvent};
    Append {
        aggregate_type: "order".into(),
        aggregate_id: id.into(),
        expected_version: 0,
        events: vec![NewEvent {
            event_type: "OrderDelivered".into(),
            event_version: "1".into(),
            payload: json!({}),
            metadata: eventmall_events::CommandMetadata::new_root(None)
                .for_event(chrono::Utc::now()),
        }],
        snapshot: None,
        idempotency: None,
        refusal: None,
        timers: Vec::new(),
    }
}

/// Runs each named `async fn(TestApp)` of the calling module against an app on SQLite and one
/// on PostgreSQL, as `sqlite::<name>` and `postgres::<name>`: one way to cover both backends,
/// as `event_store_suite!` does for the store alone.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let app = crate::helpers::spawn_app(crate::helpers::sqlite_backend().await);
                    super::$name(app.await).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::helpers::spawn_postgres_app().await).await;
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;
