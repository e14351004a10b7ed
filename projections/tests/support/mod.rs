//! A catalog in a search index in memory, for the search tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use eventmall_events::order::{OrderEvent, OrderLine, OrderPlaced};
use eventmall_events::product::*;
use eventmall_events::{AnyEvent, CustomerId, Money, OrderId, PartnerId, ProductId};
use eventmall_projections::search::{SearchIndex, SearchRequest, SearchResults};
use eventmall_projections::{Checkpoint, Envelope};
use uuid::Uuid;

pub struct Catalog {
    pub index: SearchIndex,
    pub offset: i64,
}

pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::minutes(minutes)
}

pub fn product_id(sku: &str) -> String {
    ProductId::for_partner_sku(&PartnerId("p".into()), sku).to_string()
}

impl Catalog {
    pub fn new() -> Self {
        Self {
            index: SearchIndex::in_ram().unwrap_or_else(|e| panic!("{e}")),
            offset: 0,
        }
    }

    /// Applies events in one batch and commits it.
    pub fn commit(&mut self, events: Vec<(String, i64, AnyEvent)>) {
        self.commit_at(events, None);
    }

    /// Applies events recorded at `at` (or a minute after the last) in one batch.
    pub fn commit_at(
        &mut self,
        events: Vec<(String, i64, AnyEvent)>,
        at_time: Option<DateTime<Utc>>,
    ) {
        let mut changes = Default::default();
        for (aggregate_id, sequence, event) in events {
            self.offset += 1;
            let envelope = Envelope {
                event_id: Uuid::now_v7(),
                aggregate_id,
                sequence,
                recorded_at: at_time.unwrap_or_else(|| at(self.offset)),
                event,
            };
            self.index
                .apply(&mut changes, &envelope)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let positions = [Checkpoint {
            topic: "t".into(),
            partition: 0,
            next_offset: self.offset,
            position: 0,
        }];
        self.index
            .commit(changes, &positions)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // A catalog row reads best as one call with its columns in order.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        partner: &str,
        sku: &str,
        title: &str,
        brand: &str,
        category: &[&str],
        model: Option<&str>,
        price: i64,
        stock: u32,
    ) {
        let event = ProductRegistered {
            product_id: ProductId::for_partner_sku(&PartnerId("p".into()), sku),
            partner_id: PartnerId(partner.into()),
            sku: sku.into(),
            details: ProductDetails {
                title: title.into(),
                brand: Some(brand.into()),
                category: category.iter().map(|c| c.to_string()).collect(),
                model_number: model.map(Into::into),
            },
            price: Money::krw(price),
            stock,
        };
        self.commit(vec![(product_id(sku), 1, AnyEvent::Product(event.into()))]);
    }

    pub fn search(&self, request: SearchRequest) -> Vec<String> {
        self.index
            .search(&SearchRequest {
                limit: if request.limit == 0 {
                    20
                } else {
                    request.limit
                },
                ..request
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .hits
            .into_iter()
            .map(|hit| hit.product.sku)
            .collect()
    }

    pub fn q(&self, q: &str) -> Vec<String> {
        self.search(SearchRequest {
            q: q.into(),
            ..SearchRequest::default()
        })
    }
}

impl Catalog {
    /// The whole answer to `q`.
    pub fn answer(&self, q: &str) -> SearchResults {
        self.index
            .search(&SearchRequest {
                q: q.into(),
                limit: 20,
                ..SearchRequest::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// An order of `quantity` units of `sku`, placed `days` before now.
    pub fn order(&mut self, sku: &str, quantity: u32, days: i64) {
        let (order, placed) = order_placed(sku, quantity);
        self.commit_at(
            vec![(order, 1, placed)],
            Some(Utc::now() - Duration::days(days)),
        );
    }
}

/// An order of `quantity` units of `sku`, and its id.
pub fn order_placed(sku: &str, quantity: u32) -> (String, AnyEvent) {
    let order = OrderId::new();
    let placed = OrderPlaced {
        order_id: order,
        customer_id: CustomerId("c".into()),
        partner_id: PartnerId("p".into()),
        lines: vec![OrderLine {
            line_no: 1,
            product_id: ProductId::for_partner_sku(&PartnerId("p".into()), sku),
            title: sku.into(),
            category: vec![],
            unit_price: Money::krw(1),
            quantity,
        }],
        total: Money::krw(i64::from(quantity)),
        wallet_id: None,
        shipping: None,
    };
    (
        order.to_string(),
        AnyEvent::Order(OrderEvent::OrderPlaced(placed)),
    )
}
