//! Search latency over generated Korean product titles, at 100k and 1M products, against
//! SQLite FTS5 (trigram tokenizer, so Hangul matches inside words) over the same titles, in the
//! same run, the two taking turns every 200 queries. Both answer the top 20; ours also counts
//! facets and highlights. Then completions (`suggest`) of typed prefixes, Hangul, half-typed,
//! 초성 and Latin, after a first call that builds them (timed apart).
//!
//! `cargo bench -p eventmall --bench search`
//! Environment: BENCH_SIZES (`100000,1000000`), BENCH_QUERIES (2000 per size), BENCH_REFERENCE
//! (`fts5`; `none` leaves FTS5 out, to profile ours alone), BENCH_INDEX_DIR (keep our indexes
//! there, one per size, and query one already built instead of building it again: for
//! profiling; its build time is then not measured).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use eventmall_events::product::{ProductDetails, ProductEvent, ProductRegistered};
use eventmall_events::{AnyEvent, Money, PartnerId, ProductId};
use eventmall_projections::search::{SearchChanges, SearchIndex, SearchRequest};
use eventmall_projections::{Checkpoint, Envelope};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use support::env;

const BRANDS: &[&str] = &[
    "삼성",
    "LG",
    "다이슨",
    "나이키",
    "아디다스",
    "뉴발란스",
    "애플",
    "샤오미",
    "쿠쿠",
    "필립스",
];
const GENDERS: &[&str] = &["남성", "여성", "공용", "키즈"];
const KINDS: &[(&str, &str)] = &[
    ("가전", "무선청소기"),
    ("가전", "로봇청소기"),
    ("가전", "공기청정기"),
    ("디지털", "노트북"),
    ("디지털", "블루투스이어폰"),
    ("패션", "운동화"),
    ("패션", "러닝화"),
    ("패션", "바람막이자켓"),
    ("주방", "전기밥솥"),
    ("주방", "에어프라이어"),
];
const COLOURS: &[&str] = &["블랙", "화이트", "그레이", "네이비", "레드", "베이지"];
const PREFIXES: &[&str] = &[
    "ㅁ",
    "ㅁㅅ",
    "무",
    "무선",
    "무선ㅊ",
    "삼",
    "삼서",
    "ㅅㅅ",
    "나이",
    "ㄴㅇㅋ",
    "다",
    "에어",
    "블루",
    "v",
    "lg",
];
const QUERIES: &[&str] = &[
    "무선청소기",
    "삼성 무선청소기",
    "나이키 운동화",
    "러닝화 블랙",
    "공기청정기",
    "에어프라이어",
    "블루투스이어폰 화이트",
    "다이슨",
    "바람막이자켓 네이비",
    "전기밥솥 쿠쿠",
    "VS20A1",
    "노트북 그레이",
];

fn title(rng: &mut ChaCha8Rng, i: usize) -> (String, String, Vec<String>, String) {
    let brand = BRANDS[rng.random_range(0..BRANDS.len())];
    let (top, kind) = KINDS[rng.random_range(0..KINDS.len())];
    let model = format!("VS{}A{}", rng.random_range(10..99), i % 1000);
    let title = format!(
        "{brand} {} {kind} {model} {}",
        GENDERS[rng.random_range(0..GENDERS.len())],
        COLOURS[rng.random_range(0..COLOURS.len())]
    );
    (
        title,
        brand.to_owned(),
        vec![top.to_owned(), kind.to_owned()],
        model,
    )
}

/// Queries each engine answers in a turn.
const BLOCK: usize = 200;

