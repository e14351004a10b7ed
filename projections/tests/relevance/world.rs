//! The made-up shopping world the relevance set is drawn from: brands written in Hangul and in
//! Latin, kinds of product with their category paths and the nouns partners use for them,
//! product lines, model numbers, quantities and colours.

/// A brand as partners write it: in Hangul, in Latin, and as a company name some use.
pub struct Brand {
    pub hangul: &'static str,
    pub latin: &'static str,
    pub company: Option<&'static str>,
}

#[rustfmt::skip]
pub const BRANDS: &[Brand] = &[
    Brand { hangul: "삼성", latin: "Samsung", company: Some("삼성전자") },
    Brand { hangul: "엘지", latin: "LG", company: Some("LG전자") },
    Brand { hangul: "다이슨", latin: "Dyson", company: None },
    Brand { hangul: "나이키", latin: "Nike", company: None },
    Brand { hangul: "아디다스", latin: "Adidas", company: None },
    Brand { hangul: "뉴발란스", latin: "NewBalance", company: None },
    Brand { hangul: "애플", latin: "Apple", company: None },
    Brand { hangul: "샤오미", latin: "Xiaomi", company: None },
    Brand { hangul: "쿠쿠", latin: "Cuckoo", company: Some("쿠쿠전자") },
    Brand { hangul: "필립스", latin: "Philips", company: None },
    Brand { hangul: "소니", latin: "Sony", company: None },
    Brand { hangul: "레노버", latin: "Lenovo", company: None },
    Brand { hangul: "로보락", latin: "Roborock", company: None },
    Brand { hangul: "테팔", latin: "Tefal", company: None },
    Brand { hangul: "코웨이", latin: "Coway", company: None },
    Brand { hangul: "아식스", latin: "Asics", company: None },
    Brand { hangul: "에비앙", latin: "Evian", company: None },
    Brand { hangul: "삼다수", latin: "Samdasoo", company: Some("제주삼다수") },
    Brand { hangul: "퍼실", latin: "Persil", company: None },
    Brand { hangul: "피죤", latin: "Pigeon", company: None },
];

/// A quantity's kind, and the ways partners write its unit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Litres (`2L`, `2리터`) or, below one, millilitres (`500ml`, `500미리`).
    Volume,
    /// Kilograms (`3kg`, `3킬로`).
    Weight,
    /// Screen inches (`65인치`, `65"`).
    Inch,
    /// Storage (`256GB`).
    Storage,
}

/// A product line within a brand, in Hangul and Latin.
pub struct Line {
    pub brand: usize,
    pub hangul: &'static str,
    pub latin: &'static str,
}

/// A kind of product: its category path, the nouns partners call it (the first is the
/// category's own), the brands and lines that make it, its quantities, and its price.
pub struct Kind {
    pub path: [&'static str; 3],
    pub nouns: &'static [&'static str],
    pub brands: &'static [usize],
    pub lines: &'static [Line],
    pub unit: Option<(Unit, &'static [&'static str])>,
    pub colours: bool,
    pub model_prefix: &'static str,
    pub price: (i64, i64),
}

const fn line(brand: usize, hangul: &'static str, latin: &'static str) -> Line {
    Line {
        brand,
        hangul,
        latin,
    }
}

