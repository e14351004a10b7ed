//! The projector runtime: consumes a projection's topics as its own consumer group, in
//! batches, and applies each batch to the read model together with the batch's offsets, so
//! every event's effect lands exactly once however the projector is stopped or killed.
//!
//! A projector runs on a thread of its own: librdkafka's poll, its rebalance callback (which
//! seeks each assigned partition to the read model's checkpoint) and the batch all happen in
//! order there, so no batch is ever in flight while partitions move. Records that cannot be
//! decoded or applied go to the dead letters before the batch that passes them commits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventmall_events::DeadLetter;
use eventmall_projections::projection::Fault;
use eventmall_projections::{Batch, Checkpoint, Delivered, Projection};
use eventmall_registry::RegisteredCodec;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, instrument, warn};

use crate::dead_letters::{DeadLetters, refused};
use crate::{Consumed, Error, ProjectorSettings, Result, client_config};
use decode::{Undecoded, decode};
use rebalance::Rebalancer;
use until::Tracker;
pub use until::Until;
use window::{Ends, Limit, Windows, charge};
pub use window::{Mode, Status};

pub(crate) mod decode;
mod rebalance;
mod supervisor;
mod until;
mod window;

pub use supervisor::Supervisor;

/// The longest wait between retries of a batch while the read model's store is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Projector {
    projection: Arc<dyn Projection>,
    codec: RegisteredCodec,
    dead_letters: DeadLetters,
    bootstrap_servers: String,
    settings: ProjectorSettings,
    until: Option<Until>,
    status: Arc<Status>,
}

impl Projector {
    pub fn new(
        projection: Arc<dyn Projection>,
        codec: RegisteredCodec,
        bootstrap_servers: &str,
        settings: &ProjectorSettings,
    ) -> Result<Self> {
        let dead_letters = DeadLetters::new(bootstrap_servers)?;
        Ok(Self {
            projection,
            codec,
            dead_letters,
            bootstrap_servers: bootstrap_servers.to_owned(),
            settings: settings.clone(),
            until: None,
            status: Arc::default(),
        })
    }

    /// What it is doing: its mode, its lag and the windows it applied.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// Stops by itself once every partition got to `until`, applying nothing past it.
    pub fn until(mut self, until: Until) -> Self {
        self.until = Some(until);
        self
    }

    pub fn projection(&self) -> &Arc<dyn Projection> {
        &self.projection
    }

    /// Sends the dead letters to `dead_letters` instead of the cluster it consumes.
    pub fn with_dead_letters(mut self, dead_letters: DeadLetters) -> Self {
        self.dead_letters = dead_letters;
        self
    }

