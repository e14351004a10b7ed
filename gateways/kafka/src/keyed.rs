//! A consumer group that turns records into commands, one key at a time: the ingest consumer
//! and the payment policy both run on it.
//!
//! The records of one key (one product, one order, one payment) are handled in order, those of
//! different keys at the same time. Offsets are committed after the records before them are
//! handled, so nothing is skipped; a record handled again after a crash or a rebalance is the
//! handler's to recognise (both key their commands by the record's event id).
//!
//! A record that can never be handled goes to the dead letters with the reason, and the
//! partition moves on. What may pass, like a registry or a database that does not answer, is
//! retried in place with backoff, so the partition waits and loses nothing.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use rdkafka::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, warn};

use crate::dead_letters::{DeadLetters, refused};
use crate::{Consumed, Result, client_config};

/// Records handled between offset commits, at most.
const BATCH: usize = 2_000;
/// Keys handled at once.
const CONCURRENCY: usize = 128;
/// What the consumer prefetches per partition, at most, in KiB.
const PREFETCH_KBYTES: usize = 4 * 1024;
/// How long a batch waits for more records after its first.
const BATCH_WAIT: Duration = Duration::from_millis(5);

/// What a record keeps its order within: its topic, partition and key.
type OrderKey<'a> = (&'a str, i32, Option<&'a [u8]>);

/// Why a record was not handled.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The record can never be handled: dead-letter it.
    Poison(String),
    /// Something it needs did not answer: try again.
    Transient(String),
}

/// What a keyed consumer does with each record.
pub trait Handler: Sync {
    /// Handles one record, or says why not.
    fn handle(&self, record: &Consumed) -> impl Future<Output = Result<(), Failure>> + Send;
}

/// One consumer group over some topics, its dead letters going out under `stage`.
pub struct KeyedConsumer {
    consumer: StreamConsumer<Rebalances>,
    dead_letters: DeadLetters,
    group: String,
    stage: &'static str,
}

impl KeyedConsumer {
    /// Joins `group` on `topics`, which must exist; a new group starts at their beginning. A
    /// member silent for `session_timeout_ms` loses its partitions to the others.
    pub fn subscribe(
        bootstrap_servers: &str,
        group: &str,
        session_timeout_ms: u64,
        topics: &[&str],
        stage: &'static str,
    ) -> Result<Self> {
        let consumer: StreamConsumer<Rebalances> = client_config(bootstrap_servers)
            .set("group.id", group)
            .set("session.timeout.ms", session_timeout_ms.to_string())
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "25")
            // librdkafka prefetches up to 64 MiB per partition by default: far behind, that is
            // the whole log in memory. Batches are 2,000 records; a few MiB a partition keeps
            // them coming.
            .set("queued.max.messages.kbytes", PREFETCH_KBYTES.to_string())
            .create_with_context(Rebalances {
                group: group.to_owned(),
            })?;
        consumer.subscribe(topics)?;
        Ok(Self {
            consumer,
            dead_letters: DeadLetters::new(bootstrap_servers)?,
            group: group.to_owned(),
            stage,
        })
    }

    /// Consumes until `stop`; the batch in hand is finished first.
    pub async fn run(&self, handler: &impl Handler, stop: &CancellationToken) {
        info!(group = %self.group, stage = self.stage, "consumer started");
        while let Some(records) = self.next_batch(stop).await {
            let mut keys: BTreeMap<OrderKey<'_>, Vec<usize>> = BTreeMap::new();
            for (index, record) in records.iter().enumerate() {
                keys.entry((&record.topic, record.partition, record.key.as_deref()))
                    .or_default()
                    .push(index);
            }
            let records = &records;
            let handled: HashSet<usize> = futures::stream::iter(keys.into_values())
                .map(|indices| {
                    async move {
                        let mut handled = Vec::with_capacity(indices.len());
                        for index in indices {
                            if !self.handle(handler, &records[index], stop).await {
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
        info!(group = %self.group, stage = self.stage, "consumer stopped");
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
                Err(error) => debug!(%error, stage = self.stage, "poll"),
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
            // Redelivery of what was handled is recognised by the handler: harmless.
            debug!(%error, stage = self.stage, "offsets not committed");
        }
    }

    /// Handles one record, or sends it to the dead letters, retrying what may pass; false only
    /// when stopped meanwhile.
    async fn handle(
        &self,
        handler: &impl Handler,
        record: &Consumed,
        stop: &CancellationToken,
    ) -> bool {
        // A consumer span (OpenTelemetry's messaging conventions), a child of the record's
        // producer: the commands it issues continue the trace.
        let span = tracing::info_span!(
            "process",
            otel.name = format!("process {}", record.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.type = "process",
            messaging.destination.name = %record.topic,
            messaging.consumer.group.name = %self.group,
            messaging.destination.partition.id = record.partition,
            messaging.kafka.offset = record.offset,
            stage = self.stage,
        );
        eventmall_telemetry::continue_from(&span, record.header("traceparent"));
        self.handle_in_span(handler, record, stop)
            .instrument(span)
            .await
    }

    async fn handle_in_span(
        &self,
        handler: &impl Handler,
        record: &Consumed,
        stop: &CancellationToken,
    ) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            match handler.handle(record).await {
                Ok(()) => return true,
                Err(Failure::Poison(reason)) => {
                    warn!(%reason, "record sent to the dead letters");
                    let letter = refused(record, self.stage, &reason);
                    match self.dead_letters.send(vec![letter]).await {
                        Ok(()) => return true,
                        Err(error) => warn!(%error, ?backoff, "dead letter not sent; retrying"),
                    }
                }
                Err(Failure::Transient(error)) => {
                    warn!(%error, ?backoff, "record will be retried");
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

/// Counts the group's rebalances as this member sees them.
struct Rebalances {
    group: String,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let kind = match rebalance {
            Rebalance::Assign(_) => "assign",
            Rebalance::Revoke(_) => "revoke",
            Rebalance::Error(_) => "error",
        };
        rebalanced(&self.group, kind);
    }
}

/// Counts one rebalance of `group`: partitions assigned, revoked, or a failed one.
pub(crate) fn rebalanced(group: &str, kind: &'static str) {
    metrics::counter!("eventmall_consumer_rebalances_total", "group" => group.to_owned(), "kind" => kind)
        .increment(1);
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
