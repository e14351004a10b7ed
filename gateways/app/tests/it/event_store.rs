//! One test suite, run against every backend.

use std::sync::Arc;

use eventmall_events::{CommandMetadata, EventMetadata, StoredEvent};
use eventmall_store::{Append, EventBackend, IdempotencyClaim, NewEvent, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::read_until;

fn event(n: u32) -> NewEvent {
    let metadata = CommandMetadata {
        correlation_id: "corr-1".into(),
        causation_id: "cause-1".into(),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        actor: Some("partner:shop-1".into()),
    };
    NewEvent {
        event_type: "ProductStockChanged".into(),
        event_version: "1".into(),
        payload: json!({"stock": n}),
        metadata: metadata.for_event(chrono::Utc::now()),
    }
}

fn append(id: &str, expected_version: i64, events: Vec<NewEvent>) -> Append {
    Append {
        aggregate_type: "product".into(),
        aggregate_id: id.into(),
        expected_version,
        events,
        snapshot: None,
        idempotency: None,
        refusal: None,
        timers: Vec::new(),
    }
}

fn metadata_of(events: &[StoredEvent]) -> Vec<&EventMetadata> {
    events.iter().map(|e| &e.metadata).collect()
}

pub async fn appends_and_reads_back(backend: Arc<dyn EventBackend>) {
    let written = vec![event(1), event(2), event(3)];
    let appended = backend
        .append(append("p1", 0, written.clone()))
        .await
        .unwrap();
    assert_eq!(appended.positions.len(), 3);
    assert!(appended.positions.windows(2).all(|w| w[0] < w[1]));

    let loaded = backend.load("product", "p1").await.unwrap();
    assert!(loaded.snapshot.is_none());
    assert_eq!(
        loaded.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        loaded
            .events
            .iter()
            .map(|e| e.global_position)
            .collect::<Vec<_>>(),
        appended.positions
    );
    let expected: Vec<&EventMetadata> = written.iter().map(|e| &e.metadata).collect();
    let mut stored = metadata_of(&loaded.events);
    // Databases keep microseconds; compare the rest exactly and the time to the microsecond.
    for (stored, expected) in stored.iter_mut().zip(&expected) {
        assert_eq!(stored.event_id, expected.event_id);
        assert_eq!(stored.event_id.get_version_num(), 7);
        assert_eq!(stored.correlation_id, expected.correlation_id);
        assert_eq!(stored.causation_id, expected.causation_id);
        assert_eq!(stored.traceparent, expected.traceparent);
        assert_eq!(stored.actor, expected.actor);
        assert_eq!(
            stored.recorded_at.timestamp_micros(),
            expected.recorded_at.timestamp_micros()
        );
    }
    assert_eq!(loaded.events[1].payload, json!({"stock": 2}));
    assert_eq!(loaded.events[0].event_type, "ProductStockChanged");

    let page = backend.stream("product", "p1", 1, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].sequence, 2);
    assert_eq!(read_until(&*backend, 0, 3).await, loaded.events);
}

