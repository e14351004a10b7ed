use crate::backend::IdempotencyRecord;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another command appended to the aggregate first.
    #[error("aggregate {aggregate_type}/{aggregate_id} was changed concurrently")]
    Conflict {
        aggregate_type: String,
        aggregate_id: String,
    },
    /// The idempotency key was already used; nothing was appended.
    #[error("idempotency key already used")]
    IdempotencyKeyUsed(Box<IdempotencyRecord>),
    #[error("unsupported database url {0}: use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("{0} is in use by another eventmall process (SQLite has one writer)")]
    Locked(String),
    #[error("event store writer stopped")]
    WriterStopped,
    #[error("an append holds at most {max} events, got {count}")]
    AppendTooLarge { count: usize, max: usize },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored event is unreadable: {0}")]
    Corrupt(String),
    #[error("event serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}
