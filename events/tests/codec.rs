//! The codec: every event type round-trips through its schema in the Confluent wire format, v1
//! bytes of an evolved event decode into today's type, and malformed records get typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::Schema;
use apache_avro::types::{Record, Value};
use eventmall_events::codec::{self, CodecError};
use eventmall_events::order::*;
use eventmall_events::payment::*;
use eventmall_events::product::*;
use eventmall_events::{
    AnyEvent, Codec, CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId,
};
use proptest::prelude::*;
use uuid::Uuid;

/// A codec that knows every current schema under ids 1, 2, … (as a registry would assign them).
fn registered() -> Codec {
    let mut codec = Codec::new();
    for (id, event) in (1..).zip(eventmall_events::avro::contract()) {
        codec.add_schema(id, event.schema);
    }
    codec
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[가-힣 ]{0,12}", "[A-Za-z0-9 _-]{0,12}", "\\PC{0,8}"]
}

fn money() -> impl Strategy<Value = Money> {
    any::<i64>().prop_map(Money::krw)
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn details() -> impl Strategy<Value = ProductDetails> {
    (
        text(),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..4),
        proptest::option::of(text()),
    )
        .prop_map(|(title, brand, category, model_number)| ProductDetails {
            title,
            brand,
            category,
            model_number,
        })
}

fn product_event() -> impl Strategy<Value = ProductEvent> {
    prop_oneof![
        (uuid(), text(), text(), details(), money(), any::<u32>()).prop_map(
            |(id, partner, sku, details, price, stock)| {
                ProductRegistered {
                    product_id: ProductId(id),
                    partner_id: PartnerId(partner),
                    sku,
                    details,
                    price,
                    stock,
                }
                .into()
            }
        ),
        details().prop_map(|details| ProductDetailsUpdated { details }.into()),
        (money(), money())
            .prop_map(|(previous, price)| ProductPriceChanged { previous, price }.into()),
        (any::<u32>(), proptest::option::of(any::<u32>()))
            .prop_map(|(stock, previous)| ProductStockChanged { stock, previous }.into()),
        proptest::option::of(text()).prop_map(|reason| ProductDelisted { reason }.into()),
        proptest::option::of(text()).prop_map(|reason| ProductRelisted { reason }.into()),
    ]
}

fn order_event() -> impl Strategy<Value = OrderEvent> {
    let line = (
        any::<u32>(),
        uuid(),
        text(),
        proptest::collection::vec(text(), 0..4),
        money(),
        any::<u32>(),
    )
        .prop_map(
            |(line_no, id, title, category, unit_price, quantity)| OrderLine {
                line_no,
                product_id: ProductId(id),
                title,
                category,
                unit_price,
                quantity,
            },
        );
    let returned = (any::<u32>(), any::<u32>(), money()).prop_map(|(line_no, quantity, amount)| {
        ReturnedLine {
            line_no,
            quantity,
            amount,
        }
    });
    prop_oneof![
        (
            uuid(),
            text(),
            text(),
            proptest::collection::vec(line, 0..4),
            money(),
            proptest::option::of(text()),
        )
            .prop_map(
                |(id, customer, partner, lines, total, wallet)| OrderPlaced {
                    order_id: OrderId(id),
                    customer_id: CustomerId(customer),
                    partner_id: PartnerId(partner),
                    lines,
                    total,
                    wallet_id: wallet.map(WalletId),
                    shipping: None,
                }
                .into()
            ),
        (uuid(), money()).prop_map(|(id, amount)| OrderPaid {
            payment_id: PaymentId(id),
            amount
        }
        .into()),
        (text(), text()).prop_map(|(carrier, tracking_number)| OrderShipped {
            carrier,
            tracking_number
        }
        .into()),
        proptest::option::of(text()).prop_map(|receiver| OrderDelivered { receiver }.into()),
        any::<bool>().prop_map(|automatic| OrderPurchaseConfirmed { automatic }.into()),
        (text(), any::<bool>()).prop_map(|(reason, refund_due)| OrderCancelled {
            reason,
            refund_due
        }
        .into()),
        (proptest::collection::vec(returned, 0..4), money(), text()).prop_map(
            |(lines, refund, reason)| OrderLinesReturned {
                lines,
                refund,
                reason
            }
            .into()
        ),
    ]
}

