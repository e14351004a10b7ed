use eventmall_projections::ReadModelError;
use eventmall_projections::search::SearchError;

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
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

impl From<Error> for ReadModelError {
    fn from(error: Error) -> Self {
        ReadModelError::new(error)
    }
}
