//! Eventmall's event contract.
//!
//! Everything another team needs to read or write Eventmall's events lives here: the domain
//! events of each aggregate, the identifiers they carry, money, the metadata stored with every
//! event and the envelope the event store hands to its readers (the relay, replay tooling).
#![warn(missing_docs)]

/// Declares an aggregate's event enum: one newtype variant per event record, named as the
/// record, with `From` for each record and cqrs-es's `DomainEvent` (the variant name is the
/// event type). Serialized adjacently tagged, so the store keeps `type` and `data` apart.
macro_rules! domain_events {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum $name {
            $($(#[$vdoc])* $variant($variant),)+
        }

        impl $name {
            /// Every event type of this enum.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The event's type name.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)+
                }
            }
        }

        $(impl From<$variant> for $name {
            fn from(event: $variant) -> Self {
                Self::$variant(event)
            }
        })+

        impl cqrs_es::DomainEvent for $name {
            fn event_type(&self) -> String {
                self.type_name().to_owned()
            }

            fn event_version(&self) -> String {
                crate::EVENT_VERSION.to_owned()
            }
        }
    };
}

pub mod ids;
pub mod metadata;
pub mod money;
pub mod order;
pub mod payment;
pub mod product;
pub mod stored;

pub use ids::{CustomerId, OrderId, PartnerId, PaymentId, ProductId, WalletId};
pub use metadata::{CommandMetadata, EventMetadata};
pub use money::{Currency, Money};
pub use stored::StoredEvent;

/// The version written with every event type of this crate; bumped per event type on a breaking
/// change, with an upcaster for the old one.
pub const EVENT_VERSION: &str = "1";
