use cqrs_es::test::TestFramework;
use eventmall_aggregates::payment::PaymentStatus;
use eventmall_aggregates::{Payment, PaymentCommand, PaymentError};
use eventmall_events::payment::*;
use eventmall_events::{CustomerId, Money, OrderId, PaymentId, WalletId};
use uuid::Uuid;

use crate::support::{ScriptedWallet, payment_services};

const PAYMENT: PaymentId = PaymentId(Uuid::from_u128(1));
const ORDER: OrderId = OrderId(Uuid::from_u128(2));

fn test(wallet: ScriptedWallet) -> TestFramework<Payment> {
    TestFramework::with(payment_services(wallet))
}

fn requested() -> PaymentEvent {
    PaymentRequested {
        payment_id: PAYMENT,
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        wallet_id: WalletId::from("payco-kim"),
        amount: Money::krw(50_000),
    }
    .into()
}

fn authorized() -> PaymentEvent {
    PaymentAuthorized {
        authorization_code: "AUTH-1".into(),
        amount: Money::krw(50_000),
    }
    .into()
}

fn captured(amount: i64) -> PaymentEvent {
    PaymentCaptured {
        amount: Money::krw(amount),
    }
    .into()
}

fn illegal(action: &'static str, status: PaymentStatus) -> PaymentError {
    PaymentError::IllegalTransition { action, status }
}

#[test]
fn request_needs_a_positive_amount_and_happens_once() {
    let request = |amount| PaymentCommand::Request {
        payment_id: PAYMENT,
        order_id: ORDER,
        customer_id: CustomerId::from("kim"),
        wallet_id: WalletId::from("payco-kim"),
        amount: Money::krw(amount),
    };
    test(ScriptedWallet::default())
        .given_no_previous_events()
        .when(request(50_000))
        .then_expect_events(vec![requested()]);
    test(ScriptedWallet::default())
        .given_no_previous_events()
        .when(request(0))
        .then_expect_error(PaymentError::InvalidAmount { amount: 0 });
    test(ScriptedWallet::default())
        .given(vec![requested()])
        .when(request(50_000))
        .then_expect_error(PaymentError::AlreadyRequested);
}

#[test]
fn authorize_asks_the_wallet() {
    test(ScriptedWallet::default())
        .given(vec![requested()])
        .when(PaymentCommand::Authorize)
        .then_expect_events(vec![authorized()]);
    let declining = ScriptedWallet {
        decline_with: Some("insufficient_funds".into()),
        ..Default::default()
    };
    test(declining)
        .given(vec![requested()])
        .when(PaymentCommand::Authorize)
        .then_expect_events(vec![
            PaymentDeclined {
                reason: "insufficient_funds".into(),
            }
            .into(),
        ]);
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(PaymentCommand::Authorize)
        .then_expect_error(illegal("authorize", PaymentStatus::Authorized));
}

#[test]
fn a_wallet_outage_is_unavailable_not_a_decline() {
    let down = ScriptedWallet {
        down: true,
        ..Default::default()
    };
    let error = test(down)
        .given(vec![requested()])
        .when(PaymentCommand::Authorize)
        .inspect_result()
        .unwrap_err();
    assert!(matches!(error, PaymentError::Wallet(_)));
}

#[test]
fn decline_only_a_requested_payment() {
    test(ScriptedWallet::default())
        .given(vec![requested()])
        .when(PaymentCommand::Decline {
            reason: "fraud".into(),
        })
        .then_expect_events(vec![
            PaymentDeclined {
                reason: "fraud".into(),
            }
            .into(),
        ]);
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(PaymentCommand::Decline {
            reason: "fraud".into(),
        })
        .then_expect_error(illegal("decline", PaymentStatus::Authorized));
    test(ScriptedWallet::default())
        .given(vec![requested()])
        .when(PaymentCommand::Decline { reason: "".into() })
        .then_expect_error(PaymentError::Blank { field: "reason" });
}

#[test]
fn capture_at_most_the_authorized_amount() {
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(PaymentCommand::Capture { amount: None })
        .then_expect_events(vec![captured(50_000)]);
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(PaymentCommand::Capture {
            amount: Some(Money::krw(30_000)),
        })
        .then_expect_events(vec![captured(30_000)]);
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(PaymentCommand::Capture {
            amount: Some(Money::krw(50_001)),
        })
        .then_expect_error(PaymentError::CaptureExceedsAuthorization {
            requested: Money::krw(50_001),
            authorized: Money::krw(50_000),
        });
    test(ScriptedWallet::default())
        .given(vec![requested()])
        .when(PaymentCommand::Capture { amount: None })
        .then_expect_error(illegal("capture", PaymentStatus::Requested));
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(PaymentCommand::Capture {
            amount: Some(Money::krw(0)),
        })
        .then_expect_error(PaymentError::InvalidAmount { amount: 0 });
}

#[test]
fn refunds_never_exceed_the_capture() {
    let refund = |amount: i64| PaymentCommand::Refund {
        amount: Money::krw(amount),
        reason: "반품".into(),
    };
    let first: PaymentEvent = PaymentRefunded {
        amount: Money::krw(20_000),
        refunded_total: Money::krw(20_000),
        reason: "반품".into(),
    }
    .into();
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized(), captured(50_000)])
        .when(refund(20_000))
        .then_expect_events(vec![first.clone()]);
    test(ScriptedWallet::default())
        .given(vec![
            requested(),
            authorized(),
            captured(50_000),
            first.clone(),
        ])
        .when(refund(30_001))
        .then_expect_error(PaymentError::RefundExceedsCapture {
            requested: Money::krw(30_001),
            refundable: Money::krw(30_000),
        });
    let rest: PaymentEvent = PaymentRefunded {
        amount: Money::krw(30_000),
        refunded_total: Money::krw(50_000),
        reason: "반품".into(),
    }
    .into();
    test(ScriptedWallet::default())
        .given(vec![
            requested(),
            authorized(),
            captured(50_000),
            first.clone(),
        ])
        .when(refund(30_000))
        .then_expect_events(vec![rest.clone()]);
    test(ScriptedWallet::default())
        .given(vec![
            requested(),
            authorized(),
            captured(50_000),
            first,
            rest,
        ])
        .when(refund(1))
        .then_expect_error(illegal("refund", PaymentStatus::Refunded));
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(refund(1))
        .then_expect_error(illegal("refund", PaymentStatus::Authorized));
}

#[test]
fn void_only_before_capture() {
    let voided: PaymentEvent = PaymentVoided {
        reason: "주문 취소".into(),
    }
    .into();
    let void = || PaymentCommand::Void {
        reason: "주문 취소".into(),
    };
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized()])
        .when(void())
        .then_expect_events(vec![voided.clone()]);
    test(ScriptedWallet::default())
        .given(vec![requested()])
        .when(void())
        .then_expect_events(vec![voided]);
    test(ScriptedWallet::default())
        .given(vec![requested(), authorized(), captured(50_000)])
        .when(void())
        .then_expect_error(illegal("void", PaymentStatus::Captured));
}

#[test]
fn commands_on_a_missing_payment_are_not_found() {
    test(ScriptedWallet::default())
        .given_no_previous_events()
        .when(PaymentCommand::Authorize)
        .then_expect_error(PaymentError::NotRequested);
}
