//! The projectors of a projector role: one per read model and followed generation (the live
//! one, a ready one waiting for its swap, and the retired ones until they are
//! garbage-collected). It looks at the generations again every few seconds, so a generation a
//! rebuild hands over starts here, and one dropped stops.

use std::collections::BTreeMap;
use std::time::Duration;

use eventmall_projections::Generation;
use eventmall_read_models::{Stores, generations};
use eventmall_registry::RegisteredCodec;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Projector;
use crate::{ProjectorSettings, Result};

pub struct Supervisor {
    stores: Stores,
    codec: RegisteredCodec,
    bootstrap_servers: String,
    settings: ProjectorSettings,
    /// The read models this role projects.
    names: Vec<&'static str>,
    every: Duration,
}

struct Running {
    stop: CancellationToken,
    task: JoinHandle<Result<()>>,
}

impl Supervisor {
    /// How often the supervisor looks at the generations.
    pub const LOOK_EVERY: Duration = Duration::from_secs(2);

    pub fn new(
        stores: Stores,
        codec: RegisteredCodec,
        bootstrap_servers: &str,
        settings: &ProjectorSettings,
        names: Vec<&'static str>,
    ) -> Self {
        Self {
            stores,
            codec,
            bootstrap_servers: bootstrap_servers.to_owned(),
            settings: settings.clone(),
            names,
            every: Self::LOOK_EVERY,
        }
    }

    /// Looks at the generations every `every` instead.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Runs the followed generations' projectors until `stop`.
    pub async fn run(self, stop: CancellationToken) -> Result<()> {
        for name in &self.names {
            generations::live(&self.stores.pool, &self.stores.key(name)).await?;
        }
        let mut running: BTreeMap<(&'static str, Generation), Running> = BTreeMap::new();
        loop {
            if let Err(error) = self.look(&mut running, &stop).await {
                warn!(%error, "cannot read the generations to follow");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.every) => {}
            }
        }
        for (_, projector) in running {
            projector.stop.cancel();
            if let Ok(Err(error)) = projector.task.await {
                warn!(%error, "projector ended with an error");
            }
        }
        Ok(())
    }

    /// Starts the projectors of generations followed now, stops those of generations no
    /// longer followed, and restarts those that ended.
    async fn look(
        &self,
        running: &mut BTreeMap<(&'static str, Generation), Running>,
        stop: &CancellationToken,
    ) -> Result<()> {
        let followed: Vec<(&'static str, Generation)> = generations::followed(&self.stores.pool)
            .await?
            .into_iter()
            .filter_map(|row| {
                let name = self
                    .names
                    .iter()
                    .find(|name| self.stores.key(name) == row.projector)?;
                Some((*name, row.generation))
            })
            .collect();
        let gone: Vec<_> = running
            .keys()
            .filter(|key| !followed.contains(key))
            .copied()
            .collect();
        for key in gone {
            if let Some(projector) = running.remove(&key) {
                info!(projector = key.0, generation = %key.1, "no longer followed; stopping");
                projector.stop.cancel();
                let _ = projector.task.await;
            }
        }
        let ended: Vec<_> = running
            .iter()
            .filter(|(_, projector)| projector.task.is_finished())
            .map(|(key, _)| *key)
            .collect();
        for key in ended {
            if let Some(projector) = running.remove(&key)
                && let Ok(Err(error)) = projector.task.await
            {
                warn!(projector = key.0, generation = %key.1, %error, "projector ended; restarting");
            }
        }
        for key in followed {
            if running.contains_key(&key) {
                continue;
            }
            let read_model = self.stores.open(key.0, key.1).await?;
            let projector = Projector::new(
                read_model.projection(),
                self.codec.clone(),
                &self.bootstrap_servers,
                &self.settings,
            )?;
            let child = stop.child_token();
            let task = projector.spawn(child.clone());
            running.insert(key, Running { stop: child, task });
        }
        Ok(())
    }
}
