//! The SQL read models' database (SQLite by default, PostgreSQL at scale), through one
//! `sqlx::Any` implementation: opening it, write transactions, and multi-row upserts.

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::checkpoints;

/// Opens the read models' database, creating a SQLite file when missing, with the projector
/// bookkeeping tables.
pub async fn connect(url: &str) -> sqlx::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let url = match sqlite && !url.contains('?') && !url.contains(":memory:") {
        true => format!("{url}?mode=rwc"),
        false => url.to_owned(),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite { 4 } else { 16 })
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if sqlite {
                    // Readers beside one writer; a waiting writer retries instead of failing.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 10000",
                    ] {
                        sqlx::query(pragma).execute(&mut *connection).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    checkpoints::ensure_tables(&pool).await?;
    Ok(pool)
}

/// Begins a read model's write transaction. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later could not wait for
/// another writer, it would fail with a busy snapshot.
pub(crate) async fn begin_write(
    pool: &AnyPool,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
    match pool.connect_options().database_url.scheme() {
        "sqlite" => pool.begin_with("BEGIN IMMEDIATE").await,
        _ => pool.begin().await,
    }
}

/// A value bound into a multi-row statement.
#[derive(Clone, Debug)]
pub(crate) enum SqlValue {
    Text(String),
    Int(i64),
    MaybeInt(Option<i64>),
    Real(f64),
}

/// Bound values per statement at most: under SQLite's and PostgreSQL's parameter limits, and
/// large enough that a batch takes few statements (each is a round trip to sqlx's SQLite
/// worker thread).
const VALUES_PER_STATEMENT: usize = 900;

/// `INSERT INTO table (columns) VALUES (…), (…) … ON CONFLICT (conflict) DO UPDATE SET update`
/// for all `rows`, in as few statements as the parameter limit allows. Keys must be distinct.
pub(crate) async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    conflict: &str,
    update: &str,
    rows: Vec<Vec<SqlValue>>,
) -> sqlx::Result<()> {
    let per_statement = (VALUES_PER_STATEMENT / columns.len()).max(1);
    for chunk in rows.chunks(per_statement) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut n = 0;
        for _ in chunk {
            let placeholders: Vec<String> = columns
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            values.push(format!("({})", placeholders.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {} ON CONFLICT ({conflict}) DO UPDATE SET {update}",
            columns.join(", "),
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for value in chunk.iter().flatten() {
            query = match value {
                SqlValue::Text(text) => query.bind(text.as_str()),
                SqlValue::Int(value) => query.bind(*value),
                SqlValue::MaybeInt(value) => query.bind(*value),
                SqlValue::Real(value) => query.bind(*value),
            };
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `$first, $first+1, …`, `count` of them.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
