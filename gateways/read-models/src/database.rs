//! The SQL read models' database (SQLite by default, PostgreSQL at scale), through one
//! `sqlx::Any` implementation: opening it, write transactions, and multi-row upserts.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, LazyLock};

use eventmall_projections::ProjectionError;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::{checkpoints, generations, replays};

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
                    // A batch reads back the rows it updates: 32 MiB of page cache per
                    // connection (SQLite's default is 2 MiB) and the file mapped, so the read
                    // models' working set stays in memory as the tables grow.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 10000",
                        "PRAGMA cache_size = -32768",
                        "PRAGMA mmap_size = 268435456",
                    ] {
                        sqlx::query(pragma).execute(&mut *connection).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    let bookkeeping = [checkpoints::SCHEMA, generations::SCHEMA]
        .into_iter()
        .chain(replays::SCHEMA)
        .map(str::to_owned)
        .collect::<Vec<_>>();
    create_schema(&pool, &bookkeeping).await?;
    Ok(pool)
}

/// Key of the PostgreSQL advisory lock that makes schema changes one at a time.
const SCHEMA_LOCK: i64 = 0x6576_656e_746d_616c; // "eventmal"

/// Runs `statements` (`CREATE … IF NOT EXISTS`) in one transaction. On PostgreSQL it first
/// takes an advisory lock, so replicas starting together do not race on the catalog (two
/// `CREATE TABLE IF NOT EXISTS` of one table at once fail with a unique violation); the lock
/// goes with the transaction. SQLite's writer lock already makes them one at a time.
pub(crate) async fn create_schema(pool: &AnyPool, statements: &[String]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    if pool.connect_options().database_url.scheme() != "sqlite" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    for statement in statements {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// A read model's write transaction. On SQLite it holds this process's turn to write the file:
/// the projectors of one process queue for it in order and start the moment the one before them
/// commits, where SQLite's busy handler would have them sleep and poll (1, 2, 5, … 100 ms) for
/// the file's lock.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

impl Deref for WriteTx {
    type Target = sqlx::Transaction<'static, sqlx::Any>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Each SQLite read-model file's turn to write, in this process.
static TURNS: LazyLock<std::sync::Mutex<HashMap<String, Arc<AsyncMutex<()>>>>> =
    LazyLock::new(Default::default);

/// Begins a read model's write transaction. On SQLite it waits for this process's turn to write
/// the file, then takes the write lock at once (`BEGIN IMMEDIATE`): a transaction that reads
/// first and writes later could not wait for another writer, it would fail with a busy
/// snapshot. Another process's writer is still waited for by SQLite's busy handler.
pub(crate) async fn begin_write(pool: &AnyPool) -> sqlx::Result<WriteTx> {
    let url = &pool.connect_options().database_url;
    if url.scheme() != "sqlite" {
        return Ok(WriteTx {
            tx: pool.begin().await?,
            _turn: None,
        });
    }
    let turn = TURNS
        .lock()
        .map_err(|_| sqlx::Error::Protocol("the read models' writer turns are poisoned".into()))?
        .entry(url.to_string())
        .or_default()
        .clone();
    let turn = turn.lock_owned().await;
    Ok(WriteTx {
        tx: pool.begin_with("BEGIN IMMEDIATE").await?,
        _turn: Some(turn),
    })
}

/// What ends the `CREATE TABLE` of a table of small rows under a primary key: on SQLite,
/// `WITHOUT ROWID`, so that the rows live in the key's own B-tree and an upsert writes one
/// tree instead of a table and its key's index.
pub(crate) fn keyed_rows(pool: &AnyPool) -> &'static str {
    match pool.connect_options().database_url.scheme() {
        "sqlite" => " WITHOUT ROWID",
        _ => "",
    }
}

/// Begins a read-only transaction that sees one snapshot of the database throughout: SQLite's
/// deferred transaction in WAL mode, PostgreSQL's repeatable read.
pub(crate) async fn begin_snapshot(
    pool: &AnyPool,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
    let mut tx = pool.begin().await?;
    if pool.connect_options().database_url.scheme() != "sqlite" {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Drops `tables` (and so their indexes) in one transaction.
pub(crate) async fn drop_tables(pool: &AnyPool, tables: &[String]) -> crate::Result<()> {
    let mut tx = begin_write(pool).await?;
    for table in tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(&mut **tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
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
    for (sql, chunk) in upserts(tx, table, columns, conflict, update, &rows, &[]) {
        bind(sqlx::query(&sql), chunk).execute(&mut **tx).await?;
    }
    Ok(())
}

/// [`upsert`] whose `update` adds to the integer columns `sums`, failing with
/// [`ProjectionError::Overflow`] when a sum leaves an i64. PostgreSQL refuses such a sum
/// itself; SQLite would turn it into a float silently, so the sums are read back and checked.
pub(crate) async fn add_up(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    conflict: &str,
    update: &str,
    sums: &[&str],
    rows: Vec<Vec<SqlValue>>,
) -> crate::Result<()> {
    for (sql, chunk) in upserts(tx, table, columns, conflict, update, &rows, sums) {
        for row in bind(sqlx::query(&sql), chunk).fetch_all(&mut **tx).await? {
            for (index, column) in sums.iter().enumerate() {
                if row.try_get::<i64, _>(index).is_err() {
                    let what = format!("{table}.{column}");
                    return Err(ProjectionError::Overflow(what).into());
                }
            }
        }
    }
    Ok(())
}

/// The statements of an upsert of `rows`, each with its rows.
fn upserts<'r>(
    tx: &sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    conflict: &str,
    update: &str,
    rows: &'r [Vec<SqlValue>],
    returning: &[&str],
) -> Vec<(String, &'r [Vec<SqlValue>])> {
    let per_statement = (VALUES_PER_STATEMENT / columns.len()).max(1);
    let returning = match returning {
        [] => String::new(),
        columns => format!(" RETURNING {}", columns.join(", ")),
    };
    let head = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let tail = format!(" ON CONFLICT ({conflict}) DO UPDATE SET {update}{returning}");
    rows.chunks(per_statement)
        .map(|chunk| {
            let values: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let first = row * columns.len() + 1;
                    format!("({})", placeholders(tx, first, columns.len()))
                })
                .collect();
            (format!("{head}{}{tail}", values.join(", ")), chunk)
        })
        .collect()
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    rows: &'q [Vec<SqlValue>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in rows.iter().flatten() {
        query = match value {
            SqlValue::Text(text) => query.bind(text.as_str()),
            SqlValue::Int(value) => query.bind(*value),
            SqlValue::MaybeInt(value) => query.bind(*value),
            SqlValue::Real(value) => query.bind(*value),
        };
    }
    query
}

/// `$first, $first+1, …`, `count` of them.
/// `count` parameters in a row, the first being the statement's `first`: `$1, $2, …` on
/// PostgreSQL; plain `?` on SQLite, which looks a numbered parameter's name up by scanning its
/// list of names, a cost that grows with the square of a multi-row statement's parameters.
pub(crate) fn placeholders(connection: &sqlx::AnyConnection, first: usize, count: usize) -> String {
    match connection.backend_name() {
        "SQLite" => vec!["?"; count].join(", "),
        _ => (first..first + count)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
