//! One pass over a query's matches: the count and the category and brand facet counts, read as
//! ordinals from the facet columns, and the best ranked few, where a match whose text score
//! cannot reach the page even with the largest boost is not ranked at all.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, ColumnIndex, ColumnValues, StrColumn};
use tantivy::query::EnableScoring;
use tantivy::schema::Facet;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::columns::Columns;
use super::conjunction::AllTerms;
use super::product::recent_units;

/// The most a product's recent demand multiplies its text score by (1.25×), reached slowly:
/// half of it at [`DEMAND_HALF`] units ordered lately.
const DEMAND_BOOST: f32 = 0.25;
const DEMAND_HALF: f32 = 3.0;
/// What being out of stock multiplies the score by: with the most demand it is 0.625, so an
/// out-of-stock product never outranks an in-stock one that matches as well, nor one whose
/// text score is five eighths of its own.
const OUT_OF_STOCK: f32 = 0.5;

/// Documents whose facet ordinals are read at once: a block of postings.
const BLOCK: usize = 128;

/// Facet values and how many matches have each, in no order.
pub(super) type FacetCounts = HashMap<String, u64>;

/// The matches counted: all of them, by the category one level below `parent`, and by brand.
pub(super) struct Tally {
    pub parent: Facet,
    pub columns: Arc<Columns>,
}

#[derive(Default)]
pub(super) struct Counted {
    pub total: usize,
    pub categories: FacetCounts,
    pub brands: FacetCounts,
}

impl Collector for Tally {
    type Fruit = Counted;
    type Child = SegmentTally;

