//! Projectors against a real broker, each test run for every projector: a projector killed
//! mid-batch and restarted builds the same read model as a clean rebuild, a record delivered
//! twice changes nothing, and a poison record goes to the dead letters while its partition
//! moves on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use eventmall::demo::{self, DemoPlan};
use eventmall_events::dead_letter::{TOPIC as DEAD_LETTER_TOPIC, header};
use eventmall_events::order::{OrderEvent, OrderLine, OrderPaid, OrderPlaced};
use eventmall_events::payment::PaymentEvent;
use eventmall_events::product::{
    ProductDetails, ProductEvent, ProductRegistered, ProductStockChanged,
};
use eventmall_events::{
    AnyEvent, CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, StoredEvent,
};
use eventmall_kafka::ProjectorSettings;
use eventmall_kafka::projector::Projector;
use eventmall_projections::recommendations::TrendClock;
use eventmall_projections::{Batch, Checkpoint, Generation, Prepared, Projection, ReadModelError};
use eventmall_read_models::{OrderViews, Recommendations, Search};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use crate::helpers::{TestApp, on_both_backends, spawn_sqlite_app};
use crate::kafka::{Record, TestBroker, drain, kafka_settings};

const ORDERS: &str = OrderEvent::TOPIC;
const PRODUCTS: &str = ProductEvent::TOPIC;

fn settings(batch_size: usize) -> ProjectorSettings {
    ProjectorSettings {
        batch_size,
        batch_wait_ms: 5,
        ..ProjectorSettings::default()
    }
}

/// Runs `projection` in this process until the token is cancelled.
async fn start(
    app: &TestApp,
    broker: &TestBroker,
    projection: Arc<dyn Projection>,
    batch_size: usize,
) -> (JoinHandle<eventmall_kafka::Result<()>>, DropGuard) {
    eventmall_kafka::ensure_topics(
        &broker.bootstrap(),
        &kafka_settings(),
        &[PRODUCTS, ORDERS, PaymentEvent::TOPIC, DEAD_LETTER_TOPIC],
    )
    .await
    .unwrap();
    let projector = Projector::new(
        projection,
        app.codec(),
        &broker.bootstrap(),
        &settings(batch_size),
    )
    .unwrap();
    let stop = CancellationToken::new();
    // The projector thread must end before the runtime does, also when a test panics.
    (projector.spawn(stop.clone()), stop.drop_guard())
}

/// Records on `topic`, from the partitions' high watermarks.
pub(crate) fn records_on(broker: &TestBroker, topic: &str) -> i64 {
    let consumer: BaseConsumer = eventmall_kafka::client_config(&broker.bootstrap())
        .create()
        .unwrap();
    eventmall_kafka::partition_ends(&consumer, &[topic], Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|(_, _, end)| end)
        .sum()
}

/// The projector a test runs against.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject {
    OrderViews,
    Search,
    Recommendations,
}

impl Subject {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::OrderViews => OrderViews::NAME,
            Self::Search => Search::NAME,
            Self::Recommendations => Recommendations::NAME,
        }
    }

    /// The live generation, as the app serves it.
    pub(crate) fn live(self, app: &TestApp) -> Arc<dyn Projection> {
        match self {
            Self::OrderViews => Arc::new(app.views.orders.clone()),
            Self::Search => Arc::new(app.views.search.clone()),
            Self::Recommendations => Arc::new(app.views.recommendations.clone()),
        }
    }

    pub(crate) async fn open(self, app: &TestApp, generation: Generation) -> Arc<dyn Projection> {
        match self {
            Self::OrderViews => Arc::new(
                OrderViews::open(app.views.orders.pool().clone(), generation)
                    .await
                    .unwrap(),
            ),
            Self::Search => {
                Arc::new(Search::open(&app.data.path().join("search"), generation, "").unwrap())
            }
            Self::Recommendations => Arc::new(recommendations(app, generation).await),
        }
    }

    pub(crate) async fn checksum(self, app: &TestApp, generation: Generation) -> String {
        match self {
            Self::OrderViews => OrderViews::open(app.views.orders.pool().clone(), generation)
                .await
                .unwrap()
                .checksum()
                .await
                .unwrap(),
            Self::Search => Search::open(&app.data.path().join("search"), generation, "")
                .unwrap()
                .index()
                .checksum()
                .unwrap(),
            Self::Recommendations => recommendations(app, generation)
                .await
                .checksum()
                .await
                .unwrap(),
        }
    }

    pub(crate) fn records(self, broker: &TestBroker) -> i64 {
        let projection_topics = match self {
            Self::OrderViews => OrderViews::TOPICS,
            Self::Recommendations => Recommendations::TOPICS,
            Self::Search => Search::TOPICS,
        };
        projection_topics
            .iter()
            .map(|t| records_on(broker, t))
            .sum()
    }
}

