use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use eventmall_aggregates::product::ProductState;
use eventmall_aggregates::{Product, ProductCommand};
use eventmall_events::product::ProductDetails;
use eventmall_events::{Money, PartnerId, ProductId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::extract::{CommandBody, CommandHeaders, IdPath, Query};
use crate::owners;
use crate::problem::{CommandProblems, ReadProblems};
use crate::{
    Accepted, AggregateView, ApiError, AppState, Created, History, HistoryQuery, current_state,
    execute, history,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(get_product))
        .routes(routes!(get_events))
        .routes(routes!(update_details))
        .routes(routes!(change_price))
        .routes(routes!(change_stock))
        .routes(routes!(delist))
        .routes(routes!(relist))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Register {
    partner_id: PartnerId,
    /// The partner's own id for the product, 1 to 50 characters.
    #[schema(min_length = 1, max_length = 50)]
    sku: String,
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    title: String,
    brand: Option<String>,
    /// The category path from the top, 1 to 4 non-empty levels.
    #[schema(min_items = 1, max_items = 4)]
    category: Vec<String>,
    model_number: Option<String>,
    price: Money,
    #[serde(default)]
    stock: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateDetails {
    partner_id: PartnerId,
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    title: String,
    brand: Option<String>,
    /// The category path from the top, 1 to 4 non-empty levels.
    #[schema(min_items = 1, max_items = 4)]
    category: Vec<String>,
    model_number: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePrice {
    partner_id: PartnerId,
    price: Money,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeStock {
    partner_id: PartnerId,
    stock: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Delist {
    partner_id: PartnerId,
    reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Relist {
    partner_id: PartnerId,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/products",
    tag = "products",
    params(CommandHeaders),
    request_body = Register,
    responses(Created, CommandProblems),
)]
async fn register(
    State(state): State<AppState>,
    caller: Caller,
    headers: CommandHeaders,
    body: CommandBody<Register>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_partner(&b.partner_id.0)?;
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

#[utoipa::path(
    post,
    path = "/v1/products/{id}/details",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), CommandHeaders),
    request_body = UpdateDetails,
    responses(Accepted, CommandProblems),
)]
async fn update_details(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<UpdateDetails>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_partner(&b.partner_id.0)?;
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

#[utoipa::path(
    post,
    path = "/v1/products/{id}/price",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), CommandHeaders),
    request_body = ChangePrice,
    responses(Accepted, CommandProblems),
)]
async fn change_price(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<ChangePrice>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_partner(&b.partner_id.0)?;
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

#[utoipa::path(
    post,
    path = "/v1/products/{id}/stock",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), CommandHeaders),
    request_body = ChangeStock,
    responses(Accepted, CommandProblems),
)]
async fn change_stock(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<ChangeStock>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_partner(&b.partner_id.0)?;
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

#[utoipa::path(
    post,
    path = "/v1/products/{id}/delist",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), CommandHeaders),
    request_body = Delist,
    responses(Accepted, CommandProblems),
)]
async fn delist(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<Delist>,
) -> Result<Response, ApiError> {
    let b = body.value;
    caller.for_partner(&b.partner_id.0)?;
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

#[utoipa::path(
    post,
    path = "/v1/products/{id}/relist",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), CommandHeaders),
    request_body = Relist,
    responses(Accepted, CommandProblems),
)]
async fn relist(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
    headers: CommandHeaders,
    body: CommandBody<Relist>,
) -> Result<Response, ApiError> {
    caller.for_partner(&body.value.partner_id.0)?;
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

#[utoipa::path(
    get,
    path = "/v1/products/{id}/state",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU")),
    responses(
        (status = 200, description = "The product as its events have it", body = AggregateView<ProductState>),
        ReadProblems,
    ),
)]
async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
) -> Result<Response, ApiError> {
    owners::product(&state, &caller, &id).await?;
    current_state(&state.commands.products, id.to_string(), |p: Product| {
        p.state
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/products/{id}/events",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), HistoryQuery),
    responses(
        (status = 200, description = "The product's events after `after`, oldest first", body = History),
        ReadProblems,
    ),
)]
async fn get_events(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath<ProductId>,
    query: Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    owners::product(&state, &caller, &id).await?;
    history(&state.commands.products, id.to_string(), query).await
}
