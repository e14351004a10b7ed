//! The demo's product themes: related items that customers buy together, with Korean titles in
//! the "brand gender category name [colour]" pattern, model numbers, four-level categories and
//! EP options.

use eventmall_events::product::ProductDetails;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// A kind of product a theme sells.
pub struct ProductKind {
    /// The category word of the title, and the category's fourth level (`러닝화`).
    pub category: &'static str,
    /// Product line names (`페가수스 41`).
    pub names: &'static [&'static str],
    /// Who it is for (`남성`, `여성`); empty when that does not apply.
    pub genders: &'static [&'static str],
    pub min_price: i64,
    pub max_price: i64,
    /// An EP option group besides the colours (`사이즈^250|260|270`).
    pub option: Option<&'static str>,
}

pub struct Theme {
    pub code: &'static str,
    /// The first three category levels.
    pub category: [&'static str; 3],
    pub brands: &'static [(&'static str, &'static str)],
    pub items: &'static [ProductKind],
    pub colours: &'static [&'static str],
}

const fn item(
    category: &'static str,
    names: &'static [&'static str],
    genders: &'static [&'static str],
    (min_price, max_price): (i64, i64),
    option: Option<&'static str>,
) -> ProductKind {
    ProductKind {
        category,
        names,
        genders,
        min_price,
        max_price,
        option,
    }
}

const ADULTS: &[&str] = &["남성", "여성"];
const SHOE_SIZES: Option<&str> = Some("사이즈^230|240|250|260|270|280");
const CLOTHING_SIZES: Option<&str> = Some("사이즈^S|M|L|XL");

pub const THEMES: &[Theme] = &[
    Theme {
        code: "VAC",
        category: ["가전", "생활가전", "청소기"],
        brands: &[
            ("삼성", "VS"),
            ("LG", "AO"),
            ("다이슨", "SV"),
            ("샤오미", "MJ"),
        ],
        items: &[
            item(
                "무선청소기",
                &["비스포크 제트", "코드제로 A9", "V15 디텍트"],
                &[],
                (290_000, 1_290_000),
                None,
            ),
            item(
                "청소기 먼지봉투",
                &["5매입", "10매입"],
                &[],
                (9_900, 29_000),
                None,
            ),
            item(
                "청소기 필터",
                &["교체용 헤파", "프리미엄"],
                &[],
                (14_900, 45_000),
                None,
            ),
            item(
                "물걸레 패드",
                &["극세사 6매", "일회용 30매"],
                &[],
                (12_000, 35_000),
                None,
            ),
            item(
                "로봇청소기",
                &["비스포크 AI", "코드제로 R5", "S10 울트라"],
                &[],
                (390_000, 1_490_000),
                None,
            ),
        ],
        colours: &["화이트", "블랙", "실버"],
    },
    Theme {
        code: "NBK",
        category: ["디지털", "컴퓨터", "노트북/주변기기"],
        brands: &[
            ("삼성", "NT"),
            ("LG", "GR"),
            ("애플", "MX"),
            ("레노버", "LN"),
        ],
        items: &[
            item(
                "노트북",
                &["갤럭시북4 프로 16", "그램 16", "맥북 에어 15"],
                &[],
                (1_090_000, 2_490_000),
                Some("메모리^16GB|32GB"),
            ),
            item(
                "무선 마우스",
                &["사일런트", "MX 마스터"],
                &[],
                (19_000, 129_000),
                None,
            ),
            item(
                "노트북 파우치",
                &["15인치", "16인치"],
                &[],
                (15_000, 59_000),
                None,
            ),
            item(
                "멀티 허브",
                &["USB-C 7in1", "썬더볼트 4"],
                &[],
                (29_000, 99_000),
                None,
            ),
            item(
                "블루투스 키보드",
                &["슬림", "기계식"],
                &[],
                (39_000, 189_000),
                None,
            ),
        ],
        colours: &["그레이", "블랙", "실버"],
    },
    Theme {
        code: "RUN",
        category: ["스포츠/레저", "러닝", "러닝용품"],
        brands: &[
            ("나이키", "DV"),
            ("아디다스", "GZ"),
            ("뉴발란스", "MR"),
            ("아식스", "AS"),
        ],
        items: &[
            item(
                "러닝화",
                &["페가수스 41", "아디제로 SL", "1080 v14", "젤 카야노 31"],
                ADULTS,
                (89_000, 259_000),
                SHOE_SIZES,
            ),
            item(
                "스포츠 양말",
                &["쿠션 3족", "라이트 5족"],
                ADULTS,
                (9_900, 25_000),
                Some("사이즈^M|L"),
            ),
            item(
                "트레이닝 팬츠",
                &["드라이핏", "에센셜"],
                ADULTS,
                (39_000, 99_000),
                CLOTHING_SIZES,
            ),
            item(
                "바람막이 자켓",
                &["경량 윈드러너", "런 아이콘"],
                ADULTS,
                (69_000, 189_000),
                CLOTHING_SIZES,
            ),
        ],
        colours: &["블랙", "네이비", "화이트", "레드"],
    },
    Theme {
        code: "CFE",
        category: ["식품", "커피/차", "커피"],
        brands: &[
            ("스타벅스", "SB"),
            ("맥심", "MX"),
            ("카누", "KN"),
            ("테라로사", "TR"),
        ],
        items: &[
            item(
                "원두커피",
                &["하우스 블렌드 1kg", "에티오피아 500g"],
                &[],
                (19_000, 49_000),
                Some("분쇄^홀빈|드립용|에스프레소용"),
            ),
            item(
                "드립백 커피",
                &["30개입", "50개입"],
                &[],
                (15_000, 35_000),
                None,
            ),
            item(
                "핸드드립 세트",
                &["입문용", "프리미엄"],
                &[],
                (25_000, 89_000),
                None,
            ),
            item(
                "머그컵",
                &["도자기 350ml", "스테인리스 473ml"],
                &[],
                (8_000, 25_000),
                None,
            ),
        ],
        colours: &["미디엄로스트", "다크로스트", "디카페인"],
    },
    Theme {
        code: "BBY",
        category: ["출산/육아", "기저귀/물티슈", "기저귀"],
        brands: &[("하기스", "HG"), ("팸퍼스", "PM"), ("보솜이", "BS")],
        items: &[
            item(
                "팬티형 기저귀",
                &["네이처메이드 대형", "베이비드라이 특대형"],
                &["남아", "여아"],
                (29_000, 59_000),
                Some("단계^4단계|5단계|6단계"),
            ),
            item(
                "아기 물티슈",
                &["순수 10팩", "엠보싱 10팩"],
                &[],
                (12_000, 29_000),
                None,
            ),
            item("유아 로션", &["수딩", "데일리"], &[], (9_000, 25_000), None),
            item(
                "젖병 세정제",
                &["거품형", "액상형"],
                &[],
                (6_000, 15_000),
                None,
            ),
        ],
        colours: &["화이트", "민트", "핑크"],
    },
    Theme {
        code: "SKN",
        category: ["뷰티", "스킨케어", "기초화장품"],
        brands: &[
            ("설화수", "SW"),
            ("이니스프리", "IN"),
            ("라운드랩", "RL"),
            ("닥터지", "DG"),
        ],
        items: &[
            item(
                "토너",
                &["자음수 200ml", "독도 토너 200ml"],
                ADULTS,
                (15_000, 59_000),
                None,
            ),
            item(
                "세럼",
                &["윤조에센스 50ml", "레드 블레미쉬 50ml"],
                ADULTS,
                (19_000, 120_000),
                None,
            ),
            item(
                "크림",
                &["자음생크림 60ml", "자작나무 수분크림 80ml"],
                ADULTS,
                (18_000, 150_000),
                None,
            ),
            item(
                "선크림",
                &["톤업 SPF50+", "그린티 SPF50+"],
                &[],
                (12_000, 38_000),
                None,
            ),
        ],
        colours: &["기본", "대용량", "기획세트"],
    },
];