async fn recommendations(app: &TestApp, generation: Generation) -> Recommendations {
    let clock = TrendClock {
        half_life_hours: app.settings.projectors.trending_half_life_hours,
    };
    Recommendations::open(app.views.orders.pool().clone(), generation, clock)
        .await
        .unwrap()
}

/// Offsets the read model has passed, summed over partitions.
pub(crate) async fn applied(projection: &dyn Projection) -> i64 {
    projection
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|c| c.next_offset)
        .sum()
}

pub(crate) async fn wait_applied(projection: &dyn Projection, total: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while applied(projection).await < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} passed {} of {total} records",
            projection.name(),
            applied(projection).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A demo world, published by the relay; answers the order events stored.
pub(crate) async fn published_world(app: &TestApp, broker: &TestBroker, orders: usize) -> i64 {
    let (_relay, _stop) = app.start_relay(broker).await;
    let plan = DemoPlan {
        partners: 3,
        products_per_partner: 10,
        customers: 25,
        orders,
        seed: 11,
        concurrency: 8,
    };
    demo::run(&app.feeds(), plan).await.unwrap();
    app.wait_published(app.last_position().await).await;
    let order_events = app
        .stored()
        .await
        .iter()
        .filter(|e| e.aggregate_type == "order")
        .count();
    // The relay is at least once: under load a setback (a lease renewal later than its short
    // test TTL) resends from its last written position, and the read models skip what they
    // applied. Every stored event is on the topic.
    let order_events = i64::try_from(order_events).unwrap();
    assert!(records_on(broker, ORDERS) >= order_events);
    order_events
}

/// Builds `generation` from offset 0 in this process; answers its checksum.
async fn rebuild(
    app: &TestApp,
    broker: &TestBroker,
    subject: Subject,
    generation: Generation,
) -> String {
    let projection = subject.open(app, generation).await;
    let (running, stop) = start(app, broker, projection.clone(), 500).await;
    wait_applied(projection.as_ref(), subject.records(broker)).await;
    drop(stop);
    running.await.unwrap().unwrap();
    drop(projection);
    subject.checksum(app, generation).await
}

fn project_process(
    app: &TestApp,
    broker: &TestBroker,
    subject: Subject,
    batch_size: usize,
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .args(["project", subject.name()])
        .arg("--data-dir")
        .arg(app.data.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("EVENTMALL__STORE__URL", app.store_url())
        .env("EVENTMALL__PROJECTORS__BATCH_SIZE", batch_size.to_string())
        .env("EVENTMALL__PROJECTORS__BATCH_WAIT_MS", "5")
        // Far behind, it catches up in windows of 50 records; near the head, batches of
        // `batch_size`: a kill lands in one mode or the other.
        .env("EVENTMALL__PROJECTORS__CATCH_UP_LAG", "100")
        .env("EVENTMALL__PROJECTORS__CATCH_UP_BATCH_SIZE", "50")
        .env("EVENTMALL__PROJECTORS__CATCH_UP_WAIT_MS", "20")
        .env("EVENTMALL__PROJECTORS__SESSION_TIMEOUT_MS", "6000")
        .env("EVENTMALL__LOG__FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Generates one test per projector from a test written against a [`Subject`].
macro_rules! for_each_projector {
    ($($test:ident),+ $(,)?) => {
        mod order_views {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Subject::OrderViews).await;
                }
            )+
        }
        mod recommendations {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Subject::Recommendations).await;
                }
            )+
        }
        mod search {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Subject::Search).await;
                }
            )+
        }
    };
}

