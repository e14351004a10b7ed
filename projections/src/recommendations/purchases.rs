//! The paid orders of the log, folded from the stored events in order: what the offline
//! evaluation learns from and holds out.

use std::collections::{HashMap, HashSet};

use eventmall_events::StoredEvent;
use eventmall_events::order::OrderEvent;

use super::Purchase;

/// Every paid order not cancelled, as the events tell it so far.
#[derive(Debug, Default)]
pub struct Purchases {
    placed: HashMap<String, Purchase>,
    paid: Vec<String>,
    cancelled: HashSet<String>,
}

impl Purchases {
    /// Takes in the next stored event; events of other aggregates are passed over.
    pub fn apply(&mut self, stored: &StoredEvent) -> Result<(), serde_json::Error> {
        if stored.aggregate_type != OrderEvent::AGGREGATE_TYPE {
            return Ok(());
        }
        let id = stored.aggregate_id.clone();
        match OrderEvent::from_json(&stored.event_type, &stored.payload)? {
            OrderEvent::OrderPlaced(order) => {
                let lines = order
                    .lines
                    .iter()
                    .map(|l| (l.product_id, l.quantity, l.category.clone()))
                    .collect();
                let purchase = Purchase {
                    customer_id: order.customer_id.to_string(),
                    order_id: id.clone(),
                    paid_at: stored.metadata.recorded_at,
                    lines,
                };
                self.placed.insert(id, purchase);
            }
            OrderEvent::OrderPaid(_) => {
                if let Some(order) = self.placed.get_mut(&id) {
                    order.paid_at = stored.metadata.recorded_at;
                    self.paid.push(id);
                }
            }
            OrderEvent::OrderCancelled(_) => {
                self.cancelled.insert(id);
            }
            _ => {}
        }
        Ok(())
    }

    /// The paid orders not cancelled, in the order they were paid.
    pub fn finish(mut self) -> Vec<Purchase> {
        let cancelled = self.cancelled;
        self.paid
            .into_iter()
            .filter(|id| !cancelled.contains(id))
            .filter_map(|id| self.placed.remove(&id))
            .collect()
    }
}
