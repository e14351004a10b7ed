//! The queries of the relevance set, by class, each with what it wants; a listing's grade is
//! how much of that it has.

use super::generate::{Listing, Model, Rng, quantity};
use super::world::{BRANDS, KINDS};

/// What a query asks for. The first want of a query is its head.
#[derive(Clone, Debug)]
pub enum Want {
    /// A kind, by any level of its category path (`청소기` takes both kinds of cleaner).
    Kind(&'static str),
    Brand(usize),
    /// A product line whose Hangul name contains this (`갤럭시` takes every Galaxy line).
    Series(&'static str),
    Model(usize),
    Quantity(&'static str),
    Colour(&'static str),
}

impl Want {
    fn holds(&self, model: &Model, m: usize) -> bool {
        let kind = &KINDS[model.kind];
        match self {
            Self::Kind(name) => kind.path.contains(name),
            Self::Brand(brand) => model.brand == *brand,
            Self::Series(name) => model
                .line
                .is_some_and(|l| kind.lines[l].hangul.contains(name)),
            Self::Model(wanted) => m == *wanted,
            Self::Quantity(value) => model.quantity == Some(*value),
            Self::Colour(colour) => model.colour == Some(*colour),
        }
    }
}

pub struct Query {
    pub class: &'static str,
    pub text: String,
    pub wants: Vec<Want>,
}

/// 3: everything wanted, in stock and bought lately; 2: everything wanted but nobody bought it
/// lately, or the head and something more; 1: the head only, or out of stock; 0: not the head
/// (and every listing, for a query that wants what the catalog does not have).
pub fn grade(query: &Query, listing: &Listing, models: &[Model]) -> u8 {
    match wanted(query, listing, models) {
        0 => 0,
        _ if listing.stock == 0 => 1,
        3 if listing.recent_units == 0 => 2,
        wanted => wanted,
    }
}

/// How much of what the query wants the listing's model has.
fn wanted(query: &Query, listing: &Listing, models: &[Model]) -> u8 {
    let model = &models[listing.model];
    let Some((head, rest)) = query.wants.split_first() else {
        return 0;
    };
    if !head.holds(model, listing.model) {
        return 0;
    }
    let held = rest
        .iter()
        .filter(|w| w.holds(model, listing.model))
        .count();
    match held {
        n if n == rest.len() => 3,
        0 => 1,
        _ => 2,
    }
}

/// The class names, in the order the report lists them.
pub const CLASSES: &[&str] = &[
    "noun",
    "compound",
    "brand-hangul",
    "brand-latin",
    "model",
    "choseong",
    "typo",
    "unit",
    "synonym",
    "mixed",
    "none",
];

fn kind(name: &str) -> &'static str {
    KINDS
        .iter()
        .flat_map(|k| k.path)
        .find(|level| *level == name)
        .unwrap_or_else(|| panic!("no kind {name}"))
}

fn brand(hangul: &str) -> usize {
    BRANDS.iter().position(|b| b.hangul == hangul).unwrap()
}

fn q(class: &'static str, text: &str, wants: Vec<Want>) -> Query {
    Query {
        class,
        text: text.to_owned(),
        wants,
    }
}

pub fn queries(rng: &mut Rng, models: &[Model]) -> Vec<Query> {
    use Want::{Brand, Colour, Kind, Model as M, Quantity, Series};
    let mut all = Vec::new();
    // Nouns, as the category names them and with a colour.
    for k in KINDS {
        all.push(q("noun", k.path[2], vec![Kind(k.path[2])]));
    }
    for name in ["청소기", "주방가전", "신발"] {
        all.push(q("noun", name, vec![Kind(kind(name))]));
    }
    for k in KINDS.iter().filter(|k| k.colours).take(8) {
        let colour = *rng.pick(super::world::COLOURS);
        let text = format!("{} {colour}", k.path[2]);
        all.push(q("compound", &text, vec![Kind(k.path[2]), Colour(colour)]));
    }
    for (text, name) in [
        ("무선 청소기", "무선청소기"),
        ("로봇 청소기", "로봇청소기"),
        ("블루투스 이어폰", "블루투스이어폰"),
        ("전기 밥솥", "전기밥솥"),
        ("세탁 세제", "세탁세제"),
        ("공기 청정기", "공기청정기"),
        ("에어 프라이어", "에어프라이어"),
        ("무선청소기", "무선청소기"),
        ("블루투스이어폰", "블루투스이어폰"),
        ("공기청정기", "공기청정기"),
        ("에어프라이어", "에어프라이어"),
        ("세탁세제", "세탁세제"),
        ("로봇청소기", "로봇청소기"),
    ] {
        all.push(q("compound", text, vec![Kind(kind(name))]));
    }
    // Brands, alone and with a kind, in each script.
    for (b, brand) in BRANDS.iter().enumerate() {
        let k = KINDS.iter().find(|k| k.brands.contains(&b)).unwrap();
        all.push(q("brand-hangul", brand.hangul, vec![Brand(b)]));
        let text = format!("{} {}", brand.hangul, k.path[2]);
        all.push(q("brand-hangul", &text, vec![Kind(k.path[2]), Brand(b)]));
        all.push(q(
            "brand-latin",
            &brand.latin.to_lowercase(),
            vec![Brand(b)],
        ));
        let text = format!("{} {}", brand.latin, k.path[2]);
        all.push(q("brand-latin", &text, vec![Kind(k.path[2]), Brand(b)]));
    }
    // Model numbers with and without their hyphen, in either case.
    for n in 0..24 {
        let m = rng.below(models.len());
        let code = &models[m].code;
        let text = match n % 3 {
            0 => code.clone(),
            1 => code.replace('-', ""),
            _ => code.replace('-', "").to_lowercase(),
        };
        all.push(q("model", &text, vec![M(m)]));
    }
    // Initial consonants.
    for (text, wants) in [
        ("ㅁㅅㅊㅅㄱ", vec![Kind("무선청소기")]),
        ("ㄹㅂㅊㅅㄱ", vec![Kind("로봇청소기")]),
        ("ㄱㄱㅊㅈㄱ", vec![Kind("공기청정기")]),
        ("ㄴㅌㅂ", vec![Kind("노트북")]),
        ("ㄴㅈㄱ", vec![Kind("냉장고")]),
        ("ㅇㄷㅎ", vec![Kind("운동화")]),
        ("ㄹㄴㅎ", vec![Kind("러닝화")]),
        ("ㅇㅇㅍㄹㅇㅇ", vec![Kind("에어프라이어")]),
        ("ㅈㄱㅂㅅ", vec![Kind("전기밥솥")]),
        ("ㅅㅁㅌㅍ", vec![Kind("스마트폰")]),
        ("ㅌㅂㄹ", vec![Kind("태블릿")]),
        ("ㅁㄴㅌ", vec![Kind("모니터")]),
        ("ㅎㄷㅌ", vec![Kind("후드티")]),
        ("ㅅㅌㅅㅈ", vec![Kind("세탁세제")]),
        ("ㄷㅇㅅ", vec![Brand(brand("다이슨"))]),
        ("ㄴㅇㅋ", vec![Brand(brand("나이키"))]),
        ("ㅇㄷㄷㅅ", vec![Brand(brand("아디다스"))]),
        ("ㄱㄹㅅ", vec![Series("갤럭시")]),
        ("ㅋㄷㅈㄹ", vec![Series("코드제로")]),
        ("ㅇㅇㅁㅅ", vec![Series("에어맥스")]),
        ("ㅅㅅ ㄴㅌㅂ", vec![Kind("노트북"), Brand(brand("삼성"))]),
        (
            "ㄴㅇㅋ ㅇㄷㅎ",
            vec![Kind("운동화"), Brand(brand("나이키"))],
        ),
    ] {
        all.push(q("choseong", text, wants));
    }
    // Typos, one or two jamo off.
    for (text, wants) in [
        ("삼송", vec![Brand(brand("삼성"))]),
        ("갤력시", vec![Series("갤럭시")]),
        ("무선청소가", vec![Kind("무선청소기")]),
        ("로봇청서기", vec![Kind("로봇청소기")]),
        ("노투북", vec![Kind("노트북")]),
        ("다이손", vec![Brand(brand("다이슨"))]),
        ("나이퀴", vec![Brand(brand("나이키"))]),
        ("운동하", vec![Kind("운동화")]),
        ("공기청정가", vec![Kind("공기청정기")]),
        ("에어프라이여", vec![Kind("에어프라이어")]),
        ("냉장구", vec![Kind("냉장고")]),
        ("아디다쓰", vec![Brand(brand("아디다스"))]),
        ("모니타", vec![Kind("모니터")]),
        ("전기밥솟", vec![Kind("전기밥솥")]),
        ("스마투폰", vec![Kind("스마트폰")]),
        ("삼송 노트북", vec![Kind("노트북"), Brand(brand("삼성"))]),
        ("갤력시 버즈", vec![Series("갤럭시 버즈")]),
        ("코드재로", vec![Series("코드제로")]),
        ("dysen", vec![Brand(brand("다이슨"))]),
        ("samsumg", vec![Brand(brand("삼성"))]),
        ("addidas", vec![Brand(brand("아디다스"))]),
        ("philps", vec![Brand(brand("필립스"))]),
    ] {
        all.push(q("typo", text, wants));
    }
    // Quantities in each spelling of their unit.
    for k in KINDS.iter().filter(|k| k.unit.is_some()) {
        let (unit, values) = k.unit.unwrap();
        for spelling in 0..3 {
            let value = *rng.pick(values);
            let noun = k.path[2];
            let text = format!("{noun} {}", quantity(unit, value, spelling));
            all.push(q("unit", &text, vec![Kind(noun), Quantity(value)]));
        }
    }
    // Other words for a kind, and English ones no title uses.
    for k in KINDS {
        for noun in k.nouns.iter().skip(1).filter(|n| !n.contains(' ')) {
            all.push(q("synonym", noun, vec![Kind(k.path[2])]));
        }
    }
    for (text, name) in [
        ("laptop", "노트북"),
        ("sneakers", "운동화"),
        ("hoodie", "후드티"),
        ("earphones", "블루투스이어폰"),
        ("television", "TV"),
        ("cellphone", "스마트폰"),
        ("tablet", "태블릿"),
        ("monitor", "모니터"),
    ] {
        all.push(q("synonym", text, vec![Kind(kind(name))]));
    }
    // Korean and English together: a line in one script, a kind in the other.
    for (text, wants) in [
        ("갤럭시 S24", vec![Series("갤럭시 S24")]),
        ("galaxy 버즈", vec![Series("갤럭시 버즈")]),
        ("Galaxy 탭", vec![Series("갤럭시 탭")]),
        ("갤럭시 book", vec![Series("갤럭시북")]),
        ("LG 그램", vec![Series("그램"), Brand(brand("엘지"))]),
        ("엘지 gram 노트북", vec![Series("그램")]),
        ("nike 에어맥스", vec![Series("에어맥스")]),
        ("나이키 air max", vec![Series("에어맥스")]),
        ("아디다스 samba", vec![Series("삼바")]),
        ("adidas 삼바", vec![Series("삼바")]),
        ("애플 airpods", vec![Series("에어팟")]),
        ("apple 에어팟", vec![Series("에어팟")]),
        ("아이폰 15", vec![Series("아이폰 15")]),
        ("iphone 15 블랙", vec![Series("아이폰 15"), Colour("블랙")]),
        ("맥북 air", vec![Series("맥북 에어")]),
        (
            "dyson 무선청소기",
            vec![Kind("무선청소기"), Brand(brand("다이슨"))],
        ),
        ("LG 코드제로", vec![Series("코드제로")]),
        (
            "삼성 bespoke 냉장고",
            vec![Kind("냉장고"), Series("비스포크")],
        ),
        ("sony 브라비아", vec![Series("브라비아")]),
        ("ThinkPad 노트북", vec![Series("씽크패드")]),
        (
            "xiaomi 로봇청소기",
            vec![Kind("로봇청소기"), Brand(brand("샤오미"))],
        ),
        (
            "philips 에어프라이어",
            vec![Kind("에어프라이어"), Brand(brand("필립스"))],
        ),
    ] {
        all.push(q("mixed", text, wants));
    }
    // What the catalog does not sell.
    for text in [
        "자동차 타이어",
        "골프채",
        "강아지 사료",
        "캠핑 텐트",
        "전기자전거",
        "커피머신",
        "마우스패드",
        "기저귀",
        "라면",
        "xbox",
        "playstation 5",
        "아이폰 케이스",
        "샤넬 향수",
        "김치냉장고",
        "유모차",
        "등산화",
        "전동칫솔",
        "gaming chair",
        "세탁기",
        "청바지",
        "선풍기",
        "electric scooter",
    ] {
        all.push(q("none", text, Vec::new()));
    }
    all
}
