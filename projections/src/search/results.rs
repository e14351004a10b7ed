//! Answering a search: the page, the count and the facets in one pass over the postings,
//! ranked by text relevance with a bounded boost from recent demand and stock; listings of one
//! model grouped with their lowest price; "did you mean" when the exact words find little.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::Query;
use tantivy::schema::{Facet, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Order, Searcher, TantivyDocument};

use super::cluster::Cluster;
use super::collect::{Counted, FacetCounts, Ranked, Tally, count_and_rank};
use super::columns::Columns;
use super::conjunction::AllTerms;
use super::index::{SearchError, SearchIndex, cluster_of};
use super::product::ProductDoc;
use super::query::Tolerance;
use super::suggest::{self, Suggestion};

/// Characters of the highlighted title at most.
const SNIPPET_CHARS: usize = 150;
/// Facet values returned per facet at most.
const FACET_VALUES: usize = 20;
/// Fewer exact matches than this, and typos are tolerated and a correction is looked for.
const FEW: usize = 3;
/// Listings looked at per place on the page, to fill it after grouping one model's listings.
const GROUPING_DEPTH: usize = 4;
/// The deepest a page may reach (offset + limit), as the HTTP API bounds it (Elasticsearch's
/// `max_result_window`).
const MAX_DEPTH: usize = 10_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first, then recent demand and stock; without a text query, the most
    /// popular first.
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    Popular,
}

#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    pub q: String,
    /// A category path: the products under it (`가전/청소기`).
    pub category: Option<Vec<String>>,
    pub brand: Option<String>,
    pub partner: Option<String>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub in_stock: Option<bool>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub product: ProductDoc,
    /// The title with matched parts in `<b>…</b>`, HTML-escaped.
    pub highlight: String,
    pub score: Option<f32>,
    /// The model's other listings; the hit is the best ranked of them, shown once.
    pub cluster: Option<Cluster>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    /// Listings that match (a model listed by three partners counts three).
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Counts of the categories one level below the selected one (top level without one).
    pub categories: Vec<FacetCount>,
    pub brands: Vec<FacetCount>,
    /// A corrected query, when the words as typed find little: shown, never applied.
    pub did_you_mean: Option<String>,
}

/// One pass's answer: the matches counted, and the ranked candidates.
struct Pass {
    counted: Counted,
    ranked: Vec<(Option<f32>, DocAddress)>,
}

