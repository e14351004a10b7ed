//! The Order aggregate's product catalog port, read from the Product aggregates in the store.

use async_trait::async_trait;
use eventmall_aggregates::Product;
use eventmall_aggregates::order::{CatalogEntry, CatalogError, ProductCatalog};
use eventmall_events::ProductId;

use crate::store::SqlEventStore;

pub struct StoreCatalog {
    products: SqlEventStore<Product>,
}

impl StoreCatalog {
    pub fn new(products: SqlEventStore<Product>) -> Self {
        Self { products }
    }
}

#[async_trait]
impl ProductCatalog for StoreCatalog {
    async fn entry(&self, product_id: ProductId) -> Result<Option<CatalogEntry>, CatalogError> {
        let loaded = self
            .products
            .load(&product_id.to_string())
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        Ok(loaded.aggregate.state.map(|state| CatalogEntry {
            product_id: state.product_id,
            partner_id: state.partner_id,
            title: state.details.title,
            category: state.details.category,
            price: state.price,
            listed: state.listed,
        }))
    }
}
