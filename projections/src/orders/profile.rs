//! What a customer's orders add up to.

use chrono::{DateTime, Utc};

/// Additions to a customer's profile. Paid orders count; a cancellation takes its order
/// back out, a refund only its amount.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileDelta {
    pub orders: i64,
    pub spent: i64,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Paid orders per top-level category.
    pub categories: Vec<(String, i64)>,
}

impl ProfileDelta {
    pub fn placed(at: DateTime<Utc>) -> Self {
        Self {
            last_order_at: Some(at),
            ..Self::default()
        }
    }

    pub fn paid(amount: i64, categories: Vec<String>) -> Self {
        Self {
            orders: 1,
            spent: amount,
            categories: categories.into_iter().map(|c| (c, 1)).collect(),
            ..Self::default()
        }
    }

    pub fn cancelled(amount: i64, categories: Vec<String>) -> Self {
        Self {
            orders: -1,
            spent: -amount,
            categories: categories.into_iter().map(|c| (c, -1)).collect(),
            ..Self::default()
        }
    }

    pub fn refunded(amount: i64) -> Self {
        Self {
            spent: -amount,
            ..Self::default()
        }
    }

    /// Both deltas in one, or `None` when a sum would leave an i64.
    pub fn checked_merge(&self, other: Self) -> Option<Self> {
        let mut merged = Self {
            orders: self.orders.checked_add(other.orders)?,
            spent: self.spent.checked_add(other.spent)?,
            last_order_at: self.last_order_at.max(other.last_order_at),
            categories: self.categories.clone(),
        };
        for (category, count) in other.categories {
            match merged.categories.iter_mut().find(|(c, _)| *c == category) {
                Some((_, total)) => *total = total.checked_add(count)?,
                None => merged.categories.push((category, count)),
            }
        }
        Some(merged)
    }
}
