//! The commands HTTP bodies become and the domain types they are made of, read from JSON the
//! way the API reads a body (with the path of a failing field): the three aggregates'
//! commands, order lines and returns, money, product details, ids, a feed mapping.
#![no_main]

use eventmall_aggregates::order::{LineRequest, ReturnRequest};
use eventmall_aggregates::{OrderCommand, PaymentCommand, ProductCommand};
use eventmall_events::product::ProductDetails;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId};
use eventmall_feed_formats::FieldMapping;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fn read<T: DeserializeOwned>(data: &[u8]) {
    let mut deserializer = serde_json::Deserializer::from_slice(data);
    let _ = serde_path_to_error::deserialize::<_, T>(&mut deserializer);
}

fuzz_target!(|data: &[u8]| {
    read::<OrderCommand>(data);
    read::<ProductCommand>(data);
    read::<PaymentCommand>(data);
    read::<Vec<LineRequest>>(data);
    read::<Vec<ReturnRequest>>(data);
    read::<Money>(data);
    read::<ProductDetails>(data);
    read::<(ProductId, OrderId, PaymentId, PartnerId, CustomerId)>(data);
    if let Ok(mapping) = serde_json::from_slice::<FieldMapping>(data) {
        let _ = mapping.check();
    }
});
