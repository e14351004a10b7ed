//! Eventmall's event contract.
//!
//! Everything another team needs to read or write Eventmall's events lives here: the domain
//! events of each aggregate, the identifiers they carry, money, the metadata stored with every
//! event, the envelope the event store hands to its readers (the relay, replay tooling), and the
//! Avro contract with its codec in the Confluent wire format.
#![warn(missing_docs)]

/// Declares an enum of the Avro records one topic carries: one newtype variant per record,
/// named as the record, with `From` for each record. Serialized adjacently tagged, so a store
/// keeps `type` and `data` apart.
macro_rules! avro_records {
    (
        $(#[$doc:meta])* $name:ident in $namespace:literal on $topic:literal {
            $($(#[$vdoc:meta])* $variant:ident),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum $name {
            $($(#[$vdoc])* $variant($variant),)+
        }

        impl $name {
            /// Every record type of this enum.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// The Kafka topic that carries these records.
            pub const TOPIC: &'static str = $topic;

            /// The Avro namespace of these records.
            pub const NAMESPACE: &'static str = $namespace;

            /// The current Avro schema of each record type, derived from its struct.
            pub fn avro_schemas() -> Vec<(&'static str, apache_avro::Schema)> {
                vec![$((
                    stringify!($variant),
                    <$variant as apache_avro::AvroSchema>::get_schema(),
                )),+]
            }

            /// Writes the record as an Avro datum with `writer`.
            pub(crate) fn write_avro(
                &self,
                writer: &apache_avro::writer::datum::GenericDatumWriter<'_>,
                out: &mut Vec<u8>,
            ) -> Result<(), apache_avro::Error> {
                match self {
                    $(Self::$variant(record) => crate::avro::write_record(writer, record, out),)+
                }
            }

            /// Reads the record of type `type_name` from `datum`.
            pub(crate) fn read_avro(
                type_name: &str,
                datum: crate::avro::Datum<'_>,
            ) -> Result<Self, crate::avro::ReadError> {
                match type_name {
                    $(stringify!($variant) => datum.read::<$variant>().map(Self::$variant),)+
                    _ => Err(crate::avro::ReadError::UnknownRecord),
                }
            }

            /// The record type.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)+
                }
            }
        }

        $(impl From<$variant> for $name {
            fn from(record: $variant) -> Self {
                Self::$variant(record)
            }
        })+
    };
}

/// Declares an aggregate's event enum ([`avro_records!`]), with cqrs-es's `DomainEvent` (the
/// variant name is the event type) and the rebuilding of events from the store's JSON.
macro_rules! domain_events {
    (
        $(#[$doc:meta])* $name:ident of $aggregate:literal in $namespace:literal on $topic:literal {
            $($(#[$vdoc:meta])* $variant:ident),+ $(,)?
        }
    ) => {
        avro_records! {
            $(#[$doc])* $name in $namespace on $topic {
                $($(#[$vdoc])* $variant),+
            }
        }

        impl $name {
            /// The type of the aggregate these events belong to, as stored.
            pub const AGGREGATE_TYPE: &'static str = $aggregate;

            /// Rebuilds an event from its stored type name and JSON data.
            pub fn from_json(
                type_name: &str,
                data: &serde_json::Value,
            ) -> Result<Self, serde_json::Error> {
                match type_name {
                    $(stringify!($variant) => {
                        <$variant as serde::Deserialize>::deserialize(data).map(Self::$variant)
                    })+
                    _ => Err(serde::de::Error::custom(format!(
                        "unknown {} event type {type_name}",
                        $aggregate
                    ))),
                }
            }
        }

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

pub mod avro;
pub mod codec;
mod compiled;
pub mod dead_letter;
pub mod ids;
pub mod ingest;
pub mod metadata;
pub mod money;
pub mod order;
pub mod payment;
pub mod pii;
pub mod product;
pub mod stored;

pub use avro::{AnyEvent, EventSchema};
pub use codec::{Codec, CodecError};
pub use dead_letter::DeadLetter;
pub use ids::{CustomerId, OrderId, PartnerId, PaymentId, ProductId, WalletId};
pub use metadata::{CommandMetadata, EventMetadata};
pub use money::{Currency, Money};
pub use stored::StoredEvent;

/// The version written with every event type of this crate; bumped per event type on a breaking
/// change, with an upcaster for the old one.
pub const EVENT_VERSION: &str = "1";
