//! How far a rebuild is: per topic, the records applied against the records there are (the
//! partitions' end offsets, or the cut it builds to), with a rate and an ETA.

use std::collections::BTreeMap;
use std::time::Instant;

use eventmall_projections::Checkpoint;
use serde::{Deserialize, Serialize};

/// Where a rebuild is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Consuming from the start up to the cut taken when it began.
    Building,
    /// Comparing the new generation with the live one at the same cut.
    Verifying,
    /// Following the log until its lag is under the bound.
    CatchingUp,
    /// Waiting for the new generation to cover every position the live one applied.
    Swapping,
    Done,
}

/// One progress report.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    pub rebuild_id: String,
    pub projector: String,
    pub generation: u32,
    pub phase: Phase,
    pub elapsed_ms: u64,
    pub topics: Vec<TopicProgress>,
}

/// One topic of a rebuild.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicProgress {
    pub topic: String,
    /// Records applied (or passed as dead letters), over its partitions.
    pub applied: i64,
    /// Records to apply: the partitions' end offsets, or the cut.
    pub total: i64,
    pub remaining: i64,
    pub events_per_second: f64,
    /// Seconds left at the current rate; `None` before there is a rate.
    pub eta_seconds: Option<f64>,
}

impl Progress {
    /// Records left over every topic.
    pub fn remaining(&self) -> i64 {
        self.topics.iter().map(|t| t.remaining).sum()
    }
}

/// Turns checkpoints sampled over time into progress reports.
pub(crate) struct Meter {
    started: Instant,
    last: Option<(Instant, BTreeMap<String, i64>)>,
    rates: BTreeMap<String, f64>,
    /// The targets of the last sample that had any, for the phases that have none of their own.
    targets: Vec<(String, i32, i64)>,
}

impl Meter {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            last: None,
            rates: BTreeMap::new(),
            targets: Vec::new(),
        }
    }

    /// Each topic's applied and total records, from the checkpoints and the targets
    /// ((topic, partition, offset): ends or a cut; the last ones when empty); the rates are
    /// smoothed over samples.
    pub(crate) fn sample(
        &mut self,
        checkpoints: &[Checkpoint],
        targets: &[(String, i32, i64)],
    ) -> (u64, Vec<TopicProgress>) {
        if !targets.is_empty() {
            self.targets = targets.to_vec();
        }
        let targets = self.targets.clone();
        let now = Instant::now();
        let mut topics: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (topic, partition, target) in &targets {
            let applied = checkpoints
                .iter()
                .find(|c| &c.topic == topic && c.partition == *partition)
                .map_or(0, |c| c.next_offset.min(*target));
            let entry = topics.entry(topic.clone()).or_default();
            entry.0 += applied;
            entry.1 += target;
        }
        if let Some((then, before)) = &self.last {
            let seconds = now.duration_since(*then).as_secs_f64();
            if seconds > 0.0 {
                for (topic, (applied, _)) in &topics {
                    let moved = (applied - before.get(topic).copied().unwrap_or(0)).max(0);
                    let rate = moved as f64 / seconds;
                    let smoothed = self.rates.entry(topic.clone()).or_insert(rate);
                    *smoothed = 0.7 * *smoothed + 0.3 * rate;
                }
            }
        }
        self.last = Some((
            now,
            topics
                .iter()
                .map(|(t, (applied, _))| (t.clone(), *applied))
                .collect(),
        ));
        let progress = topics
            .into_iter()
            .map(|(topic, (applied, total))| {
                let remaining = (total - applied).max(0);
                let rate = self.rates.get(&topic).copied().unwrap_or(0.0);
                TopicProgress {
                    eta_seconds: (rate > 0.0).then(|| remaining as f64 / rate),
                    events_per_second: (rate * 10.0).round() / 10.0,
                    topic,
                    applied,
                    total,
                    remaining,
                }
            })
            .collect();
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        (elapsed, progress)
    }
}
