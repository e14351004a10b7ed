//! A product as search sees it, built from its events and the orders that sell it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use eventmall_events::Money;
use eventmall_events::product::ProductEvent;
use serde::{Deserialize, Serialize};

use crate::{Envelope, ProjectionError, Result};

/// The most characters of a product's text (title, brand, model number and category levels)
/// the index analyses: several times what the product rules allow, so only an event from
/// outside them (before they existed, or a producer that skipped them) is over it.
pub const ANALYSIS_BUDGET_CHARS: usize = 2_048;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductDoc {
    pub product_id: String,
    pub partner_id: String,
    pub sku: String,
    pub title: String,
    pub brand: Option<String>,
    pub category: Vec<String>,
    pub model_number: Option<String>,
    pub price: Money,
    pub stock: u32,
    /// Shown in search: registered and not delisted.
    pub listed: bool,
    /// Whether its registration was seen; orders can arrive first (they are on another
    /// topic), and then the document only holds their popularity until it is.
    pub registered: bool,
    pub registered_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Units ordered.
    pub popularity: i64,
    /// Units ordered per week (weeks since 2026-01-01), the last [`DEMAND_WEEKS`] weeks up to
    /// the latest order's: integer sums, so a rebuild that applies the orders in another
    /// interleaving of partitions gets the same document. JSON keys are the week numbers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, u64>)]
    pub weekly_units: BTreeMap<i64, u64>,
    /// Sequence of the last product event applied.
    pub version: i64,
}

impl ProductDoc {
    /// A product known only from orders so far.
    pub fn placeholder(product_id: &str) -> Self {
        Self {
            product_id: product_id.to_owned(),
            partner_id: String::new(),
            sku: String::new(),
            title: String::new(),
            brand: None,
            category: Vec::new(),
            model_number: None,
            price: Money::krw(0),
            stock: 0,
            listed: false,
            registered: false,
            registered_at: None,
            updated_at: None,
            popularity: 0,
            weekly_units: BTreeMap::new(),
            version: 0,
        }
    }

    pub fn in_stock(&self) -> bool {
        self.stock > 0
    }

    /// Counts an order of `quantity` units placed at `at`.
    pub fn ordered(&mut self, quantity: u32, at: DateTime<Utc>) {
        self.popularity = self.popularity.saturating_add(i64::from(quantity));
        let week = days_since_epoch(at).div_euclid(7.0) as i64;
        let units = self.weekly_units.entry(week).or_default();
        *units = units.saturating_add(u64::from(quantity));
        if let Some(latest) = self.weekly_units.keys().next_back().copied() {
            self.weekly_units = self.weekly_units.split_off(&(latest - DEMAND_WEEKS + 1));
        }
    }

    /// Recent demand: log₂ of Σ units × 2^(days since 2026-01-01 ÷ [`DEMAND_HALF_LIFE_DAYS`])
    /// over the weeks kept, in thousandths; `None` before the first order. An order a month
    /// old counts half one of today. What it stands for at a time is [`recent_units`].
    pub fn demand(&self) -> Option<i64> {
        let weighed: f64 = self
            .weekly_units
            .iter()
            .map(|(week, units)| {
                *units as f64 * ((*week as f64 * 7.0 + 3.5) / DEMAND_HALF_LIFE_DAYS).exp2()
            })
            .sum();
        (weighed > 0.0).then(|| (weighed.log2() * 1000.0).round() as i64)
    }
}

/// Days after which an order counts half.
pub const DEMAND_HALF_LIFE_DAYS: f64 = 30.0;
/// Weeks of orders a product keeps for its demand: older ones would count under 2 %.
pub const DEMAND_WEEKS: i64 = 26;

/// Days from 2026-01-01 to `at`.
fn days_since_epoch(at: DateTime<Utc>) -> f64 {
    let epoch = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    (at - epoch).num_seconds() as f64 / 86_400.0
}

/// The units a demand stands for at `now`: what it would be if every order were placed now.
pub fn recent_units(demand: i64, now: DateTime<Utc>) -> f64 {
    (demand as f64 / 1000.0 - days_since_epoch(now) / DEMAND_HALF_LIFE_DAYS).exp2()
}

