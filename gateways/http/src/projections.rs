//! `GET /v1/projections`, the read models a request reads ([`Views`]: one generation of each
//! for the whole request), and read-your-writes for the routes a projection serves.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, PartialSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_kafka::consistency::ProjectionStatus;
use eventmall_read_models::generations::{self, GenerationRow};
use eventmall_read_models::replays::{self, RebuildRow};
use eventmall_read_models::{OrderViews, ReadModels, Recommendations, Search};
use serde::Serialize;

use crate::problem::ReadProblems;
use crate::{ApiError, AppState};

/// The request header carrying a command receipt's `global_position`.
pub const CONSISTENCY_TOKEN: &str = "x-consistency-token";
/// The response header saying whether the read reflects the token: `fresh` or `stale`.
pub const CONSISTENCY: &str = "x-consistency";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// `X-Consistency-Token`, for the OpenAPI document of the read routes.
pub struct ConsistencyToken;

impl IntoParams for ConsistencyToken {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("X-Consistency-Token")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "A command receipt's `global_position`: wait, up to a bound, until this read \
                     model has applied it. The answer says `X-Consistency: fresh` or `stale`.",
                ))
                .schema(Some(i64::schema()))
                .build(),
        ]
    }
}

/// The read models one request reads, taken once: every read of the request (and the
/// read-your-writes wait before them) sees the same generation of each, even across a swap.
pub struct Views(pub Arc<ReadModels>);

impl FromRequestParts<AppState> for Views {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Self(
            parts
                .extensions
                .get::<Arc<ReadModels>>()
                .cloned()
                .unwrap_or_else(|| state.views.current()),
        ))
    }
}

/// A projection as served here, with its generations and latest rebuilds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectionReport {
    #[serde(flatten)]
    pub serving: ProjectionStatus,
    /// Every generation: building, ready, live, retired, …
    pub generations: Vec<GenerationRow>,
    /// The latest rebuilds, newest first, each with its last progress report.
    pub rebuilds: Vec<RebuildRow>,
}

/// Each projector's serving generation, consumer group, offsets and lag; its other generations;
/// and its rebuilds with their progress.
#[utoipa::path(
    get,
    path = "/v1/projections",
    tag = "operations",
    responses((status = 200, description = "Every projector this process serves", body = Vec<ProjectionReport>), ReadProblems),
)]
async fn status(
    State(state): State<AppState>,
    Views(views): Views,
) -> Result<Json<Vec<ProjectionReport>>, ApiError> {
    let stores = state.views.stores();
    let mut reports = Vec::new();
    for projection in views.projections() {
        let key = stores.key(projection.name());
        reports.push(ProjectionReport {
            serving: state.consistency.status(projection.as_ref()).await,
            generations: generations::list(&stores.pool, &key).await?,
            rebuilds: replays::rebuilds(&stores.pool, &key, 5).await?,
        });
    }
    Ok(Json(reports))
}

/// The projection that serves a read route, if it is one.
fn serving(method: &Method, path: &str) -> Option<&'static str> {
    if method != Method::GET {
        return None;
    }
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["", "v1", "products", _, "bought-together" | "also-bought"]
        | ["", "v1", "trending"]
        | ["", "v1", "customers", _, "recommendations"] => Some(Recommendations::NAME),
        ["", "v1", "orders", _] | ["", "v1", "customers" | "partners", _, _] => {
            Some(OrderViews::NAME)
        }
        ["", "v1", "search"] | ["", "v1", "search", "suggest"] | ["", "v1", "products", _] => {
            Some(Search::NAME)
        }
        _ => None,
    }
}

/// With `X-Consistency-Token: <position>`, a read of a projection waits until the projection
/// has applied that position, up to the configured bound, and says in `X-Consistency` whether
/// it got there (`fresh`) or answers with what it has (`stale`).
pub async fn read_your_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = request.headers().get(CONSISTENCY_TOKEN) else {
        return next.run(request).await;
    };
    let Some(name) = serving(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(token) = token
        .to_str()
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
    else {
        return ApiError::BadRequest(format!(
            "{CONSISTENCY_TOKEN} must be a receipt's global_position"
        ))
        .into_response();
    };
    let views = state.views.current();
    let Some(projection) = views.projection(name).cloned() else {
        return next.run(request).await;
    };
    // The handler reads the generation this wait was for.
    let mut request = request;
    request.extensions_mut().insert(views);
    let fresh = match state.consistency.wait(projection.as_ref(), token).await {
        Ok(fresh) => fresh,
        // Well-formed, but no receipt of this store carried it: waiting cannot help.
        Err(ahead) => {
            return ApiError::Unprocessable {
                slug: "consistency-token-ahead",
                detail: ahead.to_string(),
            }
            .into_response();
        }
    };
    let mut response = next.run(request).await;
    let marker = if fresh { "fresh" } else { "stale" };
    response
        .headers_mut()
        .insert(CONSISTENCY, HeaderValue::from_static(marker));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_routes_map_to_their_projection() {
        let get = Method::GET;
        assert_eq!(serving(&get, "/v1/orders/abc"), Some(OrderViews::NAME));
        assert_eq!(serving(&get, "/v1/orders/abc/state"), None);
        assert_eq!(serving(&get, "/v1/orders/abc/events"), None);
        assert_eq!(
            serving(&get, "/v1/partners/p/sales"),
            Some(OrderViews::NAME)
        );
        assert_eq!(
            serving(&get, "/v1/customers/c/orders"),
            Some(OrderViews::NAME)
        );
        assert_eq!(serving(&get, "/v1/search"), Some(Search::NAME));
        assert_eq!(serving(&get, "/v1/products/x"), Some(Search::NAME));
        assert_eq!(serving(&get, "/v1/products/x/state"), None);
        assert_eq!(serving(&Method::POST, "/v1/orders/abc"), None);
        assert_eq!(
            serving(&get, "/v1/customers/c/recommendations"),
            Some(Recommendations::NAME)
        );
        assert_eq!(
            serving(&get, "/v1/products/x/also-bought"),
            Some(Recommendations::NAME)
        );
        assert_eq!(serving(&get, "/v1/trending"), Some(Recommendations::NAME));
    }
}
