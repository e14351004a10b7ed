//! Answering a search: the page, the count and the facets in one pass over the postings,
//! ranked by text relevance with a bounded boost from recent demand and stock; listings of one
//! model grouped with their lowest price; "did you mean" when the exact words find little.

use std::collections::HashMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query};
use tantivy::schema::{Facet, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, DocId, Order, Score, Searcher, SegmentReader, TantivyDocument};

use super::cluster::Cluster;
use super::index::{SearchError, SearchIndex, cluster_of};
use super::product::{ProductDoc, recent_units};
use super::query::Tolerance;
use super::suggest::{self, Suggestion};

/// Characters of the highlighted title at most.
const SNIPPET_CHARS: usize = 150;
/// Facet values returned per facet at most.
const FACET_VALUES: usize = 20;
/// Fewer exact matches than this, and typos are tolerated and a correction is looked for.
const FEW: usize = 3;
/// The most a product's recent demand multiplies its text score by (1.25×), reached slowly:
/// half of it at [`DEMAND_HALF`] units ordered lately.
const DEMAND_BOOST: f32 = 0.25;
const DEMAND_HALF: f32 = 3.0;
/// What being out of stock multiplies the score by: with the most demand it is 0.625, so an
/// out-of-stock product never outranks an in-stock one that matches as well, nor one whose
/// text score is five eighths of its own.
const OUT_OF_STOCK: f32 = 0.5;
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

/// One pass's answer: the count, the two facets' collectors' fruit, the ranked candidates.
struct Pass {
    total: usize,
    categories: tantivy::collector::FacetCounts,
    brands: tantivy::collector::FacetCounts,
    ranked: Vec<(Option<f32>, DocAddress)>,
}

/// Text score × the bounded boost of recent demand × the stock factor.
fn ranking(segment: &SegmentReader) -> impl Fn(DocId, Score) -> Score + use<> {
    let fast = segment.fast_fields();
    let demand = fast
        .i64("demand")
        .ok()
        .map(|c| c.first_or_default_col(i64::MIN));
    let stock = fast.u64("in_stock").ok().map(|c| c.first_or_default_col(1));
    let now = Utc::now();
    move |doc, score| {
        let units = match demand.as_ref().map(|d| d.get_val(doc)) {
            None | Some(i64::MIN) => 0.0,
            Some(demand) => recent_units(demand, now) as f32,
        };
        let boost = 1.0 + DEMAND_BOOST * units / (units + DEMAND_HALF);
        let in_stock = stock.as_ref().is_none_or(|s| s.get_val(doc) == 1);
        score * boost * if in_stock { 1.0 } else { OUT_OF_STOCK }
    }
}

impl SearchIndex {
    /// Count, facets and the top `depth` in one pass over the postings.
    fn pass(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        request: &SearchRequest,
        text: bool,
        depth: usize,
    ) -> Result<Pass, SearchError> {
        let parent = parent_of(request);
        let mut categories = FacetCollector::for_field("category");
        categories.add_facet(parent);
        let mut brands = FacetCollector::for_field("brand");
        brands.add_facet(Facet::root());
        let facets = (Count, categories, brands);
        let top = || TopDocs::with_limit(depth.max(1));
        let ((total, categories, brands), ranked) = match (request.sort, text) {
            (Sort::Relevance, true) => {
                let (facets, top) =
                    searcher.search(query, &(facets, top().tweak_score(ranking)))?;
                (facets, top.into_iter().map(|(s, a)| (Some(s), a)).collect())
            }
            (sort, _) => {
                let (field, order) = match sort {
                    Sort::PriceAsc => ("price", Order::Asc),
                    Sort::PriceDesc => ("price", Order::Desc),
                    Sort::Newest => ("newest", Order::Desc),
                    Sort::Relevance | Sort::Popular => ("popularity", Order::Desc),
                };
                let by_field = top().order_by_fast_field::<i64>(field, order);
                let (facets, top) = searcher.search(query, &(facets, by_field))?;
                (facets, top.into_iter().map(|(_, a)| (None, a)).collect())
            }
        };
        Ok(Pass {
            total,
            categories,
            brands,
            ranked,
        })
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let searcher = self.reader.searcher();
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
            let mut clauses = self.filters(request);
            let matching = text
                .as_ref()
                .map_or_else(|| Box::new(AllQuery) as Box<dyn Query>, |t| t.box_clone());
            clauses.push((Occur::Must, matching));
            let query = BooleanQuery::new(clauses);
            let pass = self.pass(&searcher, &query, request, text.is_some(), candidates)?;
            if pass.total >= FEW || q.is_empty() || tolerance == Tolerance::Typos {
                break (text, pass);
            }
            did_you_mean = self.did_you_mean(&searcher, q)?;
            tolerance = Tolerance::Typos;
        };

        let grouped = self.group(&searcher, pass.ranked, request.offset, depth)?;
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
        let mut clusters = self.clusters(&searcher, &keys, |key| {
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
        let counts = |facets: Vec<(&Facet, u64)>| -> Vec<FacetCount> {
            facets
                .into_iter()
                .map(|(facet, count)| FacetCount {
                    value: facet.to_path().join("/"),
                    count,
                })
                .collect()
        };
        Ok(SearchResults {
            total: pass.total,
            hits,
            categories: counts(
                pass.categories
                    .get(parent_of(request))
                    .take(FACET_VALUES)
                    .collect(),
            ),
            brands: counts(pass.brands.top_k(Facet::root(), FACET_VALUES)),
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
