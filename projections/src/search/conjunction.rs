//! Every one of a few terms, each with its weight: the shape of most shoppers' queries (a brand
//! and a kind of product, or an unknown word by its bigrams). Tantivy intersects postings a
//! document at a time, seeking every list to every candidate through boxed scorers. Here each
//! list is read a block of 128 documents at a time and the blocks are merged: a dense list
//! costs a comparison per posting, a sparse one a jump through its skip list, and only the
//! documents every term has are scored.

use tantivy::query::{Bm25Weight, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

use list::List;

/// Documents in a block of tantivy's postings.
const BLOCK: usize = 128;

/// Documents with every term, scored by the sum of each term's BM25 times its boost, and
/// narrowed by filters that do not score: terms they must have and terms they must not.
#[derive(Clone, Debug)]
pub struct AllTerms {
    terms: Vec<(Term, Score)>,
    required: Vec<Term>,
    excluded: Vec<Term>,
}

impl AllTerms {
    /// `terms` with their boosts; a document must have each.
    pub fn new(terms: Vec<(Term, Score)>) -> Self {
        Self {
            terms,
            required: Vec::new(),
            excluded: Vec::new(),
        }
    }

    /// Only the documents with each of `required` and none of `excluded`.
    pub fn filtered(mut self, required: Vec<Term>, excluded: Vec<Term>) -> Self {
        self.required.extend(required);
        self.excluded.extend(excluded);
        self
    }

    /// The weight, as itself: [`AllTermsWeight::for_each_batch`] hands out a block of matches
    /// at a time.
    pub fn specialized_weight(
        &self,
        scoring: EnableScoring<'_>,
    ) -> tantivy::Result<AllTermsWeight> {
        let weights = match scoring {
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => self
                .terms
                .iter()
                .map(|(term, boost)| {
                    Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(term))
                        .map(|weight| Some(weight.boost_by(*boost)))
                })
                .collect::<tantivy::Result<_>>()?,
            EnableScoring::Disabled { .. } => vec![None; self.terms.len()],
        };
        let unscored = self.required.iter().map(|term| (term.clone(), None));
        Ok(AllTermsWeight {
            terms: (self.terms.iter().map(|(term, _)| term.clone()))
                .zip(weights)
                .chain(unscored)
                .collect(),
            excluded: self.excluded.clone(),
        })
    }
}

impl Query for AllTerms {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.specialized_weight(scoring)?))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in self
            .terms
            .iter()
            .map(|(term, _)| term)
            .chain(&self.required)
        {
            visitor(term, false);
        }
    }
}

pub struct AllTermsWeight {
    /// Each term a document must have, with its BM25, boosted; none for a filter, or when
    /// nothing is scored.
    terms: Vec<(Term, Option<Bm25Weight>)>,
    excluded: Vec<Term>,
}

impl AllTermsWeight {
    /// The segment's matches in order, a block at a time, with their scores; `callback`
    /// answers the score a match must pass to be wanted, and blocks whose matches cannot come
    /// without scores.
    pub fn for_each_batch(
        &self,
        segment: &SegmentReader,
        mut callback: impl FnMut(&[DocId], Option<&[Score]>) -> Score,
    ) -> tantivy::Result<()> {
        let Some(mut scorer) = self.specialized_scorer(segment, 1.0)? else {
            return Ok(());
        };
        while !scorer.matched.is_empty() {
            let scores = scorer.scored.then_some(scorer.scores.as_slice());
            scorer.floor = callback(&scorer.matched, scores);
            scorer.fill();
        }
        Ok(())
    }

    /// `None` when a term is not in the segment.
    fn specialized_scorer(
        &self,
        segment: &SegmentReader,
        boost: Score,
    ) -> tantivy::Result<Option<AllTermsScorer>> {
        let mut lists = Vec::with_capacity(self.terms.len());
        for (term, weight) in &self.terms {
            let Some(list) = List::open(segment, term, weight.as_ref(), boost)? else {
                return Ok(None);
            };
            lists.push(list);
        }
        let mut excluded = Vec::new();
        for term in &self.excluded {
            excluded.extend(List::open(segment, term, None, boost)?);
        }
        if lists.is_empty() {
            return Ok(None);
        }
        // The rarest list leads: its documents are the candidates.
        lists.sort_by_key(|list| list.postings.doc_freq());
        Ok(Some(AllTermsScorer::new(lists, excluded)))
    }
}

