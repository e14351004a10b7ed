//! The tools beside rebuilds: verify against a row changed by hand, rollback and garbage
//! collection, offset resets, republish, and v1 records through a rebuild.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::DateTime;
use eventmall_events::dead_letter::TOPIC as DEAD_LETTER_TOPIC;
use eventmall_events::order::OrderEvent;
use eventmall_events::payment::PaymentEvent;
use eventmall_events::product::ProductEvent;
use eventmall_kafka::replay::{Outcome, RebuildOptions, Replay, ResetTo, Timestamps, republish};
use eventmall_projections::{Generation, Projection};
use eventmall_read_models::generations::{self, GenerationState};
use eventmall_read_models::{OrderViews, Serving, Stores};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use schema_registry_converter::async_impl::avro::AvroEncoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use super::{rebuild, replay_app};
use crate::helpers::{TestApp, on_both_backends};
use crate::kafka::{Record, TestBroker, drain, kafka_settings, relay_settings};
use crate::projector::{Subject, producer, published_world, send, wait_applied};

const ORDERS: &str = OrderEvent::TOPIC;
const PRODUCTS: &str = ProductEvent::TOPIC;
const PAYMENTS: &str = PaymentEvent::TOPIC;

on_both_backends!(verify_reports_exactly_the_order_changed_by_hand);

async fn verify_reports_exactly_the_order_changed_by_hand(app: TestApp) {
    let broker = TestBroker::in_memory().await;
    published_world(&app, &broker, 60).await;
    let replay = app.replay(&broker);
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let live = Subject::OrderViews.live(&app);
    wait_applied(live.as_ref(), Subject::OrderViews.records(&broker)).await;

    let clean = replay.verify("order-views").await.unwrap();
    assert!(clean.clean, "{clean:#?}");
    assert_eq!(clean.live_checksum, clean.rebuilt_checksum);
    assert_eq!(clean.differences.count, 0);

    let order = app
        .stored()
        .await
        .into_iter()
        .find(|e| e.event_type == "OrderPlaced")
        .unwrap()
        .aggregate_id;
    sqlx::query("UPDATE order_views_g1_orders SET status = 'tampered' WHERE order_id = $1")
        .bind(&order)
        .execute(&app.stores().pool)
        .await
        .unwrap();
    let tampered = replay.verify("order-views").await.unwrap();
    assert!(!tampered.clean);
    assert_ne!(tampered.live_checksum, tampered.rebuilt_checksum);
    assert_eq!(tampered.differences.count, 1, "{tampered:#?}");
    let difference = &tampered.differences.first[0];
    assert_eq!(difference.key, format!("orders/{order}"));
    assert!(difference.left.as_deref().unwrap().contains("|tampered|"));
    assert!(!difference.right.as_deref().unwrap().contains("tampered"));
    // The scratch generations are gone.
    let rows = generations::list(&app.stores().pool, "order-views")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
}

/// A rollback makes the previous generation serve at once; gc drops the retired one's
/// tables, checkpoints and consumer group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_serves_the_previous_generation_and_gc_drops_the_retired_one() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 40).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let replay = app.replay(&broker);
    rebuild(&replay, "order-views", &RebuildOptions::default()).await;
    app.wait_serving(Subject::OrderViews, Generation(2)).await;

    let rolled = replay.rollback("order-views").await.unwrap();
    assert_eq!((rolled.serving, rolled.replaced), (1, 2));
    app.wait_serving(Subject::OrderViews, Generation(1)).await;
    let status = app.get("/v1/projections").await;
    let views = status
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "order-views")
        .unwrap();
    assert_eq!(views["generation"], 1);
    // Nothing older to roll back to.
    let error = replay.rollback("order-views").await.unwrap_err();
    assert!(
        error.to_string().contains("no retired generation"),
        "{error}"
    );

    let collected = replay.gc("order-views", 0).await.unwrap();
    assert_eq!(collected.len(), 1, "{collected:?}");
    assert_eq!(collected[0].generation, 2);
    assert!(collected[0].group_deleted, "{collected:?}");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'order_views_g2_%'",
    )
    .fetch_all(&app.stores().pool)
    .await
    .unwrap();
    assert!(tables.is_empty(), "{tables:?}");
    let rows = generations::list(&app.stores().pool, "order-views")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

