//! Sustained commands/s and latency over HTTP with concurrent clients, against a raw insert of
//! the same event rows into the same database, measured in the same run.
//!
//! `cargo bench -p eventmall --bench commands -- [sqlite|postgres]...`
//! Environment: BENCH_CLIENTS (64), BENCH_SECONDS (15), BENCH_PRODUCTS (4096),
//! EVENTMALL_TEST_POSTGRES_URL (admin URL; scripts/start-postgres prints it).
//! BENCH_TELEMETRY: `metrics` (the default: what every API process records), `off` (no
//! recorder, no spans), `full` (metrics, and every span recorded, logged as JSON and exported
//! over OTLP/HTTP to a sink in this process) or `sampled` (`full`, one new trace in ten
//! recorded), for the cost of telemetry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventmall::config::Settings;
use eventmall::startup::{Application, commands_over};
use eventmall_aggregates::ProductCommand;
use eventmall_events::product::ProductDetails;
use eventmall_events::{CommandMetadata, Money, PartnerId, ProductId};
use eventmall_store::EventBackend;
use eventmall_store::keys::{ApiKeys, Grant, Role};
use eventmall_store::{CommandGateway, CommandRequest, Dispatch};
use hdrhistogram::Histogram;
use serde_json::json;
use sqlx::Connection;
use support::env;

struct Run {
    commands: u64,
    conflicts: u64,
    seconds: f64,
    latency: Histogram<u64>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let backends: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let backends = if backends.is_empty() {
        vec!["sqlite".to_owned(), "postgres".to_owned()]
    } else {
        backends
    };
    let _telemetry = telemetry(
        std::env::var("BENCH_TELEMETRY")
            .as_deref()
            .unwrap_or("metrics"),
    )
    .await;
    let clients = env("BENCH_CLIENTS", 64) as usize;
    let seconds = env("BENCH_SECONDS", 15);
    let products = env("BENCH_PRODUCTS", 4096) as usize;
    println!(
        "| store | clients | commands/s | p50 ms | p99 ms | p99.9 ms | 409s | raw rows/s, 1 row a tx | ratio | raw rows/s, 512 rows a tx | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for backend in backends {
        let (url, _dir) = database(&backend).await;
        let store = eventmall_store::connect(&url, env("BENCH_CONNECTIONS", 16) as u32)
            .await
            .unwrap();
        let store_pool = eventmall_store::connect_pool(&url).await.unwrap();
        let run = commands_over_http(store.clone(), store_pool, clients, products, seconds).await;
        let rows = run.commands as usize;
        let single = raw_insert(&url, clients, rows, 1).await;
        let batched = raw_insert(&url, clients.min(4), rows, 512).await;
        let per_second = run.commands as f64 / run.seconds;
        let ms = |q: f64| run.latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {backend} | {clients} | {per_second:.0} | {:.2} | {:.2} | {:.2} | {} | {single:.0} | {:.2} | {batched:.0} | {:.2} |",
            ms(0.5),
            ms(0.99),
            ms(0.999),
            run.conflicts,
            per_second / single,
            per_second / batched,
        );
    }
}

/// Sets up the telemetry `mode` asks for, before anything records.
async fn telemetry(mode: &str) -> Option<eventmall::telemetry::Telemetry> {
    match mode {
        "metrics" => None,
        "off" => {
            // Taken first, the no-op recorder keeps the Prometheus one out of this process.
            metrics::set_global_recorder(metrics::NoopRecorder).unwrap();
            None
        }
        "full" | "sampled" => {
            let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let endpoint = format!("http://{}", sink.local_addr().unwrap());
            let accept = axum::routing::post(|_: axum::body::Bytes| async { "" });
            let app = axum::Router::new().route("/v1/traces", accept);
            tokio::spawn(async move { axum::serve(sink, app).await });
            let log = eventmall::config::LogSettings {
                format: eventmall::config::LogFormat::Json,
                filter: "warn".into(),
            };
            let settings = eventmall::config::TelemetrySettings {
                otlp_endpoint: endpoint,
                // `sampled` records one new trace in ten.
                sample_ratio: if mode == "sampled" { 0.1 } else { 1.0 },
                ..Default::default()
            };
            Some(eventmall::telemetry::init(&log, &settings, "bench"))
        }
        other => panic!("BENCH_TELEMETRY is off, metrics, full or sampled, not {other}"),
    }
}

/// A fresh database: a SQLite file in a temp dir, or a new PostgreSQL database.
async fn database(backend: &str) -> (String, Option<tempfile::TempDir>) {
    match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (url, Some(dir))
        }
        "postgres" => {
            let admin = std::env::var("EVENTMALL_TEST_POSTGRES_URL").unwrap_or_else(|_| {
                "postgres://eventmall:eventmall@127.0.0.1:5432/postgres".into()
            });
            let mut connection = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
            let name = format!("eventmall_bench_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            (format!("{base}/{name}"), None)
        }
        other => panic!("unknown backend {other}: use sqlite or postgres"),
    }
}

