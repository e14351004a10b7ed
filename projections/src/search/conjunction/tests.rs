//! The conjunction against tantivy's own: the same documents with the same scores, however it
//! is driven (a block at a time, a document at a time, sought inside another query), over
//! several segments with deletes and lists that end in a partial block.

use proptest::prelude::*;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, STRING, Schema, TEXT};
use tantivy::{DocAddress, Index, IndexWriter, Searcher, TantivyDocument, Term, doc};

use super::AllTerms;

const WORDS: &[&str] = &["a", "b", "c", "d", "e"];

/// An index of `docs` (each a list of word indexes), committed in `segments` parts, with every
/// `deleted`th document deleted; half the documents are tagged `even`.
fn index(docs: &[Vec<usize>], segments: usize, deleted: usize) -> (Searcher, Schema) {
    let mut builder = Schema::builder();
    let text = builder.add_text_field("text", TEXT);
    let id = builder.add_text_field("id", STRING);
    let tag = builder.add_text_field("tag", STRING);
    let schema = builder.build();
    let index = Index::create_in_ram(schema.clone());
    let mut writer: IndexWriter<TantivyDocument> = index.writer(15_000_000).unwrap();
    let per_segment = docs.len().div_ceil(segments.max(1)).max(1);
    for (n, words) in docs.iter().enumerate() {
        let words: Vec<&str> = words.iter().map(|&w| WORDS[w]).collect();
        let parity = if n % 2 == 0 { "even" } else { "odd" };
        writer
            .add_document(doc!(text => words.join(" "), id => n.to_string(), tag => parity))
            .unwrap();
        if (n + 1) % per_segment == 0 {
            writer.commit().unwrap();
        }
    }
    for n in (0..docs.len()).step_by(deleted.max(2)) {
        writer.delete_term(Term::from_field_text(id, &n.to_string()));
    }
    writer.commit().unwrap();
    (index.reader().unwrap().searcher(), schema)
}

fn ours(schema: &Schema, terms: &[(usize, f32)]) -> AllTerms {
    let text = schema.get_field("text").unwrap();
    AllTerms::new(
        terms
            .iter()
            .map(|&(w, boost)| (Term::from_field_text(text, WORDS[w]), boost))
            .collect(),
    )
}

fn tantivys(schema: &Schema, terms: &[(usize, f32)]) -> BooleanQuery {
    let text = schema.get_field("text").unwrap();
    BooleanQuery::new(
        terms
            .iter()
            .map(|&(w, boost)| {
                let term = TermQuery::new(
                    Term::from_field_text(text, WORDS[w]),
                    IndexRecordOption::WithFreqs,
                );
                (
                    Occur::Must,
                    Box::new(BoostQuery::new(Box::new(term), boost)) as Box<dyn Query>,
                )
            })
            .collect(),
    )
}

fn scored(searcher: &Searcher, query: &dyn Query) -> Vec<(DocAddress, f32)> {
    let limit = (searcher.num_docs() as usize).max(1);
    let mut all: Vec<(DocAddress, f32)> = searcher
        .search(query, &TopDocs::with_limit(limit).order_by_score())
        .unwrap()
        .into_iter()
        .map(|(score, address)| (address, score))
        .collect();
    all.sort_by_key(|(address, _)| *address);
    all
}

fn same(ours: &[(DocAddress, f32)], theirs: &[(DocAddress, f32)]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        ours.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        theirs.iter().map(|(a, _)| *a).collect::<Vec<_>>()
    );
    for ((_, a), (_, b)) in ours.iter().zip(theirs) {
        prop_assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} against {b}");
    }
    Ok(())
}

/// Words from very common to rare, so that a rare term leads lists many times denser.
fn word() -> impl Strategy<Value = usize> {
    prop_oneof![40 => Just(0usize), 8 => Just(1), 4 => Just(2), 2 => Just(3), 1 => Just(4)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn it_finds_and_scores_what_tantivys_conjunction_does(
        docs in proptest::collection::vec(proptest::collection::vec(word(), 1..6), 1..900),
        terms in proptest::collection::vec((0usize..5, prop_oneof![Just(1.0f32), Just(3.0), Just(4.0)]), 1..4),
        segments in 1usize..4,
        deleted in 2usize..9,
        excluded in 0usize..5,
    ) {
        let (searcher, schema) = index(&docs, segments, deleted);
        let (ours, theirs) = (ours(&schema, &terms), tantivys(&schema, &terms));

        // A document at a time, as tantivy's collectors drive a scorer.
        same(&scored(&searcher, &ours), &scored(&searcher, &theirs))?;
        // A block at a time, with and without scores.
        let (count, _) = searcher
            .search(&ours, &(Count, TopDocs::with_limit(1).order_by_score()))
            .unwrap();
        prop_assert_eq!(count, searcher.search(&theirs, &Count).unwrap());
        prop_assert_eq!(
            searcher.search(&ours, &DocSetCollector).unwrap(),
            searcher.search(&theirs, &DocSetCollector).unwrap()
        );
        // Sought to each candidate of another clause.
        let tag = schema.get_field("tag").unwrap();
        let even = || -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(tag, "even"), IndexRecordOption::Basic))
        };
        let within = |query: Box<dyn Query>| {
            BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, even())])
        };
        same(
            &scored(&searcher, &within(Box::new(ours.clone()))),
            &scored(&searcher, &within(Box::new(theirs.clone()))),
        )?;
        // Narrowed by filters that do not score: a tag required, a word left out.
        let text = schema.get_field("text").unwrap();
        let left_out = Term::from_field_text(text, WORDS[excluded]);
        let filtered = ours
            .clone()
            .filtered(vec![Term::from_field_text(tag, "even")], vec![left_out.clone()]);
        let without = TermQuery::new(left_out, IndexRecordOption::Basic);
        let reference = BooleanQuery::new(vec![
            (Occur::Must, Box::new(theirs.clone()) as Box<dyn Query>),
            (Occur::Must, Box::new(ConstScoreQuery::new(even(), 0.0))),
            (Occur::MustNot, Box::new(without)),
        ]);
        same(&scored(&searcher, &filtered), &scored(&searcher, &reference))?;
        prop_assert_eq!(
            searcher.search(&filtered, &DocSetCollector).unwrap(),
            searcher.search(&reference, &DocSetCollector).unwrap()
        );
    }
}
