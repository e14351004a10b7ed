use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use eventmall_aggregates::{Payment, PaymentCommand};
use eventmall_events::{CustomerId, Money, OrderId, PaymentId, WalletId};
use serde::Deserialize;

use super::extract::{CommandBody, CommandHeaders, IdPath, Query};
use super::{AppState, HistoryQuery, NoFields, current_state, execute, history};
use crate::http::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(request))
        .route("/{id}", get(get_payment))
        .route("/{id}/events", get(get_events))
        .route("/{id}/authorize", post(authorize))
        .route("/{id}/decline", post(decline))
        .route("/{id}/capture", post(capture))
        .route("/{id}/refund", post(refund))
        .route("/{id}/void", post(void))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Client-chosen id; a new UUID v7 when absent.
    payment_id: Option<PaymentId>,
    order_id: OrderId,
    customer_id: CustomerId,
    wallet_id: WalletId,
    amount: Money,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Capture {
    amount: Option<Money>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refund {
    amount: Money,
    reason: String,
}

async fn request(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: CommandBody<Request>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let payment_id = b.payment_id.unwrap_or_default();
    let command = PaymentCommand::Request {
        payment_id,
        order_id: b.order_id,
        customer_id: b.customer_id,
        wallet_id: b.wallet_id,
        amount: b.amount,
    };
    execute(
        &state,
        payment_id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::CREATED,
    )
    .await
}

async fn authorize(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<NoFields>,
) -> Result<Response, ApiError> {
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        PaymentCommand::Authorize,
        StatusCode::OK,
    )
    .await
}

async fn decline(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<Reason>,
) -> Result<Response, ApiError> {
    let command = PaymentCommand::Decline {
        reason: body.value.reason,
    };
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::OK,
    )
    .await
}

async fn capture(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<Capture>,
) -> Result<Response, ApiError> {
    let command = PaymentCommand::Capture {
        amount: body.value.amount,
    };
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::OK,
    )
    .await
}

async fn refund(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<Refund>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = PaymentCommand::Refund {
        amount: b.amount,
        reason: b.reason,
    };
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::OK,
    )
    .await
}

async fn void(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<Reason>,
) -> Result<Response, ApiError> {
    let command = PaymentCommand::Void {
        reason: body.value.reason,
    };
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::OK,
    )
    .await
}

async fn get_payment(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
) -> Result<Response, ApiError> {
    current_state(&state.commands.payments, id.to_string(), |p: Payment| {
        p.state
    })
    .await
}

async fn get_events(
    State(state): State<AppState>,
    IdPath(id): IdPath<PaymentId>,
    query: Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    history(&state.commands.payments, id.to_string(), query).await
}
