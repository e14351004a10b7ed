//! A record of an aggregate topic read back into an event envelope, or why it cannot be.

use chrono::{DateTime, Utc};
use eventmall_events::{AnyEvent, CodecError};
use eventmall_projections::Envelope;
use eventmall_registry::RegisteredCodec;
use uuid::Uuid;

use crate::Consumed;

/// Why a record was not decoded.
pub(crate) enum Undecoded {
    /// The record is poison, for this reason.
    Poison(String),
    /// The registry did not answer; the record may be fine.
    Unavailable(CodecError),
}

impl From<String> for Undecoded {
    fn from(reason: String) -> Self {
        Self::Poison(reason)
    }
}

impl From<&str> for Undecoded {
    fn from(reason: &str) -> Self {
        Self::Poison(reason.to_owned())
    }
}

/// Decodes a record of an aggregate topic into an event envelope.
pub(crate) async fn decode(
    record: &Consumed,
    codec: &RegisteredCodec,
) -> Result<Envelope<AnyEvent>, Undecoded> {
    let value = record.value.as_deref().ok_or("the record has no value")?;
    let event = codec.decode(value).await.map_err(|error| match error {
        CodecError::SchemaUnavailable { .. } => Undecoded::Unavailable(error),
        other => Undecoded::Poison(other.to_string()),
    })?;
    let key = record.key.as_deref().ok_or("the record has no key")?;
    let aggregate_id = std::str::from_utf8(key)
        .map_err(|_| "the key is not UTF-8".to_owned())?
        .to_owned();
    let event_type: String = record.parsed("event_type")?;
    if event_type != event.event_type() {
        return Err(Undecoded::Poison(format!(
            "header event_type {event_type} but the value is a {}",
            event.event_type()
        )));
    }
    let timestamp_ms = record.timestamp_ms.ok_or("the record has no timestamp")?;
    let recorded_at = DateTime::<Utc>::from_timestamp_millis(timestamp_ms)
        .ok_or_else(|| format!("timestamp {timestamp_ms} is out of range"))?;
    Ok(Envelope {
        event_id: record.parsed::<Uuid>("event_id")?,
        aggregate_id,
        sequence: record.parsed("sequence")?,
        recorded_at,
        event,
    })
}
