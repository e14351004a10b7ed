//! cqrs-es's `EventStore` over any [`EventBackend`], with snapshots.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use cqrs_es::{
    Aggregate, AggregateContext, AggregateError, DomainEvent, EventEnvelope, EventStore,
};
use eventmall_events::{CommandMetadata, StoredEvent};
use lru::LruCache;
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use crate::backend::{
    Append, EventBackend, IdempotencyClaim, NewEvent, RecordedRefusal, TimerWrite, now,
};
use crate::error::{StoreError, StoreResult};

/// Metadata keys the store adds to the envelopes it returns from a commit.
pub const GLOBAL_POSITION: &str = "global_position";
pub const EVENT_ID: &str = "event_id";

/// An aggregate as loaded, with the version its next events build on.
#[derive(Debug)]
pub struct LoadedAggregate<A> {
    pub aggregate_id: String,
    pub aggregate: A,
    pub version: i64,
}

impl<A: Aggregate> AggregateContext<A> for LoadedAggregate<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.aggregate
    }
}

/// What a commit appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub aggregate_id: String,
    /// The aggregate's version after the commit.
    pub version: i64,
    /// Positions of the events appended, in order; empty when the command changed nothing.
    pub positions: Vec<i64>,
    pub event_ids: Vec<Uuid>,
    pub event_types: Vec<String>,
}

impl Committed {
    /// Position of the last event appended: the consistency token of the command.
    pub fn global_position(&self) -> Option<i64> {
        self.positions.last().copied()
    }
}

/// Recently used aggregates with their versions. Never trusted blindly: a cached state is used
/// as is only when the backend knows it is current (a sole writer), and is otherwise brought up
/// to date with the events stored after its version.
type AggregateCache<A> = Mutex<LruCache<String, (i64, A)>>;

/// The event store of one aggregate type.
pub struct SqlEventStore<A> {
    backend: Arc<dyn EventBackend>,
    /// Take a snapshot whenever the version crosses a multiple of this; 0 never snapshots.
    snapshot_every: i64,
    cache: Option<Arc<AggregateCache<A>>>,
    aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for SqlEventStore<A> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            snapshot_every: self.snapshot_every,
            cache: self.cache.clone(),
            aggregate: PhantomData,
        }
    }
}

impl<A: Aggregate + Clone> SqlEventStore<A> {
    /// A store that snapshots every `snapshot_every` events (0: never) and caches up to
    /// `cache_size` aggregates (0: no cache).
    pub fn new(backend: Arc<dyn EventBackend>, snapshot_every: u32, cache_size: usize) -> Self {
        Self {
            backend,
            snapshot_every: i64::from(snapshot_every),
            cache: NonZeroUsize::new(cache_size)
                .map(|size| Arc::new(Mutex::new(LruCache::new(size)))),
            aggregate: PhantomData,
        }
    }

    pub fn backend(&self) -> &Arc<dyn EventBackend> {
        &self.backend
    }

    /// The aggregate's current state: from the cache when the backend vouches for the cached
    /// version, else the cached state (or the latest snapshot) plus the events after it.
    #[instrument(level = "debug", skip(self), fields(aggregate_type = A::TYPE))]
    pub async fn load(&self, aggregate_id: &str) -> StoreResult<LoadedAggregate<A>> {
        let (version, aggregate, newer) = match self.cached(aggregate_id) {
            Some((version, aggregate))
                if self.backend.known_version(A::TYPE, aggregate_id) == Some(version) =>
            {
                (version, aggregate, Vec::new())
            }
            Some((version, aggregate)) => {
                let newer = self
                    .backend
                    .stream(A::TYPE, aggregate_id, version, i64::MAX)
                    .await?;
                (version, aggregate, newer)
            }
            None => {
                let rows = self.backend.load(A::TYPE, aggregate_id).await?;
                let (version, aggregate) = match rows.snapshot {
                    Some((version, state)) => (version, serde_json::from_value::<A>(state)?),
                    None => (0, A::default()),
                };
                (version, aggregate, rows.events)
            }
        };
        let mut loaded = LoadedAggregate {
            aggregate_id: aggregate_id.to_owned(),
            aggregate,
            version,
        };
        for stored in newer {
            loaded.version = stored.sequence;
            loaded.aggregate.apply(deserialize::<A>(&stored)?);
        }
        // The next load starts here, and reads nothing while the backend vouches for it.
        self.remember(aggregate_id, loaded.version, &loaded.aggregate);
        Ok(loaded)
    }

