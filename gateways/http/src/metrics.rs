//! `GET /metrics`: the process's metrics in Prometheus's text format, and the HTTP layer's own
//! (requests, errors and durations by route template). Every crate records through the
//! `metrics` facade; this installs the one recorder of the process, with histogram buckets for
//! durations (`…_seconds`) and sizes (`…_size`). Labels are bounded: route templates, never ids.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eventmall_kafka::relay::lag;
use eventmall_store::EventBackend;
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::AnyPool;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::ReadProblems;
use crate::{ApiError, AppState};

const SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZES: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process's recorder, installed on first use: once per process, however many servers it
/// runs. `None` when another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), &SIZES))
                .and_then(|b| b.install_recorder());
            installed
                .inspect_err(|error| warn!(%error, "no metrics: the recorder did not install"))
                .ok()
        })
        .as_ref()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(render))
}

/// Every metric of this process, in Prometheus's text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        ReadProblems,
    ),
)]
async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    observe(&state).await?;
    exposition()
}

/// The process's metrics as the text exposition.
fn exposition() -> Result<Response, ApiError> {
    let handle = handle().ok_or_else(|| {
        ApiError::unavailable("metrics recorder", "another recorder was installed first")
    })?;
    handle.run_upkeep();
    let text = handle.render();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response())
}

/// What a role sets at scrape time before its metrics are rendered (the relay's lag, say).
pub type Observe = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// `GET /metrics` alone, without a key, for the roles that serve no API (`relay`, `project`,
/// `ingest consume`, `policy`): like any exporter, it is meant for an address only the
/// monitoring network reaches. Serves on `listener` until `stop`.
pub async fn export(
    listener: tokio::net::TcpListener,
    observe: Option<Observe>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    handle();
    let scrape = async move || {
        if let Some(observe) = &observe {
            observe().await;
        }
        exposition()
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Sets the gauges read from the state of things at scrape time: each relay's lag, in events
/// and in seconds, and each projector's lag per partition of its topics.
async fn observe(state: &AppState) -> Result<(), ApiError> {
    observe_relays(state.commands.backend().as_ref(), &state.store_pool).await?;
    for projection in state.views.current().projections() {
        let status = state.consistency.status(projection.as_ref()).await;
        if let Some(lag) = status.lag {
            metrics::gauge!("eventmall_projector_lag", "projector" => status.name).set(lag as f64);
        }
        for partition in status.partitions {
            let Some(lag) = partition.lag else { continue };
            let labels = [
                ("projector", status.name.to_owned()),
                ("topic", partition.topic),
                ("partition", partition.partition.to_string()),
            ];
            metrics::gauge!("eventmall_projector_partition_lag", &labels).set(lag as f64);
        }
    }
    Ok(())
}

/// Sets each relay's lag, in events and in seconds.
pub async fn observe_relays(
    backend: &dyn EventBackend,
    store_pool: &AnyPool,
) -> eventmall_kafka::Result<()> {
    for relay in lag(backend, store_pool).await? {
        let name = relay.name;
        metrics::gauge!("eventmall_relay_lag_events", "relay" => name.clone())
            .set(relay.lag_events as f64);
        metrics::gauge!("eventmall_relay_lag_seconds", "relay" => name).set(relay.lag_seconds);
    }
    Ok(())
}

/// Counts and times each request by method, route template and status.
pub async fn measure(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let span = tracing::Span::current();
    eventmall_telemetry::rename(&span, format!("{method} {route}"));
    span.record("http.route", route.as_str());
    let response = next.run(request).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    let labels = [("method", method), ("route", route)];
    metrics::histogram!("eventmall_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    let mut counted = labels.to_vec();
    counted.push(("status", status.as_u16().to_string()));
    metrics::counter!("eventmall_http_requests_total", &counted).increment(1);
    if status.is_client_error() || status.is_server_error() {
        let class = if status.is_server_error() {
            "5xx"
        } else {
            "4xx"
        };
        let mut errors = labels.to_vec();
        errors.push(("class", class.to_owned()));
        metrics::counter!("eventmall_http_errors_total", &errors).increment(1);
    }
    response
}
