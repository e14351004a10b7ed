//! Events of the Order aggregate: a customer buys one partner's products.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PartnerId, PaymentId, ProductId, WalletId};
use crate::money::Money;

/// One line of an order, with the price snapshot taken when it was placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema, utoipa::ToSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderLine {
    /// 1-based line number within the order.
    pub line_no: u32,
    /// The product bought.
    pub product_id: ProductId,
    /// Its title when the order was placed.
    pub title: String,
    /// Its category path when the order was placed.
    pub category: Vec<String>,
    /// Its price when the order was placed.
    pub unit_price: Money,
    /// Units bought, at least 1.
    pub quantity: u32,
}

/// Units of one line given back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct ReturnedLine {
    /// Line number in the order.
    pub line_no: u32,
    /// Units returned.
    pub quantity: u32,
    /// Amount refunded for them (unit price × quantity).
    pub amount: Money,
}

/// A customer placed an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderPlaced {
    /// UUID v7 of the order.
    pub order_id: OrderId,
    /// Who buys.
    pub customer_id: CustomerId,
    /// Whose products are bought.
    pub partner_id: PartnerId,
    /// 1–100 lines.
    pub lines: Vec<OrderLine>,
    /// Sum of unit price × quantity over the lines.
    pub total: Money,
    /// The wallet (easy-payment id) the customer pays with: the payment policy requests,
    /// authorizes and captures from it. Null when the order waits for an explicit payment, and
    /// in events recorded before schema version 2.
    #[serde(default)]
    pub wallet_id: Option<WalletId>,
    /// Where it goes: the shipping address (recipient, phone, address, postal code) as JSON,
    /// sealed with the customer's data key as `pii:v1:…` text. Null without an address, and in
    /// events recorded before schema version 3.
    #[serde(default)]
    pub shipping: Option<String>,
}

/// Where an order goes, and to whom: personal data, in events only ever sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddress {
    /// Who receives it; 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub recipient: String,
    /// 7 to 20 of digits, spaces, `-` and a leading `+`.
    #[schema(pattern = r"^\+?[0-9][0-9 -]{5,18}[0-9]$")]
    pub phone: String,
    /// The street address; 1 to 300 characters.
    #[schema(min_length = 1, max_length = 300)]
    pub address: String,
    /// 3 to 10 of digits, letters and `-` (Korea's 5-digit 우편번호, or abroad).
    #[schema(pattern = r"^[0-9A-Za-z-]{3,10}$")]
    pub postal_code: String,
}

/// The order's payment was captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderPaid {
    /// The payment that paid it.
    pub payment_id: PaymentId,
    /// Amount captured.
    pub amount: Money,
}

/// The partner handed the order to a carrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderShipped {
    /// Carrier name (`CJ대한통운`).
    pub carrier: String,
    /// Carrier's tracking number.
    pub tracking_number: String,
}

/// The carrier delivered the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderDelivered {
    /// Who took the parcel, as the carrier reports it (`본인`, `경비실`), if it does: sealed
    /// with the customer's data key (`pii:v1:…`) since schema version 3 of `OrderPlaced`;
    /// plain text in events recorded before.
    pub receiver: Option<String>,
}

/// The customer confirmed the purchase; no return is possible after this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderPurchaseConfirmed {
    /// Whether the confirmation was automatic, at the end of the return window, rather than
    /// the customer's.
    pub automatic: bool,
}

/// The order was cancelled before shipping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderCancelled {
    /// Why.
    pub reason: String,
    /// Whether a captured payment must be refunded.
    pub refund_due: bool,
}

/// Units of some lines were returned after delivery and are refunded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.order")]
pub struct OrderLinesReturned {
    /// The lines and units returned.
    pub lines: Vec<ReturnedLine>,
    /// Total to refund.
    pub refund: Money,
    /// Why.
    pub reason: String,
}

domain_events!(
    /// Everything that happens to an order.
    OrderEvent of "order" in "eventmall.order" on "eventmall.orders.v1" {
        /// See [`OrderPlaced`].
        OrderPlaced,
        /// See [`OrderPaid`].
        OrderPaid,
        /// See [`OrderShipped`].
        OrderShipped,
        /// See [`OrderDelivered`].
        OrderDelivered,
        /// See [`OrderPurchaseConfirmed`].
        OrderPurchaseConfirmed,
        /// See [`OrderCancelled`].
        OrderCancelled,
        /// See [`OrderLinesReturned`].
        OrderLinesReturned,
    }
);

/// Where an order is in its life, as its events tell it: the write side decides commands on
/// it, and the order views show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not paid yet.
    Placed,
    /// Paid, not shipped yet.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received by the customer; lines may still be returned.
    Delivered,
    /// The customer (or the end of the return window) confirmed the purchase.
    PurchaseConfirmed,
    /// Cancelled before shipping.
    Cancelled,
    /// Some units came back. The order views say so; the aggregate keeps such an order
    /// `delivered`, where further returns and the purchase confirmation stay open.
    PartiallyReturned,
    /// Every unit came back.
    Returned,
}

impl OrderStatus {
    /// Every status, in the order of an order's life.
    pub const ALL: [Self; 8] = [
        Self::Placed,
        Self::Paid,
        Self::Shipped,
        Self::Delivered,
        Self::PurchaseConfirmed,
        Self::Cancelled,
        Self::PartiallyReturned,
        Self::Returned,
    ];

    /// The status as stored and served (`purchase_confirmed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::PurchaseConfirmed => "purchase_confirmed",
            Self::Cancelled => "cancelled",
            Self::PartiallyReturned => "partially_returned",
            Self::Returned => "returned",
        }
    }

    /// The status named `text`, as [`as_str`](Self::as_str) writes it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