    /// Runs on a thread of its own until `stop` (or, bounded, until it gets there); the batch
    /// in hand is finished first.
    pub fn spawn(self, stop: CancellationToken) -> tokio::task::JoinHandle<Result<()>> {
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || self.run(&runtime, &stop))
    }

    fn consumer(&self, runtime: &Handle) -> Result<BaseConsumer<Rebalancer>> {
        let projection = &self.projection;
        let consumer: BaseConsumer<Rebalancer> = client_config(&self.bootstrap_servers)
            .set("group.id", projection.group_id())
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // Eager assignment: the rebalance callback assigns whole, seeked partition lists.
            .set("partition.assignment.strategy", "range,roundrobin")
            .set("fetch.wait.max.ms", "25")
            .set(
                "queued.max.messages.kbytes",
                self.settings.prefetch_kbytes().to_string(),
            )
            .set(
                "session.timeout.ms",
                self.settings.session_timeout_ms.to_string(),
            )
            .create_with_context(Rebalancer {
                projection: projection.clone(),
                runtime: runtime.clone(),
            })?;
        consumer.subscribe(projection.topics())?;
        Ok(consumer)
    }

    fn run(self, runtime: &Handle, stop: &CancellationToken) -> Result<()> {
        let name = self.projection.name();
        let consumer = self.consumer(runtime)?;
        info!(projector = name, generation = %self.projection.generation(), "projector started");
        let mut bounded = match self.until.clone() {
            Some(until) => Some(Tracker::new(
                until,
                &runtime.block_on(self.projection.checkpoints())?,
            )),
            None => None,
        };
        let windows = Windows::new(&self.settings, self.status.clone(), name);
        let mut ends = Ends::default();
        while !stop.is_cancelled() {
            if bounded.as_ref().is_some_and(Tracker::done) {
                info!(projector = name, "projector got to where it was bounded");
                break;
            }
            let limit = windows.limit();
            let (mut records, bytes) = self.poll_window(&consumer, limit);
            if !records.is_empty() {
                // A window that closed before it filled found nothing more to take: the
                // projector is at the head, and the broker need not be asked.
                let full = records.len() >= limit.records || bytes >= limit.bytes;
                let lag = if full { ends.lag(&consumer) } else { 0 };
                windows.polled(records.len(), bytes, lag);
            }
            if let Some(tracker) = &mut bounded {
                records = tracker.keep(records, &consumer);
            }
            if records.is_empty() {
                continue;
            }
            let Some(positions) = self.settle(runtime, &records, stop) else {
                break;
            };
            commit_offsets(&consumer, &positions);
            applied(name, &records);
            if let Some(tracker) = &mut bounded {
                tracker.reached(&positions);
            }
        }
        info!(projector = name, "projector stopped");
        Ok(())
    }

    /// Applies `records`, retrying while the read model's store fails; `None` when stopped
    /// first. The consumer is not polled meanwhile, so the batch in hand is the one retried and
    /// nothing past it is read: however long the store is down, no record is skipped.
    fn settle(
        &self,
        runtime: &Handle,
        records: &[Consumed],
        stop: &CancellationToken,
    ) -> Option<Vec<Checkpoint>> {
        let name = self.projection.name();
        let span = batch_span(name, records);
        let mut backoff = Duration::from_millis(100);
        loop {
            // A stop abandons the batch wherever it is (a dead-letter send may take until the
            // producer gives up): nothing uncommitted counts, and the checkpoints say where to
            // resume.
            let applied = runtime.block_on(async {
                tokio::select! {
                    () = stop.cancelled() => None,
                    applied = self.isolating(records).instrument(span.clone()) => Some(applied),
                }
            });
            match applied {
                None => return None,
                Some(Ok(positions)) => return Some(positions),
                Some(Err(error)) => {
                    warn!(projector = name, %error, ?backoff, "batch not applied; retrying it");
                }
            }
            let waited = runtime.block_on(async {
                tokio::select! {
                    () = stop.cancelled() => false,
                    () = tokio::time::sleep(backoff) => true,
                }
            });
            if !waited {
                return None;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Applies `records`; when the read model says the data is at fault, splits them in halves
    /// until the one record at fault is found, sends it to the dead letters with the read
    /// model's reason and applies the rest. A failure of the store is returned, to be retried.
    async fn isolating(&self, records: &[Consumed]) -> Result<Vec<Checkpoint>> {
        let error = match self.process(records, None).await {
            Err(Error::ReadModel(error)) if error.fault() == Fault::Data => error,
            other => return other,
        };
        if let [record] = records {
            warn!(
                projector = self.projection.name(),
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
                %error,
                "the read model cannot apply this record"
            );
            return self.process(records, Some(error.to_string())).await;
        }
        let (first, second) = records.split_at(records.len() / 2);
        let mut positions = Box::pin(self.isolating(first)).await?;
        positions.extend(Box::pin(self.isolating(second)).await?);
        Ok(positions)
    }

    /// Waits for a first record, then takes what follows until the window's limit or its wait
    /// runs out; answers the records and what they were charged.
    fn poll_window(
        &self,
        consumer: &BaseConsumer<Rebalancer>,
        limit: Limit,
    ) -> (Vec<Consumed>, usize) {
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut deadline: Option<Instant> = None;
        while records.len() < limit.records && bytes < limit.bytes {
            let timeout = match deadline {
                None => Duration::from_millis(100),
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            };
            match consumer.poll(timeout) {
                Some(Ok(message)) => {
                    let record = Consumed::from(&message);
                    bytes += charge(&record);
                    records.push(record);
                    deadline.get_or_insert_with(|| Instant::now() + limit.wait);
                }
                Some(Err(error)) => debug!(projector = self.projection.name(), %error, "poll"),
                None if deadline.is_none() => return (records, bytes),
                None => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        (records, bytes)
    }

    /// Decodes, applies, dead-letters and commits one batch; answers the new positions. With
    /// `refused`, every record is poison for that reason and only the positions move.
    #[instrument(skip_all, fields(projector = self.projection.name(), records = records.len()))]
    async fn process(
        &self,
        records: &[Consumed],
        refused: Option<String>,
    ) -> Result<Vec<Checkpoint>> {
        // Per partition: the next offset and the highest store position passed.
        let mut positions: BTreeMap<(&str, i32), (i64, i64)> = BTreeMap::new();
        let mut batch = Batch::default();
        let mut poison: Vec<(usize, String)> = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let stored_at = record
                .header("global_position")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let entry = positions
                .entry((&record.topic, record.partition))
                .or_insert((0, 0));
            *entry = (record.offset + 1, entry.1.max(stored_at));
            if let Some(reason) = &refused {
                poison.push((index, reason.clone()));
                continue;
            }
            match decode(record, &self.codec).await {
                Ok(envelope) => batch.events.push(Delivered {
                    topic: record.topic.clone(),
                    partition: record.partition,
                    offset: record.offset,
                    envelope,
                    record: index,
                }),
                Err(Undecoded::Poison(reason)) => poison.push((index, reason)),
                // Not the record's fault: the batch is retried.
                Err(Undecoded::Unavailable(error)) => return Err(Error::Codec(error)),
            }
        }
        batch.positions = positions
            .into_iter()
            .map(|((topic, partition), (next_offset, position))| Checkpoint {
                topic: topic.to_owned(),
                partition,
                next_offset,
                position,
            })
            .collect();
        // Dead letters are sent with no transaction open (on PostgreSQL an open one would hold
        // back the relay's gap-safe reads): a batch that refuses records is rolled back, its
        // letters sent, and prepared again.
        let mut sent = BTreeSet::new();
        let started = Instant::now();
        let prepared = loop {
            let prepared = self.projection.prepare(&batch).await?;
            let letters: Vec<(usize, String)> = poison
                .iter()
                .cloned()
                .chain(
                    prepared
                        .refused
                        .iter()
                        .map(|(event, reason)| (batch.events[*event].record, reason.clone())),
                )
                // A record below the checkpoint was dead-lettered when it was first passed.
                .filter(|(index, _)| {
                    let record = &records[*index];
                    let key = (record.topic.clone(), record.partition);
                    record.offset >= prepared.before.get(&key).copied().unwrap_or(0)
                })
                .filter(|(index, _)| !sent.contains(index))
                .collect();
            if letters.is_empty() {
                break prepared;
            }
            prepared.rollback.await?;
            self.send_dead_letters(records, &letters).await?;
            sent.extend(letters.into_iter().map(|(index, _)| index));
        };
        let prepared_in = started.elapsed();
        prepared.commit.await?;
        debug!(
            projector = self.projection.name(),
            records = records.len(),
            dead_letters = sent.len(),
            prepared_ms = prepared_in.as_millis(),
            committed_ms = (started.elapsed() - prepared_in).as_millis(),
            "batch committed"
        );
        Ok(batch.positions)
    }

    async fn send_dead_letters(
        &self,
        records: &[Consumed],
        letters: &[(usize, String)],
    ) -> Result<()> {
        let stage = self.projection.name();
        let letters: Vec<DeadLetter> = letters
            .iter()
            .map(|(index, reason)| {
                let record = &records[*index];
                warn!(
                    projector = stage,
                    topic = %record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    %reason,
                    "record sent to the dead letters"
                );
                refused(record, stage, reason)
            })
            .collect();
        self.dead_letters.send(letters).await
    }
}

/// Tells the group where the projector is, for tools that watch group lag; the read model's
/// checkpoints stay the truth.
fn commit_offsets(consumer: &BaseConsumer<Rebalancer>, positions: &[Checkpoint]) {
    let mut list = TopicPartitionList::new();
    for position in positions {
        let _ = list.add_partition_offset(
            &position.topic,
            position.partition,
            Offset::Offset(position.next_offset),
        );
    }
    if let Err(error) = consumer.commit(&list, CommitMode::Async) {
        debug!(%error, "group offsets not committed");
    }
}

/// Links a batch's span carries at most (the OpenTelemetry SDK's default limit).
const LINKS_PER_BATCH: usize = 128;

/// A batch's consumer span (OpenTelemetry's messaging conventions): a trace of its own, linked
/// to the producer span of each record in it, up to [`LINKS_PER_BATCH`].
fn batch_span(projector: &'static str, records: &[Consumed]) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = format!("process {projector}"),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.consumer.group.name = projector,
        messaging.batch.message_count = records.len(),
    );
    let traceparents = records.iter().map(|record| record.header("traceparent"));
    eventmall_telemetry::link_to(&span, traceparents.take(LINKS_PER_BATCH));
    span
}

/// Counts the records of a settled batch by partition: the apply rate, per partition.
fn applied(projector: &'static str, records: &[Consumed]) {
    let mut counts: BTreeMap<(&str, i32), u64> = BTreeMap::new();
    for record in records {
        *counts.entry((&record.topic, record.partition)).or_default() += 1;
    }
    for ((topic, partition), count) in counts {
        let labels = [
            ("projector", projector.to_owned()),
            ("topic", topic.to_owned()),
            ("partition", partition.to_string()),
        ];
        metrics::counter!("eventmall_projector_applied_total", &labels).increment(count);
    }
}
