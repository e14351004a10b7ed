use cqrs_es::test::TestFramework;
use eventmall_aggregates::order::{LineRequest, OrderStatus, ReturnRequest};
use eventmall_aggregates::{Order, OrderCommand, OrderError, OrderServices};
use eventmall_events::order::*;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId};
use uuid::Uuid;

use crate::support::{CapturedPayments, DownCatalog, TestSealer, entry, order_services};

const ORDER: OrderId = OrderId(Uuid::from_u128(7));
const PAYMENT: PaymentId = PaymentId(Uuid::from_u128(8));

/// A payment of another order, and one captured short of the total.
const OTHERS: PaymentId = PaymentId(Uuid::from_u128(9));
const SHORT: PaymentId = PaymentId(Uuid::from_u128(10));

fn services() -> OrderServices {
    let payments = CapturedPayments::default();
    payments.capture(PAYMENT, ORDER, "kim", Money::krw(27_500));
    payments.capture(OTHERS, OrderId::new(), "kim", Money::krw(27_500));
    payments.capture(SHORT, ORDER, "kim", Money::krw(27_499));
    order_services(
        &[
            entry("A", "shop-1", 12_000, true),
            entry("B", "shop-1", 3_500, true),
            entry("C", "shop-1", 1_000, false),
            entry("D", "shop-2", 1_000, true),
        ],
        payments,
    )
}

fn product(sku: &str, partner: &str) -> ProductId {
    ProductId::for_partner_sku(&PartnerId::from(partner), sku)
}

fn line(sku: &str, quantity: u32) -> LineRequest {
    LineRequest {
        product_id: product(sku, "shop-1"),
        quantity,
    }
}

fn place(lines: Vec<LineRequest>) -> OrderCommand {
    OrderCommand::Place {
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        lines,
        wallet_id: None,
        shipping: None,
    }
}

fn placed() -> OrderEvent {
    OrderPlaced {
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        partner_id: PartnerId::from("shop-1"),
        lines: vec![
            OrderLine {
                line_no: 1,
                product_id: product("A", "shop-1"),
                title: "상품 A".into(),
                category: vec!["가전".into()],
                unit_price: Money::krw(12_000),
                quantity: 2,
            },
            OrderLine {
                line_no: 2,
                product_id: product("B", "shop-1"),
                title: "상품 B".into(),
                category: vec!["가전".into()],
                unit_price: Money::krw(3_500),
                quantity: 1,
            },
        ],
        total: Money::krw(27_500),
        wallet_id: None,
        shipping: None,
    }
    .into()
}

fn paid() -> OrderEvent {
    OrderPaid {
        payment_id: PAYMENT,
        amount: Money::krw(27_500),
    }
    .into()
}

fn shipped() -> OrderEvent {
    OrderShipped {
        carrier: "CJ대한통운".into(),
        tracking_number: "6543210987".into(),
    }
    .into()
}

fn delivered() -> OrderEvent {
    OrderDelivered { receiver: None }.into()
}

fn given(events: Vec<OrderEvent>) -> cqrs_es::test::AggregateTestExecutor<Order> {
    TestFramework::<Order>::with(services()).given(events)
}

fn illegal(action: &'static str, status: OrderStatus) -> OrderError {
    OrderError::IllegalTransition { action, status }
}

#[test]
fn place_snapshots_prices_from_the_catalog() {
    given(vec![])
        .when(place(vec![line("A", 2), line("B", 1)]))
        .then_expect_events(vec![placed()]);
}

#[test]
fn place_refuses_bad_line_counts_and_quantities() {
    given(vec![])
        .when(place(vec![]))
        .then_expect_error(OrderError::LineCount { count: 0 });
    let many = (0..101)
        .map(|i| LineRequest {
            product_id: product(&format!("X{i}"), "shop-1"),
            quantity: 1,
        })
        .collect();
    given(vec![])
        .when(place(many))
        .then_expect_error(OrderError::LineCount { count: 101 });
    given(vec![])
        .when(place(vec![line("A", 1), line("B", 0)]))
        .then_expect_error(OrderError::InvalidQuantity { line_no: 2 });
    given(vec![])
        .when(place(vec![line("A", 1), line("A", 2)]))
        .then_expect_error(OrderError::DuplicateProduct {
            product_id: product("A", "shop-1"),
        });
}