for_each_projector!(
    killed_mid_batch_and_restarted_equals_a_clean_rebuild,
    a_record_delivered_twice_changes_nothing,
    poison_records_go_to_the_dead_letters_and_their_partition_moves_on,
    a_read_model_outage_skips_nothing,
);

async fn killed_mid_batch_and_restarted_equals_a_clean_rebuild(subject: Subject) {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    published_world(&app, &broker, 300).await;
    let total = subject.records(&broker);
    let live = subject.live(&app);

    // `eventmall project` as its own process, SIGKILLed once it is part of the way through.
    let mut child = project_process(&app, &broker, subject, 7);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while applied(live.as_ref()).await < total / 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector made no progress"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let at_kill = applied(live.as_ref()).await;
    assert!(
        at_kill < total,
        "killed after the end: {at_kill} of {total}"
    );

    let mut child = project_process(&app, &broker, subject, 7);
    wait_applied(live.as_ref(), total).await;
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "eventmall project exited with {status}");

    let generation = live.generation();
    let clean = rebuild(&app, &broker, subject, generation.next()).await;
    assert_eq!(subject.checksum(&app, generation).await, clean);

    // And the read routes serve it.
    let stored = app.stored().await;
    let first = |event_type: &str| {
        stored
            .iter()
            .find(|e| e.event_type == event_type)
            .map(|e| e.aggregate_id.clone())
            .unwrap()
    };
    let path = match subject {
        Subject::OrderViews => format!("/v1/orders/{}", first("OrderPlaced")),
        Subject::Search => format!("/v1/products/{}", first("ProductRegistered")),
        Subject::Recommendations => "/v1/customers/customer-0001/recommendations".to_owned(),
    };
    let read = app.get(&path).await;
    assert_eq!(read.status, 200, "{}", read.body);
}

async fn a_record_delivered_twice_changes_nothing(subject: Subject) {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    published_world(&app, &broker, 60).await;
    let total = subject.records(&broker);
    let live = subject.live(&app);
    let (running, stop) = start(&app, &broker, live.clone(), 50).await;
    wait_applied(live.as_ref(), total).await;
    let once = subject.checksum(&app, live.generation()).await;

    // The relay's at-least-once delivery, exaggerated: every record published again.
    let producer = producer(&broker);
    for record in drain(&broker.bootstrap(), live.topics()) {
        send(
            &producer,
            &record.topic,
            &record.key,
            &record.headers_list(),
            record.payload(),
        )
        .await;
    }
    wait_applied(live.as_ref(), 2 * total).await;
    assert_eq!(subject.checksum(&app, live.generation()).await, once);
    drop(stop);
    running.await.unwrap().unwrap();
    assert!(drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty());
}

pub(crate) fn producer(broker: &TestBroker) -> FutureProducer {
    eventmall_kafka::client_config(&broker.bootstrap())
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap()
}

