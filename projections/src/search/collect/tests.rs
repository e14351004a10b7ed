//! The count, the facets and the page as tantivy's own collectors answer them (`Count`,
//! `FacetCollector`, and `TopDocs` with the ranking applied to every match), however a query
//! is driven: a block at a time with block-max skipping, or a match at a time.

use chrono::{Duration, Utc};
use proptest::prelude::*;
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::schema::Facet;
use tantivy::{DocAddress, DocId, Score, SegmentReader, TantivyDocument};

use super::super::index::SearchIndex;
use super::super::product::{ProductDoc, recent_units};
use super::super::query::Tolerance;
use super::*;

const BRANDS: &[&str] = &["삼성", "LG", "다이슨"];
const KINDS: &[(&str, &str)] = &[("가전", "청소기"), ("가전", "냉장고"), ("주방", "밥솥")];

/// A product: its brand, its kind, whether it is in stock and the units ordered (days ago).
type Listing = (usize, usize, bool, Vec<(u32, i64)>);

fn listing() -> impl Strategy<Value = Listing> {
    (
        0..BRANDS.len(),
        0..KINDS.len(),
        prop_oneof![3 => Just(true), 1 => Just(false)],
        proptest::collection::vec((1u32..20, 0i64..90), 0..3),
    )
}

fn index(listings: &[Listing], segments: usize) -> SearchIndex {
    let index = SearchIndex::in_ram().unwrap();
    let mut writer = index.index.writer::<TantivyDocument>(15_000_000).unwrap();
    let per_segment = listings.len().div_ceil(segments.max(1)).max(1);
    for (n, (brand, kind, in_stock, orders)) in listings.iter().enumerate() {
        let (top, kind) = KINDS[*kind];
        let mut product = ProductDoc::placeholder(&format!("p{n}"));
        product.title = format!("{} {kind} {}호", BRANDS[*brand], n % 7);
        product.brand = Some(BRANDS[*brand].to_owned());
        product.category = vec![top.to_owned(), kind.to_owned()];
        product.stock = u32::from(*in_stock);
        product.listed = true;
        for (units, days) in orders {
            product.ordered(*units, Utc::now() - Duration::days(*days));
        }
        writer
            .add_document(index.fields.document(&product, &index.dictionary).unwrap())
            .unwrap();
        if (n + 1) % per_segment == 0 {
            writer.commit().unwrap();
        }
    }
    writer.commit().unwrap();
    writer.wait_merging_threads().unwrap();
    index.refresh().unwrap();
    index
}

/// The ranking as it was first written: applied to every match, by tantivy's `TopDocs`.
fn ranking(segment: &SegmentReader) -> impl Fn(DocId, Score) -> Score + use<> {
    let fast = segment.fast_fields();
    let demand = fast.i64("demand").unwrap().first_or_default_col(i64::MIN);
    let stock = fast.u64("in_stock").unwrap().first_or_default_col(1);
    let now = Utc::now();
    move |doc, score| {
        let units = match demand.get_val(doc) {
            i64::MIN => 0.0,
            demand => recent_units(demand, now) as f32,
        };
        let stocked = if stock.get_val(doc) == 1 {
            1.0
        } else {
            OUT_OF_STOCK
        };
        score * boost(units) * stocked
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn counts_facets_and_the_page_are_tantivys(
        listings in proptest::collection::vec(listing(), 1..600),
        segments in 1usize..4,
        q in prop_oneof![Just("삼성"), Just("청소기"), Just("LG 냉장고"), Just("밥솥 다이슨")],
        category in prop_oneof![Just(None), Just(Some("가전"))],
        depth in 1usize..40,
    ) {
        let index = index(&listings, segments);
        let searcher = index.reader.searcher();
        let columns = index.columns.get(&searcher).unwrap();
        let text = index.text_query(q, Tolerance::Exact, index.fields.text).unwrap();
        let Some(terms) = text.downcast_ref::<AllTerms>() else {
            return Err(TestCaseError::fail("an exact query of known words is one conjunction"));
        };
        let parent = category.map_or_else(Facet::root, |c| Facet::from_path([c]));
        let tally = Tally { parent: parent.clone(), columns: columns.clone() };
        let ranked = Ranked { depth, now: Utc::now(), columns: columns.clone() };

        let (counted, top) = count_and_rank(&searcher, terms, &tally, &ranked).unwrap();
        let (by_match, top_by_match) = searcher.search(text.as_ref(), &(tally, ranked)).unwrap();

        let mut categories = FacetCollector::for_field("category");
        categories.add_facet(parent.clone());
        let mut brands = FacetCollector::for_field("brand");
        brands.add_facet(Facet::root());
        let everything = TopDocs::with_limit(depth).tweak_score(ranking);
        let ((total, categories, brands), reference) = searcher
            .search(text.as_ref(), &((Count, categories, brands), everything))
            .unwrap();
        let facets = |counts: Vec<(&Facet, u64)>| -> FacetCounts {
            counts.into_iter().map(|(f, c)| (f.to_path().join("/"), c)).collect()
        };

        for counted in [&counted, &by_match] {
            prop_assert_eq!(counted.total, total);
            prop_assert_eq!(&counted.categories, &facets(categories.get(parent.clone()).collect()));
            prop_assert_eq!(&counted.brands, &facets(brands.get(Facet::root()).collect()));
        }
        let scores = |top: &[(Score, DocAddress)]| top.iter().map(|(s, _)| *s).collect::<Vec<_>>();
        for top in [&top, &top_by_match] {
            prop_assert_eq!(top.len(), reference.len());
            for (ours, theirs) in scores(top).iter().zip(scores(&reference)) {
                prop_assert!((ours - theirs).abs() <= 1e-4 * theirs.abs().max(1.0), "{ours} against {theirs}");
            }
        }
    }
}
