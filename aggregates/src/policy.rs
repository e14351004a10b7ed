//! The order↔payment policy's decisions: what follows an order or payment event, or a timer,
//! given the order and its payment as they are now.
//!
//! The policy runner brings the events, the current states and the due timers; it issues each
//! decided command under the key `policy/<event_id>/<step>` and writes the timers. Every rule
//! about what follows what is here. Deciding on the current state, not the state at the event,
//! is what makes late and crossing events safe: a capture that lands after the order was
//! cancelled is refunded, a redelivered event whose step already happened decides nothing.

use chrono::{DateTime, Duration, Utc};
use eventmall_events::order::{OrderEvent, OrderStatus};
use eventmall_events::payment::PaymentEvent;
use eventmall_events::{Money, OrderId, PaymentId};
use serde::{Deserialize, Serialize};

use crate::order::{OrderCommand, OrderState};
use crate::payment::{PaymentCommand, PaymentState, PaymentStatus};

/// When an authorized payment is captured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// As soon as the wallet authorizes it; the order is then marked paid.
    #[default]
    Immediately,
    /// When the order ships; the order is marked paid as soon as the wallet holds the total.
    OnShipment,
}

/// The policy's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyRules {
    pub capture: Capture,
    /// A payment not authorized this long after its order was placed cancels the order.
    pub authorization_timeout: Duration,
    /// An order delivered this long ago and not confirmed is confirmed automatically (구매확정).
    pub confirmation_after: Duration,
}

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// Its subject is a payment that must be authorized by then.
    AuthorizationTimeout,
    /// Its subject is a delivered order to confirm by then.
    AutomaticConfirmation,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationTimeout => "authorization_timeout",
            Self::AutomaticConfirmation => "automatic_confirmation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::AuthorizationTimeout, Self::AutomaticConfirmation]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// The id of this kind's timer about `subject`: one per subject, so setting it twice is
    /// setting it once.
    pub fn timer_id(self, subject: &str) -> String {
        format!("{}/{subject}", self.as_str())
    }
}

/// A timer to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerRequest {
    pub kind: TimerKind,
    pub subject: String,
    pub due_at: DateTime<Utc>,
}

/// A command the policy issues.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyCommand {
    Order {
        order_id: OrderId,
        command: OrderCommand,
    },
    Payment {
        payment_id: PaymentId,
        command: PaymentCommand,
    },
}

/// A command and the name of its step, which keys it with the causing event's id.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: &'static str,
    pub command: PolicyCommand,
}

/// What the policy does about one event or timer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reaction {
    /// The command to issue, if any.
    pub step: Option<Step>,
    /// A timer to set, with the step when there is one.
    pub set: Option<TimerRequest>,
    /// Ids of timers the event makes moot.
    pub cancel: Vec<String>,
    /// Why the event cannot be followed: a late or crossing event with no compensation, sent
    /// to the dead letters with this reason.
    pub unfollowable: Option<String>,
}

impl Reaction {
    fn step(name: &'static str, command: PolicyCommand) -> Self {
        Self {
            step: Some(Step { name, command }),
            ..Self::default()
        }
    }

    fn unfollowable(reason: String) -> Self {
        Self {
            unfollowable: Some(reason),
            ..Self::default()
        }
    }

    fn cancelling(mut self, timer_id: String) -> Self {
        self.cancel.push(timer_id);
        self
    }
}

/// The order and its payment, as they are now.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'a> {
    pub order: Option<&'a OrderState>,
    pub payment: Option<&'a PaymentState>,
}

impl Facts<'_> {
    fn order_status(&self) -> Option<OrderStatus> {
        self.order.map(|order| order.status)
    }

    fn payment_status(&self) -> Option<PaymentStatus> {
        self.payment.map(|payment| payment.status)
    }
}

/// The payment an order's events are about: the one it was paid with, else the one the policy
/// requests for a wallet order.
pub fn payment_of(order: &OrderState) -> Option<PaymentId> {
    order.payment_id.or_else(|| {
        order
            .wallet_id
            .as_ref()
            .map(|_| PaymentId::for_order(order.order_id))
    })
}

/// Whether the policy drives this payment: the one it requested for a wallet order. Payments a
/// client requests itself are left to the client.
pub fn drives(payment: &PaymentState) -> bool {
    payment.payment_id == PaymentId::for_order(payment.order_id)
}