pub(crate) async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    headers: &[(String, String)],
    payload: &[u8],
) {
    let mut list = OwnedHeaders::new();
    for (name, value) in headers {
        list = list.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    producer
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(payload)
                .headers(list),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

impl Record {
    fn headers_list(&self) -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        list.sort();
        list
    }
}

async fn poison_records_go_to_the_dead_letters_and_their_partition_moves_on(subject: Subject) {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    let (_relay, _stop) = app.start_relay(&broker).await;
    let product = app.register_product("p-1", "vacuum", 399_000).await;
    let first = app.delivered_order(&product, 1, 399_000).await;
    app.wait_published(app.last_position().await).await;
    let codec = app.codec();
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();

    // Three poison records keyed like the aggregate created next, so they share its partition:
    // not Avro, truncated Avro, and an event the read model refuses.
    let (topic, next, refused, refused_type) = match subject {
        Subject::OrderViews | Subject::Recommendations => (
            ORDERS,
            Uuid::now_v7().to_string(),
            AnyEvent::Order(OrderEvent::OrderPaid(OrderPaid {
                payment_id: PaymentId::new(),
                amount: Money::krw(1),
            })),
            "OrderPaid",
        ),
        Subject::Search => (
            PRODUCTS,
            ProductId::for_partner_sku(&PartnerId("p-9".into()), "next").to_string(),
            AnyEvent::Product(ProductEvent::ProductStockChanged(ProductStockChanged {
                stock: 1,
                previous: None,
            })),
            "ProductStockChanged",
        ),
    };
    let real = drain(&broker.bootstrap(), &[topic]);
    let not_avro = b"{\"json\": \"instead of avro\"}".to_vec();
    let truncated = real[0].payload()[..real[0].payload().len() - 3].to_vec();
    let mut refused_bytes = Vec::new();
    codec
        .codec()
        .await
        .encode(&refused, &mut refused_bytes)
        .unwrap();
    let headers = |event_type: &str| {
        vec![
            ("event_id".to_owned(), Uuid::now_v7().to_string()),
            ("event_type".to_owned(), event_type.to_owned()),
            ("sequence".to_owned(), "2".to_owned()),
        ]
    };
    let producer = producer(&broker);
    for (payload, event_type) in [
        (&not_avro, "OrderPlaced"),
        (&truncated, "OrderPlaced"),
        (&refused_bytes, refused_type),
    ] {
        send(&producer, topic, &next, &headers(event_type), payload).await;
    }
    let created = match subject {
        Subject::OrderViews | Subject::Recommendations => {
            app.post(
                "/v1/orders",
                json!({"order_id": next, "customer_id": "lee", "lines": [{"product_id": product, "quantity": 2}]}),
            )
            .await
        }
        Subject::Search => {
            app.post(
                "/v1/products",
                json!({"partner_id": "p-9", "sku": "next", "title": "다음 상품", "category": ["기타"],
                       "price": {"amount": 1000, "currency": "KRW"}, "stock": 1}),
            )
            .await
        }
    };
    assert_eq!(created.status, 201, "{}", created.body);
    app.wait_published(app.last_position().await).await;

    let live = subject.live(&app);
    let (running, stop) = start(&app, &broker, live.clone(), 50).await;
    wait_applied(live.as_ref(), subject.records(&broker)).await;
    drop(stop);
    running.await.unwrap().unwrap();

    // What came after the poison, on the same partition, was applied.
    match subject {
        Subject::Recommendations => {
            let trending = app.get("/v1/trending?category=가전").await;
            assert_eq!(trending.status, 200, "{}", trending.body);
            assert_eq!(trending.body[0]["product_id"], product, "{}", trending.body);
            let live = &app.views.recommendations;
            let baskets = format!(
                "SELECT COUNT(*) FROM {}baskets WHERE order_id = $1",
                live.generation().table_prefix(Recommendations::NAME)
            );
            let found: i64 = sqlx::query_scalar(&baskets)
                .bind(&next)
                .fetch_one(live.pool())
                .await
                .unwrap();
            assert_eq!(found, 1, "the order placed after the poison is counted");
        }
        Subject::OrderViews => {
            let view = app.get(&format!("/v1/orders/{next}")).await;
            assert_eq!(view.status, 200, "{}", view.body);
            assert_eq!(view.body["lines"][0]["quantity"], 2);
            assert_eq!(
                app.get(&format!("/v1/orders/{first}")).await.body["status"],
                "delivered"
            );
        }
        Subject::Search => {
            let found = app.get(&format!("/v1/products/{next}")).await;
            assert_eq!(found.status, 200, "{}", found.body);
            assert_eq!(found.body["title"], "다음 상품");
            let sold = app.get(&format!("/v1/products/{product}")).await;
            assert_eq!(sold.body["popularity"], 1, "{}", sold.body);
        }
    }

    let letters = drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
    assert_eq!(letters.len(), 3, "{letters:?}");
    let source_partition = letters[0].header(header::SOURCE_PARTITION).to_owned();
    let mut offsets = Vec::new();
    for (letter, payload) in letters.iter().zip([&not_avro, &truncated, &refused_bytes]) {
        assert_eq!(letter.payload(), payload, "the raw bytes are kept");
        assert_eq!(letter.key, next);
        assert_eq!(letter.header(header::SOURCE_TOPIC), topic);
        assert_eq!(letter.header(header::SOURCE_PARTITION), source_partition);
        assert_eq!(letter.header(header::STAGE), subject.name());
        assert!(
            letter.headers.contains_key("event_id"),
            "source headers are kept"
        );
        offsets.push(letter.header(header::SOURCE_OFFSET).parse::<i64>().unwrap());
    }
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
    let reasons: Vec<&str> = letters.iter().map(|l| l.header(header::REASON)).collect();
    assert!(reasons[0].contains("magic byte"), "{reasons:?}");
    assert!(reasons[1].contains("truncated"), "{reasons:?}");
    assert!(reasons[2].contains("unknown"), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_does_not_answer_holds_the_projector_back_and_loses_nothing() {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    published_world(&app, &broker, 20).await;
    let live = Subject::OrderViews.live(&app);
    // A codec that has never seen the writers' schema ids, and a "registry" that hangs up on
    // every request, counting them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let registry = tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(connection);
        }
    });
    let unreachable = eventmall_registry::RegisteredCodec::new(Arc::new(
        eventmall_registry::RemoteRegistry::new(&format!("http://{address}")),
    ));
    let projector = Projector::new(
        live.clone(),
        unreachable,
        &broker.bootstrap(),
        &settings(50),
    )
    .unwrap();
    let stop = CancellationToken::new();
    let running = projector.spawn(stop.clone());
    // The projector thread must end before the runtime does, also when an assertion fails.
    let guard = stop.drop_guard();
    // Until the projector has asked, failed and retried its batch a few times. "Nothing was
    // applied" needs a window too: a projector that dead-lettered the records instead would
    // have committed its first batches within it.
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(60);
    while asked.load(std::sync::atomic::Ordering::Relaxed) < 3
        || started.elapsed() < Duration::from_secs(2)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector never asked the registry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        applied(live.as_ref()).await,
        0,
        "a batch passed without its schemas"
    );
    assert!(
        drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty(),
        "good records were dead-lettered because the registry was away"
    );
    drop(guard);
    running.await.unwrap().unwrap();
    registry.abort();

    // With the registry back, the same records apply.
    let (running, guard) = start(&app, &broker, live.clone(), 50).await;
    wait_applied(live.as_ref(), Subject::OrderViews.records(&broker)).await;
    drop(guard);
    running.await.unwrap().unwrap();
}

