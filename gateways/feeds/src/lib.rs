//! Partner product feeds: read as a stream, a line at a time, checked row by row against the
//! EP rules (the product rules every door shares, phrased with EP's column names), and turned
//! into product commands. A bad row is reported with its line number and reason and never
//! stops the feed.
//!
//! | file | what |
//! |---|---|
//! | `encoding.rs` | UTF-8 or EUC-KR, a line at a time |
//! | `format.rs` | EP TSV, CSV or JSON Lines |
//! | `ep.rs`, `ep/rules.rs` | the EP TSV line reader; the rules of a row |
//! | `mapped.rs` | CSV and JSON Lines through a partner's field mapping |
//! | `rows.rs` | the checked rows of any format, duplicates refused |
//! | `run.rs`, `run/row.rs` | a run: rows to commands, a full feed's delisting, dead letters; what a row becomes |
//! | `records.rs`, `records/mappings.rs` | what runs record: runs, rejected lines, last listings; mappings |
//! | `report.rs` | a run's report and counts |
//! | `settings.rs` | how many runs at once, and how many rejections a run takes |

pub mod encoding;
pub mod ep;
mod format;
pub mod mapped;
mod records;
mod report;
mod rows;
mod run;
mod settings;

pub use encoding::FeedEncoding;
pub use ep::{EpProduct, EpReader, FeedError, FeedKind, RejectedLine};
pub use format::FeedFormat;
pub use mapped::{FieldMapping, RowSource};
pub use report::{FeedCounts, FeedRun, FeedRunPage, FeedRunSummary, Rejection, RejectionPage};
pub use rows::{EpRows, FeedRow, FeedRows};
pub use run::{DeadLetterSink, FeedIngest, RunError};
pub use settings::FeedSettings;
