use std::sync::Arc;

use async_trait::async_trait;
use eventmall_events::{CustomerId, Money, PaymentId, WalletId};

/// The wallet's answer to an authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationOutcome {
    Approved { authorization_code: String },
    Declined { reason: String },
}

/// The wallet could not be reached or failed; the command may be retried.
#[derive(Debug, thiserror::Error)]
#[error("wallet unavailable: {0}")]
pub struct WalletError(pub String);

/// Service port: the easy-payment wallet. Every call is keyed by the payment id and the step
/// (authorize, capture, refund up to a running total, void) and must be idempotent: a command
/// whose events lose an optimistic-concurrency race is retried after the wallet already
/// answered, and the payment policy may run a step again after a crash. An adapter for a real
/// gateway sends the payment id as the gateway's merchant order id (or idempotency key) with
/// the step, so a repeated call returns the first answer instead of moving money twice; a void
/// of a payment the gateway never authorized must succeed and make a later authorization of it
/// fail.
#[async_trait]
pub trait WalletGateway: Send + Sync {
    /// Holds `amount` in the wallet. A wallet is its holder's: the wallet declines a payment
    /// whose customer is not `holder`.
    async fn authorize(
        &self,
        payment_id: PaymentId,
        wallet_id: &WalletId,
        holder: &CustomerId,
        amount: Money,
    ) -> Result<AuthorizationOutcome, WalletError>;
    async fn capture(&self, payment_id: PaymentId, amount: Money) -> Result<(), WalletError>;
    /// Gives back `amount`; `refunded_total` (this refund included) makes the call idempotent.
    async fn refund(
        &self,
        payment_id: PaymentId,
        amount: Money,
        refunded_total: Money,
    ) -> Result<(), WalletError>;
    /// Releases the hold; before any authorization, makes the payment unauthorizable.
    async fn void(&self, payment_id: PaymentId) -> Result<(), WalletError>;
}

/// The services the Payment aggregate uses.
#[derive(Clone)]
pub struct PaymentServices {
    pub wallet: Arc<dyn WalletGateway>,
}
