//! A deterministic simulated wallet, the default behind the Payment aggregate's wallet port.
//!
//! Every wallet starts with the same balance; an authorization holds money, a capture takes it,
//! a refund gives it back, a void releases the hold. Rules, in order:
//! - a wallet id starting with `blocked` is declined with `wallet_blocked`;
//! - a wallet is its first payer's: another customer's payment from it is declined with
//!   `wallet_of_another_customer`;
//! - an amount over the per-payment limit is declined with `limit_exceeded`;
//! - an amount over the available balance is declined with `insufficient_funds`.
//!
//! - a payment voided before it was authorized is declined with `voided`.
//!
//! Calls are idempotent by payment id, as the port requires. Each is logged at debug level
//! (`wallet call`, with the payment and the step). State lives in memory: a restart
//! gives every wallet its starting balance back.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use eventmall_aggregates::payment::{AuthorizationOutcome, WalletError, WalletGateway};
use eventmall_events::{CustomerId, Money, PaymentId, WalletId};
use tracing::debug;

#[derive(Clone, Copy, Debug)]
pub struct WalletLimits {
    pub starting_balance: i64,
    pub per_payment_limit: i64,
}

#[derive(Default)]
struct Ledger {
    /// Money available to spend, by wallet.
    available: HashMap<WalletId, i64>,
    /// Whose each wallet is.
    holders: HashMap<WalletId, CustomerId>,
    payments: HashMap<PaymentId, Hold>,
    /// Payments voided before any authorization.
    voided: HashSet<PaymentId>,
}

struct Hold {
    wallet_id: WalletId,
    authorization_code: String,
    held: i64,
    captured: i64,
    refunded: i64,
}

pub struct SimulatedWallet {
    limits: WalletLimits,
    ledger: Mutex<Ledger>,
}

impl SimulatedWallet {
    pub fn new(limits: WalletLimits) -> Self {
        Self {
            limits,
            ledger: Mutex::new(Ledger::default()),
        }
    }

    /// Money the wallet can still spend.
    pub fn available(&self, wallet_id: &WalletId) -> Result<i64, WalletError> {
        let ledger = self.ledger()?;
        Ok(ledger
            .available
            .get(wallet_id)
            .copied()
            .unwrap_or(self.limits.starting_balance))
    }

    fn ledger(&self) -> Result<std::sync::MutexGuard<'_, Ledger>, WalletError> {
        self.ledger
            .lock()
            .map_err(|_| WalletError("wallet ledger poisoned".into()))
    }

    fn with_hold<T>(
        &self,
        payment_id: PaymentId,
        change: impl FnOnce(&mut Hold) -> Result<(T, i64), WalletError>,
    ) -> Result<T, WalletError> {
        let mut ledger = self.ledger()?;
        let ledger = &mut *ledger;
        let hold = ledger
            .payments
            .get_mut(&payment_id)
            .ok_or_else(|| WalletError(format!("no authorization for payment {payment_id}")))?;
        let (value, released) = change(hold)?;
        *ledger
            .available
            .entry(hold.wallet_id.clone())
            .or_insert(self.limits.starting_balance) += released;
        Ok(value)
    }
}

#[async_trait]
impl WalletGateway for SimulatedWallet {
    async fn authorize(
        &self,
        payment_id: PaymentId,
        wallet_id: &WalletId,
        holder: &CustomerId,
        amount: Money,
    ) -> Result<AuthorizationOutcome, WalletError> {
        debug!(%payment_id, step = "authorize", "wallet call");
        let mut ledger = self.ledger()?;
        if let Some(hold) = ledger.payments.get(&payment_id) {
            return Ok(AuthorizationOutcome::Approved {
                authorization_code: hold.authorization_code.clone(),
            });
        }
        let declined = |reason: &str| {
            Ok(AuthorizationOutcome::Declined {
                reason: reason.to_owned(),
            })
        };
        if ledger.voided.contains(&payment_id) {
            return declined("voided");
        }
        if wallet_id.0.starts_with("blocked") {
            return declined("wallet_blocked");
        }
        let owner = ledger
            .holders
            .entry(wallet_id.clone())
            .or_insert_with(|| holder.clone());
        if owner != holder {
            return declined("wallet_of_another_customer");
        }
        if amount.amount > self.limits.per_payment_limit {
            return declined("limit_exceeded");
        }
        let available = ledger
            .available
            .entry(wallet_id.clone())
            .or_insert(self.limits.starting_balance);
        if amount.amount > *available {
            return declined("insufficient_funds");
        }
        *available -= amount.amount;
        let authorization_code = format!("SIM-{}", payment_id.0.simple());
        ledger.payments.insert(
            payment_id,
            Hold {
                wallet_id: wallet_id.clone(),
                authorization_code: authorization_code.clone(),
                held: amount.amount,
                captured: 0,
                refunded: 0,
            },
        );
        Ok(AuthorizationOutcome::Approved { authorization_code })
    }

