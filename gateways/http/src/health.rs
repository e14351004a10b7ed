//! `GET /healthz` (the process answers) and `GET /readyz` (and its event store does).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`, `ready` or `unavailable`.
    status: &'static str,
    /// The event store's backend (`sqlite`, `postgres`), for readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_store: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Live when the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)),
)]
async fn live() -> Json<Health> {
    Json(Health {
        status: "ok",
        event_store: None,
        error: None,
    })
}

/// Ready when the event store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The event store answers", body = Health),
        (status = 503, description = "The event store does not answer", body = Health),
    ),
)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let backend = state.commands.backend();
    let (status, health, error) = match backend.ping().await {
        Ok(()) => (StatusCode::OK, "ready", None),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            Some(error.to_string()),
        ),
    };
    (
        status,
        Json(Health {
            status: health,
            event_store: Some(backend.name()),
            error,
        }),
    )
}