/// Each client owns its own products and changes their stock, one command after another.
async fn commands_over_http(
    backend: Arc<dyn EventBackend>,
    store_pool: sqlx::AnyPool,
    clients: usize,
    products: usize,
    seconds: u64,
) -> Run {
    let mut settings = Settings::default();
    settings.http.addr = "127.0.0.1:0".into();
    // Each request is authenticated by partner bench's key; no rate limit caps the load.
    // BENCH_AUTH=open measures the same requests without keys, for the cost of checking them.
    settings.auth.rate_per_second = 0.0;
    if std::env::var("BENCH_AUTH").as_deref() == Ok("open") {
        settings.auth.mode = eventmall_http::auth::AuthMode::Open;
    }
    let gateway = commands_over(backend, &settings);
    let keys = ApiKeys::new(store_pool.clone());
    let grant = Grant::new(Role::Partner, Some("bench"), "bench").unwrap();
    let key = keys.create(&grant).await.unwrap().secret;
    let ids = register(&gateway, products).await;
    let app = Application::with_gateway(&settings, gateway, store_pool)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));

    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {key}").parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let ids = Arc::new(ids);
    let conflicts = Arc::new(AtomicU64::new(0));
    let warmup = Duration::from_secs(2);
    let started = Instant::now();
    let measured_from = started + warmup;
    let deadline = measured_from + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (http, base, ids, conflicts) =
                (http.clone(), base.clone(), ids.clone(), conflicts.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new(3).unwrap();
                let mut done = 0u64;
                let mine: Vec<&ProductId> = ids.iter().skip(client).step_by(clients).collect();
                let mut i = 0usize;
                loop {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    let id = mine[i % mine.len()];
                    i += 1;
                    let body = json!({"partner_id": "bench", "stock": i % 1000 + 1});
                    let sent = Instant::now();
                    let response = http
                        .post(format!("{base}/v1/products/{id}/stock"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let _ = response.bytes().await;
                    if sent < measured_from {
                        continue;
                    }
                    match status {
                        200 => {
                            done += 1;
                            latency.record(sent.elapsed().as_micros() as u64).unwrap();
                        }
                        409 => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected status {other}"),
                    }
                }
                (done, latency)
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut commands = 0;
    for task in tasks {
        let (done, histogram) = task.await.unwrap();
        commands += done;
        latency.add(histogram).unwrap();
    }
    Run {
        commands,
        conflicts: conflicts.load(Ordering::Relaxed),
        seconds: seconds as f64,
        latency,
    }
}

async fn register(gateway: &CommandGateway, products: usize) -> Vec<ProductId> {
    let partner = PartnerId::from("bench");
    let mut ids = Vec::with_capacity(products);
    for chunk in (0..products).collect::<Vec<_>>().chunks(256) {
        let requests = chunk.iter().map(|n| {
            let sku = format!("SKU-{n}");
            let id = ProductId::for_partner_sku(&partner, &sku);
            ids.push(id);
            let command = ProductCommand::Register {
                product_id: id,
                partner_id: partner.clone(),
                sku,
                details: ProductDetails {
                    title: format!("삼성 비스포크 제트 무선청소기 VS20A{n:05}"),
                    brand: Some("삼성".into()),
                    category: vec!["가전".into(), "청소기".into()],
                    model_number: Some(format!("VS20A{n:05}")),
                },
                price: Money::krw(990_000),
                stock: 0,
            };
            gateway.dispatch(CommandRequest::new(
                id,
                command,
                CommandMetadata::new_root(None),
            ))
        });
        for result in futures::future::join_all(requests).await {
            result.unwrap();
        }
    }
    ids
}

/// Inserts `rows` event rows like the ones the commands wrote, `per_tx` rows a transaction,
/// from `writers` concurrent connections. Returns rows/s.
async fn raw_insert(url: &str, writers: usize, rows: usize, per_tx: usize) -> f64 {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(writers as u32)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if sqlite {
                    // Same durability as the store (WAL, synchronous FULL); wait for the lock.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA busy_timeout = 60000",
                    ] {
                        sqlx::query(pragma).execute(&mut *connection).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .unwrap();
    let position = if sqlite {
        "NULL"
    } else {
        "pg_current_xact_id()::text::bigint * 65536 + $13"
    };
    let recorded_at = if sqlite { "$12" } else { "$12::timestamptz" };
    let payload = if sqlite { "$6" } else { "$6::jsonb" };
    let event_id = if sqlite { "$7" } else { "$7::uuid" };
    let insert = Arc::new(format!(
        "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, event_id, correlation_id, causation_id, traceparent, actor, \
         recorded_at) VALUES ({position}, $1, $2, $3, $4, $5, {payload}, {event_id}, $8, $9, $10, $11, {recorded_at})"
    ));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (pool, insert, next) = (pool.clone(), insert.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let first = next.fetch_add(per_tx as u64, Ordering::Relaxed) as usize;
                    if first >= rows {
                        break;
                    }
                    let mut tx = pool.begin().await.unwrap();
                    for n in first..(first + per_tx).min(rows) {
                        let mut query = sqlx::query(&insert)
                            .bind("product")
                            .bind(format!("raw-{per_tx}-{n}"))
                            .bind(1i64)
                            .bind("ProductStockChanged")
                            .bind("1")
                            .bind(r#"{"stock":42}"#)
                            .bind(uuid::Uuid::now_v7().to_string())
                            .bind("01900000-0000-7000-8000-000000000000")
                            .bind("01900000-0000-7000-8000-000000000000")
                            .bind("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                            .bind("partner:bench")
                            .bind(chrono::Utc::now().to_rfc3339());
                        if !sqlite {
                            query = query.bind((n - first) as i64);
                        }
                        query.execute(&mut *tx).await.unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    rows as f64 / started.elapsed().as_secs_f64()
}
