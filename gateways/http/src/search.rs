//! `GET /v1/search`, `GET /v1/search/suggest` and `GET /v1/products/{id}`: product search,
//! completions as a shopper types, and a product as search has it.

use axum::Json;
use eventmall_events::ProductId;
use eventmall_projections::search::suggest::MAX_PREFIX_CHARS;
use eventmall_projections::search::{ProductDoc, SearchRequest, SearchResults, Sort, Suggestion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{IdPath, Query};
use crate::problem::ConsistentReadProblems;
use crate::projections::{ConsistencyToken, Views};
use crate::{ApiError, AppState};

/// Results a page holds at most, and how deep paging may go: no page reaches past the 10,000th
/// hit (Elasticsearch's `max_result_window`); deeper pages cost more than they are worth.
const MAX_LIMIT: usize = 100;
const MAX_OFFSET: usize = 10_000 - MAX_LIMIT;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(suggest))
        .routes(routes!(product))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find, in Korean, English or model numbers; typos and 초성 are tolerated.
    /// Everything matches when absent.
    #[serde(default)]
    #[param(max_length = 200)]
    q: String,
    /// A category path, levels separated by `/` (`가전/청소기`).
    category: Option<String>,
    brand: Option<String>,
    partner: Option<String>,
    /// Lowest price, inclusive.
    price_min: Option<i64>,
    /// Highest price, inclusive; not below `price_min`.
    price_max: Option<i64>,
    in_stock: Option<bool>,
    #[serde(default)]
    sort: Sort,
    /// Hits to skip.
    #[serde(default)]
    #[param(maximum = 9900)]
    offset: usize,
    /// Hits to return.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: usize,
}

fn default_limit() -> usize {
    20
}

impl SearchQuery {
    fn request(self) -> Result<SearchRequest, ApiError> {
        if !(1..=MAX_LIMIT).contains(&self.limit) || self.offset > MAX_OFFSET {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_LIMIT}, and offset at most {MAX_OFFSET}"
            )));
        }
        if self.q.chars().count() > 200 {
            return Err(ApiError::BadRequest("q has at most 200 characters".into()));
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

#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "search",
    params(ConsistencyToken, SearchQuery),
    responses(
        (status = 200, description = "Matching products, with facet counts", body = SearchResults, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn search(
    Views(views): Views,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let request = query.request()?;
    let search = views.search.clone();
    let results = tokio::task::spawn_blocking(move || search.index().search(&request))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(results))
}

/// Completions returned at most.
const MAX_SUGGESTIONS: usize = 20;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// What the shopper has typed so far: Hangul, with its last syllable maybe half-typed
    /// (`삼서`), initial consonants (`ㅅㅁ`), or Latin.
    #[param(max_length = 32)]
    q: String,
    /// Completions to return.
    #[serde(default = "default_suggestions")]
    #[param(minimum = 1, maximum = 20, default = 10)]
    limit: usize,
}

fn default_suggestions() -> usize {
    10
}

/// Words of titles, brands and categories completing a prefix, most bought first.
#[derive(Serialize, ToSchema)]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
}

#[utoipa::path(
    get,
    path = "/v1/search/suggest",
    tag = "search",
    params(ConsistencyToken, SuggestQuery),
    responses(
        (status = 200, description = "Completions, the most bought first", body = Suggestions),
        ConsistentReadProblems,
    ),
)]
pub async fn suggest(
    Views(views): Views,
    Query(query): Query<SuggestQuery>,
) -> Result<Json<Suggestions>, ApiError> {
    if !(1..=MAX_SUGGESTIONS).contains(&query.limit) || query.q.chars().count() > MAX_PREFIX_CHARS {
        return Err(ApiError::BadRequest(format!(
            "q has at most {MAX_PREFIX_CHARS} characters, and limit is 1 to {MAX_SUGGESTIONS}"
        )));
    }
    let search = views.search.clone();
    let suggestions =
        tokio::task::spawn_blocking(move || search.index().suggest(&query.q, query.limit))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(Suggestions { suggestions }))
}

#[utoipa::path(
    get,
    path = "/v1/products/{id}",
    tag = "search",
    params(ConsistencyToken, ("id" = ProductId, Path, description = "The product: UUID v5 of partner and SKU")),
    responses(
        (status = 200, description = "The product as search has it", body = ProductDoc, headers(
            ("X-Consistency" = String, description = "With `X-Consistency-Token`: `fresh`, or `stale` when the read model did not reach the token in time")
        )),
        ConsistentReadProblems,
    ),
)]
pub async fn product(
    Views(views): Views,
    IdPath(id): IdPath<ProductId>,
) -> Result<Json<ProductDoc>, ApiError> {
    let search = views.search.clone();
    let found = tokio::task::spawn_blocking(move || search.index().product(&id.to_string()))
        .await
        .map_err(ApiError::internal)??;
    found
        .filter(|product| product.registered)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("product {id} is not in the search index")))
}
