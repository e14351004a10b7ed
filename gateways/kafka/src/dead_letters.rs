//! The dead letters on Kafka: sending them (for the projectors, the ingest consumer and feed
//! runs) and reading them back (list, show, retry). What a dead letter carries is the contract
//! in `eventmall_events::dead_letter`.

mod tool;

use std::time::Duration;

use eventmall_events::DeadLetter;
use eventmall_events::dead_letter::{TOPIC, header};
use futures::future::try_join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

pub use tool::{DeadLetterPage, DeadLetterRecord, DeadLetterTool, Retried, RetryError};

use crate::{Consumed, Result, client_config};

/// The largest record the producer sends (librdkafka's `message.max.bytes`, Kafka's default
/// too); a broker must accept at least this much.
const MAX_RECORD_BYTES: usize = 1_000_000;
/// What a record's framing takes beyond its key, value and headers, with room to spare.
const RECORD_OVERHEAD: usize = 16 * 1024;

/// A consumed record refused by `stage` for `reason`, as its dead letter: its key, raw value
/// and headers, and where it came from.
pub fn refused(record: &Consumed, stage: &str, reason: &str) -> DeadLetter {
    let mut letter = DeadLetter::new(record.key.clone(), record.value.clone());
    letter.headers = record.headers.clone();
    letter
        .with_header(header::REASON, reason)
        .with_header(header::STAGE, stage)
        .with_header(header::SOURCE_TOPIC, record.topic.as_str())
        .with_header(header::SOURCE_PARTITION, record.partition.to_string())
        .with_header(header::SOURCE_OFFSET, record.offset.to_string())
}

/// Cuts a letter's value so that the whole record fits [`MAX_RECORD_BYTES`], saying so in
/// [`header::VALUE_TRUNCATED_FROM`]; a letter that fits is left as it is.
pub fn fit(mut letter: DeadLetter) -> DeadLetter {
    let headers: usize = letter
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    let key = letter.key.as_ref().map_or(0, Vec::len);
    let room = MAX_RECORD_BYTES.saturating_sub(RECORD_OVERHEAD + key + headers);
    match &mut letter.value {
        Some(value) if value.len() > room => {
            // Room for the header that says so, too: its name and up to 20 digits.
            let room = room.saturating_sub(header::VALUE_TRUNCATED_FROM.len() + 20);
            let length = value.len();
            value.truncate(room);
            letter.with_header(header::VALUE_TRUNCATED_FROM, length.to_string())
        }
        _ => letter,
    }
}

/// Sends dead letters and waits for the broker to have them.
#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
}

impl DeadLetters {
    pub fn new(bootstrap_servers: &str) -> Result<Self> {
        let producer = client_config(bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .set("message.max.bytes", MAX_RECORD_BYTES.to_string())
            .create()?;
        Ok(Self { producer })
    }

    /// Sends every letter, each cut to fit the record size, and waits until the broker has
    /// them all.
    pub async fn send(&self, letters: Vec<DeadLetter>) -> Result<()> {
        let letters: Vec<DeadLetter> = letters.into_iter().map(fit).collect();
        let deliveries = letters.iter().map(|letter| {
            let mut headers = OwnedHeaders::new_with_capacity(letter.headers.len());
            for (key, value) in &letter.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(TOPIC).headers(headers);
            if let Some(key) = &letter.key {
                record = record.key(key);
            }
            if let Some(value) = &letter.value {
                record = record.payload(value);
            }
            let sent = self.producer.send(record, Duration::from_secs(30));
            async move { sent.await.map(|_| ()).map_err(|(error, _)| error) }
        });
        try_join_all(deliveries).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_that_fits_is_sent_whole() {
        let letter = DeadLetter::new(Some(b"key".to_vec()), Some(vec![7; 1000]))
            .with_header(header::REASON, "bad");
        assert_eq!(fit(letter.clone()), letter);
    }

    #[test]
    fn an_oversized_value_is_cut_to_fit_and_says_how_long_it_was() {
        let length = MAX_RECORD_BYTES + 1;
        let letter = DeadLetter::new(Some(b"partner".to_vec()), Some(vec![b'x'; length]))
            .with_header(header::REASON, "title has 1000001 characters");
        let cut = fit(letter);
        let size = cut.value.as_ref().map_or(0, Vec::len)
            + cut.key.as_ref().map_or(0, Vec::len)
            + cut
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        assert!(size + RECORD_OVERHEAD <= MAX_RECORD_BYTES, "{size}");
        assert_eq!(
            cut.header(header::VALUE_TRUNCATED_FROM),
            Some(length.to_string().as_str())
        );
        assert!(cut.value.as_ref().is_some_and(|v| v.len() > 900_000));
    }
}
