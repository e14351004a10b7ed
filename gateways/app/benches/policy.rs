//! The payment policy, in two parts.
//!
//! - **Placed → paid under a steady load**: orders placed with a wallet at BENCH_RATE a second
//!   (500) for BENCH_SECONDS (20), with the relay and the policy running in this process
//!   against a local broker, as `up` runs them. The latency of each order is from its
//!   `OrderPlaced` to its `OrderPaid`, both as the event store recorded them (one clock): the
//!   relay, the broker, the policy's four steps (request, authorize, capture, mark paid) and
//!   the three relays between them.
//! - **Catch-up**: `eventmall policy` as its own process, a new consumer group reading a log
//!   of about BENCH_EVENTS (1,000,000) order and payment events whose steps are all done (the
//!   event store holds the same world): what a new group, a reset or a republish costs. Beside
//!   it, in the same run, (a) consuming the same topics and decoding every record with our
//!   codec: no consumer of these topics can beat it.
//!
//! `cargo bench -p eventmall --bench policy`
//! Environment: BENCH_PART (`latency`, `catch-up`, or both when unset), BENCH_RATE,
//! BENCH_SECONDS, BENCH_EVENTS, EVENTMALL_TEST_BROKER (the nisshi binary).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use eventmall_aggregates::OrderCommand;
use eventmall_aggregates::order::LineRequest;
use eventmall_events::{AnyEvent, CommandMetadata, CustomerId, OrderId, ProductId, WalletId};
use eventmall_store::{Append, CommandRequest, Dispatch, EventBackend, NewEvent};
use futures::StreamExt;
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use support::log::{Event, log_broker, log_codec, produce, world_with_payments};
use support::{
    app_on_broker, consume_and_decode, env, process_peak_mib, process_status_mib,
    register_products, total_records,
};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    if part.is_empty() || part == "latency" {
        latency().await;
    }
    if part.is_empty() || part == "catch-up" {
        catch_up().await;
    }
}

async fn latency() {
    let rate = env("BENCH_RATE", 500);
    let seconds = env("BENCH_SECONDS", 20);
    let data = tempfile::tempdir().unwrap();
    let (broker, settings, app) = app_on_broker(data.path()).await;
    let stop = CancellationToken::new();
    let bootstrap = broker.bootstrap_servers();
    let relay = tokio::spawn(
        app.relay(&settings, bootstrap)
            .await
            .unwrap()
            .run(stop.clone()),
    );
    let policy = tokio::spawn(
        app.policy(&settings, bootstrap)
            .await
            .unwrap()
            .run(stop.clone()),
    );
    let commands = app.commands().clone();
    let products: Vec<ProductId> = register_products(&commands, 500).await;
    let hop = one_hop(bootstrap, stop.clone()).await;

    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut placed = tokio::task::JoinSet::new();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        sent += 1;
        let customer = format!("customer-{:05}", sent % 20_000);
        let command = OrderCommand::Place {
            order_id: OrderId::new(),
            customer_id: CustomerId(customer.clone()),
            lines: vec![LineRequest {
                product_id: products[sent % products.len()],
                quantity: 1,
            }],
            wallet_id: Some(WalletId(format!("wallet-{customer}"))),
            shipping: None,
        };
        let commands = commands.clone();
        placed.spawn(async move {
            let OrderCommand::Place { order_id, .. } = &command else {
                unreachable!()
            };
            let request =
                CommandRequest::new(order_id, command.clone(), CommandMetadata::new_root(None));
            commands.dispatch(request).await.is_ok()
        });
    }
    let offered = sent as f64 / started.elapsed().as_secs_f64();
    let accepted = placed.join_all().await.into_iter().filter(|ok| *ok).count();

    // Every accepted order paid (or, past a minute, what was).
    let backend = commands.backend().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut times = order_times(backend.as_ref()).await;
    while times.values().filter(|(_, paid)| paid.is_some()).count() < accepted
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        times = order_times(backend.as_ref()).await;
    }
    let mut lags = Histogram::<u64>::new(3).unwrap();
    for (placed, paid) in times.values() {
        if let Some(paid) = paid {
            let micros = (*paid - *placed).num_microseconds().unwrap_or(0).max(0);
            lags.record(micros as u64).unwrap();
        }
    }
    stop.cancel();
    let hop = hop.await.unwrap();
    println!("placed → paid, wallet orders at {offered:.0}/s for {seconds} s");
    println!(
        "| orders accepted | paid | p50 ms | p99 ms | p99.9 ms | max ms | reference: one hop p50 / p99 ms | p50 ÷ 4 hops | p99 ÷ 4 hops |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {accepted} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {:.2} | {:.2} |",
        lags.len(),
        ms(&lags, 0.5),
        ms(&lags, 0.99),
        ms(&lags, 0.999),
        lags.max() as f64 / 1000.0,
        ms(&hop, 0.5),
        ms(&hop, 0.99),
        ms(&lags, 0.5) / (4.0 * ms(&hop, 0.5)),
        ms(&lags, 0.99) / (4.0 * ms(&hop, 0.99)),
    );
    let _ = relay.await;
    let _ = policy.await;
    broker.stop().await;
}

