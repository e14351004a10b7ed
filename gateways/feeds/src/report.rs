//! What a run reports: its counts, its rejected lines, its summary as recorded.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a run did, line by line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedCounts {
    /// Data lines read, rejected ones included.
    pub rows_read: i64,
    pub registered: i64,
    /// Rows that changed a product: details, price, or listed again.
    pub updated: i64,
    pub unchanged: i64,
    /// Products delisted: absent from a full feed, or `D` in a summary feed.
    pub delisted: i64,
    pub rejected: i64,
}

impl FeedCounts {
    /// Adds what changed since `before` to `eventmall_feed_rows_total`, by outcome.
    pub fn count_since(&self, before: &Self) {
        let outcomes = [
            ("registered", self.registered - before.registered),
            ("updated", self.updated - before.updated),
            ("unchanged", self.unchanged - before.unchanged),
            ("delisted", self.delisted - before.delisted),
            ("rejected", self.rejected - before.rejected),
        ];
        for (outcome, rows) in outcomes {
            if rows > 0 {
                metrics::counter!("eventmall_feed_rows_total", "outcome" => outcome)
                    .increment(rows as u64);
            }
        }
    }
}

/// A rejected line of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub line: i64,
    pub reason: String,
}

/// A feed run as recorded, without its rejected lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedRunSummary {
    pub run_id: Uuid,
    pub partner_id: String,
    pub format: String,
    pub encoding: String,
    /// The field mapping's version a CSV or JSON Lines run used.
    pub mapping_version: Option<i64>,
    /// `full` or `summary`, once the header is read.
    pub kind: Option<String>,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    #[serde(flatten)]
    pub counts: FeedCounts,
}

/// Rejected lines a run's report holds; the rest are paged (`GET …/feeds/{run}/rejections`).
pub const REPORTED_REJECTIONS: usize = 100;

/// A feed run as recorded, with its first rejected lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedRun {
    #[serde(flatten)]
    pub summary: FeedRunSummary,
    /// The first 100 rejected lines, in line order; `rejected` counts them all.
    pub rejections: Vec<Rejection>,
    /// When there are more: the line to page on from (`?after=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_rejections_after: Option<i64>,
}

/// A page of a run's rejected lines, in line order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RejectionPage {
    pub rejections: Vec<Rejection>,
    /// When there are more: the line to ask for the next page after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// A page of a partner's runs, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedRunPage {
    pub runs: Vec<FeedRunSummary>,
    pub total: i64,
}
