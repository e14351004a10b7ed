//! Partner feed formats, read as a stream a line at a time and checked row by row against the
//! EP rules (the product rules every door shares, phrased with EP's column names). A bad row is
//! a rejected line with its number and reason and never stops the feed. No I/O of its own:
//! the readers take any `BufRead`, so they are fuzzed over arbitrary bytes.
//!
//! | file | what |
//! |---|---|
//! | `encoding.rs` | UTF-8 or EUC-KR, a line at a time |
//! | `format.rs` | EP TSV, CSV or JSON Lines |
//! | `ep.rs`, `ep/rules.rs` | the EP TSV line reader; the rules of a row |
//! | `mapped.rs` | CSV and JSON Lines through a partner's field mapping |
//! | `rows.rs` | the checked rows of any format, duplicates refused |

pub mod encoding;
pub mod ep;
mod format;
pub mod mapped;
mod rows;

pub use encoding::FeedEncoding;
pub use ep::{EpProduct, EpReader, FeedError, FeedKind, RejectedLine};
pub use format::FeedFormat;
pub use mapped::{FieldMapping, RowSource};
pub use rows::{EpRows, FeedRow, FeedRows};
