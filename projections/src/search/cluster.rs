//! Listings of one model from several partners, as one hit ("compare prices"): a page keeps the
//! best-ranked listing of each model, with the model's offers, partners and lowest price.
//!
//! Everything here reads fast-field columns by number (a model's and a partner's key are
//! hashes, a product id two numbers), so grouping a page costs no term dictionary lookups and
//! decompresses no dictionary block.

use std::collections::{BTreeSet, HashMap, HashSet};

use eventmall_events::Money;
use serde::Serialize;
use tantivy::columnar::Column;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocSet, Searcher, TERMINATED, Term};

use super::columns::{Columns, SegmentColumns};
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
    /// The page of `ranked` from `offset`, `depth` places deep counted from the first, each
    /// model once (its best-ranked listing) with its cluster; `model` names a listing's model
    /// for the cluster (from the document the caller reads anyway).
    pub(super) fn group(
        &self,
        columns: &Columns,
        ranked: Vec<Ranked>,
        offset: usize,
        depth: usize,
    ) -> Result<Vec<Placed>, SearchError> {
        let mut seen = HashSet::new();
        let mut page = Vec::new();
        for (score, address) in ranked {
            let key = read(columns, address, |c| &c.cluster_key).unwrap_or(0);
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
        columns: &Columns,
        keys: &[u64],
        model: impl Fn(u64) -> String,
    ) -> Result<HashMap<u64, Cluster>, SearchError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        // Each model's postings read straight from each segment: a page's twenty short lists.
        let mut found = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(self.fields.cluster_key)?;
            let alive = segment.alive_bitset();
            for key in keys {
                let term = Term::from_field_u64(self.fields.cluster_key, *key);
                let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|alive| alive.is_alive(doc)) {
                        found.push(DocAddress::new(ord as u32, doc));
                    }
                    doc = postings.advance();
                }
            }
        }
        let mut offers: HashMap<u64, Offers> = HashMap::new();
        for address in found {
            if read(columns, address, |c| &c.listed) != Some(1) {
                continue;
            }
            let price = read(columns, address, |c| &c.price).unwrap_or(i64::MAX);
            let key = read(columns, address, |c| &c.cluster_key).unwrap_or(0);
            let (prices, partners) = offers.entry(key).or_default();
            prices.push((price, address));
            partners.insert(read(columns, address, |c| &c.partner_key).unwrap_or(0));
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
                    product_ids: ids(columns, listed),
                },
            );
        }
        Ok(clusters)
    }
}

/// The product ids of `offers`, in their order, from the id's two columns.
fn ids(columns: &Columns, offers: &[(i64, DocAddress)]) -> Vec<String> {
    offers
        .iter()
        .filter_map(|(_, address)| {
            let high = read(columns, *address, |c| &c.id_high)?;
            let low = read(columns, *address, |c| &c.id_low)?;
            Some(uuid::Uuid::from_u64_pair(high, low).to_string())
        })
        .collect()
}

/// A document's value in one of its segment's columns.
fn read<T: PartialOrd + Copy + std::fmt::Debug + Send + Sync + 'static>(
    columns: &Columns,
    address: DocAddress,
    column: impl Fn(&SegmentColumns) -> &Column<T>,
) -> Option<T> {
    column(columns.of(address)?).first(address.doc_id)
}
