//! The demo's product themes: related items that customers buy together.

use eventmall_events::product::ProductDetails;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

pub struct Item {
    pub name: &'static str,
    pub leaf: &'static str,
    pub min_price: i64,
    pub max_price: i64,
}

pub struct Theme {
    pub code: &'static str,
    pub category: [&'static str; 2],
    pub brands: &'static [(&'static str, &'static str)],
    pub items: &'static [Item],
    pub variants: &'static [&'static str],
}

const fn item(name: &'static str, leaf: &'static str, min_price: i64, max_price: i64) -> Item {
    Item {
        name,
        leaf,
        min_price,
        max_price,
    }
}

pub const THEMES: &[Theme] = &[
    Theme {
        code: "VAC",
        category: ["가전", "청소기"],
        brands: &[
            ("삼성", "VS"),
            ("LG", "AO"),
            ("다이슨", "SV"),
            ("샤오미", "MJ"),
        ],
        items: &[
            item("무선청소기", "무선청소기", 290_000, 1_290_000),
            item("청소기 먼지봉투 5매", "청소기 소모품", 9_900, 29_000),
            item("청소기 교체용 필터", "청소기 소모품", 14_900, 45_000),
            item("물걸레 청소 패드", "청소기 소모품", 12_000, 35_000),
            item("로봇청소기", "로봇청소기", 390_000, 1_490_000),
        ],
        variants: &["화이트", "블랙", "실버"],
    },
    Theme {
        code: "NBK",
        category: ["디지털", "노트북"],
        brands: &[
            ("삼성", "NT"),
            ("LG", "GR"),
            ("애플", "MX"),
            ("레노버", "LN"),
        ],
        items: &[
            item("그램 노트북 16인치", "노트북", 1_090_000, 2_490_000),
            item("무선 마우스", "마우스", 19_000, 129_000),
            item("노트북 파우치", "노트북 가방", 15_000, 59_000),
            item("USB-C 멀티 허브", "허브", 29_000, 99_000),
            item("블루투스 키보드", "키보드", 39_000, 189_000),
        ],
        variants: &["그레이", "블랙", "실버"],
    },
    Theme {
        code: "RUN",
        category: ["스포츠", "러닝"],
        brands: &[
            ("나이키", "DV"),
            ("아디다스", "GZ"),
            ("뉴발란스", "MR"),
            ("아식스", "AS"),
        ],
        items: &[
            item("남성 러닝화", "러닝화", 89_000, 259_000),
            item("여성 러닝화", "러닝화", 89_000, 259_000),
            item("스포츠 양말 3족", "양말", 9_900, 25_000),
            item("남성 트레이닝 팬츠", "트레이닝복", 39_000, 99_000),
            item("경량 바람막이 자켓", "아우터", 69_000, 189_000),
        ],
        variants: &["블랙", "네이비", "화이트", "레드"],
    },
    Theme {
        code: "CFE",
        category: ["식품", "커피"],
        brands: &[
            ("스타벅스", "SB"),
            ("맥심", "MX"),
            ("카누", "KN"),
            ("테라로사", "TR"),
        ],
        items: &[
            item("원두커피 1kg", "원두", 19_000, 49_000),
            item("드립백 커피 30개입", "드립백", 15_000, 35_000),
            item("핸드드립 세트", "커피용품", 25_000, 89_000),
            item("도자기 머그컵", "커피용품", 8_000, 25_000),
        ],
        variants: &["미디엄로스트", "다크로스트", "디카페인"],
    },
    Theme {
        code: "BBY",
        category: ["출산/육아", "기저귀"],
        brands: &[("하기스", "HG"), ("팸퍼스", "PM"), ("보솜이", "BS")],
        items: &[
            item("팬티형 기저귀 대형", "팬티형", 29_000, 59_000),
            item("아기 물티슈 10팩", "물티슈", 12_000, 29_000),
            item("유아 로션", "스킨케어", 9_000, 25_000),
            item("젖병 세정제", "수유용품", 6_000, 15_000),
        ],
        variants: &["4단계", "5단계", "6단계"],
    },
    Theme {
        code: "SKN",
        category: ["뷰티", "스킨케어"],
        brands: &[
            ("설화수", "SW"),
            ("이니스프리", "IN"),
            ("라운드랩", "RL"),
            ("닥터지", "DG"),
        ],
        items: &[
            item("수분 토너 200ml", "토너", 15_000, 59_000),
            item("진정 세럼 50ml", "세럼", 19_000, 120_000),
            item("보습 크림 80ml", "크림", 18_000, 150_000),
            item("톤업 선크림 SPF50+", "선케어", 12_000, 38_000),
        ],
        variants: &["기본", "대용량", "기획세트"],
    },
];

impl Theme {
    /// The `k`-th product of this theme for a partner: its details and price (won, rounded).
    pub fn product(&self, rng: &mut ChaCha8Rng, k: usize) -> (ProductDetails, i64) {
        let item = &self.items[k % self.items.len()];
        let (brand, prefix) = *self.brands.choose(rng).unwrap_or(&self.brands[0]);
        let variant = self.variants.choose(rng).copied();
        let model = format!(
            "{prefix}{}{}",
            rng.random_range(10..99),
            ["A", "B", "K", "X"][rng.random_range(0..4)]
        ) + &format!("{:03}", rng.random_range(100..999));
        let title = match variant {
            Some(variant) => format!("{brand} {} {model} {variant}", item.name),
            None => format!("{brand} {} {model}", item.name),
        };
        let price = rng.random_range(item.min_price..=item.max_price) / 100 * 100;
        let details = ProductDetails {
            title,
            brand: Some(brand.to_owned()),
            category: vec![
                self.category[0].to_owned(),
                self.category[1].to_owned(),
                item.leaf.to_owned(),
            ],
            model_number: Some(model),
        };
        (details, price.max(100))
    }
}
