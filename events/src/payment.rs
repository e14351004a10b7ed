//! Events of the Payment aggregate: a wallet payment for an order.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PaymentId, WalletId};
use crate::money::Money;

/// A payment was requested for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.payment")]
pub struct PaymentRequested {
    /// UUID v7 of the payment.
    pub payment_id: PaymentId,
    /// The order it pays.
    pub order_id: OrderId,
    /// Who pays.
    pub customer_id: CustomerId,
    /// The wallet charged.
    pub wallet_id: WalletId,
    /// Amount requested.
    pub amount: Money,
}

/// The wallet holds the amount for this payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.payment")]
pub struct PaymentAuthorized {
    /// The wallet's authorization code.
    pub authorization_code: String,
    /// Amount held.
    pub amount: Money,
}

/// The wallet refused the payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.payment")]
pub struct PaymentDeclined {
    /// The wallet's reason (`insufficient_funds`, `limit_exceeded`, …).
    pub reason: String,
}

/// Held money was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.payment")]
pub struct PaymentCaptured {
    /// Amount captured; at most the amount authorized.
    pub amount: Money,
}

/// Captured money was given back, wholly or partly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.payment")]
pub struct PaymentRefunded {
    /// Amount of this refund.
    pub amount: Money,
    /// Sum of all refunds so far, at most the amount captured.
    pub refunded_total: Money,
    /// Why.
    pub reason: String,
}

/// The authorization was released before capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.payment")]
pub struct PaymentVoided {
    /// Why.
    pub reason: String,
}

domain_events!(
    /// Everything that happens to a payment.
    PaymentEvent of "payment" in "eventmall.payment" on "eventmall.payments.v1" {
        /// See [`PaymentRequested`].
        PaymentRequested,
        /// See [`PaymentAuthorized`].
        PaymentAuthorized,
        /// See [`PaymentDeclined`].
        PaymentDeclined,
        /// See [`PaymentCaptured`].
        PaymentCaptured,
        /// See [`PaymentRefunded`].
        PaymentRefunded,
        /// See [`PaymentVoided`].
        PaymentVoided,
    }
);

/// Where a payment is, as its events tell it: the write side decides commands on it, and the
/// order views show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Requested, not answered by the wallet yet.
    Requested,
    /// The wallet holds the amount.
    Authorized,
    /// The wallet refused it.
    Declined,
    /// The held money was taken.
    Captured,
    /// Every captured won was given back.
    Refunded,
    /// The authorization (or the request) was released before capture.
    Voided,
}

impl PaymentStatus {
    /// The status as stored and served (`captured`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Authorized => "authorized",
            Self::Declined => "declined",
            Self::Captured => "captured",
            Self::Refunded => "refunded",
            Self::Voided => "voided",
        }
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
