//! Searching the index: the text query with its typo and 초성 fallbacks, filters, sorting,
//! facet counts, highlighted snippets and pages.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

use super::analyzer::{self, choseong, is_choseong_query, jamo};
use super::index::{SearchError, SearchIndex};
use super::product::ProductDoc;

/// Exact (bigram or whole-word) matches rank above typo-tolerant ones.
const EXACT_BOOST: f32 = 4.0;
/// Characters of the highlighted title at most.
const SNIPPET_CHARS: usize = 150;
/// Facet values returned per facet at most.
const FACET_VALUES: usize = 20;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first; without a text query, the most popular first.
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Counts of the categories one level below the selected one (top level without one).
    pub categories: Vec<FacetCount>,
    pub brands: Vec<FacetCount>,
}

impl SearchIndex {
    fn term(&self, field: Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::WithFreqs,
        ))
    }

    /// One query word: every token of it in a text field, else (for Hangul) its jamo within
    /// one edit from the start of a word, else its initials, else (Latin) one typo.
    fn word_query(&self, word: &str) -> Option<Box<dyn Query>> {
        let f = &self.fields;
        let tokens = analyzer::tokens(word);
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !tokens.is_empty() {
            for field in [f.title, f.brand_text, f.model, f.category_text] {
                let all: Vec<(Occur, Box<dyn Query>)> = tokens
                    .iter()
                    .map(|token| (Occur::Must, self.term(field, &token.text)))
                    .collect();
                alternatives.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(BooleanQuery::new(all)),
                        EXACT_BOOST,
                    )),
                ));
            }
        }
        if is_choseong_query(word) {
            let term = Term::from_field_text(f.choseong, analyzer::indexed_prefix(word));
            alternatives.push((
                Occur::Should,
                Box::new(FuzzyTermQuery::new_prefix(term, 0, false)),
            ));
        } else if choseong(word).is_some() {
            let spelled = jamo(analyzer::indexed_prefix(word));
            let distance = if spelled.chars().count() >= 5 { 1 } else { 0 };
            let term = Term::from_field_text(f.jamo, &spelled);
            alternatives.push((
                Occur::Should,
                Box::new(FuzzyTermQuery::new_prefix(term, distance, true)),
            ));
        } else if let [token] = tokens.as_slice()
            && let Some(distance) = latin_fuzziness(&token.text)
        {
            for field in [f.title, f.brand_text, f.model] {
                let term = Term::from_field_text(field, &token.text);
                alternatives.push((
                    Occur::Should,
                    Box::new(FuzzyTermQuery::new(term, distance, true)),
                ));
            }
        }
        (!alternatives.is_empty())
            .then(|| Box::new(BooleanQuery::new(alternatives)) as Box<dyn Query>)
    }

    /// Every word of `q` must match (in one of its ways).
    fn text_query(&self, q: &str) -> Option<Box<dyn Query>> {
        let words: Vec<(Occur, Box<dyn Query>)> = q
            .split_whitespace()
            .filter_map(|word| self.word_query(word))
            .map(|query| (Occur::Must, query))
            .collect();
        (!words.is_empty()).then(|| Box::new(BooleanQuery::new(words)) as Box<dyn Query>)
    }

    fn filters(&self, request: &SearchRequest) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.fields;
        let u64_term = |field, value| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_u64(field, value),
                IndexRecordOption::Basic,
            ))
        };
        let mut filters: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, self.term(f.kind, "product")),
            (Occur::Must, u64_term(f.listed, 1)),
        ];
        if let Some(path) = &request.category {
            let term = Term::from_facet(f.category, &Facet::from_path(path.iter()));
            filters.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if let Some(brand) = &request.brand {
            let term = Term::from_facet(f.brand, &Facet::from_path([brand.as_str()]));
            filters.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if let Some(partner) = &request.partner {
            filters.push((Occur::Must, self.term(f.partner, partner)));
        }
        if request.price_min.is_some() || request.price_max.is_some() {
            let bound = |value: Option<i64>| match value {
                Some(value) => Bound::Included(Term::from_field_i64(f.price, value)),
                None => Bound::Unbounded,
            };
            filters.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(request.price_min),
                    bound(request.price_max),
                )),
            ));
        }
        if let Some(in_stock) = request.in_stock {
            filters.push((Occur::Must, u64_term(f.in_stock, u64::from(in_stock))));
        }
        filters
    }

    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let searcher = self.reader.searcher();
        let text = self.text_query(&request.q);
        if !request.q.trim().is_empty() && text.is_none() {
            return Ok(SearchResults {
                total: 0,
                hits: Vec::new(),
                categories: Vec::new(),
                brands: Vec::new(),
            });
        }
        let mut clauses = self.filters(request);
        clauses.push((
            Occur::Must,
            text.as_ref()
                .map_or_else(|| Box::new(AllQuery) as Box<dyn Query>, |q| q.box_clone()),
        ));
        let query = BooleanQuery::new(clauses);

        let parent = request
            .category
            .as_ref()
            .map_or_else(Facet::root, |path| Facet::from_path(path.iter()));
        let mut categories = FacetCollector::for_field("category");
        categories.add_facet(parent.clone());
        let mut brands = FacetCollector::for_field("brand");
        brands.add_facet(Facet::root());
        let (total, categories, brands) = searcher.search(&query, &(Count, categories, brands))?;

        let page = TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset);
        let scored: Vec<(Option<f32>, DocAddress)> = match (request.sort, text.is_some()) {
            (Sort::Relevance, true) => searcher
                .search(&query, &page.order_by_score())?
                .into_iter()
                .map(|(score, address)| (Some(score), address))
                .collect(),
            (Sort::Relevance | Sort::Popular, _) => {
                by_field(&searcher, &query, page, "popularity", Order::Desc)?
            }
            (Sort::PriceAsc, _) => by_field(&searcher, &query, page, "price", Order::Asc)?,
            (Sort::PriceDesc, _) => by_field(&searcher, &query, page, "price", Order::Desc)?,
            (Sort::Newest, _) => by_field(&searcher, &query, page, "newest", Order::Desc)?,
        };

        let mut snippets = match &text {
            Some(text) => Some(SnippetGenerator::create(
                &searcher,
                text.as_ref(),
                self.fields.title,
            )?),
            None => None,
        };
        if let Some(snippets) = snippets.as_mut() {
            snippets.set_max_num_chars(SNIPPET_CHARS);
        }
        let mut hits = Vec::with_capacity(scored.len());
        for (score, address) in scored {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(json) = doc.get_first(self.fields.state).and_then(|v| v.as_str()) else {
                continue;
            };
            let product: ProductDoc =
                serde_json::from_str(json).map_err(|e| SearchError::Document(e.to_string()))?;
            let highlight = match snippets.as_ref().map(|s| s.snippet(&product.title)) {
                Some(snippet) if !snippet.is_empty() => snippet.to_html(),
                _ => escape(&product.title),
            };
            hits.push(Hit {
                product,
                highlight,
                score,
            });
        }
        Ok(SearchResults {
            total,
            hits,
            categories: categories
                .get(parent)
                .take(FACET_VALUES)
                .map(|(facet, count)| FacetCount {
                    value: facet.to_path().join("/"),
                    count,
                })
                .collect(),
            brands: brands
                .top_k(Facet::root(), FACET_VALUES)
                .into_iter()
                .map(|(facet, count)| FacetCount {
                    value: facet.to_path().join("/"),
                    count,
                })
                .collect(),
        })
    }
}

/// Edits a Latin word may be off by, as Elasticsearch's `AUTO`: none up to 2 characters, one
/// up to 5, two beyond; words with digits (model numbers) must match exactly.
fn latin_fuzziness(word: &str) -> Option<u8> {
    if word.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    match word.chars().count() {
        0..=2 => None,
        3..=5 => Some(1),
        _ => Some(2),
    }
}

fn by_field(
    searcher: &Searcher,
    query: &dyn Query,
    page: TopDocs,
    field: &str,
    order: Order,
) -> Result<Vec<(Option<f32>, DocAddress)>, SearchError> {
    Ok(searcher
        .search(query, &page.order_by_fast_field::<i64>(field, order))?
        .into_iter()
        .map(|(_, address)| (None, address))
        .collect())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