    fn for_segment(&self, ord: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<SegmentTally> {
        let columns = self.columns.segment(ord)?;
        Ok(SegmentTally {
            total: 0,
            categories: Values::under(columns.category.as_ref(), &self.parent)?,
            brands: Values::under(columns.brand.as_ref(), &Facet::root())?,
            pending: [0; BLOCK],
            pending_len: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Counted>) -> tantivy::Result<Counted> {
        let mut all = Counted::default();
        for segment in segments {
            all.total += segment.total;
            for (mine, theirs) in [
                (&mut all.categories, segment.categories),
                (&mut all.brands, segment.brands),
            ] {
                for (value, count) in theirs {
                    *mine.entry(value).or_default() += count;
                }
            }
        }
        Ok(all)
    }
}

pub(super) struct SegmentTally {
    total: usize,
    categories: Values,
    brands: Values,
    /// Matches not yet counted by facet, counted a block at a time.
    pending: [DocId; BLOCK],
    pending_len: usize,
}

impl SegmentCollector for SegmentTally {
    type Fruit = Counted;

    #[inline]
    fn collect(&mut self, doc: DocId, _: Score) {
        self.pending[self.pending_len] = doc;
        self.pending_len += 1;
        if self.pending_len == BLOCK {
            let pending = self.pending;
            self.collect_block(&pending);
            self.pending_len = 0;
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len();
        self.categories.count_block(docs);
        self.brands.count_block(docs);
    }

    fn harvest(mut self) -> Counted {
        let pending = self.pending;
        self.collect_block(&pending[..self.pending_len]);
        Counted {
            total: self.total,
            categories: self.categories.harvest(),
            brands: self.brands.harvest(),
        }
    }
}

/// One facet field in one segment: a count per value's ordinal, added up by the child of the
/// parent each value is at or below (its slot) when harvested.
struct Values {
    ords: Option<Column<u64>>,
    counts: Vec<u64>,
    /// Slot of each ordinal; `u32::MAX` for values not below the parent.
    slots: Vec<u32>,
    names: Vec<String>,
}

impl Values {
    fn under(column: Option<&StrColumn>, parent: &Facet) -> tantivy::Result<Self> {
        let mut values = Self {
            ords: column.map(|column| column.ords().clone()),
            counts: vec![0; column.map_or(0, |column| column.num_terms())],
            slots: Vec::new(),
            names: Vec::new(),
        };
        let Some(column) = column else {
            return Ok(values);
        };
        // Encoded facets are their path's parts joined by a zero byte; the root is empty.
        let prefix: Vec<u8> = match parent.encoded_str() {
            "" => Vec::new(),
            path => [path.as_bytes(), &[0]].concat(),
        };
        let mut slot_of: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut terms = column.dictionary().stream()?;
        while terms.advance() {
            let slot = terms.key().strip_prefix(prefix.as_slice()).map(|below| {
                let child = below.split(|&b| b == 0).next().unwrap_or_default();
                *slot_of.entry(child.to_vec()).or_insert_with(|| {
                    let path = [&prefix[..], child].concat();
                    let facet = Facet::from_encoded(path).unwrap_or_else(|_| Facet::root());
                    values.names.push(facet.to_path().join("/"));
                    (values.names.len() - 1) as u32
                })
            });
            values.slots.push(slot.unwrap_or(u32::MAX));
        }
        Ok(values)
    }

    /// Counts a block of documents, their ordinals read at once.
    fn count_block(&mut self, docs: &[DocId]) {
        let Some(ords) = &self.ords else { return };
        for docs in docs.chunks(BLOCK) {
            if let ColumnIndex::Full = ords.index {
                // Every document has one value: read the block straight from the values.
                let mut read = [0; BLOCK];
                let read = &mut read[..docs.len()];
                ords.values.get_vals(docs, read);
                for &ord in read.iter() {
                    if let Some(count) = self.counts.get_mut(ord as usize) {
                        *count += 1;
                    }
                }
            } else {
                let mut read = [None; BLOCK];
                let read = &mut read[..docs.len()];
                ords.first_vals(docs, read);
                for ord in read.iter().flatten() {
                    if let Some(count) = self.counts.get_mut(*ord as usize) {
                        *count += 1;
                    }
                }
            }
        }
    }

    fn harvest(self) -> FacetCounts {
        let mut counts = FacetCounts::new();
        for (slot, count) in self.slots.into_iter().zip(self.counts) {
            if let Some(name) = self.names.get(slot as usize)
                && count > 0
            {
                *counts.entry(name.clone()).or_default() += count;
            }
        }
        counts
    }
}

/// The `depth` best matches by text score × the bounded boost of recent demand × the stock
/// factor, best first, ties to the earlier document. Within a segment, a match whose text score
/// times the segment's largest boost cannot pass the page's last is not ranked (its columns
/// are not read), and a conjunction of terms leaves unscored a block of postings whose best
/// score cannot pass it.
pub(super) struct Ranked {
    pub depth: usize,
    pub now: DateTime<Utc>,
    pub columns: Arc<Columns>,
}

impl Collector for Ranked {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = SegmentRanked;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<SegmentRanked> {
        let columns = self.columns.segment(ord)?;
        let most_units = units(columns.demand.max_value(), self.now);
        Ok(SegmentRanked {
            segment: ord,
            depth: self.depth.max(1),
            top: BinaryHeap::with_capacity(self.depth.max(1) + 1),
            demand: columns.demand.clone().first_or_default_col(i64::MIN),
            stock: columns.in_stock.clone().first_or_default_col(1),
            most_boost: boost(most_units),
            threshold: Score::MIN,
            now: self.now,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segments: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Score, DocAddress)> = segments.into_iter().flatten().collect();
        all.sort_unstable_by(|(a, at), (b, bt)| b.total_cmp(a).then(at.cmp(bt)));
        all.truncate(self.depth.max(1));
        Ok(all)
    }
}

/// The units ordered lately that a product's demand column stands for at `now`.
fn units(demand: i64, now: DateTime<Utc>) -> f32 {
    match demand {
        i64::MIN => 0.0,
        demand => recent_units(demand, now) as f32,
    }
}

/// What recent demand of `units` multiplies a text score by.
fn boost(units: f32) -> f32 {
    1.0 + DEMAND_BOOST * units / (units + DEMAND_HALF)
}

pub(super) struct SegmentRanked {
    segment: SegmentOrdinal,
    depth: usize,
    /// The best so far, the worst of them on top.
    top: BinaryHeap<Worst>,
    demand: Arc<dyn ColumnValues<i64>>,
    stock: Arc<dyn ColumnValues<u64>>,
    /// The largest boost of any document of the segment.
    most_boost: f32,
    /// The text score a match must pass to be worth ranking.
    threshold: Score,
    now: DateTime<Utc>,
}

impl SegmentRanked {
    /// Ranks a match that may reach the page.
    #[inline]
    pub(super) fn rank(&mut self, doc: DocId, score: Score) {
        if score <= self.threshold {
            return;
        }
        let units = units(self.demand.get_val(doc), self.now);
        let in_stock = self.stock.get_val(doc) == 1;
        let ranked = score * boost(units) * if in_stock { 1.0 } else { OUT_OF_STOCK };
        let entry = Worst { score: ranked, doc };
        if self.top.len() < self.depth {
            self.top.push(entry);
        } else if let Some(mut worst) = self.top.peek_mut()
            && entry < *worst
        {
            *worst = entry;
        }
        if self.top.len() == self.depth
            && let Some(last) = self.top.peek().map(|worst| worst.score)
        {
            // The largest text score whose best boost still does not pass the last: later
            // documents lose ties, so one that only equals it is not worth ranking.
            self.threshold = last / self.most_boost;
            while self.threshold * self.most_boost > last {
                self.threshold = self.threshold.next_down();
            }
        }
    }
}

impl SegmentCollector for SegmentRanked {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.rank(doc, score);
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        self.top
            .into_iter()
            .map(|entry| (entry.score, DocAddress::new(segment, entry.doc)))
            .collect()
    }
}

/// A ranked match, ordered worst first: a lower score, or the same score and a later document.
#[derive(Clone, Copy, Debug)]
struct Worst {
    score: Score,
    doc: DocId,
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.doc.cmp(&other.doc))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Worst {}

/// What `searcher.search(query, &(tally, ranked))` answers, for a conjunction of terms: its
/// matches come a block at a time, so each block is counted and ranked without a call per
/// match.
pub(super) fn count_and_rank(
    searcher: &Searcher,
    query: &AllTerms,
    tally: &Tally,
    ranked: &Ranked,
) -> tantivy::Result<(Counted, Vec<(Score, DocAddress)>)> {
    let weight = query.specialized_weight(EnableScoring::enabled_from_searcher(searcher))?;
    let mut counted = Vec::new();
    let mut tops = Vec::new();
    let mut alive_docs = Vec::new();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as SegmentOrdinal;
        let mut counting = tally.for_segment(ord, segment)?;
        let mut ranking = ranked.for_segment(ord, segment)?;
        let alive = segment.alive_bitset();
        weight.for_each_batch(segment, |docs, scores| {
            for (&doc, &score) in docs.iter().zip(scores.unwrap_or_default()) {
                if alive.is_none_or(|alive| alive.is_alive(doc)) {
                    ranking.rank(doc, score);
                }
            }
            match alive {
                None => counting.collect_block(docs),
                Some(alive) => {
                    alive_docs.clear();
                    alive_docs.extend(docs.iter().filter(|&&doc| alive.is_alive(doc)));
                    counting.collect_block(&alive_docs);
                }
            }
            ranking.threshold
        })?;
        counted.push(counting.harvest());
        tops.push(ranking.harvest());
    }
    Ok((tally.merge_fruits(counted)?, ranked.merge_fruits(tops)?))
}

#[cfg(test)]
mod tests;
