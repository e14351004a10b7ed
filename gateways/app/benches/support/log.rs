//! The log the projector and replay benchmarks read: a catalog and its orders, produced once
//! with the relay's headers.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use eventmall_events::order::*;
use eventmall_events::payment::*;
use eventmall_events::product::*;
use eventmall_events::{
    AnyEvent, CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId,
};
use eventmall_kafka::client_config;
use eventmall_projections::Projection;
use eventmall_registry::RegisteredCodec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

pub const PRODUCTS: &str = ProductEvent::TOPIC;
pub const ORDERS: &str = OrderEvent::TOPIC;
pub const PAYMENTS: &str = PaymentEvent::TOPIC;

/// A local in-memory broker with the aggregates' topics (six partitions each) and the dead
/// letters' topic; answers it and its bootstrap servers.
pub async fn log_broker(dir: &std::path::Path) -> (eventmall_kafka::broker::LocalBroker, String) {
    let broker = super::start_broker("memory://nisshi/", dir).await;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let kafka = eventmall_kafka::KafkaSettings {
        partitions: 6,
        ..eventmall_kafka::KafkaSettings::default()
    };
    let topics = [
        PRODUCTS,
        ORDERS,
        PAYMENTS,
        eventmall_events::dead_letter::TOPIC,
    ];
    eventmall_kafka::ensure_topics(&bootstrap, &kafka, &topics)
        .await
        .unwrap();
    (broker, bootstrap)
}

/// The codec over the embedded registry in the store at `store_url`, with today's schemas
/// registered.
pub async fn log_codec(store_url: &str) -> RegisteredCodec {
    use eventmall_registry::{Level, RegistryStore};
    let store_pool = eventmall_store::connect_pool(store_url).await.unwrap();
    let codec = RegisteredCodec::new(std::sync::Arc::new(RegistryStore::new(
        store_pool,
        Level::BackwardTransitive,
    )));
    codec
        .register(&eventmall_events::avro::contract())
        .await
        .unwrap();
    codec
}

pub struct Event {
    pub aggregate_id: String,
    pub aggregate_type: &'static str,
    pub sequence: i64,
    pub at: DateTime<Utc>,
    pub event: AnyEvent,
}

/// A catalog and its orders: each order placed, paid, shipped, delivered and confirmed, one
/// in ten cancelled after payment instead; about `total` events.
pub fn world(total: usize, products: usize) -> Vec<Event> {
    world_of(total, products, false)
}

/// [`world`] with its orders placed with a wallet and paid by the payment policy: each order's
/// payment (its id derived from the order's) requested, authorized and captured, and refunded
/// when the order is cancelled.
pub fn world_with_payments(total: usize, products: usize) -> Vec<Event> {
    world_of(total, products, true)
}

fn world_of(total: usize, products: usize, payments: bool) -> Vec<Event> {
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
        let customer = CustomerId(format!("customer-{:05}", rng.random_range(0..50_000)));
        let wallet = payments.then(|| WalletId(format!("wallet-{}", customer.0)));
        let payment_id = match payments {
            true => PaymentId::for_order(order),
            false => PaymentId::new(),
        };
        let mut life = vec![
            OrderEvent::OrderPlaced(OrderPlaced {
                order_id: order,
                customer_id: customer.clone(),
                partner_id: PartnerId(format!("partner-{:03}", first % 50)),
                lines,
                total: total_price,
                wallet_id: wallet.clone(),
                shipping: None,
            }),
            OrderEvent::OrderPaid(OrderPaid {
                payment_id,
                amount: total_price,
            }),
        ];
        let cancelled = rng.random_bool(0.1);
        if let Some(wallet_id) = wallet {
            let mut paid = vec![
                PaymentEvent::PaymentRequested(PaymentRequested {
                    payment_id,
                    order_id: order,
                    customer_id: customer,
                    wallet_id,
                    amount: total_price,
                }),
                PaymentEvent::PaymentAuthorized(PaymentAuthorized {
                    authorization_code: format!("SIM-{minute}"),
                    amount: total_price,
                }),
                PaymentEvent::PaymentCaptured(PaymentCaptured {
                    amount: total_price,
                }),
            ];
            if cancelled {
                paid.push(PaymentEvent::PaymentRefunded(PaymentRefunded {
                    amount: total_price,
                    refunded_total: total_price,
                    reason: "order cancelled: changed mind".into(),
                }));
            }
            for (sequence, event) in (1..).zip(paid) {
                events.push(Event {
                    aggregate_id: payment_id.to_string(),
                    aggregate_type: PaymentEvent::AGGREGATE_TYPE,
                    sequence,
                    at,
                    event: AnyEvent::Payment(event),
                });
            }
        }
        if cancelled {
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

pub async fn applied(projection: &dyn Projection) -> usize {
    let sum: i64 = projection
        .checkpoints()
        .await
        .unwrap()
        .iter()
        .map(|c| c.next_offset)
        .sum();
    usize::try_from(sum).unwrap()
}

/// Produces `events` to `bootstrap` as the relay would: encoded with `codec`, keyed by
/// aggregate, with its headers and the event's time.
pub async fn produce(bootstrap: &str, codec: &RegisteredCodec, events: &[Event]) {
    let producer: FutureProducer = client_config(bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "2000000")
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(events.len());
    {
        let encoder = codec.codec().await;
        for (position, e) in (1..).zip(events) {
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
    let on = |topic: &str| events.iter().filter(|e| e.event.topic() == topic).count();
    println!(
        "log: {} events ({} on {ORDERS}, {} on {PAYMENTS}, {} on {PRODUCTS}) produced in {:.1} s",
        events.len(),
        on(ORDERS),
        on(PAYMENTS),
        on(PRODUCTS),
        started.elapsed().as_secs_f64()
    );
}
