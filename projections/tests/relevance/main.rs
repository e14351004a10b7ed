//! The relevance set: about 5,000 listings from twelve shops' EP feeds and some 280 queries in
//! eleven classes, each graded 0–3 against every listing. Eventmall's search and a baseline
//! (tantivy's default tokenizer with CJK bigrams) answer every query in the same run; nDCG@10
//! and recall@10 are reported per class, and Eventmall must clear its floors and beat the
//! baseline in every class.
//!
//! The set is committed in `data/`, and `generate.rs` makes it: run this test with
//! `EVENTMALL_WRITE_RELEVANCE_SET=1` to write it again after changing the generator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod baseline;
mod generate;
mod queries;
mod world;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::Utc;
use eventmall_events::order::{OrderEvent, OrderLine, OrderPlaced};
use eventmall_events::product::{ProductDetails, ProductEvent, ProductRegistered};
use eventmall_events::{AnyEvent, CustomerId, Money, OrderId, PartnerId, ProductId};
use eventmall_feed_formats::{FeedEncoding, FeedRow, FeedRows};
use eventmall_projections::search::{SearchChanges, SearchIndex, SearchRequest};
use eventmall_projections::{Checkpoint, Envelope};

use generate::Rng;

/// Eventmall's floors, per class: (nDCG@10, recall@10), a little under what it measures.
const FLOORS: &[(&str, f64, f64)] = &[
    ("noun", 0.95, 0.90),
    ("compound", 0.88, 0.89),
    ("brand-hangul", 0.87, 0.88),
    ("brand-latin", 0.87, 0.88),
    ("model", 0.60, 0.97),
    ("choseong", 0.87, 0.85),
    ("typo", 0.92, 0.89),
    ("unit", 0.80, 0.89),
    ("synonym", 0.96, 0.89),
    ("mixed", 0.82, 0.85),
    ("none", 0.98, 0.98),
];

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/relevance/data")
}

/// The set's files as the generator makes them, by name.
fn generated() -> BTreeMap<String, String> {
    let mut rng = Rng(0x005E_A2C4);
    let models = generate::models(&mut rng);
    let listings = generate::listings(&mut rng, &models);
    let queries = queries::queries(&mut rng, &models);
    let mut files: BTreeMap<String, String> = generate::feeds(&listings, &models)
        .into_iter()
        .map(|(shop, feed)| (format!("{shop}.tsv"), feed))
        .collect();
    let mut listed = String::from("id\tclass\tquery\n");
    let mut judged = String::from("query\tlisting\tgrade\n");
    for (n, query) in queries.iter().enumerate() {
        listed.push_str(&format!("q{:03}\t{}\t{}\n", n + 1, query.class, query.text));
        for listing in &listings {
            let grade = queries::grade(query, listing, &models);
            if grade > 0 {
                judged.push_str(&format!("q{:03}\t{}\t{grade}\n", n + 1, listing.key()));
            }
        }
    }
    files.insert("activity.tsv".into(), generate::activity(&listings));
    files.insert("queries.tsv".into(), listed);
    files.insert("judgments.tsv".into(), judged);
    files
}

#[test]
fn the_committed_set_is_what_its_generator_makes() {
    let files = generated();
    if std::env::var_os("EVENTMALL_WRITE_RELEVANCE_SET").is_some() {
        std::fs::create_dir_all(data()).unwrap();
        for (name, text) in &files {
            std::fs::write(data().join(name), text).unwrap();
        }
    }
    for (name, text) in &files {
        let committed = std::fs::read_to_string(data().join(name)).unwrap_or_else(|e| {
            panic!("{name}: {e}; write the set with EVENTMALL_WRITE_RELEVANCE_SET=1")
        });
        assert!(
            committed == *text,
            "{name} differs from what the generator makes"
        );
    }
}

/// A listing read from its shop's feed: its key and its product.
struct Listing {
    key: String,
    shop: String,
    product: eventmall_feed_formats::EpProduct,
}

fn read_feeds() -> Vec<Listing> {
    let mut listings = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(data())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("shop-"))
        .collect();
    names.sort();
    for name in names {
        let shop = name.trim_end_matches(".tsv").to_owned();
        let feed = std::fs::read(data().join(&name)).unwrap();
        let mut rows = FeedRows::new(feed.as_slice(), FeedEncoding::Utf8).unwrap();
        while let Some(row) = rows.next_row().unwrap() {
            match row {
                FeedRow::Valid { product, .. } => listings.push(Listing {
                    key: format!("{shop}/{}", product.id),
                    shop: shop.clone(),
                    product: *product,
                }),
                FeedRow::Rejected(line) => panic!("{name}: {line:?}"),
            }
        }
    }
    listings
}

