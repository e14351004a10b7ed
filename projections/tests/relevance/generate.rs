//! The relevance set's generator: a catalog of listings in Naver EP TSV, one feed per shop,
//! and queries of each class with graded judgments of every listing (0–3), all from one seed.
//!
//! Each listing is one *model* (a brand's product with a model number, maybe a line, a
//! quantity and a colour) as one shop writes it: brand in Hangul or Latin or as the company,
//! the line in either script, the model number with or without its hyphen, the unit one of
//! its spellings, the kind by one of its nouns. Several shops list the same model. A query is
//! made from what it wants (a kind, a brand, a model…); a listing's grade says how much of
//! that it has, so the judgments never depend on any search engine.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::world::{BRANDS, COLOURS, KINDS, PREFIXES, Unit};

/// Shops in the catalog, each with its own way of writing titles.
pub const SHOPS: usize = 12;
const MODELS_PER_KIND: usize = 115;

/// A deterministic generator (SplitMix64): the set is the same on every machine and version.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A product as its maker knows it.
pub struct Model {
    pub kind: usize,
    pub brand: usize,
    /// Index into the kind's lines.
    pub line: Option<usize>,
    /// The maker's model number, with its hyphen (`VS-20A956K`).
    pub code: String,
    /// The quantity's number, in the kind's unit (`65` inches, `2` litres).
    pub quantity: Option<&'static str>,
    pub colour: Option<&'static str>,
    pub price: i64,
    /// How much people buy it: most models sell little, a few a lot.
    pub demand: u32,
}

/// One shop's listing of a model.
pub struct Listing {
    pub shop: usize,
    pub sku: String,
    pub model: usize,
    pub title: String,
    pub brand: Option<String>,
    pub model_number: Option<String>,
    pub price: i64,
    pub stock: u32,
    /// Units ordered in the last month, and before.
    pub recent_units: u32,
    pub old_units: u32,
}

impl Listing {
    /// How judgments name the listing.
    pub fn key(&self) -> String {
        format!("{}/{}", shop_name(self.shop), self.sku)
    }
}

pub fn shop_name(shop: usize) -> String {
    format!("shop-{:02}", shop + 1)
}

/// How a shop writes its titles.
struct Style {
    latin_brand: bool,
    company: bool,
    latin_line: bool,
    hyphen: bool,
    spelling: usize,
    noun: usize,
    brand_column: bool,
}

pub fn models(rng: &mut Rng) -> Vec<Model> {
    let mut models = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        for n in 0..MODELS_PER_KIND {
            let brand = *rng.pick(kind.brands);
            let lines: Vec<usize> = (0..kind.lines.len())
                .filter(|&l| kind.lines[l].brand == brand)
                .collect();
            let line = (!lines.is_empty() && rng.chance(70)).then(|| *rng.pick(&lines));
            let letter = |rng: &mut Rng| char::from(b'A' + rng.below(26) as u8);
            let code = format!(
                "{}-{}{}{:03}{}",
                kind.model_prefix,
                10 + rng.below(90),
                letter(rng),
                (k * MODELS_PER_KIND + n) % 1000,
                letter(rng)
            );
            let (low, high) = kind.price;
            let price = (low + (rng.next() % (high - low) as u64) as i64) / 100 * 100;
            models.push(Model {
                kind: k,
                brand,
                line,
                code,
                quantity: kind.unit.map(|(_, values)| *rng.pick(values)),
                colour: kind.colours.then(|| *rng.pick(COLOURS)),
                price,
                demand: match rng.below(10) {
                    0..=5 => 0,
                    6..=8 => 1 + rng.below(5) as u32,
                    _ => 5 + rng.below(40) as u32,
                },
            });
        }
    }
    models
}

/// A quantity as one of its spellings: `spelling` picks among them.
pub fn quantity(unit: Unit, value: &str, spelling: usize) -> String {
    let forms: Vec<String> = match unit {
        Unit::Volume => match value.parse::<f64>() {
            Ok(litres) if litres < 1.0 => {
                let ml = (litres * 1000.0).round();
                vec![format!("{ml}ml"), format!("{ml}미리"), format!("{ml}ML")]
            }
            _ => vec![
                format!("{value}L"),
                format!("{value}리터"),
                format!("{value}l"),
            ],
        },
        Unit::Weight => vec![
            format!("{value}kg"),
            format!("{value}킬로"),
            format!("{value}KG"),
        ],
        Unit::Inch => vec![
            format!("{value}인치"),
            format!("{value}\""),
            format!("{value}인치"),
        ],
        Unit::Storage => vec![
            format!("{value}GB"),
            format!("{value}기가"),
            format!("{value}gb"),
        ],
    };
    forms[spelling % forms.len()].clone()
}

