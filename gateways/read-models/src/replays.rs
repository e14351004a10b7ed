//! The replay tooling's rows in the read models' database: one lease per projection, so that
//! one rebuild runs at a time, and a row per rebuild with its progress, which every API process
//! reads for `GET /v1/projections` and the admin routes.

use std::time::Duration;

use eventmall_projections::Generation;
use serde::Serialize;
use sqlx::AnyPool;

use crate::Result;

/// The rebuilds' leases and records.
pub(crate) const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS projection_leases (projector TEXT PRIMARY KEY, \
     holder TEXT NOT NULL, rebuild_id TEXT NOT NULL, expires_at_ms BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_rebuilds (id TEXT PRIMARY KEY, \
     projector TEXT NOT NULL, generation BIGINT NOT NULL, holder TEXT NOT NULL, \
     state TEXT NOT NULL, started_at_ms BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL, \
     progress TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')",
];

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A rebuild's hold on its projection.
#[derive(Clone, Debug)]
pub struct ProjectionLease {
    pool: AnyPool,
    projector: String,
    holder: String,
    rebuild_id: String,
    ttl: Duration,
}

/// Who holds a projection's lease, when another does.
#[derive(Debug, thiserror::Error)]
#[error(
    "a rebuild of {projector} is running: rebuild {rebuild_id}, held by {holder} until {}",
    at(*expires_at_ms)
)]
pub struct Held {
    pub projector: String,
    pub holder: String,
    pub rebuild_id: String,
    pub expires_at_ms: i64,
}

/// A time in milliseconds since the epoch, as RFC 3339.
fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

impl ProjectionLease {
    pub fn new(
        pool: AnyPool,
        projector: &str,
        holder: &str,
        rebuild_id: &str,
        ttl: Duration,
    ) -> Self {
        Self {
            pool,
            projector: projector.to_owned(),
            holder: holder.to_owned(),
            rebuild_id: rebuild_id.to_owned(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn expiry(&self) -> i64 {
        now_ms() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Takes or renews the lease; refused with the holder while another rebuild holds it.
    pub async fn acquire(&self) -> Result<Result<(), Held>> {
        let taken = sqlx::query(
            "INSERT INTO projection_leases (projector, holder, rebuild_id, expires_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (projector) DO UPDATE SET \
             holder = excluded.holder, rebuild_id = excluded.rebuild_id, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE projection_leases.holder = excluded.holder \
             OR projection_leases.expires_at_ms < $5",
        )
        .bind(&self.projector)
        .bind(&self.holder)
        .bind(&self.rebuild_id)
        .bind(self.expiry())
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if taken {
            return Ok(Ok(()));
        }
        let (holder, rebuild_id, expires_at_ms): (String, String, i64) = sqlx::query_as(
            "SELECT holder, rebuild_id, expires_at_ms FROM projection_leases WHERE projector = $1",
        )
        .bind(&self.projector)
        .fetch_one(&self.pool)
        .await?;
        Ok(Err(Held {
            projector: self.projector.clone(),
            holder,
            rebuild_id,
            expires_at_ms,
        }))
    }

    /// Gives the lease up.
    pub async fn release(&self) -> Result<()> {
        sqlx::query("DELETE FROM projection_leases WHERE projector = $1 AND holder = $2")
            .bind(&self.projector)
            .bind(&self.holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A rebuild as recorded: what it builds, where it is, and how it ended.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RebuildRow {
    pub id: String,
    pub projector: String,
    #[schema(value_type = u32)]
    pub generation: Generation,
    pub holder: String,
    /// `running`, `swapped`, `ready`, `stopped`, `failed`; a `running` rebuild whose holder
    /// stopped renewing its lease is shown as `abandoned` (run it again to resume).
    pub state: String,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    /// The last progress report, as the rebuild wrote it.
    #[schema(value_type = Object)]
    pub progress: serde_json::Value,
    pub detail: String,
}

/// Records a rebuild's start (or its resumption, under the same id).
pub async fn record_start(
    pool: &AnyPool,
    id: &str,
    projector: &str,
    generation: Generation,
    holder: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO projection_rebuilds (id, projector, generation, holder, state, \
         started_at_ms, updated_at_ms, progress) VALUES ($1, $2, $3, $4, 'running', $5, $6, '{}') \
         ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, state = 'running', \
         updated_at_ms = excluded.updated_at_ms",
    )
    .bind(id)
    .bind(projector)
    .bind(i64::from(generation.0))
    .bind(holder)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records where a rebuild is, and its state.
pub async fn record(
    pool: &AnyPool,
    id: &str,
    state: &str,
    progress: &serde_json::Value,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE projection_rebuilds SET state = $1, progress = $2, detail = $3, \
         updated_at_ms = $4 WHERE id = $5",
    )
    .bind(state)
    .bind(progress.to_string())
    .bind(detail)
    .bind(now_ms())
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records how a rebuild ended, keeping its last progress.
pub async fn finish(pool: &AnyPool, id: &str, state: &str, detail: &str) -> Result<()> {
    sqlx::query(
        "UPDATE projection_rebuilds SET state = $1, detail = $2, updated_at_ms = $3 WHERE id = $4",
    )
    .bind(state)
    .bind(detail)
    .bind(now_ms())
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

const COLUMNS: &str = "r.id, r.projector, r.generation, r.holder, r.state, r.started_at_ms, r.updated_at_ms, \
     r.progress, r.detail, COALESCE(l.expires_at_ms, 0)";

type Columns = (
    String,
    String,
    i64,
    String,
    String,
    i64,
    i64,
    String,
    String,
    i64,
);

fn rebuild_row(columns: Columns) -> RebuildRow {
    let (
        id,
        projector,
        generation,
        holder,
        state,
        started_at_ms,
        updated_at_ms,
        progress,
        detail,
        expires,
    ) = columns;
    let state = match state.as_str() {
        "running" if expires < now_ms() => "abandoned".to_owned(),
        _ => state,
    };
    RebuildRow {
        id,
        projector,
        generation: Generation(u32::try_from(generation).unwrap_or(0)),
        holder,
        state,
        started_at_ms,
        updated_at_ms,
        progress: serde_json::from_str(&progress).unwrap_or_default(),
        detail,
    }
}

/// One rebuild.
pub async fn rebuild(pool: &AnyPool, id: &str) -> Result<Option<RebuildRow>> {
    let row: Option<Columns> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projection_rebuilds r LEFT JOIN projection_leases l \
         ON l.rebuild_id = r.id WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(rebuild_row))
}

/// A projection's rebuilds, newest first, at most `limit`.
pub async fn rebuilds(pool: &AnyPool, projector: &str, limit: i64) -> Result<Vec<RebuildRow>> {
    let rows: Vec<Columns> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projection_rebuilds r LEFT JOIN projection_leases l \
         ON l.rebuild_id = r.id WHERE r.projector = $1 ORDER BY r.started_at_ms DESC LIMIT $2"
    ))
    .bind(projector)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(rebuild_row).collect())
}

/// The rebuild of `generation` that a kill left behind (its lease expired), to resume.
pub async fn abandoned(pool: &AnyPool, projector: &str) -> Result<Option<RebuildRow>> {
    Ok(rebuilds(pool, projector, 20)
        .await?
        .into_iter()
        .find(|row| row.state == "abandoned"))
}