/// When the set's orders were placed: last month's and earlier ones.
fn ordered_at(recent: bool) -> chrono::DateTime<Utc> {
    let now = Utc::now();
    now - chrono::Duration::days(if recent { 7 } else { 150 })
}

/// Eventmall's index of the listings, built through the search projection's own path: each
/// listing registered with its stock, then its orders of last month and before.
fn eventmall(listings: &[Listing]) -> (SearchIndex, HashMap<String, String>) {
    let activity = std::fs::read_to_string(data().join("activity.tsv")).unwrap();
    let activity: HashMap<&str, [u32; 3]> = activity
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let numbers = [1, 2, 3].map(|i| fields[i].parse().unwrap());
            (fields[0], numbers)
        })
        .collect();
    let index = SearchIndex::in_ram().unwrap();
    let mut changes = SearchChanges::default();
    let mut keys = HashMap::new();
    let mut apply = |aggregate_id: String, at, event| {
        let envelope = Envelope {
            event_id: uuid::Uuid::now_v7(),
            aggregate_id,
            sequence: 1,
            recorded_at: at,
            event,
        };
        index.apply(&mut changes, &envelope).unwrap().unwrap();
    };
    for listing in listings {
        let partner = PartnerId(listing.shop.clone());
        let product_id = ProductId::for_partner_sku(&partner, &listing.product.id);
        keys.insert(product_id.to_string(), listing.key.clone());
        let [stock, recent, old] = activity[listing.key.as_str()];
        let registered = ProductEvent::ProductRegistered(ProductRegistered {
            product_id,
            partner_id: partner.clone(),
            sku: listing.product.id.clone(),
            details: ProductDetails {
                title: listing.product.title.clone(),
                brand: listing.product.brand.clone(),
                category: listing.product.category.clone(),
                model_number: listing.product.model_number.clone(),
            },
            price: Money::krw(listing.product.price),
            stock,
        });
        apply(
            product_id.to_string(),
            ordered_at(false) - chrono::Duration::days(30),
            AnyEvent::Product(registered),
        );
        for (recent, quantity) in [(true, recent), (false, old)]
            .into_iter()
            .filter(|(_, q)| *q > 0)
        {
            let order = OrderId::new();
            let placed = OrderPlaced {
                order_id: order,
                customer_id: CustomerId("relevance".into()),
                partner_id: partner.clone(),
                lines: vec![OrderLine {
                    line_no: 1,
                    product_id,
                    title: listing.product.title.clone(),
                    category: listing.product.category.clone(),
                    unit_price: Money::krw(listing.product.price),
                    quantity,
                }],
                total: Money::krw(listing.product.price * i64::from(quantity)),
                wallet_id: None,
                shipping: None,
            };
            apply(
                order.to_string(),
                ordered_at(recent),
                AnyEvent::Order(OrderEvent::OrderPlaced(placed)),
            );
        }
    }
    let position = Checkpoint {
        topic: "relevance".into(),
        partition: 0,
        next_offset: listings.len() as i64,
        position: 0,
    };
    index.commit(changes, &[position]).unwrap();
    (index, keys)
}

/// Each listing a row of its own.
fn rows(listings: Vec<String>) -> Vec<Vec<String>> {
    listings.into_iter().map(|key| vec![key]).collect()
}

/// nDCG@10 (gain 2^grade − 1) over the first ten rows of an answer, and recall@10: the
/// grade-2-and-3 listings among its first ten listings, out of at most ten. A row is a listing,
/// or a model's listings grouped: it gains as its best offer, and it lists the one shown
/// first, then the others (for recall). For a query that wants
/// nothing the catalog has, both are the share of the ten rows left empty: answering nothing
/// is right.
fn measure(answer: &[Vec<String>], grades: &HashMap<String, u8>) -> (f64, f64) {
    if grades.is_empty() {
        let quiet = 1.0 - answer.len().min(10) as f64 / 10.0;
        return (quiet, quiet);
    }
    let grade = |key: &String| grades.get(key).copied().unwrap_or(0);
    let gain = |grade: u8| f64::from((1u32 << grade) - 1);
    let discount = |rank: usize| (rank as f64 + 2.0).log2();
    let shown = &answer[..answer.len().min(10)];
    let dcg: f64 = shown
        .iter()
        .enumerate()
        .map(|(rank, row)| gain(row.iter().map(grade).max().unwrap_or(0)) / discount(rank))
        .sum();
    let mut ideal: Vec<u8> = grades.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(rank, grade)| gain(*grade) / discount(rank))
        .sum();
    let relevant = grades.values().filter(|g| **g >= 2).count();
    let listed = answer.iter().flatten().take(10);
    let found = listed.filter(|key| grade(key) >= 2).count();
    let recall = match relevant {
        0 => 1.0,
        n => (found as f64 / n.min(10) as f64).min(1.0),
    };
    (dcg / idcg, recall)
}

