//! The dead letters, read back: list them, show one whole, and retry one by producing its
//! original record (key, value and source headers) to its source topic again, once whatever
//! refused it is fixed (a schema registered, a mapping corrected).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine;
use eventmall_events::dead_letter::{RETRIED_TOPIC, TOPIC as DEAD_LETTER_TOPIC, header, stage};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use crate::{Consumed, Error, Result, client_config};

/// How long reading the dead letters may take.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// A dead letter as read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeadLetterRecord {
    /// Where it is on the dead-letter topic.
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub reason: String,
    /// Who refused it: a projector, an ingest consumer.
    pub stage: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    /// The key, as text where it is UTF-8.
    pub key: Option<String>,
    /// The source record's own headers, text where UTF-8.
    pub headers: BTreeMap<String, String>,
    /// The raw value, base64.
    pub value_base64: Option<String>,
}

impl From<&Consumed> for DeadLetterRecord {
    fn from(record: &Consumed) -> Self {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let mut headers = BTreeMap::new();
        let mut letter = BTreeMap::new();
        for (key, value) in &record.headers {
            match key.strip_prefix("dead_letter.") {
                Some(_) => letter.insert(key.as_str(), text(value)),
                None => headers.insert(key.clone(), text(value)),
            };
        }
        let field = |name: &str| letter.get(name).cloned().unwrap_or_default();
        Self {
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            reason: field(header::REASON),
            stage: field(header::STAGE),
            source_topic: field(header::SOURCE_TOPIC),
            source_partition: field(header::SOURCE_PARTITION).parse().unwrap_or(-1),
            source_offset: field(header::SOURCE_OFFSET).parse().unwrap_or(-1),
            key: record.key.as_deref().map(text),
            headers,
            value_base64: record
                .value
                .as_deref()
                .map(|v| base64::engine::general_purpose::STANDARD.encode(v)),
        }
    }
}

/// A page of dead letters, oldest first per partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeadLetterPage {
    pub letters: Vec<DeadLetterRecord>,
    /// Dead letters on the topic.
    pub total: i64,
}

/// Where a retried record went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Retried {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Why a dead letter was not retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no dead letter at {partition}/{offset}")]
    NotFound { partition: i32, offset: i64 },
    #[error("the dead letter at {partition}/{offset} was retried already")]
    AlreadyRetried { partition: i32, offset: i64 },
    /// It has nowhere to go back to.
    #[error("{0}")]
    NotRetriable(String),
    #[error(transparent)]
    Kafka(#[from] Error),
}

/// Reads and retries the dead letters of one cluster.
#[derive(Clone, Debug)]
pub struct DeadLetterTool {
    bootstrap_servers: String,
}

impl DeadLetterTool {
    pub fn new(bootstrap_servers: &str) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.to_owned(),
        }
    }

    /// Up to `limit` dead letters not retried, oldest first per partition, and how many there
    /// are.
    pub async fn list(&self, limit: usize) -> Result<DeadLetterPage> {
        let servers = self.bootstrap_servers.clone();
        tokio::task::spawn_blocking(move || {
            let consumer = reader(&servers)?;
            let retried = retried(&consumer)?;
            let ends = ends(&consumer, DEAD_LETTER_TOPIC)?;
            let retried_here = retried
                .iter()
                .filter(|(p, o)| {
                    ends.get(p)
                        .is_some_and(|(low, high)| (*low..*high).contains(o))
                })
                .count() as i64;
            let total = ends.values().map(|(low, high)| high - low).sum::<i64>() - retried_here;
            let mut assignment = TopicPartitionList::new();
            for (&partition, &(low, high)) in &ends {
                if high > low {
                    assignment.add_partition_offset(
                        DEAD_LETTER_TOPIC,
                        partition,
                        Offset::Offset(low),
                    )?;
                }
            }
            let wanted = limit.saturating_add(retried.len());
            let letters = read_records(&consumer, &assignment, &ends, wanted)?
                .iter()
                .filter(|record| !retried.contains(&(record.partition, record.offset)))
                .take(limit)
                .map(DeadLetterRecord::from)
                .collect();
            Ok(DeadLetterPage { letters, total })
        })
        .await?
    }

    /// The dead letter at `partition`/`offset`, if there is one.
    pub async fn show(&self, partition: i32, offset: i64) -> Result<Option<Consumed>> {
        let servers = self.bootstrap_servers.clone();
        tokio::task::spawn_blocking(move || {
            let consumer = reader(&servers)?;
            let ends = ends(&consumer, DEAD_LETTER_TOPIC)?;
            let Some(&(low, high)) = ends.get(&partition) else {
                return Ok(None);
            };
            if !(low..high).contains(&offset) {
                return Ok(None);
            }
            let mut assignment = TopicPartitionList::new();
            assignment.add_partition_offset(
                DEAD_LETTER_TOPIC,
                partition,
                Offset::Offset(offset),
            )?;
            let ends = BTreeMap::from([(partition, (offset, offset + 1))]);
            Ok(read_records(&consumer, &assignment, &ends, 1)?
                .into_iter()
                .next())
        })
        .await?
    }

    /// Produces the dead letter's original record to its source topic again: its key, value
    /// and source headers, without the `dead_letter.*` ones; then notes it on
    /// [`RETRIED_TOPIC`], so it is listed no more. A letter is retried once.
    pub async fn retry(&self, partition: i32, offset: i64) -> Result<Retried, RetryError> {
        let servers = self.bootstrap_servers.clone();
        let done = tokio::task::spawn_blocking(move || retried(&reader(&servers)?))
            .await
            .map_err(Error::from)??;
        if done.contains(&(partition, offset)) {
            return Err(RetryError::AlreadyRetried { partition, offset });
        }
        let record = self
            .show(partition, offset)
            .await?
            .ok_or(RetryError::NotFound { partition, offset })?;
        let letter = DeadLetterRecord::from(&record);
        if letter.stage == stage::FEED {
            return Err(RetryError::NotRetriable(format!(
                "a rejected feed line is not retried from the dead letters: correct the feed and \
                 upload it again (run {}, line {})",
                letter
                    .headers
                    .get(header::FEED_RUN)
                    .map_or("?", String::as_str),
                letter
                    .headers
                    .get(header::FEED_LINE)
                    .map_or("?", String::as_str),
            )));
        }
        if letter.source_topic.is_empty() {
            return Err(RetryError::NotRetriable(
                "the dead letter names no source topic".into(),
            ));
        }
        let producer: FutureProducer = client_config(&self.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .map_err(Error::from)?;
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            if !key.starts_with("dead_letter.") {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
        }
        let mut out = FutureRecord::<[u8], [u8]>::to(&letter.source_topic).headers(headers);
        if let Some(key) = record.key.as_deref() {
            out = out.key(key);
        }
        if let Some(value) = record.value.as_deref() {
            out = out.payload(value);
        }
        let delivered = producer
            .send(out, Duration::from_secs(30))
            .await
            .map_err(|(error, _)| Error::from(error))?;
        let retried = Retried {
            topic: letter.source_topic,
            partition: delivered.partition,
            offset: delivered.offset,
        };
        let key = format!("{partition}/{offset}");
        let note = serde_json::json!(retried).to_string();
        producer
            .send(
                FutureRecord::<str, str>::to(RETRIED_TOPIC)
                    .key(&key)
                    .payload(&note),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(error, _)| Error::from(error))?;
        Ok(retried)
    }
}

