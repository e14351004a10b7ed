//! `GET /v1/projections`, and read-your-writes for the routes a projection serves.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, PartialSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_kafka::consistency::ProjectionStatus;
use eventmall_read_models::{OrderViews, Recommendations, Search};

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

/// Each projector's generation, consumer group, offsets and lag.
#[utoipa::path(
    get,
    path = "/v1/projections",
    tag = "operations",
    responses((status = 200, description = "Every projector this process serves", body = Vec<ProjectionStatus>)),
)]
async fn status(State(state): State<AppState>) -> Json<Vec<ProjectionStatus>> {
    let mut statuses = Vec::new();
    for projection in state.views.projections() {
        statuses.push(state.consistency.status(projection.as_ref()).await);
    }
    Json(statuses)
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
        ["", "v1", "search"] | ["", "v1", "products", _] => Some(Search::NAME),
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
    let Some(projection) = state.views.projection(name) else {
        return next.run(request).await;
    };
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
