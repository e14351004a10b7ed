use eventmall_events::PartnerId;

use crate::rejection::{Rejection, RejectionKind};

/// Why a product command was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    #[error("product is not registered")]
    NotRegistered,
    #[error("product is already registered")]
    AlreadyRegistered,
    #[error("product id does not match the partner and sku")]
    IdMismatch,
    #[error("product belongs to partner {owner}")]
    NotOwner { owner: PartnerId },
    #[error("price must be 1 to 10000000000, got {amount}")]
    InvalidPrice { amount: i64 },
    #[error("title must have 1 to 100 characters, got {length}")]
    InvalidTitle { length: usize },
    #[error("sku must have 1 to 50 characters, got {length}")]
    InvalidSku { length: usize },
    #[error("sku {sku:?} may hold only A-Z, a-z, 0-9, -, _ and .")]
    SkuCharacters { sku: String },
    #[error("{field} {id:?} must be 1 to 100 of A-Z, a-z, 0-9, ., _ and -")]
    InvalidId { field: &'static str, id: String },
    #[error("category must have 1 to 4 non-empty levels")]
    InvalidCategory,
    #[error("{field} must have at most {max} characters, got {length}")]
    TooLong {
        field: &'static str,
        length: usize,
        max: usize,
    },
}

impl Rejection for ProductError {
    fn kind(&self) -> RejectionKind {
        match self {
            Self::NotRegistered => RejectionKind::NotFound,
            Self::NotOwner { .. } => RejectionKind::Forbidden,
            _ => RejectionKind::Invariant,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotRegistered => "product-not-registered",
            Self::AlreadyRegistered => "product-already-registered",
            Self::IdMismatch => "product-id-mismatch",
            Self::NotOwner { .. } => "not-product-owner",
            Self::InvalidPrice { .. } => "invalid-price",
            Self::InvalidTitle { .. } => "invalid-title",
            Self::InvalidSku { .. } | Self::SkuCharacters { .. } => "invalid-sku",
            Self::InvalidCategory => "invalid-category",
            Self::InvalidId { .. } => "invalid-id",
            Self::TooLong { .. } => "field-too-long",
        }
    }
}
