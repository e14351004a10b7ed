//! Relay throughput, stored → acknowledged by the broker, against raw rdkafka production of the
//! same records (same keys, payloads and headers, same producer settings) to the same broker in
//! the same run; then store → consumer latency under a steady command load.
//!
//! `cargo bench -p eventmall --bench relay`
//! Environment: BENCH_ORDERS (6000: the demo world's size), BENCH_RATE (1000 commands/s),
//! BENCH_SECONDS (15), BENCH_BROKER_STORAGE (`memory://nisshi/`; empty for a SQLite file),
//! EVENTMALL_TEST_BROKER (the nisshi binary; scripts/install-broker prints its directory).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventmall::config::Settings;
use eventmall::demo::{self, DemoPlan};
use eventmall::startup::commands_over;
use eventmall_aggregates::ProductCommand;
use eventmall_events::{AnyEvent, CommandMetadata, PartnerId, ProductId};
use eventmall_kafka::relay::{Relay, relay_rows};
use eventmall_kafka::{KafkaSettings, RelaySettings};
use eventmall_kafka::{ensure_topics, producer_config};
use eventmall_registry::{Level, RegisteredCodec, RegistryStore};
use eventmall_store::EventBackend;
use eventmall_store::{CommandGateway, CommandRequest, Dispatch};
use hdrhistogram::Histogram;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::AnyPool;
use support::{env, register_products, start_broker};
use tokio_util::sync::CancellationToken;

struct World {
    backend: Arc<dyn EventBackend>,
    store_pool: AnyPool,
    commands: CommandGateway,
    codec: RegisteredCodec,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let backend = eventmall_store::connect(&url, 8).await.unwrap();
    let store_pool = eventmall_store::connect_pool(&url).await.unwrap();
    let commands = commands_over(backend.clone(), &Settings::default());
    let codec = RegisteredCodec::new(Arc::new(RegistryStore::new(
        store_pool.clone(),
        Level::BackwardTransitive,
    )));
    World {
        backend,
        store_pool,
        commands,
        codec,
        _dir: dir,
    }
}

fn kafka() -> KafkaSettings {
    KafkaSettings {
        partitions: 6,
        ..KafkaSettings::default()
    }
}

