use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use eventmall_events::ids::is_text_id;
use eventmall_events::payment::{
    PaymentAuthorized, PaymentCaptured, PaymentDeclined, PaymentEvent, PaymentRefunded,
    PaymentRequested, PaymentStatus, PaymentVoided,
};
use eventmall_events::{CustomerId, Money, OrderId, PaymentId, WalletId};
use serde::{Deserialize, Serialize};

use super::commands::PaymentCommand;
use super::error::PaymentError;
use super::wallet::{AuthorizationOutcome, PaymentServices};

/// A payment; `None` until requested.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub state: Option<PaymentState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentState {
    pub payment_id: PaymentId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub wallet_id: WalletId,
    pub amount: Money,
    pub status: PaymentStatus,
    pub authorization_code: Option<String>,
    pub authorized: Money,
    pub captured: Money,
    pub refunded: Money,
}

impl Aggregate for Payment {
    const TYPE: &'static str = PaymentEvent::AGGREGATE_TYPE;
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type Services = PaymentServices;

    async fn handle(
        &mut self,
        command: PaymentCommand,
        services: &PaymentServices,
        sink: &EventSink<Self>,
    ) -> Result<(), PaymentError> {
        let event: PaymentEvent = match command {
            PaymentCommand::Request {
                payment_id,
                order_id,
                customer_id,
                wallet_id,
                amount,
            } => {
                if self.state.is_some() {
                    return Err(PaymentError::AlreadyRequested);
                }
                for (field, id) in [("customer_id", &customer_id.0), ("wallet_id", &wallet_id.0)] {
                    if !is_text_id(id) {
                        let id = id.clone();
                        return Err(PaymentError::InvalidId { field, id });
                    }
                }
                positive(amount)?;
                PaymentRequested {
                    payment_id,
                    order_id,
                    customer_id,
                    wallet_id,
                    amount,
                }
                .into()
            }
            PaymentCommand::Authorize => {
                let state = self.expect_status("authorize", &[PaymentStatus::Requested])?;
                let outcome = services
                    .wallet
                    .authorize(
                        state.payment_id,
                        &state.wallet_id,
                        &state.customer_id,
                        state.amount,
                    )
                    .await
                    .map_err(|e| PaymentError::Wallet(e.to_string()))?;
                match outcome {
                    AuthorizationOutcome::Approved { authorization_code } => PaymentAuthorized {
                        authorization_code,
                        amount: state.amount,
                    }
                    .into(),
                    AuthorizationOutcome::Declined { reason } => PaymentDeclined { reason }.into(),
                }
            }
            PaymentCommand::Decline { reason } => {
                self.expect_status("decline", &[PaymentStatus::Requested])?;
                non_blank("reason", &reason)?;
                PaymentDeclined { reason }.into()
            }
            PaymentCommand::Capture { amount } => {
                let state = self.expect_status("capture", &[PaymentStatus::Authorized])?;
                let amount = amount.unwrap_or(state.authorized);
                positive(amount)?;
                if amount.amount > state.authorized.amount {
                    return Err(PaymentError::CaptureExceedsAuthorization {
                        requested: amount,
                        authorized: state.authorized,
                    });
                }
                services
                    .wallet
                    .capture(state.payment_id, amount)
                    .await
                    .map_err(|e| PaymentError::Wallet(e.to_string()))?;
                PaymentCaptured { amount }.into()
            }
            PaymentCommand::Refund { amount, reason } => {
                let state = self.expect_status("refund", &[PaymentStatus::Captured])?;
                positive(amount)?;
                non_blank("reason", &reason)?;
                let refundable = Money {
                    amount: state.captured.amount - state.refunded.amount,
                    currency: state.captured.currency,
                };
                if amount.amount > refundable.amount {
                    return Err(PaymentError::RefundExceedsCapture {
                        requested: amount,
                        refundable,
                    });
                }
                let refunded_total = Money {
                    amount: state.refunded.amount + amount.amount,
                    currency: amount.currency,
                };
                services
                    .wallet
                    .refund(state.payment_id, amount, refunded_total)
                    .await
                    .map_err(|e| PaymentError::Wallet(e.to_string()))?;
                PaymentRefunded {
                    amount,
                    refunded_total,
                    reason,
                }
                .into()
            }
            PaymentCommand::Void { reason } => {
                let state = self.expect_status(
                    "void",
                    &[PaymentStatus::Requested, PaymentStatus::Authorized],
                )?;
                non_blank("reason", &reason)?;
                // Also when only requested: an authorization the wallet gave while this void
                // was decided (its event lost the race) is released, and a late one refused.
                services
                    .wallet
                    .void(state.payment_id)
                    .await
                    .map_err(|e| PaymentError::Wallet(e.to_string()))?;
                PaymentVoided { reason }.into()
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: PaymentEvent) {
        if let PaymentEvent::PaymentRequested(requested) = event {
            let zero = Money::zero(requested.amount.currency);
            self.state = Some(PaymentState {
                payment_id: requested.payment_id,
                order_id: requested.order_id,
                customer_id: requested.customer_id,
                wallet_id: requested.wallet_id,
                amount: requested.amount,
                status: PaymentStatus::Requested,
                authorization_code: None,
                authorized: zero,
                captured: zero,
                refunded: zero,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            debug_assert!(false, "payment event before request");
            return;
        };
        match event {
            PaymentEvent::PaymentRequested(_) => {}
            PaymentEvent::PaymentAuthorized(e) => {
                state.status = PaymentStatus::Authorized;
                state.authorization_code = Some(e.authorization_code);
                state.authorized = e.amount;
            }
            PaymentEvent::PaymentDeclined(_) => state.status = PaymentStatus::Declined,
            PaymentEvent::PaymentCaptured(e) => {
                state.status = PaymentStatus::Captured;
                state.captured = e.amount;
            }
            PaymentEvent::PaymentRefunded(e) => {
                state.refunded = e.refunded_total;
                if state.refunded.amount == state.captured.amount {
                    state.status = PaymentStatus::Refunded;
                }
            }
            PaymentEvent::PaymentVoided(_) => state.status = PaymentStatus::Voided,
        }
    }
}

impl Payment {
    fn expect_status(
        &self,
        action: &'static str,
        allowed: &[PaymentStatus],
    ) -> Result<&PaymentState, PaymentError> {
        let state = self.state.as_ref().ok_or(PaymentError::NotRequested)?;
        if !allowed.contains(&state.status) {
            return Err(PaymentError::IllegalTransition {
                action,
                status: state.status,
            });
        }
        Ok(state)
    }
}

fn positive(amount: Money) -> Result<(), PaymentError> {
    if amount.amount < 1 {
        return Err(PaymentError::InvalidAmount {
            amount: amount.amount,
        });
    }
    Ok(())
}

fn non_blank(field: &'static str, value: &str) -> Result<(), PaymentError> {
    if value.trim().is_empty() {
        return Err(PaymentError::Blank { field });
    }
    Ok(())
}
