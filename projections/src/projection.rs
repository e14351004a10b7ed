//! What a read model is to the projector runtime: the topics it reads, the generation it
//! builds, its checkpoints, and how it applies a batch together with the batch's positions.
//! The runtime (consuming, dead letters, retries) lives with the Kafka adapter; the read models
//! implement [`Projection`] over their own stores.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::pin::Pin;

use eventmall_events::AnyEvent;

use crate::{Checkpoint, Envelope, Generation};

/// An event of a batch, with where it came from.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub envelope: Envelope<AnyEvent>,
    /// Index of its record among the records the runtime read for the batch.
    pub record: usize,
}

/// Where each partition stood before a batch: `(topic, partition)` → next offset. Records
/// below it were applied already.
pub type Positions = HashMap<(String, i32), i64>;

/// What one transaction of a read model takes in.
#[derive(Debug, Default)]
pub struct Batch {
    /// The events that decoded, in partition order.
    pub events: Vec<Delivered>,
    /// Each partition's next offset once the batch is applied.
    pub positions: Vec<Checkpoint>,
}

impl Batch {
    /// The events the read model has not applied: at or past their partition's checkpoint as
    /// it stood before the batch (`before`), with their index.
    pub fn fresh<'a>(
        &'a self,
        before: &'a Positions,
    ) -> impl Iterator<Item = (usize, &'a Delivered)> + 'a {
        self.events
            .iter()
            .enumerate()
            .filter(move |(_, delivered)| {
                let key = (delivered.topic.clone(), delivered.partition);
                delivered.offset >= before.get(&key).copied().unwrap_or(0)
            })
    }
}

/// The commit of a prepared batch: the read model's transaction (or index commit), with the
/// checkpoints in it.
pub type Commit = Pin<Box<dyn Future<Output = Result<(), ReadModelError>> + Send>>;

/// A batch applied but not yet committed.
pub struct Prepared {
    /// Events the read model refused (index into [`Batch::events`], reason).
    pub refused: Vec<(usize, String)>,
    /// Where each partition stood before the batch: records below were applied already.
    pub before: Positions,
    pub commit: Commit,
    /// Undoes the batch now, for a runtime that will not commit it: a transaction left to be
    /// rolled back when its connection is next used could stay open on the server meanwhile.
    pub rollback: Commit,
}

/// A read model built from topics.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The projector's name (`order-views`), the stem of its consumer group.
    fn name(&self) -> &'static str;
    fn topics(&self) -> &'static [&'static str];
    fn generation(&self) -> Generation;
    /// The consumer group: one per projector and generation.
    fn group_id(&self) -> String {
        self.generation().group_id(self.name())
    }
    /// The checkpoints stored with the read model.
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadModelError>;
    /// The checkpoints of what a read that starts after this returns sees: a read model whose
    /// readers follow its commits with a delay (search) brings them up to the commit it answers
    /// for, so read-your-writes never calls a stale answer fresh.
    async fn checkpoints_for_reads(&self) -> Result<Vec<Checkpoint>, ReadModelError> {
        self.checkpoints().await
    }
    /// Applies `batch`, skipping events below the stored checkpoints, and moves the
    /// checkpoints to `batch.positions` in the same transaction, left for the runtime to commit.
    async fn prepare(&self, batch: &Batch) -> Result<Prepared, ReadModelError>;
}

/// Why a read model could not apply a batch.
#[derive(Debug)]
pub struct ReadModelError {
    fault: Fault,
    error: Box<dyn Error + Send + Sync>,
}

/// Whose fault a failed batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The read model's store (its database or its index) failed: the runtime retries the
    /// batch until the store is back.
    Store,
    /// The data did not fit the store (a sum out of range, a value its columns refuse, a
    /// document over a bound): some event of the batch is poison. The runtime isolates it,
    /// sends it to the dead letters and moves on.
    Data,
}

impl ReadModelError {
    /// A failure of the store itself.
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::with_fault(Fault::Store, error)
    }

    /// A failure caused by what the batch holds.
    pub fn data(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::with_fault(Fault::Data, error)
    }

    pub fn with_fault(fault: Fault, error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            fault,
            error: error.into(),
        }
    }

    pub fn fault(&self) -> Fault {
        self.fault
    }
}

impl fmt::Display for ReadModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl Error for ReadModelError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.source()
    }
}
