use eventmall_projections::projection::Fault;
use eventmall_projections::search::SearchError;
use eventmall_projections::{ProjectionError, ReadModelError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a read model could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("search index: {0}")]
    Search(#[from] SearchError),
    /// A stored row does not read back as what was written.
    #[error("read model row is unreadable: {0}")]
    Corrupt(String),
    /// Another instance moved a checkpoint this one was about to move: it owns the partition
    /// now.
    #[error("checkpoint of {topic}/{partition} moved under this instance")]
    Fenced { topic: String, partition: i32 },
    #[error("no projection {0}; one of order-views, search, recommendations")]
    UnknownProjection(String),
    /// A batch's values do not fit the read model: a sum out of its column's range.
    #[error("read model values: {0}")]
    Values(#[from] ProjectionError),
}

impl Error {
    /// Whether the batch's data (not the store) is at fault: a value the database refuses as
    /// out of range or against a constraint, a row that does not decode, a sum that overflows.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Database(sqlx::Error::Database(error)) if refuses_values(error.code()) => {
                Fault::Data
            }
            Self::Database(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))
            | Self::Search(SearchError::Document(_))
            | Self::Corrupt(_)
            | Self::Values(_) => Fault::Data,
            _ => Fault::Store,
        }
    }
}

/// PostgreSQL's SQLSTATE classes 22 (data exception: a number out of range) and 23 (integrity
/// constraint violation); SQLite's primary codes TOOBIG (18), CONSTRAINT (19), MISMATCH (20)
/// and RANGE (25), whatever the extended code.
fn refuses_values(code: Option<std::borrow::Cow<'_, str>>) -> bool {
    let Some(code) = code else { return false };
    if code.starts_with("22") || code.starts_with("23") {
        return code.len() == 5;
    }
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 18 | 19 | 20 | 25))
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

impl From<Error> for ReadModelError {
    fn from(error: Error) -> Self {
        ReadModelError::with_fault(error.fault(), error)
    }
}
