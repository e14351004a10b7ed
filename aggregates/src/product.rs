//! Product: a partner's catalog item.

mod aggregate;
mod commands;
mod error;
pub mod rules;

pub use aggregate::{Product, ProductState};
pub use commands::{LISTED_STOCK, ProductCommand};
pub use error::ProductError;
