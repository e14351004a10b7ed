use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventmall_events::{EventMetadata, StoredEvent};
use serde::{Deserialize, Serialize};

use tokio::sync::{mpsc, oneshot};

use crate::error::{StoreError, StoreResult};

/// An event to append, already serialized.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
}

/// What one command writes, atomically: its events, maybe a snapshot, maybe its idempotency key.
#[derive(Clone, Debug)]
pub struct Append {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's version the command was decided on; the events get the next sequences.
    pub expected_version: i64,
    pub events: Vec<NewEvent>,
    /// `(version, state)` to store as the aggregate's snapshot.
    pub snapshot: Option<(i64, serde_json::Value)>,
    /// The key to record with the result; a key already recorded rejects the whole append.
    pub idempotency: Option<IdempotencyClaim>,
    /// The refusal to record under the key, for an append of no events.
    pub refusal: Option<RecordedRefusal>,
    /// Timers set or closed by the same step, in the same transaction.
    pub timers: Vec<TimerWrite>,
}

impl Append {
    /// An append of timer changes alone, under the aggregate they are about.
    pub fn timers(aggregate_type: &str, aggregate_id: &str, timers: Vec<TimerWrite>) -> Self {
        Self {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            expected_version: 0,
            events: Vec::new(),
            snapshot: None,
            idempotency: None,
            refusal: None,
            timers,
        }
    }

    /// Events alone: no key to claim, no snapshot, no timer.
    pub(crate) fn is_plain(&self) -> bool {
        self.snapshot.is_none()
            && self.idempotency.is_none()
            && self.timers.is_empty()
            && !self.events.is_empty()
    }
}

/// A durable timer: what is due when, and what set it. Its id is unique per reason (one
/// authorization deadline per payment), so setting it again changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    pub timer_id: String,
    /// What fires (`authorization_timeout`, `automatic_confirmation`).
    pub kind: String,
    /// The aggregate it is about.
    pub subject: String,
    pub due_at: DateTime<Utc>,
    /// The event that set it; the command it fires is keyed by this id and the kind.
    pub cause_event_id: String,
    pub correlation_id: String,
    pub traceparent: Option<String>,
}

/// A change to the timers, written with the step that makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerWrite {
    /// Sets the timer unless one with its id exists.
    Set(Timer),
    /// Closes the timer, if still open, with why (`fired`, `moot`, `cancelled`).
    Close { timer_id: String, outcome: String },
}

/// A command's refusal as recorded under its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRefusal {
    /// The refusal's class (`not-found`, `forbidden`, `invariant`).
    pub kind: String,
    /// Its stable code (`product-not-registered`).
    pub code: String,
    pub message: String,
}

/// An idempotency key and the fingerprint of the request that used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    pub fingerprint: String,
}

/// The recorded outcome of a request made with an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: String,
    pub fingerprint: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: i64,
    pub global_position: Option<i64>,
    pub event_types: Vec<String>,
    /// The command's refusal, when it was refused.
    pub refusal: Option<RecordedRefusal>,
    /// When the key was used; a client's key expires a retention period after it.
    pub created_at: DateTime<Utc>,
}

/// Positions assigned to the appended events, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub positions: Vec<i64>,
}

/// An aggregate's latest snapshot and the events after it.
#[derive(Clone, Debug, Default)]
pub struct LoadedRows {
    pub snapshot: Option<(i64, serde_json::Value)>,
    pub events: Vec<StoredEvent>,
}

/// The storage operations the event store needs; one implementation per database, all passing
/// the same test suite.
#[async_trait]
pub trait EventBackend: Send + Sync + 'static {
    /// Which database this is (`sqlite`, `postgres`).
    fn name(&self) -> &'static str;

    /// The aggregate's current version when the backend knows it without asking the database:
    /// only a backend that is the database's sole writer can. `None` means "ask".
    fn known_version(&self, _aggregate_type: &str, _aggregate_id: &str) -> Option<i64> {
        None
    }

    /// The latest snapshot of an aggregate and every event after it.
    async fn load(&self, aggregate_type: &str, aggregate_id: &str) -> StoreResult<LoadedRows>;

    /// Events of one aggregate with a sequence above `after_sequence`, oldest first.
    async fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Appends atomically. A lost race on the aggregate's sequence is
    /// [`StoreError::Conflict`](crate::StoreError::Conflict); a used idempotency key is
    /// [`StoreError::IdempotencyKeyUsed`](crate::StoreError::IdempotencyKeyUsed).
    async fn append(&self, append: Append) -> StoreResult<Appended>;

    /// At most `limit` events after `position`, in position order. Gap-safe: no event with a
    /// lower position than one returned can become visible later.
    async fn read_after(&self, position: i64, limit: i64) -> StoreResult<Vec<StoredEvent>>;

    /// How many committed events have a position above `position`, whether or not a reader
    /// may return them yet: the lag of a reader at `position`.
    async fn count_after(&self, position: i64) -> StoreResult<i64>;

    /// The recorded outcome of an idempotency key, if it was used.
    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>>;

    /// Removes the key if it was recorded before `created_before`.
    async fn forget_idempotency(&self, key: &str, created_before: DateTime<Utc>)
    -> StoreResult<()>;

    /// Removes at most `limit` keys of the expiring namespaces recorded before
    /// `created_before`, the oldest first; how many.
    async fn sweep_idempotency(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64>;

    /// At most `limit` open timers due at `now` or before, the earliest first.
    async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Timer>>;

    /// How many timers are open, due or not.
    async fn open_timers(&self) -> StoreResult<i64>;

    /// Answers when the database does.
    async fn ping(&self) -> StoreResult<()>;
}

/// Records a committed group: how many appends it held and how long its transaction took.
pub(crate) fn record_group(backend: &'static str, appends: usize, took: std::time::Duration) {
    metrics::histogram!("eventmall_store_group_commit_size", "backend" => backend)
        .record(appends as f64);
    metrics::histogram!("eventmall_store_append_duration_seconds", "backend" => backend)
        .record(took.as_secs_f64());
}

/// Time as stored by both backends.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Where a queued append's outcome goes.
pub(crate) type Reply = oneshot::Sender<StoreResult<Appended>>;

/// Hands `append` to a backend's writers and waits for its outcome.
pub(crate) async fn through_writer(
    writer: &mpsc::Sender<(Append, Reply)>,
    append: Append,
) -> StoreResult<Appended> {
    let (reply, answer) = oneshot::channel();
    writer
        .send((append, reply))
        .await
        .map_err(|_| StoreError::WriterStopped)?;
    answer.await.map_err(|_| StoreError::WriterStopped)?
}