    /// Appends `events`, decided on `context`, in one transaction with the snapshot they make
    /// due, the idempotency key, if any, and the step's `timers`.
    #[instrument(level = "debug", skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %context.aggregate_id, events = events.len()))]
    pub async fn append(
        &self,
        events: &[A::Event],
        context: &LoadedAggregate<A>,
        metadata: &CommandMetadata,
        idempotency: Option<IdempotencyClaim>,
        timers: Vec<TimerWrite>,
    ) -> StoreResult<Committed> {
        let version = context.version + events.len() as i64;
        let mut committed = Committed {
            aggregate_id: context.aggregate_id.clone(),
            version,
            positions: Vec::new(),
            event_ids: Vec::new(),
            event_types: Vec::new(),
        };
        if events.is_empty() && idempotency.is_none() && timers.is_empty() {
            return Ok(committed);
        }
        let recorded_at = now();
        let new_events = events
            .iter()
            .map(|event| serialize::<A>(event, metadata.for_event(recorded_at)))
            .collect::<StoreResult<Vec<_>>>()?;
        committed.event_ids = new_events.iter().map(|e| e.metadata.event_id).collect();
        committed.event_types = new_events.iter().map(|e| e.event_type.clone()).collect();
        // `context.aggregate` has the new events applied already (cqrs-es's EventSink applies).
        let snapshot = self
            .snapshot_due(context.version, version)
            .then(|| serde_json::to_value(&context.aggregate).map(|state| (version, state)));
        let append = Append {
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: context.aggregate_id.clone(),
            expected_version: context.version,
            events: new_events,
            snapshot: snapshot.transpose()?,
            idempotency,
            refusal: None,
            timers,
        };
        match self.backend.append(append).await {
            Ok(appended) => {
                self.remember(&context.aggregate_id, version, &context.aggregate);
                committed.positions = appended.positions;
                Ok(committed)
            }
            Err(error) => {
                self.forget(&context.aggregate_id);
                Err(error)
            }
        }
    }

    /// Records `refusal` under the idempotency key of a command refused on `context`, so the
    /// same request again gets it again. A key taken meanwhile answers
    /// [`StoreError::IdempotencyKeyUsed`].
    pub async fn record_refusal(
        &self,
        context: &LoadedAggregate<A>,
        claim: IdempotencyClaim,
        refusal: RecordedRefusal,
    ) -> StoreResult<()> {
        let append = Append {
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: context.aggregate_id.clone(),
            expected_version: context.version,
            events: Vec::new(),
            snapshot: None,
            idempotency: Some(claim),
            refusal: Some(refusal),
            timers: Vec::new(),
        };
        self.backend.append(append).await.map(drop)
    }

    fn cached(&self, aggregate_id: &str) -> Option<(i64, A)> {
        let cache = self.cache.as_ref()?;
        let mut cache = cache.lock().ok()?;
        cache.get(aggregate_id).cloned()
    }

    fn remember(&self, aggregate_id: &str, version: i64, aggregate: &A) {
        if let Some(Ok(mut cache)) = self.cache.as_ref().map(|c| c.lock()) {
            // Concurrent commits may finish out of order; never move an entry backwards.
            if cache
                .peek(aggregate_id)
                .is_none_or(|(cached, _)| *cached < version)
            {
                cache.put(aggregate_id.to_owned(), (version, aggregate.clone()));
            }
        }
    }

    fn forget(&self, aggregate_id: &str) {
        if let Some(Ok(mut cache)) = self.cache.as_ref().map(|c| c.lock()) {
            cache.pop(aggregate_id);
        }
    }

