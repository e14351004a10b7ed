//! What feed runs are configured with (`[feeds]`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedSettings {
    /// Runs at once in this process, over all partners; one more is refused (503) until one
    /// ends. A partner has one run at a time whatever this says.
    pub max_concurrent_runs: usize,
    /// Rejected lines after which a run stops, failed: a feed that is mostly not a feed is
    /// better fixed than read to its end.
    pub max_rejections: i64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 8,
            max_rejections: 10_000,
        }
    }
}
