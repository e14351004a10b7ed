//! One home for the product rules: the same value gets the same verdict at every door that
//! takes products in — the HTTP API, a partner's EP feed upload, and a record on the product
//! ingest topic.

use eventmall_events::ingest::{IngestRecord, ProductIngest, ProductUpserted};
use eventmall_events::{Money, PartnerId};
use eventmall_kafka::ingest::Failure;
use serde_json::json;

use crate::helpers::{Ingest, TestApp, spawn_sqlite_app};

/// A product as every door can state it.
struct Case {
    what: &'static str,
    sku: String,
    title: String,
    category: Vec<&'static str>,
    price: i64,
    brand: String,
    model_number: String,
    accepted: bool,
}

fn case(what: &'static str, accepted: bool) -> Case {
    Case {
        what,
        sku: format!("C-{}", what.len()),
        title: "삼성 비스포크 제트 무선청소기".into(),
        category: vec!["가전", "청소기"],
        price: 990_000,
        brand: "삼성".into(),
        model_number: "VS20A956A".into(),
        accepted,
    }
}

/// Good and bad values of every rule, each case otherwise valid; SKUs are distinct.
fn cases() -> Vec<Case> {
    let mut cases = vec![
        case("a valid product", true),
        Case {
            sku: "x".repeat(50),
            ..case("a SKU of 50 characters", true)
        },
        Case {
            sku: "y".repeat(51),
            ..case("a SKU of 51 characters", false)
        },
        Case {
            sku: "a-1_b.C".into(),
            ..case("a SKU of letters, digits and - _ .", true)
        },
        Case {
            sku: "A/5".into(),
            ..case("a SKU with a slash", false)
        },
        Case {
            sku: "a b".into(),
            ..case("a SKU with a space", false)
        },
        Case {
            sku: "가나".into(),
            ..case("a SKU in Hangul", false)
        },
        Case {
            title: "가".repeat(100),
            ..case("a title of 100 characters", true)
        },
        Case {
            title: "가".repeat(101),
            ..case("a title of 101 characters", false)
        },
        Case {
            title: format!("  {}  ", "나".repeat(100)),
            ..case("a title of 100 characters between spaces", true)
        },
        Case {
            title: "   ".into(),
            ..case("a blank title", false)
        },
        Case {
            category: vec!["가전", "생활가전", "청소기", "무선청소기"],
            ..case("four category levels", true)
        },
        Case {
            category: vec!["가전", "", "청소기"],
            ..case("a gap in the category", false)
        },
        Case {
            price: 1,
            ..case("a price of 1", true)
        },
        Case {
            price: 0,
            ..case("a price of 0", false)
        },
        Case {
            price: 10_000_000_000,
            ..case("a price of ten billion", true)
        },
        Case {
            price: 10_000_000_001,
            ..case("a price over ten billion", false)
        },
        Case {
            brand: "삼".repeat(60),
            ..case("a brand of 60 characters", true)
        },
        Case {
            brand: "삼".repeat(8_000),
            ..case("a brand of 8,000 characters", false)
        },
        Case {
            model_number: "A".repeat(61),
            ..case("a model number of 61 characters", false)
        },
        Case {
            category: vec!["가전", "청".repeat(51).leak()],
            ..case("a category level of 51 characters", false)
        },
    ];
    for (n, case) in cases.iter_mut().enumerate() {
        if case.sku.starts_with("C-") {
            case.sku = format!("C-{n}");
        }
    }
    cases
}

async fn through_the_api(app: &TestApp, case: &Case) -> bool {
    let reply = app
        .post(
            "/v1/products",
            json!({
                "partner_id": "rules-api", "sku": case.sku, "title": case.title,
                "category": case.category, "price": {"amount": case.price}, "stock": 1,
                "brand": case.brand, "model_number": case.model_number
            }),
        )
        .await;
    match reply.status {
        201 => true,
        422 => {
            let kind = reply.body["type"].as_str().unwrap_or_default();
            assert!(
                [
                    "invalid-sku",
                    "invalid-title",
                    "invalid-category",
                    "invalid-price",
                    "field-too-long"
                ]
                .iter()
                .any(|slug| kind.ends_with(slug)),
                "{}: {}",
                case.what,
                reply.body
            );
            false
        }
        other => panic!("{}: {other} {}", case.what, reply.body),
    }
}

/// Each case's verdict in one EP feed upload, in case order.
async fn through_a_feed(app: &TestApp, cases: &[Case]) -> Vec<bool> {
    let mut feed = "id\ttitle\tprice_pc\tlink\timage_link\tcategory_name1\tcategory_name2\t\
                    category_name3\tcategory_name4\tshipping\tbrand\tmodel_number\n"
        .to_owned();
    for case in cases {
        let levels: Vec<&str> = (0..4)
            .map(|i| case.category.get(i).copied().unwrap_or(""))
            .collect();
        feed.push_str(&format!(
            "{}\t{}\t{}\thttps://shop.example/p\thttps://shop.example/i.jpg\t{}\t0\t{}\t{}\n",
            case.sku,
            case.title,
            case.price,
            levels.join("\t"),
            case.brand,
            case.model_number
        ));
    }
    let reply = app
        .send(
            app.client
                .post(format!("{}/v1/partners/rules-feed/feeds", app.address))
                .body(feed),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let rejected: Vec<i64> = reply.body["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    // The header is line 1.
    (0..cases.len())
        .map(|i| !rejected.contains(&(i as i64 + 2)))
        .collect()
}

async fn through_the_ingest_topic(ingest: &Ingest, case: &Case) -> bool {
    let record: IngestRecord = ProductIngest::from(ProductUpserted {
        event_id: format!("rules-{}", case.what),
        partner_id: PartnerId::from("rules-ingest"),
        sku: case.sku.clone(),
        title: case.title.clone(),
        brand: Some(case.brand.clone()),
        category: case
            .category
            .iter()
            .map(|level| (*level).to_owned())
            .collect(),
        model_number: Some(case.model_number.clone()),
        price: Money::krw(case.price),
        stock: Some(1),
    })
    .into();
    match ingest.run(&record, &case.sku).await {
        Ok(_) => true,
        Err(Failure::Poison(_)) => false,
        Err(Failure::Transient(error)) => panic!("{}: {error}", case.what),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_gives_the_same_verdict_for_the_same_product() {
    let app = spawn_sqlite_app().await;
    let ingest = app.ingest().await;
    let cases = cases();
    let fed = through_a_feed(&app, &cases).await;
    for (case, fed) in cases.iter().zip(fed) {
        let api = through_the_api(&app, case).await;
        let ingested = through_the_ingest_topic(&ingest, case).await;
        assert_eq!(
            (api, fed, ingested),
            (case.accepted, case.accepted, case.accepted),
            "{}: (api, feed, ingest topic)",
            case.what
        );
    }
}