/// A consumer that only reads: no group offsets are committed.
fn reader(servers: &str) -> Result<BaseConsumer> {
    Ok(client_config(servers)
        .set("group.id", "eventmall-dead-letter-tool")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?)
}

/// Each partition's low and high watermark; none when the topic does not exist yet.
fn ends(consumer: &BaseConsumer, topic: &str) -> Result<BTreeMap<i32, (i64, i64)>> {
    let metadata = consumer.fetch_metadata(Some(topic), READ_TIMEOUT)?;
    let mut ends = BTreeMap::new();
    for found in metadata.topics().iter().filter(|t| t.error().is_none()) {
        for partition in found.partitions() {
            let marks = consumer.fetch_watermarks(topic, partition.id(), READ_TIMEOUT)?;
            ends.insert(partition.id(), marks);
        }
    }
    Ok(ends)
}

/// The letters retried, by their partition and offset.
fn retried(consumer: &BaseConsumer) -> Result<BTreeSet<(i32, i64)>> {
    let ends = ends(consumer, RETRIED_TOPIC)?;
    let mut assignment = TopicPartitionList::new();
    for (&partition, &(low, high)) in &ends {
        if high > low {
            assignment.add_partition_offset(RETRIED_TOPIC, partition, Offset::Offset(low))?;
        }
    }
    let notes = read_records(consumer, &assignment, &ends, usize::MAX)?;
    Ok(notes
        .iter()
        .filter_map(|note| {
            let key = std::str::from_utf8(note.key.as_deref()?).ok()?;
            let (partition, offset) = key.split_once('/')?;
            Some((partition.parse().ok()?, offset.parse().ok()?))
        })
        .collect())
}

/// Reads the assigned partitions up to their ends, or `limit` records.
fn read_records(
    consumer: &BaseConsumer,
    assignment: &TopicPartitionList,
    ends: &BTreeMap<i32, (i64, i64)>,
    limit: usize,
) -> Result<Vec<Consumed>> {
    let mut records = Vec::new();
    if assignment.count() == 0 || limit == 0 {
        return Ok(records);
    }
    consumer.assign(assignment)?;
    let mut open: BTreeMap<i32, i64> = assignment
        .elements()
        .iter()
        .map(|e| {
            (
                e.partition(),
                ends.get(&e.partition()).map_or(0, |(_, high)| *high),
            )
        })
        .collect();
    let deadline = Instant::now() + READ_TIMEOUT;
    while !open.is_empty() && records.len() < limit {
        if Instant::now() >= deadline {
            return Err(Error::Timeout("the dead letters"));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(&end) = open.get(&partition) {
            if offset < end {
                records.push(Consumed::from(&message));
            }
            if offset + 1 >= end {
                open.remove(&partition);
            }
        }
    }
    Ok(records)
}
