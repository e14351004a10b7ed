//! Projectors against a real broker: a projector killed mid-batch and restarted builds the
//! same read model as a clean rebuild, a record delivered twice changes nothing, and a poison
//! record goes to the dead letters while its partition moves on.

use std::sync::Arc;
use std::time::Duration;

use eventmall_events::order::{OrderEvent, OrderPaid};
use eventmall_events::{AnyEvent, Money, PaymentId};
use eventmall_gateways::config::ProjectorSettings;
use eventmall_gateways::demo::{self, DemoPlan};
use eventmall_gateways::projector::{
    DEAD_LETTER_TOPIC, Projection, Projector, checkpoints, header,
};
use eventmall_gateways::views::OrderViews;
use eventmall_projections::Generation;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_sqlite_app};
use crate::kafka::{Record, TestBroker, drain, kafka_settings};

const ORDERS: &str = OrderEvent::TOPIC;

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
) -> (JoinHandle<anyhow::Result<()>>, CancellationToken) {
    eventmall_gateways::kafka::ensure_topics(
        &broker.bootstrap(),
        &kafka_settings(),
        &[ORDERS, DEAD_LETTER_TOPIC],
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
    (projector.spawn(stop.clone()), stop)
}

/// Records on `topic`, from the partitions' high watermarks.
fn records_on(broker: &TestBroker, topic: &str) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .unwrap();
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).unwrap();
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| consumer.fetch_watermarks(topic, p.id(), timeout).unwrap().1)
        .sum()
}

/// Offsets the read model has passed, summed over partitions.
async fn applied(views: &OrderViews, generation: Generation) -> i64 {
    checkpoints::load(views.pool(), OrderViews::NAME, generation)
        .await
        .unwrap()
        .iter()
        .map(|c| c.next_offset)
        .sum()
}

