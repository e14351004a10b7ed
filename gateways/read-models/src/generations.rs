//! The generations of each read model, and which one serves. A generation is built beside the
//! live one, then swapped in; the one it replaces is retired but keeps following the log, so a
//! rollback is instant, until it is garbage-collected. The serving pointer is the `live` row,
//! in the read models' own database, so every API process sees a swap on its next look.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use eventmall_projections::Generation;
use serde::Serialize;
use sqlx::AnyPool;

use crate::database::begin_write;
use crate::{Error, Result};

/// Where a generation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GenerationState {
    /// Being built by a rebuild, which holds the projection's lease.
    Building,
    /// Built and following the log, waiting for a swap.
    Ready,
    /// Serving reads.
    Live,
    /// Swapped out; still following the log, so a rollback is instant.
    Retired,
    /// A verify's scratch copy, built to a cut and dropped after.
    Scratch,
    /// Built up to a past position (`rebuild --until position`), for inspection; never serves.
    Stopped,
}

impl GenerationState {
    const ALL: [Self; 6] = [
        Self::Building,
        Self::Ready,
        Self::Live,
        Self::Retired,
        Self::Scratch,
        Self::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Ready => "ready",
            Self::Live => "live",
            Self::Retired => "retired",
            Self::Scratch => "scratch",
            Self::Stopped => "stopped",
        }
    }

    /// Whether the projector roles keep it following the log.
    pub fn followed(self) -> bool {
        matches!(self, Self::Ready | Self::Live | Self::Retired)
    }
}

impl fmt::Display for GenerationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GenerationState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| Error::Corrupt(format!("generation state {s:?}")))
    }
}

/// A generation's row.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GenerationRow {
    pub projector: String,
    #[schema(value_type = u32)]
    pub generation: Generation,
    pub state: GenerationState,
    pub created_at_ms: i64,
}

/// Why a generation could not change state.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{projector} has no generation {generation}")]
    Unknown {
        projector: String,
        generation: Generation,
    },
    #[error("{projector} {generation} is {state}, not {wanted}")]
    State {
        projector: String,
        generation: Generation,
        state: GenerationState,
        wanted: String,
    },
    #[error("{projector} has no retired generation below {live} to roll back to")]
    NothingToRollBackTo { projector: String, live: Generation },
}

/// The generations table.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS projection_generations (\
    projector TEXT NOT NULL, generation BIGINT NOT NULL, state TEXT NOT NULL, \
    created_at_ms BIGINT NOT NULL, PRIMARY KEY (projector, generation))";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn generation_of(stored: i64) -> Generation {
    Generation(u32::try_from(stored).unwrap_or(1))
}

/// The generation reads are served from; the first one is created live when there is none.
/// Replicas starting together may both try; the key lets one insert and the other pass.
pub async fn live(pool: &AnyPool, projector: &str) -> Result<Generation> {
    sqlx::query(
        "INSERT INTO projection_generations (projector, generation, state, created_at_ms) \
         SELECT $1, 1, 'live', $2 WHERE NOT EXISTS \
         (SELECT 1 FROM projection_generations WHERE projector = $3) \
         ON CONFLICT (projector, generation) DO NOTHING",
    )
    .bind(projector)
    .bind(now_ms())
    .bind(projector)
    .execute(pool)
    .await?;
    let generation: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(generation) FROM projection_generations WHERE projector = $1 AND state = 'live'",
    )
    .bind(projector)
    .fetch_one(pool)
    .await?;
    Ok(generation_of(generation.unwrap_or(1)))
}

/// The generation each projector serves, read without writing (what every API process asks
/// every few hundred milliseconds).
pub async fn serving(pool: &AnyPool) -> Result<BTreeMap<String, Generation>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT projector, MAX(generation) FROM projection_generations WHERE state = 'live' \
         GROUP BY projector",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(projector, generation)| (projector, generation_of(generation)))
        .collect())
}

/// Every generation of `projector`, oldest first.
pub async fn list(pool: &AnyPool, projector: &str) -> Result<Vec<GenerationRow>> {
    let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT projector, generation, state, created_at_ms FROM projection_generations \
         WHERE projector = $1 ORDER BY generation",
    )
    .bind(projector)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(row).collect()
}

/// Every generation the projector roles keep following (ready, live and retired ones).
pub async fn followed(pool: &AnyPool) -> Result<Vec<GenerationRow>> {
    let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT projector, generation, state, created_at_ms FROM projection_generations \
         WHERE state IN ('ready', 'live', 'retired') ORDER BY projector, generation",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(row).collect()
}

fn row(
    (projector, generation, state, created_at_ms): (String, i64, String, i64),
) -> Result<GenerationRow> {
    Ok(GenerationRow {
        projector,
        generation: generation_of(generation),
        state: state.parse()?,
        created_at_ms,
    })
}

