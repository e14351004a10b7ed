//! From an upstream record to the command it asks for: the checks the contract states that
//! the aggregates do not make themselves, then the command. No I/O.

use eventmall_aggregates::product::rules::{check_sku, phrase};
use eventmall_aggregates::{OrderCommand, ProductCommand};
use eventmall_events::ids::{MAX_TEXT_ID_CHARS, is_text_id};
use eventmall_events::ingest::{
    IngestRecord, ProductIngest, ProductUpserted, ProductWithdrawn, ShipmentDelivered,
    ShipmentDispatched, ShipmentIngest,
};
use eventmall_events::product::ProductDetails;
use eventmall_events::{OrderId, PartnerId, ProductId};

/// The longest upstream event id taken.
const MAX_EVENT_ID_CHARS: usize = 200;

/// The command an ingest record asks for, on the aggregate it names.
#[derive(Clone, Debug, PartialEq)]
pub enum IngestCommand {
    Product {
        id: ProductId,
        command: ProductCommand,
    },
    Order {
        id: OrderId,
        command: OrderCommand,
    },
}

/// The command for `record`, or why the record is invalid.
pub fn command(record: &IngestRecord) -> Result<IngestCommand, String> {
    check_event_id(record.event_id())?;
    check_partner(record.partner_id())?;
    match record {
        IngestRecord::Product(ProductIngest::ProductUpserted(upserted)) => upsert(upserted),
        IngestRecord::Product(ProductIngest::ProductWithdrawn(withdrawn)) => withdraw(withdrawn),
        IngestRecord::Shipment(ShipmentIngest::ShipmentDispatched(dispatched)) => {
            Ok(dispatch(dispatched))
        }
        IngestRecord::Shipment(ShipmentIngest::ShipmentDelivered(delivered)) => {
            Ok(deliver(delivered))
        }
    }
}

fn upsert(record: &ProductUpserted) -> Result<IngestCommand, String> {
    let id = product_id(&record.partner_id, &record.sku)?;
    Ok(IngestCommand::Product {
        id,
        command: ProductCommand::List {
            product_id: id,
            partner_id: record.partner_id.clone(),
            sku: record.sku.clone(),
            details: ProductDetails {
                title: record.title.clone(),
                brand: record.brand.clone(),
                category: record.category.clone(),
                model_number: record.model_number.clone(),
            },
            price: record.price,
            stock: record.stock,
        },
    })
}

fn withdraw(record: &ProductWithdrawn) -> Result<IngestCommand, String> {
    Ok(IngestCommand::Product {
        id: product_id(&record.partner_id, &record.sku)?,
        command: ProductCommand::Delist {
            partner_id: record.partner_id.clone(),
            reason: record.reason.clone(),
        },
    })
}

fn dispatch(record: &ShipmentDispatched) -> IngestCommand {
    IngestCommand::Order {
        id: record.order_id,
        command: OrderCommand::Ship {
            carrier: record.carrier.clone(),
            tracking_number: record.tracking_number.clone(),
            by_partner: record.partner_id.clone(),
        },
    }
}

fn deliver(record: &ShipmentDelivered) -> IngestCommand {
    IngestCommand::Order {
        id: record.order_id,
        command: OrderCommand::Deliver {
            receiver: record.receiver.clone(),
            by_partner: record.partner_id.clone(),
        },
    }
}

fn product_id(partner: &PartnerId, sku: &str) -> Result<ProductId, String> {
    // The contract holds upstream SKUs to the EP id rule, as feeds are.
    check_sku(sku).map_err(|error| format!("sku: {}", phrase(&error, "id")))?;
    Ok(ProductId::for_partner_sku(partner, sku))
}

fn check_event_id(id: &str) -> Result<(), String> {
    match id.chars().count() {
        0 => Err("event_id is empty".to_owned()),
        n if n > MAX_EVENT_ID_CHARS => Err(format!(
            "event_id has {n} characters, at most {MAX_EVENT_ID_CHARS}"
        )),
        _ if id.chars().any(char::is_control) => {
            Err("event_id holds a control character".to_owned())
        }
        _ => Ok(()),
    }
}

fn check_partner(partner: &PartnerId) -> Result<(), String> {
    match is_text_id(&partner.0) {
        true => Ok(()),
        false => Err(format!(
            "partner_id {:?} must be 1 to {MAX_TEXT_ID_CHARS} of A-Z, a-z, 0-9, ., _ and -",
            partner.0
        )),
    }
}
