//! The registry's state, kept in the event store's database (SQLite or PostgreSQL) through one
//! `sqlx::Any` implementation.

use std::sync::Arc;

use apache_avro::Schema;
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use tokio::sync::Semaphore;

use eventmall_events::avro::compatibility::Level;

/// Why a registry request failed; each maps to one of Confluent's error codes.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    #[error("Schema not found")]
    SchemaNotFound,
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\": {}", .violations.join("; "))]
    Incompatible {
        subject: String,
        violations: Vec<String>,
    },
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    #[error("Invalid compatibility level. {0}")]
    InvalidLevel(String),
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    LevelNotConfigured(String),
    #[error("Error in the backend data store: {0}")]
    Store(#[from] sqlx::Error),
    /// The blocking pool that parses and checks schemas failed.
    #[error("the schema checker is unavailable: {0}")]
    Busy(String),
}

pub type RegistryResult<T> = Result<T, RegistryError>;

/// A version of a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i64,
    pub id: i64,
    pub schema: String,
}

/// Which version of a subject a request means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(i64),
}

impl std::str::FromStr for VersionSpec {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "latest" | "-1" => Ok(Self::Latest),
            _ => match s.parse::<i64>() {
                Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => Ok(Self::Number(n)),
                _ => Err(RegistryError::InvalidVersion(s.to_owned())),
            },
        }
    }
}

/// A schema as submitted, parsed and normalized.
struct Submitted {
    schema: Schema,
    /// The normalized JSON text, which is what the registry stores and serves.
    text: String,
    fingerprint: String,
}

fn submitted(text: &str) -> RegistryResult<Submitted> {
    let (schema, text) =
        eventmall_events::avro::parse_submitted(text).map_err(RegistryError::InvalidSchema)?;
    let fingerprint = format!("{:x}", Sha256::digest(text.as_bytes()));
    Ok(Submitted {
        schema,
        text,
        fingerprint,
    })
}

/// Attempts at a registration that loses a race for the next version number.
const REGISTER_ATTEMPTS: usize = 8;

#[derive(Clone, Debug)]
pub struct RegistryStore {
    pool: AnyPool,
    default_level: Level,
    /// Parsing and checking schemas is CPU work: it runs on blocking threads, this many at once
    /// (the machine's cores), so the async workers keep serving whatever is submitted.
    cpu: Arc<Semaphore>,
}

