//! Where a bounded run stops: a cut (each partition's next offset, as a live generation's
//! checkpoints or the topics' ends name it), optionally also a store position. A rebuild's
//! first stretch and a verify's scratch copy run to one; a projector that follows the log
//! has none.

use std::collections::BTreeMap;

use eventmall_projections::Checkpoint;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::Consumer;

use crate::Consumed;

/// The end of a bounded run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Until {
    /// Each partition's offset to stop at (exclusive); a partition not named has nothing to
    /// apply.
    pub cut: BTreeMap<(String, i32), i64>,
    /// Apply no record stored after this position (`global_position` header).
    pub position: Option<i64>,
}

impl Until {
    /// A cut at `checkpoints`: what a generation that stands there has applied.
    pub fn at(checkpoints: &[Checkpoint]) -> Self {
        Self {
            cut: checkpoints
                .iter()
                .map(|c| ((c.topic.clone(), c.partition), c.next_offset))
                .collect(),
            position: None,
        }
    }

    /// A cut at the ends of the partitions: (topic, partition, end offset).
    pub fn ends(ends: &[(String, i32, i64)]) -> Self {
        Self {
            cut: ends
                .iter()
                .map(|(topic, partition, end)| ((topic.clone(), *partition), *end))
                .collect(),
            position: None,
        }
    }
}

/// A bounded run's way there: where each partition stands, and which have passed the position.
pub(super) struct Tracker {
    until: Until,
    reached: BTreeMap<(String, i32), i64>,
    passed: BTreeMap<(String, i32), bool>,
}

impl Tracker {
    pub(super) fn new(until: Until, checkpoints: &[Checkpoint]) -> Self {
        let reached = checkpoints
            .iter()
            .map(|c| ((c.topic.clone(), c.partition), c.next_offset))
            .collect();
        Self {
            until,
            reached,
            passed: BTreeMap::new(),
        }
    }

    /// Whether every partition of the cut is there (or past the position).
    pub(super) fn done(&self) -> bool {
        self.until
            .cut
            .iter()
            .all(|(key, cut)| self.finished(key, *cut))
    }

    fn finished(&self, key: &(String, i32), cut: i64) -> bool {
        self.reached.get(key).copied().unwrap_or(0) >= cut
            || self.passed.get(key).copied().unwrap_or(false)
    }

    /// The records of `records` inside the bounds; partitions that got to their bound are
    /// paused, so the consumer fetches nothing more for them.
    pub(super) fn keep<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
        &mut self,
        records: Vec<Consumed>,
        consumer: &C,
    ) -> Vec<Consumed> {
        let mut kept = Vec::with_capacity(records.len());
        let mut stopped = TopicPartitionList::new();
        for record in records {
            let key = (record.topic.clone(), record.partition);
            let cut = self.until.cut.get(&key).copied().unwrap_or(0);
            let past_position = self.until.position.is_some_and(|bound| {
                record
                    .header("global_position")
                    .and_then(|p| p.parse::<i64>().ok())
                    .is_some_and(|position| position > bound)
            });
            if past_position {
                self.passed.insert(key.clone(), true);
            }
            if record.offset >= cut || past_position || self.finished(&key, cut) {
                stopped.add_partition(&record.topic, record.partition);
                continue;
            }
            kept.push(record);
        }
        if stopped.count() > 0 {
            let _ = consumer.pause(&stopped);
        }
        kept
    }

    /// Notes the positions a batch committed.
    pub(super) fn reached(&mut self, positions: &[Checkpoint]) {
        for position in positions {
            let reached = self
                .reached
                .entry((position.topic.clone(), position.partition))
                .or_insert(0);
            *reached = (*reached).max(position.next_offset);
        }
    }
}