/// A read model whose store goes down after its second batch: its next three `prepare`s fail,
/// and so does reading its checkpoints until a `prepare` succeeds again.
struct Unavailable {
    inner: Arc<dyn Projection>,
    prepares: AtomicUsize,
    recovered: AtomicBool,
}

impl Unavailable {
    const FIRST_FAILURE: usize = 2;
    const FAILURES: usize = 3;

    fn new(inner: Arc<dyn Projection>) -> Self {
        Self {
            inner,
            prepares: AtomicUsize::new(0),
            recovered: AtomicBool::new(false),
        }
    }

    fn down() -> ReadModelError {
        ReadModelError::new("the read-model database is down")
    }
}

#[async_trait::async_trait]
impl Projection for Unavailable {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn topics(&self) -> &'static [&'static str] {
        self.inner.topics()
    }
    fn generation(&self) -> Generation {
        self.inner.generation()
    }
    fn group_id(&self) -> String {
        self.inner.group_id()
    }
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadModelError> {
        let failed = self.prepares.load(Ordering::SeqCst) > Self::FIRST_FAILURE;
        if failed && !self.recovered.load(Ordering::SeqCst) {
            return Err(Self::down());
        }
        self.inner.checkpoints().await
    }
    async fn prepare(&self, batch: &Batch) -> Result<Prepared, ReadModelError> {
        let call = self.prepares.fetch_add(1, Ordering::SeqCst);
        if (Self::FIRST_FAILURE..Self::FIRST_FAILURE + Self::FAILURES).contains(&call) {
            return Err(Self::down());
        }
        let prepared = self.inner.prepare(batch).await?;
        self.recovered
            .store(call > Self::FIRST_FAILURE, Ordering::SeqCst);
        Ok(prepared)
    }
}

