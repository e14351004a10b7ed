//! The writers of a PostgreSQL event store (group commit). Appends queued by every request are
//! taken in groups; a group's plain appends (events only) go in as one multi-row INSERT, and
//! the whole group commits in one transaction with one WAL flush. An append that loses a race
//! fails alone: when the group's INSERT meets a unique violation it is undone to a savepoint
//! and the appends are written one by one, each in a savepoint of its own, which tells winners
//! from losers. Appends with an idempotency key or a snapshot are written that way too.
//!
//! A group stays under 64 savepoints: past that PostgreSQL's snapshots of the transaction
//! overflow their subtransaction cache, which slows every reader of the cluster.

use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::{Mutex, mpsc};
use tracing::{instrument, warn};

use crate::backend::record_group;
use crate::backend::{Append, Appended, Reply, TimerWrite, now};
use crate::error::{StoreError, StoreResult};
use crate::rows::{event_types, is_unique_violation, lost_race};

use super::find_idempotency;

/// Appends committed in one transaction, at most.
pub(super) const MAX_GROUP: usize = 48;

/// Writers taking groups from the queue: while one waits for its commit's flush, another
/// writes the next group.
pub(super) const WRITERS: usize = 2;

/// Positions a transaction can take: `txid * 65536 + ordinal`.
pub(super) const POSITIONS_PER_TRANSACTION: usize = 65_536;

/// The queue the writers share.
pub(super) type Queue = Arc<Mutex<mpsc::Receiver<(Append, Reply)>>>;

pub(super) async fn write_loop(pool: PgPool, queue: Queue) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        let received = queue.lock().await.recv_many(&mut group, MAX_GROUP).await;
        if received == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let results = write_group(&pool, &group).await;
        record_group("postgres", group.len(), started.elapsed());
        for ((_, reply), result) in group.drain(..).zip(results) {
            // The caller may have gone away (request cancelled); its events are committed anyway.
            let _ = reply.send(result);
        }
    }
}

/// Writes a group: one append as it always was, more in one transaction.
#[instrument(level = "debug", skip_all, fields(appends = group.len()))]
async fn write_group(pool: &PgPool, group: &[(Append, Reply)]) -> Vec<StoreResult<Appended>> {
    let appends: Vec<&Append> = group.iter().map(|(append, _)| append).collect();
    if let [append] = appends.as_slice() {
        return vec![write_one(pool, append).await];
    }
    let mut results = Vec::with_capacity(appends.len());
    for part in within_positions(&appends) {
        match write_together(pool, part).await {
            Ok(written) => results.extend(written),
            Err(error) => {
                warn!(%error, "group commit failed");
                let message = error.to_string();
                results
                    .extend(part.iter().map(|_| {
                        Err(StoreError::Database(sqlx::Error::Protocol(message.clone())))
                    }));
            }
        }
    }
    results
}

