//! A consumed record: its coordinates, its raw bytes and its headers, kept whole for the dead
//! letters.

use rdkafka::Message;
use rdkafka::message::Headers;

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

/// Copies the record out of the consumer's buffer once.
impl<M: Message> From<&M> for Consumed {
    fn from(message: &M) -> Self {
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

    /// A header parsed as `T`; the error says which header and why.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let text = self
            .header(name)
            .ok_or_else(|| format!("header {name} is missing or not UTF-8"))?;
        text.parse()
            .map_err(|e| format!("header {name} ({text:?}) is invalid: {e}"))
    }
}
