//! `/v1/admin/projections/{name}/…`: the replay tooling over HTTP, as the CLI has it: start a
//! rebuild and follow its progress, swap, roll back, verify.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_kafka::replay::{Generations, RebuildOptions, Replay, Swapped, Verified};
use eventmall_projections::Generation;
use eventmall_read_models::replays::{self, RebuildRow};

use crate::extract::CommandBody;
use crate::problem::ReplayProblems;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(projection))
        .routes(routes!(start_rebuild))
        .routes(routes!(rebuild))
        .routes(routes!(swap))
        .routes(routes!(rollback))
        .routes(routes!(verify))
        .routes(routes!(latest))
}

fn replay(state: &AppState) -> Result<&Replay, ApiError> {
    state
        .replay
        .as_ref()
        .ok_or_else(|| eventmall_kafka::Error::NoCluster.into())
}

/// How many records of each partition `latest` answers.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LatestQuery {
    /// Records per partition, 1 to 50.
    #[serde(default = "ten")]
    #[param(minimum = 1, maximum = 50)]
    limit: i64,
}

fn ten() -> i64 {
    10
}

/// The latest records of a topic, decoded through the registry (as `eventmall events tail`).
#[utoipa::path(
    get,
    path = "/v1/admin/topics/{topic}/latest",
    tag = "operations",
    params(("topic" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,249}$", description = "A topic of the cluster"), LatestQuery),
    responses((status = 200, description = "Key, partition, offset, timestamp, headers and decoded value of each", body = Vec<Object>), ReplayProblems),
)]
async fn latest(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    crate::extract::Query(query): crate::extract::Query<LatestQuery>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    if !(1..=50).contains(&query.limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 50".into()));
    }
    let valid = !topic.is_empty()
        && topic.len() <= 249
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "{topic:?} is not a topic name"
        )));
    }
    match replay(&state)?.latest(&topic, query.limit).await {
        Err(eventmall_kafka::Error::NoSuchTopic(topic)) => {
            Err(ApiError::NotFound(format!("no topic {topic}")))
        }
        answer => Ok(Json(answer?)),
    }
}

/// A projection's generations and its latest rebuilds.
#[utoipa::path(
    get,
    path = "/v1/admin/projections/{name}",
    tag = "operations",
    params(("name" = String, Path, description = "`order-views`, `search` or `recommendations`")),
    responses((status = 200, description = "Its generations and rebuilds", body = Generations), ReplayProblems),
)]
async fn projection(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Generations>, ApiError> {
    Ok(Json(replay(&state)?.generations(&name).await?))
}

/// A rebuild that started.
#[derive(Debug, Serialize, ToSchema)]
struct Started {
    rebuild_id: String,
    projector: String,
    generation: u32,
    /// Partitions it resumes from (a rebuild left behind by a kill), empty for a new one.
    #[schema(value_type = Vec<Object>)]
    resumed_from: Vec<eventmall_projections::Checkpoint>,
}

/// Starts a rebuild: a new generation built from offset 0 beside the live one (or the one a
/// killed rebuild left, resumed), then swapped in as `swap` says. Its progress is at the
/// `Location` it answers, and in `GET /v1/projections`.
#[utoipa::path(
    post,
    path = "/v1/admin/projections/{name}/rebuilds",
    tag = "operations",
    params(("name" = String, Path, description = "`order-views`, `search` or `recommendations`")),
    request_body = RebuildOptions,
    responses(
        (status = 202, description = "Started; follow it at `Location`", body = Started),
        ReplayProblems,
    ),
)]
async fn start_rebuild(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: CommandBody<RebuildOptions>,
) -> Result<Response, ApiError> {
    let options = body.value;
    let replay = replay(&state)?.clone();
    let began = replay.begin(&name).await?;
    let started = Started {
        rebuild_id: began.rebuild_id.clone(),
        projector: began.projector.to_owned(),
        generation: began.generation.0,
        resumed_from: began.resumed_from.clone(),
    };
    let location = format!(
        "/v1/admin/projections/{}/rebuilds/{}",
        started.projector, started.rebuild_id
    );
    tokio::spawn(async move {
        let id = began.rebuild_id.clone();
        match replay
            .run(began, &options, |_| {}, CancellationToken::new())
            .await
        {
            Ok(rebuilt) => info!(rebuild = %id, outcome = ?rebuilt.outcome, "rebuild ended"),
            Err(error) => warn!(rebuild = %id, %error, "rebuild failed"),
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(started),
    )
        .into_response())
}

/// A rebuild, with its state and its last progress report.
#[utoipa::path(
    get,
    path = "/v1/admin/projections/{name}/rebuilds/{id}",
    tag = "operations",
    params(
        ("name" = String, Path, description = "`order-views`, `search` or `recommendations`"),
        ("id" = String, Path, description = "The rebuild's id"),
    ),
    responses((status = 200, description = "The rebuild", body = RebuildRow), ReplayProblems),
)]
async fn rebuild(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<RebuildRow>, ApiError> {
    let stores = state.views.stores();
    replays::rebuild(&stores.pool, &id)
        .await?
        .filter(|row| row.projector == stores.key(&name))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no rebuild {id} of {name}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SwapTo {
    /// The generation to serve; the newest ready one when absent.
    #[serde(default)]
    generation: Option<u32>,
}

/// Makes a ready generation serve, once it is within the lag bound and has applied everything
/// the live one had; the live one is retired and keeps following the log.
#[utoipa::path(
    post,
    path = "/v1/admin/projections/{name}/swap",
    tag = "operations",
    params(("name" = String, Path, description = "`order-views`, `search` or `recommendations`")),
    request_body(content = inline(SwapTo), description = "Optional: `{\"generation\": 3}`"),
    responses((status = 200, description = "Swapped", body = Swapped), ReplayProblems),
)]
async fn swap(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: CommandBody<SwapTo>,
) -> Result<Json<Swapped>, ApiError> {
    let to = body.value.generation.map(Generation);
    Ok(Json(replay(&state)?.swap(&name, to).await?))
}

/// Makes the previous (newest retired) generation serve again, at once: it kept following
/// the log.
#[utoipa::path(
    post,
    path = "/v1/admin/projections/{name}/rollback",
    tag = "operations",
    params(("name" = String, Path, description = "`order-views`, `search` or `recommendations`")),
    responses((status = 200, description = "Rolled back", body = Swapped), ReplayProblems),
)]
async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Swapped>, ApiError> {
    Ok(Json(replay(&state)?.rollback(&name).await?))
}

/// Builds a scratch generation to the live one's cut and compares the two: their checksums
/// and the first keys that differ, with both rows.
#[utoipa::path(
    post,
    path = "/v1/admin/projections/{name}/verify",
    tag = "operations",
    params(("name" = String, Path, description = "`order-views`, `search` or `recommendations`")),
    responses((status = 200, description = "The comparison", body = Verified), ReplayProblems),
)]
async fn verify(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Verified>, ApiError> {
    Ok(Json(replay(&state)?.verify(&name).await?))
}
