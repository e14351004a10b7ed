//! Read routes of the order views: an order with its timeline, customers' order histories and
//! profiles, partners' order queues, daily sales and monthly settlements.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{Datelike, NaiveDate};
use eventmall_events::OrderId;
use eventmall_projections::orders::{OrderStatus, OrderView, PaymentView, Settlement};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_read_models::order_views::{
    CustomerProfile, DailySales, OrderPage, PartnerOrdersFilter,
};

use crate::auth::Caller;
use crate::extract::{IdPath, Query};
use crate::owners::{self, OrderParty};
use crate::privacy;
use crate::problem::ConsistentReadProblems;
use crate::projections::{ConsistencyToken, Views};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(order))
        .routes(routes!(customer_orders))
        .routes(routes!(customer_profile))
        .routes(routes!(partner_orders))
        .routes(routes!(partner_sales))
        .routes(routes!(partner_settlements))
}

#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = "order-views",
    params(ConsistencyToken, ("id" = OrderId, Path, description = "The order")),
    responses(
        (status = 200, description = "The order with its status timeline and its payments", body = OrderWithPayments, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn order(
    State(state): State<AppState>,
    Views(views): Views,
    caller: Caller,
    IdPath(id): IdPath<OrderId>,
) -> Result<Json<OrderWithPayments>, ApiError> {
    // Whose the order is, the event store says, whether or not the view has it yet.
    owners::order(&state, &caller, &id, OrderParty::CustomerOrPartner).await?;
    let order_id = id.to_string();
    let mut order = views
        .orders
        .order(&order_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("order {id} is not in the order views")))?;
    privacy::open(&state, std::slice::from_mut(&mut order)).await?;
    let payments = views.orders.payments_of(&order_id).await?;
    Ok(Json(OrderWithPayments { order, payments }))
}

/// An order's view with its payments, as the payment events tell them.
#[derive(Serialize, ToSchema)]
pub struct OrderWithPayments {
    #[serde(flatten)]
    order: OrderView,
    /// The order's payments, oldest first: their state and the amounts authorized, captured
    /// and refunded. A payment event may be shown a moment before or after the order event
    /// it belongs with (two topics).
    payments: Vec<PaymentView>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Orders to skip.
    #[serde(default)]
    #[param(minimum = 0)]
    offset: i64,
    /// Orders to return.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
}

fn default_limit() -> i64 {
    20
}

fn check_page(offset: i64, limit: i64) -> Result<(), ApiError> {
    match (1..=100).contains(&limit) && offset >= 0 {
        true => Ok(()),
        false => Err(ApiError::BadRequest(
            "limit must be 1 to 100 and offset at least 0".into(),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/v1/customers/{id}/orders",
    tag = "order-views",
    params(ConsistencyToken, ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The customer"), PageQuery),
    responses(
        (status = 200, description = "The customer's orders, newest first", body = OrderPage, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
async fn customer_orders(
    State(state): State<AppState>,
    Views(views): Views,
    caller: Caller,
    Path(customer): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    check_page(page.offset, page.limit)?;
    let mut page = views
        .orders
        .customer_orders(&caller.own_customer(customer)?, page.offset, page.limit)
        .await?;
    privacy::open(&state, &mut page.orders).await?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/v1/customers/{id}/profile",
    tag = "order-views",
    params(ConsistencyToken, ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The customer")),
    responses(
        (status = 200, description = "Paid orders, amount spent, last order, top categories", body = CustomerProfile, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
async fn customer_profile(
    Views(views): Views,
    caller: Caller,
    Path(customer): Path<String>,
) -> Result<Json<CustomerProfile>, ApiError> {
    let customer = caller.own_customer(customer)?;
    views
        .orders
        .profile(&customer)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("customer {customer} has no orders")))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PartnerOrdersQuery {
    /// Only orders in this status.
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    /// Orders placed on or after this Seoul day.
    from: Option<NaiveDate>,
    /// Orders placed on or before this Seoul day.
    to: Option<NaiveDate>,
    /// Orders to skip.
    #[serde(default)]
    #[param(minimum = 0)]
    offset: i64,
    /// Orders to return.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
}

#[utoipa::path(
    get,
    path = "/v1/partners/{id}/orders",
    tag = "order-views",
    params(ConsistencyToken, ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"), PartnerOrdersQuery),
    responses(
        (status = 200, description = "The partner's orders, newest first", body = OrderPage, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
async fn partner_orders(
    State(state): State<AppState>,
    Views(views): Views,
    caller: Caller,
    Path(partner): Path<String>,
    Query(query): Query<PartnerOrdersQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    check_page(query.offset, query.limit)?;
    let status = query
        .status
        .as_deref()
        .map(|status| {
            OrderStatus::parse(status).ok_or_else(|| {
                let known: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!(
                    "unknown status {status}; one of {}",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let filter = PartnerOrdersFilter {
        status,
        from: query.from,
        to: query.to,
    };
    let mut page = views
        .orders
        .partner_orders(
            &caller.own_partner(partner)?,
            &filter,
            query.offset,
            query.limit,
        )
        .await?;
    privacy::open(&state, &mut page.orders).await?;
    Ok(Json(page))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SalesQuery {
    /// The first Seoul day.
    from: NaiveDate,
    /// The last Seoul day, inclusive; no day when it is before `from`.
    to: NaiveDate,
}

#[derive(Serialize, ToSchema)]
struct SalesReport {
    partner_id: String,
    from: NaiveDate,
    to: NaiveDate,
    days: Vec<DailySales>,
}

#[utoipa::path(
    get,
    path = "/v1/partners/{id}/sales",
    tag = "order-views",
    params(ConsistencyToken, ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"), SalesQuery),
    responses(
        (status = 200, description = "Sales per Seoul day; days without sales are absent", body = SalesReport, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
async fn partner_sales(
    Views(views): Views,
    caller: Caller,
    Path(partner): Path<String>,
    Query(query): Query<SalesQuery>,
) -> Result<Json<SalesReport>, ApiError> {
    let partner = caller.own_partner(partner)?;
    let days = views.orders.sales(&partner, query.from, query.to).await?;
    Ok(Json(SalesReport {
        partner_id: partner,
        from: query.from,
        to: query.to,
        days,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SettlementQuery {
    /// The Seoul month, `YYYY-MM`.
    #[param(pattern = r"^[2-9][0-9]{3}-(0[1-9]|1[0-2])$", example = "2026-11")]
    month: String,
}

#[utoipa::path(
    get,
    path = "/v1/partners/{id}/settlements",
    tag = "order-views",
    params(ConsistencyToken, ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The partner"), SettlementQuery),
    responses(
        (status = 200, description = "The month's settlement, when the partner sold in it", body = Vec<Settlement>, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
async fn partner_settlements(
    Views(views): Views,
    caller: Caller,
    Path(partner): Path<String>,
    Query(query): Query<SettlementQuery>,
) -> Result<Json<Vec<Settlement>>, ApiError> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", query.month), "%Y-%m-%d")
        .ok()
        .filter(|day| day.year() >= 2000 && query.month.len() == 7)
        .ok_or_else(|| ApiError::BadRequest("month must be YYYY-MM".into()))?;
    views
        .orders
        .settlements(
            &caller.own_partner(partner)?,
            &first.format("%Y-%m").to_string(),
            views.commission,
        )
        .await
        .map(Json)
        .map_err(ApiError::from)
}
