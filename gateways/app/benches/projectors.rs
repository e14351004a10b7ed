//! Projector catch-up: each projector, run as `eventmall project <name>` (a process of its own,
//! with the projector role's settings), reads a log of about a million events from offset 0
//! into its read model. Beside each, in the same run:
//! - (a) consuming the same topics from the same broker and decoding every record into its
//!   event type with our codec: no projector can beat it;
//! - (b) for a SQL read model, the rows it holds at the end written once, with batched upserts
//!   in one transaction, into new tables of the same database;
//! - (c) for search, the final documents (the whole log folded in memory) indexed once into a
//!   new index, with one commit.
//!
//! The peak RSS is the projector process's own: all of it (`VmHWM`, with the pages of the read
//! model's files it maps), and its anonymous memory alone (heap, windows, caches; sampled every
//! 50 ms), which is what the projectors' memory budget bounds.
//!
//! `cargo bench -p eventmall --bench projectors`
//! Environment: BENCH_EVENTS (1000000), BENCH_PRODUCTS (20000), BENCH_PROJECTORS (all;
//! comma-separated names), BENCH_PROJECTOR_LOG (the projector process's log filter, `warn`),
//! EVENTMALL_TEST_BROKER (the nisshi binary); `EVENTMALL__PROJECTORS__…` settings reach the
//! projector process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventmall_projections::search::{SearchChanges, SearchIndex};
use eventmall_projections::{Envelope, Generation, Projection};
use eventmall_read_models::{OrderViews, Recommendations, Search};
use sqlx::{AnyPool, Row};
use support::log::{Event, applied, log_broker, log_codec, produce, world};
use support::rows;
use support::{consume_and_decode, env, process_peak_mib, process_status_mib, total_records};

const NAMES: [&str; 3] = [OrderViews::NAME, Search::NAME, Recommendations::NAME];

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env("BENCH_EVENTS", 1_000_000) as usize;
    let products = env("BENCH_PRODUCTS", 20_000) as usize;
    let chosen = std::env::var("BENCH_PROJECTORS").unwrap_or_default();
    let broker_dir = tempfile::tempdir().unwrap();
    let (broker, bootstrap) = log_broker(broker_dir.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    eventmall_store::connect(&store_url, 2).await.unwrap();
    let codec = log_codec(&store_url).await;

    // The log: every event encoded once and produced with the relay's headers.
    let log = world(total, products);
    produce(&bootstrap, &codec, &log).await;

    println!(
        "| projector | records | (a) consume+decode records/s | (b) rows written once / (c) indexed once, as records/s | projector records/s | ÷ (a) | ÷ (b) or (c) | projector peak RSS MiB | of it anonymous MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for name in NAMES {
        if !chosen.is_empty() && !chosen.split(',').any(|n| n == name) {
            continue;
        }
        let topics = match name {
            Search::NAME => Search::TOPICS,
            _ => OrderViews::TOPICS,
        };
        let expected = total_records(&bootstrap, topics);
        let decoded = {
            let decoder = codec.codec().await;
            consume_and_decode(&bootstrap, topics, expected, &decoder)
        };
        let data = tempfile::tempdir().unwrap();
        let (took, peak, anonymous) =
            project(name, data.path(), &store_url, &bootstrap, expected).await;
        let once = match name {
            Search::NAME => index_once(&log, &data.path().join("index-once")),
            _ => {
                let views = eventmall_read_models::connect(&format!(
                    "sqlite://{}",
                    data.path().join("views.db").display()
                ))
                .await
                .unwrap();
                write_once(&views, &Generation(1).table_prefix(name), "once_").await
            }
        };
        let rate = |took: Duration| expected as f64 / took.as_secs_f64();
        println!(
            "| {name} | {expected} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {peak:.0} | {anonymous:.0} |",
            rate(decoded),
            rate(once),
            rate(took),
            rate(took) / rate(decoded),
            rate(took) / rate(once),
        );
    }
    broker.stop().await;
}

/// Runs `eventmall project <name>` until its read model passed `expected` records; answers the
/// time from its start, its peak RSS and its peak anonymous RSS.
async fn project(
    name: &str,
    data: &Path,
    store_url: &str,
    bootstrap: &str,
    expected: usize,
) -> (Duration, f64, f64) {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .args(["project", name, "--data-dir"])
        .arg(data)
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("EVENTMALL__STORE__URL", store_url)
        .env(
            "EVENTMALL__LOG__FILTER",
            std::env::var("BENCH_PROJECTOR_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let projection = open(name, data).await;
    let mut anonymous: f64 = 0.0;
    while applied(projection.as_ref()).await < expected {
        assert!(child.try_wait().unwrap().is_none(), "the projector exited");
        anonymous = anonymous.max(process_status_mib(pid, "RssAnon"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let peak = process_peak_mib(pid);
    child.kill().await.unwrap();
    (took, peak, anonymous)
}

/// The projector's first generation, opened beside the process that builds it.
async fn open(name: &str, data: &Path) -> Arc<dyn Projection> {
    if name == Search::NAME {
        // Opened once the projector created it, so the two never race to create it.
        let index = data.join("search").join(Generation(1).to_string());
        while !index.join("meta.json").exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        return Arc::new(Search::open(&data.join("search"), Generation(1), "").unwrap());
    }
    let views =
        eventmall_read_models::connect(&format!("sqlite://{}", data.join("views.db").display()))
            .await
            .unwrap();
    let clock = eventmall_projections::recommendations::TrendClock {
        half_life_hours: 72.0,
    };
    match name {
        OrderViews::NAME => Arc::new(OrderViews::open(views, Generation(1)).await.unwrap()),
        _ => Arc::new(
            Recommendations::open(views, Generation(1), clock)
                .await
                .unwrap(),
        ),
    }
}

/// Reference (c): the whole log folded into final documents in memory, then indexed into a new
/// index in one commit; answers the time of the commit alone.
fn index_once(log: &[Event], dir: &Path) -> Duration {
    let index = SearchIndex::open(dir).unwrap();
    let mut changes = SearchChanges::default();
    for event in log {
        let envelope = Envelope {
            event_id: uuid::Uuid::now_v7(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            recorded_at: event.at,
            event: event.event.clone(),
        };
        index.apply(&mut changes, &envelope).unwrap().unwrap();
    }
    let started = Instant::now();
    index.commit(changes, &[]).unwrap();
    started.elapsed()
}

/// Reference (b): every table of the generation `from` (a table prefix) copied into new tables
/// named `<to><table>` with the same keys, written with multi-row upserts in one transaction;
/// answers the time of the writes alone.
async fn write_once(pool: &AnyPool, from: &str, to: &str) -> Duration {
    let tables: Vec<(String, String)> = sqlx::query(&format!(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name LIKE '{from}%'"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    let mut copies = Vec::new();
    for (table, create) in &tables {
        let copy = format!("{to}{table}");
        sqlx::query(&create.replacen(table.as_str(), &copy, 1))
            .execute(pool)
            .await
            .unwrap();
        copies.push((copy, rows::read(pool, table, "1 = 1").await));
    }
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for (copy, rows) in &copies {
        rows::write(&mut tx, copy, rows).await;
    }
    tx.commit().await.unwrap();
    started.elapsed()
}
