//! Order views, sales and settlements from order events, without a database.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use eventmall_events::order::*;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId};
use eventmall_projections::orders::{
    CommissionRate, OrderChanges, OrderStatus, SalesDelta, SalesKey, Settlement, seoul_day,
};
use eventmall_projections::{Envelope, ProjectionError};
use uuid::Uuid;

const ORDER: &str = "0190a000-0000-7000-8000-000000000001";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
}

fn envelope(sequence: i64, when: &str, event: impl Into<OrderEvent>) -> Envelope<OrderEvent> {
    Envelope {
        event_id: Uuid::now_v7(),
        aggregate_id: ORDER.to_owned(),
        sequence,
        recorded_at: at(when),
        event: event.into(),
    }
}

fn line(line_no: u32, category: &str, unit_price: i64, quantity: u32) -> OrderLine {
    OrderLine {
        line_no,
        product_id: ProductId::for_partner_sku(&PartnerId("p-1".into()), &format!("sku-{line_no}")),
        title: format!("item {line_no}"),
        category: vec![category.to_owned(), "sub".to_owned()],
        unit_price: Money::krw(unit_price),
        quantity,
    }
}

fn placed(when: &str) -> Envelope<OrderEvent> {
    envelope(
        1,
        when,
        OrderPlaced {
            order_id: ORDER.parse::<OrderId>().unwrap_or_default(),
            customer_id: CustomerId("c-1".into()),
            partner_id: PartnerId("p-1".into()),
            lines: vec![line(1, "가전", 30_000, 2), line(2, "생활", 40_000, 1)],
            total: Money::krw(100_000),
            wallet_id: None,
            shipping: None,
        },
    )
}

fn paid(sequence: i64, when: &str) -> Envelope<OrderEvent> {
    envelope(
        sequence,
        when,
        OrderPaid {
            payment_id: PaymentId::new(),
            amount: Money::krw(100_000),
        },
    )
}

fn key(day: &str) -> SalesKey {
    SalesKey {
        partner_id: "p-1".into(),
        day: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap_or_default(),
        currency: eventmall_events::Currency::KRW,
    }
}

fn apply_all(events: &[Envelope<OrderEvent>]) -> OrderChanges {
    let mut changes = OrderChanges::default();
    for event in events {
        changes.apply(event).unwrap_or_else(|e| panic!("{e}"));
    }
    changes
}

#[test]
fn seoul_days_start_at_15_utc() {
    assert_eq!(
        seoul_day(at("2026-03-31T14:59:59Z")),
        NaiveDate::from_ymd_opt(2026, 3, 31).unwrap_or_default()
    );
    assert_eq!(
        seoul_day(at("2026-03-31T15:00:00Z")),
        NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default()
    );
    assert_eq!(
        seoul_day(
            Utc.with_ymd_and_hms(2026, 12, 31, 15, 30, 0)
                .single()
                .unwrap_or_default()
        ),
        NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default()
    );
}

#[test]
fn a_paid_order_counts_on_its_seoul_payment_day() {
    // Paid at 23:30 UTC on the 1st: 08:30 on the 2nd in Seoul.
    let changes = apply_all(&[
        placed("2026-11-01T23:00:00Z"),
        paid(2, "2026-11-01T23:30:00Z"),
    ]);
    assert_eq!(
        changes.sales.get(&key("2026-11-02")),
        Some(&SalesDelta {
            orders: 1,
            units: 3,
            gross: 100_000,
            net: 100_000,
            ..SalesDelta::default()
        })
    );
    assert_eq!(changes.sales.len(), 1);
    let view = &changes.views[ORDER];
    assert_eq!(view.status, OrderStatus::Paid);
    assert_eq!(view.timeline.len(), 2);
    let profile = &changes.profiles["c-1"];
    assert_eq!((profile.orders, profile.spent), (1, 100_000));
    assert_eq!(profile.last_order_at, Some(at("2026-11-01T23:00:00Z")));
}

#[test]
fn a_refund_crossing_midnight_in_seoul_counts_on_the_refund_day() {
    let changes = apply_all(&[
        placed("2026-11-30T10:00:00Z"),
        // 23:59 on 30 November in Seoul.
        paid(2, "2026-11-30T14:59:00Z"),
        envelope(
            3,
            "2026-11-30T14:59:30Z",
            OrderShipped {
                carrier: "CJ".into(),
                tracking_number: "1".into(),
            },
        ),
        envelope(4, "2026-11-30T14:59:50Z", OrderDelivered { receiver: None }),
        // 00:00:30 on 1 December in Seoul: another day and another month.
        envelope(
            5,
            "2026-11-30T15:00:30Z",
            OrderLinesReturned {
                lines: vec![ReturnedLine {
                    line_no: 2,
                    quantity: 1,
                    amount: Money::krw(40_000),
                }],
                refund: Money::krw(40_000),
                reason: "broken".into(),
            },
        ),
    ]);
    assert_eq!(changes.sales[&key("2026-11-30")].net, 100_000);
    assert_eq!(
        changes.sales[&key("2026-12-01")],
        SalesDelta {
            refunds: 40_000,
            net: -40_000,
            ..SalesDelta::default()
        }
    );
    let view = &changes.views[ORDER];
    assert_eq!(view.status, OrderStatus::PartiallyReturned);
    assert_eq!((view.paid.amount, view.refunded.amount), (60_000, 40_000));
    assert_eq!(changes.profiles["c-1"].spent, 60_000);
}

