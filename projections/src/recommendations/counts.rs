//! The counts behind recommendations, kept incrementally: what a paid order adds, and what its
//! cancellation or a fully returned line takes back.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use eventmall_events::order::OrderEvent;
use serde::{Deserialize, Serialize};

use crate::{Envelope, ProjectionError, Result};

/// Exponential decay with a half-life. Scores are kept relative to a fixed epoch (a purchase
/// at `t` weighs 2^((t − epoch) / half-life)), so decaying them to any "now" multiplies all by
/// the same factor: ranking needs no rewrite of stored scores as time passes.
#[derive(Clone, Copy, Debug)]
pub struct TrendClock {
    pub half_life_hours: f64,
}

impl TrendClock {
    fn epoch() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn half_lives_since_epoch(self, at: DateTime<Utc>) -> f64 {
        let hours = (at - Self::epoch()).num_milliseconds() as f64 / 3_600_000.0;
        hours / self.half_life_hours.max(1e-6)
    }

    /// The stored weight of one unit bought at `at`.
    pub fn weight(self, at: DateTime<Utc>) -> f64 {
        self.half_lives_since_epoch(at).exp2()
    }

    /// A stored score as it stands at `now`.
    pub fn decayed(self, score: f64, now: DateTime<Utc>) -> f64 {
        score * (-self.half_lives_since_epoch(now)).exp2()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasketLine {
    pub line_no: u32,
    pub product_id: String,
    pub quantity: u32,
    pub returned: u32,
    pub category: Vec<String>,
}

impl BasketLine {
    fn active(&self) -> bool {
        self.returned < self.quantity
    }
}

/// An order as recommendations track it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Basket {
    pub order_id: String,
    pub customer_id: String,
    pub lines: Vec<BasketLine>,
    /// When it was paid; counted from then until cancelled.
    pub paid_at: Option<DateTime<Utc>>,
    pub cancelled: bool,
    pub version: i64,
}

impl Basket {
    /// The distinct products still kept.
    fn products(&self) -> BTreeSet<&str> {
        self.lines
            .iter()
            .filter(|line| line.active())
            .map(|line| line.product_id.as_str())
            .collect()
    }

    fn counted(&self) -> bool {
        self.paid_at.is_some() && !self.cancelled
    }
}

/// A customer's products whose "also bought" pairs are counted, at most: a customer's pairs
/// grow with the square of their distinct products, so one customer with thousands of them
/// would write millions of rows. The first products a customer holds take the places; one
/// given back frees its place for the next bought.
pub const MAX_PAIRED_PRODUCTS: usize = 50;

/// A customer's hold on a product.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Paid baskets of the customer with the product.
    pub n: i64,
    /// Whether the product is one of the customer's [`MAX_PAIRED_PRODUCTS`] whose "also
    /// bought" pairs are counted.
    pub paired: bool,
}

/// Counts and their changes. Loaded with the rows a batch touches (baskets, and the customers'
/// holds on their products and their paired products), it accumulates deltas to add to the
/// stored counts; started empty and fed every order, it is the whole model (as `evaluate`
/// uses it).
#[derive(Debug, Default)]
pub struct Counts {
    pub baskets: HashMap<String, Basket>,
    /// Per customer and product, the hold as it stands now (loaded + changed).
    pub customer_items: HashMap<String, HashMap<String, Held>>,
    /// Deltas: baskets and buyers per product.
    pub items: HashMap<String, (i64, i64)>,
    /// Deltas: baskets holding both products (both orders of each pair).
    pub together: HashMap<(String, String), i64>,
    /// Deltas: customers who bought both products (both orders of each pair).
    pub also: HashMap<(String, String), i64>,
    /// Deltas: trend scores per (category path, product); the empty path is everything.
    pub trending: HashMap<(String, String), f64>,
    pub duplicates: usize,
}