/// While the read model's database is down the projector must not read past the batch it
/// failed: when the database is back, the stored checkpoint would accept a batch far ahead of
/// it, and everything between would never be applied.
async fn a_read_model_outage_skips_nothing(subject: Subject) {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    published_world(&app, &broker, 60).await;
    let live = subject.live(&app);
    let flaky: Arc<dyn Projection> = Arc::new(Unavailable::new(live.clone()));
    let (running, stop) = start(&app, &broker, flaky, 7).await;
    wait_applied(live.as_ref(), subject.records(&broker)).await;
    drop(stop);
    running.await.unwrap().unwrap();

    let generation = live.generation();
    let clean = rebuild(&app, &broker, subject, generation.next()).await;
    assert_eq!(subject.checksum(&app, generation).await, clean);
}

/// Two paid orders at 2⁶² (from before prices were bounded, or a producer that skipped the
/// aggregate) push the partner's gross sales past an i64. The order that does is dead-lettered
/// with the reason, and the projector goes on: another partner's later order reaches its view,
/// and the customer's profile still reads.
async fn an_event_the_read_model_cannot_hold_is_dead_lettered(app: TestApp) {
    let broker = TestBroker::in_memory().await;
    let (_relay, _stop) = app.start_relay(&broker).await;
    let codec = app.codec();
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    let producer = producer(&broker);
    let huge = Money::krw(1 << 62);
    let product = ProductId::for_partner_sku(&PartnerId("big".into()), "yacht");
    for _ in 0..2 {
        let order_id = OrderId::new();
        let placed = OrderEvent::OrderPlaced(OrderPlaced {
            order_id,
            customer_id: CustomerId("whale".into()),
            partner_id: PartnerId("big".into()),
            lines: vec![OrderLine {
                line_no: 1,
                product_id: product,
                title: "요트".into(),
                category: vec!["레저".into()],
                unit_price: huge,
                quantity: 1,
            }],
            total: huge,
            wallet_id: None,
            shipping: None,
        });
        let paid = OrderEvent::OrderPaid(OrderPaid {
            payment_id: PaymentId::new(),
            amount: huge,
        });
        for (sequence, event) in [(1, placed), (2, paid)] {
            let event = AnyEvent::Order(event);
            let mut bytes = Vec::new();
            codec.codec().await.encode(&event, &mut bytes).unwrap();
            let headers = vec![
                ("event_id".to_owned(), Uuid::now_v7().to_string()),
                ("event_type".to_owned(), event.event_type().to_owned()),
                ("sequence".to_owned(), sequence.to_string()),
            ];
            send(&producer, ORDERS, &order_id.to_string(), &headers, &bytes).await;
        }
    }
    let product = app.register_product("small", "mug", 9_000).await;
    let later = app.delivered_order(&product, 1, 9_000).await;
    app.wait_published(app.last_position().await).await;

    // One record per batch: the overflow is found by the database, not inside a batch.
    let live = Subject::OrderViews.live(&app);
    let (running, stop) = start(&app, &broker, live.clone(), 1).await;
    wait_applied(live.as_ref(), Subject::OrderViews.records(&broker)).await;
    drop(stop);
    running.await.unwrap().unwrap();

    let view = app.get(&format!("/v1/orders/{later}")).await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["status"], "delivered", "{}", view.body);
    let profile = app.get("/v1/customers/whale/profile").await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    assert_eq!(profile.body["orders"], 1, "{}", profile.body);
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let sales = app
        .get(&format!("/v1/partners/big/sales?from={from}&to={to}"))
        .await;
    assert_eq!(sales.status, 200, "{}", sales.body);
    assert_eq!(
        sales.body["days"][0]["gross"],
        1_i64 << 62,
        "{}",
        sales.body
    );

    let letters = drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].header("event_type"), "OrderPaid");
    assert_eq!(letters[0].header(header::STAGE), OrderViews::NAME);
    // PostgreSQL says it itself; on SQLite the read model checks the sums it wrote.
    let reason = letters[0].header(header::REASON);
    assert!(
        reason.contains("bigint out of range") || reason.contains("daily_sales.gross overflows"),
        "{reason:?}"
    );
}

