//! `PUT/GET /v1/partners/{id}/feed-mappings/{format}`: a partner's field mapping for CSV and
//! JSON Lines feeds, versioned.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use eventmall_feeds::{FeedFormat, FieldMapping};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::CommandBody;
use crate::problem::{Problem, ReadProblems, feed_store};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(put_mapping, get_mapping))
}

/// A field mapping and its version.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct VersionedMapping {
    version: i64,
    /// EP field → the partner's column or key.
    fields: std::collections::BTreeMap<String, String>,
}

impl VersionedMapping {
    fn new(version: i64, mapping: FieldMapping) -> Self {
        Self {
            version,
            fields: mapping.fields,
        }
    }
}

/// A mapped format in a path: `csv` or `jsonl`.
fn mapped_format(format: &str) -> Result<FeedFormat, ApiError> {
    match format.parse::<FeedFormat>() {
        Ok(format) if format.mapped() => Ok(format),
        _ => Err(ApiError::BadRequest(format!(
            "{format} feeds take no mapping; csv or jsonl"
        ))),
    }
}

/// Set a partner's field mapping for CSV or JSON Lines feeds: a new version, which later
/// runs use.
#[utoipa::path(
    put,
    path = "/v1/partners/{id}/feed-mappings/{format}",
    tag = "feeds",
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"),
        ("format" = String, Path, pattern = "^(csv|jsonl)$", description = "`csv` or `jsonl`"),
    ),
    request_body = FieldMapping,
    responses(
        (status = 201, description = "The mapping, with its new version", body = VersionedMapping),
        (status = 422, description = "A target is not an EP field, or a required one is unmapped", body = Problem, content_type = "application/problem+json"),
        ReadProblems,
    ),
)]
async fn put_mapping(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, format)): Path<(String, String)>,
    body: CommandBody<FieldMapping>,
) -> Result<(StatusCode, Json<VersionedMapping>), ApiError> {
    let partner = caller.own_partner(id)?;
    let format = mapped_format(&format)?;
    let mapping = body.value;
    mapping.check().map_err(ApiError::InvalidFeed)?;
    let version = state
        .feeds
        .records()
        .put_mapping(&partner, format, &mapping)
        .await
        .map_err(feed_store)?;
    Ok((
        StatusCode::CREATED,
        Json(VersionedMapping::new(version, mapping)),
    ))
}

/// A partner's newest field mapping for CSV or JSON Lines feeds.
#[utoipa::path(
    get,
    path = "/v1/partners/{id}/feed-mappings/{format}",
    tag = "feeds",
    params(
        ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"),
        ("format" = String, Path, pattern = "^(csv|jsonl)$", description = "`csv` or `jsonl`"),
    ),
    responses((status = 200, description = "The newest mapping", body = VersionedMapping), ReadProblems),
)]
async fn get_mapping(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, format)): Path<(String, String)>,
) -> Result<Json<VersionedMapping>, ApiError> {
    let partner = caller.own_partner(id)?;
    let format = mapped_format(&format)?;
    state
        .feeds
        .records()
        .mapping(&partner, format)
        .await
        .map_err(feed_store)?
        .map(|(version, mapping)| Json(VersionedMapping::new(version, mapping)))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "partner {partner} has no {} mapping",
                format.as_str()
            ))
        })
}