/// Whether the policy may do anything about this order event, whatever the state: the runner
/// loads no state for the others.
pub fn follows_order_event(event: &OrderEvent, rules: &PolicyRules) -> bool {
    match event {
        OrderEvent::OrderPlaced(placed) => placed.wallet_id.is_some(),
        OrderEvent::OrderShipped(_) => rules.capture == Capture::OnShipment,
        OrderEvent::OrderPaid(_) => false,
        OrderEvent::OrderDelivered(_)
        | OrderEvent::OrderPurchaseConfirmed(_)
        | OrderEvent::OrderCancelled(_)
        | OrderEvent::OrderLinesReturned(_) => true,
    }
}

/// Whether the policy may do anything about this payment event, whatever the state.
pub fn follows_payment_event(event: &PaymentEvent) -> bool {
    !matches!(event, PaymentEvent::PaymentRefunded(_))
}

/// What follows an order event recorded at `recorded_at`.
pub fn on_order_event(
    event: &OrderEvent,
    recorded_at: DateTime<Utc>,
    facts: Facts<'_>,
    rules: &PolicyRules,
) -> Reaction {
    match event {
        OrderEvent::OrderPlaced(placed) => {
            // Without a wallet the order waits for an explicit payment; with one requested
            // already, this event came again.
            let (Some(wallet_id), None) = (&placed.wallet_id, facts.payment) else {
                return Reaction::default();
            };
            let payment_id = PaymentId::for_order(placed.order_id);
            let request = PaymentCommand::Request {
                payment_id,
                order_id: placed.order_id,
                customer_id: placed.customer_id.clone(),
                wallet_id: wallet_id.clone(),
                amount: placed.total,
            };
            Reaction {
                set: Some(TimerRequest {
                    kind: TimerKind::AuthorizationTimeout,
                    subject: payment_id.to_string(),
                    due_at: recorded_at + rules.authorization_timeout,
                }),
                ..Reaction::step("request_payment", payment(payment_id, request))
            }
        }
        OrderEvent::OrderShipped(_) => match (rules.capture, facts.payment) {
            (Capture::OnShipment, Some(paid)) if paid.status == PaymentStatus::Authorized => {
                let capture = PaymentCommand::Capture { amount: None };
                Reaction::step("capture", payment(paid.payment_id, capture))
            }
            _ => Reaction::default(),
        },
        OrderEvent::OrderDelivered(_) => {
            // Confirmed or returned since (a late or repeated delivery): nothing to wait for.
            let Some(order) = facts.order.filter(|o| o.status == OrderStatus::Delivered) else {
                return Reaction::default();
            };
            Reaction {
                set: Some(TimerRequest {
                    kind: TimerKind::AutomaticConfirmation,
                    subject: order.order_id.to_string(),
                    due_at: recorded_at + rules.confirmation_after,
                }),
                ..Reaction::default()
            }
        }
        OrderEvent::OrderPurchaseConfirmed(_) => match facts.order {
            Some(order) => Reaction::default()
                .cancelling(TimerKind::AutomaticConfirmation.timer_id(&order.order_id.to_string())),
            None => Reaction::default(),
        },
        OrderEvent::OrderCancelled(cancelled) => {
            let reason = format!("order cancelled: {}", cancelled.reason);
            match facts.payment {
                Some(paid) => release(paid, reason),
                None => Reaction::default(),
            }
        }
        OrderEvent::OrderLinesReturned(returned) => {
            let refundable = facts
                .payment
                .filter(|paid| paid.status == PaymentStatus::Captured)
                .map(refundable);
            match refundable {
                Some(left) if left.amount >= returned.refund.amount => {
                    let Some(paid) = facts.payment else {
                        return Reaction::default();
                    };
                    let refund = PaymentCommand::Refund {
                        amount: returned.refund,
                        reason: format!("lines returned: {}", returned.reason),
                    };
                    Reaction::step("refund_returned_lines", payment(paid.payment_id, refund))
                }
                _ => Reaction::unfollowable(format!(
                    "lines returned for {}, but the order has no captured payment to refund \
                     them from (payment {})",
                    returned.refund,
                    facts
                        .payment_status()
                        .map_or_else(|| "none".to_owned(), |status| status.to_string())
                )),
            }
        }
        OrderEvent::OrderPaid(_) => Reaction::default(),
    }
}

