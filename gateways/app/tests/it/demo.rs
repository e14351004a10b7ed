//! The demo world: the catalog through partner feeds, the rest through the command path;
//! reproducible by seed, idempotent.

use std::sync::Arc;

use eventmall::demo::{self, DemoPlan};
use eventmall::startup::commands_over;
use eventmall_feeds::FeedIngest;
use eventmall_store::EventBackend;

use crate::helpers::{TestDb, read_until, sqlite_backend};

fn plan(seed: u64) -> DemoPlan {
    DemoPlan {
        partners: 3,
        products_per_partner: 12,
        customers: 30,
        orders: 60,
        seed,
        concurrency: 8,
    }
}

/// Feed ingest over a test store, as the upload route runs it.
async fn feeds(backend: &Arc<dyn EventBackend>, db: &TestDb) -> FeedIngest {
    let store_pool = eventmall_store::connect_pool(&db.url()).await.unwrap();
    let vault = eventmall_store::pii::PiiVault::new(store_pool.clone());
    FeedIngest::new(
        commands_over(backend.clone(), &Default::default()).with_pii(vault),
        store_pool,
    )
}

/// `value` with each sealed text (random nonce, a key of each run) as the same placeholder.
fn sealed_as_one(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) if text.starts_with(eventmall_events::pii::SEALED_PREFIX) => {
            Value::String("sealed".into())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sealed_as_one).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| (name, sealed_as_one(value)))
                .collect(),
        ),
        other => other,
    }
}

/// Event types and payloads of a run, without ids of time (event ids, recorded times) and with
/// sealed personal data as one placeholder.
async fn world(seed: u64) -> Vec<(String, String, serde_json::Value)> {
    let (backend, db) = sqlite_backend().await;
    let report = demo::run(&feeds(&backend, &db).await, plan(seed))
        .await
        .unwrap();
    let count = backend.count_after(0).await.unwrap() as usize;
    assert_eq!(report.events_appended as usize, count);
    let mut events: Vec<_> = read_until(&*backend, 0, count)
        .await
        .into_iter()
        .map(|e| (e.aggregate_id, e.event_type, sealed_as_one(e.payload)))
        .collect();
    events.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    events
}

#[tokio::test]
async fn the_demo_builds_a_world_and_a_rerun_appends_nothing() {
    let (backend, db) = sqlite_backend().await;
    let feeds = feeds(&backend, &db).await;
    let first = demo::run(&feeds, plan(7)).await.unwrap();
    assert_eq!(first.products, 36);
    // The catalog came in through the partners' feeds: the second of three partners' feed is
    // EUC-KR, the third's has two bad rows.
    assert_eq!(first.feed_rows_rejected, 2);
    assert_eq!(first.orders, 60);
    assert!(first.paid > 0 && first.delivered > 0 && first.cancelled > 0);
    let events = backend.count_after(0).await.unwrap();
    assert!(events as u64 >= first.commands / 2);

    let again = demo::run(&feeds, plan(7)).await.unwrap();
    assert_eq!(again.events_appended, 0);
    assert_eq!(backend.count_after(0).await.unwrap(), events);
}

#[tokio::test]
async fn the_same_seed_makes_the_same_world() {
    let (a, b, c) = tokio::join!(world(11), world(11), world(12));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[tokio::test]
async fn demo_products_read_like_a_korean_shop_catalog() {
    let (backend, db) = sqlite_backend().await;
    demo::run(&feeds(&backend, &db).await, plan(5))
        .await
        .unwrap();
    let count = backend.count_after(0).await.unwrap() as usize;
    let registered: Vec<serde_json::Value> = read_until(&*backend, 0, count)
        .await
        .into_iter()
        .filter(|e| e.event_type == "ProductRegistered")
        .map(|e| e.payload)
        .collect();
    assert_eq!(registered.len(), 36);
    let mut gendered = 0;
    for product in &registered {
        let details = &product["details"];
        let title = details["title"].as_str().unwrap();
        let brand = details["brand"].as_str().unwrap();
        let category: Vec<&str> = details["category"]
            .as_array()
            .unwrap()
            .iter()
            .map(|level| level.as_str().unwrap())
            .collect();
        // "brand [gender] category name [colour]", with a four-level category whose last level
        // is the title's category word.
        assert_eq!(category.len(), 4, "{details}");
        let rest = title
            .strip_prefix(brand)
            .unwrap_or_else(|| panic!("{title}"));
        let rest = ["남성 ", "여성 ", "남아 ", "여아 "]
            .iter()
            .find_map(|gender| rest.trim_start().strip_prefix(gender))
            .inspect(|_| gendered += 1)
            .unwrap_or(rest.trim_start());
        assert!(rest.starts_with(category[3]), "{title}: {category:?}");
        assert!(title.ends_with(']') && title.contains(" ["), "{title}");
        assert!(
            details["model_number"]
                .as_str()
                .is_some_and(|m| m.len() >= 8),
            "{details}"
        );
    }
    assert!(gendered > 0, "no title names whom it is for");
}