#[rustfmt::skip]
pub const KINDS: &[Kind] = &[
    Kind {
        path: ["가전", "청소기", "무선청소기"],
        nouns: &["무선청소기", "무선 청소기", "코드리스 청소기"],
        brands: &[0, 1, 2, 7, 9],
        lines: &[line(0, "비스포크 제트", "Bespoke Jet"), line(1, "코드제로", "CordZero"), line(2, "디지털 슬림", "Digital Slim")],
        unit: None,
        colours: true,
        model_prefix: "VS",
        price: (150_000, 1_200_000),
    },
    Kind {
        path: ["가전", "청소기", "로봇청소기"],
        nouns: &["로봇청소기", "로봇 청소기"],
        brands: &[0, 1, 12, 7],
        lines: &[line(0, "비스포크 제트봇", "Bespoke Jetbot"), line(12, "큐레보", "Qrevo")],
        unit: None,
        colours: true,
        model_prefix: "VR",
        price: (300_000, 1_800_000),
    },
    Kind {
        path: ["가전", "공기청정기", "공기청정기"],
        nouns: &["공기청정기"],
        brands: &[0, 1, 14, 2, 7],
        lines: &[line(0, "블루스카이", "BlueSky"), line(1, "퓨리케어", "PuriCare")],
        unit: None,
        colours: false,
        model_prefix: "AX",
        price: (100_000, 900_000),
    },
    Kind {
        path: ["가전", "영상가전", "TV"],
        nouns: &["TV", "티비", "텔레비전"],
        brands: &[0, 1, 10, 7],
        lines: &[line(0, "네오 QLED", "Neo QLED"), line(1, "올레드 에보", "OLED evo"), line(10, "브라비아", "Bravia")],
        unit: Some((Unit::Inch, &["43", "55", "65", "75", "85"])),
        colours: false,
        model_prefix: "KQ",
        price: (500_000, 5_000_000),
    },
    Kind {
        path: ["가전", "주방가전", "전기밥솥"],
        nouns: &["전기밥솥", "밥솥"],
        brands: &[8, 9],
        lines: &[line(8, "트윈프레셔", "Twin Pressure")],
        unit: None,
        colours: true,
        model_prefix: "CRP",
        price: (80_000, 600_000),
    },
    Kind {
        path: ["가전", "주방가전", "에어프라이어"],
        nouns: &["에어프라이어", "에어후라이어"],
        brands: &[9, 13, 7],
        lines: &[],
        unit: Some((Unit::Volume, &["4.1", "5.5", "7", "11"])),
        colours: true,
        model_prefix: "HD",
        price: (50_000, 350_000),
    },
    Kind {
        path: ["가전", "냉장고", "냉장고"],
        nouns: &["냉장고"],
        brands: &[0, 1],
        lines: &[line(0, "비스포크", "Bespoke"), line(1, "디오스", "Dios")],
        unit: Some((Unit::Volume, &["500", "615", "870"])),
        colours: true,
        model_prefix: "RF",
        price: (900_000, 4_000_000),
    },
    Kind {
        path: ["디지털", "컴퓨터", "노트북"],
        nouns: &["노트북", "랩탑"],
        brands: &[0, 1, 6, 11],
        lines: &[line(0, "갤럭시북", "Galaxy Book"), line(1, "그램", "gram"), line(6, "맥북 에어", "MacBook Air"), line(11, "씽크패드", "ThinkPad")],
        unit: Some((Unit::Inch, &["13", "14", "15", "16"])),
        colours: true,
        model_prefix: "NT",
        price: (700_000, 3_500_000),
    },
    Kind {
        path: ["디지털", "휴대폰", "스마트폰"],
        nouns: &["스마트폰", "휴대폰", "핸드폰"],
        brands: &[0, 6, 7],
        lines: &[line(0, "갤럭시 S24", "Galaxy S24"), line(0, "갤럭시 Z 플립", "Galaxy Z Flip"), line(6, "아이폰 15", "iPhone 15"), line(7, "레드미", "Redmi")],
        unit: Some((Unit::Storage, &["128", "256", "512"])),
        colours: true,
        model_prefix: "SM",
        price: (300_000, 2_200_000),
    },
    Kind {
        path: ["디지털", "태블릿", "태블릿"],
        nouns: &["태블릿", "태블릿PC"],
        brands: &[0, 6, 11],
        lines: &[line(0, "갤럭시 탭", "Galaxy Tab"), line(6, "아이패드", "iPad")],
        unit: Some((Unit::Storage, &["64", "128", "256"])),
        colours: true,
        model_prefix: "TB",
        price: (250_000, 1_800_000),
    },
    Kind {
        path: ["디지털", "음향기기", "블루투스이어폰"],
        nouns: &["블루투스이어폰", "무선이어폰", "이어폰"],
        brands: &[0, 6, 10, 7],
        lines: &[line(0, "갤럭시 버즈", "Galaxy Buds"), line(6, "에어팟", "AirPods")],
        unit: None,
        colours: true,
        model_prefix: "WF",
        price: (30_000, 400_000),
    },
    Kind {
        path: ["디지털", "모니터", "모니터"],
        nouns: &["모니터", "게이밍 모니터"],
        brands: &[0, 1, 7],
        lines: &[line(0, "오디세이", "Odyssey"), line(1, "울트라기어", "UltraGear")],
        unit: Some((Unit::Inch, &["24", "27", "32", "34"])),
        colours: false,
        model_prefix: "LS",
        price: (150_000, 1_500_000),
    },
    Kind {
        path: ["패션", "신발", "운동화"],
        nouns: &["운동화", "스니커즈"],
        brands: &[3, 4, 5, 15],
        lines: &[line(3, "에어맥스", "Air Max"), line(3, "에어포스", "Air Force"), line(4, "삼바", "Samba"), line(5, "993", "993")],
        unit: None,
        colours: true,
        model_prefix: "DM",
        price: (59_000, 289_000),
    },
    Kind {
        path: ["패션", "신발", "러닝화"],
        nouns: &["러닝화", "런닝화"],
        brands: &[3, 4, 15, 5],
        lines: &[line(3, "페가수스", "Pegasus"), line(4, "울트라부스트", "Ultraboost"), line(15, "젤카야노", "Gel-Kayano")],
        unit: None,
        colours: true,
        model_prefix: "FZ",
        price: (69_000, 259_000),
    },
    Kind {
        path: ["패션", "의류", "후드티"],
        nouns: &["후드티", "후드티셔츠", "후디"],
        brands: &[3, 4, 5],
        lines: &[],
        unit: None,
        colours: true,
        model_prefix: "HD",
        price: (39_000, 129_000),
    },
    Kind {
        path: ["식품", "생수", "생수"],
        nouns: &["생수", "먹는샘물"],
        brands: &[16, 17],
        lines: &[],
        unit: Some((Unit::Volume, &["0.5", "1", "2"])),
        colours: false,
        model_prefix: "W",
        price: (5_000, 30_000),
    },
    Kind {
        path: ["생활", "세제", "세탁세제"],
        nouns: &["세탁세제", "세제"],
        brands: &[18, 19],
        lines: &[],
        unit: Some((Unit::Weight, &["1", "2.5", "3", "5"])),
        colours: false,
        model_prefix: "DT",
        price: (8_000, 45_000),
    },
];

pub const COLOURS: &[&str] = &[
    "블랙",
    "화이트",
    "그레이",
    "실버",
    "네이비",
    "베이지",
    "레드",
];

/// What shops put in front of a title.
pub const PREFIXES: &[&str] = &["", "", "", "[무료배송] ", "정품 ", "[공식판매] ", "특가 "];
