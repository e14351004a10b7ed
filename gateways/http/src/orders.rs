use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use eventmall_aggregates::order::{LineRequest, OrderState, ReturnRequest};
use eventmall_aggregates::{Order, OrderCommand};
use eventmall_events::order::ShippingAddress;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, WalletId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{CommandBody, CommandHeaders, IdPath, Query};
use crate::owners::{self, OrderParty};
use crate::problem::{CommandProblems, ReadProblems};
use crate::{
    Accepted, AggregateView, ApiError, AppState, Created, History, HistoryQuery, current_state,
    execute, history,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place))
        .routes(routes!(get_state))
        .routes(routes!(get_events))
        .routes(routes!(mark_paid))
        .routes(routes!(ship))
        .routes(routes!(deliver))
        .routes(routes!(confirm_purchase))
        .routes(routes!(cancel))
        .routes(routes!(return_lines))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Place {
    /// Client-chosen id; a new UUID v7 when absent.
    order_id: Option<OrderId>,
    customer_id: CustomerId,
    /// 1 to 100 lines, each product once, all of one partner.
    #[schema(min_items = 1, max_items = 100)]
    lines: Vec<LineRequest>,
    /// The customer's wallet (easy-payment id): the payment policy then requests, authorizes
    /// and captures the payment and marks the order paid. Without it the order waits for an
    /// explicit payment.
    wallet_id: Option<WalletId>,
    /// Where it goes. Recorded only sealed with the customer's data key; shown to the order's
    /// customer and partner, and redacted once the customer is forgotten.
    shipping: Option<ShippingAddress>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MarkPaid {
    payment_id: PaymentId,
    amount: Money,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Ship {
    carrier: String,
    tracking_number: String,
    /// The partner reporting it, who must be the order's seller.
    partner_id: PartnerId,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Cancel {
    /// Why; not blank.
    #[schema(pattern = r"\S")]
    reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Return {
    lines: Vec<ReturnRequest>,
    /// Why; not blank.
    #[schema(pattern = r"\S")]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = "orders",
    params(CommandHeaders),
    request_body = Place,
    responses(Created, CommandProblems),
)]
async fn place(
    State(state): State<AppState>,
    caller: Caller,
    headers: CommandHeaders,
    body: CommandBody<Place>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_customer(&b.customer_id.0)?;
    let order_id = b.order_id.unwrap_or_default();
    let command = OrderCommand::Place {
        order_id,
        customer_id: b.customer_id,
        lines: b.lines,
        wallet_id: b.wallet_id,
        shipping: b.shipping,
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

#[utoipa::path(
    post,
    path = "/v1/orders/{id}/pay",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), CommandHeaders),
    request_body = MarkPaid,
    responses(Accepted, CommandProblems),
)]
async fn mark_paid(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<MarkPaid>,
) -> Result<Response, ApiError> {
    owners::order(&state, &caller, &id, OrderParty::Customer).await?;
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

#[utoipa::path(
    post,
    path = "/v1/orders/{id}/ship",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), CommandHeaders),
    request_body = Ship,
    responses(Accepted, CommandProblems),
)]
async fn ship(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Ship>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_partner(&b.partner_id.0)?;
    let command = OrderCommand::Ship {
        carrier: b.carrier,
        tracking_number: b.tracking_number,
        by_partner: b.partner_id,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Deliver {
    #[serde(default)]
    receiver: Option<String>,
    /// The partner reporting it, who must be the order's seller.
    partner_id: PartnerId,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmPurchase {
    #[serde(default)]
    automatic: bool,
}

#[utoipa::path(
    post,
    path = "/v1/orders/{id}/deliver",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), CommandHeaders),
    request_body = Deliver,
    responses(Accepted, CommandProblems),
)]
async fn deliver(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Deliver>,
) -> Result<Response, ApiError> {
    caller.for_partner(&body.value.partner_id.0)?;
    execute(
        &state,
        id,
        headers,
        body.fingerprint.as_deref(),
        OrderCommand::Deliver {
            receiver: body.value.receiver,
            by_partner: body.value.partner_id,
        },
        StatusCode::OK,
    )
    .await
}

#[utoipa::path(
    post,
    path = "/v1/orders/{id}/confirm",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), CommandHeaders),
    request_body(content = Option<ConfirmPurchase>),
    responses(Accepted, CommandProblems),
)]
async fn confirm_purchase(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<ConfirmPurchase>,
) -> Result<Response, ApiError> {
    owners::order(&state, &caller, &id, OrderParty::Customer).await?;
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

#[utoipa::path(
    post,
    path = "/v1/orders/{id}/cancel",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), CommandHeaders),
    request_body = Cancel,
    responses(Accepted, CommandProblems),
)]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Cancel>,
) -> Result<Response, ApiError> {
    owners::order(&state, &caller, &id, OrderParty::CustomerOrPartner).await?;
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

#[utoipa::path(
    post,
    path = "/v1/orders/{id}/return",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), CommandHeaders),
    request_body = Return,
    responses(Accepted, CommandProblems),
)]
async fn return_lines(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    headers: CommandHeaders,
    body: CommandBody<Return>,
) -> Result<Response, ApiError> {
    owners::order(&state, &caller, &id, OrderParty::Customer).await?;
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

#[utoipa::path(
    get,
    path = "/v1/orders/{id}/state",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order")),
    responses(
        (status = 200, description = "The order as its events have it", body = AggregateView<OrderState>),
        ReadProblems,
    ),
)]
async fn get_state(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
) -> Result<Response, ApiError> {
    owners::order(&state, &caller, &id, OrderParty::CustomerOrPartner).await?;
    current_state(&state.commands.orders, id.to_string(), |o: Order| o.state).await
}

#[utoipa::path(
    get,
    path = "/v1/orders/{id}/events",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order"), HistoryQuery),
    responses(
        (status = 200, description = "The order's events after `after`, oldest first", body = History),
        ReadProblems,
    ),
)]
async fn get_events(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
    query: Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    owners::order(&state, &caller, &id, OrderParty::CustomerOrPartner).await?;
    history(&state.commands.orders, id.to_string(), query).await
}
