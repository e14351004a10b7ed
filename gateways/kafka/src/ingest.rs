//! The ingest consumer: upstream producers' Avro records on the ingest topics, turned into
//! commands.
//!
//! Each record's command carries the producer's event id as its idempotency key, stored with
//! the events it appends. A record delivered again, after a crash or a rebalance, replays the
//! recorded result and appends nothing. The records of one key (one product, one order) are
//! handled in order, those of different keys at the same time. Offsets are committed after the
//! records before them are handled, so nothing is skipped.
//!
//! A record that cannot become a command goes to the dead letters with the reason, and the
//! partition moves on. That covers a bad magic byte, an unknown schema id, a truncated body, a
//! failed check and a refused command. What may pass, like a registry or a database that does
//! not answer, is retried in place with backoff, so the partition waits and loses nothing.

pub mod translate;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use eventmall_aggregates::RejectionKind;
use eventmall_events::dead_letter::stage;
use eventmall_events::ingest::{self, IngestRecord};
use eventmall_events::{CodecError, CommandMetadata};
use eventmall_registry::RegisteredCodec;
use eventmall_store::{
    CommandError, CommandGateway, CommandRequest, Dispatch, IdempotencyClaim, Receipt,
};
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};
use translate::IngestCommand;

use crate::dead_letters::{DeadLetters, refused};
use crate::{Consumed, IngestSettings, Result, client_config};

/// Records handled between offset commits, at most.
const BATCH: usize = 2_000;
/// Keys (products, orders) handled at once.
const CONCURRENCY: usize = 128;
/// How long a batch waits for more records after its first.
const BATCH_WAIT: Duration = Duration::from_millis(20);

/// What a record keeps its order within: its topic, partition and key.
type OrderKey<'a> = (&'a str, i32, Option<&'a [u8]>);

/// Why a record was not handled.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The record can never become a command: dead-letter it.
    Poison(String),
    /// Something it needs did not answer: try again.
    Transient(String),
}

/// Turns ingest records into commands: decode, check, run, under the producer's event id.
#[derive(Clone)]
pub struct IngestCommands {
    commands: CommandGateway,
    codec: RegisteredCodec,
}

/// Consumes the ingest topics as one consumer group.
pub struct IngestConsumer {
    handler: IngestCommands,
    dead_letters: DeadLetters,
    consumer: StreamConsumer,
    group: String,
}

impl IngestConsumer {
    /// Registers the ingest contract and subscribes to the ingest topics; the topics must exist.
    pub async fn connect(
        commands: CommandGateway,
        codec: RegisteredCodec,
        bootstrap_servers: &str,
        settings: &IngestSettings,
    ) -> Result<Self> {
        let handler = IngestCommands::new(commands, codec).await?;
        let consumer: StreamConsumer = client_config(bootstrap_servers)
            .set("group.id", &settings.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .create()?;
        consumer.subscribe(&ingest::TOPICS)?;
        Ok(Self {
            handler,
            dead_letters: DeadLetters::new(bootstrap_servers)?,
            consumer,
            group: settings.group.clone(),
        })
    }

    /// Consumes until `stop`; the batch in hand is finished first.
    pub async fn run(self, stop: CancellationToken) -> Result<()> {
        info!(group = %self.group, topics = ?ingest::TOPICS, "ingest consumer started");
        while let Some(records) = self.next_batch(&stop).await {
            // Records of one key (one product, one order) are handled in order; records of
            // different keys, partitions included, at the same time.
            let mut keys: BTreeMap<OrderKey<'_>, Vec<usize>> = BTreeMap::new();
            for (index, record) in records.iter().enumerate() {
                keys.entry((&record.topic, record.partition, record.key.as_deref()))
                    .or_default()
                    .push(index);
            }
            let (this, records, stop) = (&self, &records, &stop);
            let handled: HashSet<usize> = futures::stream::iter(keys.into_values())
                .map(|indices| {
                    async move {
                        let mut handled = Vec::with_capacity(indices.len());
                        for index in indices {
                            if !this.handle(&records[index], stop).await {
                                break;
                            }
                            handled.push(index);
                        }
                        handled
                    }
                    .boxed()
                })
                .buffer_unordered(CONCURRENCY)
                .flat_map(futures::stream::iter)
                .collect()
                .await;
            self.commit(&next_offsets(records, &handled));
        }
        info!(group = %self.group, "ingest consumer stopped");
        Ok(())
    }

    /// Waits for a first record, then takes what follows within the batch window; `None` once
    /// `stop` is cancelled.
    async fn next_batch(&self, stop: &CancellationToken) -> Option<Vec<Consumed>> {
        let mut records = Vec::new();
        let mut deadline: Option<Instant> = None;
        while records.len() < BATCH {
            let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let received = tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(wait.unwrap_or(Duration::MAX)), if wait.is_some() => break,
                received = self.consumer.recv() => received,
            };
            match received {
                Ok(message) => {
                    records.push(Consumed::from(&message));
                    deadline.get_or_insert_with(|| Instant::now() + BATCH_WAIT);
                }
                Err(error) => debug!(%error, "ingest poll"),
            }
        }
        Some(records)
    }

