use std::sync::Arc;

use async_trait::async_trait;
use eventmall_events::{Money, PartnerId, ProductId};

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

/// The services the Order aggregate uses.
#[derive(Clone)]
pub struct OrderServices {
    pub catalog: Arc<dyn ProductCatalog>,
}
