//! A product as search sees it, built from its events and the orders that sell it.

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
    /// Units ordered, each weighed by its age so that recent orders count more: log₂ of
    /// Σ units × 2^(days since 2026-01-01 ÷ 30), in thousandths; none before the first order.
    /// An order a month old counts half one of today. Computed from the orders' own times,
    /// so a rebuild gives the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand: Option<i64>,
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
            demand: None,
            version: 0,
        }
    }

    pub fn in_stock(&self) -> bool {
        self.stock > 0
    }

    /// Counts an order of `quantity` units placed at `at`.
    pub fn ordered(&mut self, quantity: u32, at: DateTime<Utc>) {
        self.popularity = self.popularity.saturating_add(i64::from(quantity));
        let weight = f64::from(quantity).log2() + demand_age(at);
        let total = match self.demand {
            None => weight,
            Some(milli) => log2_sum(milli as f64 / 1000.0, weight),
        };
        self.demand = Some((total * 1000.0).round() as i64);
    }
}

/// Days after which an order counts half.
pub const DEMAND_HALF_LIFE_DAYS: f64 = 30.0;

/// log₂ of an order's weight at `at`, relative to 2026-01-01.
pub fn demand_age(at: DateTime<Utc>) -> f64 {
    let epoch = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    (at - epoch).num_seconds() as f64 / 86_400.0 / DEMAND_HALF_LIFE_DAYS
}

/// The units a demand stands for at `now`: what it would be if every order were placed now.
pub fn recent_units(demand: i64, now: DateTime<Utc>) -> f64 {
    (demand as f64 / 1000.0 - demand_age(now)).exp2()
}

/// log₂(2^a + 2^b) without overflow.
fn log2_sum(a: f64, b: f64) -> f64 {
    let (high, low) = if a > b { (a, b) } else { (b, a) };
    high + (low - high).exp2().ln_1p() / std::f64::consts::LN_2
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
