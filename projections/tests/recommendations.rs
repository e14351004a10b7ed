//! Recommendation math: cosine co-purchase counts kept incrementally (and taken back by
//! cancellations and returns), decayed trends, personalized picks, and the offline evaluation.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use eventmall_events::order::*;
use eventmall_events::{CustomerId, Money, PartnerId, PaymentId, ProductId};
use eventmall_projections::Envelope;
use eventmall_projections::recommendations::*;
use uuid::Uuid;

const CLOCK: TrendClock = TrendClock {
    half_life_hours: 24.0,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn product(name: &str) -> ProductId {
    ProductId::for_partner_sku(&PartnerId("p".into()), name)
}

fn id(name: &str) -> String {
    product(name).to_string()
}

struct Orders {
    counts: Counts,
}

impl Orders {
    fn new() -> Self {
        Self {
            counts: Counts::default(),
        }
    }

    fn event(&mut self, order: &str, sequence: i64, at: DateTime<Utc>, event: OrderEvent) {
        let envelope = Envelope {
            event_id: Uuid::now_v7(),
            aggregate_id: order.to_owned(),
            sequence,
            recorded_at: at,
            event,
        };
        self.counts
            .apply(&envelope, CLOCK)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Places and pays an order of one unit of each product.
    fn buy(&mut self, order: &str, customer: &str, products: &[&str], at: DateTime<Utc>) {
        let lines = products
            .iter()
            .enumerate()
            .map(|(i, name)| OrderLine {
                line_no: i as u32 + 1,
                product_id: product(name),
                title: (*name).into(),
                category: vec!["가전".into(), "청소기".into()],
                unit_price: Money::krw(1),
                quantity: 1,
            })
            .collect();
        self.event(
            order,
            1,
            at,
            OrderEvent::OrderPlaced(OrderPlaced {
                order_id: Default::default(),
                customer_id: CustomerId(customer.into()),
                partner_id: PartnerId("p".into()),
                lines,
                total: Money::krw(1),
                wallet_id: None,
                shipping: None,
            }),
        );
        self.event(
            order,
            2,
            at,
            OrderEvent::OrderPaid(OrderPaid {
                payment_id: PaymentId::new(),
                amount: Money::krw(1),
            }),
        );
    }

    fn together(&self, a: &str, b: &str) -> i64 {
        self.counts
            .together
            .get(&(id(a), id(b)))
            .copied()
            .unwrap_or_default()
    }

    fn also(&self, a: &str, b: &str) -> i64 {
        self.counts
            .also
            .get(&(id(a), id(b)))
            .copied()
            .unwrap_or_default()
    }

    fn items(&self, a: &str) -> (i64, i64) {
        self.counts.items.get(&id(a)).copied().unwrap_or_default()
    }
}

#[test]
fn cosine_of_co_purchase_counts() {
    assert!((cosine(2, 4, 1) - 1.0).abs() < 1e-12);
    assert!((cosine(1, 4, 4) - 0.25).abs() < 1e-12);
    assert_eq!(cosine(0, 4, 4), 0.0);
    assert_eq!(cosine(3, 0, 4), 0.0);
    let ranked = rank_neighbours(
        4,
        vec![("b".into(), 1, 1), ("c".into(), 2, 16), ("d".into(), 0, 1)],
        5,
    );
    let order: Vec<&str> = ranked.iter().map(|n| n.product_id.as_str()).collect();
    assert_eq!(
        order,
        ["b", "c"],
        "1/√4 = 0.5 beats 2/√64 = 0.25; no co-purchase, no neighbour"
    );
}

#[test]
fn baskets_count_pairs_both_ways_once() {
    let mut o = Orders::new();
    o.buy("o1", "kim", &["vacuum", "filter"], t0());
    o.buy("o2", "lee", &["vacuum", "filter", "stand"], t0());
    assert_eq!(
        (
            o.together("vacuum", "filter"),
            o.together("filter", "vacuum")
        ),
        (2, 2)
    );
    assert_eq!(
        (o.together("vacuum", "stand"), o.together("stand", "filter")),
        (1, 1)
    );
    assert_eq!(o.items("vacuum"), (2, 2));
}

#[test]
fn a_customers_history_makes_also_bought_pairs() {
    let mut o = Orders::new();
    o.buy("o1", "kim", &["vacuum"], t0());
    o.buy("o2", "kim", &["filter"], t0() + Duration::days(3));
    o.buy("o3", "kim", &["filter"], t0() + Duration::days(4));
    assert_eq!(o.together("vacuum", "filter"), 0, "never in one basket");
    assert_eq!(
        (o.also("vacuum", "filter"), o.also("filter", "vacuum")),
        (1, 1),
        "one customer, once"
    );
    assert_eq!(o.items("filter"), (2, 1), "two baskets, one buyer");
}

/// One customer's distinct products make pairs with each other: without a bound, 1,000 orders
/// of 100 products would be 10^10 rows. Only the first products a customer holds pair up, and
/// a place freed by a cancellation goes to the next product bought.
#[test]
fn a_customers_also_bought_pairs_are_bounded() {
    let mut o = Orders::new();
    // One product an order first, so the order they are held in is known; then in bulk.
    let names: Vec<String> = (0..200).map(|n| format!("p{n}")).collect();
    for (n, name) in names[..60].iter().enumerate() {
        o.buy(&format!("o{n}"), "whale", &[name], t0());
    }
    for (n, chunk) in names[60..].chunks(20).enumerate() {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        o.buy(&format!("bulk{n}"), "whale", &chunk, t0());
    }
    let pairs = o.counts.also.values().filter(|n| **n != 0).count();
    assert_eq!(pairs, MAX_PAIRED_PRODUCTS * (MAX_PAIRED_PRODUCTS - 1));
    assert_eq!(
        o.items("p199"),
        (1, 1),
        "every product still counts its buyer"
    );
    assert_eq!(o.also("p0", "p49"), 1);
    assert_eq!(o.also("p0", "p50"), 0, "past the bound");

    // Cancelling the first order frees 20 places; the next products bought take them.
    o.event(
        "o0",
        3,
        t0(),
        OrderEvent::OrderCancelled(OrderCancelled {
            reason: "변심".into(),
            refund_due: true,
        }),
    );
    assert_eq!(o.also("p0", "p49"), 0);
    o.buy("late", "whale", &["new"], t0());
    assert_eq!(o.also("new", "p49"), 1);
    assert_eq!(o.also("new", "p60"), 0);
}

#[test]
fn cancellations_and_returns_take_counts_back() {
    let mut o = Orders::new();
    o.buy("o1", "kim", &["vacuum"], t0());
    o.buy("o2", "kim", &["filter", "stand"], t0());
    o.event(
        "o2",
        3,
        t0(),
        OrderEvent::OrderCancelled(OrderCancelled {
            reason: "x".into(),
            refund_due: true,
        }),
    );
    assert_eq!(o.together("filter", "stand"), 0);
    assert_eq!(o.also("vacuum", "filter"), 0);
    assert_eq!(o.items("filter"), (0, 0));

    o.buy("o3", "lee", &["vacuum", "filter"], t0());
    o.event(
        "o3",
        3,
        t0(),
        OrderEvent::OrderShipped(OrderShipped {
            carrier: "CJ".into(),
            tracking_number: "1".into(),
        }),
    );
    o.event(
        "o3",
        4,
        t0(),
        OrderEvent::OrderDelivered(OrderDelivered { receiver: None }),
    );
    o.event(
        "o3",
        5,
        t0(),
        OrderEvent::OrderLinesReturned(OrderLinesReturned {
            lines: vec![ReturnedLine {
                line_no: 2,
                quantity: 1,
                amount: Money::krw(1),
            }],
            refund: Money::krw(1),
            reason: "broken".into(),
        }),
    );
    assert_eq!(
        (
            o.together("vacuum", "filter"),
            o.together("filter", "vacuum")
        ),
        (0, 0)
    );
    assert_eq!(o.items("filter"), (0, 0));
    assert_eq!(o.items("vacuum"), (2, 2), "kim's and lee's vacuums stay");
    let trend: f64 = o
        .counts
        .trending
        .iter()
        .filter(|((path, p), _)| path.is_empty() && *p == id("filter"))
        .map(|(_, s)| s)
        .sum();
    assert!(trend.abs() < 1e-9, "{trend}");
}

#[test]
fn a_redelivered_event_counts_once() {
    let mut o = Orders::new();
    o.buy("o1", "kim", &["vacuum", "filter"], t0());
    o.event(
        "o1",
        2,
        t0(),
        OrderEvent::OrderPaid(OrderPaid {
            payment_id: PaymentId::new(),
            amount: Money::krw(1),
        }),
    );
    assert_eq!(o.together("vacuum", "filter"), 1);
    assert_eq!(o.counts.duplicates, 1);
}

#[test]
fn trends_decay_by_the_half_life() {
    let now = t0() + Duration::hours(48);
    // Two half-lives ago, a unit weighs a quarter of one bought now.
    let old = CLOCK.decayed(CLOCK.weight(t0()), now);
    let new = CLOCK.decayed(CLOCK.weight(now), now);
    assert!(
        (new - 1.0).abs() < 1e-9 && (old - 0.25).abs() < 1e-9,
        "{old} {new}"
    );

    let mut o = Orders::new();
    for i in 0..3 {
        o.buy(&format!("old{i}"), "kim", &["vacuum"], t0());
    }
    o.buy("new", "lee", &["filter"], now);
    let score = |name: &str| o.counts.trending[&("가전/청소기".to_owned(), id(name))];
    assert!(
        score("filter") > score("vacuum"),
        "1 now beats 3 two half-lives ago (0.75)"
    );
}

#[test]
fn picks_explain_themselves_and_skip_what_was_bought() {
    let purchased: BTreeSet<String> = ["vacuum".to_owned()].into();
    let neighbours = vec![(
        "vacuum".to_owned(),
        rank_neighbours(
            4,
            vec![
                ("filter".into(), 3, 4),
                ("vacuum".into(), 4, 4),
                ("stand".into(), 1, 4),
            ],
            10,
        ),
    )];
    let picks = personalize(&purchased, &neighbours, &["fan".into(), "vacuum".into()], 4);
    let names: Vec<&str> = picks.iter().map(|p| p.product_id.as_str()).collect();
    assert_eq!(names, ["filter", "stand", "fan"]);
    assert_eq!(
        picks[0].reason,
        Reason::BecauseYouBought {
            product_id: "vacuum".into()
        }
    );
    assert_eq!(picks[2].reason, Reason::Popular);

    let cold = personalize(&BTreeSet::new(), &[], &["fan".into(), "vacuum".into()], 1);
    assert_eq!(cold[0].product_id, "fan");
    assert_eq!(cold[0].reason, Reason::Popular);
}

#[test]
fn evaluation_holds_out_last_orders_and_bundles_beat_popularity() {
    // Bundles (a, a') bought together; each customer buys one half first, later the other.
    let mut purchases = Vec::new();
    let mut day = 0;
    for customer in 0..40 {
        let bundle = customer % 8;
        for half in ["main", "extra"] {
            day += 1;
            let lines = vec![(product(&format!("{half}-{bundle}")), 1, vec!["c".into()])];
            purchases.push(Purchase {
                customer_id: format!("c{customer}"),
                order_id: Uuid::now_v7().to_string(),
                paid_at: t0() + Duration::hours(day),
                lines,
            });
        }
    }
    // Others buy whole bundles at once, so the pairs are learned.
    for buyer in 0..16 {
        let bundle = buyer % 8;
        purchases.push(Purchase {
            customer_id: format!("whole{buyer}"),
            order_id: Uuid::now_v7().to_string(),
            paid_at: t0(),
            lines: vec![
                (product(&format!("main-{bundle}")), 1, vec!["c".into()]),
                (product(&format!("extra-{bundle}")), 1, vec!["c".into()]),
            ],
        });
    }
    let report = evaluate(&purchases, 10, CLOCK);
    assert_eq!(report.customers, 40);
    assert!(report.model.hit_at_k > 0.9, "{report:?}");
    assert!(
        report.model.recall_at_k > report.popularity.recall_at_k,
        "{report:?}"
    );
    assert!(
        report.model.precision_at_k > report.popularity.precision_at_k,
        "{report:?}"
    );
}