async fn published(store_pool: &AnyPool) -> i64 {
    relay_rows(store_pool)
        .await
        .unwrap()
        .first()
        .map_or(0, |row| row.position)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let storage =
        std::env::var("BENCH_BROKER_STORAGE").unwrap_or_else(|_| "memory://nisshi/".into());
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = start_broker(&storage, broker_dir.path()).await;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let relay_settings = RelaySettings {
        batch_size: env("BENCH_RELAY_BATCH", 2000) as i64,
        ..RelaySettings::default()
    };

    // The demo world: products, orders with lines, payments; realistic sizes and keys.
    let w = world().await;
    let orders = env("BENCH_ORDERS", 6000) as usize;
    let plan = DemoPlan {
        partners: 20,
        products_per_partner: 100,
        customers: 2000,
        orders,
        seed: 42,
        concurrency: 64,
    };
    demo::run(
        &eventmall_feeds::FeedIngest::new(w.commands.clone(), w.store_pool.clone()),
        plan,
    )
    .await
    .unwrap();
    let started = Instant::now();
    let stored = w.backend.read_after(0, i64::MAX).await.unwrap();
    let read_seconds = started.elapsed().as_secs_f64();
    let last = stored.last().unwrap().global_position;

    // The reference: the same records, pre-encoded, produced raw with the relay's settings.
    w.codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    let records: Vec<(&str, String, Vec<u8>, OwnedHeaders, i64)> = {
        let codec = w.codec.codec().await;
        stored
            .iter()
            .map(|e| {
                let event =
                    AnyEvent::from_stored(&e.aggregate_type, &e.event_type, &e.payload).unwrap();
                let mut payload = Vec::new();
                codec.encode(&event, &mut payload).unwrap();
                let headers = eventmall_kafka::relay::headers(e);
                (
                    event.topic(),
                    e.aggregate_id.clone(),
                    payload,
                    headers,
                    e.metadata.recorded_at.timestamp_millis(),
                )
            })
            .collect()
    };
    let bytes: usize = records.iter().map(|r| r.2.len()).sum();
    let count = records.len();
    ensure_topics(&bootstrap, &kafka(), &["bench.raw.v1"])
        .await
        .unwrap();
    let producer: FutureProducer = producer_config(&bootstrap, &relay_settings)
        .create()
        .unwrap();
    let started = Instant::now();
    let deliveries: Vec<_> = records
        .iter()
        .map(|(topic, key, payload, headers, timestamp)| {
            producer
                .send_result(
                    FutureRecord::to(topic)
                        .key(key.as_bytes())
                        .payload(payload.as_slice())
                        .headers(headers.clone())
                        .timestamp(*timestamp),
                )
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    for delivery in futures::future::join_all(deliveries).await {
        delivery.unwrap().unwrap();
    }
    let raw_seconds = started.elapsed().as_secs_f64();

    // The relay over the same events, from position 0 to acknowledged.
    let relay = Relay::connect(
        w.backend.clone(),
        w.store_pool.clone(),
        w.codec.clone(),
        &bootstrap,
        &kafka(),
        &relay_settings,
    )
    .await
    .unwrap();
    let relay_latency = relay.latency();
    let stop = CancellationToken::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let running = tokio::spawn(relay.run(stop.clone()));
    while published(&w.store_pool).await < last {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let relay_seconds = started.elapsed().as_secs_f64();

    let relay_rate = count as f64 / relay_seconds;
    let raw_rate = count as f64 / raw_seconds;
    println!(
        "broker storage: {storage}; {count} events, {:.0} bytes average Avro payload",
        bytes as f64 / count as f64
    );
    println!("| producer | events/s | MB/s | seconds |");
    println!("|---|---|---|---|");
    println!(
        "| raw rdkafka, pre-encoded | {raw_rate:.0} | {:.1} | {raw_seconds:.2} |",
        bytes as f64 / raw_seconds / 1e6
    );
    println!(
        "| relay: read store, encode, produce, checkpoint | {relay_rate:.0} | {:.1} | {relay_seconds:.2} |",
        bytes as f64 / relay_seconds / 1e6
    );
    println!("ratio relay / raw: {:.2}", relay_rate / raw_rate);
    println!(
        "(reading the {count} events from the store in one query alone: {:.0} events/s)",
        count as f64 / read_seconds
    );

    // Latency under a steady load: stock changes at BENCH_RATE/s, read back by a consumer.
    let rate = env("BENCH_RATE", 1000);
    let seconds = env("BENCH_SECONDS", 15);
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-latency")
        .set("auto.offset.reset", "latest")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.error.backoff.ms", "5")
        .set("fetch.queue.backoff.ms", "0")
        .set("broker.address.family", "v4")
        .create()
        .unwrap();
    consumer.subscribe(&["eventmall.products.v1"]).unwrap();
    // Join the group before the load starts.
    let _ = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await;
    let products = register_products(&w.commands, 512).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay_latency.lock().unwrap().reset();
    let load_stop = CancellationToken::new();
    let load = tokio::spawn(steady_load(
        w.commands.clone(),
        products,
        rate,
        load_stop.clone(),
    ));
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await
        else {
            continue;
        };
        let stored_at = message.timestamp().to_millis().unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        latency.record((now - stored_at).max(0) as u64).unwrap();
    }
    load_stop.cancel();
    let sent = load.await.unwrap();
    println!(
        "steady load: {:.0} commands/s offered, {} records read; stored → consumed ms: p50 {} p99 {} max {}",
        sent as f64 / seconds as f64,
        latency.len(),
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max()
    );
    stop.cancel();
    running.await.unwrap();
    {
        let published = relay_latency.lock().unwrap();
        println!(
            "steady load: relay, stored → acknowledged ms: p50 {} p99 {} max {}",
            published.value_at_quantile(0.5),
            published.value_at_quantile(0.99),
            published.max()
        );
    }
    broker.stop().await;
}

/// Stock changes at `rate` per second, paced by the clock; answers how many were sent.
async fn steady_load(
    commands: CommandGateway,
    products: Vec<ProductId>,
    rate: u64,
    stop: CancellationToken,
) -> u64 {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    let latency = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3).unwrap()));
    while !stop.is_cancelled() {
        ticker.tick().await;
        let id = products[sent as usize % products.len()];
        let command = ProductCommand::ChangeStock {
            partner_id: PartnerId::from("bench"),
            stock: (sent % 1000) as u32 + 11,
        };
        let (commands, latency) = (commands.clone(), latency.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let _ = commands
                .dispatch(CommandRequest::new(
                    id,
                    command,
                    CommandMetadata::new_root(None),
                ))
                .await;
            if let Ok(mut latency) = latency.lock() {
                let _ = latency.record(sent.elapsed().as_micros() as u64);
            }
        });
        sent += 1;
    }
    let latency = latency.lock().unwrap();
    println!(
        "commands during the load, accepted in ms: p50 {:.1} p99 {:.1} max {:.1}",
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.max() as f64 / 1000.0
    );
    sent
}
