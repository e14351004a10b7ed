//! `GET /v1/search` and `GET /v1/products/{id}`: product search and a product as search has it.

use axum::Json;
use axum::extract::State;
use eventmall_events::ProductId;
use eventmall_projections::search::{ProductDoc, SearchRequest, SearchResults, Sort};
use serde::Deserialize;

use super::extract::{IdPath, Query};
use super::{ApiError, AppState};

/// Results a page holds at most, and how deep paging may go (as Elasticsearch's
/// `max_result_window`): deeper pages cost more than they are worth.
const MAX_LIMIT: usize = 100;
const MAX_WINDOW: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    /// A category path, levels separated by `/` (`가전/청소기`).
    category: Option<String>,
    brand: Option<String>,
    partner: Option<String>,
    price_min: Option<i64>,
    price_max: Option<i64>,
    in_stock: Option<bool>,
    #[serde(default)]
    sort: Sort,
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    20
}

impl SearchQuery {
    fn request(self) -> Result<SearchRequest, ApiError> {
        if !(1..=MAX_LIMIT).contains(&self.limit) || self.offset + self.limit > MAX_WINDOW {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_LIMIT}, and offset + limit at most {MAX_WINDOW}"
            )));
        }
        if self.q.chars().count() > 200 {
            return Err(ApiError::BadRequest("q has at most 200 characters".into()));
        }
        if let (Some(min), Some(max)) = (self.price_min, self.price_max)
            && min > max
        {
            return Err(ApiError::BadRequest("price_min is above price_max".into()));
        }
        let category = self.category.map(|path| {
            path.split('/')
                .map(str::trim)
                .filter(|level| !level.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        Ok(SearchRequest {
            q: self.q,
            category: category.filter(|levels| !levels.is_empty()),
            brand: self.brand.filter(|b| !b.is_empty()),
            partner: self.partner.filter(|p| !p.is_empty()),
            price_min: self.price_min,
            price_max: self.price_max,
            in_stock: self.in_stock,
            sort: self.sort,
            offset: self.offset,
            limit: self.limit,
        })
    }
}

pub async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let request = query.request()?;
    let search = state.views.search.clone();
    tokio::task::spawn_blocking(move || search.index().search(&request))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map(Json)
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

pub async fn product(
    State(state): State<AppState>,
    IdPath(id): IdPath<ProductId>,
) -> Result<Json<ProductDoc>, ApiError> {
    let search = state.views.search.clone();
    let found = tokio::task::spawn_blocking(move || search.index().product(&id.to_string()))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    found
        .filter(|product| product.registered)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("product {id} is not in the search index")))
}