/// The reference: how long after it is stored a plain consumer of the order topic, doing
/// nothing with it, sees an `OrderPlaced` (the relay, the broker and one consume: the transport
/// each of the policy's four steps waits on). Runs until `stop`.
async fn one_hop(
    bootstrap: &str,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Histogram<u64>> {
    use rdkafka::Message;
    use rdkafka::consumer::StreamConsumer;
    use rdkafka::message::Headers;
    let consumer: StreamConsumer = eventmall_kafka::client_config(bootstrap)
        .set("group.id", "bench-one-hop")
        .set("auto.offset.reset", "latest")
        .set("fetch.wait.max.ms", "25")
        .create()
        .unwrap();
    consumer
        .subscribe(&[eventmall_events::order::OrderEvent::TOPIC])
        .unwrap();
    // Join the group before the load starts.
    let _ = tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await;
    tokio::spawn(async move {
        let mut hops = Histogram::<u64>::new(3).unwrap();
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return hops,
                message = consumer.recv() => message,
            };
            let Ok(message) = message else { continue };
            let placed = message.headers().is_some_and(|headers| {
                headers
                    .iter()
                    .any(|h| h.key == "event_type" && h.value == Some(b"OrderPlaced".as_slice()))
            });
            if let (true, Some(stored_ms)) = (placed, message.timestamp().to_millis()) {
                let micros = (chrono::Utc::now().timestamp_millis() - stored_ms).max(0) * 1000;
                hops.record(micros as u64).unwrap();
            }
        }
    })
}

