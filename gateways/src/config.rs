//! Layered configuration: defaults, then an optional TOML file, then `EVENTMALL__…` environment
//! variables (`EVENTMALL__HTTP__ADDR=0.0.0.0:8080`). Unknown keys are errors, so a typo in a
//! variable name does not go unnoticed.

use std::path::{Path, PathBuf};

use config::{Config, ConfigError, Environment, File};
use serde::{Deserialize, Serialize};

/// The conventional variable naming a Kafka cluster, honoured beside `EVENTMALL__KAFKA__…`.
pub const KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the SQLite database (and later the broker log and search index) live.
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub store: StoreSettings,
    pub wallet: WalletSettings,
    pub kafka: KafkaSettings,
    pub broker: BrokerSettings,
    pub registry: RegistrySettings,
    pub relay: RelaySettings,
    pub projectors: ProjectorSettings,
    pub ingest: IngestSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address to listen on; port 0 picks a free one.
    pub addr: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Largest feed upload (`POST /v1/partners/{id}/feeds`), read as a stream; larger ones
    /// stop with 413.
    pub feed_limit_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/eventmall.db`.
    pub url: String,
    /// Connections in the pool (readers, for SQLite).
    pub max_connections: u32,
    /// Snapshot an aggregate every this many events; 0 turns snapshots off.
    pub snapshot_every: u32,
    /// Aggregates kept in memory per aggregate type; 0 turns the cache off.
    pub aggregate_cache: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletSettings {
    /// Balance every simulated wallet starts with, in won.
    pub starting_balance: i64,
    /// Largest single payment the simulated wallet authorizes, in won.
    pub per_payment_limit: i64,
}

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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySettings {
    /// An external Confluent-compatible registry; empty means the embedded one.
    pub url: String,
    /// The embedded registry's global compatibility level until one is set through its API.
    pub compatibility: String,
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
    /// How long the producer tries to deliver a record before the batch is retried, in ms.
    pub delivery_timeout_ms: u64,
    /// The producer's `linger.ms`.
    pub linger_ms: u64,
    /// The producer's `compression.type` (`none`, `lz4`, `zstd`, …).
    pub compression: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectorSettings {
    /// Whether `up` runs the projectors.
    pub enabled: bool,
    /// Database of the SQL read models, `sqlite://…` or `postgres://…`; empty means
    /// `sqlite://<data_dir>/views.db`, a file of its own so projectors never wait on the
    /// event store's writer.
    pub url: String,
    /// Records applied per transaction, at most.
    pub batch_size: usize,
    /// How long a projector waits for more records before applying a partial batch, in ms.
    pub batch_wait_ms: u64,
    /// How long the group waits for a silent (killed) projector instance before its
    /// partitions go to the others, in ms.
    pub session_timeout_ms: u64,
    /// Where the search index lives; empty means `<data_dir>/search`.
    pub search_dir: String,
    /// Names this search replica when several keep their own index (each consumes as its own
    /// group); empty for one.
    pub search_replica: String,
    /// How long a read with `X-Consistency-Token` waits for its projection, in ms, before it
    /// answers marked stale.
    pub read_wait_ms: u64,
    /// Half-life of a purchase's weight in trending products, in hours.
    pub trending_half_life_hours: f64,
    /// Platform commission taken from partners' net sales, in basis points (1080 = 10.8 %).
    pub commission_rate_bp: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// Whether `up` runs the ingest consumer of the upstream producers' topics.
    pub enabled: bool,
    /// Its consumer group; a new group reads the ingest topics again from the start.
    pub group: String,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            group: "eventmall-ingest".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            http: HttpSettings::default(),
            store: StoreSettings::default(),
            wallet: WalletSettings::default(),
            kafka: KafkaSettings::default(),
            broker: BrokerSettings::default(),
            registry: RegistrySettings::default(),
            relay: RelaySettings::default(),
            projectors: ProjectorSettings::default(),
            ingest: IngestSettings::default(),
            log: LogSettings::default(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            body_limit_bytes: 256 * 1024,
            feed_limit_bytes: 1 << 30,
        }
    }
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

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            starting_balance: 50_000_000,
            per_payment_limit: 10_000_000,
        }
    }
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

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            compatibility: "BACKWARD_TRANSITIVE".into(),
        }
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "eventmall".into(),
            batch_size: 2_000,
            poll_interval_ms: 20,
            lease_ttl_ms: 10_000,
            delivery_timeout_ms: 30_000,
            linger_ms: 5,
            compression: "none".into(),
        }
    }
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            url: String::new(),
            batch_size: 2_000,
            batch_wait_ms: 20,
            session_timeout_ms: 10_000,
            trending_half_life_hours: 72.0,
            read_wait_ms: 2_000,
            search_dir: String::new(),
            search_replica: String::new(),
            commission_rate_bp: 1080,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,sqlx=warn".into(),
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then the environment, then `data_dir` if given.
    pub fn load(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, data_dir, Environment::default())
    }

    fn load_from(
        file: Option<&Path>,
        data_dir: Option<&Path>,
        environment: Environment,
    ) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(Config::try_from(&Settings::default())?);
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).required(true));
        }
        builder = builder.add_source(
            environment
                .prefix("EVENTMALL")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        if let Some(dir) = data_dir {
            builder = builder.set_override("data_dir", dir.to_string_lossy().into_owned())?;
        }

        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if settings.kafka.bootstrap_servers.is_empty()
            && let Ok(servers) = std::env::var(KAFKA_BOOTSTRAP_SERVERS)
        {
            settings.kafka.bootstrap_servers = servers;
        }
        Ok(settings)
    }

    /// The read models' database URL, defaulting to `views.db` in the data directory.
    pub fn views_url(&self) -> String {
        if self.projectors.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("views.db").display())
        } else {
            self.projectors.url.clone()
        }
    }

    /// Where the search index generations live.
    pub fn search_dir(&self) -> PathBuf {
        match self.projectors.search_dir.as_str() {
            "" => self.data_dir.join("search"),
            dir => PathBuf::from(dir),
        }
    }

    /// The bootstrap servers of an external cluster, if one is configured.
    pub fn external_kafka(&self) -> Option<&str> {
        Some(self.kafka.bootstrap_servers.as_str()).filter(|servers| !servers.is_empty())
    }

    /// The event store's URL, defaulting to a SQLite file in the data directory.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("eventmall.db").display())
        } else {
            self.store.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::default().source(Some(map))
    }

    #[test]
    fn defaults_put_sqlite_in_the_data_dir() {
        let settings = Settings::load_from(None, None, env(&[])).unwrap();
        assert_eq!(settings.store_url(), "sqlite://./data/eventmall.db");
    }

    #[test]
    fn environment_overrides_file_and_data_dir_flag_overrides_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("eventmall.toml");
        std::fs::write(
            &file,
            "[http]\naddr = \"0.0.0.0:9000\"\nbody_limit_bytes = 10\n",
        )
        .unwrap();
        let settings = Settings::load_from(
            Some(&file),
            Some(Path::new("/srv/em")),
            env(&[
                ("EVENTMALL__HTTP__BODY_LIMIT_BYTES", "2048"),
                ("EVENTMALL__DATA_DIR", "/ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.http.addr, "0.0.0.0:9000");
        assert_eq!(settings.http.body_limit_bytes, 2048);
        assert_eq!(settings.data_dir, PathBuf::from("/srv/em"));
    }

    #[test]
    fn unknown_variables_are_refused() {
        let error = Settings::load_from(None, None, env(&[("EVENTMALL__HTTP__ADRR", "x")]));
        assert!(error.unwrap_err().to_string().contains("adrr"));
    }
}
