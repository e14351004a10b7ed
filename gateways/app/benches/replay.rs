//! Replay: each projector rebuilt the way `eventmall replay rebuild` does it (a new generation
//! built from offset 0 beside the live one, caught up and swapped in) over a log of about a
//! million events, against consuming the same topics and decoding every record with our codec
//! in the same run; and the latency of reads over HTTP while the live generation is idle and
//! while it is being rebuilt.
//!
//! `cargo bench -p eventmall --bench replay`
//! Environment: BENCH_EVENTS (1000000), BENCH_PRODUCTS (20000), BENCH_PROJECTORS (all;
//! comma-separated names), BENCH_BATCH (2000), BENCH_READS (2000), EVENTMALL_TEST_BROKER.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventmall::config::Settings;
use eventmall::startup::{Application, codec, replay};
use eventmall_events::dead_letter::TOPIC as DEAD_LETTER_TOPIC;
use eventmall_kafka::projector::Projector;
use eventmall_kafka::replay::{Outcome, RebuildOptions};
use eventmall_kafka::{KafkaSettings, ensure_topics};
use hdrhistogram::Histogram;
use support::log::{ORDERS, PAYMENTS, PRODUCTS, applied, produce, world};
use support::{consume_and_decode, env, start_broker, total_records};
use tokio_util::sync::CancellationToken;

/// The read route a projector serves, for the n-th read.
fn route(projector: &str, n: usize, orders: &[String]) -> String {
    match projector {
        "order-views" => format!("/v1/orders/{}", orders[n % orders.len()]),
        "search" => [
            "/v1/search?q=무선청소기",
            "/v1/search?q=삼성&limit=10",
            "/v1/search?q=VS00012A",
        ][n % 3]
            .to_owned(),
        _ => format!("/v1/customers/customer-{:05}/recommendations", n % 50_000),
    }
}

/// Reads `route`s one after the other until `stop` (or `limit` reads); answers the latencies
/// in microseconds.
async fn read_until(
    address: String,
    projector: &'static str,
    orders: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    limit: usize,
) -> Histogram<u64> {
    let http = reqwest::Client::new();
    let mut latencies = Histogram::<u64>::new(3).unwrap();
    let mut n = 0;
    while n < limit && !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let reply = http
            .get(format!("{address}{}", route(projector, n, &orders)))
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success(), "{}", reply.status());
        reply.bytes().await.unwrap();
        latencies
            .record(u64::try_from(started.elapsed().as_micros()).unwrap())
            .unwrap();
        n += 1;
    }
    latencies
}

fn ms(latencies: &Histogram<u64>, quantile: f64) -> f64 {
    latencies.value_at_quantile(quantile) as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env("BENCH_EVENTS", 1_000_000) as usize;
    let products = env("BENCH_PRODUCTS", 20_000) as usize;
    let batch = env("BENCH_BATCH", 2_000) as usize;
    let reads = env("BENCH_READS", 2_000) as usize;
    let chosen = std::env::var("BENCH_PROJECTORS").unwrap_or_default();
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = start_broker("memory://nisshi/", broker_dir.path()).await;
    let bootstrap = broker.bootstrap_servers().to_owned();

    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: data.path().to_owned(),
        ..Settings::default()
    };
    settings.http.addr = "127.0.0.1:0".into();
    settings.kafka = KafkaSettings {
        bootstrap_servers: bootstrap.clone(),
        partitions: 6,
        ..KafkaSettings::default()
    };
    settings.projectors.batch_size = batch;
    settings.log.filter = "warn".into();
    ensure_topics(
        &bootstrap,
        &settings.kafka,
        &[PRODUCTS, ORDERS, PAYMENTS, DEAD_LETTER_TOPIC],
    )
    .await
    .unwrap();
    let app = Application::build(&settings).await.unwrap();
    let codec = codec(&settings, app.store_pool()).unwrap();
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    let events = world(total, products);
    let orders: Arc<Vec<String>> = Arc::new(
        events
            .iter()
            .filter(|e| e.sequence == 1 && e.event.topic() == ORDERS)
            .map(|e| e.aggregate_id.clone())
            .take(10_000)
            .collect(),
    );
    produce(&bootstrap, &codec, &events).await;
    drop(events);

    let replay = replay(&settings, &bootstrap).await.unwrap();
    let views = app.views();
    let serving = app.serving().clone();
    let address = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));

    println!(
        "| projector | records | consume+decode records/s | rebuild records/s | rebuild ÷ consume+decode | rebuild s | reads idle p50 / p99 ms | reads during rebuild p50 / p99 ms (n) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for live in views.projections() {
        let name = live.name();
        if !chosen.is_empty() && !chosen.split(',').any(|n| n == name) {
            continue;
        }
        let topics = live.topics();
        let expected = total_records(&bootstrap, topics);
        let reference = {
            let decoder = codec.codec().await;
            consume_and_decode(&bootstrap, topics, expected, &decoder)
        };

        // The live generation, built as the projector role builds it, then read while idle.
        let stop = CancellationToken::new();
        let running = Projector::new(
            live.clone(),
            codec.clone(),
            &bootstrap,
            &settings.projectors.runtime(),
        )
        .unwrap()
        .spawn(stop.clone());
        while applied(live.as_ref()).await < expected {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.cancel();
        running.await.unwrap().unwrap();
        serving.refresh().await.unwrap();
        let never = Arc::new(AtomicBool::new(false));
        let idle = read_until(address.clone(), name, orders.clone(), never, reads).await;

        // The rebuild, read from all along.
        let reading = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_until(
            address.clone(),
            name,
            orders.clone(),
            reading.clone(),
            usize::MAX,
        ));
        let began = replay.begin(name).await.unwrap();
        let rebuilt = replay
            .run(
                began,
                &RebuildOptions::default(),
                |_| {},
                CancellationToken::new(),
            )
            .await
            .unwrap();
        reading.store(true, Ordering::Relaxed);
        let during = reader.await.unwrap();
        assert!(
            matches!(rebuilt.outcome, Outcome::Swapped { .. }),
            "{rebuilt:?}"
        );
        let seconds = rebuilt.elapsed_ms as f64 / 1000.0;
        let reference_rate = expected as f64 / reference.as_secs_f64();
        let rate = expected as f64 / seconds;
        println!(
            "| {name} | {expected} | {reference_rate:.0} | {rate:.0} | {:.3} | {seconds:.1} | {:.2} / {:.2} | {:.2} / {:.2} ({}) |",
            rate / reference_rate,
            ms(&idle, 0.5),
            ms(&idle, 0.99),
            ms(&during, 0.5),
            ms(&during, 0.99),
            during.len()
        );
    }
    let _ = broker.stop().await;
}
