//! Rows read back from a SQLite table and written again with multi-row upserts: the "written
//! once" references of the benchmarks.

use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AnyPool, Row};

/// A value of a row read back, whatever its column's type.
pub enum Cell {
    Int(i64),
    Real(f64),
    Text(Option<String>),
}

/// A table's rows, with its columns (name, part of the primary key).
pub struct Rows {
    pub columns: Vec<(String, bool)>,
    pub rows: Vec<Vec<Cell>>,
}

/// Every row of `table` that `filter` (an SQL condition) keeps.
pub async fn read(pool: &AnyPool, table: &str, filter: &str) -> Rows {
    let columns: Vec<(String, bool)> = sqlx::query(&format!(
        "SELECT name, pk > 0 FROM pragma_table_info('{table}') ORDER BY cid"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.get(0), row.get::<i64, _>(1) != 0))
    .collect();
    let rows = sqlx::query(&format!("SELECT * FROM {table} WHERE {filter}"))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..columns.len())
                .map(|i| {
                    row.try_get::<i64, _>(i)
                        .map(Cell::Int)
                        .or_else(|_| row.try_get::<f64, _>(i).map(Cell::Real))
                        .unwrap_or_else(|_| Cell::Text(row.get(i)))
                })
                .collect()
        })
        .collect();
    Rows { columns, rows }
}

/// Writes `rows` into `table` with multi-row upserts on its primary key (up to 900 values a
/// statement), on `connection` (in the caller's transaction).
pub async fn write(connection: &mut AnyConnection, table: &str, rows: &Rows) {
    let names: Vec<&str> = rows.columns.iter().map(|(name, _)| name.as_str()).collect();
    let keys: Vec<&str> = rows
        .columns
        .iter()
        .filter(|(_, key)| *key)
        .map(|(name, _)| name.as_str())
        .collect();
    let updates: Vec<String> = rows
        .columns
        .iter()
        .filter(|(_, key)| !*key)
        .map(|(name, _)| format!("{name} = excluded.{name}"))
        .collect();
    let conflict = match (keys.as_slice(), updates.as_slice()) {
        ([], _) => String::new(),
        (keys, []) => format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
        (keys, updates) => format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            updates.join(", ")
        ),
    };
    let row = format!("({})", vec!["?"; names.len()].join(", "));
    for chunk in rows.rows.chunks(900 / names.len()) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}{conflict}",
            names.join(", "),
            vec![row.as_str(); chunk.len()].join(", "),
        );
        let mut query = sqlx::query(&sql);
        for cell in chunk.iter().flatten() {
            query = match cell {
                Cell::Int(n) => query.bind(*n),
                Cell::Real(x) => query.bind(*x),
                Cell::Text(text) => query.bind(text.clone()),
            };
        }
        query.execute(&mut *connection).await.unwrap();
    }
}

/// Reference (e) of ingest and feeds: the event rows up to `last_position` and the
/// idempotency keys in the store at `from`, written into a new store at `to` (migrated, empty)
/// in one transaction with batched inserts; answers the time of the writes alone.
pub async fn store_written_once(from: &str, to: &str, last_position: i64) -> Duration {
    sqlx::any::install_default_drivers();
    eventmall_store::connect(to, 1).await.unwrap();
    let source = AnyPool::connect(from).await.unwrap();
    let target = AnyPool::connect(to).await.unwrap();
    let mut tables = Vec::new();
    let events = format!("global_position <= {last_position}");
    for (table, filter) in [("events", events.as_str()), ("idempotency_keys", "1 = 1")] {
        tables.push((table, read(&source, table, filter).await));
    }
    let started = Instant::now();
    let mut tx = target.begin().await.unwrap();
    for (table, rows) in &tables {
        write(&mut tx, table, rows).await;
    }
    tx.commit().await.unwrap();
    started.elapsed()
}

/// Measures reference (e) for a fresh phase that stored its events up to `fresh_last` at
/// `fresh_rate` `unit`s/s (`count` of them) in the store at `store`, into a new store in `dir`;
/// prints it beside the phase.
pub async fn report_written_once(
    store: &str,
    dir: &std::path::Path,
    fresh_last: i64,
    count: u64,
    (fresh_rate, unit): (f64, &str),
) {
    let once = store_written_once(
        store,
        &format!("sqlite://{}", dir.join("once.db").display()),
        fresh_last,
    )
    .await;
    let once_rate = count as f64 / once.as_secs_f64();
    println!(
        "(e) the fresh phase's event rows and idempotency keys written once into a new store, \
         one transaction: {once_rate:.0} {unit}/s; fresh ÷ (e) = {:.3}",
        fresh_rate / once_rate
    );
}
