//! `GET /v1/relay`: how far behind each relay is, in events and in seconds.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiError, AppState};
use crate::relay::{RelayLag, lag};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(relays))
}

async fn relays(State(state): State<AppState>) -> Result<Json<Vec<RelayLag>>, ApiError> {
    lag(state.commands.backend().as_ref(), &state.control)
        .await
        .map(Json)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}
