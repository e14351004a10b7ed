//! PostgreSQL backend.
//!
//! Gap safety: with a sequence, transaction A can take position 5, transaction B position 6,
//! and B commit first; a reader that saw 6 and moved on would never read 5. Here a position is
//! `txid * 65536 + ordinal`, and readers only return positions of transactions older than the
//! oldest transaction still running (`pg_snapshot_xmin`). Every transaction below that bound has
//! ended, so nothing can appear behind a position once it was read. The price: positions are
//! sparse, and a long-running writing transaction anywhere in the cluster holds readers back
//! until it ends.
//!
//! Appends are queued to two writers that commit them in groups (`writer.rs`).

mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventmall_events::StoredEvent;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{Mutex, mpsc};

use crate::backend::{
    Append, Appended, EventBackend, IdempotencyRecord, LoadedRows, Reply, Timer, through_writer,
};
use crate::error::{StoreError, StoreResult};
use crate::rows::{
    EventRow, IdempotencyRow, SnapshotRow, TIMER_COLUMNS, TimerRow, into_events, into_timers,
};
use writer::{MAX_GROUP, POSITIONS_PER_TRANSACTION, WRITERS, write_loop};

const EVENT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, event_id::text AS event_id, correlation_id, causation_id, \
     traceparent, actor, recorded_at";

const IDEMPOTENCY_COLUMNS: &str = "key, fingerprint, aggregate_type, aggregate_id, version, global_position, event_types, \
     refusal, created_at";

/// How long a command waits for a connection: a database that is down (restarting, failing
/// over) is answered 503 after this, not after the client gave up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct PostgresBackend {
    pool: PgPool,
    writer: mpsc::Sender<(Append, Reply)>,
}

impl PostgresBackend {
    /// Connects to `url`, migrates the database and starts the writers.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let (writer, queue) = mpsc::channel(MAX_GROUP * 4);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(write_loop(pool.clone(), queue.clone()));
        }
        Ok(Self { pool, writer })
    }

    /// The pool, for tests that need to hold a transaction open.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The append inside a transaction the caller owns (and commits); `None` when the
    /// idempotency key is taken. Tests use it to hold a transaction open while others commit.
    pub async fn append_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        append: &Append,
    ) -> StoreResult<Option<Appended>> {
        writer::append_in(tx, append, 0).await
    }
}

#[async_trait]
impl EventBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn load(&self, aggregate_type: &str, aggregate_id: &str) -> StoreResult<LoadedRows> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let snapshot: Option<SnapshotRow> = sqlx::query_as(
            "SELECT version, payload FROM snapshots \
             WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(&mut *tx)
        .await?;
        let after = snapshot.as_ref().map_or(0, |s| s.version);
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(LoadedRows {
            snapshot: snapshot.map(|s| (s.version, s.payload.0)),
            events: into_events(rows)?,
        })
    }

    async fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND sequence > $3 ORDER BY sequence LIMIT $4"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after_sequence)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        into_events(rows)
    }

    async fn append(&self, append: Append) -> StoreResult<Appended> {
        if append.events.len() > POSITIONS_PER_TRANSACTION {
            return Err(StoreError::AppendTooLarge {
                count: append.events.len(),
                max: POSITIONS_PER_TRANSACTION,
            });
        }
        through_writer(&self.writer, append).await
    }

    async fn read_after(&self, position: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE global_position > $1 \
               AND global_position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536 \
             ORDER BY global_position LIMIT $2"
        ))
        .bind(position)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        into_events(rows)
    }

    async fn count_after(&self, position: i64) -> StoreResult<i64> {
        let count = sqlx::query_scalar("SELECT count(*) FROM events WHERE global_position > $1")
            .bind(position)
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        find_idempotency(&self.pool, key).await
    }

    async fn forget_idempotency(
        &self,
        key: &str,
        created_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND created_at < $2")
            .bind(key)
            .bind(created_before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sweep_idempotency(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64> {
        let swept = sqlx::query(&format!(
            "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys \
             WHERE created_at < $1 AND ({}) ORDER BY created_at LIMIT $2)",
            crate::idempotency::expiring_keys()
        ))
        .bind(created_before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(swept.rows_affected())
    }

    async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Timer>> {
        let rows: Vec<TimerRow> = sqlx::query_as(&format!(
            "SELECT {TIMER_COLUMNS} FROM policy_timers \
             WHERE closed_at IS NULL AND due_at_ms <= $1 ORDER BY due_at_ms LIMIT $2"
        ))
        .bind(now.timestamp_millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        into_timers(rows)
    }

    async fn open_timers(&self) -> StoreResult<i64> {
        let (open,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM policy_timers WHERE closed_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(open)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The record of an idempotency key, if it was used.
async fn find_idempotency(
    executor: impl sqlx::PgExecutor<'_>,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row: Option<IdempotencyRow> = sqlx::query_as(&format!(
        "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE key = $1"
    ))
    .bind(key)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(IdempotencyRecord::from))
}