#[test]
fn place_refuses_unknown_delisted_and_foreign_products() {
    given(vec![])
        .when(place(vec![line("nope", 1)]))
        .then_expect_error(OrderError::UnknownProduct {
            product_id: product("nope", "shop-1"),
        });
    given(vec![])
        .when(place(vec![line("C", 1)]))
        .then_expect_error(OrderError::ProductDelisted {
            product_id: product("C", "shop-1"),
        });
    given(vec![])
        .when(place(vec![
            line("A", 1),
            LineRequest {
                product_id: product("D", "shop-2"),
                quantity: 1,
            },
        ]))
        .then_expect_error(OrderError::MixedPartners {
            product_id: product("D", "shop-2"),
            partner_id: PartnerId::from("shop-2"),
        });
}

#[test]
fn place_refuses_a_total_that_overflows() {
    let services = order_services(
        &[entry("A", "shop-1", i64::MAX / 2, true)],
        CapturedPayments::default(),
    );
    TestFramework::<Order>::with(services)
        .given_no_previous_events()
        .when(place(vec![line("A", 3)]))
        .then_expect_error(OrderError::TotalOverflow);
}

#[test]
fn place_reports_an_unavailable_catalog() {
    let services = OrderServices {
        catalog: std::sync::Arc::new(DownCatalog),
        payments: std::sync::Arc::new(CapturedPayments::default()),
        pii: std::sync::Arc::new(TestSealer),
    };
    let error = TestFramework::<Order>::with(services)
        .given_no_previous_events()
        .when(place(vec![line("A", 1)]))
        .inspect_result()
        .unwrap_err();
    assert!(matches!(error, OrderError::Catalog(_)));
}

#[test]
fn place_twice_is_refused() {
    given(vec![placed()])
        .when(place(vec![line("A", 1)]))
        .then_expect_error(OrderError::AlreadyPlaced);
}

#[test]
fn mark_paid_needs_the_exact_total() {
    given(vec![placed()])
        .when(OrderCommand::MarkPaid {
            payment_id: PAYMENT,
            amount: Money::krw(27_500),
        })
        .then_expect_events(vec![paid()]);
    given(vec![placed()])
        .when(OrderCommand::MarkPaid {
            payment_id: PAYMENT,
            amount: Money::krw(1),
        })
        .then_expect_error(OrderError::AmountMismatch {
            paid: Money::krw(1),
            total: Money::krw(27_500),
        });
    given(vec![placed(), paid()])
        .when(OrderCommand::MarkPaid {
            payment_id: PAYMENT,
            amount: Money::krw(27_500),
        })
        .then_expect_error(illegal("pay", OrderStatus::Paid));
}

/// An order is paid by a payment of its own that the wallet captured, not by any id a client
/// names.
#[test]
fn mark_paid_needs_this_orders_captured_payment() {
    let mark_paid = |payment_id| OrderCommand::MarkPaid {
        payment_id,
        amount: Money::krw(27_500),
    };
    let unknown = PaymentId(Uuid::from_u128(11));
    given(vec![placed()])
        .when(mark_paid(unknown))
        .then_expect_error(OrderError::UnknownPayment {
            payment_id: unknown,
        });
    given(vec![placed()])
        .when(mark_paid(OTHERS))
        .then_expect_error(OrderError::NotThisOrdersPayment { payment_id: OTHERS });
    given(vec![placed()])
        .when(mark_paid(SHORT))
        .then_expect_error(OrderError::NotCaptured {
            payment_id: SHORT,
            captured: Money::krw(27_499),
            total: Money::krw(27_500),
        });
}

