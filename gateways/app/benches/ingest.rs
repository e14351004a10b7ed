//! `cargo bench -p eventmall --bench ingest`
//!
//! Ingest-topic records per second, from `eventmall.ingest.products.v1` to events stored
//! (SQLite), against raw rdkafka consumption of the same records from the same broker in the
//! same run. Two phases: fresh `ProductUpserted` records (each registers a product), then the
//! same records delivered again to a new consumer group (each replays its recorded result and
//! appends nothing). `BENCH_RECORDS` sets the count (default 50,000). Reference (e), after the
//! phases: the fresh phase's event rows and idempotency keys written once into a new store with
//! batched inserts in one transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use eventmall::config::Settings;
use eventmall::startup::{commands_over, connect_ingest};
use eventmall_events::ingest::{IngestRecord, ProductIngest, ProductUpserted};
use eventmall_events::{Money, PartnerId, ProductId};
use eventmall_registry::{Level, RegisteredCodec, RegistryStore};

use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{env, peak_mib, raw_consume, reset_peak, start_broker};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "eventmall.ingest.products.v1";
const PARTNER: &str = "bench-shop";

fn upserted(event_id: String, sku: String, i: u64) -> IngestRecord {
    ProductIngest::from(ProductUpserted {
        event_id,
        partner_id: PartnerId::from(PARTNER),
        title: format!("나이키 남성 러닝화 페가수스 {i} [블랙]"),
        sku,
        brand: Some("나이키".into()),
        category: vec![
            "스포츠/레저".into(),
            "러닝".into(),
            "러닝용품".into(),
            "러닝화".into(),
        ],
        model_number: Some(format!("FD{i:06}")),
        price: Money::krw(89_000 + (i % 100) as i64 * 1_000),
        stock: Some(10),
    })
    .into()
}

/// Publishes `records`, keyed by SKU, and waits for every acknowledgement.
async fn publish(
    producer: &FutureProducer,
    codec: &RegisteredCodec,
    records: &[(String, IngestRecord)],
) {
    for chunk in records.chunks(5_000) {
        let mut deliveries = Vec::with_capacity(chunk.len());
        for (sku, record) in chunk {
            let mut value = Vec::new();
            codec
                .codec()
                .await
                .encode_ingest(record, &mut value)
                .unwrap();
            deliveries.push(
                producer
                    .send_result(
                        FutureRecord::<str, [u8]>::to(TOPIC)
                            .key(sku)
                            .payload(&value),
                    )
                    .unwrap(),
            );
        }
        for delivery in deliveries {
            delivery.await.unwrap().unwrap();
        }
    }
}

#[tokio::main]
async fn main() {
    let records = env("BENCH_RECORDS", 50_000);
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker("memory://nisshi/", &dir.path().join("broker")).await;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let backend = eventmall_store::connect(&url, 16).await.unwrap();
    let store_pool = eventmall_store::connect_pool(&url).await.unwrap();
    let mut settings = Settings::default();
    settings.kafka.bootstrap_servers = bootstrap.clone();
    let commands = commands_over(backend.clone(), &settings);

    // The consumer creates the topics and registers the contract; start it idle first.
    settings.ingest.group = "bench-setup".into();
    drop(
        connect_ingest(&settings, commands.clone(), &store_pool, &bootstrap)
            .await
            .unwrap(),
    );
    let codec = RegisteredCodec::new(std::sync::Arc::new(RegistryStore::new(
        store_pool.clone(),
        Level::BackwardTransitive,
    )));
    codec
        .register(&eventmall_events::ingest::contract())
        .await
        .unwrap();
    let producer: FutureProducer = eventmall_kafka::client_config(&bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let batch: Vec<(String, IngestRecord)> = (0..records)
        .map(|i| {
            let sku = format!("RUN-{i:07}");
            (sku.clone(), upserted(format!("bench-{i}"), sku, i))
        })
        .collect();
    publish(&producer, &codec, &batch).await;
    println!("{records} ProductUpserted records on {TOPIC}");

    let raw = raw_consume(&bootstrap, &[TOPIC], records as usize);
    let raw_rate = records as f64 / raw.as_secs_f64();
    println!("raw rdkafka: {raw_rate:>10.0} records/s");

    println!(
        "| phase | records | raw rdkafka records/s | ingest records/s | ingest ÷ raw | events appended | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut fresh = (0.0, 0);
    for phase in ["fresh", "redelivered"] {
        reset_peak();
        let before = backend.count_after(0).await.unwrap();
        settings.ingest.group = format!("bench-{phase}");
        let consumer = connect_ingest(&settings, commands.clone(), &store_pool, &bootstrap)
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let started = Instant::now();
        let running = tokio::spawn(consumer.run(stop.clone()));
        // A redelivered phase appends nothing; a new record after the batch, on every
        // partition, marks its end.
        let mut expected = before + records as i64;
        if phase == "redelivered" {
            expected = before + i64::from(settings.kafka.partitions);
            for partition in 0..settings.kafka.partitions {
                let sku = format!("END-{partition}");
                let record = upserted(format!("end-{partition}"), sku.clone(), 0);
                let mut value = Vec::new();
                codec
                    .codec()
                    .await
                    .encode_ingest(&record, &mut value)
                    .unwrap();
                producer
                    .send(
                        FutureRecord::<str, [u8]>::to(TOPIC)
                            .key(&sku)
                            .partition(partition)
                            .payload(&value),
                        Duration::from_secs(10),
                    )
                    .await
                    .unwrap();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        while backend.count_after(0).await.unwrap() < expected {
            assert!(
                Instant::now() < deadline,
                "{phase}: the events did not arrive"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = started.elapsed();
        stop.cancel();
        running.await.unwrap().unwrap();
        let rate = records as f64 / elapsed.as_secs_f64();
        let appended = backend.count_after(0).await.unwrap() - before;
        println!(
            "| {phase} | {records} | {raw_rate:.0} | {rate:.0} | {:.3} | {appended} | {:.0} |",
            rate / raw_rate,
            peak_mib()
        );
        if phase == "fresh" {
            fresh = (rate, before + appended);
        }
    }
    let (fresh_rate, fresh_last) = fresh;
    support::rows::report_written_once(
        &url,
        dir.path(),
        fresh_last,
        records,
        (fresh_rate, "records"),
    )
    .await;
    let stored = ProductId::for_partner_sku(&PartnerId::from(PARTNER), "RUN-0000000");
    assert!(
        commands
            .products
            .load(&stored.to_string())
            .await
            .unwrap()
            .version
            > 0
    );
    broker.stop().await;
}
