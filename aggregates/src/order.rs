//! Order: a customer buys one partner's products and pays with a wallet.

mod aggregate;
mod catalog;
mod commands;
mod error;
mod personal;

pub use aggregate::{Order, OrderState};
pub use catalog::{
    CatalogEntry, CatalogError, OrderServices, PaymentLedger, PaymentRecord, PiiSealer,
    ProductCatalog,
};
pub use commands::{LineRequest, OrderCommand, ReturnRequest};
pub use error::OrderError;
pub use eventmall_events::order::OrderStatus;