/// The group in parts whose events fit one transaction's positions.
fn within_positions<'a>(appends: &'a [&'a Append]) -> Vec<&'a [&'a Append]> {
    let mut parts = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (i, append) in appends.iter().enumerate() {
        if rows + append.events.len() > POSITIONS_PER_TRANSACTION && i > start {
            parts.push(&appends[start..i]);
            (start, rows) = (i, 0);
        }
        rows += append.events.len();
    }
    parts.push(&appends[start..]);
    parts
}

/// One append on its own: events alone are one statement, atomic by itself (one round trip, no
/// BEGIN/COMMIT); anything more, a transaction.
async fn write_one(pool: &PgPool, append: &Append) -> StoreResult<Appended> {
    if append.is_plain() {
        let mut connection = pool.acquire().await?;
        let positions = insert_events(&mut connection, &[append], 0)
            .await
            .map_err(|error| lost_race(append, error))?;
        return Ok(Appended {
            positions: positions.into_iter().next().unwrap_or_default(),
        });
    }
    let mut tx = pool.begin().await?;
    if let Some(appended) = append_in(&mut tx, append, 0).await? {
        tx.commit().await?;
        return Ok(appended);
    }
    tx.rollback().await?;
    Err(key_used(pool, append).await)
}

/// A group of appends in one transaction; each append's own outcome.
async fn write_together(
    pool: &PgPool,
    appends: &[&Append],
) -> StoreResult<Vec<StoreResult<Appended>>> {
    let mut tx = pool.begin().await?;
    let mut results: Vec<Option<StoreResult<Appended>>> = appends.iter().map(|_| None).collect();
    let mut written = 0;
    let plain: Vec<usize> = (0..appends.len())
        .filter(|&i| appends[i].is_plain())
        .collect();
    if !plain.is_empty() {
        let together: Vec<&Append> = plain.iter().map(|&i| appends[i]).collect();
        sqlx::query("SAVEPOINT together").execute(&mut *tx).await?;
        match insert_events(&mut tx, &together, 0).await {
            Ok(positions) => {
                sqlx::query("RELEASE together").execute(&mut *tx).await?;
                for (&i, positions) in plain.iter().zip(positions) {
                    written += positions.len();
                    results[i] = Some(Ok(Appended { positions }));
                }
            }
            // Some append lost a race: decided one by one below.
            Err(error) if is_unique_violation(&error) => {
                sqlx::query("ROLLBACK TO together")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("RELEASE together").execute(&mut *tx).await?;
            }
            Err(error) => return Err(error.into()),
        }
    }
    let mut taken = Vec::new();
    for (i, append) in appends.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        if append.events.is_empty()
            && append.idempotency.is_none()
            && append.snapshot.is_none()
            && append.timers.is_empty()
        {
            results[i] = Some(Ok(Appended {
                positions: Vec::new(),
            }));
            continue;
        }
        sqlx::query("SAVEPOINT one").execute(&mut *tx).await?;
        let outcome = append_in(&mut tx, append, written).await;
        if !matches!(outcome, Ok(Some(_))) {
            sqlx::query("ROLLBACK TO one").execute(&mut *tx).await?;
        }
        sqlx::query("RELEASE one").execute(&mut *tx).await?;
        results[i] = match outcome {
            Ok(Some(appended)) => {
                written += appended.positions.len();
                Some(Ok(appended))
            }
            Ok(None) => {
                taken.push(i);
                None
            }
            Err(error) => Some(Err(error)),
        };
    }
    tx.commit().await?;
    for i in taken {
        results[i] = Some(Err(key_used(pool, appends[i]).await));
    }
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or(Err(StoreError::WriterStopped)))
        .collect())
}

/// The append inside a transaction the caller owns (and commits), its events numbered after
/// the `written` ones the transaction holds already; `None` when the idempotency key is taken.
pub(super) async fn append_in(
    tx: &mut Transaction<'_, Postgres>,
    append: &Append,
    written: usize,
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
        positions = insert_events(tx, &[append], written)
            .await
            .map_err(|error| lost_race(append, error))?
            .into_iter()
            .next()
            .unwrap_or_default();
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
    for write in &append.timers {
        write_timer(tx, write).await?;
    }
    Ok(Some(Appended { positions }))
}

