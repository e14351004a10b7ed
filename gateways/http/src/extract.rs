//! Extractors whose rejections are problem+json like every other error.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use eventmall_events::CommandMetadata;
use eventmall_events::ids::{MAX_TEXT_ID_CHARS, is_text_id};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use uuid::Uuid;

use eventmall_store::IdempotencyClaim;

use crate::auth::Caller;
use crate::problem::ApiError;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const CORRELATION_ID: &str = "x-correlation-id";
pub const REQUEST_ID: &str = "x-request-id";
pub const ACTOR: &str = "x-actor";
pub const TRACEPARENT: &str = "traceparent";

/// A JSON command body and, when the request carries an `Idempotency-Key`, the fingerprint
/// that tells a retry from a different request reusing the key.
pub struct CommandBody<T> {
    pub value: T,
    pub fingerprint: Option<String>,
}

impl<S, T> FromRequest<S> for CommandBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map_or(0, |limit| limit.0);
        let keyed = request.headers().contains_key(IDEMPOTENCY_KEY);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_error(&rejection, limit))?;
        // Commands without required fields may come without a body, or with `null`.
        let body: &[u8] = if bytes.is_empty() || bytes.trim_ascii() == b"null" {
            b"{}"
        } else {
            &bytes
        };
        if !bytes.is_empty() && !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let json: serde_json::Value = serde_json::from_slice(body)
            .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
        let value = serde_path_to_error::deserialize(whole_numbers(json)).map_err(|error| {
            match error.path().to_string().as_str() {
                "." => ApiError::InvalidBody(error.inner().to_string()),
                path => ApiError::InvalidBody(format!("{path}: {}", error.inner())),
            }
        })?;
        let fingerprint = keyed.then(|| {
            let mut digest = Sha256::new();
            digest.update(method.as_str());
            digest.update(b" ");
            digest.update(path.as_bytes());
            digest.update(b"\n");
            digest.update(body);
            format!("{:x}", digest.finalize())
        });
        Ok(Self { value, fingerprint })
    }
}

/// JSON numbers with no fractional part as integers: in JSON (and JSON Schema) `2.0` is the
/// integer 2, and a field of an integer type takes it. Only those a double holds exactly.
fn whole_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, whole_numbers(value)))
                .collect(),
        ),
        other => other,
    }
}

fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge { limit };
    }
    ApiError::BadRequest(rejection.body_text())
}

/// The headers around a command: `If-Match`, `Idempotency-Key` and the tracing ids, with who
/// sends it: the key's principal is the command's actor, and its `Idempotency-Key`s are its own.
pub struct CommandHeaders {
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
    pub metadata: CommandMetadata,
    /// Whose keyspace its `Idempotency-Key` is in.
    principal: String,
}

impl CommandHeaders {
    pub fn claim(&self, fingerprint: Option<&str>) -> Option<IdempotencyClaim> {
        let (key, fingerprint) = self.idempotency_key.as_ref().zip(fingerprint)?;
        Some(IdempotencyClaim::http(
            &self.principal,
            key,
            fingerprint.to_owned(),
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let headers = &parts.headers;
        let expected_version = text(headers, header::IF_MATCH.as_str())?
            .map(|value| parse_version(&value))
            .transpose()?;
        let idempotency_key = text(headers, IDEMPOTENCY_KEY)?;
        if let Some(key) = &idempotency_key
            && (key.is_empty() || key.len() > 255)
        {
            return Err(ApiError::BadRequest(
                "Idempotency-Key must have 1 to 255 characters".into(),
            ));
        }
        let request_id =
            trace_id(headers, REQUEST_ID)?.unwrap_or_else(|| Uuid::now_v7().to_string());
        let correlation_id =
            trace_id(headers, CORRELATION_ID)?.unwrap_or_else(|| request_id.clone());
        // The sender's traceparent, or a new one. While spans are recorded, the command's
        // span puts its own in its place.
        let traceparent = text(headers, TRACEPARENT)?
            .filter(|value| eventmall_telemetry::parse(value).is_some())
            .unwrap_or_else(new_traceparent);
        // `X-Actor` names the actor only where no key does: on a server in `open` mode.
        let claimed_actor = trace_id(headers, ACTOR)?;
        let actor = match &caller {
            Caller::Key(principal) => Some(principal.actor()),
            Caller::Open => claimed_actor,
            Caller::Anonymous => None,
        };
        Ok(Self {
            expected_version,
            idempotency_key,
            principal: actor.clone().unwrap_or_else(|| "anonymous".to_owned()),
            metadata: CommandMetadata {
                correlation_id,
                causation_id: request_id,
                traceparent: Some(traceparent),
                actor,
            },
        })
    }
}

/// The command headers, for the OpenAPI document.
impl IntoParams for CommandHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let text = |pattern: Option<&str>, max: usize| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(pattern)
                .min_length(Some(1))
                .max_length(Some(max))
        };
        [
            (
                header::IF_MATCH.as_str(),
                text(Some(r#"^"?[0-9]{1,18}"?$"#), 20),
                "Run only if the aggregate is at this version (`\"3\"`, or `\"0\"` for a new one); 409 otherwise.",
            ),
            (
                IDEMPOTENCY_KEY,
                text(None, 255),
                "A retry with the same key and body gets the first answer again, with `replayed`; the same key with another body is 422. Keys are the caller's own (another key's same key is another key) and are kept for the store's retention period (7 days by default): a retry after that is a new request.",
            ),
            (
                REQUEST_ID,
                text(None, MAX_TRACE_ID),
                "This request's id, echoed back; the command's causation id.",
            ),
            (
                CORRELATION_ID,
                text(None, MAX_TRACE_ID),
                "Ties this command to others of the same flow; the request id when absent.",
            ),
            (
                ACTOR,
                text(None, MAX_TRACE_ID),
                "Who asks, recorded with the events, on a server in `open` mode only; with API keys the key's principal is the actor.",
            ),
            (
                TRACEPARENT,
                ObjectBuilder::new().schema_type(Type::String),
                "W3C trace context, recorded with the events; a new one when absent or malformed.",
            ),
        ]
        .into_iter()
        .map(|(name, schema, description)| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema.build()))
                .build()
        })
        .collect()
    }
}

