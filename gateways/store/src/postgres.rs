//! PostgreSQL backend.
//!
//! Gap safety: with a sequence, transaction A can take position 5, transaction B position 6,
//! and B commit first; a reader that saw 6 and moved on would never read 5. Here a position is
//! `txid * 65536 + ordinal`, and readers only return positions of transactions older than the
//! oldest transaction still running (`pg_snapshot_xmin`). Every transaction below that bound has
//! ended, so nothing can appear behind a position once it was read. The price: positions are
//! sparse, and a long-running writing transaction anywhere in the cluster holds readers back
//! until it ends.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use eventmall_events::StoredEvent;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Json;

use crate::backend::{Append, Appended, EventBackend, IdempotencyRecord, LoadedRows, now};
use crate::error::{StoreError, StoreResult};
use crate::rows::{
    EventRow, IdempotencyRow, SnapshotRow, event_types, into_events, is_unique_violation,
};

const EVENT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, event_id::text AS event_id, correlation_id, causation_id, \
     traceparent, actor, recorded_at";

/// Positions a transaction can take: `txid * 65536 + ordinal`.
const POSITIONS_PER_TRANSACTION: usize = 65_536;

const IDEMPOTENCY_COLUMNS: &str = "key, fingerprint, aggregate_type, aggregate_id, version, global_position, event_types, \
     refusal";

pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
    /// Connects to `url` and migrates the database.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
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
        let count = append.events.len();
        if let Some(claim) = &append.idempotency {
            // Taking the key first makes a concurrent request with the same key wait here for
            // this transaction, then find the key taken.
            let taken = sqlx::query(
                "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
                 version, event_types, created_at, refusal) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&claim.key)
            .bind(&claim.fingerprint)
            .bind(&append.aggregate_type)
            .bind(&append.aggregate_id)
            .bind(append.expected_version + count as i64)
            .bind(event_types(&append.events))
            .bind(now())
            .bind(append.refusal.as_ref().map(Json))
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 0;
            if taken {
                return Ok(None);
            }
        }
        let mut positions = Vec::new();
        if count > 0 {
            positions = insert_events(&mut **tx, append).await?;
        }
        if let Some((version, state)) = &append.snapshot {
            sqlx::query(
                "INSERT INTO snapshots (aggregate_type, aggregate_id, version, payload, taken_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
                 version = excluded.version, payload = excluded.payload, \
                 taken_at = excluded.taken_at",
            )
            .bind(&append.aggregate_type)
            .bind(&append.aggregate_id)
            .bind(version)
            .bind(Json(state))
            .bind(now())
            .execute(&mut **tx)
            .await?;
        }
        if let Some(claim) = &append.idempotency {
            sqlx::query("UPDATE idempotency_keys SET global_position = $2 WHERE key = $1")
                .bind(&claim.key)
                .bind(positions.last())
                .execute(&mut **tx)
                .await?;
        }
        Ok(Some(Appended { positions }))
    }
}

/// Inserts an append's events in one statement; their positions, in order. A lost race on the
/// aggregate's sequence is a conflict.
async fn insert_events(
    executor: impl sqlx::PgExecutor<'_>,
    append: &Append,
) -> StoreResult<Vec<i64>> {
    let events = &append.events;
    // The ordinal is the low 16 bits of a position.
    if events.len() > POSITIONS_PER_TRANSACTION {
        return Err(StoreError::AppendTooLarge {
            count: events.len(),
            max: POSITIONS_PER_TRANSACTION,
        });
    }
    let metadata = || events.iter().map(|e| &e.metadata);
    let mut positions: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, event_id, correlation_id, causation_id, \
         traceparent, actor, recorded_at) \
         SELECT pg_current_xact_id()::text::bigint * 65536 + e.ordinal - 1, $1, $2, \
                $3 + e.ordinal, e.event_type, e.event_version, e.payload, e.event_id, \
                e.correlation_id, e.causation_id, e.traceparent, e.actor, e.recorded_at \
         FROM UNNEST($4::text[], $5::text[], $6::jsonb[], $7::uuid[], $8::text[], \
                     $9::text[], $10::text[], $11::text[], $12::timestamptz[]) \
              WITH ORDINALITY AS e(event_type, event_version, payload, event_id, \
              correlation_id, causation_id, traceparent, actor, recorded_at, ordinal) \
         ORDER BY e.ordinal \
         RETURNING global_position",
    )
    .bind(&append.aggregate_type)
    .bind(&append.aggregate_id)
    .bind(append.expected_version)
    .bind(events.iter().map(|e| &e.event_type).collect::<Vec<_>>())
    .bind(events.iter().map(|e| &e.event_version).collect::<Vec<_>>())
    .bind(events.iter().map(|e| Json(&e.payload)).collect::<Vec<_>>())
    .bind(metadata().map(|m| m.event_id).collect::<Vec<_>>())
    .bind(metadata().map(|m| &m.correlation_id).collect::<Vec<_>>())
    .bind(metadata().map(|m| &m.causation_id).collect::<Vec<_>>())
    .bind(
        metadata()
            .map(|m| m.traceparent.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(metadata().map(|m| m.actor.as_deref()).collect::<Vec<_>>())
    .bind(metadata().map(|m| m.recorded_at).collect::<Vec<_>>())
    .fetch_all(executor)
    .await
    .map_err(|error| {
        if is_unique_violation(&error) {
            StoreError::Conflict {
                aggregate_type: append.aggregate_type.clone(),
                aggregate_id: append.aggregate_id.clone(),
            }
        } else {
            error.into()
        }
    })?;
    positions.sort_unstable();
    Ok(positions)
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
        // Events alone are one statement, atomic by itself: one round trip, no BEGIN/COMMIT.
        if append.snapshot.is_none() && append.idempotency.is_none() && !append.events.is_empty() {
            let positions = insert_events(&self.pool, &append).await?;
            return Ok(Appended { positions });
        }
        let mut tx = self.pool.begin().await?;
        if let Some(appended) = self.append_in(&mut tx, &append).await? {
            tx.commit().await?;
            return Ok(appended);
        }
        tx.rollback().await?;
        let key = append.idempotency.as_ref().map(|c| c.key.as_str());
        let record = self
            .idempotency(key.unwrap_or_default())
            .await?
            .ok_or_else(|| StoreError::Corrupt("idempotency key vanished".into()))?;
        Err(StoreError::IdempotencyKeyUsed(Box::new(record)))
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
        let row: Option<IdempotencyRow> = sqlx::query_as(&format!(
            "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(IdempotencyRecord::from))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
