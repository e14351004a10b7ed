use eventmall_events::Money;

use crate::rejection::{Rejection, RejectionKind};
use eventmall_events::payment::PaymentStatus;

/// Why a payment command was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("payment does not exist")]
    NotRequested,
    #[error("payment is already requested")]
    AlreadyRequested,
    #[error("cannot {action} a payment that is {status}")]
    IllegalTransition {
        action: &'static str,
        status: PaymentStatus,
    },
    #[error("amount must be at least 1, got {amount}")]
    InvalidAmount { amount: i64 },
    #[error("cannot capture {requested}: only {authorized} is authorized")]
    CaptureExceedsAuthorization { requested: Money, authorized: Money },
    #[error("cannot refund {requested}: only {refundable} of the capture is left")]
    RefundExceedsCapture { requested: Money, refundable: Money },
    #[error("{field} must not be empty")]
    Blank { field: &'static str },
    #[error("{field} {id:?} must be 1 to 100 of A-Z, a-z, 0-9, ., _ and -")]
    InvalidId { field: &'static str, id: String },
    #[error("{0}")]
    Wallet(String),
}

impl Rejection for PaymentError {
    fn kind(&self) -> RejectionKind {
        match self {
            Self::NotRequested => RejectionKind::NotFound,
            Self::Wallet(_) => RejectionKind::Unavailable,
            _ => RejectionKind::Invariant,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotRequested => "payment-not-found",
            Self::AlreadyRequested => "payment-already-requested",
            Self::IllegalTransition { .. } => "illegal-transition",
            Self::InvalidAmount { .. } => "invalid-amount",
            Self::CaptureExceedsAuthorization { .. } => "capture-exceeds-authorization",
            Self::RefundExceedsCapture { .. } => "refund-exceeds-capture",
            Self::Blank { .. } => "blank-field",
            Self::Wallet(_) => "wallet-unavailable",
            Self::InvalidId { .. } => "invalid-id",
        }
    }
}
