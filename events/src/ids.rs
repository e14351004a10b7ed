//! Identifiers of the domain.
//!
//! Orders and payments get UUID v7 (time ordered); products get UUID v5 of the partner and the
//! partner's SKU, so that ingesting the same feed twice targets the same aggregate. In Avro, UUID
//! ids are strings of logical type `uuid`, the other ids plain strings.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use apache_avro::schema::{Name, NamespaceRef, RecordField, UuidSchema};
use apache_avro::{AvroSchemaComponent, Schema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace of product ids: `ProductId = UUIDv5(PRODUCT_NAMESPACE, "<partner>/<sku>")`.
pub const PRODUCT_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_9b4d_4e8a_a7c5_1d2e_3f40_5b61);
/// Namespace of the payment policy's payments: `PaymentId = UUIDv5(POLICY_PAYMENT_NAMESPACE,
/// <order id bytes>)`.
pub const POLICY_PAYMENT_NAMESPACE: Uuid =
    Uuid::from_u128(0x0b7e_52d1_8c3a_4f6e_9d20_6a4b_c1e8_7f35);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl AvroSchemaComponent for $name {
            fn get_schema_in_ctxt(_: &mut HashSet<Name>, _: NamespaceRef) -> Schema {
                Schema::Uuid(UuidSchema::String)
            }

            fn get_record_fields_in_ctxt(
                _: &mut HashSet<Name>,
                _: NamespaceRef,
            ) -> Option<Vec<RecordField>> {
                None
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(pattern = r"^[A-Za-z0-9._-]{1,100}$")]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AvroSchemaComponent for $name {
            fn get_schema_in_ctxt(_: &mut HashSet<Name>, _: NamespaceRef) -> Schema {
                Schema::String
            }

            fn get_record_fields_in_ctxt(
                _: &mut HashSet<Name>,
                _: NamespaceRef,
            ) -> Option<Vec<RecordField>> {
                None
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

uuid_id!(
    /// A product: UUID v5 of (partner, SKU).
    ProductId
);
uuid_id!(
    /// An order: UUID v7.
    OrderId
);
uuid_id!(
    /// A wallet payment: UUID v7.
    PaymentId
);
text_id!(
    /// A partner shop, as the channel knows it.
    PartnerId
);
text_id!(
    /// A customer of the channel.
    CustomerId
);
text_id!(
    /// A customer's wallet (easy-payment) id.
    WalletId
);

/// The most characters of a partner, customer or wallet id.
pub const MAX_TEXT_ID_CHARS: usize = 100;

/// Whether `id` may name a partner, customer or wallet: 1 to [`MAX_TEXT_ID_CHARS`] of
/// `A-Z a-z 0-9 . _ -`. With no `/` in it (nor in a SKU), the `<partner>/<sku>` a product id is
/// derived from names one pair only; with no control characters or spaces, it goes into a path,
/// a header or a log line as it is.
pub fn is_text_id(id: &str) -> bool {
    (1..=MAX_TEXT_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl ProductId {
    /// The id of the product a partner sells under `sku`.
    pub fn for_partner_sku(partner: &PartnerId, sku: &str) -> Self {
        let name = format!("{}/{}", partner.0, sku);
        Self(Uuid::new_v5(&PRODUCT_NAMESPACE, name.as_bytes()))
    }
}

impl OrderId {
    /// A new, time-ordered order id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for OrderId {
    fn default() -> Self {
        Self::new()
    }
}

impl PaymentId {
    /// A new, time-ordered payment id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl PaymentId {
    /// The one payment the payment policy requests for an order placed with a wallet: derived
    /// from the order's id, so a step run again names the same payment.
    pub fn for_order(order_id: OrderId) -> Self {
        Self(Uuid::new_v5(
            &POLICY_PAYMENT_NAMESPACE,
            order_id.0.as_bytes(),
        ))
    }
}

impl Default for PaymentId {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_id_is_stable_per_partner_and_sku() {
        let partner = PartnerId::from("shop-1");
        assert_eq!(
            ProductId::for_partner_sku(&partner, "A-1"),
            ProductId::for_partner_sku(&partner, "A-1")
        );
        assert_ne!(
            ProductId::for_partner_sku(&partner, "A-1"),
            ProductId::for_partner_sku(&PartnerId::from("shop-2"), "A-1")
        );
        assert_eq!(
            ProductId::for_partner_sku(&partner, "A-1")
                .0
                .get_version_num(),
            5
        );
    }

    #[test]
    fn order_and_payment_ids_are_v7() {
        assert_eq!(OrderId::new().0.get_version_num(), 7);
        assert_eq!(PaymentId::new().0.get_version_num(), 7);
    }
}
