//! Events of the Product aggregate: a partner's catalog item.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{PartnerId, ProductId};
use crate::money::Money;

/// Descriptive fields of a product, as shown to customers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema, utoipa::ToSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductDetails {
    /// Title, 1–100 characters (`삼성 비스포크 무선청소기 VS20A956A`).
    pub title: String,
    /// Brand, if the partner names one.
    pub brand: Option<String>,
    /// Category path from the top level down, at most four levels (`가전 > 청소기 > 무선청소기`).
    pub category: Vec<String>,
    /// Maker's model number, kept whole for search.
    pub model_number: Option<String>,
}

/// A partner registered a product under its SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductRegistered {
    /// UUID v5 of (partner, SKU).
    pub product_id: ProductId,
    /// Owning partner.
    pub partner_id: PartnerId,
    /// The partner's own id of the product.
    pub sku: String,
    /// Title, brand, category and model number.
    pub details: ProductDetails,
    /// Selling price, at least 1.
    pub price: Money,
    /// Units in stock.
    pub stock: u32,
}

/// Title, brand, category or model number changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductDetailsUpdated {
    /// The new details, whole.
    pub details: ProductDetails,
}

/// The selling price changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductPriceChanged {
    /// Price before the change.
    pub previous: Money,
    /// Price from now on.
    pub price: Money,
}

/// The stock level changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductStockChanged {
    /// Units in stock from now on.
    pub stock: u32,
    /// Units in stock before the change; null in events recorded before schema version 2.
    pub previous: Option<u32>,
}

/// The product is no longer sold; orders for it are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductDelisted {
    /// Why, in the partner's words.
    pub reason: Option<String>,
}

/// A delisted product is sold again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.product")]
pub struct ProductRelisted {
    /// Why, in the partner's words.
    pub reason: Option<String>,
}

domain_events!(
    /// Everything that happens to a product.
    ProductEvent of "product" in "eventmall.product" on "eventmall.products.v1" {
        /// See [`ProductRegistered`].
        ProductRegistered,
        /// See [`ProductDetailsUpdated`].
        ProductDetailsUpdated,
        /// See [`ProductPriceChanged`].
        ProductPriceChanged,
        /// See [`ProductStockChanged`].
        ProductStockChanged,
        /// See [`ProductDelisted`].
        ProductDelisted,
        /// See [`ProductRelisted`].
        ProductRelisted,
    }
);