/// `reset-offsets` on a projector's group: the plan changes nothing, `--execute` is refused
/// while the projector runs and moves the read model's checkpoints (and the group's offsets)
/// once it stopped; `--to-datetime` finds the first record at or after the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_offsets_plans_first_and_executes_only_on_a_group_at_rest() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 40).await;
    let replay = app.replay(&broker);
    let group = "eventmall.order-views.g1";
    let (projectors, stop) = app.start_supervisor(&broker).await;
    let live = Subject::OrderViews.live(&app);
    let total = Subject::OrderViews.records(&broker);
    wait_applied(live.as_ref(), total).await;
    let before = live.checkpoints().await.unwrap();

    let plan = replay
        .reset_offsets(group, None, ResetTo::Earliest, false)
        .await
        .unwrap();
    assert!(!plan.executed);
    assert_eq!(plan.truth, "read-model checkpoints");
    assert_eq!(plan.projector.as_deref(), Some("order-views"));
    assert!(plan.partitions.iter().all(|p| p.new == 0), "{plan:?}");
    let current: i64 = plan.partitions.iter().filter_map(|p| p.current).sum();
    assert_eq!(current, total);
    assert_eq!(live.checkpoints().await.unwrap(), before);

    let refused = replay
        .reset_offsets(group, None, ResetTo::Earliest, true)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("active members"), "{refused}");
    assert_eq!(live.checkpoints().await.unwrap(), before);

    drop(stop);
    projectors.await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let plan = loop {
        match replay
            .reset_offsets(group, None, ResetTo::ShiftBy(-2), true)
            .await
        {
            Ok(plan) => break plan,
            Err(error) if error.to_string().contains("active members") => {
                assert!(tokio::time::Instant::now() < deadline, "{error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("{error}"),
        }
    };
    assert!(plan.executed);
    assert!(
        plan.changed[0].contains("checkpoints of order-views g1"),
        "{plan:?}"
    );
    for moved in live.checkpoints().await.unwrap() {
        let was = before
            .iter()
            .find(|c| c.topic == moved.topic && c.partition == moved.partition)
            .unwrap();
        assert_eq!(moved.next_offset, (was.next_offset - 2).max(0));
    }
    for planned in &plan.partitions {
        let committed = committed_offsets(&broker, group, &planned.topic);
        assert_eq!(committed[&planned.partition], planned.new);
    }

    let records = drain(&broker.bootstrap(), OrderViews::TOPICS);
    let at = records[records.len() / 2].timestamp_ms.unwrap();
    let plan = replay
        .reset_offsets(
            group,
            None,
            ResetTo::Datetime(DateTime::from_timestamp_millis(at).unwrap()),
            false,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            plan.timestamps,
            Timestamps::ListOffsets | Timestamps::RecordScan { .. }
        ),
        "{plan:?}"
    );
    for planned in &plan.partitions {
        let on = records
            .iter()
            .filter(|r| r.topic == planned.topic && r.partition == planned.partition);
        let end = on.clone().map(|r| r.offset + 1).max().unwrap_or(0);
        let first = on
            .filter(|r| r.timestamp_ms.unwrap() >= at)
            .map(|r| r.offset)
            .min()
            .unwrap_or(end);
        assert_eq!(planned.new, first, "{plan:?}");
    }

    // A group that is no projector's: its committed offsets are the truth.
    let plan = replay
        .reset_offsets("a-tool", Some(ORDERS), ResetTo::Latest, true)
        .await
        .unwrap();
    assert_eq!(plan.truth, "group offsets");
    let committed = committed_offsets(&broker, "a-tool", ORDERS);
    let latest: i64 = committed.values().sum();
    assert_eq!(latest, crate::projector::records_on(&broker, ORDERS));
}

/// Each partition's committed offset of `group` on `topic`.
fn committed_offsets(broker: &TestBroker, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = eventmall_kafka::client_config(&broker.bootstrap())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..kafka_settings().partitions {
        list.add_partition(topic, partition);
    }
    consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(offset) => (e.partition(), offset),
            other => panic!("{}/{}: {other:?}", e.topic(), e.partition()),
        })
        .collect()
}

