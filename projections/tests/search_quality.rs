//! What shoppers of Korean stores take for granted: a brand in either script, a unit in any
//! spelling, another word for the same thing, one model's offers compared, completions as they
//! type (초성 and half-typed syllables too), "did you mean", and a ranking where demand helps
//! and being out of stock never wins.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eventmall_projections::search::{Dictionary, SearchIndex};

mod support;

use support::Catalog;

#[test]
fn a_brand_or_line_typed_in_hangul_finds_titles_in_latin_and_back() {
    let mut c = Catalog::new();
    c.register(
        "p",
        "air",
        "NIKE Air Zoom Pegasus 40 Running",
        "NIKE",
        &["패션", "신발"],
        None,
        139_000,
        3,
    );
    c.register(
        "p",
        "s24",
        "Samsung Galaxy S24 Ultra 256GB",
        "Samsung",
        &["디지털", "휴대폰"],
        Some("SM-S928N"),
        1_500_000,
        3,
    );
    c.register(
        "p",
        "dyson",
        "다이슨 V15 디텍트 무선청소기",
        "다이슨",
        &["가전", "청소기"],
        Some("SV47"),
        990_000,
        3,
    );
    assert_eq!(c.q("나이키"), ["air"]);
    assert_eq!(c.q("갤럭시"), ["s24"]);
    assert_eq!(c.q("삼성 갤럭시"), ["s24"]);
    assert_eq!(c.q("dyson"), ["dyson"]);
    assert_eq!(c.q("나이키 페가수스"), ["air"]);
}

#[test]
fn a_quantity_in_one_spelling_finds_the_others() {
    let mut c = Catalog::new();
    c.register(
        "p",
        "litres",
        "제주 삼다수 생수 1.5리터 12병",
        "삼다수",
        &["식품", "생수"],
        None,
        13_000,
        9,
    );
    c.register(
        "p",
        "small",
        "제주 삼다수 생수 500ml 20병",
        "삼다수",
        &["식품", "생수"],
        None,
        11_000,
        9,
    );
    c.register(
        "p",
        "tv",
        "LG 올레드 TV 65\" OLED65C3",
        "LG",
        &["가전", "TV"],
        Some("OLED65C3"),
        2_900_000,
        2,
    );
    c.register(
        "p",
        "soap",
        "퍼실 세탁세제 3킬로",
        "퍼실",
        &["생활", "세제"],
        None,
        19_000,
        9,
    );
    assert_eq!(c.q("생수 1.5L"), ["litres"]);
    assert_eq!(c.q("생수 1500ml"), ["litres"]);
    assert_eq!(c.q("생수 0.5l"), ["small"]);
    assert_eq!(c.q("65인치"), ["tv"]);
    assert_eq!(c.q("세제 3kg"), ["soap"]);
}

#[test]
fn another_word_for_the_same_thing_finds_it() {
    let mut c = Catalog::new();
    c.register(
        "p",
        "gram",
        "LG 그램 16 노트북 16Z90R",
        "LG",
        &["디지털", "노트북"],
        None,
        1_900_000,
        3,
    );
    c.register(
        "p",
        "shoes",
        "뉴발란스 993 스니커즈 그레이",
        "뉴발란스",
        &["패션", "신발"],
        None,
        259_000,
        3,
    );
    assert_eq!(c.q("랩탑"), ["gram"]);
    assert_eq!(c.q("laptop"), ["gram"]);
    assert_eq!(c.q("운동화"), ["shoes"]);
    assert_eq!(
        c.q("new balance"),
        Vec::<String>::new(),
        "two words, each not in the dictionary"
    );
    assert_eq!(c.q("newbalance 운동화"), ["shoes"]);
}

#[test]
fn one_models_listings_from_several_partners_are_one_hit_with_the_lowest_price() {
    let mut c = Catalog::new();
    for (sku, partner, title, price) in [
        ("a", "shop-a", "삼성 갤럭시 S24 SM-S921N 자급제", 1_150_000),
        (
            "b",
            "shop-b",
            "[무료배송] Samsung Galaxy S24 SMS921N",
            1_090_000,
        ),
        ("c", "shop-c", "갤럭시 S24 256GB SM-S921N 정품", 1_120_000),
    ] {
        c.register(
            partner,
            sku,
            title,
            "삼성",
            &["디지털", "휴대폰"],
            None,
            price,
            5,
        );
    }
    c.register(
        "p",
        "other",
        "삼성 갤럭시 S24 울트라 SM-S928N",
        "삼성",
        &["디지털", "휴대폰"],
        Some("SM-S928N"),
        1_690_000,
        5,
    );
    let answer = c.answer("갤럭시 S24");
    assert_eq!(answer.total, 4, "every listing counts");
    assert_eq!(answer.hits.len(), 2, "one hit per model");
    let grouped = answer
        .hits
        .iter()
        .find_map(|h| h.cluster.clone().filter(|c| c.offers == 3))
        .unwrap();
    assert_eq!(grouped.model, "sms921n");
    assert_eq!(
        (grouped.partners, grouped.lowest_price.amount),
        (3, 1_090_000)
    );
    assert_eq!(grouped.product_ids[0], support::product_id("b"));
    assert_eq!(grouped.product_ids.len(), 3);
}

