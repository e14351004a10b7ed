//! The envelope in which the event store hands events to its readers.

use serde::{Deserialize, Serialize};

use crate::metadata::EventMetadata;

/// One event as stored, in the order readers see it.
///
/// `global_position` orders all events of the store. Readers resume with "events after position
/// P": a position once read is never preceded by an event that becomes visible later. Positions
/// are unique and increasing but need not be dense.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredEvent {
    /// Position of the event in the whole store.
    pub global_position: i64,
    /// Aggregate type (`product`, `order`, `payment`).
    pub aggregate_type: String,
    /// Id of the aggregate instance.
    pub aggregate_id: String,
    /// Version of the aggregate after this event; 1 for its first event.
    pub sequence: i64,
    /// Name of the event (`OrderPlaced`).
    pub event_type: String,
    /// Version of the event's schema.
    pub event_version: String,
    /// The event, as JSON.
    pub payload: serde_json::Value,
    /// Ids, trace context, actor and time.
    pub metadata: EventMetadata,
}