on_both_backends!(an_event_the_read_model_cannot_hold_is_dead_lettered);

/// The process's peak resident memory, in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

/// A registration with a brand of 80,000 syllables, as a producer that skipped the product
/// rules could write it: before the analyzer was bounded it needed tens of GB and killed the
/// search projector on every restart. Now it is dead-lettered within a fixed memory budget and
/// the products after it are searchable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_over_the_analysis_budget_is_dead_lettered_within_a_memory_budget() {
    const BUDGET_MIB: u64 = 200;
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    let (_relay, _stop) = app.start_relay(&broker).await;
    let codec = app.codec();
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    let partner = PartnerId("huge".into());
    let product = ProductId::for_partner_sku(&partner, "long-brand");
    let event = AnyEvent::Product(ProductEvent::ProductRegistered(ProductRegistered {
        product_id: product,
        partner_id: partner,
        sku: "long-brand".into(),
        details: ProductDetails {
            title: "무선청소기".into(),
            brand: Some("삼".repeat(80_000)),
            category: vec!["가전".into()],
            model_number: None,
        },
        price: Money::krw(1_000),
        stock: 1,
    }));
    let mut bytes = Vec::new();
    codec.codec().await.encode(&event, &mut bytes).unwrap();
    let headers = vec![
        ("event_id".to_owned(), Uuid::now_v7().to_string()),
        ("event_type".to_owned(), "ProductRegistered".to_owned()),
        ("sequence".to_owned(), "1".to_owned()),
    ];
    send(
        &producer(&broker),
        PRODUCTS,
        &product.to_string(),
        &headers,
        &bytes,
    )
    .await;
    let after = app.register_product("p-1", "vacuum", 399_000).await;
    app.wait_published(app.last_position().await).await;

    let live = Subject::Search.live(&app);
    let (running, stop) = start(&app, &broker, live.clone(), 50).await;
    wait_applied(live.as_ref(), Subject::Search.records(&broker)).await;
    drop(stop);
    running.await.unwrap().unwrap();

    let found = app.get(&format!("/v1/products/{after}")).await;
    assert_eq!(found.status, 200, "{}", found.body);
    let letters = drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let reason = letters[0].header(header::REASON);
    assert!(
        reason.contains("80007 characters to analyse, at most 2048"),
        "{reason}"
    );
    let peak = peak_rss_mib();
    assert!(
        peak < BUDGET_MIB,
        "peak RSS {peak} MiB, budget {BUDGET_MIB} MiB"
    );
}