impl ProductDoc {
    /// Applies a product event; `Ok(false)` when the document has already seen it.
    pub fn apply(&mut self, envelope: &Envelope<ProductEvent>) -> Result<bool> {
        if envelope.sequence <= self.version {
            return Ok(false);
        }
        // An event of a product never registered is refused as such below.
        if self.registered || matches!(envelope.event, ProductEvent::ProductRegistered(_)) {
            ProjectionError::check_next(&envelope.aggregate_id, self.version, envelope.sequence)?;
        }
        let at = Some(envelope.recorded_at);
        match &envelope.event {
            ProductEvent::ProductRegistered(registered) => {
                self.partner_id = registered.partner_id.to_string();
                self.sku = registered.sku.clone();
                self.title = registered.details.title.clone();
                self.brand = registered.details.brand.clone();
                self.category = registered.details.category.clone();
                self.model_number = registered.details.model_number.clone();
                self.price = registered.price;
                self.stock = registered.stock;
                self.listed = true;
                self.registered = true;
                self.registered_at = at;
            }
            _ if !self.registered => {
                return Err(ProjectionError::UnknownAggregate {
                    aggregate: "product",
                    id: envelope.aggregate_id.clone(),
                    event_type: envelope.event.type_name(),
                });
            }
            ProductEvent::ProductDetailsUpdated(updated) => {
                self.title = updated.details.title.clone();
                self.brand = updated.details.brand.clone();
                self.category = updated.details.category.clone();
                self.model_number = updated.details.model_number.clone();
            }
            ProductEvent::ProductPriceChanged(changed) => self.price = changed.price,
            ProductEvent::ProductStockChanged(changed) => self.stock = changed.stock,
            ProductEvent::ProductDelisted(_) => self.listed = false,
            ProductEvent::ProductRelisted(_) => self.listed = true,
        }
        let size = self.analysed_chars();
        if size > ANALYSIS_BUDGET_CHARS {
            return Err(ProjectionError::OverBudget {
                what: format!("product {}", envelope.aggregate_id),
                size,
                max: ANALYSIS_BUDGET_CHARS,
            });
        }
        self.updated_at = at;
        self.version = envelope.sequence;
        Ok(true)
    }

    /// The characters of the fields the index analyses.
    fn analysed_chars(&self) -> usize {
        let count = |text: &str| text.chars().count();
        count(&self.title)
            + self.brand.as_deref().map_or(0, count)
            + self.model_number.as_deref().map_or(0, count)
            + self
                .category
                .iter()
                .map(|level| count(level))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + day * 86_400 + 3_600, 0).unwrap()
    }

    proptest! {
        /// A rebuild reads a product's orders in another interleaving of partitions than the
        /// live projector did; the document, its demand included, must come out the same.
        #[test]
        fn demand_does_not_depend_on_the_order_orders_are_counted_in(
            orders in proptest::collection::vec((1u32..50, -400i64..400), 1..40),
            rotate in 0usize..40,
        ) {
            let count = |orders: &[(u32, i64)]| {
                let mut doc = ProductDoc::placeholder("p");
                for (quantity, day) in orders {
                    doc.ordered(*quantity, at(*day));
                }
                doc
            };
            let mut shuffled = orders.clone();
            shuffled.rotate_left(rotate % orders.len());
            shuffled.reverse();
            let (live, rebuilt) = (count(&orders), count(&shuffled));
            prop_assert_eq!(&live.weekly_units, &rebuilt.weekly_units);
            prop_assert_eq!(live.demand(), rebuilt.demand());
            prop_assert_eq!(live.popularity, rebuilt.popularity);
        }
    }

    #[test]
    fn recent_orders_weigh_more_and_old_weeks_are_let_go() {
        let mut recent = ProductDoc::placeholder("recent");
        recent.ordered(4, at(300));
        let mut old = ProductDoc::placeholder("old");
        old.ordered(4, at(240));
        let units = |doc: &ProductDoc| recent_units(doc.demand().unwrap(), at(300));
        // Two months older counts about a quarter (weeks are counted at their middle).
        assert!((units(&recent) / units(&old) - 4.0).abs() < 0.8);
        assert_eq!(ProductDoc::placeholder("none").demand(), None);

        old.ordered(1, at(240 + 7 * DEMAND_WEEKS));
        assert_eq!(old.weekly_units.len(), 1, "{:?}", old.weekly_units);
        assert_eq!(old.popularity, 5);
    }
}
