//! An order's payment as the order views show it, from the payment topic: its state and the
//! amounts authorized, captured and refunded.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use eventmall_events::Money;
use eventmall_events::payment::{PaymentEvent, PaymentStatus};
use serde::{Deserialize, Serialize};

use crate::{Envelope, ProjectionError, Result};

/// One payment of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub payment_id: String,
    pub order_id: String,
    pub status: PaymentStatus,
    /// What was asked for.
    pub amount: Money,
    /// What the wallet held (zero once voided).
    pub authorized: Money,
    pub captured: Money,
    pub refunded: Money,
    /// The wallet's reason, when it declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event applied.
    pub version: i64,
}

/// What a batch of payment events changes: the payments touched, as they are now.
#[derive(Debug, Default)]
pub struct PaymentChanges {
    pub views: HashMap<String, PaymentView>,
    /// Events already reflected in their view (a redelivery), left out.
    pub duplicates: usize,
}

impl PaymentChanges {
    /// Starts from the stored views of the payments a batch touches.
    pub fn over(views: impl IntoIterator<Item = PaymentView>) -> Self {
        Self {
            views: views
                .into_iter()
                .map(|view| (view.payment_id.clone(), view))
                .collect(),
            duplicates: 0,
        }
    }

    /// Applies one event; an event already seen is counted as a duplicate and changes nothing.
    pub fn apply(&mut self, envelope: &Envelope<PaymentEvent>) -> Result<()> {
        let id = &envelope.aggregate_id;
        let current = self.views.get(id);
        if current.is_some_and(|view| envelope.sequence <= view.version) {
            self.duplicates += 1;
            return Ok(());
        }
        let version = current.map_or(0, |view| view.version);
        ProjectionError::check_next(id, version, envelope.sequence)?;
        let mut view = match (current, &envelope.event) {
            (None, PaymentEvent::PaymentRequested(requested)) => {
                let zero = Money::zero(requested.amount.currency);
                PaymentView {
                    payment_id: id.clone(),
                    order_id: requested.order_id.to_string(),
                    status: PaymentStatus::Requested,
                    amount: requested.amount,
                    authorized: zero,
                    captured: zero,
                    refunded: zero,
                    declined_reason: None,
                    requested_at: envelope.recorded_at,
                    updated_at: envelope.recorded_at,
                    version: 0,
                }
            }
            (Some(_), PaymentEvent::PaymentRequested(_)) => {
                return Err(ProjectionError::Inconsistent(format!(
                    "payment {id} requested twice"
                )));
            }
            (None, event) => {
                return Err(ProjectionError::UnknownAggregate {
                    aggregate: "payment",
                    id: id.clone(),
                    event_type: event.type_name(),
                });
            }
            (Some(view), _) => view.clone(),
        };
        match &envelope.event {
            PaymentEvent::PaymentRequested(_) => {}
            PaymentEvent::PaymentAuthorized(e) => {
                view.status = PaymentStatus::Authorized;
                view.authorized = e.amount;
            }
            PaymentEvent::PaymentDeclined(e) => {
                view.status = PaymentStatus::Declined;
                view.declined_reason = Some(e.reason.clone());
            }
            PaymentEvent::PaymentCaptured(e) => {
                view.status = PaymentStatus::Captured;
                view.captured = e.amount;
            }
            PaymentEvent::PaymentRefunded(e) => {
                view.refunded = e.refunded_total;
                if view.refunded.amount >= view.captured.amount {
                    view.status = PaymentStatus::Refunded;
                }
            }
            PaymentEvent::PaymentVoided(_) => {
                view.status = PaymentStatus::Voided;
                view.authorized = Money::zero(view.authorized.currency);
            }
        }
        view.version = envelope.sequence;
        view.updated_at = envelope.recorded_at;
        self.views.insert(id.clone(), view);
        Ok(())
    }
}