fn percentile(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds = env("BENCH_QUERIES", 2000) as usize;
    println!(
        "| products | index build s (ours / FTS5) | ours p50 ms | ours p99 ms | FTS5 p50 ms | FTS5 p99 ms | ours ÷ FTS5 p50 | ours ÷ FTS5 p99 | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut suggest_rows = Vec::new();
    let mut query_rows = Vec::new();
    for size in sizes {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let products: Vec<_> = (0..size).map(|i| title(&mut rng, i)).collect();

        // Ours: the search projector's own path, 10,000 events a commit.
        let kept = std::env::var_os("BENCH_INDEX_DIR").map(std::path::PathBuf::from);
        let path = kept.map_or_else(
            || dir.path().join("index"),
            |kept| kept.join(size.to_string()),
        );
        let index = SearchIndex::open(&path).unwrap();
        let built = index
            .checkpoints()
            .unwrap()
            .first()
            .map_or(0, |c| c.next_offset);
        let started = Instant::now();
        for (n, chunk) in products
            .chunks(10_000)
            .enumerate()
            .skip(built as usize / 10_000)
        {
            let mut changes = SearchChanges::default();
            for (i, (title, brand, category, model)) in chunk.iter().enumerate() {
                let partner = PartnerId(format!("partner-{:03}", i % 100));
                let sku = format!("{n}-{i}");
                let product_id = ProductId::for_partner_sku(&partner, &sku);
                let event = ProductEvent::ProductRegistered(ProductRegistered {
                    product_id,
                    partner_id: partner,
                    sku,
                    details: ProductDetails {
                        title: title.clone(),
                        brand: Some(brand.clone()),
                        category: category.clone(),
                        model_number: Some(model.clone()),
                    },
                    price: Money::krw(10_000 + (i as i64 % 300) * 1_000),
                    stock: (i % 7) as u32,
                });
                let envelope = Envelope {
                    event_id: uuid::Uuid::now_v7(),
                    aggregate_id: product_id.to_string(),
                    sequence: 1,
                    recorded_at: Utc::now(),
                    event: AnyEvent::Product(event),
                };
                index.apply(&mut changes, &envelope).unwrap().unwrap();
            }
            let position = Checkpoint {
                topic: "bench".into(),
                partition: 0,
                next_offset: ((n + 1) * 10_000) as i64,
                position: 0,
            };
            index.commit(changes, &[position]).unwrap();
        }
        let ours_build = started.elapsed().as_secs_f64();
        let built_segments = index.segment_count();
        // Queries run on the index at rest: merges still under way would take a core.
        index.wait_for_merges().unwrap();
        let settled_segments = index.segment_count();

        // The reference: FTS5 with the trigram tokenizer over the same titles.
        let reference = std::env::var("BENCH_REFERENCE").map_or(true, |r| r != "none");
        let mut db = SqliteConnectOptions::new()
            .filename(dir.path().join("fts.db"))
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE VIRTUAL TABLE titles USING fts5(title, tokenize = 'trigram')")
            .execute(&mut db)
            .await
            .unwrap();
        let started = Instant::now();
        for chunk in products.chunks(10_000).filter(|_| reference) {
            let mut tx = db.begin().await.unwrap();
            for (title, _, _, _) in chunk {
                sqlx::query("INSERT INTO titles (title) VALUES ($1)")
                    .bind(title)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }
        let fts_build = started.elapsed().as_secs_f64();

        let mut ours = Histogram::<u64>::new(3).unwrap();
        let mut fts = Histogram::<u64>::new(3).unwrap();
        let (mut ours_hits, mut fts_hits) = (0usize, 0usize);
        let mut by_query: BTreeMap<&str, (usize, Histogram<u64>)> = BTreeMap::new();
        // The two take turns a block of queries at a time: each serves a run of searches, as a
        // search server does, and both see the machine's drift over the run.
        for block in (0..rounds).collect::<Vec<_>>().chunks(BLOCK) {
            for &round in block {
                let q = QUERIES[round % QUERIES.len()];
                let started = Instant::now();
                let results = index
                    .search(&SearchRequest {
                        q: q.to_owned(),
                        limit: 20,
                        ..SearchRequest::default()
                    })
                    .unwrap();
                let took = started.elapsed().as_micros() as u64;
                ours.record(took).unwrap();
                ours_hits += results.hits.len();
                let (matched, times) = by_query
                    .entry(q)
                    .or_insert_with(|| (0, Histogram::new(3).unwrap()));
                *matched = results.total;
                times.record(took).unwrap();
            }
            for &round in block.iter().filter(|_| reference) {
                let q = QUERIES[round % QUERIES.len()];
                let phrase: Vec<String> =
                    q.split_whitespace().map(|w| format!("\"{w}\"")).collect();
                let started = Instant::now();
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT rowid, title FROM titles WHERE titles MATCH $1 ORDER BY rank LIMIT 20",
                )
                .bind(phrase.join(" "))
                .fetch_all(&mut db)
                .await
                .unwrap();
                fts.record(started.elapsed().as_micros() as u64).unwrap();
                fts_hits += rows.len();
            }
        }
        assert!(ours_hits > 0 && (fts_hits > 0 || !reference));
        println!(
            "{size} products: {built_segments} segments when built, {settled_segments} once \
             its merges ended"
        );
        for (q, (matched, times)) in &by_query {
            query_rows.push(format!(
                "| {size} | {q} | {matched} | {:.2} | {:.2} |",
                percentile(times, 0.5),
                percentile(times, 0.99)
            ));
        }
        let peak = support::peak_mib();
        let (o50, o99, f50, f99) = (
            percentile(&ours, 0.5),
            percentile(&ours, 0.99),
            percentile(&fts, 0.5),
            percentile(&fts, 0.99),
        );
        let started = Instant::now();
        assert!(!index.suggest("삼", 10).unwrap().is_empty());
        let suggest_build = started.elapsed().as_secs_f64() * 1000.0;
        let mut suggest = Histogram::<u64>::new(3).unwrap();
        for round in 0..rounds {
            let prefix = PREFIXES[round % PREFIXES.len()];
            let started = Instant::now();
            let found = index.suggest(prefix, 10).unwrap();
            suggest.record(started.elapsed().as_nanos() as u64).unwrap();
            assert!(!found.is_empty() || prefix == "v", "{prefix}");
        }
        suggest_rows.push(format!(
            "| {size} | {suggest_build:.0} | {:.3} | {:.3} |",
            suggest.value_at_quantile(0.5) as f64 / 1e6,
            suggest.value_at_quantile(0.99) as f64 / 1e6,
        ));
        println!(
            "| {size} | {ours_build:.1} / {fts_build:.1} | {o50:.2} | {o99:.2} | {f50:.2} | {f99:.2} | {:.2} | {:.2} | {peak:.0} |",
            o50 / f50,
            o99 / f99
        );
    }
    println!();
    println!("| products | query | matches | ours p50 ms | ours p99 ms |");
    println!("|---|---|---|---|---|");
    for row in query_rows {
        println!("{row}");
    }
    println!();
    println!("| products | completions built in ms | suggest p50 ms | suggest p99 ms |");
    println!("|---|---|---|---|");
    for row in suggest_rows {
        println!("{row}");
    }
}