/// A relay resend can land one aggregate's records as e1, e3, e2, e3: the first e3 is ahead of
/// the read model, which must not apply it (and then drop e2 as already seen) but hold it out
/// as a gap until the resend brings it again after e2.
async fn an_out_of_order_resend_loses_nothing(app: TestApp, subject: Subject) {
    let broker = TestBroker::in_memory().await;
    eventmall_kafka::ensure_topics(&broker.bootstrap(), &kafka_settings(), &[PRODUCTS, ORDERS])
        .await
        .unwrap();
    let codec = app.codec();
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    // Three events of one aggregate, stored but not relayed.
    let product = app.register_product("p-1", "vacuum", 399_000).await;
    let aggregate = match subject {
        Subject::Search => {
            let price = json!({"partner_id": "p-1", "price": {"amount": 299_000}});
            assert_eq!(
                app.post(&format!("/v1/products/{product}/price"), price)
                    .await
                    .status,
                200
            );
            let stock = json!({"partner_id": "p-1", "stock": 7});
            assert_eq!(
                app.post(&format!("/v1/products/{product}/stock"), stock)
                    .await
                    .status,
                200
            );
            product.clone()
        }
        _ => {
            let order = app
                .post(
                    "/v1/orders",
                    json!({"customer_id": "kim", "lines": [{"product_id": product, "quantity": 1}]}),
                )
                .await;
            let order = order.body["aggregate_id"].as_str().unwrap().to_owned();
            app.pay(&order).await;
            let ship = json!({"carrier": "CJ", "tracking_number": "1", "partner_id": "p-1"});
            assert_eq!(
                app.post(&format!("/v1/orders/{order}/ship"), ship)
                    .await
                    .status,
                200
            );
            order
        }
    };
    let events: Vec<StoredEvent> = app
        .stored()
        .await
        .into_iter()
        .filter(|e| e.aggregate_id == aggregate)
        .collect();
    let tail: Vec<&StoredEvent> = events[events.len() - 3..].iter().collect();
    // Everything before the three, in order; then the three as e1, e3, e2, e3.
    let producer = producer(&broker);
    let mut sent = Vec::new();
    for stored in app
        .stored()
        .await
        .iter()
        .filter(|e| !tail.iter().any(|t| t.global_position == e.global_position))
    {
        sent.push(stored.clone());
    }
    sent.extend([tail[0], tail[2], tail[1], tail[2]].map(Clone::clone));
    for stored in &sent {
        let event =
            AnyEvent::from_stored(&stored.aggregate_type, &stored.event_type, &stored.payload)
                .unwrap();
        let mut bytes = Vec::new();
        codec.codec().await.encode(&event, &mut bytes).unwrap();
        let headers: Vec<(String, String)> = eventmall_kafka::relay::headers(stored)
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        send(
            &producer,
            event.topic(),
            &stored.aggregate_id,
            &headers,
            &bytes,
        )
        .await;
    }

    let live = subject.live(&app);
    let (running, stop) = start(&app, &broker, live.clone(), 1).await;
    wait_applied(live.as_ref(), subject.records(&broker)).await;
    drop(stop);
    running.await.unwrap().unwrap();

    match subject {
        Subject::Search => {
            let doc = app.get(&format!("/v1/products/{product}")).await;
            assert_eq!(doc.body["price"]["amount"], 299_000, "{}", doc.body);
            assert_eq!(doc.body["stock"], 7, "{}", doc.body);
        }
        _ => {
            let view = app.get(&format!("/v1/orders/{aggregate}")).await;
            assert_eq!(view.body["status"], "shipped", "{}", view.body);
            assert_eq!(view.body["paid"]["amount"], 399_000, "{}", view.body);
        }
    }
    let letters = drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let reason = letters[0].header(header::REASON);
    assert!(reason.contains("sequence gap"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_views_take_an_out_of_order_resend_in_order() {
    an_out_of_order_resend_loses_nothing(spawn_sqlite_app().await, Subject::OrderViews).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_takes_an_out_of_order_resend_in_order() {
    an_out_of_order_resend_loses_nothing(spawn_sqlite_app().await, Subject::Search).await;
}
