//! The HTTP API (axum): command routes per aggregate and their read-back routes, the read
//! models' routes with read-your-writes, partner feeds, and operations. Every route is in the
//! OpenAPI document served at `/openapi.json`.
//!
//! | route | file |
//! |---|---|
//! | `POST /v1/products`, `POST /v1/products/{id}/{details,price,stock,delist,relist}`, `GET /v1/products/{id}/{state,events}` | `products.rs` |
//! | `POST /v1/orders`, `POST /v1/orders/{id}/{pay,ship,deliver,confirm,cancel,return}`, `GET /v1/orders/{id}/{state,events}` | `orders.rs` |
//! | `POST /v1/payments`, `POST /v1/payments/{id}/{authorize,decline,capture,refund,void}`, `GET /v1/payments/{id}[/events]` | `payments.rs` |
//! | `GET /v1/search`, `GET /v1/products/{id}` | `search.rs` |
//! | `GET /v1/orders/{id}`, `GET /v1/customers/{id}/{orders,profile}`, `GET /v1/partners/{id}/{orders,sales,settlements}` | `order_views.rs` |
//! | `GET /v1/products/{id}/{bought-together,also-bought}`, `GET /v1/trending`, `GET /v1/customers/{id}/recommendations` | `recommendations.rs` |
//! | `POST/GET /v1/partners/{id}/feeds[/{run}]` | `feeds.rs` |
//! | `PUT/GET /v1/partners/{id}/feed-mappings/{format}` | `feeds/mappings.rs` |
//! | `GET /v1/admin/dead-letters[/{partition}/{offset}]`, `POST …/retry` | `dead_letters.rs` |
//! | `GET /v1/projections`, and `X-Consistency-Token` on the read routes | `projections.rs` |
//! | `GET /v1/admin/projections/{name}`, `POST …/rebuilds`, `GET …/rebuilds/{id}`, `POST …/{swap,rollback,verify}`, `GET /v1/admin/topics/{topic}/latest` | `replay.rs` |
//! | `GET /v1/relay` | `relay.rs` |
//! | `POST/GET /v1/admin/keys`, `DELETE /v1/admin/keys/{key_id}`, `POST …/rotate` | `keys.rs` |
//! | `POST /v1/admin/customers/{id}/forget` | `privacy.rs` |
//! | `GET /console[/{asset}]`, `GET /v1/me` | `console.rs` |
//! | `GET /metrics` | `metrics.rs` |
//! | `GET /healthz`, `GET /readyz` | `health.rs` |
//!
//! `extract.rs` holds the extractors (bodies, command headers, ids, queries), whose rejections
//! are problems like every other error; `problem.rs` turns every error into one.

pub mod auth;
mod console;
mod dead_letters;
mod extract;
mod feeds;
mod health;
mod keys;
pub mod metrics;
mod order_views;
mod orders;
mod owners;
mod payments;
mod privacy;
pub mod problem;
mod products;
mod projections;
mod recommendations;
mod relay;
mod replay;
mod search;
mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use cqrs_es::Aggregate;
use eventmall_events::StoredEvent;
use serde::{Deserialize, Serialize};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::header::Header;
use utoipa::openapi::{RefOr, Response as ApiResponse};
use utoipa::{IntoParams, IntoResponses, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use eventmall_feeds::FeedIngest;
use eventmall_kafka::consistency::ReadConsistency;
use eventmall_kafka::dead_letters::DeadLetterTool;
use eventmall_kafka::replay::Replay;
use eventmall_read_models::Serving;
use eventmall_store::{CommandGateway, CommandRequest, Dispatch, Receipt, SqlEventStore};
pub use extract::BodyLimit;
use extract::{CommandHeaders, Query};
pub use problem::{ApiError, Problem};
pub use settings::HttpSettings;

/// The body of a command without fields: `{}` or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// What the routes work with.
#[derive(Clone)]
pub struct AppState {
    pub commands: CommandGateway,
    /// The event store's database, for the relay's state.
    pub store_pool: sqlx::AnyPool,
    /// The read models the read routes serve: the live generations, followed as they swap.
    pub views: Arc<Serving>,
    pub consistency: ReadConsistency,
    pub feeds: FeedIngest,
    /// The dead letters of the configured cluster; `None` without one.
    pub dead_letters: Option<DeadLetterTool>,
    /// The replay tooling over the configured cluster; `None` without one.
    pub replay: Option<Replay>,
    /// The largest feed upload, in bytes.
    pub feed_limit_bytes: u64,
    /// How long a feed upload may send nothing.
    pub feed_idle_timeout: std::time::Duration,
    /// Who may call what: the API keys, their rates and each route's access.
    pub gate: auth::Gate,
    /// The customers' data keys: personal data is opened for the read routes, and a
    /// forgotten customer's keys destroyed.
    pub vault: eventmall_store::pii::PiiVault,
    /// How long a request may take, and a feed upload (which streams a large body).
    pub deadlines: Deadlines,
}

/// How long a request may take before it is answered 503.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub request: std::time::Duration,
    pub feed_upload: std::time::Duration,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Eventmall",
        description = "Commands for products, orders and payments, stored as events; read models of \
            search, order views, sales and recommendations built from them.\n\n\
            Errors are `application/problem+json` (RFC 9457). A command's receipt carries \
            `global_position`: send it as `X-Consistency-Token` to a read route to read your write.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "products", description = "A partner's catalog items: the Product aggregate"),
        (name = "orders", description = "A customer's purchase from one partner: the Order aggregate"),
        (name = "payments", description = "Wallet payments: the Payment aggregate"),
        (name = "search", description = "The product search read model"),
        (name = "feeds", description = "Partner product feeds: upload and run reports"),
        (name = "order-views", description = "Orders, histories, profiles, partner sales and settlements"),
        (name = "recommendations", description = "Bought together, also bought, trending, personal picks"),
        (name = "operations", description = "Health, relays and projectors"),
    ),
    components(schemas(
        problem::Problem,
        Receipt,
        eventmall_projections::search::Sort,
        eventmall_projections::orders::OrderStatus
    )),
)]
struct ApiDoc;

