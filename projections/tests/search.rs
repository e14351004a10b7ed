//! Search over a tantivy index in memory: Korean, mixed Korean/English and model-number
//! queries, typos and 초성, filters, facets, sorting, snippets, pages, and changes.

use eventmall_events::product::*;
use eventmall_events::{AnyEvent, Money};
use eventmall_projections::Envelope;
use eventmall_projections::search::{SearchRequest, Sort};
use uuid::Uuid;

mod support;

use support::{Catalog, at, product_id};

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.register(
        "p-1",
        "vacuum",
        "삼성 비스포크 제트 무선청소기 VS20A956A",
        "삼성",
        &["가전", "청소기", "무선청소기"],
        Some("VS20A956A"),
        899_000,
        5,
    );
    c.register(
        "p-1",
        "robot",
        "LG 코드제로 R9 로봇청소기",
        "LG",
        &["가전", "청소기", "로봇청소기"],
        Some("R975VM"),
        1_290_000,
        0,
    );
    c.register(
        "p-2",
        "phone",
        "삼성 갤럭시 S21 자급제 SM-G991N 그레이",
        "삼성",
        &["디지털", "휴대폰"],
        Some("SM-G991N"),
        999_000,
        12,
    );
    c.register(
        "p-2",
        "shoes",
        "나이키 남성 에어맥스 운동화 블랙",
        "Nike",
        &["패션", "신발", "운동화"],
        None,
        139_000,
        30,
    );
    c.register(
        "p-3",
        "fan",
        "신일 무선 선풍기 화이트",
        "신일",
        &["가전", "계절가전", "선풍기"],
        None,
        59_000,
        40,
    );
    c
}

#[test]
fn korean_words_match_by_bigrams() {
    let c = catalog();
    assert_eq!(c.q("무선청소기"), ["vacuum"]);
    let mut cleaners = c.q("청소기");
    cleaners.sort();
    assert_eq!(cleaners, ["robot", "vacuum"]);
    assert_eq!(c.q("운동화"), ["shoes"]);
}

#[test]
fn mixed_korean_and_english_and_model_numbers() {
    let c = catalog();
    assert_eq!(c.q("삼성 청소기"), ["vacuum"]);
    assert_eq!(c.q("LG 청소기"), ["robot"]);
    assert_eq!(c.q("VS20A956A"), ["vacuum"]);
    assert_eq!(c.q("vs20a956a"), ["vacuum"]);
    assert_eq!(c.q("SM-G991N"), ["phone"]);
    assert_eq!(c.q("G991N"), ["phone"]);
    assert_eq!(c.q("갤럭시 s21"), ["phone"]);
    assert_eq!(c.q("nike 운동화"), ["shoes"]);
}

#[test]
fn typos_still_find_the_product() {
    let c = catalog();
    let mut samsung = c.q("삼송");
    samsung.sort();
    assert_eq!(samsung, ["phone", "vacuum"], "삼송 finds 삼성 items");
    assert_eq!(c.q("갤렉시"), ["phone"]);
    assert_eq!(c.q("nkie"), ["shoes"], "a transposition in a Latin word");
}

#[test]
fn initial_consonants_find_the_word() {
    let c = catalog();
    assert_eq!(c.q("ㅁㅅㅊㅅㄱ"), ["vacuum"]);
    let mut cleaners = c.q("ㅊㅅㄱ");
    cleaners.sort();
    assert_eq!(cleaners, ["robot", "vacuum"]);
    assert_eq!(c.q("ㅅㅍㄱ"), ["fan"]);
}

#[test]
fn exact_matches_rank_above_typo_matches() {
    let mut c = catalog();
    c.register(
        "p-3",
        "samson",
        "삼손 헬스 장갑",
        "삼손",
        &["스포츠"],
        None,
        9_000,
        1,
    );
    let hits = c.q("삼손");
    assert_eq!(hits.first().map(String::as_str), Some("samson"), "{hits:?}");
}