/// A planned product's details, price and EP options.
pub struct Drawn {
    pub details: ProductDetails,
    pub price: i64,
    /// The EP `option_detail` value: colours, then the item's own group.
    pub options: String,
}

impl Theme {
    /// The `k`-th product of this theme for a partner.
    pub fn product(&self, rng: &mut ChaCha8Rng, k: usize) -> Drawn {
        let item = &self.items[k % self.items.len()];
        let (brand, prefix) = *self.brands.choose(rng).unwrap_or(&self.brands[0]);
        let name = item.names.choose(rng).copied().unwrap_or_default();
        let colour = self.colours.choose(rng).copied().unwrap_or_default();
        let model = format!(
            "{prefix}{}{}",
            rng.random_range(10..99),
            ["A", "B", "K", "X"][rng.random_range(0..4)]
        ) + &format!("{:03}", rng.random_range(100..999));
        let title = match item.genders.choose(rng) {
            Some(gender) => format!("{brand} {gender} {} {name} [{colour}]", item.category),
            None => format!("{brand} {} {name} [{colour}]", item.category),
        };
        let price = rng.random_range(item.min_price..=item.max_price) / 100 * 100;
        let mut options = format!("색상^{}", self.colours.join("|"));
        if let Some(option) = item.option {
            options.push(';');
            options.push_str(option);
        }
        let mut category: Vec<String> = self.category.iter().map(|&c| c.to_owned()).collect();
        category.push(item.category.to_owned());
        Drawn {
            details: ProductDetails {
                title,
                brand: Some(brand.to_owned()),
                category,
                model_number: Some(model),
            },
            price: price.max(100),
            options,
        }
    }
}
