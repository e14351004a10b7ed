//! A consumed record: its coordinates, its raw bytes and headers (kept for the dead letters),
//! and what it decodes to.

use chrono::{DateTime, Utc};
use eventmall_events::AnyEvent;
use eventmall_projections::Envelope;
use rdkafka::Message;
use rdkafka::message::{Headers, OwnedMessage};
use uuid::Uuid;

use crate::registry::RegisteredCodec;

/// A record as read from a partition.
#[derive(Clone, Debug)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: Option<i64>,
}

impl From<OwnedMessage> for Consumed {
    fn from(message: OwnedMessage) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
        }
    }
}

impl Consumed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let text = self
            .header(name)
            .ok_or_else(|| format!("header {name} is missing or not UTF-8"))?;
        text.parse()
            .map_err(|e| format!("header {name} ({text:?}) is invalid: {e}"))
    }

    /// Decodes the record into an event envelope; the error is the reason it is poison.
    pub async fn decode(&self, codec: &RegisteredCodec) -> Result<Envelope<AnyEvent>, String> {
        let value = self.value.as_deref().ok_or("the record has no value")?;
        let event = codec.decode(value).await.map_err(|e| e.to_string())?;
        let key = self.key.as_deref().ok_or("the record has no key")?;
        let aggregate_id = std::str::from_utf8(key)
            .map_err(|_| "the key is not UTF-8".to_owned())?
            .to_owned();
        let event_type: String = self.parsed("event_type")?;
        if event_type != event.event_type() {
            return Err(format!(
                "header event_type {event_type} but the value is a {}",
                event.event_type()
            ));
        }
        let timestamp_ms = self.timestamp_ms.ok_or("the record has no timestamp")?;
        let recorded_at = DateTime::<Utc>::from_timestamp_millis(timestamp_ms)
            .ok_or_else(|| format!("timestamp {timestamp_ms} is out of range"))?;
        Ok(Envelope {
            event_id: self.parsed::<Uuid>("event_id")?,
            aggregate_id,
            sequence: self.parsed("sequence")?,
            recorded_at,
            event,
        })
    }
}
