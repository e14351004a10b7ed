//! The search projector: products (and, for popularity, orders) into the generation's tantivy
//! index, whose commit payload holds the checkpoints.

use std::path::Path;
use std::sync::Arc;

use eventmall_events::order::OrderEvent;
use eventmall_events::product::ProductEvent;
use eventmall_projections::projection::Positions;
use eventmall_projections::search::{SearchChanges, SearchError, SearchIndex};
use eventmall_projections::{Batch, Checkpoint, Generation, Prepared, Projection, ReadModelError};

use crate::Result;

/// One generation of the search index.
#[derive(Clone)]
pub struct Search {
    index: Arc<SearchIndex>,
    generation: Generation,
    group_id: String,
}

impl Search {
    /// The topics it is built from.
    pub const TOPICS: &'static [&'static str] = &[ProductEvent::TOPIC, OrderEvent::TOPIC];

    pub const NAME: &'static str = "search";

    /// Opens `generation` under `dir` (`<dir>/g<N>`). `replica` names this search replica:
    /// each replica keeps its own index and so consumes as its own group.
    pub fn open(dir: &Path, generation: Generation, replica: &str) -> Result<Self> {
        let index = SearchIndex::open(&dir.join(generation.to_string()))?;
        Ok(Self::over(Arc::new(index), generation, replica))
    }

    /// `generation` over an index opened already.
    pub fn over(index: Arc<SearchIndex>, generation: Generation, replica: &str) -> Self {
        Self {
            index,
            generation,
            group_id: Self::group_id_of(generation, replica),
        }
    }

    /// The consumer group of `generation` in search replica `replica`.
    pub fn group_id_of(generation: Generation, replica: &str) -> String {
        let group_id = generation.group_id(Self::NAME);
        match replica {
            "" => group_id,
            replica => format!("{group_id}.{replica}"),
        }
    }

    /// Removes `generation`'s index directory under `dir`.
    pub fn remove(dir: &Path, generation: Generation) -> Result<()> {
        match std::fs::remove_dir_all(dir.join(generation.to_string())) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(SearchError::from(error).into())
            }
            _ => Ok(()),
        }
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
        Self::TOPICS
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
