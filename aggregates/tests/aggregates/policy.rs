//! The payment policy's decisions, one test per row of the README's table of late and
//! crossing events, and the steps of the happy path.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use eventmall_aggregates::order::{OrderCommand, OrderState};
use eventmall_aggregates::payment::{PaymentCommand, PaymentState, PaymentStatus};
use eventmall_aggregates::policy::{
    self, Capture, Facts, PolicyCommand, PolicyRules, Reaction, TimerKind,
};
use eventmall_events::order::*;
use eventmall_events::payment::*;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId};
use uuid::Uuid;

const ORDER: OrderId = OrderId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001));
const TOTAL: i64 = 20_000;

fn rules(capture: Capture) -> PolicyRules {
    PolicyRules {
        capture,
        authorization_timeout: Duration::minutes(15),
        confirmation_after: Duration::days(7),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn order(status: OrderStatus) -> OrderState {
    OrderState {
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        partner_id: PartnerId::from("shop-1"),
        lines: vec![OrderLine {
            line_no: 1,
            product_id: ProductId::for_partner_sku(&PartnerId::from("shop-1"), "A"),
            title: "상품 A".into(),
            category: vec!["가전".into()],
            unit_price: Money::krw(TOTAL / 2),
            quantity: 2,
        }],
        total: Money::krw(TOTAL),
        status,
        payment_id: None,
        returned: BTreeMap::new(),
        refunded: Money::krw(0),
        wallet_id: Some(WalletId::from("wallet-kim")),
    }
}

fn payment(status: PaymentStatus, captured: i64, refunded: i64) -> PaymentState {
    let authorized = match status {
        PaymentStatus::Requested | PaymentStatus::Declined => 0,
        _ => TOTAL,
    };
    PaymentState {
        payment_id: PaymentId::for_order(ORDER),
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        wallet_id: WalletId::from("wallet-kim"),
        amount: Money::krw(TOTAL),
        status,
        authorization_code: None,
        authorized: Money::krw(authorized),
        captured: Money::krw(captured),
        refunded: Money::krw(refunded),
    }
}

fn on_order(event: OrderEvent, order: &OrderState, paid: Option<&PaymentState>) -> Reaction {
    let facts = Facts {
        order: Some(order),
        payment: paid,
    };
    policy::on_order_event(&event, now(), facts, &rules(Capture::Immediately))
}

fn on_payment(event: PaymentEvent, order: &OrderState, paid: &PaymentState) -> Reaction {
    on_payment_with(event, order, paid, Capture::Immediately)
}

fn on_payment_with(
    event: PaymentEvent,
    order: &OrderState,
    paid: &PaymentState,
    capture: Capture,
) -> Reaction {
    let facts = Facts {
        order: Some(order),
        payment: Some(paid),
    };
    policy::on_payment_event(&event, facts, &rules(capture))
}

/// The step's name and the payment command it issues.
fn payment_step(reaction: &Reaction) -> (&'static str, &PaymentCommand) {
    let step = reaction.step.as_ref().expect("a step");
    match &step.command {
        PolicyCommand::Payment {
            payment_id,
            command,
        } => {
            assert_eq!(*payment_id, PaymentId::for_order(ORDER));
            (step.name, command)
        }
        other => panic!("not a payment command: {other:?}"),
    }
}

fn order_step(reaction: &Reaction) -> (&'static str, &OrderCommand) {
    let step = reaction.step.as_ref().expect("a step");
    match &step.command {
        PolicyCommand::Order { order_id, command } => {
            assert_eq!(*order_id, ORDER);
            (step.name, command)
        }
        other => panic!("not an order command: {other:?}"),
    }
}

fn nothing(reaction: &Reaction) -> bool {
    reaction.step.is_none() && reaction.set.is_none() && reaction.unfollowable.is_none()
}

fn placed() -> OrderEvent {
    let order = order(OrderStatus::Placed);
    OrderPlaced {
        order_id: ORDER,
        customer_id: order.customer_id,
        partner_id: order.partner_id,
        lines: order.lines,
        total: order.total,
        wallet_id: order.wallet_id,
        shipping: None,
    }
    .into()
}

fn authorized() -> PaymentEvent {
    PaymentAuthorized {
        authorization_code: "SIM-1".into(),
        amount: Money::krw(TOTAL),
    }
    .into()
}

fn captured() -> PaymentEvent {
    PaymentCaptured {
        amount: Money::krw(TOTAL),
    }
    .into()
}

fn declined() -> PaymentEvent {
    PaymentDeclined {
        reason: "insufficient_funds".into(),
    }
    .into()
}

fn cancelled() -> OrderEvent {
    OrderCancelled {
        reason: "단순 변심".into(),
        refund_due: false,
    }
    .into()
}

#[test]
fn a_wallet_order_requests_its_payment_and_sets_the_authorization_deadline() {
    let reaction = on_order(placed(), &order(OrderStatus::Placed), None);
    let (name, command) = payment_step(&reaction);
    assert_eq!(name, "request_payment");
    assert!(matches!(
        command,
        PaymentCommand::Request { amount, .. } if amount.amount == TOTAL
    ));
    let timer = reaction.set.unwrap();
    assert_eq!(timer.kind, TimerKind::AuthorizationTimeout);
    assert_eq!(timer.due_at, now() + Duration::minutes(15));
}

#[test]
fn an_order_without_a_wallet_is_left_to_its_customer() {
    let mut without = order(OrderStatus::Placed);
    without.wallet_id = None;
    let mut event = placed();
    if let OrderEvent::OrderPlaced(placed) = &mut event {
        placed.wallet_id = None;
    }
    assert!(nothing(&on_order(event, &without, None)));
}

#[test]
fn an_order_placed_again_whose_payment_exists_requests_nothing() {
    let paid = payment(PaymentStatus::Authorized, 0, 0);
    assert!(nothing(&on_order(
        placed(),
        &order(OrderStatus::Placed),
        Some(&paid)
    )));
}

#[test]
fn the_happy_path_authorizes_captures_and_marks_paid() {
    let order = order(OrderStatus::Placed);
    let requested = PaymentRequested {
        payment_id: PaymentId::for_order(ORDER),
        order_id: ORDER,
        customer_id: order.customer_id.clone(),
        wallet_id: WalletId::from("wallet-kim"),
        amount: Money::krw(TOTAL),
    };
    let reaction = on_payment(
        requested.into(),
        &order,
        &payment(PaymentStatus::Requested, 0, 0),
    );
    assert_eq!(
        payment_step(&reaction),
        ("authorize", &PaymentCommand::Authorize)
    );

    let reaction = on_payment(
        authorized(),
        &order,
        &payment(PaymentStatus::Authorized, 0, 0),
    );
    assert_eq!(
        payment_step(&reaction),
        ("capture", &PaymentCommand::Capture { amount: None })
    );
    let deadline =
        TimerKind::AuthorizationTimeout.timer_id(&PaymentId::for_order(ORDER).to_string());
    assert_eq!(reaction.cancel, [deadline]);

    let reaction = on_payment(
        captured(),
        &order,
        &payment(PaymentStatus::Captured, TOTAL, 0),
    );
    let (name, command) = order_step(&reaction);
    assert_eq!(name, "mark_paid");
    assert!(matches!(command, OrderCommand::MarkPaid { amount, .. } if amount.amount == TOTAL));
}

#[test]
fn capture_at_shipment_marks_paid_on_the_hold_and_captures_on_shipping() {
    let held = payment(PaymentStatus::Authorized, 0, 0);
    let reaction = on_payment_with(
        authorized(),
        &order(OrderStatus::Placed),
        &held,
        Capture::OnShipment,
    );
    assert_eq!(order_step(&reaction).0, "mark_paid");
    let shipped: OrderEvent = OrderShipped {
        carrier: "CJ대한통운".into(),
        tracking_number: "1".into(),
    }
    .into();
    let facts = Facts {
        order: Some(&order(OrderStatus::Shipped)),
        payment: Some(&held),
    };
    let reaction = policy::on_order_event(&shipped, now(), facts, &rules(Capture::OnShipment));
    assert_eq!(payment_step(&reaction).0, "capture");
    // A capture at shipment finds the order paid already: nothing more.
    let reaction = on_payment_with(
        captured(),
        &order(OrderStatus::Shipped),
        &payment(PaymentStatus::Captured, TOTAL, 0),
        Capture::OnShipment,
    );
    assert!(nothing(&reaction));
}

// The late and crossing events, in the README table's order.

#[test]
fn an_authorization_after_the_order_was_cancelled_is_voided() {
    let reaction = on_payment(
        authorized(),
        &order(OrderStatus::Cancelled),
        &payment(PaymentStatus::Authorized, 0, 0),
    );
    let (name, command) = payment_step(&reaction);
    assert_eq!(name, "void");
    assert!(matches!(command, PaymentCommand::Void { .. }));
}

#[test]
fn a_capture_after_the_order_was_cancelled_is_refunded_in_full() {
    let reaction = on_payment(
        captured(),
        &order(OrderStatus::Cancelled),
        &payment(PaymentStatus::Captured, TOTAL, 0),
    );
    let (name, command) = payment_step(&reaction);
    assert_eq!(name, "refund");
    assert!(matches!(command, PaymentCommand::Refund { amount, .. } if amount.amount == TOTAL));
}

#[test]
fn a_decline_of_an_order_already_cancelled_changes_nothing() {
    let reaction = on_payment(
        declined(),
        &order(OrderStatus::Cancelled),
        &payment(PaymentStatus::Declined, 0, 0),
    );
    assert!(reaction.step.is_none() && reaction.unfollowable.is_none());
}

#[test]
fn a_decline_of_an_order_already_paid_is_a_dead_letter() {
    let reaction = on_payment(
        declined(),
        &order(OrderStatus::Paid),
        &payment(PaymentStatus::Declined, 0, 0),
    );
    assert!(reaction.step.is_none());
    let reason = reaction.unfollowable.unwrap();
    assert!(reason.contains("already paid"), "{reason}");
}

#[test]
fn a_cancel_before_capture_voids_the_payment() {
    for status in [PaymentStatus::Requested, PaymentStatus::Authorized] {
        let paid = payment(status, 0, 0);
        let reaction = on_order(cancelled(), &order(OrderStatus::Cancelled), Some(&paid));
        assert_eq!(payment_step(&reaction).0, "void", "{status}");
    }
}

#[test]
fn a_cancel_after_capture_refunds_what_is_left() {
    let paid = payment(PaymentStatus::Captured, TOTAL, 5_000);
    let reaction = on_order(cancelled(), &order(OrderStatus::Cancelled), Some(&paid));
    let (name, command) = payment_step(&reaction);
    assert_eq!(name, "refund");
    assert!(matches!(command, PaymentCommand::Refund { amount, .. } if amount.amount == 15_000));
}

#[test]
fn a_cancel_of_a_payment_already_settled_changes_nothing() {
    for paid in [
        payment(PaymentStatus::Declined, 0, 0),
        payment(PaymentStatus::Voided, 0, 0),
        payment(PaymentStatus::Refunded, TOTAL, TOTAL),
    ] {
        let reaction = on_order(cancelled(), &order(OrderStatus::Cancelled), Some(&paid));
        assert!(nothing(&reaction), "{}", paid.status);
    }
}

#[test]
fn returned_lines_are_refunded_exactly() {
    let returned: OrderEvent = OrderLinesReturned {
        lines: vec![ReturnedLine {
            line_no: 1,
            quantity: 1,
            amount: Money::krw(10_000),
        }],
        refund: Money::krw(10_000),
        reason: "상품 불량".into(),
    }
    .into();
    let paid = payment(PaymentStatus::Captured, TOTAL, 0);
    let reaction = on_order(
        returned.clone(),
        &order(OrderStatus::Delivered),
        Some(&paid),
    );
    let (name, command) = payment_step(&reaction);
    assert_eq!(name, "refund_returned_lines");
    assert!(matches!(command, PaymentCommand::Refund { amount, .. } if amount.amount == 10_000));

    // With less left to refund than the lines are worth, or no capture: a dead letter.
    for paid in [
        payment(PaymentStatus::Captured, TOTAL, 15_000),
        payment(PaymentStatus::Voided, 0, 0),
    ] {
        let reaction = on_order(
            returned.clone(),
            &order(OrderStatus::Delivered),
            Some(&paid),
        );
        assert!(reaction.step.is_none());
        assert!(reaction.unfollowable.is_some(), "{}", paid.status);
    }
}

#[test]
fn an_authorization_deadline_passed_by_events_is_moot() {
    fn facts(paid: &PaymentState) -> Facts<'_> {
        Facts {
            order: None,
            payment: Some(paid),
        }
    }
    let requested = payment(PaymentStatus::Requested, 0, 0);
    let reaction = policy::on_timer(TimerKind::AuthorizationTimeout, facts(&requested));
    assert!(matches!(
        payment_step(&reaction),
        ("authorization_timeout", PaymentCommand::Decline { reason }) if reason == "authorization_timeout"
    ));
    for status in [
        PaymentStatus::Authorized,
        PaymentStatus::Declined,
        PaymentStatus::Voided,
    ] {
        let paid = payment(status, 0, 0);
        let reaction = policy::on_timer(TimerKind::AuthorizationTimeout, facts(&paid));
        assert!(nothing(&reaction), "{status}");
    }
}

#[test]
fn an_automatic_confirmation_of_an_order_no_longer_delivered_is_moot() {
    fn facts(order: &OrderState) -> Facts<'_> {
        Facts {
            order: Some(order),
            payment: None,
        }
    }
    let delivered = order(OrderStatus::Delivered);
    let reaction = policy::on_timer(TimerKind::AutomaticConfirmation, facts(&delivered));
    assert_eq!(
        order_step(&reaction),
        (
            "automatic_confirmation",
            &OrderCommand::ConfirmPurchase { automatic: true }
        )
    );
    for status in [OrderStatus::PurchaseConfirmed, OrderStatus::Returned] {
        let order = order(status);
        let reaction = policy::on_timer(TimerKind::AutomaticConfirmation, facts(&order));
        assert!(nothing(&reaction), "{status}");
    }
}

