//! Read routes of the order views: an order with its timeline, customers' order histories and
//! profiles, partners' order queues, daily sales and monthly settlements.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate};
use eventmall_events::OrderId;
use eventmall_projections::orders::{OrderStatus, OrderView, Settlement};
use serde::{Deserialize, Serialize};

use super::extract::{IdPath, Query};
use super::{ApiError, AppState};
use crate::views::order_views::{CustomerProfile, DailySales, OrderPage, PartnerOrdersFilter};

/// The longest span `sales` answers in one request, in days.
const MAX_SALES_DAYS: i64 = 366;

pub fn customers() -> Router<AppState> {
    Router::new()
        .route("/{id}/orders", get(customer_orders))
        .route("/{id}/profile", get(customer_profile))
        .route(
            "/{id}/recommendations",
            get(super::recommendations::for_customer),
        )
}

pub fn partners() -> Router<AppState> {
    Router::new()
        .route("/{id}/orders", get(partner_orders))
        .route("/{id}/sales", get(partner_sales))
        .route("/{id}/settlements", get(partner_settlements))
}

fn unavailable(error: anyhow::Error) -> ApiError {
    ApiError::Unavailable(format!("order views: {error:#}"))
}

pub async fn order(
    State(state): State<AppState>,
    IdPath(id): IdPath<OrderId>,
) -> Result<Json<OrderView>, ApiError> {
    state
        .views
        .orders
        .order(&id.to_string())
        .await
        .map_err(unavailable)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("order {id} is not in the order views")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
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

/// A customer or partner id in a path: 1 to 100 characters.
fn party_id(id: String) -> Result<String, ApiError> {
    match (1..=100).contains(&id.chars().count()) {
        true => Ok(id),
        false => Err(ApiError::BadRequest("an id has 1 to 100 characters".into())),
    }
}

async fn customer_orders(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    check_page(page.offset, page.limit)?;
    state
        .views
        .orders
        .customer_orders(&party_id(customer)?, page.offset, page.limit)
        .await
        .map(Json)
        .map_err(unavailable)
}

async fn customer_profile(
    State(state): State<AppState>,
    Path(customer): Path<String>,
) -> Result<Json<CustomerProfile>, ApiError> {
    let customer = party_id(customer)?;
    state
        .views
        .orders
        .profile(&customer)
        .await
        .map_err(unavailable)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("customer {customer} has no orders")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerOrdersQuery {
    status: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    #[serde(default)]
    offset: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

async fn partner_orders(
    State(state): State<AppState>,
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
    state
        .views
        .orders
        .partner_orders(&party_id(partner)?, &filter, query.offset, query.limit)
        .await
        .map(Json)
        .map_err(unavailable)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesQuery {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Serialize)]
struct SalesReport {
    partner_id: String,
    from: NaiveDate,
    to: NaiveDate,
    days: Vec<DailySales>,
}

async fn partner_sales(
    State(state): State<AppState>,
    Path(partner): Path<String>,
    Query(query): Query<SalesQuery>,
) -> Result<Json<SalesReport>, ApiError> {
    let span = (query.to - query.from).num_days();
    if !(0..MAX_SALES_DAYS).contains(&span) {
        return Err(ApiError::BadRequest(format!(
            "from must not be after to, and the span at most {MAX_SALES_DAYS} days"
        )));
    }
    let partner = party_id(partner)?;
    let days = state
        .views
        .orders
        .sales(&partner, query.from, query.to)
        .await
        .map_err(unavailable)?;
    Ok(Json(SalesReport {
        partner_id: partner,
        from: query.from,
        to: query.to,
        days,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettlementQuery {
    /// `YYYY-MM`.
    month: String,
}

async fn partner_settlements(
    State(state): State<AppState>,
    Path(partner): Path<String>,
    Query(query): Query<SettlementQuery>,
) -> Result<Json<Vec<Settlement>>, ApiError> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", query.month), "%Y-%m-%d")
        .ok()
        .filter(|day| day.year() >= 2000 && query.month.len() == 7)
        .ok_or_else(|| ApiError::BadRequest("month must be YYYY-MM".into()))?;
    state
        .views
        .orders
        .settlements(
            &party_id(partner)?,
            &first.format("%Y-%m").to_string(),
            state.views.commission,
        )
        .await
        .map(Json)
        .map_err(unavailable)
}
