//! The Confluent Schema Registry REST API, as far as producers, consumers and CI tools use it.
//!
//! Bodies are `application/vnd.schemaregistry.v1+json`; errors are `{"error_code", "message"}`
//! with Confluent's codes (40401 subject not found, 409 incompatible, 42201 invalid schema, …).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::store::{RegistryError, RegistryStore, SubjectVersion, VersionSpec};
use eventmall_events::avro::compatibility::Level;

/// The registry's media type.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The registry's routes, for any application state: the application merges them before its
/// layers, so they get the same body limit, request ids and tracing as every other route.
pub fn router<S: Clone + Send + Sync + 'static>(store: RegistryStore) -> Router<S> {
    Router::new()
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route("/schemas/types", get(|| async { reply(json!(["AVRO"])) }))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", get(usages))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_one),
        )
        .route("/config", get(global_level).put(set_global_level))
        .route(
            "/config/{subject}",
            get(subject_level)
                .put(set_subject_level)
                .delete(delete_subject_level),
        )
        .with_state(store)
}

/// A registry error in Confluent's shape.
struct Error(StatusCode, u32, String);

impl From<RegistryError> for Error {
    fn from(error: RegistryError) -> Self {
        let (status, code) = match &error {
            RegistryError::SubjectNotFound(_) => (StatusCode::NOT_FOUND, 40401),
            RegistryError::VersionNotFound(_) => (StatusCode::NOT_FOUND, 40402),
            RegistryError::SchemaNotFound => (StatusCode::NOT_FOUND, 40403),
            RegistryError::LevelNotConfigured(_) => (StatusCode::NOT_FOUND, 40408),
            RegistryError::Incompatible { .. } => (StatusCode::CONFLICT, 409),
            RegistryError::InvalidSchema(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42201),
            RegistryError::InvalidVersion(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42202),
            RegistryError::InvalidLevel(_) => (StatusCode::UNPROCESSABLE_ENTITY, 42203),
            RegistryError::Store(_) | RegistryError::Busy(_) => {
                // The cause is for the log; the client gets Confluent's own words for 50001.
                tracing::error!(%error, "schema registry store");
                let message = "Error in the backend data store".to_owned();
                return Self(StatusCode::INTERNAL_SERVER_ERROR, 50001, message);
            }
        };
        Self(status, code, error.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let Self(status, code, message) = self;
        let mut response = reply(json!({ "error_code": code, "message": message }));
        *response.status_mut() = status;
        response
    }
}

fn reply(body: impl Serialize) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], Json(body)).into_response()
}

/// A request body, refused in Confluent's error shape when it is over the API's body limit.
struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|rejection| {
                let status = rejection.status();
                Error(status, u32::from(status.as_u16()), rejection.body_text())
            })
    }
}

/// Parses a request body whatever its declared JSON-ish content type, as Confluent does.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error(
            StatusCode::BAD_REQUEST,
            400,
            format!("Invalid request body: {e}"),
        )
    })
}

fn version_spec(raw: &str) -> Result<VersionSpec, Error> {
    Ok(raw.parse()?)
}

