//! Errors as `application/problem+json` (RFC 9457), with a stable `type` per kind.
//!
//! A 5xx never carries internal error text: it carries the request id, and its cause is logged
//! once, with the whole error chain, under that id. Every crate's error becomes an [`ApiError`]
//! here, so each route answers the same way for the same failure.

use std::error::Error;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eventmall_aggregates::RejectionKind;
use eventmall_feeds::RunError;
use eventmall_projections::search::SearchError;
use eventmall_store::{CommandError, StoreError};
use serde::Serialize;
use tracing::error;

use crate::extract::REQUEST_ID;
pub(crate) use responses::documented;
pub use responses::{CommandProblems, ConsistentReadProblems, ReadProblems, ReplayProblems};

mod responses;

/// The cause of a 5xx, kept for the log.
pub type Cause = Box<dyn Error + Send + Sync>;

tokio::task_local! {
    /// The id of the request being answered, for the problems it may answer with.
    static CURRENT_REQUEST: String;
}

/// Runs the rest of the request with its id at hand (set by the request-id layer), so that a
/// 5xx names it and its log line too.
pub(crate) async fn with_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    CURRENT_REQUEST.scope(id, next.run(request)).await
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem: what went wrong, for people (`title`, `detail`) and for code (`type`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URN per kind of problem (`urn:eventmall:problem:version-conflict`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    pub detail: String,
    /// The request's id (`X-Request-Id`): the server's log names the cause of a 5xx under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Every way a request fails.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("{0}")]
    NotFound(String),
    /// A body that is text but not a feed: its header row cannot be read.
    #[error("{0}")]
    InvalidFeed(String),
    /// A dead letter with nowhere to go back to.
    #[error("{0}")]
    NotRetriable(String),
    /// A well-formed request that cannot be carried out (`slug` says why).
    #[error("{detail}")]
    Unprocessable { slug: &'static str, detail: String },
    /// The resource is busy with another request that must finish first (`slug` says which).
    #[error("{detail}")]
    Conflict { slug: &'static str, detail: String },
    /// The server runs as many of these as it takes; the client may retry after a while.
    #[error("{0}")]
    TooManyRequests(String),
    /// The feed was refused part of the way: too many of its lines were.
    #[error("{0}")]
    TooManyRejections(String),
    /// The client stopped sending its body.
    #[error("{0}")]
    RequestTimeout(String),
    /// No API key, or one that is unknown or revoked, on a route that needs one.
    #[error("{0}")]
    Unauthorized(String),
    /// The key may not do this: a route of another role, or another partner's or customer's
    /// resource.
    #[error("{0}")]
    Forbidden(String),
    /// The key is past its rate; it may try again after `retry_after_secs`.
    #[error("this API key is over its rate limit; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The request took longer than the server gives one.
    #[error("the request took longer than {limit_ms} ms")]
    TookTooLong { limit_ms: u64 },
    /// A dependency (a database, the broker, the registry, the wallet) could not be reached.
    #[error("the {dependency} is unavailable: {cause}")]
    Unavailable {
        dependency: &'static str,
        cause: Cause,
    },
    /// Anything else that went wrong on our side.
    #[error("{0}")]
    Internal(Cause),
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl ApiError {
    pub fn unavailable(dependency: &'static str, cause: impl Into<Cause>) -> Self {
        Self::Unavailable {
            dependency,
            cause: cause.into(),
        }
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::MalformedJson(_) => (S::BAD_REQUEST, "Malformed JSON", "malformed-json".into()),
            Self::InvalidBody(_) => (
                S::BAD_REQUEST,
                "Invalid request body",
                "invalid-body".into(),
            ),
            Self::BadRequest(_) => (S::BAD_REQUEST, "Bad request", "bad-request".into()),
            Self::PayloadTooLarge { .. } => (
                S::PAYLOAD_TOO_LARGE,
                "Payload too large",
                "payload-too-large".into(),
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "unsupported-media-type".into(),
            ),
            Self::NotFound(_) => (S::NOT_FOUND, "Not found", "not-found".into()),
            Self::InvalidFeed(_) => (S::UNPROCESSABLE_ENTITY, "Not a feed", "invalid-feed".into()),
            Self::NotRetriable(_) => (
                S::UNPROCESSABLE_ENTITY,
                "Not retriable",
                "not-retriable".into(),
            ),
            Self::Conflict { slug, .. } => (S::CONFLICT, "Conflict", (*slug).into()),
            Self::Unprocessable { slug, .. } => (
                S::UNPROCESSABLE_ENTITY,
                "Unprocessable request",
                (*slug).into(),
            ),
            Self::TooManyRequests(_) => (
                S::TOO_MANY_REQUESTS,
                "Too many requests",
                "too-many-requests".into(),
            ),
            Self::TooManyRejections(_) => (
                S::UNPROCESSABLE_ENTITY,
                "Too many rejected lines",
                "too-many-rejections".into(),
            ),
            Self::RequestTimeout(_) => (
                S::REQUEST_TIMEOUT,
                "Request timeout",
                "request-timeout".into(),
            ),
            Self::Unauthorized(_) => (S::UNAUTHORIZED, "Unauthorized", "unauthorized".into()),
            Self::Forbidden(_) => (S::FORBIDDEN, "Forbidden", "forbidden".into()),
            Self::RateLimited { .. } => {
                (S::TOO_MANY_REQUESTS, "Rate limited", "rate-limited".into())
            }
            Self::TookTooLong { .. } => (
                S::SERVICE_UNAVAILABLE,
                "Request took too long",
                "took-too-long".into(),
            ),
            Self::Unavailable { .. } => (
                S::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "unavailable".into(),
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "Internal error",
                "internal".into(),
            ),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "method-not-allowed".into(),
            ),
            Self::Command(CommandError::VersionConflict { .. }) => {
                (S::CONFLICT, "Version conflict", "version-conflict".into())
            }
            Self::Command(CommandError::IdempotencyKeyReused) => (
                S::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                "idempotency-key-reused".into(),
            ),
            Self::Command(CommandError::Rejected(rejection)) => {
                let (status, title) = match rejection.kind() {
                    RejectionKind::NotFound => (S::NOT_FOUND, "Not found"),
                    RejectionKind::Forbidden => (S::FORBIDDEN, "Forbidden"),
                    RejectionKind::Invariant => (S::UNPROCESSABLE_ENTITY, "Command refused"),
                    RejectionKind::Unavailable => (S::SERVICE_UNAVAILABLE, "Service unavailable"),
                };
                (status, title, rejection.code().into())
            }
            Self::Command(CommandError::Store(error)) if store_unreachable(error) => (
                S::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "unavailable".into(),
            ),
            Self::Command(CommandError::Store(_)) => (
                S::INTERNAL_SERVER_ERROR,
                "Internal error",
                "internal".into(),
            ),
        }
    }

    /// What a client is told of a 5xx: which dependency, when one is down, and no more.
    fn server_detail(&self) -> String {
        match self {
            Self::Unavailable { dependency, .. } => {
                format!("the {dependency} is unavailable; try again later")
            }
            Self::Command(CommandError::Store(error)) if store_unreachable(error) => {
                "the event store is unavailable; try again later".to_owned()
            }
            Self::Command(CommandError::Rejected(rejection)) => {
                format!("{}; try again later", rejection.code().replace('-', " "))
            }
            Self::TookTooLong { .. } => format!("{self}; try again later"),
            _ => "the request could not be completed".to_owned(),
        }
    }
}

/// An error and every cause beneath it, outermost first: `a: b: c`.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Wrappers that print their cause already need it only once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title, slug) = self.parts();
        let request_id = CURRENT_REQUEST.try_with(Clone::clone).ok();
        let detail = match status.is_server_error() {
            true => {
                let id = request_id.as_deref().unwrap_or_default();
                error!(request_id = %id, status = status.as_u16(), error = %chain(&self), "request failed");
                self.server_detail()
            }
            false => self.to_string(),
        };
        let problem = Problem {
            kind: format!("urn:eventmall:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
            request_id,
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::TooManyRequests(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Command(CommandError::Store(error))
    }
}

impl From<eventmall_read_models::Error> for ApiError {
    fn from(error: eventmall_read_models::Error) -> Self {
        match &error {
            eventmall_read_models::Error::Database(cause) if unreachable(cause) => {
                Self::unavailable("read models' database", error)
            }
            eventmall_read_models::Error::UnknownProjection(_) => Self::NotFound(error.to_string()),
            _ => Self::internal(error),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        Self::internal(error)
    }
}

impl From<eventmall_kafka::Error> for ApiError {
    fn from(error: eventmall_kafka::Error) -> Self {
        use eventmall_kafka::Error as Kafka;
        match error {
            Kafka::Store(error) => error.into(),
            // The relay's and the registry's tables are in the event store's database.
            Kafka::Database(error) => StoreError::Database(error).into(),
            Kafka::ReadModel(_) => Self::unavailable("read models' database", error),
            Kafka::Registry(_) | Kafka::Codec(_) => Self::unavailable("schema registry", error),
            Kafka::Kafka(_) | Kafka::Timeout(_) | Kafka::NoCluster => {
                Self::unavailable("Kafka cluster", error)
            }
            Kafka::ReadModels(error) => error.into(),
            Kafka::Held(_) => Self::Conflict {
                slug: "rebuild-running",
                detail: error.to_string(),
            },
            Kafka::Generation(_) => Self::Conflict {
                slug: "generation-state",
                detail: error.to_string(),
            },
            Kafka::Replay(detail) => Self::Conflict {
                slug: "replay-refused",
                detail,
            },
            other => Self::internal(other),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::Feed(_) | RunError::NoMapping(..) => Self::InvalidFeed(error.to_string()),
            RunError::Command(error) => error.into(),
            RunError::Store(error) => feed_store(error),
            RunError::DeadLetters(cause) => Self::unavailable("dead-letter topic", cause),
            RunError::Busy { .. } => Self::Conflict {
                slug: "feed-run-in-progress",
                detail: error.to_string(),
            },
            RunError::AtCapacity { .. } => Self::TooManyRequests(error.to_string()),
            RunError::TooManyRejections { .. } => Self::TooManyRejections(error.to_string()),
        }
    }
}

/// Whether a database could not be reached at all, as against a failure of what it holds:
/// the request may go through once it answers again.
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL going down under a query: connection exceptions (class 08) and operator
        // intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Whether the event store could not be reached: its database, or its SQLite writer gone.
fn store_unreachable(error: &StoreError) -> bool {
    match error {
        StoreError::WriterStopped => true,
        StoreError::Database(cause) => unreachable(cause),
        _ => false,
    }
}

/// A failure of the feed tables, which live in the event store's database.
pub(crate) fn feed_store(error: sqlx::Error) -> ApiError {
    StoreError::Database(error).into()
}