/// The longest request id, correlation id or actor kept with the events.
const MAX_TRACE_ID: usize = 200;

/// A request id, correlation id or actor: 1 to `MAX_TRACE_ID` characters.
fn trace_id(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    let value = text(headers, name)?;
    match &value {
        Some(id) if id.is_empty() || id.len() > MAX_TRACE_ID => Err(ApiError::BadRequest(format!(
            "header {name} must have 1 to {MAX_TRACE_ID} characters"
        ))),
        _ => Ok(value),
    }
}

fn text(headers: &HeaderMap, name: &str) -> Result<Option<String>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map(|v| v.trim().to_owned())
                .map_err(|_| ApiError::BadRequest(format!("header {name} is not visible ASCII")))
        })
        .transpose()
}

/// `If-Match: "3"` (or `3`): the version the caller expects the aggregate to be at.
fn parse_version(value: &str) -> Result<i64, ApiError> {
    value
        .trim_matches('"')
        .parse::<i64>()
        .ok()
        .filter(|version| *version >= 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "If-Match must be a version like \"3\", got {value}"
            ))
        })
}

fn new_traceparent() -> String {
    let trace = Uuid::new_v4().simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

/// A path id that must parse as `T`; a bad one is 400, not axum's plain-text rejection.
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: std::str::FromStr + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        raw.parse()
            .map(IdPath)
            .map_err(|_| ApiError::BadRequest(format!("{raw} is not a valid id")))
    }
}

/// A customer or partner id in a path, by the rule of every id of a party.
pub fn party_id(id: String) -> Result<String, ApiError> {
    match is_text_id(&id) {
        true => Ok(id),
        false => Err(ApiError::BadRequest(format!(
            "id {id:?} must be 1 to {MAX_TEXT_ID_CHARS} of A-Z, a-z, 0-9, ., _ and -"
        ))),
    }
}

/// Query string whose rejection is problem+json.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Whether a `Content-Type` names JSON (`application/json`, `application/*+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.to_ascii_lowercase().ends_with("+json"))
}

/// The body limit in force, put into request extensions by the router.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_takes_quoted_or_bare_versions() {
        assert_eq!(parse_version("\"3\"").ok(), Some(3));
        assert_eq!(parse_version("3").ok(), Some(3));
        assert!(parse_version("W/\"3\"").is_err());
        assert!(parse_version("-1").is_err());
    }

    #[test]
    fn whole_floats_are_integers() {
        let value = whole_numbers(serde_json::json!({"a": [2.0, 2.5, -3.0], "b": 1e300}));
        assert_eq!(value, serde_json::json!({"a": [2, 2.5, -3], "b": 1e300}));
        assert!(value["a"][0].is_i64());
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("text/x+json"));
    }

    #[test]
    fn traceparent_is_checked_and_generated() {
        assert!(eventmall_telemetry::parse(&new_traceparent()).is_some());
        assert!(eventmall_telemetry::parse("00-xyz-1-01").is_none());
    }
}
