//! Order views and sales: each order's detail and status timeline, partner sales per Seoul
//! day, monthly settlements and customer profiles from the order topic, and each order's
//! payments from the payment topic.

mod payment;
mod profile;
mod sales;
mod settlement;
mod view;

use std::collections::HashMap;

use eventmall_events::order::OrderEvent;

pub use eventmall_events::order::OrderStatus;
pub use payment::{PaymentChanges, PaymentView};
pub use profile::ProfileDelta;
pub use sales::{SalesDelta, SalesKey, seoul_day, seoul_month};
pub use settlement::{CommissionRate, Settlement};
pub use view::{LineView, OrderView, Shipping, TimelineEntry};

use crate::{Envelope, ProjectionError, Result};

/// What a batch of order events changes: the views touched (as they are now) and the sums to
/// add to sales and profiles.
#[derive(Debug, Default)]
pub struct OrderChanges {
    pub views: HashMap<String, OrderView>,
    pub sales: HashMap<SalesKey, SalesDelta>,
    pub profiles: HashMap<String, ProfileDelta>,
    /// Events already reflected in their view (a redelivery), left out.
    pub duplicates: usize,
}

impl OrderChanges {
    /// Starts from the stored views of the orders a batch touches.
    pub fn over(views: impl IntoIterator<Item = OrderView>) -> Self {
        Self {
            views: views
                .into_iter()
                .map(|view| (view.order_id.clone(), view))
                .collect(),
            ..Self::default()
        }
    }

    /// Applies one event. An event the view has already seen is counted as a duplicate and
    /// changes nothing; an error leaves every view and sum as it was.
    pub fn apply(&mut self, envelope: &Envelope<OrderEvent>) -> Result<()> {
        let current = self.views.get(&envelope.aggregate_id);
        if current.is_some_and(|view| envelope.sequence <= view.version) {
            self.duplicates += 1;
            return Ok(());
        }
        // An event of an order never placed is refused as such below.
        if current.is_some() || matches!(envelope.event, OrderEvent::OrderPlaced(_)) {
            let version = current.map_or(0, |view| view.version);
            ProjectionError::check_next(&envelope.aggregate_id, version, envelope.sequence)?;
        }
        let mut view = match (current, &envelope.event) {
            (None, OrderEvent::OrderPlaced(placed)) => OrderView::placed(envelope.with(placed)),
            (Some(_), OrderEvent::OrderPlaced(_)) => {
                return Err(ProjectionError::Inconsistent(format!(
                    "order {} placed twice",
                    envelope.aggregate_id
                )));
            }
            (None, event) => {
                return Err(ProjectionError::UnknownAggregate {
                    aggregate: "order",
                    id: envelope.aggregate_id.clone(),
                    event_type: event.type_name(),
                });
            }
            (Some(view), _) => view.clone(),
        };
        let effect = view.apply(envelope)?;
        let overflow = |what: String| ProjectionError::Overflow(what);
        let sales = match effect.sales {
            Some((key, delta)) => {
                let sum = self.sales.get(&key).copied().unwrap_or_default();
                let sum = sum.checked_add(delta).ok_or_else(|| {
                    overflow(format!(
                        "sales of partner {} on {}",
                        key.partner_id, key.day
                    ))
                })?;
                Some((key, sum))
            }
            None => None,
        };
        let profile = match effect.profile {
            Some(delta) => {
                let customer = &view.customer_id;
                let sum = self.profiles.get(customer).cloned().unwrap_or_default();
                let sum = sum
                    .checked_merge(delta)
                    .ok_or_else(|| overflow(format!("profile of customer {customer}")))?;
                Some((customer.clone(), sum))
            }
            None => None,
        };
        self.sales.extend(sales);
        self.profiles.extend(profile);
        self.views.insert(view.order_id.clone(), view);
        Ok(())
    }
}

/// What one event does beyond its order's view.
#[derive(Debug, Default, PartialEq)]
pub struct Effect {
    pub sales: Option<(SalesKey, SalesDelta)>,
    pub profile: Option<ProfileDelta>,
}
