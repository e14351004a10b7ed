//! cqrs-es's `EventStore` over any [`EventBackend`], with snapshots.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use cqrs_es::{
    Aggregate, AggregateContext, AggregateError, DomainEvent, EventEnvelope, EventStore,
};
use eventmall_events::{CommandMetadata, StoredEvent};
use serde_json::json;
use tracing::instrument;

use super::backend::{Append, EventBackend, IdempotencyClaim, NewEvent, now};
use super::error::{StoreError, StoreResult};

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
    /// Position of the last event appended; `None` when the command changed nothing.
    pub global_position: Option<i64>,
    pub event_types: Vec<String>,
}

/// Recently used aggregates with their versions. Never stale: a cached state is brought up to
/// date with the events stored after its version, so another process writing the same
/// aggregate costs one more event to apply, not a wrong answer.
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

    /// The aggregate's current state: its snapshot plus the events after it.
    #[instrument(skip(self), fields(aggregate_type = A::TYPE))]
    pub async fn load(&self, aggregate_id: &str) -> StoreResult<LoadedAggregate<A>> {
        if let Some((mut version, mut aggregate)) = self.cached(aggregate_id) {
            if self.backend.known_version(A::TYPE, aggregate_id) == Some(version) {
                return Ok(LoadedAggregate {
                    aggregate_id: aggregate_id.to_owned(),
                    aggregate,
                    version,
                });
            }
            let newer = self
                .backend
                .stream(A::TYPE, aggregate_id, version, i64::MAX)
                .await?;
            for stored in newer {
                version = stored.sequence;
                aggregate.apply(deserialize::<A>(&stored)?);
            }
            return Ok(LoadedAggregate {
                aggregate_id: aggregate_id.to_owned(),
                aggregate,
                version,
            });
        }
        let rows = self.backend.load(A::TYPE, aggregate_id).await?;
        let (mut version, mut aggregate) = match rows.snapshot {
            Some((version, state)) => (version, serde_json::from_value::<A>(state)?),
            None => (0, A::default()),
        };
        for stored in rows.events {
            version = stored.sequence;
            aggregate.apply(deserialize::<A>(&stored)?);
        }
        Ok(LoadedAggregate {
            aggregate_id: aggregate_id.to_owned(),
            aggregate,
            version,
        })
    }

    /// Appends `events`, decided on `context`, in one transaction with the snapshot they make
    /// due and the idempotency key, if any.
    #[instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %context.aggregate_id, events = events.len()))]
    pub async fn append(
        &self,
        events: &[A::Event],
        context: &LoadedAggregate<A>,
        metadata: &CommandMetadata,
        idempotency: Option<IdempotencyClaim>,
    ) -> StoreResult<(Committed, Vec<StoredEvent>)> {
        let version = context.version + events.len() as i64;
        if events.is_empty() && idempotency.is_none() {
            return Ok((self.committed(context, version, None, &[]), Vec::new()));
        }
        let recorded_at = now();
        let new_events = events
            .iter()
            .map(|event| serialize::<A>(event, metadata.for_event(recorded_at)))
            .collect::<StoreResult<Vec<_>>>()?;
        // `context.aggregate` has the new events applied already (cqrs-es's EventSink applies).
        let snapshot = self
            .snapshot_due(context.version, version)
            .then(|| serde_json::to_value(&context.aggregate).map(|state| (version, state)));
        let append = Append {
            aggregate_type: A::TYPE.to_owned(),
            aggregate_id: context.aggregate_id.clone(),
            expected_version: context.version,
            events: new_events.clone(),
            snapshot: snapshot.transpose()?,
            idempotency,
        };
        let appended = match self.backend.append(append).await {
            Ok(appended) => appended,
            Err(error) => {
                self.forget(&context.aggregate_id);
                return Err(error);
            }
        };
        self.remember(&context.aggregate_id, version, &context.aggregate);
        let stored: Vec<StoredEvent> = new_events
            .into_iter()
            .zip(appended.positions.iter())
            .zip(context.version + 1..)
            .map(|((event, &global_position), sequence)| StoredEvent {
                global_position,
                aggregate_type: A::TYPE.to_owned(),
                aggregate_id: context.aggregate_id.clone(),
                sequence,
                event_type: event.event_type,
                event_version: event.event_version,
                payload: event.payload,
                metadata: event.metadata,
            })
            .collect();
        let committed = self.committed(
            context,
            version,
            appended.positions.last().copied(),
            &stored,
        );
        Ok((committed, stored))
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

    fn committed(
        &self,
        context: &LoadedAggregate<A>,
        version: i64,
        global_position: Option<i64>,
        stored: &[StoredEvent],
    ) -> Committed {
        Committed {
            aggregate_id: context.aggregate_id.clone(),
            version,
            global_position,
            event_types: stored.iter().map(|e| e.event_type.clone()).collect(),
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
        metadata: HashMap::from([
            (
                GLOBAL_POSITION.to_owned(),
                stored.global_position.to_string(),
            ),
            (EVENT_ID.to_owned(), stored.metadata.event_id.to_string()),
        ]),
    })
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
        let (_, stored) = self
            .append(&events, &context, &metadata, None)
            .await
            .map_err(to_aggregate_error::<A>)?;
        envelopes(&stored)
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