/// A new generation of `projector`, above every one it had, in `state`.
pub async fn create(pool: &AnyPool, projector: &str, state: GenerationState) -> Result<Generation> {
    live(pool, projector).await?;
    let mut tx = begin_write(pool).await?;
    let highest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(generation) FROM projection_generations WHERE projector = $1",
    )
    .bind(projector)
    .fetch_one(&mut **tx)
    .await?;
    let generation = generation_of(highest.unwrap_or(0)).next();
    sqlx::query(
        "INSERT INTO projection_generations (projector, generation, state, created_at_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(projector)
    .bind(i64::from(generation.0))
    .bind(state.as_str())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    tx.commit().await?;
    Ok(generation)
}

/// The state of one generation, if it exists.
pub async fn state_of<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    projector: &str,
    generation: Generation,
) -> Result<Option<GenerationState>> {
    let state: Option<String> = sqlx::query_scalar(
        "SELECT state FROM projection_generations WHERE projector = $1 AND generation = $2",
    )
    .bind(projector)
    .bind(i64::from(generation.0))
    .fetch_optional(executor)
    .await?;
    state.map(|s| s.parse()).transpose()
}

/// Moves `generation` from one of `from` to `to`; refused when it is in another state.
pub async fn transition(
    pool: &AnyPool,
    projector: &str,
    generation: Generation,
    from: &[GenerationState],
    to: GenerationState,
) -> Result<Result<(), Refused>> {
    let mut tx = begin_write(pool).await?;
    let state = state_of(&mut **tx, projector, generation).await?;
    let outcome = match state {
        None => Err(Refused::Unknown {
            projector: projector.to_owned(),
            generation,
        }),
        Some(state) if !from.contains(&state) => Err(Refused::State {
            projector: projector.to_owned(),
            generation,
            state,
            wanted: names(from),
        }),
        Some(_) => {
            set(&mut tx, projector, generation, to).await?;
            Ok(())
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Makes `to` (ready, building or retired) the serving generation and retires the live one,
/// in one transaction; answers the generation it replaced.
pub async fn swap(
    pool: &AnyPool,
    projector: &str,
    to: Generation,
) -> Result<Result<Generation, Refused>> {
    let mut tx = begin_write(pool).await?;
    let live = live_in(&mut tx, projector).await?;
    let swappable = [
        GenerationState::Ready,
        GenerationState::Building,
        GenerationState::Retired,
    ];
    let outcome = match state_of(&mut **tx, projector, to).await? {
        None => Err(Refused::Unknown {
            projector: projector.to_owned(),
            generation: to,
        }),
        Some(state) if !swappable.contains(&state) => Err(Refused::State {
            projector: projector.to_owned(),
            generation: to,
            state,
            wanted: names(&swappable),
        }),
        Some(_) => {
            if let Some(live) = live {
                set(&mut tx, projector, live, GenerationState::Retired).await?;
            }
            set(&mut tx, projector, to, GenerationState::Live).await?;
            Ok(live.unwrap_or(to))
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The generation a rollback would make live: the newest retired one below the live one.
pub async fn previous(pool: &AnyPool, projector: &str) -> Result<Result<Generation, Refused>> {
    let live = live(pool, projector).await?;
    let previous: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(generation) FROM projection_generations \
         WHERE projector = $1 AND state = 'retired' AND generation < $2",
    )
    .bind(projector)
    .bind(i64::from(live.0))
    .fetch_one(pool)
    .await?;
    Ok(previous
        .map(generation_of)
        .ok_or(Refused::NothingToRollBackTo {
            projector: projector.to_owned(),
            live,
        }))
}

/// Forgets a generation: its row and its checkpoints (the caller drops its storage).
pub async fn forget(pool: &AnyPool, projector: &str, generation: Generation) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    for table in ["projection_checkpoints", "projection_generations"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE projector = $1 AND generation = $2"
        ))
        .bind(projector)
        .bind(i64::from(generation.0))
        .execute(&mut **tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn live_in(tx: &mut Tx, projector: &str) -> Result<Option<Generation>> {
    let live: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(generation) FROM projection_generations WHERE projector = $1 AND state = 'live'",
    )
    .bind(projector)
    .fetch_one(&mut **tx)
    .await?;
    Ok(live.map(generation_of))
}

async fn set(
    tx: &mut Tx,
    projector: &str,
    generation: Generation,
    state: GenerationState,
) -> Result<()> {
    sqlx::query(
        "UPDATE projection_generations SET state = $1 WHERE projector = $2 AND generation = $3",
    )
    .bind(state.as_str())
    .bind(projector)
    .bind(i64::from(generation.0))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn names(states: &[GenerationState]) -> String {
    states
        .iter()
        .map(|state| state.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}
