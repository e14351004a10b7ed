//! Metadata stored with every event and carried as record headers downstream.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the caller of a command tells about it; copied onto every event the command produces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMetadata {
    /// Ties together everything that follows from one user action.
    pub correlation_id: String,
    /// What directly caused this command: a request id or an event id.
    pub causation_id: String,
    /// W3C trace context of the request that issued the command.
    pub traceparent: Option<String>,
    /// Who issued the command (a partner, a customer, `system`).
    pub actor: Option<String>,
}

/// Metadata of one stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventMetadata {
    /// Unique id of the event (UUID v7); a duplicate delivery carries the same id.
    pub event_id: Uuid,
    /// Correlation id copied from the command.
    pub correlation_id: String,
    /// Causation id copied from the command.
    pub causation_id: String,
    /// W3C trace context copied from the command.
    pub traceparent: Option<String>,
    /// Who issued the command.
    pub actor: Option<String>,
    /// When the event store recorded the event.
    pub recorded_at: DateTime<Utc>,
}

const CORRELATION_ID: &str = "correlation_id";
const CAUSATION_ID: &str = "causation_id";
const TRACEPARENT: &str = "traceparent";
const ACTOR: &str = "actor";

impl CommandMetadata {
    /// Metadata of a command that starts a new correlation (nothing caused it but itself).
    pub fn new_root(actor: Option<String>) -> Self {
        let id = Uuid::now_v7().to_string();
        Self {
            correlation_id: id.clone(),
            causation_id: id,
            traceparent: None,
            actor,
        }
    }

    /// The string map cqrs-es carries as command metadata.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            (CORRELATION_ID.to_owned(), self.correlation_id.clone()),
            (CAUSATION_ID.to_owned(), self.causation_id.clone()),
        ]);
        if let Some(traceparent) = &self.traceparent {
            map.insert(TRACEPARENT.to_owned(), traceparent.clone());
        }
        if let Some(actor) = &self.actor {
            map.insert(ACTOR.to_owned(), actor.clone());
        }
        map
    }

    /// Reads the map written by [`CommandMetadata::to_map`]; missing ids become a fresh root.
    pub fn from_map(map: &HashMap<String, String>) -> Self {
        let root = Uuid::now_v7().to_string();
        let correlation_id = map.get(CORRELATION_ID).cloned().unwrap_or(root);
        Self {
            causation_id: map
                .get(CAUSATION_ID)
                .cloned()
                .unwrap_or_else(|| correlation_id.clone()),
            correlation_id,
            traceparent: map.get(TRACEPARENT).cloned(),
            actor: map.get(ACTOR).cloned(),
        }
    }

    /// The metadata of an event this command produces, recorded at `recorded_at`.
    pub fn for_event(&self, recorded_at: DateTime<Utc>) -> EventMetadata {
        EventMetadata {
            event_id: Uuid::now_v7(),
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id.clone(),
            traceparent: self.traceparent.clone(),
            actor: self.actor.clone(),
            recorded_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_metadata_round_trips_through_the_cqrs_map() {
        let metadata = CommandMetadata {
            correlation_id: "c".into(),
            causation_id: "d".into(),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            actor: Some("partner:shop-1".into()),
        };
        assert_eq!(CommandMetadata::from_map(&metadata.to_map()), metadata);
    }

    #[test]
    fn missing_ids_start_a_new_correlation() {
        let metadata = CommandMetadata::from_map(&HashMap::new());
        assert_eq!(metadata.correlation_id, metadata.causation_id);
        assert!(Uuid::parse_str(&metadata.correlation_id).is_ok());
    }
}