#[test]
fn returning_every_line_returns_the_order() {
    let changes = apply_all(&[
        placed("2026-11-01T00:00:00Z"),
        paid(2, "2026-11-01T00:01:00Z"),
        envelope(
            3,
            "2026-11-02T00:00:00Z",
            OrderLinesReturned {
                lines: vec![
                    ReturnedLine {
                        line_no: 1,
                        quantity: 2,
                        amount: Money::krw(60_000),
                    },
                    ReturnedLine {
                        line_no: 2,
                        quantity: 1,
                        amount: Money::krw(40_000),
                    },
                ],
                refund: Money::krw(100_000),
                reason: "changed mind".into(),
            },
        ),
    ]);
    assert_eq!(changes.views[ORDER].status, OrderStatus::Returned);
}

#[test]
fn cancelling_a_paid_order_takes_it_back_on_the_cancellation_day() {
    let changes = apply_all(&[
        placed("2026-11-01T00:00:00Z"),
        paid(2, "2026-11-01T00:01:00Z"),
        envelope(
            3,
            "2026-11-03T00:00:00Z",
            OrderCancelled {
                reason: "out of stock".into(),
                refund_due: true,
            },
        ),
    ]);
    assert_eq!(changes.sales[&key("2026-11-01")].net, 100_000);
    assert_eq!(
        changes.sales[&key("2026-11-03")],
        SalesDelta {
            cancellations: 1,
            cancelled: 100_000,
            net: -100_000,
            ..SalesDelta::default()
        }
    );
    let profile = &changes.profiles["c-1"];
    assert_eq!((profile.orders, profile.spent), (0, 0));
    assert!(profile.categories.iter().all(|(_, n)| *n == 0));
}

#[test]
fn cancelling_an_unpaid_order_is_no_sale() {
    let changes = apply_all(&[
        placed("2026-11-01T00:00:00Z"),
        envelope(
            2,
            "2026-11-01T00:10:00Z",
            OrderCancelled {
                reason: "payment declined".into(),
                refund_due: false,
            },
        ),
    ]);
    assert!(changes.sales.is_empty());
    assert_eq!(changes.views[ORDER].status, OrderStatus::Cancelled);
}

#[test]
fn a_redelivered_event_changes_nothing() {
    let first = placed("2026-11-01T00:00:00Z");
    let payment = paid(2, "2026-11-01T00:01:00Z");
    let once = apply_all(&[first.clone(), payment.clone()]);
    let twice = apply_all(&[first.clone(), payment.clone(), first, payment]);
    assert_eq!(once.views, twice.views);
    assert_eq!(once.sales, twice.sales);
    assert_eq!(twice.duplicates, 2);
}

#[test]
fn an_event_of_an_unknown_order_is_refused_and_changes_nothing() {
    let mut changes = OrderChanges::default();
    let refused = changes.apply(&paid(2, "2026-11-01T00:00:00Z"));
    assert!(matches!(
        refused,
        Err(ProjectionError::UnknownAggregate { .. })
    ));
    assert!(changes.views.is_empty() && changes.sales.is_empty());
}

#[test]
fn settlements_take_the_commission_from_net_truncated_to_the_won() {
    let sales = SalesDelta {
        gross: 1_000_003,
        refunds: 3,
        net: 1_000_000,
        ..SalesDelta::default()
    };
    let month = Settlement::new(
        "p-1".into(),
        "2026-11".into(),
        "KRW".into(),
        sales,
        CommissionRate(1080),
    );
    assert_eq!((month.commission, month.payout), (108_000, 892_000));
    // 12,345 × 5.5 % = 678.975: the fraction is dropped.
    assert_eq!(CommissionRate(550).commission(12_345), 678);
    // A month of refunds only gives the commission back.
    assert_eq!(CommissionRate(1000).commission(-50_005), -5_000);
    assert_eq!(CommissionRate(0).commission(i64::MAX), 0);
    assert_eq!(CommissionRate(10_000).commission(i64::MAX), i64::MAX);
}
