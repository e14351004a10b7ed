use std::sync::Arc;

use async_trait::async_trait;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId};

/// What an order needs to know of a product when it is placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub product_id: ProductId,
    pub partner_id: PartnerId,
    pub title: String,
    pub category: Vec<String>,
    pub price: Money,
    pub listed: bool,
}

/// The catalog could not be read.
#[derive(Debug, thiserror::Error)]
#[error("catalog unavailable: {0}")]
pub struct CatalogError(pub String);

/// Service port: the current state of products, for the price snapshot of a new order.
#[async_trait]
pub trait ProductCatalog: Send + Sync {
    /// The product's current entry, `None` when it was never registered.
    async fn entry(&self, product_id: ProductId) -> Result<Option<CatalogEntry>, CatalogError>;
}

/// What an order needs to know of a payment before it counts as paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    /// What the wallet has captured and not given back.
    pub captured: Money,
    /// What the wallet holds for it, authorized and not captured or voided yet.
    pub held: Money,
}

/// Service port: the payments, so an order is marked paid only by a payment of its own that
/// the wallet captured (or, for the payment policy's capture at shipment, holds in full).
#[async_trait]
pub trait PaymentLedger: Send + Sync {
    /// The payment, `None` when it was never requested.
    async fn payment(&self, payment_id: PaymentId) -> Result<Option<PaymentRecord>, CatalogError>;
}

/// Service port: seals personal data with the customer's data key (`pii:v1:…` text), so that
/// events only ever hold it encrypted.
#[async_trait]
pub trait PiiSealer: Send + Sync {
    async fn seal(&self, customer: &CustomerId, plaintext: &str) -> Result<String, CatalogError>;
}

/// The services the Order aggregate uses.
#[derive(Clone)]
pub struct OrderServices {
    pub catalog: Arc<dyn ProductCatalog>,
    pub payments: Arc<dyn PaymentLedger>,
    pub pii: Arc<dyn PiiSealer>,
}
