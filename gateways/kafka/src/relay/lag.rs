//! How far behind each relay is, in events and in seconds, from the database alone: any process
//! that sees the store can answer.

use eventmall_store::EventBackend;
use serde::Serialize;
use sqlx::AnyPool;

use super::relay_rows;
use crate::Result;

/// How far behind a relay is.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RelayLag {
    pub name: String,
    /// The instance holding the lease, and until when (ms since the epoch).
    pub holder: String,
    pub lease_expires_at_ms: i64,
    /// Everything up to this store position is acknowledged by the broker.
    pub published_position: i64,
    /// Events stored but not yet published.
    pub lag_events: i64,
    /// Age of the oldest unpublished event, in seconds; 0 when caught up.
    pub lag_seconds: f64,
}

/// Every relay's lag, from the database: any process that sees the store can answer.
pub async fn lag(backend: &dyn EventBackend, pool: &AnyPool) -> Result<Vec<RelayLag>> {
    let mut lags = Vec::new();
    for row in relay_rows(pool).await? {
        let lag_events = backend.count_after(row.position).await?;
        let oldest = backend.read_after(row.position, 1).await?;
        let lag_seconds = oldest.first().map_or(0.0, |event| {
            let age = chrono::Utc::now() - event.metadata.recorded_at;
            (age.num_milliseconds().max(0) as f64) / 1000.0
        });
        lags.push(RelayLag {
            name: row.name,
            holder: row.holder,
            lease_expires_at_ms: row.lease_expires_at_ms,
            published_position: row.position,
            lag_events,
            lag_seconds,
        });
    }
    Ok(lags)
}
