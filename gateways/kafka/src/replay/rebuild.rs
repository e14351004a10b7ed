//! `replay rebuild`: a new generation built from offset 0 beside the live one, under the
//! projection's lease, reporting its progress; resumed from its checkpoints after a kill; then
//! caught up with the log and swapped in (or left ready for a manual swap).

use std::sync::Arc;
use std::time::Duration;

use eventmall_projections::{Checkpoint, Contents, Generation, Projection};
use eventmall_read_models::Stores;
use eventmall_read_models::generations::{self, GenerationState};
use eventmall_read_models::replays::{self, ProjectionLease};
use serde::Serialize;
use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::progress::Meter;
use super::verify::Verified;
use super::{Phase, Progress, Replay, lag};
use crate::projector::{Projector, Until};
use crate::relay::hostname;
use crate::{Error, Result};

/// Whether a caught-up rebuild swaps itself in.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SwapMode {
    #[default]
    Auto,
    /// Leave it ready; `replay swap` makes it serve.
    Manual,
}

#[derive(Clone, Debug, Default, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebuildOptions {
    /// Build only the events stored up to this position, and stop there (for inspection: such
    /// a generation never serves).
    #[serde(default)]
    pub until_position: Option<i64>,
    /// Compare the new generation with the live one at the live one's cut first; swap only
    /// when they are equal.
    #[serde(default)]
    pub verify: bool,
    #[serde(default)]
    pub swap: SwapMode,
}

/// A rebuild that holds its lease and has its generation, about to run.
pub struct Began {
    pub rebuild_id: String,
    pub projector: &'static str,
    /// Where its generations are kept (`Stores::key`): the projector, or a search replica.
    pub key: String,
    pub generation: Generation,
    /// Where a resumed rebuild starts: the checkpoints its generation had (empty for a new one).
    pub resumed_from: Vec<Checkpoint>,
    lease: ProjectionLease,
}

/// How a rebuild ended.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// It serves now; the generation it replaced is retired.
    Swapped { replaced: u32 },
    /// Caught up and following the log; `replay swap` makes it serve.
    Ready,
    /// Built to `--until position`; it never serves.
    Stopped,
    /// Verify found differences: left ready, not swapped.
    VerifyFailed { verified: Verified },
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Rebuilt {
    pub rebuild_id: String,
    pub projector: String,
    pub generation: u32,
    #[schema(value_type = Vec<Object>)]
    pub resumed_from: Vec<Checkpoint>,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub elapsed_ms: u64,
}

impl Replay {
    /// Takes the projection's lease and the generation to build: the one a killed rebuild
    /// left (resumed from its checkpoints), else a new one above every other. A rebuild
    /// already running is refused, with its holder named.
    pub async fn begin(&self, name: &str) -> Result<Began> {
        let projector = Stores::known(name)?;
        let key = self.stores.key(projector);
        let pool = &self.stores.pool;
        let abandoned = replays::abandoned(pool, &key).await?;
        // Only a generation still being built can be taken up again.
        let resumable = match &abandoned {
            Some(row) => {
                generations::state_of(pool, &key, row.generation).await?
                    == Some(GenerationState::Building)
            }
            None => false,
        };
        let rebuild_id = match (&abandoned, resumable) {
            (Some(row), true) => row.id.clone(),
            _ => uuid::Uuid::now_v7().to_string(),
        };
        // Unique per rebuild: two rebuilds started in one process (over HTTP) are two holders.
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let holder = format!("{}-{}-{}", hostname(), std::process::id(), &nonce[..8]);
        let lease = ProjectionLease::new(
            pool.clone(),
            &key,
            &holder,
            &rebuild_id,
            Duration::from_millis(self.settings.lease_ttl_ms),
        );
        lease.acquire().await??;
        let (generation, resumed_from) = match (abandoned, resumable) {
            (Some(row), true) => {
                let read_model = self.stores.open(projector, row.generation).await?;
                let checkpoints = read_model.projection().checkpoints().await?;
                info!(projector, generation = %row.generation, rebuild = %rebuild_id, "resuming a rebuild");
                (row.generation, checkpoints)
            }
            _ => (
                generations::create(pool, &key, GenerationState::Building).await?,
                Vec::new(),
            ),
        };
        replays::record_start(pool, &rebuild_id, &key, generation, &holder).await?;
        Ok(Began {
            rebuild_id,
            projector,
            key,
            generation,
            resumed_from,
            lease,
        })
    }

