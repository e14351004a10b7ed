//! What Kafka, the local broker, the relay, the ingest consumer and the projectors are
//! configured with (`[kafka]`, `[broker]`, `[relay]`, `[ingest]`, `[policy]` and part of
//! `[projectors]`).

use eventmall_aggregates::policy::{Capture, PolicyRules};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// `host:port,…` of the cluster; empty means the local broker that `up` starts. The plain
    /// `KAFKA_BOOTSTRAP_SERVERS` variable is honoured too.
    pub bootstrap_servers: String,
    /// Partitions of the topics Eventmall creates.
    pub partitions: i32,
    /// Replication factor of the topics Eventmall creates.
    pub replication_factor: i32,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: String::new(),
            partitions: 6,
            replication_factor: 1,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSettings {
    /// The local broker's executable, a path or a name on `PATH`.
    pub binary: String,
    /// Port the local broker listens on, on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Its storage engine URL; empty means a SQLite file in `<data_dir>/broker/`.
    pub storage: String,
    /// How long `up` waits for it to accept connections, in milliseconds.
    pub ready_timeout_ms: u64,
    /// Its consumer-group initial rebalance delay, in milliseconds (Kafka's default is 3000).
    pub group_initial_rebalance_delay_ms: u64,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            binary: "nisshi".into(),
            port: 9092,
            storage: String::new(),
            ready_timeout_ms: 30_000,
            group_initial_rebalance_delay_ms: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// Whether `up` runs the relay.
    pub enabled: bool,
    /// Name of the relay's checkpoint and lease; relays with one name share one position.
    pub name: String,
    /// Events read from the store and produced per batch.
    pub batch_size: i64,
    /// How often an idle relay looks for new events, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a lease lasts without renewal, in milliseconds.
    pub lease_ttl_ms: u64,
    /// The producer's `linger.ms`.
    pub linger_ms: u64,
    /// The producer's `compression.type` (`none`, `lz4`, `zstd`, …).
    pub compression: String,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "eventmall".into(),
            batch_size: 2_000,
            poll_interval_ms: 20,
            lease_ttl_ms: 10_000,
            linger_ms: 5,
            compression: "none".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// Whether `up` runs the ingest consumer of the upstream producers' topics.
    pub enabled: bool,
    /// Its consumer group; a new group reads the ingest topics again from the start.
    pub group: String,
    /// How long the group waits for a silent (killed) instance before its partitions go to
    /// the others, in ms.
    pub session_timeout_ms: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            group: "eventmall-ingest".into(),
            session_timeout_ms: 10_000,
        }
    }
}

/// How a projector consumes: the runtime's part of `[projectors]`.
#[derive(Clone, Debug)]
pub struct ProjectorSettings {
    /// Records applied per transaction near the head of the topics (live mode), at most.
    pub batch_size: usize,
    /// How long a projector waits for more records before applying a partial batch, in ms.
    pub batch_wait_ms: u64,
    /// How long the group waits for a silent (killed) projector instance before its
    /// partitions go to the others, in ms.
    pub session_timeout_ms: u64,
    /// A projector more than this many records behind switches to catch-up mode, and back to
    /// live mode below half of it.
    pub catch_up_lag: i64,
    /// Records applied per transaction in catch-up mode, at most.
    pub catch_up_batch_size: usize,
    /// How long a catch-up window stays open after its first record, in ms.
    pub catch_up_wait_ms: u64,
    /// What a projector's records may hold in memory, in MiB: a window closes early once its
    /// records (as consumed and decoded) reach three quarters of it, and the consumer's
    /// prefetch queue gets the last quarter.
    pub memory_budget_mib: usize,
}

impl ProjectorSettings {
    /// The bytes a window's records may be charged before it closes.
    pub fn window_bytes(&self) -> usize {
        self.memory_budget_mib.max(1) * 1024 * 1024 / 4 * 3
    }

    /// The consumer's `queued.max.messages.kbytes`: the rest of the budget.
    pub fn prefetch_kbytes(&self) -> usize {
        (self.memory_budget_mib.max(1) * 1024 / 4).max(256)
    }
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 2_000,
            batch_wait_ms: 5,
            session_timeout_ms: 10_000,
            catch_up_lag: 20_000,
            catch_up_batch_size: 100_000,
            catch_up_wait_ms: 1_000,
            memory_budget_mib: 128,
        }
    }
}

/// `[replay]`: how rebuilds hand over and hold their projection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplaySettings {
    /// A new generation is swapped in once it is at most this many records behind the ends of
    /// its topics.
    pub lag_bound: i64,
    /// How long a rebuild's lease on its projection lasts unrenewed, in ms: a killed rebuild
    /// can be resumed after it.
    pub lease_ttl_ms: u64,
    /// How often a rebuild reports its progress, in ms.
    pub progress_every_ms: u64,
    /// How long a swap waits for the new generation to cover every position the live one
    /// applied, in ms.
    pub swap_timeout_ms: u64,
    /// Differing keys a verify shows with both versions.
    pub shown_differences: usize,
}

impl Default for ReplaySettings {
    fn default() -> Self {
        Self {
            lag_bound: 100,
            lease_ttl_ms: 10_000,
            progress_every_ms: 1_000,
            swap_timeout_ms: 60_000,
            shown_differences: 10,
        }
    }
}

/// `[policy]`: the order↔payment process manager.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    /// Whether `up` runs the policy.
    pub enabled: bool,
    /// Its consumer group on the order and payment topics.
    pub group: String,
    /// When an authorized payment is captured: `immediately` or `on_shipment`.
    pub capture: Capture,
    /// A payment not authorized this many seconds after its order was placed cancels the order
    /// (15 minutes).
    pub authorization_timeout_secs: u64,
    /// A delivered order not confirmed this many seconds later is confirmed automatically
    /// (7 days).
    pub confirmation_after_secs: u64,
    /// How often the policy looks for due timers, in milliseconds.
    pub timer_poll_ms: u64,
    /// How long the group waits for a silent (killed) instance before its partitions go to
    /// the others, in ms.
    pub session_timeout_ms: u64,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            group: "eventmall-policy".into(),
            capture: Capture::Immediately,
            authorization_timeout_secs: 15 * 60,
            confirmation_after_secs: 7 * 24 * 60 * 60,
            timer_poll_ms: 1_000,
            session_timeout_ms: 10_000,
        }
    }
}

impl PolicySettings {
    /// The policy's rules as these settings give them.
    pub fn rules(&self) -> PolicyRules {
        let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
        PolicyRules {
            capture: self.capture,
            authorization_timeout: seconds(self.authorization_timeout_secs),
            confirmation_after: seconds(self.confirmation_after_secs),
        }
    }
}
