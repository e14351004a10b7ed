//! The SQL event store: one [`EventBackend`] trait, implemented for SQLite and PostgreSQL, and
//! [`SqlEventStore`], which puts cqrs-es's `EventStore` on top of either.

mod backend;
mod error;
mod event_store;
mod postgres;
mod rows;
mod sqlite;

use std::sync::Arc;

pub use backend::{
    Append, Appended, EventBackend, IdempotencyClaim, IdempotencyRecord, LoadedRows, NewEvent,
};
pub use error::{StoreError, StoreResult};
pub use event_store::{Committed, LoadedAggregate, SqlEventStore};
pub use postgres::PostgresBackend;
pub use sqlite::SqliteBackend;

/// Opens a second, plain pool on the event store's database for the low-volume state beside the
/// events: the schema registry and the relay's position and lease. One `sqlx::Any`
/// implementation serves both databases. Run after [`connect`], which migrates.
pub async fn connect_control(url: &str) -> StoreResult<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await?)
}

/// Opens the backend named by `url` (`sqlite://…` or `postgres://…`) and runs its migrations.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn EventBackend>> {
    let backend: Arc<dyn EventBackend> = if url.starts_with("sqlite:") {
        Arc::new(SqliteBackend::connect(url, max_connections).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PostgresBackend::connect(url, max_connections).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    };
    Ok(backend)
}
