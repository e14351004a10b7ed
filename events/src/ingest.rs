//! The ingest contract: what upstream producers (a partner's own systems) publish on the ingest
//! topics for Eventmall to turn into commands.
//!
//! Every record carries the producer's own `event_id`. Eventmall executes each record's command
//! once per event id, so a record delivered twice, or published twice, changes nothing the
//! second time. Producers key their records by the partner's SKU (products) or the order id
//! (shipments), so the records of one product or order stay in order.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::avro::{AvroRecord, Datum, EventSchema, ReadError};
use crate::ids::{OrderId, PartnerId};
use crate::money::Money;

/// The partner's product as it is now, whole: registered when new, otherwise whatever differs
/// is updated, and a delisted product is listed again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.ingest.product")]
pub struct ProductUpserted {
    /// The producer's id of this record, unique per producer: 1–200 characters.
    pub event_id: String,
    /// The partner selling the product.
    pub partner_id: PartnerId,
    /// The partner's id of the product: 1–50 of `A-Z a-z 0-9 - _ .`, as in its EP feed.
    pub sku: String,
    /// Title, 1–100 characters.
    pub title: String,
    /// Brand, if any.
    pub brand: Option<String>,
    /// Category path from the top level down, 1–4 levels.
    pub category: Vec<String>,
    /// Maker's model number, if any.
    pub model_number: Option<String>,
    /// Selling price, at least 1.
    pub price: Money,
    /// Units in stock; null keeps the current stock (1 for a new product).
    pub stock: Option<u32>,
}

/// The partner no longer sells the product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.ingest.product")]
pub struct ProductWithdrawn {
    /// The producer's id of this record, unique per producer: 1–200 characters.
    pub event_id: String,
    /// The partner selling the product.
    pub partner_id: PartnerId,
    /// The partner's id of the product.
    pub sku: String,
    /// Why, in the partner's words.
    pub reason: Option<String>,
}

/// The partner handed an order to a carrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.ingest.shipment")]
pub struct ShipmentDispatched {
    /// The producer's id of this record, unique per producer: 1–200 characters.
    pub event_id: String,
    /// The partner that sells the order's products.
    pub partner_id: PartnerId,
    /// The order shipped.
    pub order_id: OrderId,
    /// Carrier name (`CJ대한통운`).
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
}

/// The carrier delivered an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "eventmall.ingest.shipment")]
pub struct ShipmentDelivered {
    /// The producer's id of this record, unique per producer: 1–200 characters.
    pub event_id: String,
    /// The partner that sells the order's products.
    pub partner_id: PartnerId,
    /// The order delivered.
    pub order_id: OrderId,
    /// Who took the parcel, if the carrier says.
    pub receiver: Option<String>,
}

avro_records!(
    /// Records on the product ingest topic.
    ProductIngest in "eventmall.ingest.product" on "eventmall.ingest.products.v1" {
        /// See [`ProductUpserted`].
        ProductUpserted,
        /// See [`ProductWithdrawn`].
        ProductWithdrawn,
    }
);

avro_records!(
    /// Records on the shipment ingest topic.
    ShipmentIngest in "eventmall.ingest.shipment" on "eventmall.ingest.shipments.v1" {
        /// See [`ShipmentDispatched`].
        ShipmentDispatched,
        /// See [`ShipmentDelivered`].
        ShipmentDelivered,
    }
);

/// A record of any ingest topic; as JSON, the record of its topic.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum IngestRecord {
    /// A record of the product ingest topic.
    Product(ProductIngest),
    /// A record of the shipment ingest topic.
    Shipment(ShipmentIngest),
}

/// The ingest topics.
pub const TOPICS: [&str; 2] = [ProductIngest::TOPIC, ShipmentIngest::TOPIC];

/// Every ingest record type's current schema: the contract of the ingest topics.
pub fn contract() -> Vec<EventSchema> {
    crate::avro::schemas_of(
        ProductIngest::TOPIC,
        ProductIngest::NAMESPACE,
        ProductIngest::avro_schemas(),
    )
    .into_iter()
    .chain(crate::avro::schemas_of(
        ShipmentIngest::TOPIC,
        ShipmentIngest::NAMESPACE,
        ShipmentIngest::avro_schemas(),
    ))
    .collect()
}

impl IngestRecord {
    /// The producer's id of the record.
    pub fn event_id(&self) -> &str {
        match self {
            Self::Product(ProductIngest::ProductUpserted(r)) => &r.event_id,
            Self::Product(ProductIngest::ProductWithdrawn(r)) => &r.event_id,
            Self::Shipment(ShipmentIngest::ShipmentDispatched(r)) => &r.event_id,
            Self::Shipment(ShipmentIngest::ShipmentDelivered(r)) => &r.event_id,
        }
    }

    /// The partner the record speaks for.
    pub fn partner_id(&self) -> &PartnerId {
        match self {
            Self::Product(ProductIngest::ProductUpserted(r)) => &r.partner_id,
            Self::Product(ProductIngest::ProductWithdrawn(r)) => &r.partner_id,
            Self::Shipment(ShipmentIngest::ShipmentDispatched(r)) => &r.partner_id,
            Self::Shipment(ShipmentIngest::ShipmentDelivered(r)) => &r.partner_id,
        }
    }

    /// The topic that carries the record.
    pub fn topic(&self) -> &'static str {
        match self {
            Self::Product(_) => ProductIngest::TOPIC,
            Self::Shipment(_) => ShipmentIngest::TOPIC,
        }
    }

    /// The full Avro record name (`eventmall.ingest.product.ProductUpserted`).
    pub fn record_name(&self) -> String {
        match self {
            Self::Product(record) => format!("{}.{}", ProductIngest::NAMESPACE, record.type_name()),
            Self::Shipment(record) => {
                format!("{}.{}", ShipmentIngest::NAMESPACE, record.type_name())
            }
        }
    }
}

impl AvroRecord for IngestRecord {
    fn record_name(&self) -> String {
        IngestRecord::record_name(self)
    }

    fn write_avro(
        &self,
        writer: &apache_avro::writer::datum::GenericDatumWriter<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), apache_avro::Error> {
        match self {
            Self::Product(record) => record.write_avro(writer, out),
            Self::Shipment(record) => record.write_avro(writer, out),
        }
    }

    fn read_avro(record_name: &str, datum: Datum<'_>) -> Result<Self, ReadError> {
        let (namespace, type_name) = record_name
            .rsplit_once('.')
            .ok_or(ReadError::UnknownRecord)?;
        match namespace {
            ProductIngest::NAMESPACE => {
                ProductIngest::read_avro(type_name, datum).map(Self::Product)
            }
            ShipmentIngest::NAMESPACE => {
                ShipmentIngest::read_avro(type_name, datum).map(Self::Shipment)
            }
            _ => Err(ReadError::UnknownRecord),
        }
    }
}

impl From<ProductIngest> for IngestRecord {
    fn from(record: ProductIngest) -> Self {
        Self::Product(record)
    }
}

impl From<ShipmentIngest> for IngestRecord {
    fn from(record: ShipmentIngest) -> Self {
        Self::Shipment(record)
    }
}
