//! Layered configuration: defaults, then an optional TOML file, then `EVENTMALL__…` environment
//! variables (`EVENTMALL__HTTP__ADDR=0.0.0.0:8080`). Unknown keys are errors, so a typo in a
//! variable name does not go unnoticed. Each section is the settings type of the crate it
//! configures; `[projectors]` serves two (the runtime and the read models).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, ConfigError, Environment, File};
use eventmall_feeds::FeedSettings;
use eventmall_http::HttpSettings;
use eventmall_http::auth::AuthSettings;
use eventmall_kafka::{
    BrokerSettings, IngestSettings, KafkaSettings, PolicySettings, ProjectorSettings,
    RelaySettings, ReplaySettings,
};
use eventmall_read_models::ReadModelSettings;
use eventmall_registry::RegistrySettings;
use eventmall_store::{StoreSettings, WalletSettings};
use serde::{Deserialize, Serialize};

/// The conventional variable naming a Kafka cluster, honoured beside `EVENTMALL__KAFKA__…`.
pub const KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the SQLite databases, the broker's files and the search index live by default.
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub store: StoreSettings,
    pub wallet: WalletSettings,
    pub kafka: KafkaSettings,
    pub broker: BrokerSettings,
    pub registry: RegistrySettings,
    pub relay: RelaySettings,
    pub projectors: ProjectorsSettings,
    pub ingest: IngestSettings,
    pub policy: PolicySettings,
    pub feeds: FeedSettings,
    pub replay: ReplaySettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
}

/// `[projectors]`: how the projectors run, and where and how the read models keep their data.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectorsSettings {
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
    /// A projector more than this many records behind switches to catch-up mode (large
    /// windows, folded in memory, committed once each), and back below half of it.
    pub catch_up_lag: i64,
    /// Records applied per transaction in catch-up mode, at most.
    pub catch_up_batch_size: usize,
    /// How long a catch-up window stays open after its first record, in ms.
    pub catch_up_wait_ms: u64,
    /// What one projector's records may hold in memory, in MiB (windows and prefetch).
    pub memory_budget_mib: usize,
    /// Where the search index lives; empty means `<data_dir>/search`.
    pub search_dir: String,
    /// Names this search replica when several keep their own index (each consumes as its own
    /// group); empty for one.
    pub search_replica: String,
    /// A search dictionary file (synonyms, Hangul and Latin spellings), read when a search
    /// generation is made; empty means the built-in one. Deploy a change by rebuilding search.
    pub search_dictionary: String,
    /// How long a read with `X-Consistency-Token` waits for its projection, in ms, before it
    /// answers marked stale.
    pub read_wait_ms: u64,
    /// Half-life of a purchase's weight in trending products, in hours.
    pub trending_half_life_hours: f64,
    /// Platform commission taken from partners' net sales, in basis points (1080 = 10.8 %).
    pub commission_rate_bp: u32,
    /// How often an API process looks at the serving generations (a swap reaches it within
    /// this) and at the search index's last commit, in ms.
    pub follow_ms: u64,
}

impl ProjectorsSettings {
    /// What the projector runtime takes of these.
    pub fn runtime(&self) -> ProjectorSettings {
        ProjectorSettings {
            batch_size: self.batch_size,
            batch_wait_ms: self.batch_wait_ms,
            session_timeout_ms: self.session_timeout_ms,
            catch_up_lag: self.catch_up_lag,
            catch_up_batch_size: self.catch_up_batch_size,
            catch_up_wait_ms: self.catch_up_wait_ms,
            memory_budget_mib: self.memory_budget_mib,
        }
    }

    /// What the read models take of these.
    pub fn read_models(&self) -> ReadModelSettings {
        ReadModelSettings {
            search_replica: self.search_replica.clone(),
            search_dictionary: (!self.search_dictionary.is_empty())
                .then(|| self.search_dictionary.clone().into()),
            trending_half_life_hours: self.trending_half_life_hours,
            commission_rate_bp: self.commission_rate_bp,
        }
    }
}