#[test]
fn demand_lifts_a_product_and_out_of_stock_never_outranks_one_in_stock() {
    let mut c = Catalog::new();
    c.register(
        "p",
        "quiet",
        "필립스 에어프라이어 5.5L",
        "필립스",
        &["주방"],
        None,
        150_000,
        5,
    );
    c.register(
        "p",
        "loved",
        "브라운 에어프라이어 5.5L",
        "브라운",
        &["주방"],
        None,
        150_000,
        5,
    );
    c.register(
        "p",
        "gone",
        "드롱기 에어프라이어 5.5L",
        "드롱기",
        &["주방"],
        None,
        150_000,
        0,
    );
    c.order("loved", 5, 2);
    c.order("gone", 500, 1);
    assert_eq!(c.q("에어프라이어"), ["loved", "quiet", "gone"]);
    // Old orders count less than recent ones: a year-old rush does not beat this week's sales.
    c.register(
        "p",
        "old",
        "코웨이 에어프라이어 5.5L",
        "코웨이",
        &["주방"],
        None,
        150_000,
        5,
    );
    c.order("old", 40, 365);
    assert_eq!(c.q("에어프라이어")[0], "loved");
}

#[test]
fn completions_follow_initials_half_typed_syllables_and_demand() {
    let mut c = Catalog::new();
    c.register(
        "p",
        "s",
        "삼성 비스포크 냉장고",
        "삼성",
        &["가전", "냉장고"],
        None,
        1_000,
        3,
    );
    c.register(
        "p",
        "s2",
        "삼성 갤럭시 북",
        "삼성",
        &["디지털", "노트북"],
        None,
        1_000,
        3,
    );
    c.register(
        "p",
        "sam",
        "삼선 슬리퍼",
        "삼선",
        &["패션", "신발"],
        None,
        1_000,
        3,
    );
    c.register(
        "p",
        "g",
        "갤럭시 버즈",
        "삼성",
        &["디지털", "이어폰"],
        None,
        1_000,
        3,
    );
    c.order("sam", 50, 1);
    let texts = |prefix: &str| -> Vec<String> {
        c.index
            .suggest(prefix, 5)
            .unwrap()
            .into_iter()
            .map(|s| s.text)
            .collect()
    };
    assert_eq!(
        texts("삼서"),
        ["삼선", "삼성"],
        "half-typed, the best seller first"
    );
    assert_eq!(texts("갤러"), ["갤럭시"]);
    assert_eq!(
        texts("ㅅㅅ")[..2],
        ["삼선", "삼성"],
        "initials, the best seller first"
    );
    assert!(
        texts("ㅅㅁ").contains(&"삼성".to_owned()),
        "consonants as typed without vowels"
    );
    assert_eq!(texts("갤")[0], "갤럭시");
    assert_eq!(texts("ㄴㅈ"), ["냉장고"]);
    assert!(texts("").is_empty() && texts("없는말").is_empty());
}

#[test]
fn a_misspelt_query_is_answered_with_did_you_mean_and_is_not_rewritten() {
    let mut c = Catalog::new();
    for n in 0..3 {
        c.register(
            "p",
            &format!("tv{n}"),
            "삼성 네오 QLED TV",
            "삼성",
            &["가전", "TV"],
            None,
            1_000,
            3,
        );
        c.register(
            "p",
            &format!("phone{n}"),
            "갤럭시 S24 자급제",
            "삼성",
            &["디지털", "휴대폰"],
            None,
            1_000,
            3,
        );
    }
    c.register(
        "p",
        "song",
        "삼송 떡방앗간 가래떡",
        "삼송",
        &["식품"],
        None,
        1_000,
        3,
    );
    let answer = c.answer("삼송 TV");
    assert_eq!(answer.did_you_mean.as_deref(), Some("삼성 TV"));
    assert_eq!(
        answer.total, 3,
        "the typo-tolerant answer, not the corrected one"
    );
    let answer = c.answer("갤력시");
    assert_eq!(answer.did_you_mean.as_deref(), Some("갤럭시"));
    assert!(answer.total >= 3);
    assert_eq!(c.answer("갤럭시").did_you_mean, None);
    // A word one shop uses: found as typed and first, with the common word offered beside it.
    let answer = c.answer("삼송");
    assert_eq!(answer.hits[0].product.sku, "song");
    assert_eq!(answer.did_you_mean.as_deref(), Some("삼성"));
}

#[test]
fn a_generation_keeps_the_dictionary_it_was_built_with() {
    let dir = tempfile::tempdir().unwrap();
    let first = Dictionary::parse("랩탑, 노트북\n").unwrap();
    let second = Dictionary::parse("랩탑, 노트북\n맥북, macbook\n").unwrap();
    let built = SearchIndex::open_with(&dir.path().join("g1"), || Ok(first.clone())).unwrap();
    drop(built);
    let reopened = SearchIndex::open_with(&dir.path().join("g1"), || Ok(second.clone())).unwrap();
    assert_eq!(reopened.dictionary().digest(), first.digest());
    drop(reopened);
    // An existing generation does not read the configured file at all: a missing one is fine.
    let missing = || Err(std::io::Error::from(std::io::ErrorKind::NotFound).into());
    let without_file = SearchIndex::open_with(&dir.path().join("g1"), missing).unwrap();
    assert_eq!(without_file.dictionary().digest(), first.digest());
    drop(without_file);
    let rebuilt = SearchIndex::open_with(&dir.path().join("g2"), || Ok(second.clone())).unwrap();
    assert_eq!(rebuilt.dictionary().digest(), second.digest());
    std::fs::write(dir.path().join("g2/dictionary.txt"), "lonely\n").unwrap();
    let refused = SearchIndex::open_with(&dir.path().join("g2"), || Ok(second.clone()))
        .err()
        .unwrap();
    assert!(
        refused.to_string().contains("dictionary line 1"),
        "{refused}"
    );
}
