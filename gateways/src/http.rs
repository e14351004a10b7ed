//! The HTTP API: command routes per aggregate, their read-back routes, health.

mod extract;
mod health;
mod order_views;
mod orders;
mod payments;
pub mod problem;
mod products;
mod projections;
mod recommendations;
mod relay;
mod search;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use cqrs_es::Aggregate;
use eventmall_events::StoredEvent;
use serde::{Deserialize, Serialize};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::commands::{CommandGateway, CommandRequest, Dispatch, Receipt};
use crate::store::SqlEventStore;
pub use extract::BodyLimit;
use extract::{CommandHeaders, Query};
pub use problem::ApiError;

/// The body of a command without fields: `{}` or nothing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Clone)]
pub struct AppState {
    pub commands: CommandGateway,
    /// The event store's database, for the relay's state.
    pub control: sqlx::AnyPool,
    /// The read models the read routes serve.
    pub views: crate::views::ReadModels,
    pub consistency: crate::consistency::ReadConsistency,
}

pub fn router(state: AppState, body_limit: usize) -> Router {
    Router::new()
        .merge(health::router())
        .nest("/v1/products", products::router())
        .nest("/v1/orders", orders::router())
        .nest("/v1/payments", payments::router())
        .route("/v1/search", axum::routing::get(search::search))
        .route(
            "/v1/trending",
            axum::routing::get(recommendations::trending),
        )
        .nest("/v1/customers", order_views::customers())
        .nest("/v1/partners", order_views::partners())
        .nest("/v1/relay", relay::router())
        .route("/v1/projections", axum::routing::get(projections::status))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            projections::read_your_writes,
        ))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(Extension(BodyLimit(body_limit)))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

impl CommandHeaders {
    /// The command request these headers describe.
    fn request<C>(
        self,
        aggregate_id: impl ToString,
        command: C,
        fingerprint: Option<&str>,
    ) -> CommandRequest<C> {
        CommandRequest {
            aggregate_id: aggregate_id.to_string(),
            command,
            expected_version: self.expected_version,
            idempotency: self.claim(fingerprint),
            metadata: self.metadata,
        }
    }
}

/// Runs a command and answers with its receipt.
async fn execute<C>(
    state: &AppState,
    aggregate_id: impl ToString,
    headers: CommandHeaders,
    fingerprint: Option<&str>,
    command: C,
    status: StatusCode,
) -> Result<Response, ApiError>
where
    CommandGateway: Dispatch<C>,
{
    let request = headers.request(aggregate_id, command, fingerprint);
    let receipt = state.commands.dispatch(request).await?;
    Ok(accepted(receipt, status))
}

/// The answer to an accepted command: the receipt, with the version as `ETag`.
fn accepted(receipt: Receipt, status: StatusCode) -> Response {
    let etag = etag(receipt.version);
    let mut response = (status, Json(receipt)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

fn etag(version: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{version}\"")).ok()
}

#[derive(Serialize)]
struct AggregateView<T> {
    id: String,
    version: i64,
    state: T,
}

/// `GET /{id}`: current state and version, 404 when the aggregate does not exist.
async fn current_state<A, T: Serialize>(
    store: &SqlEventStore<A>,
    id: String,
    state: impl FnOnce(A) -> Option<T>,
) -> Result<Response, ApiError>
where
    A: Aggregate + Clone,
{
    let loaded = store.load(&id).await?;
    let version = loaded.version;
    let state = state(loaded.aggregate)
        .ok_or_else(|| ApiError::NotFound(format!("{} {id} does not exist", A::TYPE)))?;
    let mut response = Json(AggregateView { id, version, state }).into_response();
    if let Some(etag) = etag(version) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_page")]
    limit: i64,
}

fn default_page() -> i64 {
    100
}

#[derive(Serialize)]
struct History {
    events: Vec<StoredEvent>,
}

/// `GET /{id}/events`: the aggregate's events after a sequence, oldest first.
async fn history<A: Aggregate + Clone>(
    store: &SqlEventStore<A>,
    id: String,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    if !(1..=1000).contains(&query.limit) || query.after < 0 {
        return Err(ApiError::BadRequest(
            "limit must be 1 to 1000 and after at least 0".into(),
        ));
    }
    let events = store
        .backend()
        .stream(A::TYPE, &id, query.after, query.limit)
        .await?;
    if events.is_empty() && query.after == 0 {
        return Err(ApiError::NotFound(format!(
            "{} {id} does not exist",
            A::TYPE
        )));
    }
    Ok(Json(History { events }).into_response())
}