async fn write_timer(
    tx: &mut Transaction<'_, Postgres>,
    write: &TimerWrite,
) -> Result<(), sqlx::Error> {
    match write {
        TimerWrite::Set(timer) => sqlx::query(
            "INSERT INTO policy_timers (timer_id, kind, subject, due_at_ms, cause_event_id, \
             correlation_id, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (timer_id) DO NOTHING",
        )
        .bind(&timer.timer_id)
        .bind(&timer.kind)
        .bind(&timer.subject)
        .bind(timer.due_at.timestamp_millis())
        .bind(&timer.cause_event_id)
        .bind(&timer.correlation_id)
        .bind(&timer.traceparent),
        TimerWrite::Close { timer_id, outcome } => sqlx::query(
            "UPDATE policy_timers SET closed_at = $2, outcome = $3 \
             WHERE timer_id = $1 AND closed_at IS NULL",
        )
        .bind(timer_id)
        .bind(now())
        .bind(outcome),
    }
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts the events of `appends` in one statement, numbered after the `written` events the
/// transaction holds already; the positions of each append, in order.
async fn insert_events(
    connection: &mut PgConnection,
    appends: &[&Append],
    written: usize,
) -> sqlx::Result<Vec<Vec<i64>>> {
    let total: usize = appends.iter().map(|a| a.events.len()).sum();
    // The ordinal is the low 16 bits of a position.
    if written + total > POSITIONS_PER_TRANSACTION {
        return Err(sqlx::Error::Protocol(format!(
            "{} events in one transaction, at most {POSITIONS_PER_TRANSACTION}",
            written + total
        )));
    }
    let rows = || {
        appends.iter().flat_map(|append| {
            (1..)
                .zip(&append.events)
                .map(move |(n, event)| (*append, n, event))
        })
    };
    let mut positions: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, event_id, correlation_id, causation_id, \
         traceparent, actor, recorded_at) \
         SELECT pg_current_xact_id()::text::bigint * 65536 + $1 + e.ordinal - 1, \
                e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, \
                e.payload, e.event_id, e.correlation_id, e.causation_id, e.traceparent, \
                e.actor, e.recorded_at \
         FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
                     $7::jsonb[], $8::uuid[], $9::text[], $10::text[], $11::text[], \
                     $12::text[], $13::timestamptz[]) \
              WITH ORDINALITY AS e(aggregate_type, aggregate_id, sequence, event_type, \
              event_version, payload, event_id, correlation_id, causation_id, traceparent, \
              actor, recorded_at, ordinal) \
         ORDER BY e.ordinal \
         RETURNING global_position",
    )
    .bind(written as i64)
    .bind(
        rows()
            .map(|(a, _, _)| &a.aggregate_type)
            .collect::<Vec<_>>(),
    )
    .bind(rows().map(|(a, _, _)| &a.aggregate_id).collect::<Vec<_>>())
    .bind(
        rows()
            .map(|(a, n, _)| a.expected_version + n)
            .collect::<Vec<_>>(),
    )
    .bind(rows().map(|(_, _, e)| &e.event_type).collect::<Vec<_>>())
    .bind(rows().map(|(_, _, e)| &e.event_version).collect::<Vec<_>>())
    .bind(rows().map(|(_, _, e)| Json(&e.payload)).collect::<Vec<_>>())
    .bind(
        rows()
            .map(|(_, _, e)| e.metadata.event_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows()
            .map(|(_, _, e)| &e.metadata.correlation_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows()
            .map(|(_, _, e)| &e.metadata.causation_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows()
            .map(|(_, _, e)| e.metadata.traceparent.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows()
            .map(|(_, _, e)| e.metadata.actor.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows()
            .map(|(_, _, e)| e.metadata.recorded_at)
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *connection)
    .await?;
    // Positions follow the ordinals, and each append's rows are consecutive.
    positions.sort_unstable();
    let mut rest = positions.as_slice();
    Ok(appends
        .iter()
        .map(|append| {
            let (mine, after) = rest.split_at(append.events.len().min(rest.len()));
            rest = after;
            mine.to_vec()
        })
        .collect())
}

/// The refusal of an append whose idempotency key another took first, with that record.
async fn key_used(pool: &PgPool, append: &Append) -> StoreError {
    let key = append
        .idempotency
        .as_ref()
        .map(|claim| claim.key.as_str())
        .unwrap_or_default();
    match find_idempotency(pool, key).await {
        Ok(Some(record)) => StoreError::IdempotencyKeyUsed(Box::new(record)),
        Ok(None) => StoreError::Corrupt("idempotency key vanished".into()),
        Err(error) => error,
    }
}
