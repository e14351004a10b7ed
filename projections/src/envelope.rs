//! An event as a projector receives it: the decoded event and what its record's headers say.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One delivered event.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope<E> {
    pub event_id: Uuid,
    pub aggregate_id: String,
    /// Version of the aggregate after this event: a read model that has seen a sequence
    /// ignores it when it comes again.
    pub sequence: i64,
    /// When the event store recorded the event.
    pub recorded_at: DateTime<Utc>,
    pub event: E,
}

impl<E> Envelope<E> {
    /// The same envelope around another view of its event.
    pub fn with<F>(&self, event: F) -> Envelope<F> {
        Envelope {
            event_id: self.event_id,
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            recorded_at: self.recorded_at,
            event,
        }
    }
}