fn schema_id(raw: &str) -> Result<i64, Error> {
    raw.parse()
        .map_err(|_| RegistryError::SchemaNotFound.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

impl SchemaRequest {
    /// The Avro text, refusing what this registry does not support.
    fn avro(self) -> Result<String, Error> {
        if let Some(kind) = self
            .schema_type
            .filter(|kind| !kind.eq_ignore_ascii_case("AVRO"))
        {
            return Err(RegistryError::InvalidSchema(format!(
                "schema type {kind} is not supported; only AVRO is"
            ))
            .into());
        }
        if !self.references.is_empty() {
            return Err(
                RegistryError::InvalidSchema("schema references are not supported".into()).into(),
            );
        }
        Ok(self.schema)
    }
}

fn version_body(found: SubjectVersion) -> Response {
    reply(json!({
        "subject": found.subject,
        "version": found.version,
        "id": found.id,
        "schema": found.schema,
    }))
}

async fn subjects(State(store): State<RegistryStore>) -> Result<Response, Error> {
    Ok(reply(store.subjects().await?))
}

async fn versions(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
) -> Result<Response, Error> {
    Ok(reply(store.versions(&subject).await?))
}

async fn version(
    State(store): State<RegistryStore>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, Error> {
    Ok(version_body(
        store.version(&subject, version_spec(&version)?).await?,
    ))
}

async fn version_schema(
    State(store): State<RegistryStore>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, Error> {
    let found = store.version(&subject, version_spec(&version)?).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], found.schema).into_response())
}

async fn register(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
    Body(bytes): Body,
) -> Result<Response, Error> {
    let text = body::<SchemaRequest>(&bytes)?.avro()?;
    let id = store.register(&subject, &text).await?;
    Ok(reply(json!({ "id": id })))
}

async fn lookup(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
    Body(bytes): Body,
) -> Result<Response, Error> {
    let text = body::<SchemaRequest>(&bytes)?.avro()?;
    Ok(version_body(store.lookup(&subject, &text).await?))
}

async fn schema_by_id(
    State(store): State<RegistryStore>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let schema = store.schema(schema_id(&id)?).await?;
    Ok(reply(json!({ "schema": schema })))
}

async fn raw_schema_by_id(
    State(store): State<RegistryStore>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let schema = store.schema(schema_id(&id)?).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], schema).into_response())
}

async fn usages(
    State(store): State<RegistryStore>,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let usages = store.usages(schema_id(&id)?).await?;
    let body: Vec<_> = usages
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    Ok(reply(body))
}

/// Query parameters, read leniently: clients send `true`, `True` or `1` for a flag.
type Params = Query<HashMap<String, String>>;

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|value| value.eq_ignore_ascii_case("true") || value == "1")
}

fn compatibility_body(violations: Vec<String>, verbose: bool) -> Response {
    let is_compatible = violations.is_empty();
    match verbose {
        true => reply(json!({ "is_compatible": is_compatible, "messages": violations })),
        false => reply(json!({ "is_compatible": is_compatible })),
    }
}

async fn check_all(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
    Query(params): Params,
    Body(bytes): Body,
) -> Result<Response, Error> {
    let text = body::<SchemaRequest>(&bytes)?.avro()?;
    let violations = store.check(&subject, None, &text).await?;
    Ok(compatibility_body(violations, flag(&params, "verbose")))
}

async fn check_one(
    State(store): State<RegistryStore>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
    Body(bytes): Body,
) -> Result<Response, Error> {
    let spec = version_spec(&version)?;
    let text = body::<SchemaRequest>(&bytes)?.avro()?;
    let violations = store.check(&subject, Some(spec), &text).await?;
    Ok(compatibility_body(violations, flag(&params, "verbose")))
}

#[derive(Deserialize)]
struct LevelRequest {
    compatibility: String,
}

fn level_request(bytes: &Bytes) -> Result<Level, Error> {
    let request = body::<LevelRequest>(bytes)?;
    Ok(request
        .compatibility
        .parse()
        .map_err(RegistryError::InvalidLevel)?)
}

async fn global_level(State(store): State<RegistryStore>) -> Result<Response, Error> {
    let level = store.level(None, true).await?;
    Ok(reply(json!({ "compatibilityLevel": level.as_str() })))
}

async fn set_global_level(
    State(store): State<RegistryStore>,
    Body(bytes): Body,
) -> Result<Response, Error> {
    let level = level_request(&bytes)?;
    store.set_level(None, level).await?;
    Ok(reply(json!({ "compatibility": level.as_str() })))
}

async fn subject_level(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Result<Response, Error> {
    let level = store
        .level(Some(&subject), flag(&params, "defaultToGlobal"))
        .await?;
    Ok(reply(json!({ "compatibilityLevel": level.as_str() })))
}

async fn set_subject_level(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
    Body(bytes): Body,
) -> Result<Response, Error> {
    let level = level_request(&bytes)?;
    store.set_level(Some(&subject), level).await?;
    Ok(reply(json!({ "compatibility": level.as_str() })))
}

async fn delete_subject_level(
    State(store): State<RegistryStore>,
    Path(subject): Path<String>,
) -> Result<Response, Error> {
    let level = store.delete_level(&subject).await?;
    Ok(reply(json!({ "compatibilityLevel": level.as_str() })))
}
