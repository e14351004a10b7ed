use eventmall_events::{CustomerId, Money, OrderId, PaymentId, WalletId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PaymentCommand {
    Request {
        payment_id: PaymentId,
        order_id: OrderId,
        customer_id: CustomerId,
        wallet_id: WalletId,
        amount: Money,
    },
    /// Ask the wallet to hold the amount; its answer is either event.
    Authorize,
    /// The wallet declined out of band (a callback).
    Decline {
        reason: String,
    },
    /// Capture `amount`, or the whole authorization when `None`.
    Capture {
        amount: Option<Money>,
    },
    Refund {
        amount: Money,
        reason: String,
    },
    Void {
        reason: String,
    },
}

impl PaymentCommand {
    /// The command's name, as metrics label it: one of a fixed set.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Request { .. } => "Request",
            Self::Authorize => "Authorize",
            Self::Decline { .. } => "Decline",
            Self::Capture { .. } => "Capture",
            Self::Refund { .. } => "Refund",
            Self::Void { .. } => "Void",
        }
    }
}
