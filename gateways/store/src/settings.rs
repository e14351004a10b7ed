//! What the event store and the simulated wallet are configured with (`[store]` and `[wallet]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::idempotency::Retention;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite://…` or `postgres://…`; empty means a SQLite file in the data directory.
    pub url: String,
    /// Connections in the pool (readers, for SQLite).
    pub max_connections: u32,
    /// Snapshot an aggregate every this many events; 0 turns snapshots off.
    pub snapshot_every: u32,
    /// Aggregates kept in memory per aggregate type; 0 turns the cache off.
    pub aggregate_cache: usize,
    /// How long an HTTP client's `Idempotency-Key` is kept, in hours: a retry after that is
    /// taken as a new request. The system's own keys (ingest, policy) never expire.
    pub idempotency_retention_hours: f64,
}

impl StoreSettings {
    pub fn idempotency_retention(&self) -> Retention {
        // Not a number of hours (NaN) keeps keys for ever rather than for no time at all.
        let seconds = self.idempotency_retention_hours.max(0.0) * 3600.0;
        Retention(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 16,
            snapshot_every: 100,
            aggregate_cache: 100_000,
            idempotency_retention_hours: 168.0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletSettings {
    /// Balance every simulated wallet starts with, in won.
    pub starting_balance: i64,
    /// Largest single payment the simulated wallet authorizes, in won.
    pub per_payment_limit: i64,
}

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            starting_balance: 50_000_000,
            per_payment_limit: 10_000_000,
        }
    }
}
