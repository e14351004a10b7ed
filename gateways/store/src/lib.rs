//! Eventmall's SQL event store and the command path over it.
//!
//! One [`EventBackend`] trait, implemented for SQLite and PostgreSQL; [`SqlEventStore`], which
//! puts cqrs-es's `EventStore` on top of either; and [`CommandGateway`], the one path every
//! command takes (HTTP, feeds, ingest topics, the demo), with the ports the aggregates need:
//! the product catalog over the store itself and a simulated wallet. The migrations of the
//! store's database live here too, for the events and for the tables beside them (the schema
//! registry, the relay's lease, feed runs).

mod backend;
pub mod commands;
mod error;
mod event_store;
pub mod idempotency;
pub mod keys;
pub mod pii;
mod postgres;
mod rows;
mod settings;
mod sqlite;
mod wallet;

use std::sync::Arc;

pub use backend::{
    Append, Appended, EventBackend, IdempotencyClaim, IdempotencyRecord, LoadedRows, NewEvent,
    RecordedRefusal, Timer, TimerWrite,
};
pub use commands::{CommandError, CommandGateway, CommandRequest, Dispatch, Dispatched, Receipt};
pub use error::{StoreError, StoreResult};
pub use event_store::{Committed, LoadedAggregate, SqlEventStore};
pub use postgres::PostgresBackend;
pub use settings::{StoreSettings, WalletSettings};
pub use sqlite::SqliteBackend;
pub use wallet::{SimulatedWallet, WalletLimits};

/// Opens a plain pool on the event store's database, for the low-volume tables beside the
/// events: the schema registry, the relay's position and lease, feed runs. One `sqlx::Any`
/// implementation serves both databases. Run after [`connect`], which migrates.
pub async fn connect_pool(url: &str) -> StoreResult<sqlx::AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await?)
}

/// Opens the backend named by `url` to read its events beside the process that writes them:
/// SQLite read-only without taking the writer's lock; PostgreSQL as usual (it has no such lock).
pub async fn connect_reader(url: &str) -> StoreResult<Arc<dyn EventBackend>> {
    match url.starts_with("sqlite:") {
        true => Ok(Arc::new(SqliteBackend::read_only(url, 2).await?)),
        false => connect(url, 2).await,
    }
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
