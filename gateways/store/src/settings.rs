//! What the event store and the simulated wallet are configured with (`[store]` and `[wallet]`).

use serde::{Deserialize, Serialize};

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
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 16,
            snapshot_every: 100,
            aggregate_cache: 100_000,
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
