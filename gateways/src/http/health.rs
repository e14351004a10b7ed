use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
}

/// Ready when the event store answers.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.commands.backend();
    match backend.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "event_store": backend.name()})),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "event_store": backend.name(), "error": error.to_string()}),
            ),
        ),
    }
}
