//! Partner sales per Asia/Seoul calendar day.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Seoul;
use eventmall_events::money::Currency;
use serde::{Deserialize, Serialize};

/// The Seoul calendar day of an instant: sales and settlements are kept in Seoul days.
pub fn seoul_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&Seoul).date_naive()
}

/// The Seoul month of a day, as `YYYY-MM`.
pub fn seoul_month(day: NaiveDate) -> String {
    day.format("%Y-%m").to_string()
}

/// One row of daily sales.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SalesKey {
    pub partner_id: String,
    pub day: NaiveDate,
    pub currency: Currency,
}

/// Sums of one partner's day, in the currency's smallest unit. Sales count an order on the
/// day it is paid; a cancellation or refund counts on its own day, so a day's net may be
/// negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SalesDelta {
    /// Orders paid.
    pub orders: i64,
    /// Units in the orders paid.
    pub units: i64,
    /// Amount paid.
    pub gross: i64,
    /// Paid orders cancelled.
    pub cancellations: i64,
    /// Amount given back by cancellations.
    pub cancelled: i64,
    /// Amount refunded for returned lines.
    pub refunds: i64,
    /// Gross minus cancelled minus refunds.
    pub net: i64,
}

impl SalesDelta {
    pub fn paid(units: i64, amount: i64) -> Self {
        Self {
            orders: 1,
            units,
            gross: amount,
            net: amount,
            ..Self::default()
        }
    }

    pub fn cancelled(amount: i64) -> Self {
        Self {
            cancellations: 1,
            cancelled: amount,
            net: -amount,
            ..Self::default()
        }
    }

    pub fn refunded(amount: i64) -> Self {
        Self {
            refunds: amount,
            net: -amount,
            ..Self::default()
        }
    }
}

impl SalesDelta {
    /// The sums of both, or `None` when one would leave an i64.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        Some(Self {
            orders: self.orders.checked_add(other.orders)?,
            units: self.units.checked_add(other.units)?,
            gross: self.gross.checked_add(other.gross)?,
            cancellations: self.cancellations.checked_add(other.cancellations)?,
            cancelled: self.cancelled.checked_add(other.cancelled)?,
            refunds: self.refunds.checked_add(other.refunds)?,
            net: self.net.checked_add(other.net)?,
        })
    }
}