/// Each order's placement and payment as the store recorded them.
async fn order_times(
    backend: &dyn EventBackend,
) -> HashMap<
    String,
    (
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
> {
    let mut times = HashMap::new();
    let mut after = 0;
    loop {
        let page = backend.read_after(after, 10_000).await.unwrap();
        let Some(last) = page.last() else {
            return times;
        };
        after = last.global_position;
        for event in page {
            let at = event.metadata.recorded_at;
            match event.event_type.as_str() {
                "OrderPlaced" => {
                    times.insert(event.aggregate_id, (at, None));
                }
                "OrderPaid" => {
                    if let Some(entry) = times.get_mut(&event.aggregate_id) {
                        entry.1 = Some(at);
                    }
                }
                _ => {}
            }
        }
    }
}

async fn catch_up() {
    let total = env("BENCH_EVENTS", 1_000_000) as usize;
    let broker_dir = tempfile::tempdir().unwrap();
    let (broker, bootstrap) = log_broker(broker_dir.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    let log = world_with_payments(total, 2_000);
    {
        // The store holds the world the log tells: every step done.
        let backend = eventmall_store::connect(&store_url, 2).await.unwrap();
        let started = Instant::now();
        store(backend.as_ref(), &log).await;
        println!(
            "store: {} events appended in {:.1} s",
            log.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let codec = log_codec(&store_url).await;
    produce(&bootstrap, &codec, &log).await;

    let topics = eventmall_kafka::policy::TOPICS;
    let expected = total_records(&bootstrap, &topics);
    let decoded = {
        let decoder = codec.codec().await;
        consume_and_decode(&bootstrap, &topics, expected, &decoder)
    };
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .args(["policy", "--data-dir"])
        .arg(data.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
        .env("EVENTMALL__STORE__URL", &store_url)
        .env("EVENTMALL__LOG__FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let group = eventmall_kafka::PolicySettings::default().group;
    let mut anonymous: f64 = 0.0;
    while committed(&bootstrap, &group, &topics) < expected {
        assert!(child.try_wait().unwrap().is_none(), "the policy exited");
        anonymous = anonymous.max(process_status_mib(pid, "RssAnon"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let peak = process_peak_mib(pid);
    child.kill().await.unwrap();
    let rate = |took: Duration| expected as f64 / took.as_secs_f64();
    println!(
        "| records | (a) consume+decode records/s | policy records/s | ÷ (a) | policy peak RSS MiB | of it anonymous MiB |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {expected} | {:.0} | {:.0} | {:.3} | {peak:.0} | {anonymous:.0} |",
        rate(decoded),
        rate(took),
        rate(took) / rate(decoded),
    );
    broker.stop().await;
}

/// Appends the log's events to the store, one append per aggregate, many at once.
async fn store(backend: &dyn EventBackend, log: &[Event]) {
    let mut aggregates: Vec<(&str, &str, Vec<&Event>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for event in log {
        let at = *index.entry(&event.aggregate_id).or_insert_with(|| {
            aggregates.push((event.aggregate_type, &event.aggregate_id, Vec::new()));
            aggregates.len() - 1
        });
        aggregates[at].2.push(event);
    }
    futures::stream::iter(aggregates)
        .map(|(aggregate_type, aggregate_id, events)| async move {
            let events = events
                .into_iter()
                .map(|event| {
                    let (event_type, data) = stored(&event.event);
                    NewEvent {
                        event_type: event_type.to_owned(),
                        event_version: eventmall_events::EVENT_VERSION.to_owned(),
                        payload: data,
                        metadata: CommandMetadata::new_root(None).for_event(event.at),
                    }
                })
                .collect();
            let append = Append {
                aggregate_type: aggregate_type.to_owned(),
                aggregate_id: aggregate_id.to_owned(),
                expected_version: 0,
                events,
                snapshot: None,
                idempotency: None,
                refusal: None,
                timers: Vec::new(),
            };
            backend.append(append).await.unwrap();
        })
        .buffer_unordered(512)
        .collect::<Vec<_>>()
        .await;
}

/// An event as the store keeps it: its type and its data.
fn stored(event: &AnyEvent) -> (&'static str, serde_json::Value) {
    let tagged = match event {
        AnyEvent::Product(e) => serde_json::to_value(e),
        AnyEvent::Order(e) => serde_json::to_value(e),
        AnyEvent::Payment(e) => serde_json::to_value(e),
    };
    let mut tagged = tagged.unwrap();
    (event.event_type(), tagged["data"].take())
}

/// Records of `topics` the group has committed past.
fn committed(bootstrap: &str, group: &str, topics: &[&str]) -> usize {
    let consumer: BaseConsumer = eventmall_kafka::client_config(bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    for topic in topics {
        for partition in 0..6 {
            list.add_partition(topic, partition);
        }
    }
    let Ok(committed) = consumer.committed_offsets(list, Duration::from_secs(5)) else {
        return 0;
    };
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(offset) => usize::try_from(offset).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