impl RegistryStore {
    /// A registry over `pool`, whose global level is `default_level` until one is set.
    pub fn new(pool: AnyPool, default_level: Level) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            pool,
            default_level,
            cpu: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Runs `work` on a blocking thread once a core is free.
    async fn on_cpu<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> RegistryResult<T> + Send + 'static,
    ) -> RegistryResult<T> {
        let _permit = self
            .cpu
            .acquire()
            .await
            .map_err(|e| RegistryError::Busy(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| RegistryError::Busy(e.to_string()))?
    }

    async fn submitted(&self, text: &str) -> RegistryResult<Submitted> {
        let text = text.to_owned();
        self.on_cpu(move || submitted(&text)).await
    }

    /// Registers `text` under `subject`: the existing id when the subject already has it, else a
    /// new version, after the compatibility check.
    pub async fn register(&self, subject: &str, text: &str) -> RegistryResult<i64> {
        let new = self.submitted(text).await?;
        let mut attempt = 0;
        loop {
            if let Some(found) = self.find(subject, &new.fingerprint).await? {
                return Ok(found.id);
            }
            let violations = self.violations(subject, None, &new.schema).await?;
            if !violations.is_empty() {
                return Err(RegistryError::Incompatible {
                    subject: subject.to_owned(),
                    violations,
                });
            }
            match self.insert(subject, &new).await {
                Ok(id) => return Ok(id),
                Err(sqlx::Error::Database(e))
                    if attempt < REGISTER_ATTEMPTS && is_retryable(&*e) =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn insert(&self, subject: &str, new: &Submitted) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO registry_schemas (fingerprint, schema) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING")
            .bind(&new.fingerprint)
            .bind(&new.text)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM registry_schemas WHERE fingerprint = $1")
            .bind(&new.fingerprint)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO registry_versions (subject, version, schema_id, registered_at_ms) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM registry_versions WHERE subject = $4",
        )
        .bind(subject)
        .bind(id)
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(subject)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The subject's version holding the schema with `fingerprint`, if any.
    async fn find(
        &self,
        subject: &str,
        fingerprint: &str,
    ) -> RegistryResult<Option<SubjectVersion>> {
        let row = sqlx::query(
            "SELECT v.version, s.id, s.schema FROM registry_versions v \
             JOIN registry_schemas s ON s.id = v.schema_id \
             WHERE v.subject = $1 AND s.fingerprint = $2",
        )
        .bind(subject)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| subject_version(subject, &row)).transpose()?)
    }

    /// The version of `subject` that holds `text`.
    pub async fn lookup(&self, subject: &str, text: &str) -> RegistryResult<SubjectVersion> {
        let new = self.submitted(text).await?;
        match self.find(subject, &new.fingerprint).await? {
            Some(found) => Ok(found),
            // The subject's absence (40401) comes before the schema's (40403).
            None => self
                .versions(subject)
                .await
                .and(Err(RegistryError::SchemaNotFound)),
        }
    }

    /// The schema text registered as `id`.
    pub async fn schema(&self, id: i64) -> RegistryResult<String> {
        sqlx::query_scalar("SELECT schema FROM registry_schemas WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(RegistryError::SchemaNotFound)
    }

    /// Every (subject, version) that holds schema `id`.
    pub async fn usages(&self, id: i64) -> RegistryResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT subject, version FROM registry_versions WHERE schema_id = $1 ORDER BY subject, version")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            self.schema(id).await?;
        }
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn subjects(&self) -> RegistryResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT subject FROM registry_versions ORDER BY subject")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The subject's version numbers, oldest first.
    pub async fn versions(&self, subject: &str) -> RegistryResult<Vec<i64>> {
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM registry_versions WHERE subject = $1 ORDER BY version",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        match versions.is_empty() {
            true => Err(RegistryError::SubjectNotFound(subject.to_owned())),
            false => Ok(versions),
        }
    }

    pub async fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
    ) -> RegistryResult<SubjectVersion> {
        let versions = self.versions(subject).await?;
        let version = match spec {
            VersionSpec::Latest => versions.last().copied().unwrap_or_default(),
            VersionSpec::Number(n) => n,
        };
        let row = sqlx::query(
            "SELECT v.version, s.id, s.schema FROM registry_versions v \
             JOIN registry_schemas s ON s.id = v.schema_id WHERE v.subject = $1 AND v.version = $2",
        )
        .bind(subject)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| RegistryError::VersionNotFound(version.to_string()))?;
        Ok(subject_version(subject, &row)?)
    }

    /// Why `text` could not be registered under `subject` (against `against`, or against the
    /// versions the subject's level names); empty when it could.
    pub async fn check(
        &self,
        subject: &str,
        against: Option<VersionSpec>,
        text: &str,
    ) -> RegistryResult<Vec<String>> {
        let new = self.submitted(text).await?;
        self.violations(subject, against, &new.schema).await
    }

    async fn violations(
        &self,
        subject: &str,
        against: Option<VersionSpec>,
        new: &Schema,
    ) -> RegistryResult<Vec<String>> {
        let level = self.level(Some(subject), true).await?;
        // At NONE there is nothing to check, nor to load and parse.
        if level == Level::None {
            return Ok(Vec::new());
        }
        let existing = match against {
            Some(spec) => vec![self.version(subject, spec).await?],
            // A new subject has no versions to be compatible with.
            None => self.all_versions(subject).await?,
        };
        // Against one named version, the level's direction applies to that version alone.
        let level = match (against, level) {
            (Some(_), Level::BackwardTransitive) => Level::Backward,
            (Some(_), Level::ForwardTransitive) => Level::Forward,
            (Some(_), Level::FullTransitive) => Level::Full,
            (_, level) => level,
        };
        let new = new.clone();
        self.on_cpu(move || {
            let parsed = existing
                .into_iter()
                .map(|v| {
                    Schema::parse_str(&v.schema)
                        .map(|schema| (v.version, schema))
                        .map_err(|e| RegistryError::InvalidSchema(e.to_string()))
                })
                .collect::<RegistryResult<Vec<_>>>()?;
            Ok(level.violations(&new, &parsed))
        })
        .await
    }

    async fn all_versions(&self, subject: &str) -> RegistryResult<Vec<SubjectVersion>> {
        let rows = sqlx::query(
            "SELECT v.version, s.id, s.schema FROM registry_versions v \
             JOIN registry_schemas s ON s.id = v.schema_id WHERE v.subject = $1 ORDER BY v.version",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| subject_version(subject, row))
            .collect::<Result<_, _>>()?)
    }

    /// The compatibility level of `subject` (the global one for `None`). A subject without its
    /// own level has the global one when `default_to_global`, else it is an error.
    pub async fn level(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> RegistryResult<Level> {
        let scoped = self.configured(subject.unwrap_or_default()).await?;
        match (scoped, subject) {
            (Some(level), _) => Ok(level),
            (None, None) => Ok(self.default_level),
            (None, Some(_)) if default_to_global => {
                Ok(self.configured("").await?.unwrap_or(self.default_level))
            }
            (None, Some(subject)) => Err(RegistryError::LevelNotConfigured(subject.to_owned())),
        }
    }

    async fn configured(&self, scope: &str) -> RegistryResult<Option<Level>> {
        let level: Option<String> =
            sqlx::query_scalar("SELECT compatibility FROM registry_config WHERE scope = $1")
                .bind(scope)
                .fetch_optional(&self.pool)
                .await?;
        level
            .map(|level| level.parse().map_err(RegistryError::InvalidLevel))
            .transpose()
    }

    pub async fn set_level(&self, subject: Option<&str>, level: Level) -> RegistryResult<()> {
        sqlx::query(
            "INSERT INTO registry_config (scope, compatibility) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET compatibility = excluded.compatibility",
        )
        .bind(subject.unwrap_or_default())
        .bind(level.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes the subject's own level, answering the level it had.
    pub async fn delete_level(&self, subject: &str) -> RegistryResult<Level> {
        let level = self.level(Some(subject), false).await?;
        sqlx::query("DELETE FROM registry_config WHERE scope = $1")
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(level)
    }
}

fn subject_version(subject: &str, row: &sqlx::any::AnyRow) -> Result<SubjectVersion, sqlx::Error> {
    Ok(SubjectVersion {
        subject: subject.to_owned(),
        version: row.try_get(0)?,
        id: row.try_get(1)?,
        schema: row.try_get(2)?,
    })
}

/// A unique violation (another registration took the version) or a busy database.
fn is_retryable(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.is_unique_violation()
        || error.message().contains("database is locked")
        || error.code().as_deref() == Some("40001")
}
