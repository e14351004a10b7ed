//! The demo world, planned from one seeded generator: each partner's shelf of products and
//! every order with the fate it will meet. Nothing here touches the store.

use eventmall_events::product::ProductDetails;
use eventmall_events::{CustomerId, OrderId, PartnerId, PaymentId, ProductId, WalletId};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::DemoPlan;
use super::themes::{THEMES, Theme};

pub(super) struct ProductPlan {
    pub(super) product_id: ProductId,
    pub(super) partner_id: PartnerId,
    pub(super) theme: usize,
    pub(super) price: i64,
    pub(super) sku: String,
    pub(super) details: ProductDetails,
    /// EP `option_detail`.
    pub(super) options: String,
}

pub(super) struct OrderPlan {
    pub(super) index: usize,
    pub(super) order_id: OrderId,
    pub(super) payment_id: PaymentId,
    pub(super) customer_id: CustomerId,
    pub(super) wallet_id: WalletId,
    /// The seller, who reports shipping and delivery.
    pub(super) partner_id: PartnerId,
    pub(super) lines: Vec<(ProductId, u32, i64)>,
    pub(super) fate: Fate,
}

#[derive(Clone, Copy)]
pub(super) enum Fate {
    LeftPlaced,
    Paid,
    CancelledAfterPayment,
    Delivered,
    Confirmed,
    PartlyReturned,
}

/// The demo's `p`th partner (from 0): `partner-001`.
pub fn partner_id(p: usize) -> PartnerId {
    PartnerId(format!("partner-{:03}", p + 1))
}

/// The demo's `c`th customer (from 0): `customer-0001`.
pub fn customer_id(c: usize) -> CustomerId {
    CustomerId(format!("customer-{:04}", c + 1))
}

pub(super) fn plan_products(rng: &mut ChaCha8Rng, plan: &DemoPlan) -> Vec<ProductPlan> {
    let mut products = Vec::with_capacity(plan.partners * plan.products_per_partner);
    for p in 0..plan.partners {
        let partner_id = partner_id(p);
        // Each partner sells one or two themes; partner p always has theme p mod N, so every
        // theme has sellers.
        let mut themes = vec![p % THEMES.len()];
        if rng.random_bool(0.5) {
            themes.push(rng.random_range(0..THEMES.len()));
        }
        themes.dedup();
        for k in 0..plan.products_per_partner {
            let theme_index = themes[k % themes.len()];
            let theme: &Theme = &THEMES[theme_index];
            let drawn = theme.product(rng, k);
            let sku = format!("{}-{:05}", theme.code, k + 1);
            let product_id = ProductId::for_partner_sku(&partner_id, &sku);
            // EP feeds carry no stock; the draw stays so that a seed makes the same world.
            let _stock: u32 = rng.random_range(0..500);
            products.push(ProductPlan {
                product_id,
                partner_id: partner_id.clone(),
                theme: theme_index,
                price: drawn.price,
                sku,
                details: drawn.details,
                options: drawn.options,
            });
        }
    }
    products
}

pub(super) fn plan_orders(
    rng: &mut ChaCha8Rng,
    plan: &DemoPlan,
    products: &[ProductPlan],
) -> Vec<OrderPlan> {
    // Customers only care for themes some partner sells.
    let mut sold: Vec<usize> = products.iter().map(|p| p.theme).collect();
    sold.sort_unstable();
    sold.dedup();
    if sold.is_empty() {
        return Vec::new();
    }
    let customers: Vec<(CustomerId, WalletId, usize)> = (0..plan.customers.max(1))
        .map(|c| {
            let customer = customer_id(c);
            // One customer in 25 has a blocked wallet, so some payments are declined.
            let wallet = if c % 25 == 24 {
                WalletId(format!("blocked-wallet-{:04}", c + 1))
            } else {
                WalletId(format!("wallet-{:04}", c + 1))
            };
            (customer, wallet, sold[rng.random_range(0..sold.len())])
        })
        .collect();
    let mut orders = Vec::with_capacity(plan.orders);
    for index in 0..plan.orders {
        let (customer_id, wallet_id, favourite) =
            customers[rng.random_range(0..customers.len())].clone();
        // Mostly the favourite theme, sometimes something else.
        let theme = if rng.random_bool(0.8) {
            favourite
        } else {
            sold[rng.random_range(0..sold.len())]
        };
        let sellers: Vec<&PartnerId> = products
            .iter()
            .filter(|p| p.theme == theme)
            .map(|p| &p.partner_id)
            .collect();
        let Some(&partner) = sellers.choose(rng) else {
            continue;
        };
        let shelf: Vec<&ProductPlan> = products
            .iter()
            .filter(|p| p.theme == theme && &p.partner_id == partner)
            .collect();
        // Bundles: neighbours on a partner's shelf go together (a vacuum, its filter, its
        // stand), so a basket is a run of the shelf; now and then one odd item joins it.
        let size = rng.random_range(1..=shelf.len().min(3));
        let start = rng.random_range(0..=shelf.len() - size);
        let mut basket: Vec<&ProductPlan> = shelf[start..start + size].to_vec();
        if rng.random_bool(0.2)
            && let Some(odd) = shelf.choose(rng)
            && !basket.iter().any(|p| p.product_id == odd.product_id)
        {
            basket.push(odd);
        }
        let lines = basket
            .iter()
            .map(|p| (p.product_id, rng.random_range(1..=2), p.price))
            .collect();
        let fate = match rng.random_range(0..100) {
            0..5 => Fate::LeftPlaced,
            5..15 => Fate::Paid,
            15..25 => Fate::CancelledAfterPayment,
            25..45 => Fate::Delivered,
            45..90 => Fate::Confirmed,
            _ => Fate::PartlyReturned,
        };
        orders.push(OrderPlan {
            index,
            order_id: OrderId(seeded_v7(rng, index)),
            payment_id: PaymentId(seeded_v7(rng, index)),
            customer_id,
            wallet_id,
            partner_id: partner.clone(),
            lines,
            fate,
        });
    }
    orders
}

/// A UUID v7 whose time and random bits come from the seeded generator.
fn seeded_v7(rng: &mut ChaCha8Rng, index: usize) -> Uuid {
    const BASE_MILLIS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let random: [u8; 10] = rng.random();
    uuid::Builder::from_unix_timestamp_millis(BASE_MILLIS + index as u64 * 60_000, &random)
        .into_uuid()
}