impl Default for ProjectorsSettings {
    fn default() -> Self {
        let runtime = ProjectorSettings::default();
        Self {
            enabled: true,
            url: String::new(),
            batch_size: runtime.batch_size,
            batch_wait_ms: runtime.batch_wait_ms,
            session_timeout_ms: runtime.session_timeout_ms,
            catch_up_lag: runtime.catch_up_lag,
            catch_up_batch_size: runtime.catch_up_batch_size,
            catch_up_wait_ms: runtime.catch_up_wait_ms,
            memory_budget_mib: runtime.memory_budget_mib,
            trending_half_life_hours: 72.0,
            read_wait_ms: 2_000,
            search_dir: String::new(),
            search_replica: String::new(),
            search_dictionary: String::new(),
            commission_rate_bp: 1080,
            follow_ms: 500,
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
            auth: AuthSettings::default(),
            store: StoreSettings::default(),
            wallet: WalletSettings::default(),
            kafka: KafkaSettings::default(),
            broker: BrokerSettings::default(),
            registry: RegistrySettings::default(),
            relay: RelaySettings::default(),
            projectors: ProjectorsSettings::default(),
            ingest: IngestSettings::default(),
            policy: PolicySettings::default(),
            feeds: FeedSettings::default(),
            replay: ReplaySettings::default(),
            log: LogSettings::default(),
            telemetry: TelemetrySettings::default(),
        }
    }
}

/// `[telemetry]`: where the roles without an API serve their metrics, and where spans go.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Address of a keyless `GET /metrics` for the roles at scale (`serve`, `relay`, `project`,
    /// `ingest consume`, `policy`), e.g. `0.0.0.0:9464`, for the monitoring network only;
    /// empty serves none. The API's own `/metrics` (`up`, `serve`) takes an admin key.
    pub metrics_addr: String,
    /// OTLP/HTTP endpoint of a collector, e.g. `http://otel-collector:4318`; spans are
    /// exported to `<endpoint>/v1/traces` when set, and not recorded at all when empty.
    pub otlp_endpoint: String,
    /// The `service.name` the spans carry; empty means `eventmall-<role>`.
    pub service_name: String,
    /// The share of new traces recorded, 0 to 1; a trace that comes with a `traceparent`
    /// follows its sampled flag.
    pub sample_ratio: f64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            metrics_addr: String::new(),
            otlp_endpoint: String::new(),
            service_name: String::new(),
            sample_ratio: 1.0,
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
        let kafka = std::env::var(KAFKA_BOOTSTRAP_SERVERS).ok();
        Self::load_from(file, data_dir, Environment::default(), kafka)
    }

    /// The defaults with `vars` (`EVENTMALL__…` names and their values, and
    /// `KAFKA_BOOTSTRAP_SERVERS`) as the whole environment: what a process started with them
    /// would run with.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let environment = Environment::default().source(Some(vars.clone()));
        let kafka = vars.get(KAFKA_BOOTSTRAP_SERVERS).cloned();
        Self::load_from(None, None, environment, kafka)
    }

    /// Defaults, `file`, `environment` and `data_dir`; `kafka` names the cluster when no
    /// `EVENTMALL__KAFKA__BOOTSTRAP_SERVERS` does.
    fn load_from(
        file: Option<&Path>,
        data_dir: Option<&Path>,
        environment: Environment,
        kafka: Option<String>,
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
            && let Some(servers) = kafka
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
        let settings = Settings::load_from(None, None, env(&[]), None).unwrap();
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
            None,
        )
        .unwrap();
        assert_eq!(settings.http.addr, "0.0.0.0:9000");
        assert_eq!(settings.http.body_limit_bytes, 2048);
        assert_eq!(settings.data_dir, PathBuf::from("/srv/em"));
    }

    #[test]
    fn unknown_variables_are_refused() {
        let error = Settings::load_from(None, None, env(&[("EVENTMALL__HTTP__ADRR", "x")]), None);
        assert!(error.unwrap_err().to_string().contains("adrr"));
    }
}
