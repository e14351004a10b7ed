//! The writer of a SQLite event store: one task that takes every queued append and commits
//! them in one transaction (group commit), one fsync for the whole group; a lost race fails
//! only its own append.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::mpsc;
use tracing::{instrument, warn};

use super::Versions;
use crate::backend::{Append, Appended, IdempotencyRecord, Reply, TimerWrite, now, record_group};
use crate::error::{StoreError, StoreResult};
use crate::rows::{IdempotencyRow, event_types, is_unique_violation, lost_race};

/// Most appends committed in one transaction.
pub(super) const MAX_GROUP: usize = 512;

pub(super) async fn write_loop(
    mut connection: SqliteConnection,
    mut queue: mpsc::Receiver<(Append, Reply)>,
    versions: Option<Arc<Versions>>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        let started = std::time::Instant::now();
        let results = write_group(&mut connection, &group).await;
        record_group("sqlite", group.len(), started.elapsed());
        if let Some(Ok(mut versions)) = versions.as_ref().map(|v| v.lock()) {
            for ((append, _), result) in group.iter().zip(&results) {
                if result.is_ok() && !append.events.is_empty() {
                    let key = (append.aggregate_type.clone(), append.aggregate_id.clone());
                    let version = append.expected_version + append.events.len() as i64;
                    versions.put(key, version);
                }
            }
        }
        for ((_, reply), result) in group.drain(..).zip(results) {
            // The caller may have gone away (request cancelled); its events are committed anyway.
            let _ = reply.send(result);
        }
    }
}

/// Rows in one multi-row INSERT: 12 parameters a row stays under SQLite's 32766.
pub(super) const ROWS_PER_INSERT: usize = 2048;

/// Commits a group of appends in one transaction.
///
/// Plain appends (events only, or events under an idempotency key not used yet) go in as few
/// multi-row INSERTs as possible, their keys in one more; each such chunk in a savepoint. When
/// a chunk fails (an append lost a race) it is retried append by append, which tells winners
/// from losers. Appends that write a snapshot, or claim a used key, run alone in their own
/// savepoint.
#[instrument(level = "debug", skip_all, fields(appends = group.len()))]
async fn write_group(
    connection: &mut SqliteConnection,
    group: &[(Append, Reply)],
) -> Vec<StoreResult<Appended>> {
    if let Err(error) = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
    {
        return group.iter().map(|_| Err(copy_error(&error))).collect();
    }
    let mut results: Vec<Option<StoreResult<Appended>>> = group.iter().map(|_| None).collect();
    // A lookup that fails sends the keyed appends the slow way, which reports the error.
    let new_keys = new_keys(connection, group).await.unwrap_or_default();
    for chunk in plain_chunks(group, &new_keys) {
        let appends: Vec<&Append> = chunk.iter().map(|&i| &group[i].0).collect();
        match insert_chunk(connection, &appends).await {
            Ok(mut appended) => {
                for (&i, positions) in chunk.iter().zip(appended.drain(..)) {
                    results[i] = Some(Ok(positions));
                }
            }
            Err(error) if is_unique_violation(&error) => {} // decided one by one below
            Err(error) => {
                for &i in &chunk {
                    results[i] = Some(Err(copy_error(&error)));
                }
            }
        }
    }
    for ((append, _), result) in group.iter().zip(results.iter_mut()) {
        if result.is_none() {
            *result = Some(append_alone(connection, append).await);
        }
    }
    if let Err(error) = sqlx::query("COMMIT").execute(&mut *connection).await {
        warn!(%error, "group commit failed");
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
        return group.iter().map(|_| Err(copy_error(&error))).collect();
    }
    results
        .into_iter()
        .map(|result| result.unwrap_or(Err(StoreError::WriterStopped)))
        .collect()
}

/// The appends of a group whose idempotency key is not used yet and is claimed by no other
/// append of the group. The group's transaction holds the only write lock, so what this reads
/// stays true until it commits.
async fn new_keys(
    connection: &mut SqliteConnection,
    group: &[(Append, Reply)],
) -> Result<HashSet<usize>, sqlx::Error> {
    let mut claims: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (append, _)) in group.iter().enumerate() {
        if let Some(claim) = &append.idempotency
            && append.snapshot.is_none()
        {
            claims.entry(claim.key.as_str()).or_default().push(i);
        }
    }
    let keys: Vec<&str> = claims.keys().copied().collect();
    let mut used = HashSet::new();
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut select =
            QueryBuilder::<Sqlite>::new("SELECT key FROM idempotency_keys WHERE key IN (");
        let mut separated = select.separated(", ");
        for key in chunk {
            separated.push_bind(*key);
        }
        select.push(")");
        let found: Vec<(String,)> = select.build_query_as().fetch_all(&mut *connection).await?;
        used.extend(found.into_iter().map(|(key,)| key));
    }
    Ok(claims
        .into_iter()
        .filter(|(key, appends)| appends.len() == 1 && !used.contains(*key))
        .flat_map(|(_, appends)| appends)
        .collect())
}

