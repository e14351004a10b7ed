//! Eventmall's write side: the Product, Order and Payment aggregates on cqrs-es.
//!
//! Each aggregate lives in its own folder as a `commands`, `aggregate`, `error` trio; events are
//! the contract and live in `eventmall-events`. No I/O happens here: what an aggregate needs from
//! outside (a product's current price, a wallet's answer) comes through a service port.
//! The order↔payment policy decides here too (`policy`): which command follows which event.

pub mod order;
pub mod payment;
pub mod policy;
pub mod product;
pub mod rejection;

pub use order::{Order, OrderCommand, OrderError, OrderServices};
pub use payment::{Payment, PaymentCommand, PaymentError, PaymentServices};
pub use product::{LISTED_STOCK, Product, ProductCommand, ProductError};
pub use rejection::{Rejection, RejectionKind};
