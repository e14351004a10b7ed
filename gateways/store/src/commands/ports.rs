//! The Order aggregate's ports over the event store: the catalog (the Product aggregates) and
//! the payment ledger (the Payment aggregates).

use async_trait::async_trait;
use eventmall_aggregates::order::{
    CatalogEntry, CatalogError, PaymentLedger, PaymentRecord, PiiSealer, ProductCatalog,
};
use eventmall_aggregates::payment::PaymentStatus;
use eventmall_aggregates::{Payment, Product};
use eventmall_events::{CustomerId, Money, PaymentId, ProductId};

use crate::SqlEventStore;

/// The Order aggregate's catalog port: the Product aggregates in the store.
pub(super) struct StoreCatalog {
    pub(super) products: SqlEventStore<Product>,
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

/// The payments as the Order aggregate sees them, from the event store.
pub(super) struct StoreLedger {
    pub(super) payments: SqlEventStore<Payment>,
}

#[async_trait]
impl PaymentLedger for StoreLedger {
    async fn payment(&self, payment_id: PaymentId) -> Result<Option<PaymentRecord>, CatalogError> {
        let loaded = self
            .payments
            .load(&payment_id.to_string())
            .await
            .map_err(|e| CatalogError(e.to_string()))?;
        Ok(loaded.aggregate.state.map(|state| PaymentRecord {
            order_id: state.order_id,
            customer_id: state.customer_id,
            captured: Money {
                amount: state.captured.amount.saturating_sub(state.refunded.amount),
                currency: state.captured.currency,
            },
            held: match state.status {
                PaymentStatus::Authorized => state.authorized,
                _ => Money::zero(state.authorized.currency),
            },
        }))
    }
}

/// The sealing port of a gateway without a vault: personal data is refused, never recorded in
/// the clear.
pub(super) struct NoVault;

#[async_trait]
impl PiiSealer for NoVault {
    async fn seal(&self, _: &CustomerId, _: &str) -> Result<String, CatalogError> {
        Err(CatalogError(
            "no vault of customers' data keys: personal data cannot be sealed".into(),
        ))
    }
}
