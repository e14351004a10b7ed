//! Errors as `application/problem+json` (RFC 9457), with a stable `type` per kind.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventmall_aggregates::RejectionKind;
use serde::Serialize;
use tracing::error;

use crate::commands::CommandError;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
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
