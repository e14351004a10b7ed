use eventmall_events::{CustomerId, Money, OrderId, PaymentId, ProductId};
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
    },
    MarkPaid {
        payment_id: PaymentId,
        amount: Money,
    },
    Ship {
        carrier: String,
        tracking_number: String,
    },
    Deliver {
        receiver: Option<String>,
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
