//! Row types shared by both backends.

use chrono::{DateTime, Utc};
use eventmall_events::{EventMetadata, StoredEvent};
use sqlx::types::Json;
use uuid::Uuid;

use crate::backend::{IdempotencyRecord, RecordedRefusal, Timer};
use crate::error::{StoreError, StoreResult};

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    global_position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Json<serde_json::Value>,
    event_id: String,
    correlation_id: String,
    causation_id: String,
    traceparent: Option<String>,
    actor: Option<String>,
    recorded_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        let event_id = Uuid::parse_str(&row.event_id)
            .map_err(|e| StoreError::Corrupt(format!("event_id {}: {e}", row.event_id)))?;
        Ok(StoredEvent {
            global_position: row.global_position,
            aggregate_type: row.aggregate_type,
            aggregate_id: row.aggregate_id,
            sequence: row.sequence,
            event_type: row.event_type,
            event_version: row.event_version,
            payload: row.payload.0,
            metadata: EventMetadata {
                event_id,
                correlation_id: row.correlation_id,
                causation_id: row.causation_id,
                traceparent: row.traceparent,
                actor: row.actor,
                recorded_at: row.recorded_at,
            },
        })
    }
}

pub(crate) fn into_events(rows: Vec<EventRow>) -> StoreResult<Vec<StoredEvent>> {
    rows.into_iter().map(StoredEvent::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    key: String,
    fingerprint: String,
    aggregate_type: String,
    aggregate_id: String,
    version: i64,
    global_position: Option<i64>,
    event_types: Json<Vec<String>>,
    refusal: Option<Json<RecordedRefusal>>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<IdempotencyRow> for IdempotencyRecord {
    fn from(row: IdempotencyRow) -> Self {
        IdempotencyRecord {
            key: row.key,
            fingerprint: row.fingerprint,
            aggregate_type: row.aggregate_type,
            aggregate_id: row.aggregate_id,
            version: row.version,
            global_position: row.global_position,
            event_types: row.event_types.0,
            refusal: row.refusal.map(|refusal| refusal.0),
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SnapshotRow {
    pub version: i64,
    pub payload: Json<serde_json::Value>,
}

/// The event types of an append, as recorded with its idempotency key.
pub(crate) fn event_types(events: &[crate::backend::NewEvent]) -> Json<Vec<String>> {
    Json(events.iter().map(|e| e.event_type.clone()).collect())
}

/// Whether a database error is a unique-constraint violation.
/// An append's INSERT failed: a unique violation means it lost the race for its aggregate's
/// next sequence, a conflict.
pub(crate) fn lost_race(append: &crate::backend::Append, error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict {
            aggregate_type: append.aggregate_type.clone(),
            aggregate_id: append.aggregate_id.clone(),
        }
    } else {
        error.into()
    }
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// The columns of a timer, as both backends select them.
pub(crate) const TIMER_COLUMNS: &str =
    "timer_id, kind, subject, due_at_ms, cause_event_id, correlation_id, traceparent";

#[derive(sqlx::FromRow)]
pub(crate) struct TimerRow {
    timer_id: String,
    kind: String,
    subject: String,
    due_at_ms: i64,
    cause_event_id: String,
    correlation_id: String,
    traceparent: Option<String>,
}

impl TryFrom<TimerRow> for Timer {
    type Error = StoreError;

    fn try_from(row: TimerRow) -> StoreResult<Self> {
        let due_at = DateTime::from_timestamp_millis(row.due_at_ms).ok_or_else(|| {
            StoreError::Corrupt(format!("timer {}: due at {}", row.timer_id, row.due_at_ms))
        })?;
        Ok(Timer {
            timer_id: row.timer_id,
            kind: row.kind,
            subject: row.subject,
            due_at,
            cause_event_id: row.cause_event_id,
            correlation_id: row.correlation_id,
            traceparent: row.traceparent,
        })
    }
}

pub(crate) fn into_timers(rows: Vec<TimerRow>) -> StoreResult<Vec<Timer>> {
    rows.into_iter().map(Timer::try_from).collect()
}