impl SearchIndex {
    /// Count, facets and the top `depth` in one pass over the postings.
    fn pass(
        &self,
        searcher: &Searcher,
        columns: &Arc<Columns>,
        query: &dyn Query,
        request: &SearchRequest,
        text: bool,
        depth: usize,
    ) -> Result<Pass, SearchError> {
        let tally = Tally {
            parent: parent_of(request),
            columns: columns.clone(),
        };
        let depth = depth.max(1);
        let (counted, ranked) = match (request.sort, text) {
            (Sort::Relevance, true) => {
                let ranked = Ranked {
                    depth,
                    now: Utc::now(),
                    columns: columns.clone(),
                };
                let (counted, top) = match query.downcast_ref::<AllTerms>() {
                    Some(terms) => count_and_rank(searcher, terms, &tally, &ranked)?,
                    None => searcher.search(query, &(tally, ranked))?,
                };
                (
                    counted,
                    top.into_iter().map(|(s, a)| (Some(s), a)).collect(),
                )
            }
            (sort, _) => {
                let (field, order) = match sort {
                    Sort::PriceAsc => ("price", Order::Asc),
                    Sort::PriceDesc => ("price", Order::Desc),
                    Sort::Newest => ("newest", Order::Desc),
                    Sort::Relevance | Sort::Popular => ("popularity", Order::Desc),
                };
                let by_field = TopDocs::with_limit(depth).order_by_fast_field::<i64>(field, order);
                let (counted, top) = searcher.search(query, &(tally, by_field))?;
                (counted, top.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };
        Ok(Pass { counted, ranked })
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let searcher = self.reader.searcher();
        let columns = self.columns.get(&searcher)?;
        let q = request.q.trim();
        let mut tolerance = Tolerance::Exact;
        let mut did_you_mean = None;
        let depth = (request.offset + request.limit.max(1)).min(MAX_DEPTH);
        let candidates = depth * GROUPING_DEPTH;
        let (text, pass) = loop {
            let text = self.text_query(q, tolerance, self.fields.text);
            if !q.is_empty() && text.is_none() {
                return Ok(SearchResults::default());
            }
            let query = self.narrowed(text.as_deref(), request);
            let pass = self.pass(
                &searcher,
                &columns,
                query.as_ref(),
                request,
                text.is_some(),
                candidates,
            )?;
            if pass.counted.total >= FEW || q.is_empty() || tolerance == Tolerance::Typos {
                break (text, pass);
            }
            did_you_mean = self.did_you_mean(&searcher, q)?;
            tolerance = Tolerance::Typos;
        };

        let grouped = self.group(&columns, pass.ranked, request.offset, depth)?;
        // The same words in the title, for highlights.
        let in_title = text.and_then(|_| self.text_query(q, tolerance, self.fields.title));
        let mut snippets = match &in_title {
            Some(query) => Some(SnippetGenerator::create(
                &searcher,
                query.as_ref(),
                self.fields.title,
            )?),
            None => None,
        };
        if let Some(snippets) = snippets.as_mut() {
            snippets.set_max_num_chars(SNIPPET_CHARS);
        }
        let mut products = Vec::with_capacity(grouped.len());
        for (score, address, key) in grouped {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(json) = doc.get_first(self.fields.state).and_then(|v| v.as_str()) else {
                continue;
            };
            let product: ProductDoc =
                serde_json::from_str(json).map_err(|e| SearchError::Document(e.to_string()))?;
            products.push((score, product, key));
        }
        let keys: Vec<u64> = products.iter().filter_map(|(_, _, key)| *key).collect();
        let models: HashMap<u64, String> = products
            .iter()
            .filter_map(|(_, product, key)| Some(((*key)?, cluster_of(product)?)))
            .collect();
        let mut clusters = self.clusters(&searcher, &columns, &keys, |key| {
            models.get(&key).cloned().unwrap_or_default()
        })?;
        let mut hits = Vec::with_capacity(products.len());
        for (score, product, key) in products {
            let highlight = match snippets.as_ref().map(|s| s.snippet(&product.title)) {
                Some(snippet) if !snippet.is_empty() => snippet.to_html(),
                _ => escape(&product.title),
            };
            let cluster = key.and_then(|key| clusters.remove(&key));
            hits.push(Hit {
                product,
                highlight,
                score,
                cluster,
            });
        }
        let Counted {
            total,
            categories,
            brands,
        } = pass.counted;
        Ok(SearchResults {
            total,
            hits,
            // The categories in their order, the brands the most matched first.
            categories: top(categories, |(a, _), (b, _)| a.cmp(b)),
            brands: top(brands, |(a, m), (b, n)| n.cmp(m).then(a.cmp(b))),
            did_you_mean,
        })
    }

    /// The query with each word the index does not know replaced by the closest one it knows
    /// well; `None` when there is nothing to correct.
    fn did_you_mean(&self, searcher: &Searcher, q: &str) -> Result<Option<String>, SearchError> {
        let mut corrected = false;
        let mut words = Vec::new();
        for word in q.split_whitespace() {
            let plain =
                word.chars().all(char::is_alphabetic) && !super::analyzer::is_choseong_query(word);
            match plain
                .then(|| suggest::correction(searcher, &self.fields, word))
                .transpose()?
                .flatten()
            {
                Some(better) => {
                    corrected = true;
                    words.push(better);
                }
                None => words.push(word.to_owned()),
            }
        }
        Ok(corrected.then(|| words.join(" ")))
    }

    /// Up to `limit` completions of what a shopper has typed so far.
    pub fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let searcher = self.reader.searcher();
        Ok(self
            .suggestions
            .get(&searcher, &self.fields)?
            .complete(prefix, limit))
    }
}

/// The first [`FACET_VALUES`] facet values in `order`.
fn top(
    counts: FacetCounts,
    order: impl FnMut(&(String, u64), &(String, u64)) -> std::cmp::Ordering,
) -> Vec<FacetCount> {
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_unstable_by(order);
    counts
        .into_iter()
        .take(FACET_VALUES)
        .map(|(value, count)| FacetCount { value, count })
        .collect()
}

fn parent_of(request: &SearchRequest) -> Facet {
    request
        .category
        .as_ref()
        .map_or_else(Facet::root, |path| Facet::from_path(path.iter()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
