//! Any read model at any generation, by name: what the replay tooling opens, compares and
//! drops, and what the serving pointer switches between.

use std::path::PathBuf;
use std::sync::Arc;

use eventmall_projections::recommendations::TrendClock;
use eventmall_projections::{Checkpoint, Contents, Generation, Projection};
use sqlx::AnyPool;

use crate::{Error, OrderViews, ReadModelSettings, Recommendations, Result, Search, checkpoints};

/// The read models' names, as projectors and routes call them.
pub const NAMES: [&str; 3] = [OrderViews::NAME, Search::NAME, Recommendations::NAME];

/// Where the read models live, and how they are configured: enough to open any generation.
#[derive(Clone)]
pub struct Stores {
    pub pool: AnyPool,
    pub search_dir: PathBuf,
    pub settings: ReadModelSettings,
}

/// One generation of one read model.
#[derive(Clone)]
pub enum ReadModel {
    Orders(OrderViews),
    Search(Search),
    Recommendations(Recommendations),
}

impl Stores {
    /// Checks a read model's name.
    pub fn known(name: &str) -> Result<&'static str> {
        NAMES
            .into_iter()
            .find(|known| *known == name)
            .ok_or_else(|| Error::UnknownProjection(name.to_owned()))
    }

    pub(crate) fn clock(&self) -> TrendClock {
        TrendClock {
            half_life_hours: self.settings.trending_half_life_hours,
        }
    }

    /// Opens `generation` of the read model `name`, creating its tables or index when missing.
    pub async fn open(&self, name: &str, generation: Generation) -> Result<ReadModel> {
        Ok(match Self::known(name)? {
            OrderViews::NAME => {
                ReadModel::Orders(OrderViews::open(self.pool.clone(), generation).await?)
            }
            Search::NAME => ReadModel::Search(Search::open(
                &self.search_dir,
                generation,
                &self.settings.search_replica,
            )?),
            _ => ReadModel::Recommendations(
                Recommendations::open(self.pool.clone(), generation, self.clock()).await?,
            ),
        })
    }

    /// Drops the storage of `generation` of `name`: its tables, or its index directory.
    pub async fn drop_storage(&self, name: &str, generation: Generation) -> Result<()> {
        match Self::known(name)? {
            OrderViews::NAME => OrderViews::drop_tables(&self.pool, generation).await,
            Search::NAME => Search::remove(&self.search_dir, generation),
            _ => Recommendations::drop_tables(&self.pool, generation).await,
        }
    }
}

impl ReadModel {
    pub fn projection(&self) -> Arc<dyn Projection> {
        match self {
            Self::Orders(orders) => Arc::new(orders.clone()),
            Self::Search(search) => Arc::new(search.clone()),
            Self::Recommendations(recommendations) => Arc::new(recommendations.clone()),
        }
    }

    /// Moves the checkpoints of the partitions in `moved` to their next offsets (an operator's
    /// reset); the rows stay as they are.
    pub async fn reset_checkpoints(&self, moved: &[Checkpoint]) -> Result<()> {
        match self {
            Self::Orders(orders) => {
                checkpoints::reset(orders.pool(), OrderViews::NAME, orders.generation(), moved)
                    .await
            }
            Self::Search(search) => Ok(search.index().reset_checkpoints(moved)?),
            Self::Recommendations(recommendations) => {
                let generation = recommendations.generation();
                checkpoints::reset(
                    recommendations.pool(),
                    Recommendations::NAME,
                    generation,
                    moved,
                )
                .await
            }
        }
    }

    /// Every row (or document) by key, with the checkpoints of the same cut.
    pub async fn contents(&self) -> Result<Contents> {
        match self {
            Self::Orders(orders) => orders.contents().await,
            Self::Search(search) => {
                let search = search.clone();
                Ok(
                    tokio::task::spawn_blocking(move || search.index().contents())
                        .await
                        .map_err(|e| Error::Corrupt(format!("reading the index: {e}")))??,
                )
            }
            Self::Recommendations(recommendations) => recommendations.contents().await,
        }
    }
}
