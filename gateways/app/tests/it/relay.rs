//! The relay against a real broker: everything stored reaches Kafka in per-aggregate order,
//! a killed relay loses nothing, a stopped broker holds nothing up, and PostgreSQL's
//! out-of-order commits never make it skip.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use eventmall::demo::{self, DemoPlan};
use eventmall_events::{AnyEvent, StoredEvent};
use eventmall_store::EventBackend;

use crate::helpers::{TestApp, delivered, postgres_backend_typed, spawn_app, spawn_sqlite_app};
use crate::kafka::{Record, TestBroker, drain};

pub const TOPICS: [&str; 3] = [
    "eventmall.products.v1",
    "eventmall.orders.v1",
    "eventmall.payments.v1",
];

/// Checks the topics against the store; answers how many records were duplicates.
pub async fn verify(h: &TestApp, records: &[Record]) -> usize {
    let stored = h.stored().await;
    let by_id: HashMap<String, &StoredEvent> = stored
        .iter()
        .map(|e| (e.metadata.event_id.to_string(), e))
        .collect();
    let codec = h.codec();
    let mut first: HashMap<&str, &Record> = HashMap::new();
    let mut duplicates = 0;
    for record in records {
        let event_id = record.header("event_id");
        let event = by_id
            .get(event_id)
            .unwrap_or_else(|| panic!("{event_id} is on Kafka but not in the store"));
        match first.get(event_id) {
            Some(earlier) => {
                duplicates += 1;
                assert_eq!(
                    earlier.payload(),
                    record.payload(),
                    "a duplicate of {event_id} differs"
                );
                assert_eq!(earlier.headers, record.headers);
            }
            None => {
                first.insert(event_id, record);
                let decoded = codec.decode(record.payload()).await.unwrap();
                let expected =
                    AnyEvent::from_stored(&event.aggregate_type, &event.event_type, &event.payload)
                        .unwrap();
                assert_eq!(decoded, expected);
                assert_eq!(record.key, event.aggregate_id);
                assert_eq!(record.header("sequence"), event.sequence.to_string());
                assert_eq!(
                    record.header("global_position"),
                    event.global_position.to_string()
                );
                assert_eq!(record.header("event_type"), event.event_type);
                assert_eq!(record.header("aggregate_type"), event.aggregate_type);
                assert_eq!(
                    record.header("correlation_id"),
                    event.metadata.correlation_id
                );
                assert_eq!(record.header("causation_id"), event.metadata.causation_id);
            }
        }
    }
    let missing: Vec<_> = by_id
        .keys()
        .filter(|id| !first.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} stored events never reached Kafka",
        missing.len()
    );

    // Per aggregate: one partition, and first deliveries in sequence order.
    let mut seen = HashSet::new();
    let mut per_aggregate: HashMap<(&str, &str), (i32, i64)> = HashMap::new();
    for record in records {
        if !seen.insert(record.header("event_id")) {
            continue;
        }
        let sequence: i64 = record.header("sequence").parse().unwrap();
        let key = (record.topic.as_str(), record.key.as_str());
        if let Some((partition, previous)) = per_aggregate.get(&key) {
            assert_eq!(
                *partition, record.partition,
                "{key:?} spread over partitions"
            );
            assert_eq!(
                sequence,
                previous + 1,
                "{key:?}: {sequence} after {previous}"
            );
        } else {
            assert_eq!(sequence, 1, "{key:?} starts at {sequence}");
        }
        per_aggregate.insert(key, (record.partition, sequence));
    }
    duplicates
}