fn payment_event() -> impl Strategy<Value = PaymentEvent> {
    prop_oneof![
        (uuid(), uuid(), text(), text(), money()).prop_map(
            |(payment, order, customer, wallet, amount)| {
                PaymentRequested {
                    payment_id: PaymentId(payment),
                    order_id: OrderId(order),
                    customer_id: CustomerId(customer),
                    wallet_id: WalletId(wallet),
                    amount,
                }
                .into()
            }
        ),
        (text(), money()).prop_map(|(authorization_code, amount)| PaymentAuthorized {
            authorization_code,
            amount
        }
        .into()),
        text().prop_map(|reason| PaymentDeclined { reason }.into()),
        money().prop_map(|amount| PaymentCaptured { amount }.into()),
        (money(), money(), text()).prop_map(|(amount, refunded_total, reason)| PaymentRefunded {
            amount,
            refunded_total,
            reason
        }
        .into()),
        text().prop_map(|reason| PaymentVoided { reason }.into()),
    ]
}

fn any_event() -> impl Strategy<Value = AnyEvent> {
    prop_oneof![
        product_event().prop_map(AnyEvent::Product),
        order_event().prop_map(AnyEvent::Order),
        payment_event().prop_map(AnyEvent::Payment),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_event_round_trips_through_its_schema(event in any_event()) {
        let codec = registered();
        let mut bytes = Vec::new();
        codec.encode(&event, &mut bytes).unwrap();
        prop_assert_eq!(bytes[0], codec::MAGIC_BYTE);
        prop_assert_eq!(codec.decode(&bytes).unwrap(), event);
    }

    #[test]
    fn any_truncation_is_a_typed_error(event in any_event(), cut in any::<prop::sample::Index>()) {
        let codec = registered();
        let mut bytes = Vec::new();
        codec.encode(&event, &mut bytes).unwrap();
        let cut = cut.index(bytes.len());
        // Some datums end in zero-length fields; a cut there is only "trailing" from the other side.
        prop_assert!(codec.decode(&bytes[..cut]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = registered().decode(&bytes);
    }
}

#[test]
fn the_stored_json_and_the_avro_record_are_the_same_event() {
    let event: ProductEvent = ProductStockChanged {
        stock: 3,
        previous: Some(7),
    }
    .into();
    let json = serde_json::to_value(&event).unwrap();
    let rebuilt = AnyEvent::from_stored("product", "ProductStockChanged", &json["data"]).unwrap();
    assert_eq!(rebuilt, AnyEvent::Product(event));
    assert!(AnyEvent::from_stored("product", "Nope", &json["data"]).is_err());
    assert!(AnyEvent::from_stored("basket", "ProductStockChanged", &json["data"]).is_err());
}

#[test]
fn bytes_written_with_v1_decode_into_the_v2_type() {
    let v1_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/eventmall.products.v1/eventmall.product.ProductStockChanged/v1.avsc"
    );
    let v1 = Schema::parse_str(&std::fs::read_to_string(v1_path).unwrap()).unwrap();
    let mut record = Record::new(&v1).unwrap();
    record.put("stock", Value::Long(42));
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&v1)
        .build()
        .unwrap()
        .write_value_to_vec(record)
        .unwrap();
    let mut bytes = Vec::new();
    codec::write_header(901, &mut bytes);
    bytes.extend_from_slice(&datum);

    let mut codec = registered();
    assert!(matches!(
        codec.decode(&bytes),
        Err(CodecError::UnknownSchemaId(901))
    ));
    codec.add_schema(901, v1);
    assert_eq!(
        codec.decode(&bytes).unwrap(),
        AnyEvent::Product(
            ProductStockChanged {
                stock: 42,
                previous: None
            }
            .into()
        )
    );
}

#[test]
fn orders_placed_before_wallets_decode_and_replay_without_one() {
    let v1_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/eventmall.orders.v1/eventmall.order.OrderPlaced/v1.avsc"
    );
    let v1 = Schema::parse_str(&std::fs::read_to_string(v1_path).unwrap()).unwrap();
    // OrderPlaced as schema version 1 wrote it: no wallet_id.
    #[derive(serde::Serialize)]
    struct OrderPlacedV1 {
        order_id: OrderId,
        customer_id: CustomerId,
        partner_id: PartnerId,
        lines: Vec<OrderLine>,
        total: Money,
    }
    let old = OrderPlacedV1 {
        order_id: OrderId(Uuid::nil()),
        customer_id: CustomerId::from("kim"),
        partner_id: PartnerId::from("shop-1"),
        lines: Vec::new(),
        total: Money::krw(1_000),
    };
    let mut bytes = Vec::new();
    codec::write_header(902, &mut bytes);
    apache_avro::writer::datum::GenericDatumWriter::builder(&v1)
        .human_readable(true)
        .build()
        .unwrap()
        .write_ser(&mut bytes, &old)
        .unwrap();
    let mut codec = registered();
    codec.add_schema(902, v1);
    let expected = OrderPlaced {
        order_id: old.order_id,
        customer_id: old.customer_id.clone(),
        partner_id: old.partner_id.clone(),
        lines: Vec::new(),
        total: old.total,
        wallet_id: None,
        shipping: None,
    };
    assert_eq!(
        codec.decode(&bytes).unwrap(),
        AnyEvent::Order(expected.clone().into())
    );
    // And as the event store holds it: JSON without the field.
    let stored = serde_json::to_value(&old).unwrap();
    assert_eq!(
        AnyEvent::from_stored("order", "OrderPlaced", &stored).unwrap(),
        AnyEvent::Order(expected.into())
    );
}

