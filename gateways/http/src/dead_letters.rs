//! `/v1/admin/dead-letters`: list the dead letters, show one, retry one.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_kafka::dead_letters::{
    DeadLetterPage, DeadLetterRecord, DeadLetterTool, Retried, RetryError,
};

use crate::extract::Query;
use crate::problem::{Problem, ReadProblems};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(retry))
}

fn tool(state: &AppState) -> Result<&DeadLetterTool, ApiError> {
    state
        .dead_letters
        .as_ref()
        .ok_or_else(|| eventmall_kafka::Error::NoCluster.into())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Dead letters to return at most.
    #[serde(default = "hundred")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: usize,
}

fn hundred() -> usize {
    100
}

/// The dead letters, oldest first per partition: each with its reason, stage and source.
#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters",
    tag = "operations",
    params(ListQuery),
    responses((status = 200, description = "Dead letters and how many there are", body = DeadLetterPage), ReadProblems),
)]
async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<DeadLetterPage>, ApiError> {
    if !(1..=1000).contains(&query.limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    Ok(Json(tool(&state)?.list(query.limit).await?))
}

/// One dead letter, with its raw value.
#[utoipa::path(
    get,
    path = "/v1/admin/dead-letters/{partition}/{offset}",
    tag = "operations",
    params(
        ("partition" = i32, Path, minimum = 0, description = "Its partition on the dead-letter topic"),
        ("offset" = i64, Path, minimum = 0, description = "Its offset there"),
    ),
    responses((status = 200, description = "The dead letter", body = DeadLetterRecord), ReadProblems),
)]
async fn show(
    State(state): State<AppState>,
    Path((partition, offset)): Path<(String, String)>,
) -> Result<Json<DeadLetterRecord>, ApiError> {
    let (partition, offset) = position(&partition, &offset)?;
    tool(&state)?
        .show(partition, offset)
        .await?
        .map(|record| Json(DeadLetterRecord::from(&record)))
        .ok_or_else(|| not_found(partition, offset))
}

/// Produce the dead letter's original record to its source topic again (its key, value and
/// source headers), for the consumer that refused it to take it once more.
#[utoipa::path(
    post,
    path = "/v1/admin/dead-letters/{partition}/{offset}/retry",
    tag = "operations",
    params(
        ("partition" = i32, Path, minimum = 0, description = "Its partition on the dead-letter topic"),
        ("offset" = i64, Path, minimum = 0, description = "Its offset there"),
    ),
    responses(
        (status = 200, description = "Where the record went", body = Retried),
        (status = 422, description = "The dead letter has no source to go back to (a rejected \
            feed line: upload the corrected feed)", body = Problem, content_type = "application/problem+json"),
        ReadProblems,
    ),
)]
async fn retry(
    State(state): State<AppState>,
    Path((partition, offset)): Path<(String, String)>,
) -> Result<Json<Retried>, ApiError> {
    let (partition, offset) = position(&partition, &offset)?;
    match tool(&state)?.retry(partition, offset).await {
        Ok(retried) => Ok(Json(retried)),
        Err(RetryError::NotFound { partition, offset }) => Err(not_found(partition, offset)),
        Err(RetryError::NotRetriable(why)) => Err(ApiError::NotRetriable(why)),
        Err(error @ RetryError::AlreadyRetried { .. }) => {
            Err(ApiError::NotRetriable(error.to_string()))
        }
        Err(RetryError::Kafka(error)) => Err(error.into()),
    }
}

fn position(partition: &str, offset: &str) -> Result<(i32, i64), ApiError> {
    partition
        .parse::<i32>()
        .ok()
        .zip(offset.parse::<i64>().ok())
        .filter(|(p, o)| *p >= 0 && *o >= 0)
        .ok_or_else(|| ApiError::BadRequest("partition and offset are whole numbers from 0".into()))
}

fn not_found(partition: i32, offset: i64) -> ApiError {
    ApiError::NotFound(format!("no dead letter at {partition}/{offset}"))
}
