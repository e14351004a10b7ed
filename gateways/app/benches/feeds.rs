//! `cargo bench -p eventmall --bench feeds`
//!
//! Feed rows per second from an EP TSV file to events stored (SQLite), for a fresh feed, for
//! the same feed again (every row unchanged) and for a feed with every price changed, against
//! the raw parse rate of the same file in the same run: the EP reader alone, every line decoded, split and checked, no store.
//! `BENCH_ROWS` sets the feed's size (default 100,000). Peak RSS is reported per phase.
//! Reference (e), after the phases: the event rows and idempotency keys the fresh phase
//! stored, written once into a new store with batched inserts in one transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use eventmall::config::Settings;
use eventmall::startup::commands_over;
use eventmall_events::PartnerId;
use eventmall_feeds::{EpRows, FeedEncoding, FeedRow};
use eventmall_feeds::{FeedFormat, FeedIngest};

use support::{env, peak_mib, reset_peak};

const HEADER: &str = "id\ttitle\tprice_pc\tnormal_price\tlink\timage_link\tcategory_name1\tcategory_name2\tcategory_name3\tcategory_name4\tbrand\tmaker\tmodel_number\tcondition\tshipping\tsearch_tag\toption_detail";

const BRANDS: [&str; 6] = ["삼성", "LG", "다이슨", "나이키", "아디다스", "쿠쿠"];
const CATEGORIES: [[&str; 3]; 4] = [
    ["가전", "청소기", "무선청소기"],
    ["가전", "주방가전", "전기밥솥"],
    ["스포츠", "신발", "러닝화"],
    ["디지털", "노트북", "게이밍노트북"],
];

/// Writes an EP feed of `rows` products, their prices raised by `raise`; returns its size in
/// bytes.
fn write_feed(path: &std::path::Path, rows: u64, raise: u64) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "{HEADER}").unwrap();
    for i in 0..rows {
        let brand = BRANDS[(i % 6) as usize];
        let [c1, c2, c3] = CATEGORIES[(i % 4) as usize];
        writeln!(
            out,
            "P-{i}\t{brand} 남성 {c3} 모델{i:06} 블랙\t{price}\t{normal}\thttps://shop.example/p/{i}\thttps://img.example/{i}.jpg\t{c1}\t{c2}\t{c3}\t\t{brand}\t{brand}전자\tMD-{i:06}\t신상품\t{ship}\t{c3}|{brand}\t색상^블랙|화이트;사이즈^S|M|L",
            price = 10_000 + (i % 500) * 100 + raise,
            normal = 20_000 + (i % 500) * 100,
            ship = if i % 3 == 0 { 0 } else { 3000 },
        )
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn open(path: &std::path::Path) -> BufReader<std::fs::File> {
    BufReader::with_capacity(256 * 1024, std::fs::File::open(path).unwrap())
}

#[tokio::main]
async fn main() {
    let rows = env("BENCH_ROWS", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.tsv");
    let bytes = write_feed(&feed, rows, 0);
    let repriced = dir.path().join("repriced.tsv");
    write_feed(&repriced, rows, 100);
    println!("feed: {rows} rows, {:.1} MiB", bytes as f64 / 1048576.0);

    reset_peak();
    let started = Instant::now();
    let mut parsed = EpRows::new(open(&feed), FeedEncoding::Utf8).unwrap();
    let mut valid = 0u64;
    while let Some(row) = parsed.next_row().unwrap() {
        valid += u64::from(matches!(row, FeedRow::Valid { .. }));
    }
    assert_eq!(valid, rows);
    let parse_rate = rows as f64 / started.elapsed().as_secs_f64();
    println!(
        "raw parse:   {parse_rate:>10.0} rows/s   peak RSS {:.0} MiB",
        peak_mib()
    );

    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let backend = eventmall_store::connect(&url, 16).await.unwrap();
    let store_pool = eventmall_store::connect_pool(&url).await.unwrap();
    let ingest = FeedIngest::new(
        commands_over(backend.clone(), &Settings::default()),
        store_pool,
    );
    let mut fresh = (0.0, 0);
    for (phase, file) in [
        ("fresh", &feed),
        ("unchanged", &feed),
        ("repriced", &repriced),
    ] {
        reset_peak();
        let before = backend.count_after(0).await.unwrap();
        let started = Instant::now();
        let run = ingest
            .run(
                PartnerId::from("bench"),
                FeedFormat::EpTsv,
                FeedEncoding::Utf8,
                open(file),
            )
            .await
            .unwrap();
        let rate = rows as f64 / started.elapsed().as_secs_f64();
        let events = backend.count_after(0).await.unwrap() - before;
        assert_eq!(run.summary.counts.rows_read, rows as i64);
        assert_eq!(run.summary.counts.rejected, 0);
        println!(
            "{phase:<9}:   {rate:>10.0} rows/s   ÷ parse {:.3}   events {events}   registered {} updated {} unchanged {}   peak RSS {:.0} MiB",
            rate / parse_rate,
            run.summary.counts.registered,
            run.summary.counts.updated,
            run.summary.counts.unchanged,
            peak_mib()
        );
        if phase == "fresh" {
            fresh = (rate, before + events);
        }
    }
    // Reference (e), last so that its rows in memory count in no phase's peak.
    let (fresh_rate, fresh_last) = fresh;
    support::rows::report_written_once(&url, dir.path(), fresh_last, rows, (fresh_rate, "rows"))
        .await;
}
