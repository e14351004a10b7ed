//! The reader moves only forward, and only when told: at this process's commits and when a
//! process that reads another's index refreshes.

use chrono::Utc;
use eventmall_events::product::{ProductDetails, ProductPriceChanged, ProductRegistered};
use eventmall_events::{AnyEvent, Money, PartnerId, ProductId};
use uuid::Uuid;

use super::*;

#[test]
fn every_commit_is_held_by_the_reader_when_commit_returns() {
    let index = SearchIndex::in_ram().unwrap_or_else(|e| panic!("{e}"));
    commit(&index, 1, registered());
    for sequence in 2..40 {
        commit(&index, sequence, repriced(sequence - 1, sequence));
        assert!(index.holds_last_commit().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(price_seen_by(&index), sequence);
    }
}

/// An API process reading the index a projector process writes: its reader stays where it is
/// until it refreshes, and a read-your-writes check refreshes it.
#[test]
fn a_reader_of_another_process_index_moves_when_it_refreshes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let projector = SearchIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    commit(&projector, 1, registered());
    let api = SearchIndex::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(price_seen_by(&api), 1_000);

    commit(&projector, 2, repriced(1_000, 2_000));
    assert!(!api.holds_last_commit().unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(
        price_seen_by(&api),
        1_000,
        "a manual reader moved by itself"
    );
    let checkpoints = api
        .checkpoints_for_reads()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checkpoints[0].next_offset, 2);
    assert_eq!(price_seen_by(&api), 2_000);

    commit(&projector, 3, repriced(2_000, 3_000));
    assert!(api.refresh().unwrap_or_else(|e| panic!("{e}")));
    assert!(
        !api.refresh().unwrap_or_else(|e| panic!("{e}")),
        "nothing new"
    );
    assert_eq!(price_seen_by(&api), 3_000);
}

fn product_id() -> String {
    ProductId::for_partner_sku(&PartnerId("p".into()), "sku").to_string()
}

/// Commits `event` as the product's `sequence`-th event, at offset `sequence - 1`.
fn commit(index: &SearchIndex, sequence: i64, event: AnyEvent) {
    let envelope = Envelope {
        event_id: Uuid::now_v7(),
        aggregate_id: product_id(),
        sequence,
        recorded_at: Utc::now(),
        event,
    };
    let mut changes = SearchChanges::default();
    index
        .apply(&mut changes, &envelope)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let positions = [Checkpoint {
        topic: "t".into(),
        partition: 0,
        next_offset: sequence,
        position: sequence,
    }];
    index
        .commit(changes, &positions)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn registered() -> AnyEvent {
    AnyEvent::Product(
        ProductRegistered {
            product_id: ProductId::for_partner_sku(&PartnerId("p".into()), "sku"),
            partner_id: PartnerId("p".into()),
            sku: "sku".into(),
            details: ProductDetails {
                title: "무선청소기".into(),
                brand: None,
                category: vec![],
                model_number: None,
            },
            price: Money::krw(1_000),
            stock: 1,
        }
        .into(),
    )
}

fn repriced(from: i64, to: i64) -> AnyEvent {
    AnyEvent::Product(
        ProductPriceChanged {
            previous: Money::krw(from),
            price: Money::krw(to),
        }
        .into(),
    )
}

fn price_seen_by(index: &SearchIndex) -> i64 {
    index
        .product(&product_id())
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|doc| doc.price.amount)
        .unwrap_or_default()
}
