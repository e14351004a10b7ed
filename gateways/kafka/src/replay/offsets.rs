//! `replay reset-offsets`: a consumer group's positions moved, with the semantics of
//! `kafka-consumer-groups --reset-offsets`. A dry run by default (the plan: partition, current
//! offset, new offset); refused while the group has active members. For a projector's group the
//! truth is the checkpoint stored with its read model: that is what is reset, and the group's
//! committed offsets follow it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use eventmall_projections::Checkpoint;
use eventmall_read_models::{NAMES, ReadModel, generations};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use super::{KAFKA_TIMEOUT, Replay};
use crate::{Error, Result, client_config};

/// Where to move each partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    Datetime(DateTime<Utc>),
}

/// One partition of a plan.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedOffset {
    pub topic: String,
    pub partition: i32,
    /// Where the group stands; `None` when it has no position there yet.
    pub current: Option<i64>,
    pub new: i64,
}

/// How `--to-datetime` found its offsets.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Timestamps {
    NotUsed,
    /// The broker's ListOffsets by timestamp, checked against the records around it.
    ListOffsets,
    /// The records' own timestamps, read from the start of each partition, because the
    /// broker's answer did not hold.
    RecordScan {
        reason: String,
    },
}

/// What a reset would do, or did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OffsetPlan {
    pub group: String,
    /// The projector and generation whose group it is, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    /// What holds the group's true position: `read-model checkpoints` or `group offsets`.
    pub truth: &'static str,
    pub partitions: Vec<PlannedOffset>,
    pub timestamps: Timestamps,
    pub executed: bool,
    /// What `--execute` changed.
    pub changed: Vec<String>,
}

impl Replay {
    /// Plans the reset of `group` (on `topic`, else every topic it reads) and, with `execute`,
    /// applies it.
    pub async fn reset_offsets(
        &self,
        group: &str,
        topic: Option<&str>,
        to: ResetTo,
        execute: bool,
    ) -> Result<OffsetPlan> {
        let owner = self.projector_of(group).await?;
        let topics: Vec<String> = match (&owner, topic) {
            (_, Some(topic)) => vec![topic.to_owned()],
            (Some(read_model), None) => read_model
                .projection()
                .topics()
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            (None, None) => {
                return Err(Error::Replay(format!(
                    "{group} is no projector's group: name its topic with --topic"
                )));
            }
        };
        let current = match &owner {
            Some(read_model) => read_model
                .projection()
                .checkpoints()
                .await?
                .into_iter()
                .map(|c| ((c.topic, c.partition), c.next_offset))
                .collect(),
            None => self.committed(group, &topics).await?,
        };
        let (partitions, timestamps) = self.plan(&topics, &current, to).await?;
        let mut plan = OffsetPlan {
            group: group.to_owned(),
            projector: owner.as_ref().map(|r| r.projection().name().to_owned()),
            generation: owner.as_ref().map(|r| r.projection().generation().0),
            truth: match owner {
                Some(_) => "read-model checkpoints",
                None => "group offsets",
            },
            partitions,
            timestamps,
            executed: false,
            changed: Vec::new(),
        };
        if !execute {
            return Ok(plan);
        }
        if let Some(state) = self.group_state(group).await?
            && !matches!(state.as_str(), "Empty" | "Dead")
        {
            return Err(Error::Replay(format!(
                "group {group} has active members (it is {state}): stop its consumers first"
            )));
        }
        if let Some(read_model) = &owner {
            let moved: Vec<Checkpoint> = plan
                .partitions
                .iter()
                .map(|p| Checkpoint {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    next_offset: p.new,
                    position: 0,
                })
                .collect();
            read_model.reset_checkpoints(&moved).await?;
            plan.changed.push(format!(
                "the checkpoints of {} {} in the read models",
                read_model.projection().name(),
                read_model.projection().generation()
            ));
        }
        self.commit_group(group, &plan.partitions).await?;
        plan.changed
            .push(format!("the committed offsets of group {group}"));
        plan.executed = true;
        Ok(plan)
    }

    /// The read model whose consumer group `group` is, at its generation.
    async fn projector_of(&self, group: &str) -> Result<Option<ReadModel>> {
        for name in NAMES {
            for row in generations::list(&self.stores.pool, &self.stores.key(name)).await? {
                if self.stores.group_id(name, row.generation) == group {
                    return Ok(Some(self.stores.open(name, row.generation).await?));
                }
            }
        }
        Ok(None)
    }