#[test]
fn a_delivery_sets_the_confirmation_and_a_confirmation_cancels_it() {
    let delivered: OrderEvent = OrderDelivered { receiver: None }.into();
    let reaction = on_order(delivered, &order(OrderStatus::Delivered), None);
    let timer = reaction.set.unwrap();
    assert_eq!(timer.kind, TimerKind::AutomaticConfirmation);
    assert_eq!(timer.due_at, now() + Duration::days(7));
    // Delivered again after the confirmation: no new deadline.
    let again: OrderEvent = OrderDelivered { receiver: None }.into();
    assert!(nothing(&on_order(
        again,
        &order(OrderStatus::PurchaseConfirmed),
        None
    )));
    let confirmed: OrderEvent = OrderPurchaseConfirmed { automatic: false }.into();
    let reaction = on_order(confirmed, &order(OrderStatus::PurchaseConfirmed), None);
    assert_eq!(
        reaction.cancel,
        [TimerKind::AutomaticConfirmation.timer_id(&ORDER.to_string())]
    );
}

#[test]
fn a_payment_the_client_requested_itself_is_left_alone() {
    let mut own = payment(PaymentStatus::Requested, 0, 0);
    own.payment_id = PaymentId::new();
    let requested = PaymentRequested {
        payment_id: own.payment_id,
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        wallet_id: WalletId::from("wallet-kim"),
        amount: Money::krw(TOTAL),
    };
    let reaction = on_payment(requested.into(), &order(OrderStatus::Placed), &own);
    assert!(nothing(&reaction));
}

#[test]
fn events_the_policy_never_acts_on_are_passed_over_without_state() {
    let immediately = rules(Capture::Immediately);
    let paid: OrderEvent = OrderPaid {
        payment_id: PaymentId::for_order(ORDER),
        amount: Money::krw(TOTAL),
    }
    .into();
    assert!(!policy::follows_order_event(&paid, &immediately));
    let shipped: OrderEvent = OrderShipped {
        carrier: "CJ대한통운".into(),
        tracking_number: "1".into(),
    }
    .into();
    assert!(!policy::follows_order_event(&shipped, &immediately));
    assert!(policy::follows_order_event(
        &shipped,
        &rules(Capture::OnShipment)
    ));
    assert!(policy::follows_order_event(&placed(), &immediately));
    assert!(policy::follows_order_event(&cancelled(), &immediately));
    let refunded: PaymentEvent = PaymentRefunded {
        amount: Money::krw(1),
        refunded_total: Money::krw(1),
        reason: "x".into(),
    }
    .into();
    assert!(!policy::follows_payment_event(&refunded));
    assert!(policy::follows_payment_event(&captured()));
}