#[derive(Default, Clone, Copy)]
struct Sums {
    queries: usize,
    ndcg: f64,
    recall: f64,
}

impl Sums {
    fn add(&mut self, (ndcg, recall): (f64, f64)) {
        self.queries += 1;
        self.ndcg += ndcg;
        self.recall += recall;
    }

    fn mean(&self) -> (f64, f64) {
        let n = self.queries.max(1) as f64;
        (self.ndcg / n, self.recall / n)
    }
}

#[test]
fn eventmall_beats_the_baseline_in_every_class_and_clears_its_floors() {
    let listings = read_feeds();
    assert!(listings.len() >= 5_000, "{} listings", listings.len());
    let (index, keys) = eventmall(&listings);
    let baseline = baseline::Baseline::build(
        &listings
            .iter()
            .map(|l| {
                let p = &l.product;
                let words = [
                    p.title.as_str(),
                    p.brand.as_deref().unwrap_or_default(),
                    &p.category.join(" "),
                    p.model_number.as_deref().unwrap_or_default(),
                ];
                (l.key.clone(), words.join(" "))
            })
            .collect::<Vec<_>>(),
    );

    let queries = std::fs::read_to_string(data().join("queries.tsv")).unwrap();
    let judgments = std::fs::read_to_string(data().join("judgments.tsv")).unwrap();
    let mut grades: HashMap<&str, HashMap<String, u8>> = HashMap::new();
    for line in judgments.lines().skip(1) {
        let [query, listing, grade] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("judgment line {line}");
        };
        grades
            .entry(query)
            .or_default()
            .insert(listing.to_owned(), grade.parse().unwrap());
    }
    let mut ours: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut theirs: BTreeMap<&str, Sums> = BTreeMap::new();
    let none = HashMap::new();
    let mut worst = Vec::new();
    for line in queries.lines().skip(1) {
        let [id, class, text] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("query line {line}");
        };
        let graded = grades.get(id).unwrap_or(&none);
        let results = index
            .search(&SearchRequest {
                q: text.to_owned(),
                limit: 10,
                ..SearchRequest::default()
            })
            .unwrap();
        // A model's listings are one row with its cluster: the shopper picks among its offers.
        let answer: Vec<Vec<String>> = results
            .hits
            .iter()
            .map(|hit| {
                let shown = &hit.product.product_id;
                let others = hit.cluster.iter().flat_map(|c| &c.product_ids);
                let mut ids = vec![shown.clone()];
                ids.extend(others.filter(|id| *id != shown).cloned());
                ids
            })
            .map(|ids| ids.iter().map(|id| keys[id].clone()).collect())
            .collect();
        let measured = measure(&answer, graded);
        ours.entry(class).or_default().add(measured);
        theirs
            .entry(class)
            .or_default()
            .add(measure(&rows(baseline.search(text)), graded));
        worst.push((measured.0, class, text));
    }
    assert!(queries.lines().count() > 200);

    println!("| class | queries | nDCG@10 | recall@10 | baseline nDCG@10 | baseline recall@10 |");
    println!("|---|---|---|---|---|---|");
    let mut total = (Sums::default(), Sums::default());
    let mut behind = Vec::new();
    for class in queries::CLASSES {
        let (o, t) = (ours[class], theirs[class]);
        let ((on, or), (tn, tr)) = (o.mean(), t.mean());
        println!(
            "| {class} | {} | {on:.3} | {or:.3} | {tn:.3} | {tr:.3} |",
            o.queries
        );
        for (sum, add) in [(&mut total.0, o), (&mut total.1, t)] {
            sum.queries += add.queries;
            sum.ndcg += add.ndcg;
            sum.recall += add.recall;
        }
        if on <= tn {
            behind.push(format!("{class}: nDCG@10 {on:.3}, baseline {tn:.3}"));
        }
        if let Some((_, ndcg_floor, recall_floor)) = FLOORS.iter().find(|(c, ..)| c == class)
            && (on < *ndcg_floor || or < *recall_floor)
        {
            behind.push(format!(
                "{class}: {on:.3}/{or:.3} under the floor {ndcg_floor}/{recall_floor}"
            ));
        }
    }
    let ((on, or), (tn, tr)) = (total.0.mean(), total.1.mean());
    println!(
        "| all | {} | {on:.3} | {or:.3} | {tn:.3} | {tr:.3} |",
        total.0.queries
    );
    worst.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("weakest queries: {:?}", &worst[..15.min(worst.len())]);
    assert!(behind.is_empty(), "{behind:#?}");
}