    /// Tells the group where each partition is.
    fn commit(&self, positions: &BTreeMap<(&str, i32), i64>) {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), next) in positions {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*next));
        }
        if list.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(&list, CommitMode::Async) {
            // Redelivery of what was handled replays recorded results: harmless.
            debug!(%error, "ingest offsets not committed");
        }
    }

    /// Runs one record's command, or sends it to the dead letters, retrying what may pass;
    /// false only when stopped meanwhile.
    #[instrument(skip_all, fields(topic = %record.topic, partition = record.partition, offset = record.offset))]
    async fn handle(&self, record: &Consumed, stop: &CancellationToken) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.handler.execute(record).await {
                Ok(_) => return true,
                Err(Failure::Poison(reason)) => {
                    warn!(%reason, "ingest record sent to the dead letters");
                    let letter = refused(record, stage::INGEST, &reason);
                    match self.dead_letters.send(vec![letter]).await {
                        Ok(()) => return true,
                        Err(error) => warn!(%error, ?backoff, "dead letter not sent; retrying"),
                    }
                }
                Err(Failure::Transient(error)) => {
                    warn!(%error, ?backoff, "ingest record will be retried");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return false,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

impl IngestCommands {
    /// Registers the ingest contract, whose schemas producers look up.
    pub async fn new(commands: CommandGateway, codec: RegisteredCodec) -> Result<Self> {
        codec.register(&ingest::contract()).await?;
        Ok(Self { commands, codec })
    }

    /// Runs the command of one record, at most once per event id; or says why not.
    pub async fn execute(&self, record: &Consumed) -> Result<Receipt, Failure> {
        let value = record
            .value
            .as_deref()
            .ok_or_else(|| Failure::Poison("the record has no value".into()))?;
        let decoded = self.decode(value).await?;
        if decoded.topic() != record.topic {
            return Err(Failure::Poison(format!(
                "a {} belongs on {}, not {}",
                decoded.record_name(),
                decoded.topic(),
                record.topic
            )));
        }
        let command = translate::command(&decoded).map_err(Failure::Poison)?;
        let metadata = CommandMetadata {
            correlation_id: decoded.event_id().to_owned(),
            causation_id: format!("{}/{}/{}", record.topic, record.partition, record.offset),
            traceparent: record.header("traceparent").map(str::to_owned),
            actor: Some(format!("ingest:{}", decoded.partner_id())),
        };
        let claim = IdempotencyClaim {
            // Event ids are the partner's own: two partners' producers may both count from 1.
            key: format!(
                "ingest/{}/{}/{}",
                record.topic,
                decoded.partner_id(),
                decoded.event_id()
            ),
            fingerprint: fingerprint(&decoded),
        };
        let executed = match command {
            IngestCommand::Product { id, command } => {
                let request = CommandRequest::new(id, command, metadata).idempotent(claim);
                self.commands.dispatch(request).await
            }
            IngestCommand::Order { id, command } => {
                let request = CommandRequest::new(id, command, metadata).idempotent(claim);
                self.commands.dispatch(request).await
            }
        };
        executed.map_err(|error| match error {
            CommandError::Rejected(refusal) if refusal.kind() == RejectionKind::Unavailable => {
                Failure::Transient(refusal.to_string())
            }
            CommandError::Rejected(refusal) => {
                Failure::Poison(format!("refused: {}: {refusal}", refusal.code()))
            }
            CommandError::IdempotencyKeyReused => Failure::Poison(format!(
                "event_id {} was used before for a different record",
                decoded.event_id()
            )),
            CommandError::VersionConflict { .. } | CommandError::Store(_) => {
                Failure::Transient(error.to_string())
            }
        })
    }

    async fn decode(&self, value: &[u8]) -> Result<IngestRecord, Failure> {
        self.codec
            .decode_ingest(value)
            .await
            .map_err(|error| match error {
                CodecError::SchemaUnavailable { .. } => Failure::Transient(error.to_string()),
                other => Failure::Poison(other.to_string()),
            })
    }
}

/// Each partition's next offset to read: its first record not handled, else past its last.
fn next_offsets<'a>(
    records: &'a [Consumed],
    handled: &HashSet<usize>,
) -> BTreeMap<(&'a str, i32), i64> {
    let mut next = BTreeMap::new();
    let mut stuck = HashSet::new();
    // A batch holds each partition's records in offset order.
    for (index, record) in records.iter().enumerate() {
        let partition = (record.topic.as_str(), record.partition);
        if stuck.contains(&partition) {
            continue;
        }
        match handled.contains(&index) {
            true => {
                next.insert(partition, record.offset + 1);
            }
            false => {
                stuck.insert(partition);
            }
        }
    }
    next
}

/// What makes two records with one event id the same record: their content, whatever schema
/// version wrote it.
fn fingerprint(record: &IngestRecord) -> String {
    let content = serde_json::to_vec(record).unwrap_or_default();
    format!("{:x}", Sha256::digest(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, partition: i32, offset: i64) -> Consumed {
        Consumed {
            topic: topic.into(),
            partition,
            offset,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    #[test]
    fn a_partition_commits_up_to_its_first_record_not_handled() {
        let records = [
            record("a", 0, 10),
            record("a", 1, 5),
            record("a", 0, 11),
            record("a", 1, 6),
            record("a", 0, 12),
            record("b", 0, 3),
        ];
        // Stopped before a/0@11 was handled, though a/0@12 (another key) was.
        let handled = HashSet::from([0, 1, 3, 4]);
        let next = next_offsets(&records, &handled);
        assert_eq!(
            next,
            BTreeMap::from([(("a", 0), 11), (("a", 1), 7)]),
            "b/0 had nothing handled: it is not committed"
        );
    }
}