    fn snapshot_due(&self, from: i64, to: i64) -> bool {
        self.snapshot_every > 0 && from / self.snapshot_every != to / self.snapshot_every
    }
}

fn serialize<A: Aggregate>(
    event: &A::Event,
    metadata: eventmall_events::EventMetadata,
) -> StoreResult<NewEvent> {
    // Events are adjacently tagged: {"type": .., "data": ..}; the store keeps them apart.
    let mut tagged = serde_json::to_value(event)?;
    let payload = tagged
        .get_mut("data")
        .map(serde_json::Value::take)
        .ok_or_else(|| StoreError::Corrupt(format!("{} has no data", event.event_type())))?;
    Ok(NewEvent {
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload,
        metadata,
    })
}

/// The domain event of a stored row.
pub fn deserialize<A: Aggregate>(stored: &StoredEvent) -> StoreResult<A::Event> {
    let tagged = json!({"type": stored.event_type, "data": stored.payload});
    serde_json::from_value(tagged).map_err(|e| {
        StoreError::Corrupt(format!(
            "{} at position {}: {e}",
            stored.event_type, stored.global_position
        ))
    })
}

fn envelope<A: Aggregate>(stored: &StoredEvent) -> StoreResult<EventEnvelope<A>> {
    Ok(EventEnvelope {
        aggregate_id: stored.aggregate_id.clone(),
        sequence: usize::try_from(stored.sequence)
            .map_err(|_| StoreError::Corrupt(format!("sequence {}", stored.sequence)))?,
        payload: deserialize::<A>(stored)?,
        metadata: envelope_metadata(stored.global_position, stored.metadata.event_id),
    })
}

fn envelope_metadata(global_position: i64, event_id: Uuid) -> HashMap<String, String> {
    HashMap::from([
        (GLOBAL_POSITION.to_owned(), global_position.to_string()),
        (EVENT_ID.to_owned(), event_id.to_string()),
    ])
}

impl<A> EventStore<A> for SqlEventStore<A>
where
    A: Aggregate + Clone + 'static,
    A::Error: 'static,
{
    type AC = LoadedAggregate<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let stored = self
            .backend
            .stream(A::TYPE, aggregate_id, 0, i64::MAX)
            .await
            .map_err(to_aggregate_error::<A>)?;
        envelopes(&stored)
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<LoadedAggregate<A>, AggregateError<A::Error>> {
        self.load(aggregate_id)
            .await
            .map_err(to_aggregate_error::<A>)
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: LoadedAggregate<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let metadata = CommandMetadata::from_map(&metadata);
        let committed = self
            .append(&events, &context, &metadata, None, Vec::new())
            .await
            .map_err(to_aggregate_error::<A>)?;
        let sequences = context.version + 1..;
        Ok(events
            .into_iter()
            .zip(sequences)
            .zip(committed.positions.iter().zip(&committed.event_ids))
            .map(
                |((payload, sequence), (position, event_id))| EventEnvelope {
                    aggregate_id: context.aggregate_id.clone(),
                    sequence: usize::try_from(sequence).unwrap_or_default(),
                    payload,
                    metadata: envelope_metadata(*position, *event_id),
                },
            )
            .collect())
    }
}

/// cqrs-es envelopes of stored events, with the position and event id in their metadata.
fn envelopes<A: Aggregate>(
    stored: &[StoredEvent],
) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
    stored
        .iter()
        .map(envelope::<A>)
        .collect::<StoreResult<_>>()
        .map_err(to_aggregate_error::<A>)
}

fn to_aggregate_error<A: Aggregate>(error: StoreError) -> AggregateError<A::Error> {
    match error {
        StoreError::Conflict { .. } => AggregateError::AggregateConflict,
        StoreError::Corrupt(_) | StoreError::Serialization(_) => {
            AggregateError::DeserializationError(Box::new(error))
        }
        other => AggregateError::DatabaseConnectionError(Box::new(other)),
    }
}
