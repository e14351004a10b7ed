//! One order as its customer and its partner see it.

use chrono::{DateTime, Utc};
use eventmall_events::Money;
use eventmall_events::order::{OrderEvent, OrderPlaced, OrderStatus, ShippingAddress};
use serde::{Deserialize, Serialize};

use super::{Effect, ProfileDelta, SalesDelta, SalesKey};
use crate::{Envelope, ProjectionError, Result};

/// A line of the order, with what has come back of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineView {
    pub line_no: u32,
    pub product_id: String,
    pub title: String,
    pub category: Vec<String>,
    pub unit_price: Money,
    pub quantity: u32,
    pub returned: u32,
}

/// A step of the order's life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    /// What came with the step: the carrier and tracking number, a reason, a refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub customer_id: String,
    pub partner_id: String,
    pub status: OrderStatus,
    pub lines: Vec<LineView>,
    pub total: Money,
    /// What was paid and not given back (by cancellation or refund).
    pub paid: Money,
    pub refunded: Money,
    pub payment_id: Option<String>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub timeline: Vec<TimelineEntry>,
    /// The sequence of the last event applied.
    pub version: i64,
    /// Where it goes. The read model keeps it sealed, as the event has it; a read route opens
    /// it for the order's customer and partner, and shows it redacted once the customer is
    /// forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Shipping>,
}

/// An order's shipping address: sealed as recorded, or opened for a reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Shipping {
    /// `pii:v1:…`, as the read model keeps it.
    Sealed(String),
    /// As a read route answers it; every field `[redacted]` once its customer is forgotten.
    Address(ShippingAddress),
}

impl OrderView {
    /// The view of a just-placed order, before [`apply`](Self::apply) records the placement.
    pub(super) fn placed(envelope: Envelope<&OrderPlaced>) -> Self {
        let placed = envelope.event;
        Self {
            order_id: envelope.aggregate_id.clone(),
            customer_id: placed.customer_id.to_string(),
            partner_id: placed.partner_id.to_string(),
            status: OrderStatus::Placed,
            lines: placed
                .lines
                .iter()
                .map(|line| LineView {
                    line_no: line.line_no,
                    product_id: line.product_id.to_string(),
                    title: line.title.clone(),
                    category: line.category.clone(),
                    unit_price: line.unit_price,
                    quantity: line.quantity,
                    returned: 0,
                })
                .collect(),
            total: placed.total,
            paid: Money::zero(placed.total.currency),
            refunded: Money::zero(placed.total.currency),
            payment_id: None,
            placed_at: envelope.recorded_at,
            updated_at: envelope.recorded_at,
            timeline: Vec::new(),
            version: 0,
            shipping: placed.shipping.clone().map(Shipping::Sealed),
        }
    }

    /// Units over every line; an i64 holds any order's (at most 2³² lines of 2³² units).
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|line| i64::from(line.quantity)).sum()
    }

    /// Top-level categories of the order's lines, each once.
    pub fn top_categories(&self) -> Vec<String> {
        let mut categories: Vec<String> = self
            .lines
            .iter()
            .filter_map(|line| line.category.first().cloned())
            .collect();
        categories.sort();
        categories.dedup();
        categories
    }

    fn sales_key(&self, at: DateTime<Utc>) -> SalesKey {
        SalesKey {
            partner_id: self.partner_id.clone(),
            day: super::seoul_day(at),
            currency: self.total.currency,
        }
    }

    /// Applies an event of this order; answers what it adds to sales and to the profile.
    pub(super) fn apply(&mut self, envelope: &Envelope<OrderEvent>) -> Result<Effect> {
        let at = envelope.recorded_at;
        let money = |result: Option<Money>| {
            result.ok_or_else(|| {
                ProjectionError::Inconsistent(format!("order {} amounts overflow", self.order_id))
            })
        };
        let (status, detail, effect) = match &envelope.event {
            OrderEvent::OrderPlaced(_) => (
                OrderStatus::Placed,
                None,
                Effect {
                    profile: Some(ProfileDelta::placed(at)),
                    ..Effect::default()
                },
            ),
            OrderEvent::OrderPaid(paid) => {
                self.payment_id = Some(paid.payment_id.to_string());
                self.paid = paid.amount;
                let sales = SalesDelta::paid(self.units(), paid.amount.amount);
                (
                    OrderStatus::Paid,
                    None,
                    Effect {
                        sales: Some((self.sales_key(at), sales)),
                        profile: Some(ProfileDelta::paid(
                            paid.amount.amount,
                            self.top_categories(),
                        )),
                    },
                )
            }
            OrderEvent::OrderShipped(shipped) => (
                OrderStatus::Shipped,
                Some(format!("{} {}", shipped.carrier, shipped.tracking_number)),
                Effect::default(),
            ),
            OrderEvent::OrderDelivered(delivered) => (
                OrderStatus::Delivered,
                delivered.receiver.clone(),
                Effect::default(),
            ),
            OrderEvent::OrderPurchaseConfirmed(confirmed) => (
                OrderStatus::PurchaseConfirmed,
                confirmed.automatic.then(|| "automatic".to_owned()),
                Effect::default(),
            ),
            OrderEvent::OrderCancelled(cancelled) => {
                // Only a paid order was counted in sales; cancelling it takes back what is
                // left of the payment, on the day of the cancellation.
                let given_back = self.paid;
                let effect = match given_back.amount {
                    0 => Effect::default(),
                    amount => Effect {
                        sales: Some((self.sales_key(at), SalesDelta::cancelled(amount))),
                        profile: Some(ProfileDelta::cancelled(amount, self.top_categories())),
                    },
                };
                self.paid = money(self.paid.checked_sub(given_back))?;
                (
                    OrderStatus::Cancelled,
                    Some(cancelled.reason.clone()),
                    effect,
                )
            }
            OrderEvent::OrderLinesReturned(returned) => {
                for line in &returned.lines {
                    let Some(view) = self.lines.iter_mut().find(|l| l.line_no == line.line_no)
                    else {
                        return Err(ProjectionError::Inconsistent(format!(
                            "order {} has no line {}",
                            self.order_id, line.line_no
                        )));
                    };
                    view.returned = view.returned.saturating_add(line.quantity);
                }
                self.refunded = money(self.refunded.checked_add(returned.refund))?;
                self.paid = money(self.paid.checked_sub(returned.refund))?;
                let all_back = self.lines.iter().all(|line| line.returned >= line.quantity);
                let status = match all_back {
                    true => OrderStatus::Returned,
                    false => OrderStatus::PartiallyReturned,
                };
                let refund = returned.refund.amount;
                (
                    status,
                    Some(format!("{}: refund {refund}", returned.reason)),
                    Effect {
                        sales: Some((self.sales_key(at), SalesDelta::refunded(refund))),
                        profile: Some(ProfileDelta::refunded(refund)),
                    },
                )
            }
        };
        self.status = status;
        self.updated_at = at;
        self.version = envelope.sequence;
        self.timeline.push(TimelineEntry { status, at, detail });
        Ok(effect)
    }
}
