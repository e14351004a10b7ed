//! `/v1/admin/keys`: create, list, rotate and revoke API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use eventmall_events::{CustomerId, PartnerId};
use eventmall_store::keys::{ApiKey, Grant, IssuedKey, Role};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::CommandBody;
use crate::problem::{Problem, ReadProblems};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
}

/// A key to create: its role and, for a partner or customer key, whose.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    role: Role,
    /// The partner a partner key acts for; only with `"role": "partner"`.
    partner_id: Option<PartnerId>,
    /// The customer a customer key acts for; only with `"role": "customer"`.
    customer_id: Option<CustomerId>,
    /// What the key is for, shown in the list.
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    label: String,
}

/// Create a key. Its secret is in this answer only: it is stored as a hash.
#[utoipa::path(
    post,
    path = "/v1/admin/keys",
    tag = "operations",
    request_body = NewKey,
    responses(
        (status = 201, description = "The key, with its secret", body = IssuedKey),
        (status = 422, description = "A partner key without its partner, a customer key without its customer, or an id of the other kind", body = Problem, content_type = "application/problem+json"),
        ReadProblems,
    ),
)]
async fn create(
    State(state): State<AppState>,
    body: CommandBody<NewKey>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let b = body.value;
    let subject = match (b.role, b.partner_id, b.customer_id) {
        (Role::Partner, Some(partner), None) => Some(partner.0),
        (Role::Customer, None, Some(customer)) => Some(customer.0),
        (Role::Admin, None, None) => None,
        _ => {
            return Err(ApiError::Unprocessable {
                slug: "invalid-key-grant",
                detail: "a partner key names partner_id, a customer key customer_id, an admin \
                    key neither"
                    .into(),
            });
        }
    };
    let grant = Grant::new(b.role, subject.as_deref(), &b.label).map_err(ApiError::BadRequest)?;
    let issued = state.gate.keys().create(&grant).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Every key, revoked ones included; never a secret.
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    tag = "operations",
    responses((status = 200, description = "The keys, oldest first", body = Vec<ApiKey>), ReadProblems),
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(state.gate.keys().list().await?))
}

/// Revoke a key: from now on it authenticates nobody.
#[utoipa::path(
    delete,
    path = "/v1/admin/keys/{key_id}",
    tag = "operations",
    params(("key_id" = String, Path, description = "The key's id (not its secret)")),
    responses((status = 200, description = "The key, revoked", body = ApiKey), ReadProblems),
)]
async fn revoke(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let revoked = state.gate.keys().revoke(&key_id).await?;
    state.gate.forget_checked();
    revoked
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no key {key_id}")))
}

/// Rotate a key: a new key for the same principal and label, and the old one revoked.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/{key_id}/rotate",
    tag = "operations",
    params(("key_id" = String, Path, description = "The key's id (not its secret)")),
    responses(
        (status = 201, description = "The new key, with its secret", body = IssuedKey),
        (status = 409, description = "The key is revoked already", body = Problem, content_type = "application/problem+json"),
        ReadProblems,
    ),
)]
async fn rotate(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let issued = state.gate.keys().rotate(&key_id).await?;
    state.gate.forget_checked();
    match issued {
        Some(Ok(issued)) => Ok((StatusCode::CREATED, Json(issued))),
        Some(Err(revoked)) => Err(ApiError::Conflict {
            slug: "key-revoked",
            detail: format!("key {} was revoked; create a new one", revoked.key_id),
        }),
        None => Err(ApiError::NotFound(format!("no key {key_id}"))),
    }
}
