//! The projector runtime: consumes a projection's topics as its own consumer group, in
//! batches, and applies each batch to the read model together with the batch's offsets, so
//! every event's effect lands exactly once however the projector is stopped or killed.
//!
//! A projector reads on a thread of its own: librdkafka's poll and its rebalance callback
//! (which seeks each assigned partition to the read model's checkpoint) happen there, and so
//! does decoding. A window is applied on the runtime while that thread reads and decodes the
//! next one; one window is applied at a time, and a rebalance waits for the one being applied,
//! so no window is ever in flight while partitions move. Records that cannot be decoded or
//! applied go to the dead letters before the window that passes them commits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apply::{Applier, Window};
use eventmall_projections::{Checkpoint, Projection};
use eventmall_registry::RegisteredCodec;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::dead_letters::DeadLetters;
use crate::{Consumed, ProjectorSettings, Result, client_config};
use until::Tracker;
pub use until::Until;
use window::{Ends, Limit, Windows, charge};
pub use window::{Mode, Status};

mod apply;
mod decode;
mod supervisor;
mod until;
mod window;

pub use supervisor::Supervisor;

pub struct Projector {
    applier: Applier,
    bootstrap_servers: String,
    settings: ProjectorSettings,
    until: Option<Until>,
    status: Arc<Status>,
}

/// Seeks every partition it is given to the read model's checkpoint (or the beginning), once
/// the window being applied is done.
struct Rebalancer {
    projection: Arc<dyn Projection>,
    runtime: Handle,
    /// Held by the window being applied.
    applying: Arc<AsyncMutex<()>>,
}

impl ClientContext for Rebalancer {}

impl ConsumerContext for Rebalancer {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let name = self.projection.name();
        let _applied = self.runtime.block_on(self.applying.lock());
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = match self.runtime.block_on(self.projection.checkpoints()) {
                    Ok(stored) => stored,
                    Err(error) => {
                        // Start from the beginning: each batch's own check against the stored
                        // checkpoints still skips what is applied, only slower.
                        warn!(projector = name, %error, "checkpoints unavailable at assignment");
                        Vec::new()
                    }
                };
                seek_to(partitions, &stored);
                info!(projector = name, assigned = ?positions(partitions), "partitions assigned");
                if let Err(error) = consumer.assign(partitions) {
                    warn!(projector = name, %error, "assignment failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(
                    projector = name,
                    revoked = partitions.count(),
                    "partitions revoked"
                );
                if let Err(error) = consumer.unassign() {
                    warn!(projector = name, %error, "unassignment failed");
                }
            }
            other => warn!(projector = name, error = ?other, "rebalance failed"),
        }
    }
}

/// Sets each partition's offset to its checkpoint, or to the beginning when there is none.
fn seek_to(partitions: &mut TopicPartitionList, stored: &[Checkpoint]) {
    let wanted: Vec<(String, i32, Offset)> = partitions
        .elements()
        .iter()
        .map(|element| {
            let offset = stored
                .iter()
                .find(|c| c.topic == element.topic() && c.partition == element.partition())
                .map_or(Offset::Beginning, |c| Offset::Offset(c.next_offset));
            (element.topic().to_owned(), element.partition(), offset)
        })
        .collect();
    for (topic, partition, offset) in wanted {
        let _ = partitions.set_partition_offset(&topic, partition, offset);
    }
}

fn positions(partitions: &TopicPartitionList) -> Vec<String> {
    partitions
        .elements()
        .iter()
        .map(|e| format!("{}/{}@{:?}", e.topic(), e.partition(), e.offset()))
        .collect()
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
            applier: Applier {
                projection,
                codec,
                dead_letters,
            },
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
        &self.applier.projection
    }

    /// Sends the dead letters to `dead_letters` instead of the cluster it consumes.
    pub fn with_dead_letters(mut self, dead_letters: DeadLetters) -> Self {
        self.applier.dead_letters = dead_letters;
        self
    }

    /// Runs on a thread of its own until `stop` (or, bounded, until it gets there); the window
    /// being applied is finished first.
    pub fn spawn(self, stop: CancellationToken) -> tokio::task::JoinHandle<Result<()>> {
        let runtime = Handle::current();
        tokio::task::spawn_blocking(move || self.run(&runtime, &stop))
    }

    fn consumer(
        &self,
        runtime: &Handle,
        applying: &Arc<AsyncMutex<()>>,
    ) -> Result<BaseConsumer<Rebalancer>> {
        let projection = &self.applier.projection;
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
                applying: applying.clone(),
            })?;
        consumer.subscribe(projection.topics())?;
        Ok(consumer)
    }

    fn run(self, runtime: &Handle, stop: &CancellationToken) -> Result<()> {
        let projection = &self.applier.projection;
        let name = projection.name();
        let applying = Arc::new(AsyncMutex::new(()));
        let consumer = self.consumer(runtime, &applying)?;
        info!(projector = name, generation = %projection.generation(), "projector started");
        let mut bounded = match self.until.clone() {
            Some(until) => Some(Tracker::new(
                until,
                &runtime.block_on(projection.checkpoints())?,
            )),
            None => None,
        };
        let windows = Windows::new(&self.settings, self.status.clone(), name);
        let mut ends = Ends::default();
        let mut in_flight: Option<tokio::task::JoinHandle<Option<Vec<Checkpoint>>>> = None;
        while !stop.is_cancelled() {
            if in_flight.is_none() && bounded.as_ref().is_some_and(Tracker::done) {
                info!(projector = name, "projector got to where it was bounded");
                break;
            }
            // The next window is read and decoded while the one before is applied.
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
            let decoded = runtime.block_on(self.applier.decode(&records));
            if let Some(applied) = in_flight.take() {
                let Some(positions) = settled(runtime, applied) else {
                    break;
                };
                commit_offsets(&consumer, &positions);
                if let Some(tracker) = &mut bounded {
                    tracker.reached(&positions);
                }
            }
            if records.is_empty() {
                continue;
            }
            let turn = runtime.block_on(applying.clone().lock_owned());
            let window = Window { records, decoded };
            in_flight =
                Some(runtime.spawn(self.applier.clone().settle(window, stop.clone(), turn)));
        }
        if let Some(positions) = in_flight.and_then(|applied| settled(runtime, applied)) {
            commit_offsets(&consumer, &positions);
        }
        info!(projector = name, "projector stopped");
        Ok(())
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
                Some(Err(error)) => {
                    debug!(projector = self.applier.projection.name(), %error, "poll")
                }
                None if deadline.is_none() => return (records, bytes),
                None => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        (records, bytes)
    }
}

/// The positions a window moved to once it is applied; `None` when it was abandoned (stopped).
fn settled(
    runtime: &Handle,
    applied: tokio::task::JoinHandle<Option<Vec<Checkpoint>>>,
) -> Option<Vec<Checkpoint>> {
    match runtime.block_on(applied) {
        Ok(positions) => positions,
        Err(error) => {
            warn!(%error, "a window's task ended without an answer");
            None
        }
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
