//! The Avro contract: one record schema per event type, derived from its Rust type, and the
//! reading and writing of event records as Avro datums.
//!
//! The schemas published in `schemas/` are these derived schemas; a test fails when a Rust type
//! changes without a new published version, and another checks that every subject's versions
//! stay BACKWARD_TRANSITIVE compatible.

pub mod compatibility;
pub mod limits;

use apache_avro::Schema;
use apache_avro::schema::ResolvedSchema;
use apache_avro::serde::from_value;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::compiled::Reader;
use crate::order::OrderEvent;
use crate::payment::PaymentEvent;
use crate::product::ProductEvent;

/// An event of any aggregate, as carried on Kafka.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyEvent {
    /// An event of a product.
    Product(ProductEvent),
    /// An event of an order.
    Order(OrderEvent),
    /// An event of a payment.
    Payment(PaymentEvent),
}

/// The schema of one event type, and where it is published.
#[derive(Clone, Debug)]
pub struct EventSchema {
    /// The topic that carries the event type.
    pub topic: &'static str,
    /// The event type (`OrderPlaced`).
    pub event_type: &'static str,
    /// The full Avro record name (`eventmall.order.OrderPlaced`).
    pub record_name: String,
    /// The current schema.
    pub schema: Schema,
}

impl EventSchema {
    /// The registry subject under TopicRecordNameStrategy: `<topic>-<full record name>`.
    pub fn subject(&self) -> String {
        subject(self.topic, &self.record_name)
    }
}

/// The registry subject of a record on a topic, under TopicRecordNameStrategy.
pub fn subject(topic: &str, record_name: &str) -> String {
    format!("{topic}-{record_name}")
}

/// Every event type's current schema: the contract of the aggregate topics.
pub fn contract() -> Vec<EventSchema> {
    let mut all = schemas_of(
        ProductEvent::TOPIC,
        ProductEvent::NAMESPACE,
        ProductEvent::avro_schemas(),
    );
    all.extend(schemas_of(
        OrderEvent::TOPIC,
        OrderEvent::NAMESPACE,
        OrderEvent::avro_schemas(),
    ));
    all.extend(schemas_of(
        PaymentEvent::TOPIC,
        PaymentEvent::NAMESPACE,
        PaymentEvent::avro_schemas(),
    ));
    all
}

/// The schemas of one topic's record types, named in `namespace`.
pub(crate) fn schemas_of(
    topic: &'static str,
    namespace: &str,
    schemas: Vec<(&'static str, Schema)>,
) -> Vec<EventSchema> {
    schemas
        .into_iter()
        .map(|(event_type, schema)| EventSchema {
            topic,
            event_type,
            record_name: format!("{namespace}.{event_type}"),
            schema,
        })
        .collect()
}

/// A family of Avro records the codec reads and writes: the events, or the ingest records.
pub(crate) trait AvroRecord: Sized {
    /// The full Avro record name of this record.
    fn record_name(&self) -> String;
    /// Writes the record as an Avro datum with `writer`.
    fn write_avro(
        &self,
        writer: &GenericDatumWriter<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), apache_avro::Error>;
    /// Reads the record named `record_name` from `datum`.
    fn read_avro(record_name: &str, datum: Datum<'_>) -> Result<Self, ReadError>;
}

impl AnyEvent {
    /// Rebuilds an event from the event store's aggregate type, event type and JSON data.
    pub fn from_stored(
        aggregate_type: &str,
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        match aggregate_type {
            ProductEvent::AGGREGATE_TYPE => {
                ProductEvent::from_json(event_type, data).map(Self::Product)
            }
            OrderEvent::AGGREGATE_TYPE => OrderEvent::from_json(event_type, data).map(Self::Order),
            PaymentEvent::AGGREGATE_TYPE => {
                PaymentEvent::from_json(event_type, data).map(Self::Payment)
            }
            other => Err(serde::de::Error::custom(format!(
                "unknown aggregate type {other}"
            ))),
        }
    }

    /// The topic that carries the event.
    pub fn topic(&self) -> &'static str {
        match self {
            Self::Product(_) => ProductEvent::TOPIC,
            Self::Order(_) => OrderEvent::TOPIC,
            Self::Payment(_) => PaymentEvent::TOPIC,
        }
    }

    /// The event type (`OrderPlaced`).
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Product(event) => event.type_name(),
            Self::Order(event) => event.type_name(),
            Self::Payment(event) => event.type_name(),
        }
    }

    /// The full Avro record name (`eventmall.order.OrderPlaced`).
    pub fn record_name(&self) -> String {
        let namespace = match self {
            Self::Product(_) => ProductEvent::NAMESPACE,
            Self::Order(_) => OrderEvent::NAMESPACE,
            Self::Payment(_) => PaymentEvent::NAMESPACE,
        };
        format!("{namespace}.{}", self.event_type())
    }
}

