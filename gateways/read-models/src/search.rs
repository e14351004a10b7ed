//! The search projector: products (and, for popularity, orders) into the generation's tantivy
//! index, whose commit payload holds the checkpoints.

use std::path::Path;
use std::sync::Arc;

use eventmall_events::order::OrderEvent;
use eventmall_events::product::ProductEvent;
use eventmall_projections::projection::Positions;
use eventmall_projections::search::{SearchChanges, SearchIndex};
use eventmall_projections::{Batch, Checkpoint, Generation, Prepared, Projection, ReadModelError};
use sqlx::AnyPool;

use crate::{Result, checkpoints};

const TOPICS: &[&str] = &[ProductEvent::TOPIC, OrderEvent::TOPIC];

/// One generation of the search index.
#[derive(Clone)]
pub struct Search {
    index: Arc<SearchIndex>,
    generation: Generation,
    group_id: String,
}

impl Search {
    pub const NAME: &'static str = "search";

    /// Opens `generation` under `dir` (`<dir>/g<N>`). `replica` names this search replica:
    /// each replica keeps its own index and so consumes as its own group.
    pub fn open(dir: &Path, generation: Generation, replica: &str) -> Result<Self> {
        let index = SearchIndex::open(&dir.join(generation.to_string()))?;
        let mut group_id = generation.group_id(Self::NAME);
        if !replica.is_empty() {
            group_id = format!("{group_id}.{replica}");
        }
        Ok(Self {
            index: Arc::new(index),
            generation,
            group_id,
        })
    }

    /// Opens the generation reads are served from.
    pub async fn live(pool: &AnyPool, dir: &Path, replica: &str) -> Result<Self> {
        let generation = checkpoints::live_generation(pool, Self::NAME).await?;
        Self::open(dir, generation, replica)
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }
}

#[async_trait::async_trait]
impl Projection for Search {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }

    fn generation(&self) -> Generation {
        self.generation
    }

    fn group_id(&self) -> String {
        self.group_id.clone()
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadModelError> {
        Ok(self.index.checkpoints().map_err(crate::Error::from)?)
    }

    async fn checkpoints_for_reads(&self) -> Result<Vec<Checkpoint>, ReadModelError> {
        Ok(self
            .index
            .checkpoints_for_reads()
            .map_err(crate::Error::from)?)
    }

    async fn prepare(&self, batch: &Batch) -> Result<Prepared, ReadModelError> {
        let before: Positions = self
            .index
            .checkpoints()
            .map_err(crate::Error::from)?
            .into_iter()
            .map(|c| ((c.topic, c.partition), c.next_offset))
            .collect();
        let mut changes = SearchChanges::default();
        let mut refused = Vec::new();
        for (index, delivered) in batch.fresh(&before) {
            let applied = self
                .index
                .apply(&mut changes, &delivered.envelope)
                .map_err(crate::Error::from)?;
            if let Err(error) = applied {
                refused.push((index, error.to_string()));
            }
        }
        let index = self.index.clone();
        let positions = batch.positions.clone();
        Ok(Prepared {
            refused,
            before,
            commit: Box::pin(async move {
                index
                    .commit(changes, &positions)
                    .map_err(|error| crate::Error::from(error).into())
            }),
            // Nothing is written before the commit.
            rollback: Box::pin(async { Ok(()) }),
        })
    }
}