/// Indices of the plain appends of a group (events only, or events under a new key), in
/// chunks of at most [`ROWS_PER_INSERT`] rows.
fn plain_chunks(group: &[(Append, Reply)], new_keys: &HashSet<usize>) -> Vec<Vec<usize>> {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut rows = 0;
    for (i, (append, _)) in group.iter().enumerate() {
        let plain = append.snapshot.is_none()
            && append.timers.is_empty()
            && (append.idempotency.is_none() || new_keys.contains(&i));
        if !plain || append.events.is_empty() {
            continue;
        }
        if chunks.is_empty() || rows + append.events.len() > ROWS_PER_INSERT {
            chunks.push(Vec::new());
            rows = 0;
        }
        rows += append.events.len();
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(i);
        }
    }
    chunks
}

/// One append, atomically: a lone INSERT is atomic by itself; more statements need a savepoint.
async fn append_alone(connection: &mut SqliteConnection, append: &Append) -> StoreResult<Appended> {
    if append.snapshot.is_none() && append.idempotency.is_none() && append.timers.is_empty() {
        return append_one(connection, append).await;
    }
    sqlx::query("SAVEPOINT append")
        .execute(&mut *connection)
        .await?;
    let result = append_one(connection, append).await;
    release(connection, "append", result.is_err()).await?;
    result
}

/// Ends the savepoint `name`, undoing what it holds when `failed`.
async fn release(
    connection: &mut SqliteConnection,
    name: &str,
    failed: bool,
) -> Result<(), sqlx::Error> {
    if failed {
        sqlx::query(&format!("ROLLBACK TO {name}"))
            .execute(&mut *connection)
            .await?;
    }
    sqlx::query(&format!("RELEASE {name}"))
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// sqlx errors cannot be cloned; every append of a failed group gets the same message.
fn copy_error(error: &sqlx::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(error.to_string()))
}

/// Inserts the events of `appends` in one statement and their idempotency keys in another, all
/// or nothing; the positions of each append, in order.
async fn insert_chunk(
    connection: &mut SqliteConnection,
    appends: &[&Append],
) -> Result<Vec<Appended>, sqlx::Error> {
    let keyed: Vec<usize> = (0..appends.len())
        .filter(|&i| appends[i].idempotency.is_some())
        .collect();
    if keyed.is_empty() {
        // A lone statement is atomic by itself.
        return insert_events(connection, appends).await;
    }
    sqlx::query("SAVEPOINT chunk")
        .execute(&mut *connection)
        .await?;
    let result = async {
        let appended = insert_events(connection, appends).await?;
        let keys: Vec<(&Append, &[i64])> = keyed
            .iter()
            .map(|&i| (appends[i], appended[i].positions.as_slice()))
            .collect();
        insert_keys(connection, &keys).await?;
        Ok(appended)
    }
    .await;
    release(connection, "chunk", result.is_err()).await?;
    result
}