/// Every route with its OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(products::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(search::router())
        .merge(order_views::router())
        .merge(feeds::router())
        .merge(dead_letters::router())
        .merge(recommendations::router())
        .merge(relay::router())
        .merge(projections::router())
        .merge(replay::router())
        .merge(keys::router())
        .merge(privacy::router())
        .merge(metrics::router())
        .merge(console::router())
}

/// The OpenAPI 3.1 document of the API, with each operation's security requirement.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = routes().into_openapi();
    auth::document(&mut openapi);
    openapi
}

/// Every route, with its layers: body limits, read-your-writes, request ids and tracing.
pub fn router(state: AppState, body_limit: usize) -> Router {
    router_with(state, body_limit, Router::new())
}

/// [`router`] with `more` routes (the embedded schema registry's) under the same layers.
pub fn router_with(state: AppState, body_limit: usize, more: Router<AppState>) -> Router {
    metrics::handle();
    let (routes, mut openapi) = routes().split_for_parts();
    auth::document(&mut openapi);
    // Route layers run once the route is known, the last added first: the gate, then the
    // deadline, then read-your-writes.
    routes
        .merge(more)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            projections::read_your_writes,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.deadlines,
            within_deadline,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.gate.clone(),
            auth::gate,
        ))
        .route_layer(axum::middleware::from_fn(metrics::measure))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(Extension(BodyLimit(body_limit)))
        .layer(axum::middleware::from_fn(problem::with_request_id))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// A request's server span (OpenTelemetry's HTTP conventions), continuing the caller's trace
/// from its `traceparent`. The route template is added once the router knows it.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let method = request.method().as_str();
    let span = tracing::info_span!(
        "request",
        otel.name = method,
        otel.kind = "server",
        http.request.method = method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        url.path = request.uri().path(),
    );
    let traceparent = request.headers().get(extract::TRACEPARENT);
    eventmall_telemetry::continue_from(&span, traceparent.and_then(|v| v.to_str().ok()));
    span
}

/// Answers 503 when the route takes longer than its deadline. A feed upload, which streams
/// its body under an idle timeout of its own, has a longer one.
async fn within_deadline(
    State(deadlines): State<Deadlines>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let feed_upload = request.method() == axum::http::Method::POST
        && request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .is_some_and(|path| path.as_str() == feeds::UPLOAD);
    let deadline = match feed_upload {
        true => deadlines.feed_upload,
        false => deadlines.request,
    };
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TookTooLong {
            limit_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        }
        .into_response(),
    }
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
            timers: Vec::new(),
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
    C: Send,
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

/// The receipt of a command that changed or created an aggregate, for the OpenAPI document.
fn receipt_responses(
    status: StatusCode,
    description: &str,
) -> BTreeMap<String, RefOr<ApiResponse>> {
    let response = problem::documented(description, "application/json", "Receipt")
        .header(
            "ETag",
            Header::builder()
                .schema(Some(String::schema()))
                .description(Some("The aggregate's version after the command (`\"3\"`)"))
                .build(),
        )
        .build();
    BTreeMap::from([(status.as_u16().to_string(), RefOr::T(response))])
}

/// `201 Created` with the receipt.
struct Created;

impl IntoResponses for Created {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        receipt_responses(StatusCode::CREATED, "Accepted: the aggregate was created")
    }
}

/// `200 OK` with the receipt.
struct Accepted;

impl IntoResponses for Accepted {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        receipt_responses(
            StatusCode::OK,
            "Accepted; `events` is empty when the command changed nothing",
        )
    }
}

/// An aggregate's current state, folded from its events.
#[derive(Serialize, ToSchema)]
struct AggregateView<T> {
    id: String,
    /// Its version: the sequence of its last event.
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Events after this sequence.
    #[serde(default)]
    #[param(minimum = 0)]
    after: i64,
    /// Events at most.
    #[serde(default = "default_page")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: i64,
}

fn default_page() -> i64 {
    100
}

#[derive(Serialize, ToSchema)]
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
