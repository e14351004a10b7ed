//! Listings of one model from several partners, as one hit ("compare prices"): a page keeps the
//! best-ranked listing of each model, with the model's offers, partners and lowest price.
//!
//! Everything here reads fast-field columns by number (a model's and a partner's key are
//! hashes, a product id two numbers), so grouping a page costs no term dictionary lookups and
//! decompresses no dictionary block.

use std::collections::{BTreeSet, HashMap, HashSet};

use eventmall_events::Money;
use serde::Serialize;
use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Searcher, Term};

use super::index::{SearchError, SearchIndex};

/// A cluster's offers listed by id at most.
pub const MAX_OFFERS_LISTED: usize = 50;

/// The listings of one model across partners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cluster {
    /// The model number, normalised (`sms928n`).
    pub model: String,
    /// Listed offers of the model.
    pub offers: u64,
    /// Partners offering it.
    pub partners: u64,
    pub lowest_price: Money,
    /// The offers' products, the lowest priced first (at most [`MAX_OFFERS_LISTED`]).
    pub product_ids: Vec<String>,
}

/// A ranked candidate: its score (by relevance only) and where it is.
pub type Ranked = (Option<f32>, DocAddress);

/// A candidate on the page, with its model's key when it has a model.
pub type Placed = (Option<f32>, DocAddress, Option<u64>);

/// A model's offers (price and where) and its partners' keys.
type Offers = (Vec<(i64, DocAddress)>, BTreeSet<u64>);

impl SearchIndex {
    fn u64_of(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        field: &str,
    ) -> Result<u64, SearchError> {
        let fast = searcher.segment_reader(address.segment_ord).fast_fields();
        Ok(fast.u64(field)?.first(address.doc_id).unwrap_or(0))
    }

    /// The page of `ranked` from `offset`, `depth` places deep counted from the first, each
    /// model once (its best-ranked listing) with its cluster; `model` names a listing's model
    /// for the cluster (from the document the caller reads anyway).
    pub(super) fn group(
        &self,
        searcher: &Searcher,
        ranked: Vec<Ranked>,
        offset: usize,
        depth: usize,
    ) -> Result<Vec<Placed>, SearchError> {
        let mut seen = HashSet::new();
        let mut page = Vec::new();
        for (score, address) in ranked {
            let key = self.u64_of(searcher, address, "cluster_key")?;
            if key != 0 && !seen.insert(key) {
                continue;
            }
            page.push((score, address, (key != 0).then_some(key)));
            if page.len() >= depth {
                break;
            }
        }
        Ok(page.into_iter().skip(offset).collect())
    }

    /// The listed offers of the models with keys `keys` (a term query each: a term set query
    /// walks the field's whole dictionary, slower for a page's twenty): for each, how
    /// many, from how many partners, the lowest price and the ids, lowest price first. `model`
    /// names each model (from the documents the caller reads anyway).
    pub(super) fn clusters(
        &self,
        searcher: &Searcher,
        keys: &[u64],
        model: impl Fn(u64) -> String,
    ) -> Result<HashMap<u64, Cluster>, SearchError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut found = Vec::new();
        for key in keys {
            let term = Term::from_field_u64(self.fields.cluster_key, *key);
            let model_offers = TermQuery::new(term, IndexRecordOption::Basic);
            found.extend(searcher.search(&model_offers, &DocSetCollector)?);
        }
        let mut offers: HashMap<u64, Offers> = HashMap::new();
        for address in found {
            if self.u64_of(searcher, address, "listed")? != 1 {
                continue;
            }
            let fast = searcher.segment_reader(address.segment_ord).fast_fields();
            let price = fast.i64("price")?.first(address.doc_id).unwrap_or(i64::MAX);
            let key = self.u64_of(searcher, address, "cluster_key")?;
            let (prices, partners) = offers.entry(key).or_default();
            prices.push((price, address));
            partners.insert(self.u64_of(searcher, address, "partner_key")?);
        }
        let mut clusters = HashMap::new();
        for (key, (mut prices, partners)) in offers {
            prices.sort_unstable();
            let Some((lowest, _)) = prices.first().copied() else {
                continue;
            };
            let listed = &prices[..prices.len().min(MAX_OFFERS_LISTED)];
            clusters.insert(
                key,
                Cluster {
                    model: model(key),
                    offers: prices.len() as u64,
                    partners: partners.len() as u64,
                    lowest_price: Money::krw(lowest),
                    product_ids: ids(searcher, listed)?,
                },
            );
        }
        Ok(clusters)
    }
}

/// The product ids of `offers`, in their order, from the id's two columns.
fn ids(searcher: &Searcher, offers: &[(i64, DocAddress)]) -> Result<Vec<String>, SearchError> {
    let mut ids = Vec::with_capacity(offers.len());
    for (_, address) in offers {
        let fast = searcher.segment_reader(address.segment_ord).fast_fields();
        let high = fast.u64("id_high")?.first(address.doc_id);
        let low = fast.u64("id_low")?.first(address.doc_id);
        if let (Some(high), Some(low)) = (high, low) {
            ids.push(uuid::Uuid::from_u64_pair(high, low).to_string());
        }
    }
    Ok(ids)
}
