//! The ingest topics against a real broker: upstream records become commands, every malformed
//! record becomes a dead letter with its reason while its partition moves on, and records
//! delivered again append nothing.

use std::time::Duration;

use eventmall::config::Settings;
use eventmall_events::dead_letter::{TOPIC as DEAD_LETTER_TOPIC, header};
use eventmall_events::ingest::{
    IngestRecord, ProductIngest, ProductUpserted, ProductWithdrawn, ShipmentDelivered,
    ShipmentDispatched, ShipmentIngest,
};
use eventmall_events::{Money, OrderId, PartnerId, StoredEvent};
use eventmall_registry::RegisteredCodec;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::interop::{python, run_python};
use crate::kafka::{Record, TestBroker, drain};
use crate::read_api::app_on;

const PRODUCTS: &str = "eventmall.ingest.products.v1";
const SHIPMENTS: &str = "eventmall.ingest.shipments.v1";
const PARTNER: &str = "shop-ingest";

fn upserted(event_id: &str, sku: &str, price: i64) -> IngestRecord {
    ProductIngest::from(ProductUpserted {
        event_id: event_id.into(),
        partner_id: PartnerId::from(PARTNER),
        sku: sku.into(),
        title: format!("나이키 남성 러닝화 페가수스 41 {sku}"),
        brand: Some("나이키".into()),
        category: vec![
            "패션잡화".into(),
            "남성신발".into(),
            "운동화".into(),
            "러닝화".into(),
        ],
        model_number: Some("FD2722-002".into()),
        price: Money::krw(price),
        stock: Some(20),
    })
    .into()
}

/// Publishes raw values to `topic`, partition 0, keyed as producers key them.
struct Upstream {
    producer: FutureProducer,
    codec: RegisteredCodec,
}

impl Upstream {
    async fn new(broker: &TestBroker, app: &TestApp) -> Self {
        let codec = app.codec();
        codec
            .register(&eventmall_events::ingest::contract())
            .await
            .unwrap();
        let producer = eventmall_kafka::client_config(&broker.bootstrap())
            .set("acks", "all")
            .create()
            .unwrap();
        Self { producer, codec }
    }

    async fn encode(&self, record: &IngestRecord) -> Vec<u8> {
        let mut value = Vec::new();
        self.codec
            .codec()
            .await
            .encode_ingest(record, &mut value)
            .unwrap();
        value
    }

    async fn publish(&self, record: &IngestRecord) {
        let value = self.encode(record).await;
        self.raw(record.topic(), Some(&value)).await;
    }

