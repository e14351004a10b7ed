//! The dead letters on Kafka: sending them (for the projectors, the ingest consumer and feed
//! runs) and reading them back (list, show, retry). What a dead letter carries is the contract
//! in `eventmall_events::dead_letter`.

mod tool;

use std::collections::BTreeSet;
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
        for letter in &letters {
            count(letter);
        }
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

/// How many distinct reasons the dead-letter counter labels; later ones are counted as
/// `other`, so a flood of novel reasons cannot grow the metrics without bound.
const REASON_LABELS: usize = 64;

/// Counts a letter by its stage and the kind of its reason.
fn count(letter: &DeadLetter) {
    static SEEN: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    let stage = letter.header(header::STAGE).unwrap_or("unknown").to_owned();
    let mut reason = reason_kind(letter.header(header::REASON).unwrap_or(""));
    if let Ok(mut seen) = SEEN.lock()
        && !seen.contains(&reason)
    {
        if seen.len() < REASON_LABELS {
            seen.insert(reason.clone());
        } else {
            reason = "other".to_owned();
        }
    }
    metrics::counter!("eventmall_dead_letters_total", "stage" => stage, "reason" => reason)
        .increment(1);
}

/// A reason without its particulars: up to its first colon, numbers written as `N`, at most
/// 48 characters. "the line has 7 columns, not 29" and "…8 columns…" are one kind.
fn reason_kind(reason: &str) -> String {
    let head = reason.split(':').next().unwrap_or_default().trim();
    let mut kind = String::new();
    for character in head.chars() {
        if character.is_ascii_digit() {
            if !kind.ends_with('N') {
                kind.push('N');
            }
        } else {
            kind.push(character);
        }
        if kind.chars().count() >= 48 {
            break;
        }
    }
    if kind.is_empty() {
        "unspecified".to_owned()
    } else {
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_kind_drops_the_particulars() {
        assert_eq!(
            reason_kind("the line has 7 columns, not 29"),
            reason_kind("the line has 12 columns, not 29")
        );
        assert_eq!(reason_kind("not CSV: unequal lengths at 3"), "not CSV");
        assert_eq!(reason_kind(""), "unspecified");
        assert!(reason_kind(&"x".repeat(1000)).len() <= 48);
    }

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
