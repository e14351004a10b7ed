//! Errors as `application/problem+json` (RFC 9457), with a stable `type` per kind.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventmall_aggregates::RejectionKind;
use serde::Serialize;
use tracing::error;
use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as ApiResponse, ResponseBuilder};

use crate::commands::CommandError;

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
}

/// A documented response whose body is the component `schema` as `content_type`.
pub(super) fn documented(description: &str, content_type: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        content_type,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    )
}

/// The problems a route may answer with, for the OpenAPI document.
fn problem_responses(statuses: &[(u16, &str)]) -> BTreeMap<String, RefOr<ApiResponse>> {
    statuses
        .iter()
        .map(|(status, description)| {
            let response = documented(description, PROBLEM_JSON, "Problem").build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

const BAD_REQUEST: (u16, &str) = (
    400,
    "Malformed JSON, a wrong type, a bad header, path id or query parameter",
);
const NOT_FOUND: (u16, &str) = (404, "No such resource");
const UNAVAILABLE: (u16, &str) = (503, "A store or read model cannot be reached");

/// What a command route answers when the command is not accepted.
pub struct CommandProblems;

impl IntoResponses for CommandProblems {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        problem_responses(&[
            BAD_REQUEST,
            (403, "The partner does not own the product"),
            NOT_FOUND,
            (
                409,
                "The aggregate is not at the version `If-Match` names, or a concurrent command won the version",
            ),
            (413, "The body is larger than the limit"),
            (415, "The body is not JSON"),
            (
                422,
                "The aggregate refuses the command: an invariant the schema cannot express (an unknown product, an amount that is not the total, a transition its state does not allow), or the `Idempotency-Key` was used for another request",
            ),
            UNAVAILABLE,
        ])
    }
}

/// What a read route answers when it cannot.
pub struct ReadProblems;

impl IntoResponses for ReadProblems {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        problem_responses(&[BAD_REQUEST, NOT_FOUND, UNAVAILABLE])
    }
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
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Command(#[from] CommandError),
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
            Self::Unavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "unavailable".into(),
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
            Self::Command(CommandError::Store(_)) => (
                S::INTERNAL_SERVER_ERROR,
                "Internal error",
                "internal".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title, slug) = self.parts();
        let detail = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            error!(error = %self, "request failed");
            "the request could not be completed; it was logged".to_owned()
        } else {
            self.to_string()
        };
        let problem = Problem {
            kind: format!("urn:eventmall:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
        };
        let mut response = (status, Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Command(CommandError::Store(error))
    }
}
