//! Events of the Order aggregate: a customer buys one partner's products.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PartnerId, PaymentId, ProductId};
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
    /// Who took the parcel, as the carrier reports it (`본인`, `경비실`), if it does.
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
