//! Listings of one model from several partners, as one hit ("compare prices"): a page keeps the
//! best-ranked listing of each model, with the model's offers, partners and lowest price.
//!
//! Everything here reads fast-field columns by number (a model's and a partner's key are
//! hashes), so grouping a page costs no term dictionary lookups; only the offers' ids are read
//! as text, a segment's at once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use eventmall_events::Money;
use serde::Serialize;
use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
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
    ) -> Result<Vec<(Option<f32>, DocAddress, Option<u64>)>, SearchError> {
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

    /// The listed offers of the model with key `key`: how many, from how many partners, the
    /// lowest price and the ids, lowest price first.
    pub(super) fn cluster(
        &self,
        searcher: &Searcher,
        key: u64,
        model: String,
    ) -> Result<Option<Cluster>, SearchError> {
        let f = &self.fields;
        let term = |field, value| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_u64(field, value),
                IndexRecordOption::Basic,
            ))
        };
        let listed = BooleanQuery::new(vec![
            (Occur::Must, term(f.cluster_key, key)),
            (Occur::Must, term(f.listed, 1)),
        ]);
        let mut offers: Vec<(i64, DocAddress)> = Vec::new();
        let mut partners = BTreeSet::new();
        for address in searcher.search(&listed, &DocSetCollector)? {
            let fast = searcher.segment_reader(address.segment_ord).fast_fields();
            offers.push((
                fast.i64("price")?.first(address.doc_id).unwrap_or(i64::MAX),
                address,
            ));
            partners.insert(self.u64_of(searcher, address, "partner_key")?);
        }
        offers.sort_unstable();
        let Some((lowest, _)) = offers.first().copied() else {
            return Ok(None);
        };
        Ok(Some(Cluster {
            model,
            offers: offers.len() as u64,
            partners: partners.len() as u64,
            lowest_price: Money::krw(lowest),
            product_ids: ids(searcher, &offers[..offers.len().min(MAX_OFFERS_LISTED)])?,
        }))
    }
}

/// The product ids of `offers`, in their order, read a segment at a time.
fn ids(searcher: &Searcher, offers: &[(i64, DocAddress)]) -> Result<Vec<String>, SearchError> {
    let mut ords: BTreeMap<u32, Vec<(u64, usize)>> = BTreeMap::new();
    for (n, (_, address)) in offers.iter().enumerate() {
        let fast = searcher.segment_reader(address.segment_ord).fast_fields();
        if let Some(column) = fast.str("id")?
            && let Some(ord) = column.term_ords(address.doc_id).next()
        {
            ords.entry(address.segment_ord).or_default().push((ord, n));
        }
    }
    let mut found = vec![String::new(); offers.len()];
    for (segment, mut wanted) in ords {
        let Some(column) = searcher.segment_reader(segment).fast_fields().str("id")? else {
            continue;
        };
        wanted.sort_unstable();
        let sorted: Vec<u64> = wanted.iter().map(|(ord, _)| *ord).collect();
        let mut places = wanted.iter().map(|(_, n)| *n);
        column
            .dictionary()
            .sorted_ords_to_term_cb(&sorted, |bytes| {
                if let Some(n) = places.next() {
                    found[n] = String::from_utf8_lossy(bytes).into_owned();
                }
            })?;
    }
    Ok(found.into_iter().filter(|id| !id.is_empty()).collect())
}