    /// Publishes to the partition the key hashes to, as producers do.
    async fn publish_keyed(&self, record: &IngestRecord, key: &str) {
        let value = self.encode(record).await;
        self.producer
            .send(
                FutureRecord::<str, [u8]>::to(record.topic())
                    .key(key)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }

    async fn raw(&self, topic: &str, value: Option<&[u8]>) {
        let mut record = FutureRecord::<str, [u8]>::to(topic).partition(0).key("key");
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }
}

/// The ingest consumer of the app, in consumer group `group`.
async fn start_ingest(
    app: &TestApp,
    broker: &TestBroker,
    group: &str,
) -> (JoinHandle<eventmall_kafka::Result<()>>, CancellationToken) {
    let mut settings: Settings = app.settings.clone();
    settings.ingest.group = group.into();
    let consumer = eventmall::startup::connect_ingest(
        &settings,
        app.commands.clone(),
        &app.store_pool,
        &broker.bootstrap(),
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    (tokio::spawn(consumer.run(stop.clone())), stop)
}

/// Waits until `done` holds for the stored events.
async fn stored_until(app: &TestApp, what: &str, done: impl Fn(&[StoredEvent]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = app.stored().await;
        if done(&stored) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}; stored: {:?}",
            stored.iter().map(|e| &e.event_type).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the dead-letter topic holds `count` letters.
async fn dead_letters(bootstrap: &str, count: usize) -> Vec<Record> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let letters = drain(bootstrap, &[DEAD_LETTER_TOPIC]);
        if letters.len() >= count {
            return letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} dead letters: {:?}",
            letters.len(),
            letters
                .iter()
                .map(|l| l.header(header::REASON))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn types_of(stored: &[StoredEvent], aggregate_id: &str) -> Vec<String> {
    stored
        .iter()
        .filter(|e| e.aggregate_id == aggregate_id)
        .map(|e| e.event_type.clone())
        .collect()
}

/// An order of the ingest partner's product, placed and paid over HTTP.
async fn paid_order(app: &TestApp, product: &str) -> OrderId {
    app.paid_order(product, 1).await.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_records_become_commands_and_redelivery_appends_nothing() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 100).await;
    let (running, stop) = start_ingest(&app, &broker, "ingest-a").await;
    let upstream = Upstream::new(&broker, &app).await;

    upstream
        .publish(&upserted("up-1", "PG41-M-270", 129_000))
        .await;
    upstream
        .publish(&upserted("up-2", "PG41-M-270", 89_000))
        .await;
    upstream
        .publish(&upserted("up-3", "PG41-M-280", 89_000))
        .await;
    upstream
        .publish(
            &ProductIngest::from(ProductWithdrawn {
                event_id: "up-4".into(),
                partner_id: PartnerId::from(PARTNER),
                sku: "PG41-M-280".into(),
                reason: Some("품절".into()),
            })
            .into(),
        )
        .await;
    let product =
        eventmall_events::ProductId::for_partner_sku(&PartnerId::from(PARTNER), "PG41-M-270")
            .to_string();
    let withdrawn =
        eventmall_events::ProductId::for_partner_sku(&PartnerId::from(PARTNER), "PG41-M-280")
            .to_string();
    stored_until(&app, "the product records", |stored| {
        types_of(stored, &withdrawn).len() == 2
    })
    .await;
    let stored = app.stored().await;
    assert_eq!(
        types_of(&stored, &product),
        ["ProductRegistered", "ProductPriceChanged"]
    );
    assert_eq!(
        types_of(&stored, &withdrawn),
        ["ProductRegistered", "ProductDelisted"]
    );
    let registered = stored.iter().find(|e| e.aggregate_id == product).unwrap();
    assert_eq!(registered.payload["stock"], 20);
    assert_eq!(registered.metadata.correlation_id, "up-1");
    assert_eq!(
        registered.metadata.actor.as_deref(),
        Some("ingest:shop-ingest")
    );
    assert_eq!(registered.metadata.causation_id, format!("{PRODUCTS}/0/0"));

    let order = paid_order(&app, &product).await;
    let shipped: IngestRecord = ShipmentIngest::from(ShipmentDispatched {
        event_id: "ship-1".into(),
        partner_id: PartnerId::from(PARTNER),
        order_id: order,
        carrier: "CJ대한통운".into(),
        tracking_number: "6543210987".into(),
    })
    .into();
    let delivered: IngestRecord = ShipmentIngest::from(ShipmentDelivered {
        event_id: "ship-2".into(),
        partner_id: PartnerId::from(PARTNER),
        order_id: order,
        receiver: Some("경비실".into()),
    })
    .into();
    upstream.publish(&shipped).await;
    upstream.publish(&delivered).await;
    let order_id = order.to_string();
    stored_until(&app, "the shipment records", |stored| {
        types_of(stored, &order_id).len() == 4
    })
    .await;
    assert_eq!(
        types_of(&app.stored().await, &order_id),
        ["OrderPlaced", "OrderPaid", "OrderShipped", "OrderDelivered"]
    );

    // A producer's retry publishes a record twice: the copy appends nothing.
    upstream.publish(&shipped).await;
    upstream
        .publish(&upserted("up-1", "PG41-M-270", 129_000))
        .await;
    upstream
        .publish(&upserted("up-5", "PG41-M-270", 79_000))
        .await;
    stored_until(&app, "the record after the copies", |stored| {
        types_of(stored, &product).len() == 3
    })
    .await;
    let before = app.stored().await;
    assert_eq!(
        types_of(&before, &product),
        [
            "ProductRegistered",
            "ProductPriceChanged",
            "ProductPriceChanged"
        ],
        "the copy of up-1 did not set the price back"
    );
    stop.cancel();
    running.await.unwrap().unwrap();

    // Every record delivered again, to a consumer group that starts from offset 0.
    let (running, stop) = start_ingest(&app, &broker, "ingest-b").await;
    upstream
        .publish(&upserted("up-6", "PG41-M-290", 99_000))
        .await;
    let marker =
        eventmall_events::ProductId::for_partner_sku(&PartnerId::from(PARTNER), "PG41-M-290")
            .to_string();
    stored_until(&app, "the record after the redelivery", |stored| {
        !types_of(stored, &marker).is_empty()
    })
    .await;
    let after = app.stored().await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "redelivery appended {:?}",
        after[before.len()..]
            .iter()
            .map(|e| &e.event_type)
            .collect::<Vec<_>>()
    );
    assert!(drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_record_is_dead_lettered_with_its_reason_and_the_partition_moves_on() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 100).await;
    let (running, stop) = start_ingest(&app, &broker, "ingest-bad").await;
    let upstream = Upstream::new(&broker, &app).await;

    let good = upstream.encode(&upserted("ok-1", "GOOD-1", 10_000)).await;
    upstream
        .raw(PRODUCTS, Some(&[0x07, 0, 0, 0, 1, 2, 3]))
        .await;
    upstream
        .raw(PRODUCTS, Some(&[0, 0, 0x0f, 0x42, 0x3f, 2]))
        .await;
    upstream.raw(PRODUCTS, Some(&good[..good.len() / 2])).await;
    upstream.raw(PRODUCTS, Some(&[0, 0])).await;
    upstream.raw(PRODUCTS, None).await;
    upstream
        .publish(&upserted("ok-2", "bad sku!", 10_000))
        .await;
    upstream.publish(&upserted("", "GOOD-2", 10_000)).await;
    upstream.publish(&upserted("ok-3", "GOOD-3", 0)).await;
    let foreign: IngestRecord = ShipmentIngest::from(ShipmentDispatched {
        event_id: "ship-x".into(),
        partner_id: PartnerId::from(PARTNER),
        order_id: OrderId(Uuid::now_v7()),
        carrier: "CJ대한통운".into(),
        tracking_number: "1".into(),
    })
    .into();
    let foreign_value = upstream.encode(&foreign).await;
    upstream.raw(PRODUCTS, Some(&foreign_value)).await;
    upstream.publish(&foreign).await;
    upstream.publish(&upserted("ok-4", "GOOD-4", 10_000)).await;
    upstream.publish(&upserted("ok-4", "GOOD-4", 20_000)).await;
    // After every bad record, a good one on the same partition still goes through.
    upstream.raw(PRODUCTS, Some(&good)).await;

    let expected: [(&str, i64, &str); 11] = [
        (PRODUCTS, 0, "bad magic byte 0x07"),
        (PRODUCTS, 1, "unknown schema id 999999"),
        (PRODUCTS, 2, "truncated record"),
        (PRODUCTS, 3, "truncated record: 2 bytes"),
        (PRODUCTS, 4, "the record has no value"),
        (PRODUCTS, 5, "sku: id \"bad sku!\" may hold only"),
        (PRODUCTS, 6, "event_id is empty"),
        (
            PRODUCTS,
            7,
            "refused: invalid-price: price must be 1 to 10000000000, got 0",
        ),
        (
            PRODUCTS,
            8,
            "a eventmall.ingest.shipment.ShipmentDispatched belongs on eventmall.ingest.shipments.v1",
        ),
        (SHIPMENTS, 0, "refused: order-not-found"),
        (
            PRODUCTS,
            10,
            "event_id ok-4 was used before for a different record",
        ),
    ];
    let letters = dead_letters(&broker.bootstrap(), expected.len()).await;
    let mut seen: Vec<(String, i64, String)> = letters
        .iter()
        .map(|letter| {
            assert_eq!(letter.header(header::STAGE), "ingest");
            (
                letter.header(header::SOURCE_TOPIC).to_owned(),
                letter.header(header::SOURCE_OFFSET).parse().unwrap(),
                letter.header(header::REASON).to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(seen.len(), expected.len(), "{seen:#?}");
    for ((topic, offset, reason), (want_topic, want_offset, want_reason)) in
        seen.iter().zip(&expected)
    {
        assert_eq!((topic.as_str(), *offset), (*want_topic, *want_offset));
        assert!(
            reason.starts_with(want_reason),
            "offset {offset}: {reason:?} is not {want_reason:?}"
        );
    }
    // Two letters come from offset 0 (one per topic); the bad magic byte is the products one.
    let raw = letters
        .iter()
        .find(|l| {
            l.header(header::SOURCE_TOPIC) == PRODUCTS && l.header(header::SOURCE_OFFSET) == "0"
        })
        .unwrap();
    assert_eq!(
        raw.payload(),
        [0x07, 0, 0, 0, 1, 2, 3],
        "the raw bytes are kept"
    );

    let good_product =
        eventmall_events::ProductId::for_partner_sku(&PartnerId::from(PARTNER), "GOOD-1")
            .to_string();
    let registered =
        eventmall_events::ProductId::for_partner_sku(&PartnerId::from(PARTNER), "GOOD-4")
            .to_string();
    stored_until(&app, "the good records", |stored| {
        !types_of(stored, &good_product).is_empty()
    })
    .await;
    let stored = app.stored().await;
    assert_eq!(types_of(&stored, &registered), ["ProductRegistered"]);
    assert_eq!(
        stored.len(),
        2,
        "only the two good records appended: {:?}",
        stored.iter().map(|e| &e.aggregate_id).collect::<Vec<_>>()
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_written_with_confluents_python_clients_feeds_the_ingest_topic() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 100).await;
    let (running, stop) = start_ingest(&app, &broker, "ingest-python").await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let schema =
        format!("{root}/schemas/{PRODUCTS}/eventmall.ingest.product.ProductUpserted/v1.avsc");
    let script = format!("{root}/gateways/app/tests/interop/ingest_producer.py");
    run_python(
        "the Python producer",
        tokio::process::Command::new(python())
            .arg(script)
            .arg(&app.address)
            .arg(broker.bootstrap())
            .arg(schema)
            .arg(PARTNER)
            .env("EVENTMALL_KEY", &app.admin_key),
    )
    .await;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            eventmall_events::ProductId::for_partner_sku(
                &PartnerId::from(PARTNER),
                &format!("PY-{i}"),
            )
            .to_string()
        })
        .collect();
    stored_until(&app, "the Python producer's products", |stored| {
        ids.iter().all(|id| !types_of(stored, id).is_empty())
    })
    .await;
    let stored = app.stored().await;
    assert_eq!(stored.len(), 3, "the retried record appended nothing");
    let first = stored.iter().find(|e| e.aggregate_id == ids[0]).unwrap();
    assert_eq!(first.payload["stock"], eventmall_aggregates::LISTED_STOCK);
    assert_eq!(first.payload["details"]["category"][3], "러닝화");
    assert_eq!(first.metadata.correlation_id, "py-0");
    assert!(drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty());
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_one_key_apply_in_order_while_keys_run_at_once() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 100).await;
    let upstream = Upstream::new(&broker, &app).await;
    // Published before the consumer starts, so its batches hold many keys at once.
    let skus: Vec<String> = (0..40).map(|i| format!("ORD-{i:02}")).collect();
    for round in 0..3 {
        for sku in &skus {
            let record = upserted(&format!("{sku}-{round}"), sku, 10_000 + round * 1_000);
            upstream.publish_keyed(&record, sku).await;
        }
    }
    let (running, stop) = start_ingest(&app, &broker, "ingest-order").await;
    stored_until(&app, "every round", |stored| stored.len() == skus.len() * 3).await;
    let stored = app.stored().await;
    for sku in &skus {
        let id = eventmall_events::ProductId::for_partner_sku(&PartnerId::from(PARTNER), sku)
            .to_string();
        // ProductRegistered and ProductPriceChanged both carry the price as `price`.
        let prices: Vec<&serde_json::Value> = stored
            .iter()
            .filter(|e| e.aggregate_id == id)
            .map(|e| &e.payload["price"]["amount"])
            .collect();
        assert_eq!(prices, [10_000, 11_000, 12_000], "{sku}");
    }
    stop.cancel();
    running.await.unwrap().unwrap();
}