#[test]
fn filters_facets_and_sorting() {
    let c = catalog();
    let appliances = |sort| {
        c.search(SearchRequest {
            category: Some(vec!["가전".into()]),
            sort,
            ..SearchRequest::default()
        })
    };
    assert_eq!(appliances(Sort::PriceAsc), ["fan", "vacuum", "robot"]);
    assert_eq!(appliances(Sort::PriceDesc), ["robot", "vacuum", "fan"]);
    assert_eq!(appliances(Sort::Newest), ["fan", "robot", "vacuum"]);
    assert_eq!(
        c.search(SearchRequest {
            category: Some(vec!["가전".into(), "청소기".into()]),
            in_stock: Some(true),
            ..Default::default()
        }),
        ["vacuum"]
    );
    assert_eq!(
        c.search(SearchRequest {
            brand: Some("삼성".into()),
            price_max: Some(900_000),
            ..Default::default()
        }),
        ["vacuum"]
    );
    assert_eq!(
        c.search(SearchRequest {
            partner: Some("p-3".into()),
            price_min: Some(10_000),
            ..Default::default()
        }),
        ["fan"]
    );

    let results = c
        .index
        .search(&SearchRequest {
            q: "가전".into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(results.total, 3);
    let results = c
        .index
        .search(&SearchRequest {
            category: Some(vec!["가전".into()]),
            limit: 10,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let categories: Vec<(String, u64)> = results
        .categories
        .iter()
        .map(|f| (f.value.clone(), f.count))
        .collect();
    assert_eq!(
        categories,
        [
            ("가전/계절가전".to_owned(), 1),
            ("가전/청소기".to_owned(), 2)
        ]
    );
    let brands: Vec<(String, u64)> = results
        .brands
        .iter()
        .map(|f| (f.value.clone(), f.count))
        .collect();
    assert!(
        brands.contains(&("삼성".to_owned(), 1)) && brands.contains(&("LG".to_owned(), 1)),
        "{brands:?}"
    );
}

#[test]
fn snippets_highlight_and_pages_do_not_overlap() {
    let c = catalog();
    let results = c
        .index
        .search(&SearchRequest {
            q: "무선청소기".into(),
            limit: 5,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        results.hits[0].highlight.contains("<b>"),
        "{}",
        results.hits[0].highlight
    );
    let page = |offset| {
        c.search(SearchRequest {
            sort: Sort::PriceAsc,
            offset,
            limit: 2,
            ..Default::default()
        })
    };
    let (first, second, third) = (page(0), page(2), page(4));
    assert_eq!(first.len() + second.len() + third.len(), 5);
    assert!(
        first
            .iter()
            .all(|sku| !second.contains(sku) && !third.contains(sku))
    );
}

#[test]
fn popularity_comes_from_orders_counted_once() {
    let mut c = catalog();
    let (order, placed) = support::order_placed("fan", 3);
    c.commit(vec![(order.clone(), 1, placed.clone())]);
    // Delivered again, in the same batch and in a later one.
    c.commit(vec![(order.clone(), 1, placed.clone()), (order, 1, placed)]);
    assert_eq!(
        c.search(SearchRequest {
            sort: Sort::Popular,
            ..Default::default()
        })[0],
        "fan"
    );
    assert_eq!(
        c.index
            .product(&product_id("fan"))
            .ok()
            .flatten()
            .map(|p| p.popularity),
        Some(3)
    );
}

#[test]
fn changes_show_after_the_commit_and_delisted_products_disappear() {
    let mut c = catalog();
    let id = product_id("vacuum");
    c.commit(vec![(
        id.clone(),
        2,
        AnyEvent::Product(
            ProductPriceChanged {
                previous: Money::krw(899_000),
                price: Money::krw(799_000),
            }
            .into(),
        ),
    )]);
    assert_eq!(
        c.index.product(&id).ok().flatten().map(|p| p.price.amount),
        Some(799_000)
    );
    assert_eq!(
        c.search(SearchRequest {
            price_max: Some(800_000),
            category: Some(vec!["가전".into(), "청소기".into()]),
            ..Default::default()
        }),
        ["vacuum"]
    );

    c.commit(vec![(
        id.clone(),
        3,
        AnyEvent::Product(ProductDelisted { reason: None }.into()),
    )]);
    assert!(c.q("무선청소기").is_empty());
    c.commit(vec![(
        id.clone(),
        4,
        AnyEvent::Product(ProductRelisted { reason: None }.into()),
    )]);
    assert_eq!(c.q("무선청소기"), ["vacuum"]);
    // The price change delivered again changes nothing.
    c.commit(vec![(
        id.clone(),
        2,
        AnyEvent::Product(
            ProductPriceChanged {
                previous: Money::krw(1),
                price: Money::krw(1),
            }
            .into(),
        ),
    )]);
    assert_eq!(
        c.index.product(&id).ok().flatten().map(|p| p.price.amount),
        Some(799_000)
    );
    assert_eq!(
        c.index.checkpoints().unwrap_or_default()[0].next_offset,
        c.offset
    );
}

#[test]
fn an_update_of_an_unregistered_product_is_refused() {
    let c = catalog();
    let mut changes = Default::default();
    let envelope = Envelope {
        event_id: Uuid::now_v7(),
        aggregate_id: product_id("nothing"),
        sequence: 2,
        recorded_at: at(0),
        event: AnyEvent::Product(
            ProductStockChanged {
                stock: 1,
                previous: None,
            }
            .into(),
        ),
    };
    assert!(
        c.index
            .apply(&mut changes, &envelope)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_err()
    );
}