/// What follows a payment event.
pub fn on_payment_event(event: &PaymentEvent, facts: Facts<'_>, rules: &PolicyRules) -> Reaction {
    let Some(paid) = facts.payment.filter(|paid| drives(paid)) else {
        return Reaction::default();
    };
    let timeout = TimerKind::AuthorizationTimeout.timer_id(&paid.payment_id.to_string());
    let order_status = facts.order_status();
    match event {
        PaymentEvent::PaymentRequested(_) if paid.status == PaymentStatus::Requested => {
            Reaction::step(
                "authorize",
                payment(paid.payment_id, PaymentCommand::Authorize),
            )
        }
        PaymentEvent::PaymentRequested(_) => Reaction::default(),
        PaymentEvent::PaymentAuthorized(_) => {
            let reaction = match (order_status, paid.status, rules.capture) {
                // Crossing: the order was cancelled while the wallet was authorizing.
                (Some(OrderStatus::Cancelled), _, _) => release(
                    paid,
                    "order cancelled before the payment was authorized".into(),
                ),
                (_, PaymentStatus::Authorized, Capture::Immediately) => {
                    let capture = PaymentCommand::Capture { amount: None };
                    Reaction::step("capture", payment(paid.payment_id, capture))
                }
                (Some(OrderStatus::Placed), PaymentStatus::Authorized, Capture::OnShipment) => {
                    let command = OrderCommand::MarkPaidOnHold {
                        payment_id: paid.payment_id,
                        amount: paid.authorized,
                    };
                    Reaction::step("mark_paid", order(paid.order_id, command))
                }
                _ => Reaction::default(),
            };
            reaction.cancelling(timeout)
        }
        PaymentEvent::PaymentDeclined(declined) => {
            let reaction = match order_status {
                Some(OrderStatus::Placed) => {
                    let cancel = OrderCommand::Cancel {
                        reason: format!("payment declined: {}", declined.reason),
                    };
                    Reaction::step("cancel_order", order(paid.order_id, cancel))
                }
                Some(OrderStatus::Cancelled) | None => Reaction::default(),
                Some(status) => Reaction::unfollowable(format!(
                    "payment {} declined ({}) for an order already {status}",
                    paid.payment_id, declined.reason
                )),
            };
            reaction.cancelling(timeout)
        }
        PaymentEvent::PaymentCaptured(captured) => match order_status {
            Some(OrderStatus::Placed) => {
                Reaction::step("mark_paid", mark_paid(paid, captured.amount))
            }
            // Crossing: the order was cancelled while the wallet was capturing.
            Some(OrderStatus::Cancelled) => release(
                paid,
                "order cancelled before the payment was captured".into(),
            ),
            _ => Reaction::default(),
        },
        PaymentEvent::PaymentVoided(_) => Reaction::default().cancelling(timeout),
        PaymentEvent::PaymentRefunded(_) => Reaction::default(),
    }
}

/// What a due timer does.
pub fn on_timer(kind: TimerKind, facts: Facts<'_>) -> Reaction {
    match kind {
        TimerKind::AuthorizationTimeout => match facts.payment {
            Some(paid) if paid.status == PaymentStatus::Requested => {
                let decline = PaymentCommand::Decline {
                    reason: "authorization_timeout".into(),
                };
                Reaction::step(kind.as_str(), payment(paid.payment_id, decline))
            }
            _ => Reaction::default(),
        },
        TimerKind::AutomaticConfirmation => match facts.order {
            Some(placed) if placed.status == OrderStatus::Delivered => {
                let confirm = OrderCommand::ConfirmPurchase { automatic: true };
                Reaction::step(kind.as_str(), order(placed.order_id, confirm))
            }
            _ => Reaction::default(),
        },
    }
}

/// Gives back what a payment holds or took: a void before capture, a refund of what is left
/// after; nothing once it is declined, voided or refunded.
fn release(paid: &PaymentState, reason: String) -> Reaction {
    match paid.status {
        PaymentStatus::Requested | PaymentStatus::Authorized => Reaction::step(
            "void",
            payment(paid.payment_id, PaymentCommand::Void { reason }),
        ),
        PaymentStatus::Captured if refundable(paid).amount > 0 => {
            let refund = PaymentCommand::Refund {
                amount: refundable(paid),
                reason,
            };
            Reaction::step("refund", payment(paid.payment_id, refund))
        }
        _ => Reaction::default(),
    }
}

fn refundable(paid: &PaymentState) -> Money {
    Money {
        amount: paid.captured.amount - paid.refunded.amount,
        currency: paid.captured.currency,
    }
}

fn mark_paid(paid: &PaymentState, amount: Money) -> PolicyCommand {
    let command = OrderCommand::MarkPaid {
        payment_id: paid.payment_id,
        amount,
    };
    order(paid.order_id, command)
}

fn payment(payment_id: PaymentId, command: PaymentCommand) -> PolicyCommand {
    PolicyCommand::Payment {
        payment_id,
        command,
    }
}

fn order(order_id: OrderId, command: OrderCommand) -> PolicyCommand {
    PolicyCommand::Order { order_id, command }
}