/// Inserts the events of `appends` in one statement; the positions of each append, in order.
async fn insert_events(
    connection: &mut SqliteConnection,
    appends: &[&Append],
) -> Result<Vec<Appended>, sqlx::Error> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, event_id, correlation_id, causation_id, traceparent, actor, recorded_at) ",
    );
    let rows = appends.iter().flat_map(|append| {
        (append.expected_version + 1..)
            .zip(&append.events)
            .map(move |(sequence, event)| (*append, sequence, event))
    });
    insert.push_values(rows, |mut row, (append, sequence, event)| {
        let metadata = &event.metadata;
        row.push_bind(&append.aggregate_type)
            .push_bind(&append.aggregate_id)
            .push_bind(sequence)
            .push_bind(&event.event_type)
            .push_bind(&event.event_version)
            .push_bind(sqlx::types::Json(&event.payload))
            .push_bind(metadata.event_id.to_string())
            .push_bind(&metadata.correlation_id)
            .push_bind(&metadata.causation_id)
            .push_bind(&metadata.traceparent)
            .push_bind(&metadata.actor)
            .push_bind(metadata.recorded_at);
    });
    // RETURNING comes back in no promised order: match rows to appends by their key.
    insert.push(" RETURNING global_position, aggregate_type, aggregate_id, sequence");
    let returned: Vec<(i64, String, String, i64)> =
        insert.build_query_as().fetch_all(&mut *connection).await?;
    let positions: HashMap<(&str, &str, i64), i64> = returned
        .iter()
        .map(|(position, kind, id, sequence)| ((kind.as_str(), id.as_str(), *sequence), *position))
        .collect();
    appends
        .iter()
        .map(|append| {
            let sequences =
                append.expected_version + 1..=append.expected_version + append.events.len() as i64;
            sequences
                .map(|sequence| {
                    positions
                        .get(&(
                            append.aggregate_type.as_str(),
                            append.aggregate_id.as_str(),
                            sequence,
                        ))
                        .copied()
                        .ok_or_else(|| sqlx::Error::Protocol("insert returned no position".into()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|positions| Appended { positions })
        })
        .collect()
}

async fn append_one(connection: &mut SqliteConnection, append: &Append) -> StoreResult<Appended> {
    if let Some(claim) = &append.idempotency
        && let Some(record) = find_idempotency(&mut *connection, &claim.key).await?
    {
        return Err(StoreError::IdempotencyKeyUsed(Box::new(record)));
    }
    let mut positions = Vec::new();
    if !append.events.is_empty() {
        let mut appended = insert_events(connection, &[append])
            .await
            .map_err(|error| lost_race(append, error))?;
        positions = appended.pop().map(|a| a.positions).unwrap_or_default();
    }
    if let Some((version, state)) = &append.snapshot {
        sqlx::query(
            "INSERT INTO snapshots (aggregate_type, aggregate_id, version, payload, taken_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
             version = excluded.version, payload = excluded.payload, taken_at = excluded.taken_at",
        )
        .bind(&append.aggregate_type)
        .bind(&append.aggregate_id)
        .bind(version)
        .bind(sqlx::types::Json(state))
        .bind(now())
        .execute(&mut *connection)
        .await?;
    }
    if append.idempotency.is_some() {
        insert_keys(connection, &[(append, &positions)]).await?;
    }
    for write in &append.timers {
        write_timer(connection, write).await?;
    }
    Ok(Appended { positions })
}

async fn write_timer(
    connection: &mut SqliteConnection,
    write: &TimerWrite,
) -> Result<(), sqlx::Error> {
    match write {
        TimerWrite::Set(timer) => sqlx::query(
            "INSERT INTO policy_timers (timer_id, kind, subject, due_at_ms, cause_event_id, \
             correlation_id, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?) \
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
            "UPDATE policy_timers SET closed_at = ?, outcome = ? \
             WHERE timer_id = ? AND closed_at IS NULL",
        )
        .bind(now())
        .bind(outcome)
        .bind(timer_id),
    }
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// Records the idempotency key of each append (which has one) with the positions its events got.
async fn insert_keys(
    connection: &mut SqliteConnection,
    appends: &[(&Append, &[i64])],
) -> Result<(), sqlx::Error> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, version, \
         global_position, event_types, created_at, refusal) ",
    );
    let created_at = now();
    insert.push_values(appends, |mut row, (append, positions)| {
        let claim = append.idempotency.as_ref();
        row.push_bind(claim.map(|c| c.key.as_str()))
            .push_bind(claim.map(|c| c.fingerprint.as_str()))
            .push_bind(&append.aggregate_type)
            .push_bind(&append.aggregate_id)
            .push_bind(append.expected_version + positions.len() as i64)
            .push_bind(positions.last().copied())
            .push_bind(event_types(&append.events))
            .push_bind(created_at)
            .push_bind(append.refusal.as_ref().map(sqlx::types::Json));
    });
    insert.build().execute(&mut *connection).await?;
    Ok(())
}

pub(super) async fn find_idempotency(
    executor: impl sqlx::SqliteExecutor<'_>,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row: Option<IdempotencyRow> = sqlx::query_as(
        "SELECT key, fingerprint, aggregate_type, aggregate_id, version, global_position, \
         event_types, refusal, created_at FROM idempotency_keys WHERE key = ?",
    )
    .bind(key)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(IdempotencyRecord::from))
}
