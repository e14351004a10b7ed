//! Projector catch-up: each projector reads a topic of about a million events from offset 0 into
//! its read model, against raw rdkafka consumption of the same topics from the same broker in
//! the same run; with each phase's peak memory.
//!
//! `cargo bench -p eventmall --bench projectors`
//! Environment: BENCH_EVENTS (1000000), BENCH_PRODUCTS (20000), BENCH_PROJECTORS (all;
//! comma-separated names), BENCH_BATCH (2000), EVENTMALL_TEST_BROKER (the nisshi binary).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use eventmall_events::dead_letter::TOPIC as DEAD_LETTER_TOPIC;
use eventmall_events::order::*;
use eventmall_events::product::*;
use eventmall_events::{AnyEvent, CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId};
use eventmall_kafka::projector::Projector;
use eventmall_kafka::{KafkaSettings, ProjectorSettings};
use eventmall_kafka::{client_config, ensure_topics, partition_ends};
use eventmall_projections::Projection;
use eventmall_registry::{Level, RegisteredCodec, RegistryStore};

use eventmall_projections::Generation;
use eventmall_projections::recommendations::TrendClock;
use eventmall_read_models::{OrderViews, Recommendations, Search};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{env, peak_mib, raw_consume, reset_peak, start_broker};
use tokio_util::sync::CancellationToken;

const PRODUCTS: &str = ProductEvent::TOPIC;
const ORDERS: &str = OrderEvent::TOPIC;

struct Event {
    aggregate_id: String,
    aggregate_type: &'static str,
    sequence: i64,
    at: DateTime<Utc>,
    event: AnyEvent,
}

/// A catalog and its orders: each order placed, paid, shipped, delivered and confirmed, one
/// in ten cancelled after payment instead; about `total` events.
fn world(total: usize, products: usize) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).single().unwrap();
    let mut events = Vec::with_capacity(total + 8);
    let catalog: Vec<(ProductId, String, Vec<String>)> = (0..products)
        .map(|i| {
            let partner = PartnerId(format!("partner-{:03}", i % 50));
            let sku = format!("SKU-{i:06}");
            let id = ProductId::for_partner_sku(&partner, &sku);
            let category = vec![
                ["가전", "패션", "식품", "스포츠"][i % 4].to_owned(),
                format!("분류{}", i % 40),
            ];
            let title = format!(
                "{} {} 무선청소기 VS{:05}A 블랙",
                ["삼성", "LG", "다이슨", "나이키"][i % 4],
                ["남성", "여성", "공용"][i % 3],
                i
            );
            events.push(Event {
                aggregate_id: id.to_string(),
                aggregate_type: ProductEvent::AGGREGATE_TYPE,
                sequence: 1,
                at: start,
                event: AnyEvent::Product(ProductEvent::ProductRegistered(ProductRegistered {
                    product_id: id,
                    partner_id: partner,
                    sku,
                    details: ProductDetails {
                        title: title.clone(),
                        brand: Some(["삼성", "LG", "다이슨", "나이키"][i % 4].to_owned()),
                        category: category.clone(),
                        model_number: Some(format!("VS{i:05}A")),
                    },
                    price: Money::krw(10_000 + (i as i64 % 500) * 1_000),
                    stock: 100,
                })),
            });
            (id, title, category)
        })
        .collect();
    let mut minute = 0;
    while events.len() < total {
        minute += 1;
        let at = start + chrono::Duration::seconds(minute);
        let order = OrderId::new();
        let id = order.to_string();
        let first = rng.random_range(0..products.saturating_sub(3).max(1));
        let lines: Vec<OrderLine> = (0..rng.random_range(1..=3))
            .map(|n| {
                let (product_id, title, category) = &catalog[first + n];
                OrderLine {
                    line_no: n as u32 + 1,
                    product_id: *product_id,
                    title: title.clone(),
                    category: category.clone(),
                    unit_price: Money::krw(10_000),
                    quantity: 1,
                }
            })
            .collect();
        let total_price = Money::krw(10_000 * lines.len() as i64);
        let mut life = vec![
            OrderEvent::OrderPlaced(OrderPlaced {
                order_id: order,
                customer_id: CustomerId(format!("customer-{:05}", rng.random_range(0..50_000))),
                partner_id: PartnerId(format!("partner-{:03}", first % 50)),
                lines,
                total: total_price,
            }),
            OrderEvent::OrderPaid(OrderPaid {
                payment_id: PaymentId::new(),
                amount: total_price,
            }),
        ];
        if rng.random_bool(0.1) {
            life.push(OrderEvent::OrderCancelled(OrderCancelled {
                reason: "changed mind".into(),
                refund_due: true,
            }));
        } else {
            life.push(OrderEvent::OrderShipped(OrderShipped {
                carrier: "CJ".into(),
                tracking_number: format!("{minute}"),
            }));
            life.push(OrderEvent::OrderDelivered(OrderDelivered {
                receiver: None,
            }));
            life.push(OrderEvent::OrderPurchaseConfirmed(OrderPurchaseConfirmed {
                automatic: true,
            }));
        }
        for (sequence, event) in (1..).zip(life) {
            events.push(Event {
                aggregate_id: id.clone(),
                aggregate_type: OrderEvent::AGGREGATE_TYPE,
                sequence,
                at,
                event: AnyEvent::Order(event),
            });
        }
    }
    events
}

