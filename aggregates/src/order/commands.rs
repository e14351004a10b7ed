use eventmall_events::order::ShippingAddress;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId};
use serde::{Deserialize, Serialize};

/// A product and how many units of it to buy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineRequest {
    pub product_id: ProductId,
    /// At least 1.
    #[schema(minimum = 1)]
    pub quantity: u32,
}

/// Units of an order line to give back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReturnRequest {
    pub line_no: u32,
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OrderCommand {
    Place {
        order_id: OrderId,
        customer_id: CustomerId,
        lines: Vec<LineRequest>,
        /// The wallet to pay with; the payment policy takes it from there. `None`: the order
        /// waits for an explicit payment.
        wallet_id: Option<WalletId>,
        /// Where it goes; sealed with the customer's data key before it is recorded.
        shipping: Option<ShippingAddress>,
    },
    MarkPaid {
        payment_id: PaymentId,
        amount: Money,
    },
    /// Paid on a hold: the wallet holds the total, captured when the order ships (the payment
    /// policy's `on_shipment` capture). Not a client's command.
    MarkPaidOnHold {
        payment_id: PaymentId,
        amount: Money,
    },
    /// Handed to a carrier, as the partner reporting it (`by_partner`) says: the order's
    /// seller only.
    Ship {
        carrier: String,
        tracking_number: String,
        by_partner: PartnerId,
    },
    /// Delivered, as the partner reporting it (`by_partner`) says: the order's seller only.
    /// The receiver is sealed with the customer's data key before it is recorded.
    Deliver {
        receiver: Option<String>,
        by_partner: PartnerId,
    },
    ConfirmPurchase {
        automatic: bool,
    },
    Cancel {
        reason: String,
    },
    Return {
        lines: Vec<ReturnRequest>,
        reason: String,
    },
}

impl OrderCommand {
    /// The command's name, as metrics label it: one of a fixed set.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Place { .. } => "Place",
            Self::MarkPaid { .. } => "MarkPaid",
            Self::MarkPaidOnHold { .. } => "MarkPaidOnHold",
            Self::Ship { .. } => "Ship",
            Self::Deliver { .. } => "Deliver",
            Self::ConfirmPurchase { .. } => "ConfirmPurchase",
            Self::Cancel { .. } => "Cancel",
            Self::Return { .. } => "Return",
        }
    }
}