#[test]
fn a_bad_magic_byte_is_refused() {
    let err = registered().decode(&[1, 0, 0, 0, 1, 2]).unwrap_err();
    assert!(matches!(err, CodecError::BadMagicByte(1)), "{err}");
    // A plain JSON value, as a misconfigured producer would send it.
    let err = registered().decode(br#"{"stock":1}"#).unwrap_err();
    assert!(matches!(err, CodecError::BadMagicByte(b'{')), "{err}");
}

#[test]
fn a_short_header_is_truncated() {
    for bytes in [&[][..], &[0], &[0, 0, 0, 1]] {
        let err = registered().decode(bytes).unwrap_err();
        assert!(matches!(err, CodecError::Truncated(_)), "{bytes:?}: {err}");
    }
}

#[test]
fn an_unknown_schema_id_is_refused() {
    let err = registered().decode(&[0, 0, 0, 0x30, 0x39, 2]).unwrap_err();
    assert!(matches!(err, CodecError::UnknownSchemaId(12345)), "{err}");
}

#[test]
fn a_truncated_body_is_refused() {
    let codec = registered();
    let event = AnyEvent::Order(
        OrderShipped {
            carrier: "CJ대한통운".into(),
            tracking_number: "6543210".into(),
        }
        .into(),
    );
    let mut bytes = Vec::new();
    codec.encode(&event, &mut bytes).unwrap();
    let err = codec.decode(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(matches!(err, CodecError::Truncated(_)), "{err}");
}

#[test]
fn trailing_bytes_are_malformed() {
    let codec = registered();
    let mut bytes = Vec::new();
    codec
        .encode(
            &AnyEvent::Order(OrderDelivered { receiver: None }.into()),
            &mut bytes,
        )
        .unwrap();
    bytes.push(7);
    assert!(matches!(
        codec.decode(&bytes),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn a_record_that_is_no_event_of_ours_is_a_type_mismatch() {
    let foreign = Schema::parse_str(
        r#"{"type":"record","name":"Shipment","namespace":"partner.feed","fields":[{"name":"stock","type":"long"}]}"#,
    )
    .unwrap();
    let mut codec = registered();
    codec.add_schema(77, foreign);
    let err = codec.decode(&[0, 0, 0, 0, 77, 2]).unwrap_err();
    assert!(matches!(err, CodecError::TypeMismatch(_)), "{err}");

    // Same name as ours, but a field of another type: resolution fails.
    let clash = Schema::parse_str(
        r#"{"type":"record","name":"ProductStockChanged","namespace":"eventmall.product","fields":[{"name":"stock","type":"string"}]}"#,
    )
    .unwrap();
    codec.add_schema(78, clash);
    let err = codec.decode(&[0, 0, 0, 0, 78, 2, b'x']).unwrap_err();
    assert!(matches!(err, CodecError::TypeMismatch(_)), "{err}");
}

#[test]
fn an_unregistered_event_type_is_not_encoded() {
    let err = Codec::new()
        .encode(
            &AnyEvent::Order(OrderDelivered { receiver: None }.into()),
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(matches!(err, CodecError::Unregistered(_)), "{err}");
}
