use eventmall_events::{Money, PartnerId, PaymentId, ProductId};

use crate::rejection::{Rejection, RejectionKind};
use eventmall_events::order::OrderStatus;

/// Why an order command was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("order does not exist")]
    NotPlaced,
    #[error("order is already placed")]
    AlreadyPlaced,
    #[error("cannot {action} an order that is {status}")]
    IllegalTransition {
        action: &'static str,
        status: OrderStatus,
    },
    #[error("an order has 1 to 100 lines, got {count}")]
    LineCount { count: usize },
    #[error("quantity must be 1 to 9999 on line {line_no}")]
    InvalidQuantity { line_no: u32 },
    #[error("product {product_id} appears on more than one line")]
    DuplicateProduct { product_id: ProductId },
    #[error("product {product_id} is unknown")]
    UnknownProduct { product_id: ProductId },
    #[error("product {product_id} is delisted")]
    ProductDelisted { product_id: ProductId },
    #[error("an order buys from one partner; {product_id} belongs to {partner_id}")]
    MixedPartners {
        product_id: ProductId,
        partner_id: PartnerId,
    },
    #[error("order total overflows")]
    TotalOverflow,
    #[error("payment of {paid} does not match the order total {total}")]
    AmountMismatch { paid: Money, total: Money },
    #[error("{field} must not be empty")]
    Blank { field: &'static str },
    #[error("order has no line {line_no}")]
    UnknownLine { line_no: u32 },
    #[error("line {line_no} has {remaining} units left to return, asked for {requested}")]
    ReturnExceedsLine {
        line_no: u32,
        remaining: u32,
        requested: u32,
    },
    #[error("the order is sold by partner {seller}")]
    NotSeller { seller: PartnerId },
    #[error("{field} {id:?} must be 1 to 100 of A-Z, a-z, 0-9, ., _ and -")]
    InvalidId { field: &'static str, id: String },
    #[error("payment {payment_id} does not exist")]
    UnknownPayment { payment_id: PaymentId },
    #[error("payment {payment_id} pays another order or another customer's")]
    NotThisOrdersPayment { payment_id: PaymentId },
    #[error("payment {payment_id} has {captured} captured, the order's total is {total}")]
    NotCaptured {
        payment_id: PaymentId,
        captured: Money,
        total: Money,
    },
    #[error("{0}")]
    Catalog(String),
    #[error("shipping address: {0}")]
    InvalidShipping(String),
    #[error("the receiver has at most {max} characters and no control characters")]
    InvalidReceiver { max: usize },
    /// Personal data could not be sealed: the customer's data key could not be had.
    #[error("{0}")]
    Vault(String),
}

impl Rejection for OrderError {
    fn kind(&self) -> RejectionKind {
        match self {
            Self::NotPlaced => RejectionKind::NotFound,
            Self::Catalog(_) | Self::Vault(_) => RejectionKind::Unavailable,
            Self::NotSeller { .. } => RejectionKind::Forbidden,
            _ => RejectionKind::Invariant,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotPlaced => "order-not-found",
            Self::AlreadyPlaced => "order-already-placed",
            Self::IllegalTransition { .. } => "illegal-transition",
            Self::LineCount { .. } => "invalid-line-count",
            Self::InvalidQuantity { .. } => "invalid-quantity",
            Self::DuplicateProduct { .. } => "duplicate-product",
            Self::UnknownProduct { .. } => "unknown-product",
            Self::ProductDelisted { .. } => "product-delisted",
            Self::MixedPartners { .. } => "mixed-partners",
            Self::TotalOverflow => "total-overflow",
            Self::AmountMismatch { .. } => "amount-mismatch",
            Self::Blank { .. } => "blank-field",
            Self::UnknownLine { .. } => "unknown-line",
            Self::ReturnExceedsLine { .. } => "return-exceeds-line",
            Self::NotSeller { .. } => "not-order-seller",
            Self::Catalog(_) => "catalog-unavailable",
            Self::InvalidShipping(_) => "invalid-shipping-address",
            Self::InvalidReceiver { .. } => "invalid-receiver",
            Self::Vault(_) => "pii-vault-unavailable",
            Self::InvalidId { .. } => "invalid-id",
            Self::UnknownPayment { .. } => "unknown-payment",
            Self::NotThisOrdersPayment { .. } => "payment-of-another-order",
            Self::NotCaptured { .. } => "payment-not-captured",
        }
    }
}