/// `republish` puts every stored event of the range on its topic again with its own event id,
/// and the read models, which de-duplicate by aggregate version, stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn republished_events_keep_their_ids_and_leave_the_read_models_as_they_were() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 40).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let subjects = [
        Subject::OrderViews,
        Subject::Search,
        Subject::Recommendations,
    ];
    let mut before = Vec::new();
    for subject in subjects {
        wait_applied(subject.live(&app).as_ref(), subject.records(&broker)).await;
        before.push(subject.checksum(&app, Generation(1)).await);
    }
    let topics = [ORDERS, PRODUCTS, PAYMENTS];
    let published = drain(&broker.bootstrap(), &topics);
    let stored = app.stored().await;

    let sent = republish(
        app.backend().clone(),
        &app.codec(),
        &broker.bootstrap(),
        &relay_settings(),
        1,
        None,
    )
    .await
    .unwrap();
    assert_eq!(sent.records.values().sum::<u64>(), stored.len() as u64);
    assert_eq!(sent.last_position, app.last_position().await);
    let records = drain(&broker.bootstrap(), &topics);
    assert_eq!(records.len(), 2 * published.len());
    let mut by_id: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for record in &records {
        by_id
            .entry(record.header("event_id"))
            .or_default()
            .push(record);
    }
    for event in &stored {
        let copies = &by_id[event.metadata.event_id.to_string().as_str()];
        assert_eq!(copies.len(), 2, "{}", event.metadata.event_id);
        let again: Vec<&&Record> = copies
            .iter()
            .filter(|r| r.headers.get("republish_run") == Some(&sent.run))
            .collect();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].key, event.aggregate_id);
        assert_eq!(
            again[0].header("global_position"),
            event.global_position.to_string()
        );
    }

    for (subject, before) in subjects.into_iter().zip(before) {
        wait_applied(subject.live(&app).as_ref(), subject.records(&broker)).await;
        assert_eq!(
            subject.checksum(&app, Generation(1)).await,
            before,
            "{} changed",
            subject.name()
        );
    }
    assert!(drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty());

    let some = republish(
        app.backend().clone(),
        &app.codec(),
        &broker.bootstrap(),
        &relay_settings(),
        3,
        Some(7),
    )
    .await
    .unwrap();
    assert_eq!(some.records.values().sum::<u64>(), 5);
    assert_eq!((some.from_position, some.last_position), (3, 7));
}