impl Counts {
    /// Applies an order event; an event the basket has seen is a duplicate and changes nothing.
    pub fn apply(&mut self, envelope: &Envelope<OrderEvent>, clock: TrendClock) -> Result<()> {
        let id = &envelope.aggregate_id;
        if self
            .baskets
            .get(id)
            .is_some_and(|b| envelope.sequence <= b.version)
        {
            self.duplicates += 1;
            return Ok(());
        }
        let basket = self.baskets.get(id);
        // An event of an order never placed is refused as such below.
        if basket.is_some() || matches!(envelope.event, OrderEvent::OrderPlaced(_)) {
            let version = basket.map_or(0, |basket| basket.version);
            ProjectionError::check_next(id, version, envelope.sequence)?;
        }
        if let OrderEvent::OrderPlaced(placed) = &envelope.event {
            self.baskets.insert(
                id.clone(),
                Basket {
                    order_id: id.clone(),
                    customer_id: placed.customer_id.to_string(),
                    lines: placed
                        .lines
                        .iter()
                        .map(|line| BasketLine {
                            line_no: line.line_no,
                            product_id: line.product_id.to_string(),
                            quantity: line.quantity,
                            returned: 0,
                            category: line.category.clone(),
                        })
                        .collect(),
                    paid_at: None,
                    cancelled: false,
                    version: envelope.sequence,
                },
            );
            return Ok(());
        }
        let Some(mut basket) = self.baskets.get(id).cloned() else {
            return Err(ProjectionError::UnknownAggregate {
                aggregate: "order",
                id: id.clone(),
                event_type: envelope.event.type_name(),
            });
        };
        match &envelope.event {
            OrderEvent::OrderPaid(_) if !basket.counted() && !basket.cancelled => {
                basket.paid_at = Some(envelope.recorded_at);
                self.count(&basket, &basket.products(), 1, clock);
            }
            OrderEvent::OrderCancelled(_) if basket.counted() => {
                self.count(&basket, &basket.products(), -1, clock);
                basket.cancelled = true;
            }
            OrderEvent::OrderCancelled(_) => basket.cancelled = true,
            OrderEvent::OrderLinesReturned(returned) => {
                let before = basket
                    .products()
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>();
                for line in &returned.lines {
                    if let Some(kept) = basket.lines.iter_mut().find(|l| l.line_no == line.line_no)
                    {
                        kept.returned = kept.returned.saturating_add(line.quantity);
                    }
                }
                if basket.counted() {
                    let after = basket.products();
                    let gone: Vec<String> = before
                        .into_iter()
                        .filter(|p| !after.contains(p.as_str()))
                        .collect();
                    // Count the basket as it was for the products now gone, one at a time.
                    for product in gone {
                        let mut was = basket.clone();
                        for line in &mut was.lines {
                            if line.product_id == product {
                                line.returned = 0;
                            }
                        }
                        self.count(&was, &BTreeSet::from([product.as_str()]), -1, clock);
                    }
                }
            }
            _ => {}
        }
        basket.version = envelope.sequence;
        self.baskets.insert(id.clone(), basket);
        Ok(())
    }

    /// Adds (`sign` 1) or takes back (−1) `products` of a paid basket: their basket counts,
    /// their pairs with the basket's products, the customer's counts with the "also bought"
    /// pairs they open or close, and their trends.
    fn count(&mut self, basket: &Basket, products: &BTreeSet<&str>, sign: i64, clock: TrendClock) {
        let kept = basket.products();
        for &product in products {
            self.items.entry(product.to_owned()).or_default().0 += sign;
            for &other in &kept {
                if other == product {
                    continue;
                }
                *self.together.entry(pair(product, other)).or_default() += sign;
                // A pair of two counted products gets its other direction from the other one.
                if !products.contains(other) {
                    *self.together.entry(pair(other, product)).or_default() += sign;
                }
            }
            self.count_customer(&basket.customer_id, product, sign);
            if let Some(paid_at) = basket.paid_at {
                self.count_trend(basket, product, sign as f64 * clock.weight(paid_at));
            }
        }
    }

    /// The customer's paid baskets with `product`; the first one counts the customer as a
    /// buyer and, while the customer has fewer than [`MAX_PAIRED_PRODUCTS`] paired products,
    /// opens "also bought" pairs with them; the last one taken back closes what it opened.
    fn count_customer(&mut self, customer: &str, product: &str, sign: i64) {
        let holds = self.customer_items.entry(customer.to_owned()).or_default();
        let paired_count = holds.values().filter(|held| held.paired).count();
        let held = holds.entry(product.to_owned()).or_default();
        let before = held.n;
        held.n += sign;
        let opens = before == 0 && held.n == 1;
        let closes = before == 1 && held.n == 0;
        if !opens && !closes {
            return;
        }
        self.items.entry(product.to_owned()).or_default().1 += sign;
        if opens && paired_count < MAX_PAIRED_PRODUCTS {
            held.paired = true;
        } else if closes && held.paired {
            held.paired = false;
        } else {
            return;
        }
        let others: Vec<String> = holds
            .iter()
            .filter(|(p, held)| *p != product && held.paired)
            .map(|(p, _)| p.clone())
            .collect();
        for other in others {
            *self.also.entry(pair(product, &other)).or_default() += sign;
            *self.also.entry(pair(&other, product)).or_default() += sign;
        }
    }

    /// The product's units in the basket, weighted, in every category path above it.
    fn count_trend(&mut self, basket: &Basket, product: &str, weight: f64) {
        let lines = basket.lines.iter().filter(|l| l.product_id == product);
        let units: u32 = lines
            .clone()
            .map(|l| l.quantity - l.returned.min(l.quantity))
            .sum();
        let category = lines.map(|l| l.category.clone()).next().unwrap_or_default();
        let score = weight * f64::from(units.max(1));
        for depth in 0..=category.len() {
            let path = category[..depth].join("/");
            *self.trending.entry((path, product.to_owned())).or_default() += score;
        }
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}