async fn applied(projection: &dyn Projection) -> usize {
    let sum: i64 = projection
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|c| c.next_offset)
        .sum();
    usize::try_from(sum).unwrap()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env("BENCH_EVENTS", 1_000_000) as usize;
    let products = env("BENCH_PRODUCTS", 20_000) as usize;
    let batch = env("BENCH_BATCH", 2_000) as usize;
    let chosen = std::env::var("BENCH_PROJECTORS").unwrap_or_default();
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = start_broker("memory://nisshi/", broker_dir.path()).await;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let kafka = KafkaSettings {
        partitions: 6,
        ..KafkaSettings::default()
    };
    ensure_topics(&bootstrap, &kafka, &[PRODUCTS, ORDERS, DEAD_LETTER_TOPIC])
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    eventmall_store::connect(&store_url, 2).await.unwrap();
    let store_pool = eventmall_store::connect_pool(&store_url).await.unwrap();
    let codec = RegisteredCodec::new(Arc::new(RegistryStore::new(
        store_pool,
        Level::BackwardTransitive,
    )));
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();

    // The log: every event encoded once and produced with the relay's headers.
    let events = world(total, products);
    let producer: FutureProducer = client_config(&bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "2000000")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(events.len());
    {
        let encoder = codec.codec().await;
        for (position, e) in (1..).zip(&events) {
            let mut payload = Vec::with_capacity(128);
            encoder.encode(&e.event, &mut payload).unwrap();
            let event_id = uuid::Uuid::now_v7().to_string();
            let sequence = e.sequence.to_string();
            let position = position.to_string();
            let mut headers = OwnedHeaders::new_with_capacity(5);
            for (key, value) in [
                ("event_id", event_id.as_str()),
                ("event_type", e.event.event_type()),
                ("aggregate_type", e.aggregate_type),
                ("sequence", sequence.as_str()),
                ("global_position", position.as_str()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record = FutureRecord::to(e.event.topic())
                .key(&e.aggregate_id)
                .payload(&payload)
                .headers(headers)
                .timestamp(e.at.timestamp_millis());
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    // The queue is full: wait for deliveries to drain it.
                    Err((_, back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }
    }
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
    let on_orders = events.iter().filter(|e| e.event.topic() == ORDERS).count();
    println!(
        "log: {} events ({} on {ORDERS}, {} on {PRODUCTS}) produced in {:.1} s",
        events.len(),
        on_orders,
        events.len() - on_orders,
        started.elapsed().as_secs_f64()
    );
    drop(events);

    let views_pool = eventmall_read_models::connect(&format!(
        "sqlite://{}",
        dir.path().join("views.db").display()
    ))
    .await
    .unwrap();
    let settings = ProjectorSettings {
        batch_size: batch,
        batch_wait_ms: 20,
        ..ProjectorSettings::default()
    };
    let clock = TrendClock {
        half_life_hours: 72.0,
    };
    let candidates: Vec<Arc<dyn Projection>> = vec![
        Arc::new(
            OrderViews::open(views_pool.clone(), Generation(1))
                .await
                .unwrap(),
        ),
        Arc::new(Search::open(&dir.path().join("search"), Generation(1), "").unwrap()),
        Arc::new(
            Recommendations::open(views_pool.clone(), Generation(1), clock)
                .await
                .unwrap(),
        ),
    ];
    println!(
        "| projector | records | raw rdkafka records/s | projector records/s | projector ÷ raw | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for projection in candidates {
        if !chosen.is_empty() && !chosen.split(',').any(|n| n == projection.name()) {
            continue;
        }
        let topics = projection.topics();
        let expected = total_records(&bootstrap, topics);
        let raw = raw_consume(&bootstrap, topics, expected);
        reset_peak();
        let stop = CancellationToken::new();
        let started = Instant::now();
        let running = Projector::new(projection.clone(), codec.clone(), &bootstrap, &settings)
            .unwrap()
            .spawn(stop.clone());
        while applied(projection.as_ref()).await < expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = started.elapsed();
        stop.cancel();
        running.await.unwrap().unwrap();
        let raw_rate = expected as f64 / raw.as_secs_f64();
        let rate = expected as f64 / took.as_secs_f64();
        println!(
            "| {} | {expected} | {raw_rate:.0} | {rate:.0} | {:.2} | {:.0} |",
            projection.name(),
            rate / raw_rate,
            peak_mib()
        );
    }
    broker.stop().await;
}

fn total_records(bootstrap: &str, topics: &[&str]) -> usize {
    let consumer: BaseConsumer = client_config(bootstrap).create().unwrap();
    partition_ends(&consumer, topics, Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|(_, _, end)| usize::try_from(*end).unwrap())
        .sum()
}
