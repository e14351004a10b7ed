use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use eventmall_aggregates::order::{LineRequest, ReturnRequest};
use eventmall_aggregates::{Order, OrderCommand};
use eventmall_events::{CustomerId, Money, OrderId, PaymentId};
use serde::Deserialize;

use super::extract::{CommandBody, CommandHeaders, IdPath, Query};
use super::{AppState, HistoryQuery, current_state, execute, history};
use crate::http::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(place))
        .route("/{id}", get(super::order_views::order))
        .route("/{id}/state", get(get_state))
        .route("/{id}/events", get(get_events))
        .route("/{id}/pay", post(mark_paid))
        .route("/{id}/ship", post(ship))
        .route("/{id}/deliver", post(deliver))
        .route("/{id}/confirm", post(confirm_purchase))
        .route("/{id}/cancel", post(cancel))
        .route("/{id}/return", post(return_lines))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Place {
    /// Client-chosen id; a new UUID v7 when absent.
    order_id: Option<OrderId>,
    customer_id: CustomerId,
    lines: Vec<LineRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkPaid {
    payment_id: PaymentId,
    amount: Money,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ship {
    carrier: String,
    tracking_number: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cancel {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Return {
    lines: Vec<ReturnRequest>,
    reason: String,
}

async fn place(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: CommandBody<Place>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let order_id = b.order_id.unwrap_or_default();
    let command = OrderCommand::Place {
        order_id,
        customer_id: b.customer_id,
        lines: b.lines,
    };
    execute(
        &state,
        order_id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::CREATED,
    )
    .await
}

async fn mark_paid(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<MarkPaid>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = OrderCommand::MarkPaid {
        payment_id: b.payment_id,
        amount: b.amount,
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

async fn ship(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Ship>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = OrderCommand::Ship {
        carrier: b.carrier,
        tracking_number: b.tracking_number,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deliver {
    #[serde(default)]
    receiver: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmPurchase {
    #[serde(default)]
    automatic: bool,
}

async fn deliver(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Deliver>,
) -> Result<Response, ApiError> {
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        OrderCommand::Deliver {
            receiver: body.value.receiver,
        },
        StatusCode::OK,
    )
    .await
}

async fn confirm_purchase(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<ConfirmPurchase>,
) -> Result<Response, ApiError> {
    let command = OrderCommand::ConfirmPurchase {
        automatic: body.value.automatic,
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

async fn cancel(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Cancel>,
) -> Result<Response, ApiError> {
    let command = OrderCommand::Cancel {
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

async fn return_lines(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Return>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = OrderCommand::Return {
        lines: b.lines,
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

async fn get_state(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
) -> Result<Response, ApiError> {
    current_state(&state.commands.orders, id.to_string(), |o: Order| o.state).await
}

async fn get_events(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
    query: Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    history(&state.commands.orders, id.to_string(), query).await
}
