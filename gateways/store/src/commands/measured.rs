//! Every command counted by aggregate, command and outcome, and timed; every wallet call too.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use eventmall_aggregates::payment::{
    AuthorizationOutcome, PaymentServices, WalletError, WalletGateway,
};
use eventmall_events::{CustomerId, Money, PaymentId, WalletId};

use super::{CommandError, Dispatched};

/// Runs a command, counting it by aggregate, command and outcome, and timing it.
pub(super) async fn measured<E>(
    aggregate: &'static str,
    command: &'static str,
    run: impl Future<Output = Result<Dispatched<E>, CommandError>>,
) -> Result<Dispatched<E>, CommandError> {
    let started = Instant::now();
    let result = run.await;
    let outcome = match &result {
        Ok(done) if done.receipt.replayed => "replayed",
        Ok(_) => "accepted",
        Err(CommandError::Rejected(_)) => "rejected",
        Err(CommandError::VersionConflict { .. }) => "conflict",
        Err(CommandError::IdempotencyKeyReused) => "key_reused",
        Err(CommandError::Store(_)) => "failed",
    };
    metrics::counter!("eventmall_commands_total",
        "aggregate" => aggregate, "command" => command, "outcome" => outcome)
    .increment(1);
    metrics::histogram!("eventmall_command_duration_seconds",
        "aggregate" => aggregate, "command" => command)
    .record(started.elapsed().as_secs_f64());
    result
}

/// The services with their wallet measured.
pub(super) fn wallet(services: PaymentServices) -> PaymentServices {
    PaymentServices {
        wallet: Arc::new(MeasuredWallet(services.wallet)),
    }
}

/// The wallet behind the payments, each call counted by call and outcome, and timed.
struct MeasuredWallet(Arc<dyn WalletGateway>);

impl MeasuredWallet {
    async fn call<T>(
        call: &'static str,
        run: impl Future<Output = Result<T, WalletError>>,
        outcome: impl FnOnce(&T) -> &'static str,
    ) -> Result<T, WalletError> {
        let started = Instant::now();
        let result = run.await;
        let outcome = result.as_ref().map_or("unavailable", outcome);
        metrics::counter!("eventmall_wallet_calls_total", "call" => call, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("eventmall_wallet_call_duration_seconds", "call" => call)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait]
impl WalletGateway for MeasuredWallet {
    async fn authorize(
        &self,
        payment_id: PaymentId,
        wallet_id: &WalletId,
        holder: &CustomerId,
        amount: Money,
    ) -> Result<AuthorizationOutcome, WalletError> {
        let run = self.0.authorize(payment_id, wallet_id, holder, amount);
        Self::call("authorize", run, |answer| match answer {
            AuthorizationOutcome::Approved { .. } => "approved",
            AuthorizationOutcome::Declined { .. } => "declined",
        })
        .await
    }

    async fn capture(&self, payment_id: PaymentId, amount: Money) -> Result<(), WalletError> {
        Self::call("capture", self.0.capture(payment_id, amount), |()| "ok").await
    }

    async fn refund(
        &self,
        payment_id: PaymentId,
        amount: Money,
        refunded_total: Money,
    ) -> Result<(), WalletError> {
        let run = self.0.refund(payment_id, amount, refunded_total);
        Self::call("refund", run, |()| "ok").await
    }

    async fn void(&self, payment_id: PaymentId) -> Result<(), WalletError> {
        Self::call("void", self.0.void(payment_id), |()| "ok").await
    }
}