pub async fn a_lost_race_is_a_typed_conflict_and_appends_nothing(backend: Arc<dyn EventBackend>) {
    backend
        .append(append("p1", 0, vec![event(1)]))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        backend.append(append("p1", 1, vec![event(2), event(3)])),
        backend.append(append("p1", 1, vec![event(4), event(5)])),
    );
    let (won, lost) = match (a, b) {
        (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
        other => panic!("expected one winner, got {other:?}"),
    };
    assert_eq!(won.positions.len(), 2);
    assert!(matches!(lost, StoreError::Conflict { .. }), "{lost:?}");
    let events = backend.stream("product", "p1", 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // a stale expected version also conflicts
    let stale = backend.append(append("p1", 0, vec![event(9)])).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
}

pub async fn an_idempotency_key_is_recorded_with_the_events(backend: Arc<dyn EventBackend>) {
    let claim = IdempotencyClaim {
        key: "key-1".into(),
        fingerprint: "fp".into(),
    };
    let mut first = append("p1", 0, vec![event(1), event(2)]);
    first.idempotency = Some(claim.clone());
    let appended = backend.append(first).await.unwrap();
    let record = backend.idempotency("key-1").await.unwrap().unwrap();
    assert_eq!(record.version, 2);
    assert_eq!(record.global_position, appended.positions.last().copied());
    assert_eq!(
        record.event_types,
        ["ProductStockChanged", "ProductStockChanged"]
    );
    assert_eq!(record.fingerprint, "fp");

    // the same key on another append rejects it whole
    let mut again = append("p2", 0, vec![event(3)]);
    again.idempotency = Some(claim);
    match backend.append(again).await {
        Err(StoreError::IdempotencyKeyUsed(used)) => assert_eq!(*used, record),
        other => panic!("expected the key to be used, got {other:?}"),
    }
    assert!(
        backend
            .stream("product", "p2", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(backend.idempotency("nope").await.unwrap().is_none());
}

/// Many keyed appends at once, as the ingest consumer sends them: on SQLite they share one
/// group commit. Each key is recorded with its own events; the loser of a version race
/// appends nothing and records no key, and a key claimed twice is taken once.
pub async fn keyed_appends_at_once_record_each_key_with_its_own_events(
    backend: Arc<dyn EventBackend>,
) {
    let keyed = |id: &str, version: i64, key: &str| {
        let mut append = append(id, version, vec![event(version as u32 + 1)]);
        append.idempotency = Some(IdempotencyClaim {
            key: key.into(),
            fingerprint: format!("fp-{key}"),
        });
        append
    };
    let mut appends: Vec<Append> = (0..40)
        .map(|i| keyed(&format!("k{i}"), 0, &format!("key-{i}")))
        .collect();
    // Two appends race for version 1 of k0, and two appends claim one key.
    appends.push(keyed("k0", 0, "key-race"));
    appends.push(keyed("twice-a", 0, "key-twice"));
    appends.push(keyed("twice-b", 0, "key-twice"));
    let results =
        futures::future::join_all(appends.into_iter().map(|append| backend.append(append))).await;
    let (won, lost): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.is_ok());
    assert_eq!(won.len(), 41, "{lost:?}");
    let k0_won_by = match backend.idempotency("key-0").await.unwrap() {
        Some(_) => "key-0",
        None => "key-race",
    };
    for i in 1..40 {
        let record = backend
            .idempotency(&format!("key-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.aggregate_id, format!("k{i}"));
        assert_eq!(record.version, 1);
        assert_eq!(record.fingerprint, format!("fp-key-{i}"));
    }
    let loser = if k0_won_by == "key-0" {
        "key-race"
    } else {
        "key-0"
    };
    assert!(backend.idempotency(loser).await.unwrap().is_none());
    assert_eq!(
        backend.stream("product", "k0", 0, 10).await.unwrap().len(),
        1
    );
    let twice = backend.idempotency("key-twice").await.unwrap().unwrap();
    let other = if twice.aggregate_id == "twice-a" {
        "twice-b"
    } else {
        "twice-a"
    };
    assert!(
        backend
            .stream("product", other, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        lost.iter()
            .any(|r| matches!(r, Err(StoreError::Conflict { .. })))
    );
    assert!(
        lost.iter()
            .any(|r| matches!(r, Err(StoreError::IdempotencyKeyUsed(_))))
    );
}

/// Many appends of events alone at once, as concurrent commands send them: both backends
/// commit them in groups, in one multi-row INSERT when they can. Two of them race for one
/// version: the race fails the loser alone, and every other append keeps its own events at
/// their own positions.
pub async fn plain_appends_at_once_fail_only_the_loser_of_a_race(backend: Arc<dyn EventBackend>) {
    let appends: Vec<Append> = (0..60)
        .map(|i| append(&format!("g{i}"), 0, vec![event(1), event(2)]))
        .chain([append("g0", 0, vec![event(3)])])
        .collect();
    let results =
        futures::future::join_all(appends.into_iter().map(|append| backend.append(append))).await;
    let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        matches!(lost[0], Err(StoreError::Conflict { .. })),
        "{lost:?}"
    );
    let mut positions: Vec<i64> = Vec::new();
    for appended in won.into_iter().map(Result::unwrap) {
        assert!(appended.positions.windows(2).all(|p| p[0] < p[1]));
        positions.extend(appended.positions);
    }
    let stored = crate::helpers::read_until(backend.as_ref(), 0, positions.len()).await;
    let mut read: Vec<i64> = stored.iter().map(|e| e.global_position).collect();
    assert!(read.windows(2).all(|p| p[0] < p[1]), "read in order");
    read.sort_unstable();
    positions.sort_unstable();
    assert_eq!(read, positions, "every position answered is stored, once");
    for i in 1..60 {
        let events = backend
            .stream("product", &format!("g{i}"), 0, 10)
            .await
            .unwrap();
        assert_eq!(
            events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [1, 2]
        );
    }
    let g0 = backend.stream("product", "g0", 0, 10).await.unwrap();
    assert!(
        g0.len() == 2 || g0.len() == 1,
        "one of the two racers: {g0:?}"
    );
}

pub async fn an_append_over_the_backends_limit_is_refused_whole(backend: Arc<dyn EventBackend>) {
    let events = (0..70_000).map(event).collect();
    match backend.append(append("p1", 0, events)).await {
        Err(StoreError::AppendTooLarge { count, max }) => {
            assert_eq!(count, 70_000);
            assert!(max < count);
        }
        other => panic!("expected the append to be refused, got {other:?}"),
    }
    assert_eq!(backend.count_after(0).await.unwrap(), 0);
}

pub async fn snapshots_are_loaded_with_the_events_after_them(backend: Arc<dyn EventBackend>) {
    backend
        .append(append("p1", 0, vec![event(1), event(2)]))
        .await
        .unwrap();
    let mut with_snapshot = append("p1", 2, vec![event(3)]);
    with_snapshot.snapshot = Some((3, json!({"state": "at 3"})));
    backend.append(with_snapshot).await.unwrap();
    backend
        .append(append("p1", 3, vec![event(4)]))
        .await
        .unwrap();
    let loaded = backend.load("product", "p1").await.unwrap();
    assert_eq!(loaded.snapshot, Some((3, json!({"state": "at 3"}))));
    assert_eq!(
        loaded.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [4]
    );
}

pub async fn read_after_pages_through_every_aggregate_in_order(backend: Arc<dyn EventBackend>) {
    for round in 0..5 {
        for id in ["a", "b", "c"] {
            backend
                .append(append(id, round, vec![event(round as u32)]))
                .await
                .unwrap();
        }
    }
    let all = read_until(&*backend, 0, 15).await;
    // paging in small pages gives the same sequence
    let mut seen = Vec::new();
    let mut position = 0;
    while seen.len() < all.len() {
        let page = backend.read_after(position, 4).await.unwrap();
        assert!(page.len() <= 4);
        if let Some(last) = page.last() {
            position = last.global_position;
        }
        seen.extend(page);
    }
    assert_eq!(seen, all);
    assert!(
        seen.windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
    );
    for id in ["a", "b", "c"] {
        let sequences: Vec<i64> = seen
            .iter()
            .filter(|e| e.aggregate_id == id)
            .map(|e| e.sequence)
            .collect();
        assert_eq!(sequences, [1, 2, 3, 4, 5]);
    }
}

/// Writers append concurrently while a reader tails; the reader sees every event exactly once,
/// in increasing position order.
pub async fn a_tailing_reader_never_skips_concurrent_appends(backend: Arc<dyn EventBackend>) {
    const WRITERS: usize = 8;
    const APPENDS: i64 = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let backend = backend.clone();
            tokio::spawn(async move {
                for version in 0..APPENDS {
                    let id = format!("w{w}");
                    backend
                        .append(append(&id, version * 2, vec![event(1), event(2)]))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let backend = backend.clone();
        tokio::spawn(async move {
            let total = WRITERS * APPENDS as usize * 2;
            let mut seen: Vec<StoredEvent> = Vec::new();
            let mut position = 0;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            while seen.len() < total && tokio::time::Instant::now() < deadline {
                let page = backend.read_after(position, 7).await.unwrap();
                if let Some(last) = page.last() {
                    position = last.global_position;
                }
                seen.extend(page);
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let all = read_until(&*backend, 0, WRITERS * APPENDS as usize * 2).await;
    assert_eq!(
        seen.iter()
            .map(|e| e.metadata.event_id)
            .collect::<Vec<Uuid>>(),
        all.iter()
            .map(|e| e.metadata.event_id)
            .collect::<Vec<Uuid>>(),
        "the tailing reader skipped or repeated events"
    );
}

/// An accepted append is durable: a freshly opened store sees it.
pub async fn appended_events_survive_a_reopen(
    backend: Arc<dyn EventBackend>,
    reopened: impl Future<Output = Arc<dyn EventBackend>>,
) {
    let appended = backend
        .append(append("p1", 0, vec![event(1)]))
        .await
        .unwrap();
    drop(backend);
    let backend = reopened.await;
    let events = read_until(&*backend, 0, 1).await;
    assert_eq!(events[0].global_position, appended.positions[0]);
}

/// cqrs-es's own framework runs on the store.
pub async fn cqrs_framework_executes_on_the_store(backend: Arc<dyn EventBackend>) {
    use cqrs_es::{CqrsFramework, EventStore};
    use eventmall_aggregates::{Product, ProductCommand};
    use eventmall_events::product::ProductDetails;
    use eventmall_events::{Money, PartnerId, ProductId};
    use eventmall_store::SqlEventStore;

    let store = SqlEventStore::<Product>::new(backend.clone(), 2, 0);
    let framework = CqrsFramework::new(store.clone(), vec![], ());
    let partner = PartnerId::from("shop-1");
    let id = ProductId::for_partner_sku(&partner, "SKU-1");
    let register = ProductCommand::Register {
        product_id: id,
        partner_id: partner.clone(),
        sku: "SKU-1".into(),
        details: ProductDetails {
            title: "LG 그램 16".into(),
            brand: Some("LG".into()),
            category: vec!["디지털".into(), "노트북".into()],
            model_number: Some("16Z90S".into()),
        },
        price: Money::krw(1_990_000),
        stock: 3,
    };
    framework.execute(&id.to_string(), register).await.unwrap();
    for stock in [2, 1, 0] {
        let change = ProductCommand::ChangeStock {
            partner_id: partner.clone(),
            stock,
        };
        framework.execute(&id.to_string(), change).await.unwrap();
    }
    let envelopes = store.load_events(&id.to_string()).await.unwrap();
    assert_eq!(
        envelopes.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(
        envelopes
            .iter()
            .all(|e| e.metadata.contains_key("global_position"))
    );
    // snapshot every 2 events: the latest is at version 4, and the state is still right
    let loaded = backend.load("product", &id.to_string()).await.unwrap();
    assert_eq!(loaded.snapshot.map(|(version, _)| version), Some(4));
    let product = store.load(&id.to_string()).await.unwrap();
    assert_eq!(product.version, 4);
    assert_eq!(product.aggregate.state.unwrap().stock, 0);
}

/// Two processes, each with its own aggregate cache, over one database.
pub async fn a_cached_aggregate_sees_events_written_elsewhere(backend: Arc<dyn EventBackend>) {
    use eventmall_aggregates::{Product, ProductCommand};
    use eventmall_events::product::ProductDetails;
    use eventmall_events::{Money, PartnerId, ProductId};
    use eventmall_store::SqlEventStore;

    let here = SqlEventStore::<Product>::new(backend.clone(), 0, 16);
    let elsewhere = SqlEventStore::<Product>::new(backend.clone(), 0, 16);
    let partner = PartnerId::from("shop-1");
    let id = ProductId::for_partner_sku(&partner, "A").to_string();
    let metadata = CommandMetadata::new_root(None);
    let decide = async |store: &SqlEventStore<Product>, command: ProductCommand| {
        let mut context = store.load(&id).await.unwrap();
        let sink = cqrs_es::event_sink::EventSink::default();
        cqrs_es::Aggregate::handle(&mut context.aggregate, command, &(), &sink)
            .await
            .unwrap();
        let events = sink.collect().await;
        store
            .append(&events, &context, &metadata, None, Vec::new())
            .await
            .unwrap()
    };
    let register = ProductCommand::Register {
        product_id: ProductId::for_partner_sku(&partner, "A"),
        partner_id: partner.clone(),
        sku: "A".into(),
        details: ProductDetails {
            title: "다이슨 V15".into(),
            brand: None,
            category: vec!["가전".into()],
            model_number: None,
        },
        price: Money::krw(1_000_000),
        stock: 1,
    };
    decide(&here, register).await;
    let stock = |stock| ProductCommand::ChangeStock {
        partner_id: partner.clone(),
        stock,
    };
    decide(&elsewhere, stock(5)).await;
    decide(&elsewhere, stock(6)).await;
    let loaded = here.load(&id).await.unwrap();
    assert_eq!(loaded.version, 3, "the cached state was brought up to date");
    assert_eq!(loaded.aggregate.state.unwrap().stock, 6);
    // deciding on the cached state appends at the right version
    assert_eq!(decide(&here, stock(7)).await.version, 4);
}

macro_rules! event_store_suite {
    ($backend:ident, $open:path) => {
        mod $backend {
            #[tokio::test]
            async fn appends_and_reads_back() {
                let (backend, _db) = $open().await;
                super::appends_and_reads_back(backend).await;
            }

            #[tokio::test]
            async fn a_lost_race_is_a_typed_conflict_and_appends_nothing() {
                let (backend, _db) = $open().await;
                super::a_lost_race_is_a_typed_conflict_and_appends_nothing(backend).await;
            }

            #[tokio::test]
            async fn an_idempotency_key_is_recorded_with_the_events() {
                let (backend, _db) = $open().await;
                super::an_idempotency_key_is_recorded_with_the_events(backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn keyed_appends_at_once_record_each_key_with_its_own_events() {
                let (backend, _db) = $open().await;
                super::keyed_appends_at_once_record_each_key_with_its_own_events(backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn plain_appends_at_once_fail_only_the_loser_of_a_race() {
                let (backend, _db) = $open().await;
                super::plain_appends_at_once_fail_only_the_loser_of_a_race(backend).await;
            }

            #[tokio::test]
            async fn an_append_over_the_backends_limit_is_refused_whole() {
                let (backend, _db) = $open().await;
                super::an_append_over_the_backends_limit_is_refused_whole(backend).await;
            }

            #[tokio::test]
            async fn snapshots_are_loaded_with_the_events_after_them() {
                let (backend, _db) = $open().await;
                super::snapshots_are_loaded_with_the_events_after_them(backend).await;
            }

            #[tokio::test]
            async fn read_after_pages_through_every_aggregate_in_order() {
                let (backend, _db) = $open().await;
                super::read_after_pages_through_every_aggregate_in_order(backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_tailing_reader_never_skips_concurrent_appends() {
                let (backend, _db) = $open().await;
                super::a_tailing_reader_never_skips_concurrent_appends(backend).await;
            }

            #[tokio::test]
            async fn appended_events_survive_a_reopen() {
                let (backend, db) = $open().await;
                super::appended_events_survive_a_reopen(backend, crate::helpers::reopen(&db)).await;
            }

            #[tokio::test]
            async fn a_cached_aggregate_sees_events_written_elsewhere() {
                let (backend, _db) = $open().await;
                super::a_cached_aggregate_sees_events_written_elsewhere(backend).await;
            }

            #[tokio::test]
            async fn cqrs_framework_executes_on_the_store() {
                let (backend, _db) = $open().await;
                super::cqrs_framework_executes_on_the_store(backend).await;
            }
        }
    };
}

event_store_suite!(sqlite, crate::helpers::sqlite_backend);
event_store_suite!(postgres, crate::helpers::postgres_backend);
