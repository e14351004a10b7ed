use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use eventmall_aggregates::payment::PaymentState;
use eventmall_aggregates::{Payment, PaymentCommand};
use eventmall_events::{CustomerId, Money, OrderId, PaymentId, WalletId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{CommandBody, CommandHeaders, IdPath, Query};
use crate::owners;
use crate::problem::{CommandProblems, ReadProblems};
use crate::{
    Accepted, AggregateView, ApiError, AppState, Created, History, HistoryQuery, NoFields,
    current_state, execute, history,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request))
        .routes(routes!(get_payment))
        .routes(routes!(get_events))
        .routes(routes!(authorize))
        .routes(routes!(decline))
        .routes(routes!(capture))
        .routes(routes!(refund))
        .routes(routes!(void))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RequestPayment {
    /// Client-chosen id; a new UUID v7 when absent.
    payment_id: Option<PaymentId>,
    order_id: OrderId,
    customer_id: CustomerId,
    wallet_id: WalletId,
    amount: Money,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PaymentReason {
    /// Why; not blank.
    #[schema(pattern = r"\S")]
    reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Capture {
    amount: Option<Money>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Refund {
    amount: Money,
    /// Why; not blank.
    #[schema(pattern = r"\S")]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "payments",
    params(CommandHeaders),
    request_body = RequestPayment,
    responses(Created, CommandProblems),
)]
async fn request(
    State(state): State<AppState>,
    caller: Caller,
    headers: CommandHeaders,
    body: CommandBody<RequestPayment>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_customer(&b.customer_id.0)?;
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

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/authorize",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment"), CommandHeaders),
    request_body(content = Option<NoFields>),
    responses(Accepted, CommandProblems),
)]
async fn authorize(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<NoFields>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
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

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/decline",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment"), CommandHeaders),
    request_body = PaymentReason,
    responses(Accepted, CommandProblems),
)]
async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<PaymentReason>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
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

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/capture",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment"), CommandHeaders),
    request_body(content = Option<Capture>),
    responses(Accepted, CommandProblems),
)]
async fn capture(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<Capture>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
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

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/refund",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment"), CommandHeaders),
    request_body = Refund,
    responses(Accepted, CommandProblems),
)]
async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<Refund>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
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

#[utoipa::path(
    post,
    path = "/v1/payments/{id}/void",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment"), CommandHeaders),
    request_body = PaymentReason,
    responses(Accepted, CommandProblems),
)]
async fn void(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
    headers: CommandHeaders,
    body: CommandBody<PaymentReason>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
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

#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment")),
    responses(
        (status = 200, description = "The payment as its events have it", body = AggregateView<PaymentState>),
        ReadProblems,
    ),
)]
async fn get_payment(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
    current_state(&state.commands.payments, id.to_string(), |p: Payment| {
        p.state
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/payments/{id}/events",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment"), HistoryQuery),
    responses(
        (status = 200, description = "The payment's events after `after`, oldest first", body = History),
        ReadProblems,
    ),
)]
async fn get_events(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<PaymentId>,
    query: Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    owners::payment(&state, &caller, &id).await?;
    history(&state.commands.payments, id.to_string(), query).await
}
