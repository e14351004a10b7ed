//! The replay tooling: blue/green rebuilds of a read model from the log, with progress, resume
//! after a kill and one rebuild per projection at a time (a lease); the swap of the serving
//! generation, rollback and garbage collection; a verify that compares the live generation with
//! a scratch rebuild at the same cut; offset resets; and republishing stored events.
//!
//! The serving pointer is the `live` generation row in the read models' database. API processes
//! follow it (`Serving::refresh`) and projector roles follow every ready, live and retired
//! generation (`Supervisor`), so nothing here talks to another process directly.

mod offsets;
mod progress;
mod rebuild;
mod republish;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use eventmall_projections::{Checkpoint, Generation, Projection};
use eventmall_read_models::Stores;
use eventmall_read_models::generations::{self, GenerationRow, GenerationState};
use eventmall_read_models::replays::{self, RebuildRow};
use eventmall_registry::RegisteredCodec;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;
use tracing::info;

pub use offsets::{OffsetPlan, PlannedOffset, ResetTo, Timestamps};
pub use progress::{Phase, Progress, TopicProgress};
pub use rebuild::{Began, Outcome, RebuildOptions, Rebuilt, SwapMode};
pub use republish::{Republished, republish};
pub use verify::Verified;

use crate::client::partition_ends_blocking;
use crate::{Error, ProjectorSettings, ReplaySettings, Result, client_config};

/// How long Kafka metadata, watermark and group requests may take.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Replay {
    stores: Stores,
    codec: RegisteredCodec,
    bootstrap_servers: String,
    runtime: ProjectorSettings,
    settings: ReplaySettings,
    kafka: Arc<BaseConsumer>,
}

/// A swap or a rollback: which generation serves now, and which it replaced.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Swapped {
    pub projector: String,
    pub serving: u32,
    pub replaced: u32,
}

/// What a garbage collection dropped.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Collected {
    pub projector: String,
    pub generation: u32,
    pub state: GenerationState,
    pub group_id: String,
    /// Whether the broker deleted the consumer group; when not, why.
    pub group_deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_error: Option<String>,
}

/// A projection's generations and recent rebuilds.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Generations {
    pub projector: String,
    pub generations: Vec<GenerationRow>,
    pub rebuilds: Vec<RebuildRow>,
}

impl Replay {
    /// The last `per_partition` records of each partition of `topic`, decoded as `events tail`
    /// prints them: what an operator looks at to see what just happened.
    pub async fn latest(&self, topic: &str, per_partition: i64) -> Result<Vec<serde_json::Value>> {
        let options = crate::tail::TailOptions {
            topic: topic.to_owned(),
            from_beginning: false,
            follow: false,
            partition: None,
            last: Some(per_partition),
        };
        let mut out = Vec::new();
        crate::tail::tail(&self.bootstrap_servers, &self.codec, &options, &mut out).await?;
        Ok(out
            .split(|byte| *byte == b'\n')
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect())
    }

