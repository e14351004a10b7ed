//! Any read model at any generation, by name: what the replay tooling opens, compares and
//! drops, and what the serving pointer switches between.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use eventmall_projections::recommendations::TrendClock;
use eventmall_projections::search::{Dictionary, SearchError, SearchIndex};
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
    /// The search indexes open in this process, one per generation: its projector's commits
    /// are what its readers see at once, and only one writer can hold an index.
    open_indexes: Arc<Mutex<HashMap<Generation, Weak<SearchIndex>>>>,
}

/// One generation of one read model.
#[derive(Clone)]
pub enum ReadModel {
    Orders(OrderViews),
    Search(Search),
    Recommendations(Recommendations),
}

impl Stores {
    pub fn new(pool: AnyPool, search_dir: PathBuf, settings: ReadModelSettings) -> Self {
        Self {
            pool,
            search_dir,
            settings,
            open_indexes: Arc::default(),
        }
    }

    /// The search index of `generation`: the one open in this process, else opened now.
    fn search_index(&self, generation: Generation) -> Result<Arc<SearchIndex>> {
        let mut open = self
            .open_indexes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = open.get(&generation).and_then(Weak::upgrade) {
            return Ok(index);
        }
        let index = Arc::new(SearchIndex::open_with(
            &self.search_dir.join(generation.to_string()),
            || self.search_dictionary(),
        )?);
        open.retain(|_, index| index.strong_count() > 0);
        open.insert(generation, Arc::downgrade(&index));
        Ok(index)
    }

    /// The search dictionary as its file says now: what a new search generation keeps.
    fn search_dictionary(&self) -> Result<Dictionary, SearchError> {
        let Some(path) = &self.settings.search_dictionary else {
            return Ok(Dictionary::built_in());
        };
        Ok(Dictionary::parse(&std::fs::read_to_string(path)?)?)
    }

    /// The search read model of `generation`.
    pub fn search(&self, generation: Generation) -> Result<Search> {
        Ok(Search::over(
            self.search_index(generation)?,
            generation,
            &self.settings.search_replica,
        ))
    }

    /// The key under which `name`'s generations, serving pointer, rebuild lease and rebuilds
    /// are kept: its name, or `search@<replica>` for a search replica, which keeps an index of
    /// its own and so swaps on its own.
    pub fn key(&self, name: &str) -> String {
        match (name, self.settings.search_replica.as_str()) {
            (Search::NAME, replica) if !replica.is_empty() => format!("{name}@{replica}"),
            _ => name.to_owned(),
        }
    }

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

    /// The topics the read model `name` is built from.
    pub fn topics(name: &str) -> Result<&'static [&'static str]> {
        Ok(match Self::known(name)? {
            OrderViews::NAME => OrderViews::TOPICS,
            Search::NAME => Search::TOPICS,
            _ => Recommendations::TOPICS,
        })
    }

    /// The consumer group of `generation` of the read model `name` in this process.
    pub fn group_id(&self, name: &str, generation: Generation) -> String {
        match name {
            Search::NAME => Search::group_id_of(generation, &self.settings.search_replica),
            _ => generation.group_id(name),
        }
    }

    /// Opens `generation` of the read model `name`, creating its tables or index when missing.
    pub async fn open(&self, name: &str, generation: Generation) -> Result<ReadModel> {
        Ok(match Self::known(name)? {
            OrderViews::NAME => {
                ReadModel::Orders(OrderViews::open(self.pool.clone(), generation).await?)
            }
            Search::NAME => ReadModel::Search(self.search(generation)?),
            _ => ReadModel::Recommendations(
                Recommendations::open(self.pool.clone(), generation, self.clock()).await?,
            ),
        })
    }

    /// Drops the storage of `generation` of `name`: its tables, or its index directory.
    pub async fn drop_storage(&self, name: &str, generation: Generation) -> Result<()> {
        match Self::known(name)? {
            OrderViews::NAME => OrderViews::drop_tables(&self.pool, generation).await,
            Search::NAME => {
                self.open_indexes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&generation);
                Search::remove(&self.search_dir, generation)
            }
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