pub fn plan(orders: usize, seed: u64) -> DemoPlan {
    DemoPlan {
        partners: 3,
        products_per_partner: 10,
        customers: 30,
        orders,
        seed,
        concurrency: 8,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_event_reaches_kafka_in_aggregate_order() {
    let broker = TestBroker::in_memory().await;
    let h = spawn_sqlite_app().await;
    demo::run(&h.feeds(), plan(40, 1)).await.unwrap();
    let (relay, stop) = h.start_relay(&broker).await;
    // More events while the relay runs.
    demo::run(&h.feeds(), plan(80, 1)).await.unwrap();
    h.wait_published(h.last_position().await).await;
    stop.cancel();
    relay.await.unwrap();

    let records = drain(&broker.bootstrap(), &TOPICS);
    assert_eq!(
        verify(&h, &records).await,
        0,
        "a clean run publishes each event once"
    );
    assert_topics_keep_everything(&broker.bootstrap()).await;
}

/// The relay created its topics with the configured partition count and infinite retention.
async fn assert_topics_keep_everything(bootstrap: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let config = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .clone();
    let admin: AdminClient<DefaultClientContext> = config.create().unwrap();
    let specifiers: Vec<_> = TOPICS
        .iter()
        .map(|topic| ResourceSpecifier::Topic(topic))
        .collect();
    let described = admin
        .describe_configs(&specifiers, &AdminOptions::new())
        .await
        .unwrap();
    let consumer: BaseConsumer = config.create().unwrap();
    for (topic, resource) in TOPICS.iter().zip(described) {
        let resource = resource.unwrap();
        let retention = resource.get("retention.ms").and_then(|e| e.value.clone());
        assert_eq!(retention.as_deref(), Some("-1"), "{topic} retention");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let partitions = metadata.topics()[0].partitions().len() as i32;
        assert_eq!(
            partitions,
            crate::kafka::kafka_settings().partitions,
            "{topic}"
        );
    }
}

/// Records on `topics` now: the sum of their partitions' end offsets.
fn records_on(bootstrap: &str, topics: &[&str]) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer = eventmall_kafka::client_config(bootstrap)
        .set("group.id", "watermarks")
        .create()
        .unwrap();
    eventmall_kafka::partition_ends(&consumer, topics, Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|(_, _, end)| end)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_process_killed_mid_stream_loses_nothing_and_resends_with_the_same_event_ids() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let broker = TestBroker::in_memory().await;
    let (backend, db) = crate::helpers::postgres_backend().await;
    let h = spawn_app((backend, db)).await;
    demo::run(&h.feeds(), plan(600, 3)).await.unwrap();
    let stored = h.stored().await;
    let last = h.last_position().await;

    // A relay as the compose file runs it: its own process, small batches.
    let data = tempfile::tempdir().unwrap();
    let mut relay = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("relay")
        .env("EVENTMALL__STORE__URL", h.store_url())
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("EVENTMALL__KAFKA__PARTITIONS", "3")
        .env("EVENTMALL__RELAY__BATCH_SIZE", "20")
        .env("EVENTMALL__RELAY__LEASE_TTL_MS", "2000")
        .env("EVENTMALL__LOG__FILTER", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Kill it while the broker holds records past the position it has recorded: those are
    // sent again by the next relay.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never caught the relay ahead of its position"
        );
        if let Some(status) = relay.try_wait().unwrap() {
            panic!("the relay exited on its own: {status}");
        }
        let published = h.published().await;
        let recorded = stored
            .iter()
            .filter(|e| e.global_position <= published)
            .count() as i64;
        if published > 0 && published < last && records_on(&broker.bootstrap(), &TOPICS) > recorded
        {
            let pid = Pid::from_raw(i32::try_from(relay.id().unwrap()).unwrap());
            kill(pid, Signal::SIGKILL).unwrap();
            break published;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    relay.wait().await.unwrap();
    assert!(
        at_kill < last,
        "the relay finished before it could be killed"
    );

    // The killed relay never released its lease; the next one takes over when it expires.
    let (relay, stop) = h.start_relay(&broker).await;
    h.wait_published(last).await;
    stop.cancel();
    relay.await.unwrap();

    let records = drain(&broker.bootstrap(), &TOPICS);
    let duplicates = verify(&h, &records).await;
    assert!(
        duplicates > 0,
        "killed at position {at_kill} of {last} with records past it on Kafka, yet none was sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_accepted_while_the_broker_is_down_and_the_relay_catches_up() {
    let mut broker = TestBroker::durable().await;
    let h = spawn_sqlite_app().await;
    let (relay, stop) = h.start_relay(&broker).await;
    demo::run(&h.feeds(), plan(20, 4)).await.unwrap();
    h.wait_published(h.last_position().await).await;

    broker.stop().await;
    let report = demo::run(&h.feeds(), plan(40, 4)).await.unwrap();
    assert!(
        report.events_appended > 0,
        "commands were refused with the broker down"
    );
    // A window in which a relay that published without a broker would have done so.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let behind = h.published().await;
    assert!(
        behind < h.last_position().await,
        "published without a broker"
    );

    broker.restart().await;
    h.wait_published(h.last_position().await).await;
    stop.cancel();
    relay.await.unwrap();
    let records = drain(&broker.bootstrap(), &TOPICS);
    verify(&h, &records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_out_of_order_commit_never_makes_the_relay_skip() {
    let broker = TestBroker::in_memory().await;
    let (typed, db) = postgres_backend_typed().await;
    let h = spawn_app((typed.clone(), db)).await;
    let (relay, stop) = h.start_relay(&broker).await;
    let first = typed.append(delivered("first")).await.unwrap();
    h.wait_published(first.positions[0]).await;

    // A takes a position and stays open; B takes a later one and commits first.
    let mut held = typed.pool().begin().await.unwrap();
    let a = typed
        .append_in(&mut held, &delivered("held"))
        .await
        .unwrap()
        .unwrap();
    let b = typed.append(delivered("later")).await.unwrap();
    assert!(a.positions[0] < b.positions[0]);
    // A window in which a relay that skipped the open transaction would have published B.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        h.published().await < a.positions[0],
        "the relay moved past a transaction still open"
    );

    held.commit().await.unwrap();
    h.wait_published(b.positions[0]).await;
    stop.cancel();
    relay.await.unwrap();
    let records = drain(&broker.bootstrap(), &TOPICS[1..2]);
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    for id in ["first", "held", "later"] {
        assert!(keys.contains(&id), "{id} never reached Kafka: {keys:?}");
    }
    verify(&h, &records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_keeps_one_relay_active_and_a_standby_takes_over() {
    let broker = TestBroker::in_memory().await;
    let h = spawn_sqlite_app().await;
    let (first, stop_first) = h.start_relay(&broker).await;
    let (second, stop_second) = h.start_relay(&broker).await;
    demo::run(&h.feeds(), plan(30, 8)).await.unwrap();
    h.wait_published(h.last_position().await).await;
    let records = drain(&broker.bootstrap(), &TOPICS);
    assert_eq!(
        verify(&h, &records).await,
        0,
        "two relays published at once"
    );

    // The active one stops and gives the lease up; the standby carries on.
    let holder = h.get("/v1/relay").await.body[0]["holder"].clone();
    stop_first.cancel();
    first.await.unwrap();
    demo::run(&h.feeds(), plan(60, 8)).await.unwrap();
    h.wait_published(h.last_position().await).await;
    assert_ne!(h.get("/v1/relay").await.body[0]["holder"], holder);
    stop_second.cancel();
    second.await.unwrap();
    let records = drain(&broker.bootstrap(), &TOPICS);
    assert_eq!(verify(&h, &records).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_reports_its_lag_in_events_and_seconds() {
    let broker = TestBroker::in_memory().await;
    let h = spawn_sqlite_app().await;
    let (relay, stop) = h.start_relay(&broker).await;
    demo::run(&h.feeds(), plan(10, 9)).await.unwrap();
    h.wait_published(h.last_position().await).await;
    let caught_up = h.get("/v1/relay").await.body[0].clone();
    assert_eq!(caught_up["lag_events"], 0, "{caught_up}");
    assert_eq!(caught_up["lag_seconds"], 0.0);
    stop.cancel();
    relay.await.unwrap();

    let report = demo::run(&h.feeds(), plan(20, 9)).await.unwrap();
    // Let the unpublished events age, so that the lag in seconds has something to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let behind = h.get("/v1/relay").await.body[0].clone();
    assert_eq!(behind["lag_events"], report.events_appended, "{behind}");
    assert!(behind["lag_seconds"].as_f64().unwrap() >= 0.3, "{behind}");
    assert_eq!(
        behind["published_position"],
        caught_up["published_position"]
    );
}

/// A relay whose lease renewal hangs must stop producing once its lease is past its expiry:
/// by then a standby may hold the lease and publish the same positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_relay_stops_producing_when_its_lease_expires_unrenewed() {
    let broker = TestBroker::in_memory().await;
    let (typed, db) = postgres_backend_typed().await;
    let h = spawn_app((typed.clone(), db)).await;
    let (relay, stop) = h.start_relay(&broker).await;
    let first = typed.append(delivered("first")).await.unwrap();
    h.wait_published(first.positions[0]).await;

    // Renewals hang behind a lock on the relay's table; appending and reading events do not
    // (SHARE mode takes no transaction id: ACCESS EXCLUSIVE would, and hold back the reads).
    let mut lock = typed.pool().begin().await.unwrap();
    sqlx::query("LOCK TABLE relay_state IN SHARE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let locked = tokio::time::Instant::now();
    let ttl = Duration::from_millis(crate::kafka::relay_settings().lease_ttl_ms);
    let mut appended = 0;
    let mut produced_after_expiry = None;
    while locked.elapsed() < ttl * 2 {
        typed
            .append(delivered(&format!("during-{appended}")))
            .await
            .unwrap();
        appended += 1;
        if produced_after_expiry.is_none() && locked.elapsed() > ttl + Duration::from_millis(500) {
            produced_after_expiry = Some(drain(&broker.bootstrap(), &TOPICS[1..2]).len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_expiry = produced_after_expiry.unwrap();
    let later = drain(&broker.bootstrap(), &TOPICS[1..2]).len();
    assert_eq!(
        later,
        at_expiry,
        "{} records produced after the lease expired",
        later - at_expiry
    );

    // With the table free again, the relay takes its lease back and publishes the rest.
    lock.commit().await.unwrap();
    h.wait_published(h.last_position().await).await;
    stop.cancel();
    relay.await.unwrap();
    let records = drain(&broker.bootstrap(), &TOPICS[1..2]);
    let keys: HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), appended + 1, "every event reached Kafka");
}
