//! The text query: each word by its tokens, its dictionary concepts, its quantity or its
//! initial consonants, and, when those find too little, by jamo and Latin typos; and the
//! filters.

use std::ops::Bound;

use tantivy::Score;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};

use super::analyzer::{self, Piece, choseong, is_choseong_query, jamo};
use super::conjunction::AllTerms;
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
    /// → `sms928n`, which titles written either way have), any other by the fewest of its
    /// tokens that cover it: every other bigram and the last (`블루투스이어폰` → `블루 투스 이어
    /// 어폰`), which a title has whenever it has all six, and also when it spaces the word.
    fn word_terms(word: &str) -> Vec<String> {
        if let Some(reduced) = units::quantity(word) {
            return vec![reduced];
        }
        let mut pieces: Vec<Piece> = Vec::new();
        for piece in analyzer::tokens(word) {
            // Tokens at one position are a word, its parts, then its parts joined: the last.
            if pieces
                .last()
                .is_some_and(|last| last.position == piece.position)
            {
                pieces.pop();
            }
            pieces.push(piece);
        }
        let mut covered = 0;
        let last = pieces.len().saturating_sub(1);
        let mut terms = Vec::with_capacity(pieces.len());
        for (n, piece) in pieces.into_iter().enumerate() {
            if piece.from >= covered || (n == last && piece.to > covered) {
                covered = covered.max(piece.to);
                terms.push(piece.text);
            }
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
        let concepts = self.concept_terms(word);
        if !terms.is_empty() && (concepts.is_none() || field != f.text) {
            let exact = BoostQuery::new(all_of(field, &terms), EXACT_BOOST);
            alternatives.push((Occur::Should, Box::new(exact)));
        }
        if let Some(concepts) = concepts {
            let related = BoostQuery::new(all_of(f.concepts, &concepts), CONCEPT_BOOST);
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

    /// The dictionary concepts a word made of dictionary words names, as the index spells them.
    fn concept_terms(&self, word: &str) -> Option<Vec<String>> {
        let concepts = self.dictionary.word_concepts(word)?;
        Some(
            concepts
                .into_iter()
                .map(super::index::concept_term)
                .collect(),
        )
    }

    /// The terms that find a word when it has one way to match, with their boosts: its
    /// dictionary concepts, or else its own terms; `None` for a word typed as initials.
    fn only_terms(&self, word: &str) -> Option<Vec<(Term, Score)>> {
        if is_choseong_query(word) {
            return None;
        }
        let (field, terms, boost) = match self.concept_terms(word) {
            Some(concepts) => (self.fields.concepts, concepts, CONCEPT_BOOST),
            None => (self.fields.text, Self::word_terms(word), EXACT_BOOST),
        };
        Some(
            terms
                .iter()
                .map(|term| (Term::from_field_text(field, term), boost))
                .collect(),
        )
    }

    /// Every word of `q` must match (in one of its ways), its terms in `field`: the text
    /// field to search, the title field for highlights.
    pub(super) fn text_query(
        &self,
        q: &str,
        tolerance: Tolerance,
        field: Field,
    ) -> Option<Box<dyn Query>> {
        if tolerance == Tolerance::Exact && field == self.fields.text {
            // Most queries are words with one way to match each: one conjunction of terms.
            let terms: Option<Vec<Vec<(Term, Score)>>> = q
                .split_whitespace()
                .map(|word| self.only_terms(word))
                .collect();
            if let Some(terms) = terms {
                let terms: Vec<(Term, Score)> = terms.into_iter().flatten().collect();
                return (!terms.is_empty())
                    .then(|| Box::new(AllTerms::new(terms)) as Box<dyn Query>);
            }
        }
        let words: Vec<(Occur, Box<dyn Query>)> = q
            .split_whitespace()
            .filter_map(|word| self.word_query(word, tolerance, field))
            .map(|query| (Occur::Must, query))
            .collect();
        (!words.is_empty()).then(|| Box::new(BooleanQuery::new(words)) as Box<dyn Query>)
    }

    /// The search's query: its words (all products without any) narrowed by its filters.
    /// Words with one way to match each, narrowed by terms, stay one conjunction, answered a
    /// block of postings at a time.
    pub(super) fn narrowed(
        &self,
        text: Option<&dyn Query>,
        request: &SearchRequest,
    ) -> Box<dyn Query> {
        let filters = self.filters(request);
        match text.and_then(|text| text.downcast_ref::<AllTerms>()) {
            Some(words) if filters.price.is_none() => {
                Box::new(words.clone().filtered(filters.required, filters.excluded))
            }
            _ => {
                let mut clauses = filters.clauses();
                let matching =
                    text.map_or_else(|| Box::new(AllQuery) as Box<dyn Query>, |t| t.box_clone());
                clauses.push((Occur::Must, matching));
                Box::new(BooleanQuery::new(clauses))
            }
        }
    }

    /// What narrows the search besides its words.
    fn filters(&self, request: &SearchRequest) -> Filters {
        let f = &self.fields;
        let mut filters = Filters {
            // Delisted products are few: leaving them out is cheaper than requiring the listed.
            excluded: vec![Term::from_field_u64(f.listed, 0)],
            ..Filters::default()
        };
        if request.q.trim().is_empty() {
            // Only a query without words can match an order's marker document.
            filters
                .required
                .push(Term::from_field_text(f.kind, "product"));
        }
        if let Some(path) = &request.category {
            let category = Facet::from_path(path.iter());
            filters
                .required
                .push(Term::from_facet(f.category, &category));
        }
        if let Some(brand) = &request.brand {
            let brand = Facet::from_path([brand.as_str()]);
            filters.required.push(Term::from_facet(f.brand, &brand));
        }
        if let Some(partner) = &request.partner {
            filters
                .required
                .push(Term::from_field_text(f.partner, partner));
        }
        if let Some(in_stock) = request.in_stock {
            filters
                .required
                .push(Term::from_field_u64(f.in_stock, u64::from(in_stock)));
        }
        if request.price_min.is_some() || request.price_max.is_some() {
            let bound = |value: Option<i64>| match value {
                Some(value) => Bound::Included(Term::from_field_i64(f.price, value)),
                None => Bound::Unbounded,
            };
            filters.price = Some(RangeQuery::new(
                bound(request.price_min),
                bound(request.price_max),
            ));
        }
        filters
    }
}

/// Documents with each of `required`, none of `excluded`, and a price in range; none of it
/// scores, as in Elasticsearch's filter context.
#[derive(Default)]
struct Filters {
    pub required: Vec<Term>,
    pub excluded: Vec<Term>,
    pub price: Option<RangeQuery>,
}

impl Filters {
    /// The filters as clauses of a boolean query.
    fn clauses(self) -> Vec<(Occur, Box<dyn Query>)> {
        let term = |term| -> Box<dyn Query> {
            let query = TermQuery::new(term, IndexRecordOption::Basic);
            Box::new(ConstScoreQuery::new(Box::new(query), 0.0))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        clauses.extend(self.required.into_iter().map(|t| (Occur::Must, term(t))));
        clauses.extend(self.excluded.into_iter().map(|t| (Occur::MustNot, term(t))));
        if let Some(price) = self.price {
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(price), 0.0)),
            ));
        }
        clauses
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
