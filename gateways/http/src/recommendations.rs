//! Recommendation routes: bought together, also bought, trending and personalized picks, each
//! item with the product as search has it.

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use eventmall_events::ProductId;
use eventmall_projections::recommendations::{Neighbour, Pick};
use eventmall_projections::search::ProductDoc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use eventmall_read_models::ReadModels;
use eventmall_read_models::recommendations::{Affinity, Trend};

use crate::auth::Caller;
use crate::extract::{IdPath, Query};
use crate::problem::ConsistentReadProblems;
use crate::projections::{ConsistencyToken, Views};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bought_together))
        .routes(routes!(also_bought))
        .routes(routes!(trending))
        .routes(routes!(for_customer))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// Products to return.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 50, default = 10)]
    limit: usize,
}

fn default_limit() -> usize {
    10
}

impl Limit {
    fn checked(&self) -> Result<usize, ApiError> {
        match (1..=50).contains(&self.limit) {
            true => Ok(self.limit),
            false => Err(ApiError::BadRequest("limit must be 1 to 50".into())),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendingQuery {
    /// A category path (`가전/청소기`); everything when absent.
    #[serde(default)]
    category: String,
    /// Products to return.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 50, default = 10)]
    limit: usize,
}

#[derive(Serialize, ToSchema)]
pub struct WithProduct<T> {
    #[serde(flatten)]
    item: T,
    /// The product as search has it, when it has it.
    product: Option<ProductDoc>,
}

/// Adds each item's product from the search index.
async fn with_products<T: Send + 'static>(
    views: &ReadModels,
    items: Vec<T>,
    product_id: fn(&T) -> &str,
) -> Result<Vec<WithProduct<T>>, ApiError> {
    let search = views.search.clone();
    tokio::task::spawn_blocking(move || {
        items
            .into_iter()
            .map(|item| {
                let product = search.index().product(product_id(&item)).ok().flatten();
                WithProduct { item, product }
            })
            .collect()
    })
    .await
    .map_err(ApiError::internal)
}

async fn neighbours(
    views: Arc<ReadModels>,
    product: ProductId,
    affinity: Affinity,
    limit: &Limit,
) -> Result<Json<Vec<WithProduct<Neighbour>>>, ApiError> {
    let found = views
        .recommendations
        .neighbours(&product.to_string(), affinity, limit.checked()?)
        .await?;
    Ok(Json(with_products(&views, found, |n| &n.product_id).await?))
}

#[utoipa::path(
    get,
    path = "/v1/products/{id}/bought-together",
    tag = "recommendations",
    params(ConsistencyToken, ("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), Limit),
    responses(
        (status = 200, description = "Products bought in the same basket, best first", body = [WithProduct<Neighbour>], headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn bought_together(
    Views(views): Views,
    IdPath(product): IdPath<ProductId>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<WithProduct<Neighbour>>>, ApiError> {
    neighbours(views, product, Affinity::BoughtTogether, &limit).await
}

#[utoipa::path(
    get,
    path = "/v1/products/{id}/also-bought",
    tag = "recommendations",
    params(ConsistencyToken, ("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU"), Limit),
    responses(
        (status = 200, description = "Products bought by the same customers, best first", body = [WithProduct<Neighbour>], headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn also_bought(
    Views(views): Views,
    IdPath(product): IdPath<ProductId>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<WithProduct<Neighbour>>>, ApiError> {
    neighbours(views, product, Affinity::AlsoBought, &limit).await
}

#[utoipa::path(
    get,
    path = "/v1/trending",
    tag = "recommendations",
    params(ConsistencyToken, TrendingQuery),
    responses(
        (status = 200, description = "Products bought most lately, best first", body = [WithProduct<Trend>], headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn trending(
    Views(views): Views,
    Query(query): Query<TrendingQuery>,
) -> Result<Json<Vec<WithProduct<Trend>>>, ApiError> {
    let limit = Limit { limit: query.limit }.checked()?;
    let category: Vec<&str> = query
        .category
        .split('/')
        .map(str::trim)
        .filter(|level| !level.is_empty())
        .collect();
    let found = views
        .recommendations
        .trending(&category.join("/"), limit)
        .await?;
    Ok(Json(with_products(&views, found, |t| &t.product_id).await?))
}

#[utoipa::path(
    get,
    path = "/v1/customers/{id}/recommendations",
    tag = "recommendations",
    params(ConsistencyToken, ("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The customer"), Limit),
    responses(
        (status = 200, description = "Picks for the customer, each with its reason", body = [WithProduct<Pick>], headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn for_customer(
    Views(views): Views,
    caller: Caller,
    Path(customer): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<WithProduct<Pick>>>, ApiError> {
    let customer = caller.own_customer(customer)?;
    let picks = views
        .recommendations
        .for_customer(&customer, limit.checked()?)
        .await?;
    Ok(Json(with_products(&views, picks, |p| &p.product_id).await?))
}
