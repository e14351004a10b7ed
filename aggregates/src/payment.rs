//! Payment: a wallet payment for an order.

mod aggregate;
mod commands;
mod error;
mod wallet;

pub use aggregate::{Payment, PaymentState};
pub use commands::PaymentCommand;
pub use error::PaymentError;
pub use eventmall_events::payment::PaymentStatus;
pub use wallet::{AuthorizationOutcome, PaymentServices, WalletError, WalletGateway};
