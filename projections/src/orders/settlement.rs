//! Monthly partner settlements: what a month's net sales pay out after commission.

use serde::{Deserialize, Serialize};

use super::SalesDelta;

/// The platform's commission in basis points (1080 = 10.80 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommissionRate(pub u32);

impl CommissionRate {
    /// The commission on `net`, truncated toward zero to the smallest unit (fractions of a won
    /// are dropped in the partner's favour). A negative net (refunds of earlier months) gives
    /// a negative commission: the platform returns its share.
    pub fn commission(self, net: i64) -> i64 {
        let commission = i128::from(net) * i128::from(self.0) / 10_000;
        i64::try_from(commission).unwrap_or(if net < 0 { i64::MIN } else { i64::MAX })
    }
}

/// One partner's month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settlement {
    pub partner_id: String,
    /// `YYYY-MM`, in Seoul time.
    pub month: String,
    pub currency: String,
    pub sales: SalesDelta,
    pub commission_rate_bp: u32,
    pub commission: i64,
    /// Net minus commission.
    pub payout: i64,
}

impl Settlement {
    pub fn new(
        partner_id: String,
        month: String,
        currency: String,
        sales: SalesDelta,
        rate: CommissionRate,
    ) -> Self {
        let commission = rate.commission(sales.net);
        Self {
            partner_id,
            month,
            currency,
            sales,
            commission_rate_bp: rate.0,
            commission,
            payout: sales.net - commission,
        }
    }
}