    pub fn new(
        stores: Stores,
        codec: RegisteredCodec,
        bootstrap_servers: &str,
        runtime: &ProjectorSettings,
        settings: &ReplaySettings,
    ) -> Result<Self> {
        let kafka = client_config(bootstrap_servers)
            .set("group.id", "eventmall-replay")
            .create::<BaseConsumer>()?;
        Ok(Self {
            stores,
            codec,
            bootstrap_servers: bootstrap_servers.to_owned(),
            runtime: runtime.clone(),
            settings: settings.clone(),
            kafka: Arc::new(kafka),
        })
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    pub fn settings(&self) -> &ReplaySettings {
        &self.settings
    }

    /// The end offset of each partition of `topics`.
    async fn ends(&self, topics: &[&'static str]) -> Result<Vec<(String, i32, i64)>> {
        partition_ends_blocking(self.kafka.clone(), topics, KAFKA_TIMEOUT).await
    }

    /// A projection's generations and its latest rebuilds.
    pub async fn generations(&self, name: &str) -> Result<Generations> {
        let key = self.stores.key(Stores::known(name)?);
        generations::live(&self.stores.pool, &key).await?;
        Ok(Generations {
            generations: generations::list(&self.stores.pool, &key).await?,
            rebuilds: replays::rebuilds(&self.stores.pool, &key, 10).await?,
            projector: key,
        })
    }

    /// Makes `to` (by default the newest ready generation) serve, once it is within the lag
    /// bound and covers every position the live generation applied.
    pub async fn swap(&self, name: &str, to: Option<Generation>) -> Result<Swapped> {
        let name = Stores::known(name)?;
        let key = self.stores.key(name);
        let pool = &self.stores.pool;
        let to = match to {
            Some(to) => to,
            None => generations::list(pool, &key)
                .await?
                .into_iter()
                .rev()
                .find(|row| row.state == GenerationState::Ready)
                .map(|row| row.generation)
                .ok_or_else(|| {
                    Error::Replay(format!("{name} has no ready generation to swap in"))
                })?,
        };
        let projection = self.stores.open(name, to).await?.projection();
        let ends = self.ends(projection.topics()).await?;
        let lag = lag(&projection.checkpoints().await?, &ends);
        if lag > self.settings.lag_bound {
            return Err(Error::Replay(format!(
                "{name} {to} is {lag} records behind, over the bound of {}; wait for it to catch up",
                self.settings.lag_bound
            )));
        }
        self.cover_live(name, projection.as_ref()).await?;
        let replaced = generations::swap(pool, &key, to).await??;
        info!(projector = %key, serving = %to, %replaced, "swapped");
        Ok(Swapped {
            projector: key,
            serving: to.0,
            replaced: replaced.0,
        })
    }

    /// Waits, up to the swap timeout, until `candidate` has applied at least what the live
    /// generation has: a consistency token the live one satisfied is satisfied by it too.
    async fn cover_live(&self, name: &'static str, candidate: &dyn Projection) -> Result<()> {
        let live = generations::live(&self.stores.pool, &self.stores.key(name)).await?;
        let live = self.stores.open(name, live).await?.projection();
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.settings.swap_timeout_ms);
        loop {
            let applied = live.checkpoints().await?;
            let behind = behind(&candidate.checkpoints().await?, &applied);
            if behind.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Replay(format!(
                    "{name} {} did not get to where the live {} is within {} ms: {}",
                    candidate.generation(),
                    live.generation(),
                    self.settings.swap_timeout_ms,
                    behind.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes the newest retired generation below the live one serve again. It kept following
    /// the log, so it is as fresh as the one it replaces.
    pub async fn rollback(&self, name: &str) -> Result<Swapped> {
        let key = self.stores.key(Stores::known(name)?);
        let pool = &self.stores.pool;
        let previous = generations::previous(pool, &key).await??;
        let replaced = generations::swap(pool, &key, previous).await??;
        info!(projector = %key, serving = %previous, %replaced, "rolled back");
        Ok(Swapped {
            projector: key,
            serving: previous.0,
            replaced: replaced.0,
        })
    }

    /// Drops the retired generations but the newest `keep`, and any stopped or scratch one no
    /// rebuild holds: their rows and checkpoints, their tables or index directories, and their
    /// consumer groups.
    pub async fn gc(&self, name: &str, keep: usize) -> Result<Vec<Collected>> {
        let name = Stores::known(name)?;
        let key = self.stores.key(name);
        let pool = &self.stores.pool;
        let held = replays::rebuilds(pool, &key, 10)
            .await?
            .into_iter()
            .filter(|row| row.state == "running")
            .map(|row| row.generation)
            .collect::<Vec<_>>();
        let rows = generations::list(pool, &key).await?;
        let retired: Vec<&GenerationRow> = rows
            .iter()
            .rev()
            .filter(|row| row.state == GenerationState::Retired)
            .skip(keep)
            .collect();
        let leftovers = rows.iter().filter(|row| {
            matches!(
                row.state,
                GenerationState::Stopped | GenerationState::Scratch
            ) && !held.contains(&row.generation)
        });
        let mut collected = Vec::new();
        for row in retired.into_iter().chain(leftovers) {
            collected.push(
                self.drop_generation(name, row.generation, row.state)
                    .await?,
            );
        }
        Ok(collected)
    }

    /// Forgets a generation, waits for the projector roles to stop following it, then drops
    /// its storage and its consumer group.
    async fn drop_generation(
        &self,
        name: &'static str,
        generation: Generation,
        state: GenerationState,
    ) -> Result<Collected> {
        generations::forget(&self.stores.pool, &self.stores.key(name), generation).await?;
        let group_id = self.stores.group_id(name, generation);
        // The supervisors look every few seconds; a killed member leaves at its session timeout.
        let wait = crate::projector::Supervisor::LOOK_EVERY * 2
            + Duration::from_millis(self.runtime.session_timeout_ms);
        let emptied = self.wait_group_empty(&group_id, wait).await;
        self.stores.drop_storage(name, generation).await?;
        let deleted = match emptied {
            Ok(()) => self.delete_group(&group_id).await,
            Err(error) => Err(error),
        };
        info!(projector = name, %generation, %group_id, deleted = deleted.is_ok(), "generation dropped");
        Ok(Collected {
            projector: name.to_owned(),
            generation: generation.0,
            state,
            group_id,
            group_deleted: deleted.is_ok(),
            group_error: deleted.err(),
        })
    }

    /// Waits until `group` has no active member (or does not exist).
    async fn wait_group_empty(&self, group: &str, wait: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.group_state(group).await {
                Ok(None) => return Ok(()),
                Ok(Some(state)) if matches!(state.as_str(), "Empty" | "Dead") => return Ok(()),
                Ok(Some(state)) if tokio::time::Instant::now() >= deadline => {
                    return Err(format!(
                        "the group is still {state} after {} ms",
                        wait.as_millis()
                    ));
                }
                Err(error) if tokio::time::Instant::now() >= deadline => {
                    return Err(format!("cannot describe the group: {error}"));
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// The state the broker reports for `group` (`Stable`, `Empty`, …), `None` when unknown.
    pub(crate) async fn group_state(&self, group: &str) -> Result<Option<String>> {
        let kafka = self.kafka.clone();
        let group = group.to_owned();
        tokio::task::spawn_blocking(move || {
            let groups = kafka.fetch_group_list(Some(&group), KAFKA_TIMEOUT)?;
            Ok::<_, Error>(
                groups
                    .groups()
                    .iter()
                    .find(|g| !g.state().is_empty() && g.state() != "Dead")
                    .map(|g| g.state().to_owned()),
            )
        })
        .await?
    }

    async fn delete_group(&self, group: &str) -> Result<(), String> {
        let admin: AdminClient<DefaultClientContext> = client_config(&self.bootstrap_servers)
            .create()
            .map_err(|e| e.to_string())?;
        let options = AdminOptions::new().operation_timeout(Some(KAFKA_TIMEOUT));
        let results = admin
            .delete_groups(&[group], &options)
            .await
            .map_err(|e| e.to_string())?;
        match results.into_iter().next() {
            Some(Ok(_)) | None => Ok(()),
            Some(Err((_, code))) => Err(format!("the broker refused to delete it: {code}")),
        }
    }
}

/// Records between `checkpoints` and `ends`, over all partitions.
fn lag(checkpoints: &[Checkpoint], ends: &[(String, i32, i64)]) -> i64 {
    ends.iter()
        .map(|(topic, partition, end)| {
            let next = checkpoints
                .iter()
                .find(|c| &c.topic == topic && c.partition == *partition)
                .map_or(0, |c| c.next_offset);
            (end - next).max(0)
        })
        .sum()
}

/// The partitions where `candidate` has not applied what `applied` has, described.
fn behind(candidate: &[Checkpoint], applied: &[Checkpoint]) -> Vec<String> {
    applied
        .iter()
        .filter_map(|live| {
            let next = candidate
                .iter()
                .find(|c| c.topic == live.topic && c.partition == live.partition)
                .map_or(0, |c| c.next_offset);
            (next < live.next_offset).then(|| {
                format!(
                    "{}/{} at {next} of {}",
                    live.topic, live.partition, live.next_offset
                )
            })
        })
        .collect()
}
