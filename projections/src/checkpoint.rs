//! Where a projector is in each partition, and which generation of its read model it builds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The next offset to read in one partition; stored in the read model's own transaction (or
/// search commit), so the read model and its position never disagree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Checkpoint {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
    /// The highest store position (`global_position` header) applied from the partition: a
    /// read that carries a consistency token at or below it sees its write.
    #[serde(default)]
    pub position: i64,
}

/// A generation of a read model: its own tables or index directory and its own consumer group,
/// so a new one can be built from offset 0 beside the live one and then swapped in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Generation(pub u32);

impl Generation {
    pub const FIRST: Self = Self(1);

    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The consumer group of `projector` in this generation.
    pub fn group_id(self, projector: &str) -> String {
        format!("eventmall.{projector}.g{}", self.0)
    }

    /// The prefix of this generation's tables (`order_views_g1_`).
    pub fn table_prefix(self, projector: &str) -> String {
        format!("{}_g{}_", projector.replace(['-', '.'], "_"), self.0)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}