/// A topic holding records written with the published v1 of `ProductStockChanged` (no
/// `previous`) rebuilds into today's search documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topic_with_v1_records_rebuilds_into_todays_read_models() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let product = app.register_product("p-1", "fan", 59_000).await;
    app.wait_published(app.last_position().await).await;

    let v1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/eventmall.products.v1/eventmall.product.ProductStockChanged/v1.avsc"
    ))
    .unwrap();
    let registry = SrSettings::new_builder(app.address.clone())
        .set_token_authorization(&app.admin_key)
        .build()
        .unwrap();
    let encoder = AvroEncoder::new(registry);
    let written_with_v1 = encoder
        .encode(
            vec![("stock", apache_avro::types::Value::Long(42))],
            SubjectNameStrategy::TopicRecordNameStrategyWithSchema(
                PRODUCTS.into(),
                SuppliedSchema::new(
                    Some("eventmall.product.ProductStockChanged".into()),
                    SchemaType::Avro,
                    v1,
                ),
            ),
        )
        .await
        .unwrap();
    let headers: Vec<(String, String)> = [
        ("event_id", uuid::Uuid::now_v7().to_string()),
        ("event_type", "ProductStockChanged".to_owned()),
        ("aggregate_type", "product".to_owned()),
        ("sequence", "2".to_owned()),
        (
            "global_position",
            (app.last_position().await + 1).to_string(),
        ),
        ("correlation_id", "v1-producer".to_owned()),
        ("causation_id", "v1-producer".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    send(
        &producer(&broker),
        PRODUCTS,
        &product,
        &headers,
        &written_with_v1,
    )
    .await;

    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let replay = app.replay(&broker);
    let rebuilt = rebuild(&replay, "search", &RebuildOptions::default()).await;
    assert_eq!(rebuilt.generation, 2);
    app.wait_serving(Subject::Search, Generation(2)).await;
    let read = app.get(&format!("/v1/products/{product}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["stock"], 42, "{}", read.body);
    assert_eq!(read.body["version"], 2, "{}", read.body);
    assert!(drain(&broker.bootstrap(), &[DEAD_LETTER_TOPIC]).is_empty());
}

/// `rebuild --verify` swaps after a clean compare with the live generation at its cut, and
/// leaves the new generation ready, not serving, when the live one differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verified_rebuild_swaps_only_when_it_equals_the_live_generation() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 40).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let live = Subject::OrderViews.live(&app);
    wait_applied(live.as_ref(), Subject::OrderViews.records(&broker)).await;
    let replay = app.replay(&broker);
    let verified = RebuildOptions {
        verify: true,
        ..RebuildOptions::default()
    };

    let clean = rebuild(&replay, "order-views", &verified).await;
    assert!(
        matches!(clean.outcome, Outcome::Swapped { replaced: 1 }),
        "{clean:?}"
    );

    app.wait_serving(Subject::OrderViews, Generation(2)).await;
    sqlx::query(
        "UPDATE order_views_g2_orders SET status = 'tampered' WHERE order_id IN \
                 (SELECT order_id FROM order_views_g2_orders LIMIT 1)",
    )
    .execute(&app.stores().pool)
    .await
    .unwrap();
    let differs = rebuild(&replay, "order-views", &verified).await;
    let Outcome::VerifyFailed { verified } = differs.outcome else {
        panic!("{differs:?}");
    };
    assert_eq!(verified.differences.count, 1, "{verified:?}");
    let states: Vec<(u32, GenerationState)> = generations::list(&app.stores().pool, "order-views")
        .await
        .unwrap()
        .iter()
        .map(|row| (row.generation.0, row.state))
        .collect();
    assert_eq!(
        states,
        [
            (1, GenerationState::Retired),
            (2, GenerationState::Live),
            (3, GenerationState::Ready)
        ]
    );
}

/// `rebuild --until position P` builds the events stored up to P and stops there: a
/// generation for inspection, never served, dropped by gc.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_until_a_position_stops_there_and_never_serves() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 40).await;
    let stored = app.stored().await;
    let until = stored[stored.len() / 2].global_position;
    let replay = app.replay(&broker);
    let stopped = rebuild(
        &replay,
        "order-views",
        &RebuildOptions {
            until_position: Some(until),
            ..RebuildOptions::default()
        },
    )
    .await;
    assert!(matches!(stopped.outcome, Outcome::Stopped), "{stopped:?}");
    let pool = app.stores().pool;
    assert_eq!(
        generations::state_of(&pool, "order-views", Generation(2))
            .await
            .unwrap(),
        Some(GenerationState::Stopped)
    );
    assert_eq!(
        generations::live(&pool, "order-views").await.unwrap(),
        Generation(1)
    );
    let built = app
        .stores()
        .open("order-views", Generation(2))
        .await
        .unwrap();
    let applied: usize = built
        .projection()
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|c| c.next_offset as usize)
        .sum();
    // Order views follow the order and payment topics.
    let order_events_up_to = stored
        .iter()
        .filter(|e| e.aggregate_type != "product" && e.global_position <= until)
        .count();
    assert_eq!(applied, order_events_up_to);
    let highest = built
        .projection()
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|c| c.position)
        .max()
        .unwrap();
    assert!(highest <= until, "{highest} > {until}");

    let collected = replay.gc("order-views", 1).await.unwrap();
    assert_eq!(collected.len(), 1, "{collected:?}");
    assert_eq!(collected[0].state, GenerationState::Stopped);
}

/// Search replicas keep an index each, so each swaps on its own: a rebuild run on one replica
/// moves only that replica's serving pointer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_search_replica_rebuilds_and_swaps_on_its_own() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 20).await;
    let mut settings = app.settings.projectors.read_models();
    settings.search_replica = "replica-b".into();
    let replica = Stores::new(
        app.stores().pool,
        app.data.path().join("search-b"),
        settings,
    );
    assert_eq!(replica.key("search"), "search@replica-b");
    assert_eq!(replica.key("order-views"), "order-views");
    let on_replica = Replay::new(
        replica.clone(),
        app.codec(),
        &broker.bootstrap(),
        &app.settings.projectors.runtime(),
        &app.settings.replay,
    )
    .unwrap();
    let rebuilt = rebuild(&on_replica, "search", &RebuildOptions::default()).await;
    assert!(
        matches!(rebuilt.outcome, Outcome::Swapped { replaced: 1 }),
        "{rebuilt:?}"
    );

    let pool = app.stores().pool;
    assert_eq!(
        generations::live(&pool, "search@replica-b").await.unwrap(),
        Generation(2)
    );
    assert_eq!(
        generations::live(&pool, "search").await.unwrap(),
        Generation(1)
    );
    let serving_b = Serving::open(replica).await.unwrap();
    assert_eq!(serving_b.current().search.generation(), Generation(2));
    assert!(
        !app.serving.refresh().await.unwrap(),
        "the other replica did not move"
    );
    assert_eq!(app.serving.current().search.generation(), Generation(1));
}
