//! The text query: each word by its tokens, its dictionary concepts, its quantity or its
//! initial consonants, and, when those find too little, by jamo and Latin typos; and the
//! filters.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};

use super::analyzer::{self, choseong, is_choseong_query, jamo};
use super::index::Fields;
use super::index::SearchIndex;
use super::results::SearchRequest;
use super::units;

/// Exact (bigram or whole-word) matches rank above the rest.
const EXACT_BOOST: f32 = 4.0;
/// A match through the dictionary (a synonym, the other script) ranks just below.
const CONCEPT_BOOST: f32 = 3.0;

/// How forgiving a query is: exact words first, typos only when those find too little.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tolerance {
    Exact,
    Typos,
}

impl SearchIndex {
    fn term(&self, field: Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::WithFreqs,
        ))
    }

    /// The terms a query word must all match in one text field: a quantity by its reduced
    /// form alone (`2리터` → `2000ml`), a word with connectors by its parts joined (`SM-S928N`
    /// → `sms928n`, which titles written either way have), any other by all of its tokens.
    fn word_terms(word: &str) -> Vec<String> {
        if let Some(reduced) = units::quantity(word) {
            return vec![reduced];
        }
        let tokens = analyzer::tokens(word);
        let mut terms: Vec<String> = Vec::new();
        let mut last_position = None;
        for token in tokens {
            // Tokens at one position are a word, its parts, then its parts joined: the last.
            if last_position == Some(token.position) {
                terms.pop();
            }
            last_position = Some(token.position);
            terms.push(token.text);
        }
        terms
    }

    /// One query word: its terms in `field`, or its dictionary concepts, or (typed as
    /// such) its initial consonants; with typos tolerated, else its jamo within one edit from
    /// the start of a word, or (Latin) within Elasticsearch's `AUTO` edits.
    fn word_query(&self, word: &str, tolerance: Tolerance, field: Field) -> Option<Box<dyn Query>> {
        let f: &Fields = &self.fields;
        let terms = Self::word_terms(word);
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let all_of = |field: Field, terms: &[String]| -> Box<dyn Query> {
            let all: Vec<(Occur, Box<dyn Query>)> = terms
                .iter()
                .map(|term| (Occur::Must, self.term(field, term)))
                .collect();
            Box::new(BooleanQuery::new(all))
        };
        // A word made of dictionary words is found by its concepts alone: the index tags every
        // text naming them, its own spelling included, and one term is cheaper than a word's
        // bigrams. Highlights still look for the word's own terms in the title.
        let concepts = self.dictionary.word_concepts(word);
        if !terms.is_empty() && (concepts.is_none() || field != f.text) {
            let exact = BoostQuery::new(all_of(field, &terms), EXACT_BOOST);
            alternatives.push((Occur::Should, Box::new(exact)));
        }
        if let Some(concepts) = concepts {
            let terms: Vec<String> = concepts
                .into_iter()
                .map(super::index::concept_term)
                .collect();
            let related = BoostQuery::new(all_of(f.concepts, &terms), CONCEPT_BOOST);
            alternatives.push((Occur::Should, Box::new(related)));
        }
        if is_choseong_query(word) {
            let term = Term::from_field_text(f.choseong, analyzer::indexed_prefix(word));
            alternatives.push((
                Occur::Should,
                Box::new(FuzzyTermQuery::new_prefix(term, 0, false)),
            ));
        } else if tolerance == Tolerance::Typos {
            if choseong(word).is_some() {
                let spelled = jamo(analyzer::indexed_prefix(word));
                let distance = if spelled.chars().count() >= 5 { 1 } else { 0 };
                let term = Term::from_field_text(f.jamo, &spelled);
                alternatives.push((
                    Occur::Should,
                    Box::new(FuzzyTermQuery::new_prefix(term, distance, true)),
                ));
            } else if let [term] = terms.as_slice()
                && let Some(distance) = latin_fuzziness(term)
            {
                let term = Term::from_field_text(field, term);
                alternatives.push((
                    Occur::Should,
                    Box::new(FuzzyTermQuery::new(term, distance, true)),
                ));
            }
        }
        (!alternatives.is_empty())
            .then(|| Box::new(BooleanQuery::new(alternatives)) as Box<dyn Query>)
    }

    /// Every word of `q` must match (in one of its ways), its terms in `field`: the text
    /// field to search, the title field for highlights.
    pub(super) fn text_query(
        &self,
        q: &str,
        tolerance: Tolerance,
        field: Field,
    ) -> Option<Box<dyn Query>> {
        let words: Vec<(Occur, Box<dyn Query>)> = q
            .split_whitespace()
            .filter_map(|word| self.word_query(word, tolerance, field))
            .map(|query| (Occur::Must, query))
            .collect();
        (!words.is_empty()).then(|| Box::new(BooleanQuery::new(words)) as Box<dyn Query>)
    }

    pub(super) fn filters(&self, request: &SearchRequest) -> Vec<(Occur, Box<dyn Query>)> {
        let f = &self.fields;
        let u64_term = |field, value| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_u64(field, value),
                IndexRecordOption::Basic,
            ))
        };
        // Delisted products are few: leaving them out is cheaper than requiring the listed.
        let mut filters: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::MustNot, u64_term(f.listed, 0))];
        if request.q.trim().is_empty() {
            // Only a query without words can match an order's marker document.
            filters.push((Occur::Must, self.term(f.kind, "product")));
        }
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