pub fn listings(rng: &mut Rng, models: &[Model]) -> Vec<Listing> {
    let styles: Vec<Style> = (0..SHOPS)
        .map(|_| Style {
            latin_brand: rng.chance(40),
            company: rng.chance(30),
            latin_line: rng.chance(35),
            hyphen: rng.chance(50),
            spelling: rng.below(3),
            noun: rng.below(3),
            brand_column: rng.chance(75),
        })
        .collect();
    let mut listings = Vec::new();
    let mut skus = [0usize; SHOPS];
    for (m, model) in models.iter().enumerate() {
        let copies = 1 + rng.below(4) + usize::from(rng.chance(20));
        let mut shops: Vec<usize> = (0..SHOPS).collect();
        for _ in 0..copies {
            let shop = shops.swap_remove(rng.below(shops.len()));
            let style = &styles[shop];
            let kind = &KINDS[model.kind];
            let brand = &BRANDS[model.brand];
            let mut words: Vec<String> = Vec::new();
            let brand_written = match (style.company, brand.company, style.latin_brand) {
                (true, Some(company), _) => company.to_owned(),
                (_, _, true) => brand.latin.to_owned(),
                _ => brand.hangul.to_owned(),
            };
            words.push(brand_written.clone());
            if let Some(l) = model.line {
                let line = &kind.lines[l];
                let latin = style.latin_line ^ rng.chance(15);
                words.push(if latin { line.latin } else { line.hangul }.to_owned());
            }
            words.push(kind.nouns[(style.noun + rng.below(2)) % kind.nouns.len()].to_owned());
            if let (Some((unit, _)), Some(value)) = (kind.unit, model.quantity) {
                words.push(quantity(unit, value, style.spelling + rng.below(2)));
            }
            let code = match style.hyphen {
                true => model.code.clone(),
                false => model.code.replace('-', ""),
            };
            words.push(code);
            if let Some(colour) = model.colour {
                words.push(colour.to_owned());
            }
            if rng.chance(20) {
                let last = words.len() - 1;
                words.swap(1, last);
            }
            skus[shop] += 1;
            listings.push(Listing {
                shop,
                sku: format!("{}{:05}", kind.model_prefix, skus[shop]),
                model: m,
                title: format!("{}{}", rng.pick(PREFIXES), words.join(" ")),
                brand: style.brand_column.then_some(brand_written),
                model_number: (rng.chance(80)).then(|| model.code.clone()),
                price: model.price / 100 * (95 + rng.below(11) as i64),
                stock: if rng.chance(12) {
                    0
                } else {
                    1 + rng.below(50) as u32
                },
                recent_units: if rng.chance(60) {
                    rng.below(model.demand as usize + 1) as u32
                } else {
                    0
                },
                old_units: rng.below(2 * model.demand as usize + 1) as u32,
            });
        }
    }
    listings
}

/// What happened to each listing after it was listed: its stock, and the units ordered in the
/// last month and before it.
pub fn activity(listings: &[Listing]) -> String {
    let mut text = String::from("listing\tstock\trecent_units\told_units\n");
    for listing in listings {
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}",
            listing.key(),
            listing.stock,
            listing.recent_units,
            listing.old_units
        );
    }
    text
}

/// Each shop's feed, in EP TSV.
pub fn feeds(listings: &[Listing], models: &[Model]) -> BTreeMap<String, String> {
    let mut feeds = BTreeMap::new();
    for listing in listings {
        let feed = feeds.entry(shop_name(listing.shop)).or_insert_with(|| {
            "id\ttitle\tprice_pc\tlink\timage_link\tcategory_name1\tcategory_name2\t\
             category_name3\tbrand\tmodel_number\tshipping\n"
                .to_owned()
        });
        let path = KINDS[models[listing.model].kind].path;
        let shop = shop_name(listing.shop);
        let _ = writeln!(
            feed,
            "{sku}\t{title}\t{price}\thttps://{shop}.example/p/{sku}\t\
             https://{shop}.example/i/{sku}.jpg\t{}\t{}\t{}\t{}\t{}\t{}",
            path[0],
            path[1],
            path[2],
            listing.brand.as_deref().unwrap_or_default(),
            listing.model_number.as_deref().unwrap_or_default(),
            if listing.price >= 30_000 { 0 } else { 3_000 },
            sku = listing.sku,
            title = listing.title,
            price = listing.price,
        );
    }
    feeds
}