impl AvroRecord for AnyEvent {
    fn record_name(&self) -> String {
        AnyEvent::record_name(self)
    }

    fn write_avro(
        &self,
        writer: &GenericDatumWriter<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), apache_avro::Error> {
        match self {
            Self::Product(event) => event.write_avro(writer, out),
            Self::Order(event) => event.write_avro(writer, out),
            Self::Payment(event) => event.write_avro(writer, out),
        }
    }

    fn read_avro(record_name: &str, datum: Datum<'_>) -> Result<Self, ReadError> {
        let (namespace, type_name) = record_name
            .rsplit_once('.')
            .ok_or(ReadError::UnknownRecord)?;
        match namespace {
            ProductEvent::NAMESPACE => ProductEvent::read_avro(type_name, datum).map(Self::Product),
            OrderEvent::NAMESPACE => OrderEvent::read_avro(type_name, datum).map(Self::Order),
            PaymentEvent::NAMESPACE => PaymentEvent::read_avro(type_name, datum).map(Self::Payment),
            _ => Err(ReadError::UnknownRecord),
        }
    }
}

/// Writes `record` as an Avro datum with `writer`.
pub(crate) fn write_record<T: Serialize>(
    writer: &GenericDatumWriter<'_>,
    record: &T,
    out: &mut Vec<u8>,
) -> Result<(), apache_avro::Error> {
    writer.write_ser(out, record)?;
    Ok(())
}

/// An Avro datum with the reader of the schema it was written with.
pub(crate) struct Datum<'a> {
    pub(crate) reader: &'a Reader,
    pub(crate) body: &'a [u8],
}

/// Why a datum could not be read as an event record.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The writer's record is no event type of ours.
    UnknownRecord,
    /// The bytes do not decode with the writer's schema.
    Avro(apache_avro::Error),
    /// The writer's record does not resolve to the reader's.
    Mismatch(String),
    /// Bytes are left over after the datum.
    TrailingBytes(usize),
}

impl Datum<'_> {
    /// Decodes the datum as `T`, resolving the writer's schema against ours when they differ.
    pub(crate) fn read<T: DeserializeOwned>(self) -> Result<T, ReadError> {
        let mut body = self.body;
        let decoder = &self.reader.datum;
        let record = match self.reader.ours {
            None => decoder
                .read_deser::<T>(&mut body)
                .map_err(ReadError::Avro)?,
            Some(ours) => {
                let value = decoder.read_value(&mut body).map_err(ReadError::Avro)?;
                let resolved = value
                    .resolve(ours)
                    .map_err(|e| ReadError::Mismatch(e.to_string()))?;
                from_value::<T>(&resolved).map_err(|e| ReadError::Mismatch(e.to_string()))?
            }
        };
        match body.len() {
            0 => Ok(record),
            left => Err(ReadError::TrailingBytes(left)),
        }
    }
}

/// Whether `schema` parses and resolves on its own (no dangling named references).
pub fn validate(schema: &Schema) -> Result<(), apache_avro::Error> {
    ResolvedSchema::try_from(schema).map(drop)
}

/// A schema as a registry takes one submitted: within the size and shape [`limits`], parsed,
/// resolving on its own, and its normalized JSON text. The text is untrusted.
pub fn parse_submitted(text: &str) -> Result<(Schema, String), String> {
    limits::check_size(text)?;
    let schema = Schema::parse_str(text).map_err(|e| e.to_string())?;
    limits::check(&schema)?;
    validate(&schema).map_err(|e| e.to_string())?;
    let normalized = serde_json::to_string(&schema).map_err(|e| e.to_string())?;
    Ok((schema, normalized))
}
