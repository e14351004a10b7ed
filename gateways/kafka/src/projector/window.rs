//! How much a projector takes into one transaction. Near the head of its topics it applies
//! small batches, so a write is visible soon (live mode). Far behind, during a rebuild or after
//! an outage, it takes large windows: the read model folds a window in memory, so the last
//! state of each key is written once, and commits once per window (catch-up mode). Either way a
//! window closes early once the records it holds reach the memory budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use tracing::info;

use crate::{Consumed, ProjectorSettings};

/// The mode a projector is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    CatchUp,
}

/// What one window may take before it is applied.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limit {
    pub records: usize,
    pub bytes: usize,
    /// How long the window stays open after its first record.
    pub wait: Duration,
}

/// What a projector is doing, for whoever watches it.
#[derive(Debug, Default)]
pub struct Status {
    catching_up: AtomicBool,
    lag: AtomicI64,
    windows: AtomicU64,
    switches: AtomicU64,
    last_records: AtomicUsize,
    largest_records: AtomicUsize,
    largest_bytes: AtomicUsize,
}

impl Status {
    pub fn mode(&self) -> Mode {
        if self.catching_up.load(Ordering::Relaxed) {
            Mode::CatchUp
        } else {
            Mode::Live
        }
    }

    /// Records between the projector and the ends of its assigned partitions, as of the last
    /// window.
    pub fn lag(&self) -> i64 {
        self.lag.load(Ordering::Relaxed)
    }

    /// Windows applied.
    pub fn windows(&self) -> u64 {
        self.windows.load(Ordering::Relaxed)
    }

    /// Times the projector changed mode.
    pub fn switches(&self) -> u64 {
        self.switches.load(Ordering::Relaxed)
    }

    /// Records in the last window.
    pub fn last_records(&self) -> usize {
        self.last_records.load(Ordering::Relaxed)
    }

    /// Records in the largest window.
    pub fn largest_records(&self) -> usize {
        self.largest_records.load(Ordering::Relaxed)
    }

    /// The memory the largest window was charged, in bytes (see [`charge`]).
    pub fn largest_bytes(&self) -> usize {
        self.largest_bytes.load(Ordering::Relaxed)
    }
}

/// What a record costs a window while it is held: its bytes as consumed, and its decoded event
/// with what the read model folds from it, taken as twice the encoded value.
pub(super) fn charge(record: &Consumed) -> usize {
    let value = record.value.as_ref().map_or(0, Vec::len);
    let headers: usize = record
        .headers
        .iter()
        .map(|(name, value)| size_of::<(String, Vec<u8>)>() + name.len() + value.len())
        .sum();
    size_of::<Consumed>()
        + record.topic.len()
        + record.key.as_ref().map_or(0, Vec::len)
        + value
        + headers
        + size_of::<eventmall_projections::Delivered>()
        + 2 * value
}

/// Chooses each window's limit from how far behind the projector is.
pub(super) struct Windows {
    settings: ProjectorSettings,
    status: Arc<Status>,
    name: &'static str,
}

impl Windows {
    pub fn new(settings: &ProjectorSettings, status: Arc<Status>, name: &'static str) -> Self {
        Self {
            settings: settings.clone(),
            status,
            name,
        }
    }

    pub fn limit(&self) -> Limit {
        let bytes = self.settings.window_bytes();
        match self.status.mode() {
            Mode::Live => Limit {
                records: self.settings.batch_size,
                bytes,
                wait: Duration::from_millis(self.settings.batch_wait_ms),
            },
            Mode::CatchUp => Limit {
                records: self.settings.catch_up_batch_size,
                bytes,
                wait: Duration::from_millis(self.settings.catch_up_wait_ms),
            },
        }
    }

    /// Notes a window of `records` charged `bytes`, taken when the projector was `lag` records
    /// behind, and switches mode: to catch-up beyond the threshold, back to live below half of
    /// it (so a lag near the threshold does not flap).
    pub fn polled(&self, records: usize, bytes: usize, lag: i64) {
        metrics::counter!("eventmall_projector_records_total", "projector" => self.name)
            .increment(records as u64);
        metrics::gauge!("eventmall_projector_lag", "projector" => self.name).set(lag as f64);
        let status = &self.status;
        status.lag.store(lag, Ordering::Relaxed);
        status.windows.fetch_add(1, Ordering::Relaxed);
        status.last_records.store(records, Ordering::Relaxed);
        status.largest_records.fetch_max(records, Ordering::Relaxed);
        status.largest_bytes.fetch_max(bytes, Ordering::Relaxed);
        let threshold = self.settings.catch_up_lag;
        let next = match status.mode() {
            Mode::Live if lag > threshold => Mode::CatchUp,
            Mode::CatchUp if lag < threshold / 2 => Mode::Live,
            same => same,
        };
        if next != status.mode() {
            status
                .catching_up
                .store(next == Mode::CatchUp, Ordering::Relaxed);
            status.switches.fetch_add(1, Ordering::Relaxed);
            info!(projector = self.name, lag, mode = ?next, "projector changed mode");
        }
    }
}

/// How often the ends of the assigned partitions are asked for again.
const ENDS_EVERY: Duration = Duration::from_millis(500);

/// The ends of the assigned partitions as last asked for: between two asks, a lag computed
/// from them can only be short of the truth, never over it.
#[derive(Default)]
pub(super) struct Ends {
    asked: Option<Instant>,
    high: HashMap<(String, i32), i64>,
}

impl Ends {
    /// Records between the consumer's positions and the ends of its assigned partitions.
    pub fn lag<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> i64 {
        let Ok(positions) = consumer.position() else {
            return 0;
        };
        if self.asked.is_none_or(|asked| asked.elapsed() >= ENDS_EVERY) {
            self.asked = Some(Instant::now());
            for element in positions.elements() {
                if let Ok((_, high)) = consumer.fetch_watermarks(
                    element.topic(),
                    element.partition(),
                    Duration::from_secs(1),
                ) {
                    self.high
                        .insert((element.topic().to_owned(), element.partition()), high);
                }
            }
        }
        positions
            .elements()
            .iter()
            .filter_map(|element| {
                let Offset::Offset(position) = element.offset() else {
                    return None;
                };
                let high = self
                    .high
                    .get(&(element.topic().to_owned(), element.partition()))?;
                Some((high - position).max(0))
            })
            .sum()
    }
}
