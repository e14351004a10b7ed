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

    /// Answers when the database does.
    async fn ping(&self) -> StoreResult<()>;
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