async fn wait_applied(views: &OrderViews, generation: Generation, total: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while applied(views, generation).await < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector passed {} of {total} records",
            applied(views, generation).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A demo world, published by the relay; answers the records on the order topic.
async fn published_world(app: &TestApp, broker: &TestBroker, orders: usize) -> i64 {
    let (_relay, _stop) = app.start_relay(broker).await;
    let plan = DemoPlan {
        partners: 3,
        products_per_partner: 10,
        customers: 25,
        orders,
        seed: 11,
        concurrency: 8,
    };
    demo::run(&app.commands, plan).await.unwrap();
    app.wait_published(app.last_position().await).await;
    let order_events = app
        .stored()
        .await
        .iter()
        .filter(|e| e.aggregate_type == "order")
        .count();
    assert_eq!(
        records_on(broker, ORDERS),
        i64::try_from(order_events).unwrap()
    );
    i64::try_from(order_events).unwrap()
}

/// Builds `generation` from offset 0 in this process; answers its checksum.
async fn rebuild(app: &TestApp, broker: &TestBroker, generation: Generation, total: i64) -> String {
    let views = OrderViews::open(app.views.orders.pool().clone(), generation)
        .await
        .unwrap();
    let (running, stop) = start(app, broker, Arc::new(views.clone()), 500).await;
    wait_applied(&views, generation, total).await;
    stop.cancel();
    running.await.unwrap().unwrap();
    views.checksum().await.unwrap()
}

fn project_process(app: &TestApp, broker: &TestBroker, batch_size: usize) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .args(["project", OrderViews::NAME])
        .arg("--data-dir")
        .arg(app.data.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("EVENTMALL__STORE__URL", app.store_url())
        .env("EVENTMALL__PROJECTORS__BATCH_SIZE", batch_size.to_string())
        .env("EVENTMALL__PROJECTORS__BATCH_WAIT_MS", "5")
        .env("EVENTMALL__PROJECTORS__SESSION_TIMEOUT_MS", "6000")
        .env("EVENTMALL__LOG__FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_views_killed_mid_batch_and_restarted_equal_a_clean_rebuild() {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    let total = published_world(&app, &broker, 300).await;
    let live = app.views.orders.clone();
    let generation = live.generation();

    // `eventmall project` as its own process, SIGKILLed once it is part of the way through.
    let mut child = project_process(&app, &broker, 7);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while applied(&live, generation).await < total / 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projector made no progress"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let at_kill = applied(&live, generation).await;
    assert!(
        at_kill < total,
        "killed after the end: {at_kill} of {total}"
    );

    let mut child = project_process(&app, &broker, 7);
    wait_applied(&live, generation, total).await;
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "eventmall project exited with {status}");

    let clean = rebuild(&app, &broker, generation.next(), total).await;
    assert_eq!(live.checksum().await.unwrap(), clean);

    // And the read routes serve it.
    let placed = app
        .stored()
        .await
        .into_iter()
        .find(|e| e.event_type == "OrderPlaced")
        .unwrap();
    let order = app
        .get(&format!("/v1/orders/{}", placed.aggregate_id))
        .await;
    assert_eq!(order.status, 200, "{}", order.body);
    assert_eq!(order.body["timeline"][0]["status"], "placed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_delivered_twice_changes_nothing() {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    let total = published_world(&app, &broker, 60).await;
    let live = app.views.orders.clone();
    let (running, stop) = start(&app, &broker, Arc::new(live.clone()), 50).await;
    wait_applied(&live, live.generation(), total).await;
    let once = live.checksum().await.unwrap();

    // The relay's at-least-once delivery, exaggerated: every record published again.
    let producer = producer(&broker);
    for record in drain(&broker.bootstrap(), &[ORDERS]) {
        send(
            &producer,
            &record.key,
            &record.headers_list(),
            &record.payload,
        )
        .await;
    }
    wait_applied(&live, live.generation(), 2 * total).await;
    assert_eq!(live.checksum().await.unwrap(), once);
    stop.cancel();
    running.await.unwrap().unwrap();
    assert!(drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty());
}

fn producer(broker: &TestBroker) -> FutureProducer {
    eventmall_gateways::kafka::client_config(&broker.bootstrap())
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap()
}

async fn send(producer: &FutureProducer, key: &str, headers: &[(String, String)], payload: &[u8]) {
    let mut list = OwnedHeaders::new();
    for (name, value) in headers {
        list = list.insert(Header {
            key: name,
            value: Some(value),
        });
    }
    producer
        .send(
            FutureRecord::to(ORDERS)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dead_letters_and_their_partition_moves_on() {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    let (_relay, _stop) = app.start_relay(&broker).await;
    let product = app.register_product("p-1", "vacuum", 399_000).await;
    let first = app.delivered_order(&product, 1, 399_000).await;
    app.wait_published(app.last_position().await).await;
    let real = drain(&broker.bootstrap(), &[ORDERS]);

    // Three poison records keyed like the order placed next, so they share its partition.
    let next = Uuid::now_v7().to_string();
    let headers = |event_type: &str| {
        vec![
            ("event_id".to_owned(), Uuid::now_v7().to_string()),
            ("event_type".to_owned(), event_type.to_owned()),
            ("sequence".to_owned(), "2".to_owned()),
        ]
    };
    let not_avro = b"{\"json\": \"instead of avro\"}".to_vec();
    let truncated = real[0].payload[..real[0].payload.len() - 3].to_vec();
    let mut unknown_order = Vec::new();
    let codec = app.codec();
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    codec
        .codec()
        .await
        .encode(
            &AnyEvent::Order(OrderEvent::OrderPaid(OrderPaid {
                payment_id: PaymentId::new(),
                amount: Money::krw(1),
            })),
            &mut unknown_order,
        )
        .unwrap();
    let producer = producer(&broker);
    for (payload, event_type) in [
        (&not_avro, "OrderPlaced"),
        (&truncated, "OrderPlaced"),
        (&unknown_order, "OrderPaid"),
    ] {
        send(&producer, &next, &headers(event_type), payload).await;
    }
    let placed = app
        .post(
            "/v1/orders",
            json!({"order_id": next, "customer_id": "lee", "lines": [{"product_id": product, "quantity": 2}]}),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    app.wait_published(app.last_position().await).await;

    let live = app.views.orders.clone();
    let (running, stop) = start(&app, &broker, Arc::new(live.clone()), 50).await;
    wait_applied(&live, live.generation(), records_on(&broker, ORDERS)).await;
    stop.cancel();
    running.await.unwrap().unwrap();

    // The order after the poison, on the same partition, was applied.
    let view = app.get(&format!("/v1/orders/{next}")).await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["lines"][0]["quantity"], 2);
    assert_eq!(
        app.get(&format!("/v1/orders/{first}")).await.body["status"],
        "delivered"
    );

    let letters = drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]);
    assert_eq!(letters.len(), 3, "{letters:?}");
    let source_partition = letters[0].header(header::SOURCE_PARTITION).to_owned();
    let mut offsets = Vec::new();
    for (letter, payload) in letters.iter().zip([&not_avro, &truncated, &unknown_order]) {
        assert_eq!(&letter.payload, payload, "the raw bytes are kept");
        assert_eq!(letter.key, next);
        assert_eq!(letter.header(header::SOURCE_TOPIC), ORDERS);
        assert_eq!(letter.header(header::SOURCE_PARTITION), source_partition);
        assert_eq!(letter.header(header::STAGE), OrderViews::NAME);
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
    assert!(reasons[2].contains("unknown order"), "{reasons:?}");
}