    /// Runs a begun rebuild to its end, calling `report` with each progress sample; gives the
    /// lease up however it ends. Stopped by `stop`, it leaves its generation to be resumed.
    pub async fn run(
        &self,
        began: Began,
        options: &RebuildOptions,
        mut report: impl FnMut(&Progress) + Send,
        stop: CancellationToken,
    ) -> Result<Rebuilt> {
        let started = std::time::Instant::now();
        let lost = stop.child_token();
        let renewing = tokio::spawn(renew(began.lease.clone(), lost.clone()));
        let outcome = self.phases(&began, options, &mut report, &lost).await;
        renewing.abort();
        let pool = &self.stores.pool;
        let (state, detail) = match &outcome {
            Ok(Outcome::Swapped { .. }) => ("swapped", String::new()),
            Ok(Outcome::Ready) => ("ready", String::new()),
            Ok(Outcome::Stopped) => ("stopped", String::new()),
            Ok(Outcome::VerifyFailed { verified }) => (
                "failed",
                format!("verify found {} differing keys", verified.differences.count),
            ),
            Err(error) if stop.is_cancelled() => ("interrupted", error.to_string()),
            Err(error) => ("failed", error.to_string()),
        };
        if let Err(error) = replays::finish(pool, &began.rebuild_id, state, &detail).await {
            warn!(%error, "could not record the rebuild's end");
        }
        if state != "interrupted"
            && let Err(error) = began.lease.release().await
        {
            warn!(%error, "could not give the rebuild's lease up");
        }
        Ok(Rebuilt {
            rebuild_id: began.rebuild_id.clone(),
            projector: began.projector.to_owned(),
            generation: began.generation.0,
            resumed_from: began.resumed_from.clone(),
            outcome: outcome?,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn phases(
        &self,
        began: &Began,
        options: &RebuildOptions,
        report: &mut (impl FnMut(&Progress) + Send),
        stop: &CancellationToken,
    ) -> Result<Outcome> {
        let building = self.stores.open(began.projector, began.generation).await?;
        let projection = building.projection();
        let mut reporter = Reporter {
            began,
            pool: &self.stores.pool,
            meter: Meter::new(),
            report,
        };

        // Up to a cut: the live generation's, to compare with it, else the log's end now.
        let live = match options.verify {
            true => Some(self.live_contents(began.projector).await?),
            false => None,
        };
        let mut until = match &live {
            Some(live) => Until::at(&live.checkpoints),
            None => Until::ends(&self.ends(projection.topics()).await?),
        };
        until.position = options.until_position;
        self.build_to(&mut reporter, &projection, until, stop)
            .await?;
        if options.until_position.is_some() {
            self.settle(began, GenerationState::Stopped).await?;
            return Ok(Outcome::Stopped);
        }
        if let Some(live) = live {
            reporter.report(&projection, Phase::Verifying, &[]).await?;
            let rebuilt = building.contents().await?;
            let shown = self.settings.shown_differences;
            let verified = Verified::compare(began.projector, &live, &rebuilt, shown);
            if !verified.clean {
                self.settle(began, GenerationState::Ready).await?;
                return Ok(Outcome::VerifyFailed { verified });
            }
        }

        // Then following the log until within the bound, and handed over.
        let following = stop.child_token();
        let running = self.projector(&projection)?.spawn(following.clone());
        let outcome = async {
            self.catch_up(&mut reporter, &projection, stop).await?;
            if options.swap == SwapMode::Manual {
                self.settle(began, GenerationState::Ready).await?;
                return Ok(Outcome::Ready);
            }
            reporter.report(&projection, Phase::Swapping, &[]).await?;
            self.cover_live(began.projector, projection.as_ref())
                .await?;
            let replaced =
                generations::swap(&self.stores.pool, &began.key, began.generation).await??;
            Ok(Outcome::Swapped {
                replaced: replaced.0,
            })
        }
        .await;
        following.cancel();
        running.await??;
        if outcome.is_ok() {
            reporter.report(&projection, Phase::Done, &[]).await?;
        }
        outcome
    }

    /// Builds the generation from where it stands up to `until`, reporting as it goes.
    async fn build_to(
        &self,
        reporter: &mut Reporter<'_, impl FnMut(&Progress) + Send>,
        projection: &Arc<dyn Projection>,
        until: Until,
        stop: &CancellationToken,
    ) -> Result<()> {
        let targets: Vec<(String, i32, i64)> = until
            .cut
            .iter()
            .map(|((topic, partition), offset)| (topic.clone(), *partition, *offset))
            .collect();
        let running = self
            .projector(projection)?
            .until(until)
            .spawn(stop.child_token());
        self.watch(reporter, projection, Phase::Building, stop, || {
            let finished = running.is_finished();
            let targets = targets.clone();
            async move { Ok((finished, targets)) }
        })
        .await?;
        running.await??;
        match stop.is_cancelled() {
            true => Err(Error::Replay("stopped".into())),
            false => Ok(()),
        }
    }

    /// Reports progress while the generation's projector follows the log, until it is within
    /// the lag bound.
    async fn catch_up(
        &self,
        reporter: &mut Reporter<'_, impl FnMut(&Progress) + Send>,
        projection: &Arc<dyn Projection>,
        stop: &CancellationToken,
    ) -> Result<()> {
        let bound = self.settings.lag_bound;
        let topics = projection.topics();
        self.watch(reporter, projection, Phase::CatchingUp, stop, || {
            let projection = projection.clone();
            async move {
                let ends = self.ends(topics).await?;
                let behind = lag(&projection.checkpoints().await?, &ends);
                Ok((behind <= bound, ends))
            }
        })
        .await
    }

    /// Moves the generation being built to `state`.
    async fn settle(&self, began: &Began, state: GenerationState) -> Result<()> {
        let building = [GenerationState::Building];
        let pool = &self.stores.pool;
        Ok(generations::transition(pool, &began.key, began.generation, &building, state).await??)
    }

    /// The live generation's contents, at its current cut.
    async fn live_contents(&self, name: &'static str) -> Result<Contents> {
        let live = generations::live(&self.stores.pool, &self.stores.key(name)).await?;
        Ok(self.stores.open(name, live).await?.contents().await?)
    }

    /// A projector of `projection` on this tool's cluster, with its settings.
    pub(super) fn projector(&self, projection: &Arc<dyn Projection>) -> Result<Projector> {
        Projector::new(
            projection.clone(),
            self.codec.clone(),
            &self.bootstrap_servers,
            &self.runtime,
        )
    }

    /// Reports progress every interval until `look` says the phase is over (or `stop`).
    async fn watch<F, Fut>(
        &self,
        reporter: &mut Reporter<'_, impl FnMut(&Progress) + Send>,
        projection: &Arc<dyn Projection>,
        phase: Phase,
        stop: &CancellationToken,
        mut look: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(bool, Vec<(String, i32, i64)>)>>,
    {
        let every = Duration::from_millis(self.settings.progress_every_ms);
        loop {
            let (over, targets) = look().await?;
            reporter.report(projection, phase, &targets).await?;
            if over {
                return Ok(());
            }
            tokio::select! {
                () = stop.cancelled() => return Err(Error::Replay("stopped".into())),
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// Where a rebuild's progress goes: to its caller, and into its row, which every API process
/// reads.
struct Reporter<'a, R> {
    began: &'a Began,
    pool: &'a AnyPool,
    meter: Meter,
    report: &'a mut R,
}

impl<R: FnMut(&Progress) + Send> Reporter<'_, R> {
    /// Samples where `projection` is against `targets` (the last ones when empty) in `phase`.
    async fn report(
        &mut self,
        projection: &Arc<dyn Projection>,
        phase: Phase,
        targets: &[(String, i32, i64)],
    ) -> Result<()> {
        let (elapsed_ms, topics) = self.meter.sample(&projection.checkpoints().await?, targets);
        let began = self.began;
        let progress = Progress {
            rebuild_id: began.rebuild_id.clone(),
            projector: began.projector.to_owned(),
            generation: began.generation.0,
            phase,
            elapsed_ms,
            topics,
        };
        (self.report)(&progress);
        let state = match phase {
            Phase::Done => "done",
            _ => "running",
        };
        let json = serde_json::to_value(&progress).unwrap_or_default();
        replays::record(self.pool, &began.rebuild_id, state, &json, "").await?;
        Ok(())
    }
}

/// Renews the lease every third of its lifetime; cancels `lost` when another rebuild took it.
async fn renew(lease: ProjectionLease, lost: CancellationToken) {
    let every = lease.ttl() / 3;
    loop {
        tokio::select! {
            () = lost.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match lease.acquire().await {
            Ok(Ok(())) => {}
            Ok(Err(held)) => {
                warn!(%held, "the rebuild's lease was taken over; stopping");
                lost.cancel();
                return;
            }
            Err(error) => warn!(%error, "cannot renew the rebuild's lease"),
        }
    }
}