#[test]
fn ship_only_a_paid_order_with_carrier_and_tracking() {
    given(vec![placed(), paid()])
        .when(OrderCommand::Ship {
            carrier: "CJ대한통운".into(),
            tracking_number: "6543210987".into(),
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_events(vec![shipped()]);
    given(vec![placed()])
        .when(OrderCommand::Ship {
            carrier: "CJ대한통운".into(),
            tracking_number: "1".into(),
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_error(illegal("ship", OrderStatus::Placed));
    given(vec![placed(), paid()])
        .when(OrderCommand::Ship {
            carrier: " ".into(),
            tracking_number: "1".into(),
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_error(OrderError::Blank { field: "carrier" });
    given(vec![placed(), paid()])
        .when(OrderCommand::Ship {
            carrier: "우체국".into(),
            tracking_number: "".into(),
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_error(OrderError::Blank {
            field: "tracking_number",
        });
}

#[test]
fn deliver_only_a_shipped_order() {
    given(vec![placed(), paid(), shipped()])
        .when(OrderCommand::Deliver {
            receiver: None,
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_events(vec![delivered()]);
    given(vec![placed(), paid()])
        .when(OrderCommand::Deliver {
            receiver: None,
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_error(illegal("deliver", OrderStatus::Paid));
}

#[test]
fn confirm_purchase_only_after_delivery() {
    given(vec![placed(), paid(), shipped(), delivered()])
        .when(OrderCommand::ConfirmPurchase { automatic: false })
        .then_expect_events(vec![OrderPurchaseConfirmed { automatic: false }.into()]);
    given(vec![placed(), paid(), shipped()])
        .when(OrderCommand::ConfirmPurchase { automatic: false })
        .then_expect_error(illegal("confirm the purchase of", OrderStatus::Shipped));
}

#[test]
fn cancel_before_shipping_says_whether_a_refund_is_due() {
    given(vec![placed()])
        .when(OrderCommand::Cancel {
            reason: "단순 변심".into(),
        })
        .then_expect_events(vec![
            OrderCancelled {
                reason: "단순 변심".into(),
                refund_due: false,
            }
            .into(),
        ]);
    given(vec![placed(), paid()])
        .when(OrderCommand::Cancel {
            reason: "단순 변심".into(),
        })
        .then_expect_events(vec![
            OrderCancelled {
                reason: "단순 변심".into(),
                refund_due: true,
            }
            .into(),
        ]);
    given(vec![placed(), paid(), shipped()])
        .when(OrderCommand::Cancel {
            reason: "늦음".into(),
        })
        .then_expect_error(illegal("cancel", OrderStatus::Shipped));
    given(vec![placed()])
        .when(OrderCommand::Cancel { reason: "".into() })
        .then_expect_error(OrderError::Blank { field: "reason" });
}

fn return_lines(lines: &[(u32, u32)]) -> OrderCommand {
    OrderCommand::Return {
        lines: lines
            .iter()
            .map(|&(line_no, quantity)| ReturnRequest { line_no, quantity })
            .collect(),
        reason: "불량".into(),
    }
}

#[test]
fn return_is_partial_by_line_and_only_after_delivery() {
    let partial: OrderEvent = OrderLinesReturned {
        lines: vec![ReturnedLine {
            line_no: 1,
            quantity: 1,
            amount: Money::krw(12_000),
        }],
        refund: Money::krw(12_000),
        reason: "불량".into(),
    }
    .into();
    given(vec![placed(), paid(), shipped(), delivered()])
        .when(return_lines(&[(1, 1)]))
        .then_expect_events(vec![partial.clone()]);
    given(vec![placed(), paid(), shipped()])
        .when(return_lines(&[(1, 1)]))
        .then_expect_error(illegal("return", OrderStatus::Shipped));
    given(vec![
        placed(),
        paid(),
        shipped(),
        delivered(),
        partial.clone(),
    ])
    .when(return_lines(&[(1, 2)]))
    .then_expect_error(OrderError::ReturnExceedsLine {
        line_no: 1,
        remaining: 1,
        requested: 2,
    });
    given(vec![placed(), paid(), shipped(), delivered()])
        .when(return_lines(&[(9, 1)]))
        .then_expect_error(OrderError::UnknownLine { line_no: 9 });
    given(vec![placed(), paid(), shipped(), delivered()])
        .when(return_lines(&[]))
        .then_expect_error(OrderError::LineCount { count: 0 });
    given(vec![placed(), paid(), shipped(), delivered()])
        .when(return_lines(&[(1, 0)]))
        .then_expect_error(OrderError::InvalidQuantity { line_no: 1 });
}

#[test]
fn returning_every_unit_ends_in_returned() {
    let all: OrderEvent = OrderLinesReturned {
        lines: vec![
            ReturnedLine {
                line_no: 1,
                quantity: 2,
                amount: Money::krw(24_000),
            },
            ReturnedLine {
                line_no: 2,
                quantity: 1,
                amount: Money::krw(3_500),
            },
        ],
        refund: Money::krw(27_500),
        reason: "불량".into(),
    }
    .into();
    given(vec![placed(), paid(), shipped(), delivered()])
        .when(return_lines(&[(1, 2), (2, 1)]))
        .then_expect_events(vec![all.clone()]);
    given(vec![placed(), paid(), shipped(), delivered(), all])
        .when(return_lines(&[(1, 1)]))
        .then_expect_error(illegal("return", OrderStatus::Returned));
}

#[test]
fn no_return_after_purchase_confirmation_and_nothing_after_cancel() {
    given(vec![
        placed(),
        paid(),
        shipped(),
        delivered(),
        OrderPurchaseConfirmed { automatic: false }.into(),
    ])
    .when(return_lines(&[(1, 1)]))
    .then_expect_error(illegal("return", OrderStatus::PurchaseConfirmed));
    let cancelled: OrderEvent = OrderCancelled {
        reason: "x".into(),
        refund_due: false,
    }
    .into();
    given(vec![placed(), cancelled])
        .when(OrderCommand::MarkPaid {
            payment_id: PAYMENT,
            amount: Money::krw(27_500),
        })
        .then_expect_error(illegal("pay", OrderStatus::Cancelled));
}

#[test]
fn commands_on_a_missing_order_are_not_found() {
    given(vec![])
        .when(OrderCommand::Deliver {
            receiver: None,
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_error(OrderError::NotPlaced);
}

#[test]
fn a_partner_ships_and_delivers_only_the_orders_it_sells() {
    let other = PartnerId::from("shop-2");
    given(vec![placed(), paid()])
        .when(OrderCommand::Ship {
            carrier: "CJ대한통운".into(),
            tracking_number: "6543210987".into(),
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_events(vec![shipped()]);
    given(vec![placed(), paid()])
        .when(OrderCommand::Ship {
            carrier: "CJ대한통운".into(),
            tracking_number: "6543210987".into(),
            by_partner: other.clone(),
        })
        .then_expect_error(OrderError::NotSeller {
            seller: PartnerId::from("shop-1"),
        });
    given(vec![placed(), paid(), shipped()])
        .when(OrderCommand::Deliver {
            receiver: None,
            by_partner: other,
        })
        .then_expect_error(OrderError::NotSeller {
            seller: PartnerId::from("shop-1"),
        });
}

fn address() -> ShippingAddress {
    ShippingAddress {
        recipient: "김민수".into(),
        phone: "010-1234-5678".into(),
        address: "서울특별시 강남구 테헤란로 152".into(),
        postal_code: "06236".into(),
    }
}

#[test]
fn a_shipping_address_is_recorded_sealed_with_the_customers_key() {
    let OrderCommand::Place {
        order_id,
        customer_id,
        lines,
        wallet_id,
        ..
    } = place(vec![line("A", 2), line("B", 1)])
    else {
        unreachable!()
    };
    let json = serde_json::to_string(&address()).unwrap();
    let OrderEvent::OrderPlaced(mut expected) = placed() else {
        unreachable!()
    };
    expected.shipping = Some(TestSealer::sealed("kim", &json));
    given(vec![])
        .when(OrderCommand::Place {
            order_id,
            customer_id,
            lines,
            wallet_id,
            shipping: Some(address()),
        })
        .then_expect_events(vec![expected.into()]);
}

#[test]
fn a_shipping_address_out_of_bounds_is_refused() {
    let cases = [
        ShippingAddress {
            phone: "call me".into(),
            ..address()
        },
        ShippingAddress {
            recipient: " ".into(),
            ..address()
        },
        ShippingAddress {
            address: "가".repeat(301),
            ..address()
        },
        ShippingAddress {
            postal_code: "0623 6".into(),
            ..address()
        },
    ];
    for shipping in cases {
        let OrderCommand::Place {
            order_id,
            customer_id,
            lines,
            ..
        } = place(vec![line("A", 1)])
        else {
            unreachable!()
        };
        let error = TestFramework::<Order>::with(services())
            .given_no_previous_events()
            .when(OrderCommand::Place {
                order_id,
                customer_id,
                lines,
                wallet_id: None,
                shipping: Some(shipping),
            })
            .inspect_result()
            .unwrap_err();
        assert!(matches!(error, OrderError::InvalidShipping(_)), "{error}");
    }
}

#[test]
fn a_receiver_is_recorded_sealed_with_the_customers_key() {
    given(vec![placed(), paid(), shipped()])
        .when(OrderCommand::Deliver {
            receiver: Some("경비실".into()),
            by_partner: PartnerId::from("shop-1"),
        })
        .then_expect_events(vec![
            OrderDelivered {
                receiver: Some(TestSealer::sealed("kim", "경비실")),
            }
            .into(),
        ]);
}
