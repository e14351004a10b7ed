use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use eventmall_aggregates::{Product, ProductCommand};
use eventmall_events::product::ProductDetails;
use eventmall_events::{Money, PartnerId, ProductId};
use serde::Deserialize;

use super::extract::{CommandBody, CommandHeaders, IdPath, Query};
use super::{AppState, HistoryQuery, current_state, execute, history};
use crate::http::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(register))
        .route("/{id}", get(super::search::product))
        .route("/{id}/state", get(get_product))
        .route(
            "/{id}/bought-together",
            get(super::recommendations::bought_together),
        )
        .route(
            "/{id}/also-bought",
            get(super::recommendations::also_bought),
        )
        .route("/{id}/events", get(get_events))
        .route("/{id}/details", post(update_details))
        .route("/{id}/price", post(change_price))
        .route("/{id}/stock", post(change_stock))
        .route("/{id}/delist", post(delist))
        .route("/{id}/relist", post(relist))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    partner_id: PartnerId,
    sku: String,
    title: String,
    brand: Option<String>,
    category: Vec<String>,
    model_number: Option<String>,
    price: Money,
    #[serde(default)]
    stock: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateDetails {
    partner_id: PartnerId,
    title: String,
    brand: Option<String>,
    category: Vec<String>,
    model_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePrice {
    partner_id: PartnerId,
    price: Money,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeStock {
    partner_id: PartnerId,
    stock: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Delist {
    partner_id: PartnerId,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Relist {
    partner_id: PartnerId,
    #[serde(default)]
    reason: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: CommandBody<Register>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let product_id = ProductId::for_partner_sku(&b.partner_id, &b.sku);
    let command = ProductCommand::Register {
        product_id,
        partner_id: b.partner_id,
        sku: b.sku,
        details: ProductDetails {
            title: b.title,
            brand: b.brand,
            category: b.category,
            model_number: b.model_number,
        },
        price: b.price,
        stock: b.stock,
    };
    execute(
        &state,
        product_id,
        headers,
        body.fingerprint.as_deref(),
        command,
        StatusCode::CREATED,
    )
    .await
}

async fn update_details(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<UpdateDetails>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = ProductCommand::UpdateDetails {
        partner_id: b.partner_id,
        details: ProductDetails {
            title: b.title,
            brand: b.brand,
            category: b.category,
            model_number: b.model_number,
        },
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

async fn change_price(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<ChangePrice>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = ProductCommand::ChangePrice {
        partner_id: b.partner_id,
        price: b.price,
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

async fn change_stock(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<ChangeStock>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = ProductCommand::ChangeStock {
        partner_id: b.partner_id,
        stock: b.stock,
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

async fn delist(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<Delist>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let command = ProductCommand::Delist {
        partner_id: b.partner_id,
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

async fn relist(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<Relist>,
) -> Result<Response, ApiError> {
    let command = ProductCommand::Relist {
        partner_id: body.value.partner_id,
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

async fn get_product(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
) -> Result<Response, ApiError> {
    current_state(&state.commands.products, id.to_string(), |p: Product| {
        p.state
    })
    .await
}

async fn get_events(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
    query: Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    history(&state.commands.products, id.to_string(), query).await
}
