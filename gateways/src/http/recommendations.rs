//! Recommendation routes: bought together, also bought, trending and personalized picks, each
//! item with the product as search has it.

use axum::Json;
use axum::extract::{Path, State};
use eventmall_events::ProductId;
use eventmall_projections::recommendations::{Neighbour, Pick};
use eventmall_projections::search::ProductDoc;
use serde::{Deserialize, Serialize};

use super::extract::{IdPath, Query};
use super::{ApiError, AppState};
use crate::views::recommendations::{Affinity, Trend};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    #[serde(default = "default_limit")]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendingQuery {
    /// A category path (`가전/청소기`); everything when absent.
    #[serde(default)]
    category: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

#[derive(Serialize)]
pub struct Item<T> {
    #[serde(flatten)]
    item: T,
    /// The product as search has it, when it has it.
    product: Option<ProductDoc>,
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("recommendations: {error}"))
}

/// Adds each item's product from the search index.
async fn with_products<T: Send + 'static>(
    state: &AppState,
    items: Vec<T>,
    product_id: fn(&T) -> &str,
) -> Result<Vec<Item<T>>, ApiError> {
    let search = state.views.search.clone();
    tokio::task::spawn_blocking(move || {
        items
            .into_iter()
            .map(|item| {
                let product = search.index().product(product_id(&item)).ok().flatten();
                Item { item, product }
            })
            .collect()
    })
    .await
    .map_err(unavailable)
}

async fn neighbours(
    state: AppState,
    product: ProductId,
    affinity: Affinity,
    limit: &Limit,
) -> Result<Json<Vec<Item<Neighbour>>>, ApiError> {
    let found = state
        .views
        .recommendations
        .neighbours(&product.to_string(), affinity, limit.checked()?)
        .await
        .map_err(unavailable)?;
    Ok(Json(with_products(&state, found, |n| &n.product_id).await?))
}

pub async fn bought_together(
    State(state): State<AppState>,
    IdPath(product): IdPath<ProductId>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<Item<Neighbour>>>, ApiError> {
    neighbours(state, product, Affinity::BoughtTogether, &limit).await
}

pub async fn also_bought(
    State(state): State<AppState>,
    IdPath(product): IdPath<ProductId>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<Item<Neighbour>>>, ApiError> {
    neighbours(state, product, Affinity::AlsoBought, &limit).await
}

pub async fn trending(
    State(state): State<AppState>,
    Query(query): Query<TrendingQuery>,
) -> Result<Json<Vec<Item<Trend>>>, ApiError> {
    let limit = Limit { limit: query.limit }.checked()?;
    let category: Vec<&str> = query
        .category
        .split('/')
        .map(str::trim)
        .filter(|level| !level.is_empty())
        .collect();
    let found = state
        .views
        .recommendations
        .trending(&category.join("/"), limit)
        .await
        .map_err(unavailable)?;
    Ok(Json(with_products(&state, found, |t| &t.product_id).await?))
}

pub async fn for_customer(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Vec<Item<Pick>>>, ApiError> {
    if !(1..=100).contains(&customer.chars().count()) {
        return Err(ApiError::BadRequest("an id has 1 to 100 characters".into()));
    }
    let picks = state
        .views
        .recommendations
        .for_customer(&customer, limit.checked()?)
        .await
        .map_err(unavailable)?;
    Ok(Json(with_products(&state, picks, |p| &p.product_id).await?))
}
