//! Layered configuration: defaults, then an optional TOML file, then `EVENTMALL__…` environment
//! variables (`EVENTMALL__HTTP__ADDR=0.0.0.0:8080`). Unknown keys are errors, so a typo in a
//! variable name does not go unnoticed.

use std::path::{Path, PathBuf};

use config::{Config, ConfigError, Environment, File};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the SQLite database (and later the broker log and search index) live.
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub store: StoreSettings,
    pub wallet: WalletSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address to listen on; port 0 picks a free one.
    pub addr: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
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
            log: LogSettings::default(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            body_limit_bytes: 256 * 1024,
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
        builder.build()?.try_deserialize()
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
