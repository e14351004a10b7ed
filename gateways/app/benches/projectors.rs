//! Projector catch-up: each projector reads a topic of about a million events from offset 0 into
//! its read model, against raw rdkafka consumption of the same topics from the same broker in
//! the same run; with each phase's peak memory.
//!
//! `cargo bench -p eventmall --bench projectors`
//! Environment: BENCH_EVENTS (1000000), BENCH_PRODUCTS (20000), BENCH_PROJECTORS (all;
//! comma-separated names), BENCH_BATCH (2000), EVENTMALL_TEST_BROKER (the nisshi binary).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventmall_events::dead_letter::TOPIC as DEAD_LETTER_TOPIC;
use eventmall_kafka::ensure_topics;
use eventmall_kafka::projector::Projector;
use eventmall_kafka::{KafkaSettings, ProjectorSettings};
use eventmall_projections::recommendations::TrendClock;
use eventmall_projections::{Generation, Projection};
use eventmall_read_models::{OrderViews, Recommendations, Search};
use eventmall_registry::{Level, RegisteredCodec, RegistryStore};
use support::log::{ORDERS, PRODUCTS, applied, produce, world};
use support::{env, peak_mib, raw_consume, reset_peak, start_broker, total_records};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env("BENCH_EVENTS", 1_000_000) as usize;
    let products = env("BENCH_PRODUCTS", 20_000) as usize;
    let batch = env("BENCH_BATCH", 2_000) as usize;
    let chosen = std::env::var("BENCH_PROJECTORS").unwrap_or_default();
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = start_broker("memory://nisshi/", broker_dir.path()).await;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let kafka = KafkaSettings {
        partitions: 6,
        ..KafkaSettings::default()
    };
    ensure_topics(&bootstrap, &kafka, &[PRODUCTS, ORDERS, DEAD_LETTER_TOPIC])
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    eventmall_store::connect(&store_url, 2).await.unwrap();
    let store_pool = eventmall_store::connect_pool(&store_url).await.unwrap();
    let codec = RegisteredCodec::new(Arc::new(RegistryStore::new(
        store_pool,
        Level::BackwardTransitive,
    )));
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();

    // The log: every event encoded once and produced with the relay's headers.
    produce(&bootstrap, &codec, &world(total, products)).await;

    let views_pool = eventmall_read_models::connect(&format!(
        "sqlite://{}",
        dir.path().join("views.db").display()
    ))
    .await
    .unwrap();
    let settings = ProjectorSettings {
        batch_size: batch,
        batch_wait_ms: 20,
        ..ProjectorSettings::default()
    };
    let clock = TrendClock {
        half_life_hours: 72.0,
    };
    let candidates: Vec<Arc<dyn Projection>> = vec![
        Arc::new(
            OrderViews::open(views_pool.clone(), Generation(1))
                .await
                .unwrap(),
        ),
        Arc::new(Search::open(&dir.path().join("search"), Generation(1), "").unwrap()),
        Arc::new(
            Recommendations::open(views_pool.clone(), Generation(1), clock)
                .await
                .unwrap(),
        ),
    ];
    println!(
        "| projector | records | raw rdkafka records/s | projector records/s | projector ÷ raw | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for projection in candidates {
        if !chosen.is_empty() && !chosen.split(',').any(|n| n == projection.name()) {
            continue;
        }
        let topics = projection.topics();
        let expected = total_records(&bootstrap, topics);
        let raw = raw_consume(&bootstrap, topics, expected);
        reset_peak();
        let stop = CancellationToken::new();
        let started = Instant::now();
        let running = Projector::new(projection.clone(), codec.clone(), &bootstrap, &settings)
            .unwrap()
            .spawn(stop.clone());
        while applied(projection.as_ref()).await < expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = started.elapsed();
        stop.cancel();
        running.await.unwrap().unwrap();
        let raw_rate = expected as f64 / raw.as_secs_f64();
        let rate = expected as f64 / took.as_secs_f64();
        println!(
            "| {} | {expected} | {raw_rate:.0} | {rate:.0} | {:.2} | {:.0} |",
            projection.name(),
            rate / raw_rate,
            peak_mib()
        );
    }
    broker.stop().await;
}
