//! `GET /v1/relay`: how far behind each relay is, in events and in seconds.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_kafka::relay::{RelayLag, lag};

use crate::problem::ReadProblems;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(relays))
}

/// Each relay's holder, published position and lag.
#[utoipa::path(
    get,
    path = "/v1/relay",
    tag = "operations",
    responses((status = 200, description = "Every relay of the event store", body = Vec<RelayLag>), ReadProblems),
)]
async fn relays(State(state): State<AppState>) -> Result<Json<Vec<RelayLag>>, ApiError> {
    Ok(Json(
        lag(state.commands.backend().as_ref(), &state.store_pool).await?,
    ))
}