    async fn capture(&self, payment_id: PaymentId, amount: Money) -> Result<(), WalletError> {
        debug!(%payment_id, step = "capture", "wallet call");
        self.with_hold(payment_id, |hold| {
            if hold.captured > 0 {
                return Ok(((), 0));
            }
            if amount.amount > hold.held {
                return Err(WalletError("capture above the hold".into()));
            }
            hold.captured = amount.amount;
            // The part of the hold not captured goes back to the wallet.
            let released = hold.held - amount.amount;
            hold.held = 0;
            Ok(((), released))
        })
    }

    async fn refund(
        &self,
        payment_id: PaymentId,
        amount: Money,
        refunded_total: Money,
    ) -> Result<(), WalletError> {
        debug!(%payment_id, step = "refund", "wallet call");
        self.with_hold(payment_id, |hold| {
            if hold.refunded >= refunded_total.amount {
                return Ok(((), 0));
            }
            if refunded_total.amount > hold.captured {
                return Err(WalletError("refund above the capture".into()));
            }
            hold.refunded = refunded_total.amount;
            Ok(((), amount.amount))
        })
    }

    async fn void(&self, payment_id: PaymentId) -> Result<(), WalletError> {
        debug!(%payment_id, step = "void", "wallet call");
        {
            let mut ledger = self.ledger()?;
            if !ledger.payments.contains_key(&payment_id) {
                ledger.voided.insert(payment_id);
                return Ok(());
            }
        }
        self.with_hold(payment_id, |hold| {
            let released = hold.held;
            hold.held = 0;
            Ok(((), released))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet() -> SimulatedWallet {
        SimulatedWallet::new(WalletLimits {
            starting_balance: 100_000,
            per_payment_limit: 80_000,
        })
    }

    fn holder() -> CustomerId {
        CustomerId::from("kim")
    }

    fn approved(outcome: AuthorizationOutcome) -> bool {
        matches!(outcome, AuthorizationOutcome::Approved { .. })
    }

    #[tokio::test]
    async fn holds_captures_refunds_and_releases() {
        let wallet = wallet();
        let kim = WalletId::from("kim");
        let payment = PaymentId::new();
        assert!(approved(
            wallet
                .authorize(payment, &kim, &holder(), Money::krw(60_000))
                .await
                .unwrap()
        ));
        assert_eq!(wallet.available(&kim).unwrap(), 40_000);
        // idempotent: the same payment does not hold twice
        assert!(approved(
            wallet
                .authorize(payment, &kim, &holder(), Money::krw(60_000))
                .await
                .unwrap()
        ));
        assert_eq!(wallet.available(&kim).unwrap(), 40_000);
        wallet.capture(payment, Money::krw(50_000)).await.unwrap();
        assert_eq!(wallet.available(&kim).unwrap(), 50_000);
        wallet
            .refund(payment, Money::krw(20_000), Money::krw(20_000))
            .await
            .unwrap();
        wallet
            .refund(payment, Money::krw(20_000), Money::krw(20_000))
            .await
            .unwrap();
        assert_eq!(wallet.available(&kim).unwrap(), 70_000);
        let second = PaymentId::new();
        assert!(approved(
            wallet
                .authorize(second, &kim, &holder(), Money::krw(70_000))
                .await
                .unwrap()
        ));
        wallet.void(second).await.unwrap();
        assert_eq!(wallet.available(&kim).unwrap(), 70_000);
        // Voided before it was authorized: a late authorization is declined.
        let third = PaymentId::new();
        wallet.void(third).await.unwrap();
        let late = wallet
            .authorize(third, &kim, &holder(), Money::krw(1))
            .await
            .unwrap();
        assert_eq!(
            late,
            AuthorizationOutcome::Declined {
                reason: "voided".into()
            }
        );
        assert_eq!(wallet.available(&kim).unwrap(), 70_000);
    }

    #[tokio::test]
    async fn declines_by_rule() {
        let wallet = wallet();
        let declined = |outcome| match outcome {
            AuthorizationOutcome::Declined { reason } => reason,
            AuthorizationOutcome::Approved { .. } => panic!("approved"),
        };
        let blocked = WalletId::from("blocked-lee");
        let outcome = wallet
            .authorize(PaymentId::new(), &blocked, &holder(), Money::krw(1))
            .await;
        assert_eq!(declined(outcome.unwrap()), "wallet_blocked");
        let kim = WalletId::from("kim");
        let outcome = wallet
            .authorize(PaymentId::new(), &kim, &holder(), Money::krw(80_001))
            .await;
        assert_eq!(declined(outcome.unwrap()), "limit_exceeded");
        wallet
            .authorize(PaymentId::new(), &kim, &holder(), Money::krw(80_000))
            .await
            .unwrap();
        let outcome = wallet
            .authorize(PaymentId::new(), &kim, &holder(), Money::krw(20_001))
            .await;
        assert_eq!(declined(outcome.unwrap()), "insufficient_funds");
        let outcome = wallet
            .authorize(
                PaymentId::new(),
                &kim,
                &CustomerId::from("lee"),
                Money::krw(1),
            )
            .await;
        assert_eq!(declined(outcome.unwrap()), "wallet_of_another_customer");
    }
}