    async fn committed(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<std::collections::BTreeMap<(String, i32), i64>> {
        let consumer = self.group_client(group)?;
        let topics = topics.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut list = TopicPartitionList::new();
            for topic in &topics {
                let metadata = consumer.fetch_metadata(Some(topic), KAFKA_TIMEOUT)?;
                for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                    list.add_partition(topic, partition.id());
                }
            }
            let committed = consumer.committed_offsets(list, KAFKA_TIMEOUT)?;
            Ok::<_, Error>(
                committed
                    .elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(offset) => {
                            Some(((e.topic().to_owned(), e.partition()), offset))
                        }
                        _ => None,
                    })
                    .collect(),
            )
        })
        .await?
    }

    fn group_client(&self, group: &str) -> Result<BaseConsumer> {
        Ok(client_config(&self.bootstrap_servers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?)
    }

    async fn commit_group(&self, group: &str, partitions: &[PlannedOffset]) -> Result<()> {
        let consumer = self.group_client(group)?;
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition_offset(&p.topic, p.partition, Offset::Offset(p.new))?;
        }
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync)).await??;
        Ok(())
    }

    async fn plan(
        &self,
        topics: &[String],
        current: &std::collections::BTreeMap<(String, i32), i64>,
        to: ResetTo,
    ) -> Result<(Vec<PlannedOffset>, Timestamps)> {
        let kafka = self.kafka.clone();
        let servers = self.bootstrap_servers.clone();
        let topics = topics.to_vec();
        let current = current.clone();
        tokio::task::spawn_blocking(move || {
            let mut planned = Vec::new();
            let mut partitions = Vec::new();
            for topic in &topics {
                let metadata = kafka.fetch_metadata(Some(topic), KAFKA_TIMEOUT)?;
                let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                    return Err(Error::NoSuchTopic(topic.clone()));
                };
                if found.partitions().is_empty() {
                    return Err(Error::NoSuchTopic(topic.clone()));
                }
                for partition in found.partitions() {
                    let (low, high) =
                        kafka.fetch_watermarks(topic, partition.id(), KAFKA_TIMEOUT)?;
                    partitions.push((topic.clone(), partition.id(), low, high));
                }
            }
            let (at_time, timestamps) = match to {
                ResetTo::Datetime(at) => {
                    let (offsets, how) = offsets_at(&kafka, &servers, &partitions, at)?;
                    (offsets, how)
                }
                _ => (Vec::new(), Timestamps::NotUsed),
            };
            for (index, (topic, partition, low, high)) in partitions.iter().enumerate() {
                let now = current.get(&(topic.clone(), *partition)).copied();
                let new = match to {
                    ResetTo::Earliest => *low,
                    ResetTo::Latest => *high,
                    ResetTo::Offset(offset) => offset,
                    ResetTo::ShiftBy(by) => now.unwrap_or(*low).saturating_add(by),
                    ResetTo::Datetime(_) => at_time.get(index).copied().unwrap_or(*high),
                }
                .clamp(*low, *high);
                planned.push(PlannedOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    current: now,
                    new,
                });
            }
            Ok((planned, timestamps))
        })
        .await?
    }
}

/// The first offset at or after `at` in each partition: the broker's ListOffsets by timestamp
/// when its answers hold against the records on either side, else found from the records'
/// timestamps.
fn offsets_at(
    kafka: &BaseConsumer,
    servers: &str,
    partitions: &[(String, i32, i64, i64)],
    at: DateTime<Utc>,
) -> Result<(Vec<i64>, Timestamps)> {
    let millis = at.timestamp_millis();
    let mut asked = TopicPartitionList::new();
    for (topic, partition, _, _) in partitions {
        asked.add_partition_offset(topic, *partition, Offset::Offset(millis))?;
    }
    let answer = kafka.offsets_for_times(asked, KAFKA_TIMEOUT);
    let mut listed = Vec::new();
    let mut doubt: Option<String> = None;
    match answer {
        Err(error) => doubt = Some(format!("ListOffsets by timestamp failed: {error}")),
        Ok(answer) => {
            for (topic, partition, low, high) in partitions {
                let offset = match answer.find_partition(topic, *partition).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset,
                    _ => *high,
                };
                let holds = (offset >= *high
                    || timestamp_at(servers, topic, *partition, offset)?
                        .is_some_and(|t| t >= millis))
                    && (offset <= *low
                        || timestamp_at(servers, topic, *partition, offset - 1)?
                            .is_some_and(|t| t < millis));
                if !holds && doubt.is_none() {
                    doubt = Some(format!(
                        "the broker answered offset {offset} in {topic}/{partition}, where the \
                         records' timestamps disagree"
                    ));
                }
                listed.push(offset);
            }
        }
    }
    let Some(reason) = doubt else {
        return Ok((listed, Timestamps::ListOffsets));
    };
    let mut scanned = Vec::with_capacity(partitions.len());
    for (topic, partition, low, high) in partitions {
        scanned.push(scan(servers, topic, *partition, *low, *high, millis)?);
    }
    Ok((scanned, Timestamps::RecordScan { reason }))
}

/// A consumer reading `partition` of `topic` from `offset`, outside any group.
fn reader(servers: &str, topic: &str, partition: i32, offset: i64) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = client_config(servers)
        .set("group.id", "eventmall-replay-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&list)?;
    Ok(consumer)
}

/// The timestamp of the record at `offset`, if there is one.
fn timestamp_at(servers: &str, topic: &str, partition: i32, offset: i64) -> Result<Option<i64>> {
    let consumer = reader(servers, topic, partition, offset)?;
    let deadline = Instant::now() + KAFKA_TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) if message.offset() == offset => {
                return Ok(message.timestamp().to_millis());
            }
            Some(Ok(_)) | None => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
    Err(Error::Timeout("a record at an offset"))
}

/// The first offset in `low..high` whose record's timestamp is at or after `millis`.
fn scan(
    servers: &str,
    topic: &str,
    partition: i32,
    low: i64,
    high: i64,
    millis: i64,
) -> Result<i64> {
    if low >= high {
        return Ok(high);
    }
    let consumer = reader(servers, topic, partition, low)?;
    let mut idle = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                idle = Instant::now();
                if message.timestamp().to_millis().is_some_and(|t| t >= millis) {
                    return Ok(message.offset());
                }
                if message.offset() + 1 >= high {
                    return Ok(high);
                }
            }
            Some(Err(error)) => return Err(error.into()),
            None if idle.elapsed() > KAFKA_TIMEOUT => {
                return Err(Error::Timeout("a partition scan"));
            }
            None => {}
        }
    }
}