impl Weight for AllTermsWeight {
    fn scorer(&self, segment: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.specialized_scorer(segment, boost)? {
            Some(scorer) => Box::new(scorer),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, segment: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(segment, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not have every term"
            )));
        }
        Ok(Explanation::new(
            "sum of each term's boosted BM25",
            scorer.score(),
        ))
    }

    fn for_each(
        &self,
        segment: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        self.for_each_batch(segment, |docs, scores| {
            for (&doc, &score) in docs.iter().zip(scores.unwrap_or_default()) {
                callback(doc, score);
            }
            Score::MIN
        })
    }

    fn for_each_no_score(
        &self,
        segment: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        self.for_each_batch(segment, |docs, _| {
            callback(docs);
            Score::MIN
        })
    }
}

struct AllTermsScorer {
    /// The rarest first.
    lists: Vec<List>,
    /// Documents to leave out.
    excluded: Vec<List>,
    /// The matches of the leading list's current block, and their scores unless not
    /// `scored`.
    matched: Vec<DocId>,
    scores: Vec<Score>,
    scored: bool,
    /// How often each of the other lists has each candidate of the leading block.
    freqs: Vec<[u32; BLOCK]>,
    /// Scores at or below this are not wanted: a block whose matches cannot pass it is not
    /// scored.
    floor: Score,
    at: usize,
}

impl AllTermsScorer {
    fn new(lists: Vec<List>, excluded: Vec<List>) -> Self {
        let mut scorer = Self {
            freqs: vec![[1; BLOCK]; lists.len().saturating_sub(1)],
            lists,
            excluded,
            matched: Vec::with_capacity(BLOCK),
            scores: Vec::with_capacity(BLOCK),
            scored: true,
            floor: Score::MIN,
            at: 0,
        };
        scorer.fill();
        scorer
    }

    /// Merges from where the leading list stands until some of its documents match; leaves
    /// `matched` empty when none is left.
    fn fill(&mut self) {
        self.matched.clear();
        self.scores.clear();
        self.at = 0;
        let Some((lead, others)) = self.lists.split_first_mut() else {
            return;
        };
        loop {
            let docs = lead.postings.docs();
            if docs.is_empty() {
                return;
            }
            let candidates = &docs[lead.at.min(docs.len())..];
            let mut kept = [true; BLOCK];
            for (other, freqs) in others.iter_mut().zip(self.freqs.iter_mut()) {
                let mut found = [false; BLOCK];
                other.mark(candidates, &mut found, freqs);
                let mut any = false;
                for (kept, found) in kept.iter_mut().zip(found) {
                    *kept &= found;
                    any |= *kept;
                }
                if !any {
                    break;
                }
            }
            for excluded in &mut self.excluded {
                let (mut found, mut freqs) = ([false; BLOCK], [1; BLOCK]);
                excluded.mark(candidates, &mut found, &mut freqs);
                for (kept, found) in kept.iter_mut().zip(found) {
                    *kept &= !found;
                }
            }
            // A lone term's block whose best score cannot pass the floor is not scored.
            self.scored = !others.is_empty()
                || lead.scoring.as_ref().is_none_or(|(weight, norms)| {
                    lead.postings.block_max_score(norms, weight) > self.floor
                });
            let docs = lead.postings.docs();
            for (n, &doc) in docs.iter().enumerate().skip(lead.at) {
                let i = n - lead.at;
                if !kept[i] {
                    continue;
                }
                if self.scored {
                    let freq = lead.postings.freqs().get(n).copied().unwrap_or(1);
                    let score = others
                        .iter()
                        .zip(&self.freqs)
                        .fold(lead.score(doc, freq), |score, (other, freqs)| {
                            score + other.score(doc, freqs[i])
                        });
                    self.scores.push(score);
                }
                self.matched.push(doc);
            }
            lead.postings.advance();
            lead.at = 0;
            if !self.matched.is_empty() {
                return;
            }
        }
    }
}

impl DocSet for AllTermsScorer {
    fn advance(&mut self) -> DocId {
        self.at += 1;
        if self.at >= self.matched.len() {
            self.fill();
        }
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        loop {
            let rest = &self.matched[self.at.min(self.matched.len())..];
            self.at += rest.partition_point(|&doc| doc < target);
            if self.at < self.matched.len() || self.matched.is_empty() {
                return self.doc();
            }
            // Past this block's matches: the leading list goes straight to the target.
            if let Some(lead) = self.lists.first_mut() {
                let docs = lead.postings.docs();
                if docs.last().is_some_and(|&last| last < target) {
                    lead.at = lead.postings.seek(target);
                } else {
                    let rest = &docs[lead.at.min(docs.len())..];
                    lead.at += rest.partition_point(|&doc| doc < target);
                }
            }
            self.fill();
        }
    }

    fn doc(&self) -> DocId {
        self.matched.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        self.lists
            .first()
            .map_or(0, |lead| lead.postings.doc_freq())
    }
}

impl Scorer for AllTermsScorer {
    fn score(&mut self) -> Score {
        self.scores.get(self.at).copied().unwrap_or(0.0)
    }
}

mod list;
#[cfg(test)]
mod tests;
