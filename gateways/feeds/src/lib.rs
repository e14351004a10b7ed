//! Partner product feeds: read as a stream, a line at a time, by the readers of
//! `eventmall-feed-formats`, and turned into product commands. A bad row is reported with its
//! line number and reason and never stops the feed.
//!
//! | file | what |
//! |---|---|
//! | `run.rs`, `run/row.rs` | a run: rows to commands, a full feed's delisting, dead letters; what a row becomes |
//! | `records.rs`, `records/mappings.rs` | what runs record: runs, rejected lines, last listings; mappings |
//! | `report.rs` | a run's report and counts |
//! | `settings.rs` | how many runs at once, and how many rejections a run takes |

mod records;
mod report;
mod run;
mod settings;

pub use eventmall_feed_formats::{
    EpProduct, EpReader, EpRows, FeedEncoding, FeedError, FeedFormat, FeedKind, FeedRow, FeedRows,
    FieldMapping, RejectedLine, RowSource, encoding, ep, mapped,
};
pub use report::{FeedCounts, FeedRun, FeedRunPage, FeedRunSummary, Rejection, RejectionPage};
pub use run::{DeadLetterSink, FeedIngest, RunError};
pub use settings::FeedSettings;
