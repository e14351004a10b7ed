//! Port implementations for domain tests: a fixed catalog, the payments a test captured, and a
//! scripted wallet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use eventmall_aggregates::order::{
    CatalogEntry, CatalogError, PaymentLedger, PaymentRecord, PiiSealer, ProductCatalog,
};
use eventmall_aggregates::payment::{AuthorizationOutcome, WalletError, WalletGateway};
use eventmall_aggregates::{OrderServices, PaymentServices};
use eventmall_events::product::ProductDetails;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId};

pub fn details(title: &str) -> ProductDetails {
    ProductDetails {
        title: title.into(),
        brand: Some("삼성".into()),
        category: vec!["가전".into(), "청소기".into()],
        model_number: Some("VS20A956A".into()),
    }
}

pub fn partner() -> PartnerId {
    PartnerId::from("shop-1")
}

pub fn entry(sku: &str, partner: &str, price: i64, listed: bool) -> CatalogEntry {
    let partner_id = PartnerId::from(partner);
    CatalogEntry {
        product_id: ProductId::for_partner_sku(&partner_id, sku),
        partner_id,
        title: format!("상품 {sku}"),
        category: vec!["가전".into()],
        price: Money::krw(price),
        listed,
    }
}

#[derive(Default)]
pub struct FixedCatalog(pub HashMap<ProductId, CatalogEntry>);

#[async_trait]
impl ProductCatalog for FixedCatalog {
    async fn entry(&self, product_id: ProductId) -> Result<Option<CatalogEntry>, CatalogError> {
        Ok(self.0.get(&product_id).cloned())
    }
}

pub struct DownCatalog;

#[async_trait]
impl ProductCatalog for DownCatalog {
    async fn entry(&self, _: ProductId) -> Result<Option<CatalogEntry>, CatalogError> {
        Err(CatalogError("connection refused".into()))
    }
}

/// The payments a test has captured.
#[derive(Clone, Default)]
pub struct CapturedPayments(Arc<Mutex<HashMap<PaymentId, PaymentRecord>>>);

impl CapturedPayments {
    /// Records that the wallet captured `captured` for the customer's order.
    pub fn capture(&self, payment: PaymentId, order: OrderId, customer: &str, captured: Money) {
        let record = PaymentRecord {
            order_id: order,
            customer_id: CustomerId::from(customer),
            captured,
            held: Money::zero(captured.currency),
        };
        self.0.lock().unwrap().insert(payment, record);
    }
}

#[async_trait]
impl PaymentLedger for CapturedPayments {
    async fn payment(&self, payment_id: PaymentId) -> Result<Option<PaymentRecord>, CatalogError> {
        Ok(self.0.lock().unwrap().get(&payment_id).cloned())
    }
}

/// Seals as the vault does in form, without encryption: the domain's tests see that events
/// carry sealed text only. The vault itself is tested with the event store.
pub struct TestSealer;

impl TestSealer {
    /// What sealing `plaintext` for `customer` gives.
    pub fn sealed(customer: &str, plaintext: &str) -> String {
        format!("pii:v1:key-{customer}:{}", plaintext.len())
    }
}

#[async_trait]
impl PiiSealer for TestSealer {
    async fn seal(&self, customer: &CustomerId, plaintext: &str) -> Result<String, CatalogError> {
        Ok(Self::sealed(&customer.0, plaintext))
    }
}

pub fn order_services(entries: &[CatalogEntry], payments: CapturedPayments) -> OrderServices {
    let catalog = entries
        .iter()
        .map(|entry| (entry.product_id, entry.clone()))
        .collect();
    OrderServices {
        catalog: Arc::new(FixedCatalog(catalog)),
        payments: Arc::new(payments),
        pii: Arc::new(TestSealer),
    }
}

/// Answers authorizations as scripted and records every call.
#[derive(Default)]
pub struct ScriptedWallet {
    pub decline_with: Option<String>,
    pub down: bool,
    pub calls: Mutex<Vec<String>>,
}

impl ScriptedWallet {
    fn call(&self, what: String) -> Result<(), WalletError> {
        if self.down {
            return Err(WalletError("timeout".into()));
        }
        self.calls.lock().unwrap().push(what);
        Ok(())
    }
}

#[async_trait]
impl WalletGateway for ScriptedWallet {
    async fn authorize(
        &self,
        _: PaymentId,
        wallet_id: &WalletId,
        _: &CustomerId,
        amount: Money,
    ) -> Result<AuthorizationOutcome, WalletError> {
        self.call(format!("authorize {wallet_id} {}", amount.amount))?;
        Ok(match &self.decline_with {
            Some(reason) => AuthorizationOutcome::Declined {
                reason: reason.clone(),
            },
            None => AuthorizationOutcome::Approved {
                authorization_code: "AUTH-1".into(),
            },
        })
    }

    async fn capture(&self, _: PaymentId, amount: Money) -> Result<(), WalletError> {
        self.call(format!("capture {}", amount.amount))
    }

    async fn refund(&self, _: PaymentId, amount: Money, _: Money) -> Result<(), WalletError> {
        self.call(format!("refund {}", amount.amount))
    }

    async fn void(&self, _: PaymentId) -> Result<(), WalletError> {
        self.call("void".into())
    }
}

pub fn payment_services(wallet: ScriptedWallet) -> PaymentServices {
    PaymentServices {
        wallet: Arc::new(wallet),
    }
}
