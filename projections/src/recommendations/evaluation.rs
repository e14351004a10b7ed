//! Offline evaluation: hold out each customer's last order, learn from the rest, and see how
//! much of the held-out order the top 10 picks contain, against a popularity baseline.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use eventmall_events::order::{OrderEvent, OrderLine, OrderPaid, OrderPlaced};
use eventmall_events::{CustomerId, Money, PartnerId, PaymentId, ProductId};
use serde::Serialize;
use uuid::Uuid;

use super::{Counts, TrendClock, personalize, rank_neighbours};
use crate::Envelope;

/// A paid order, as evaluation reads it.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub customer_id: String,
    pub order_id: String,
    pub paid_at: DateTime<Utc>,
    /// (product, quantity, category path).
    pub lines: Vec<(ProductId, u32, Vec<String>)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scores {
    pub hit_at_k: f64,
    pub precision_at_k: f64,
    pub recall_at_k: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub k: usize,
    /// Customers with a held-out order.
    pub customers: usize,
    pub model: Scores,
    pub popularity: Scores,
}

/// Feeds a purchase to the counts as the order topic would carry it.
fn feed(counts: &mut Counts, purchase: &Purchase, clock: TrendClock) {
    let order_id = purchase.order_id.parse().unwrap_or_default();
    let lines: Vec<OrderLine> = purchase
        .lines
        .iter()
        .enumerate()
        .map(|(index, (product_id, quantity, category))| OrderLine {
            line_no: u32::try_from(index + 1).unwrap_or(u32::MAX),
            product_id: *product_id,
            title: String::new(),
            category: category.clone(),
            unit_price: Money::krw(0),
            quantity: *quantity,
        })
        .collect();
    let events = [
        OrderEvent::OrderPlaced(OrderPlaced {
            order_id,
            customer_id: CustomerId(purchase.customer_id.clone()),
            partner_id: PartnerId(String::new()),
            lines,
            total: Money::krw(0),
            wallet_id: None,
            shipping: None,
        }),
        OrderEvent::OrderPaid(OrderPaid {
            payment_id: PaymentId(Uuid::nil()),
            amount: Money::krw(0),
        }),
    ];
    for (sequence, event) in (1..).zip(events) {
        let envelope = Envelope {
            event_id: Uuid::nil(),
            aggregate_id: purchase.order_id.clone(),
            sequence,
            recorded_at: purchase.paid_at,
            event,
        };
        // Counts refuse only events of unknown orders; these orders are placed first.
        let _ = counts.apply(&envelope, clock);
    }
}

/// Neighbours of each product, from both pair counts, as the read routes rank them.
fn neighbourhoods(counts: &Counts, k: usize) -> HashMap<String, Vec<super::Neighbour>> {
    let mut pairs: HashMap<&str, HashMap<&str, (i64, i64)>> = HashMap::new();
    for ((a, b), n) in &counts.together {
        pairs.entry(a).or_default().entry(b).or_default().0 += n;
    }
    for ((a, b), n) in &counts.also {
        pairs.entry(a).or_default().entry(b).or_default().1 += n;
    }
    let items = |p: &str| counts.items.get(p).copied().unwrap_or_default();
    pairs
        .into_iter()
        .map(|(product, others)| {
            let (baskets, buyers) = items(product);
            let mut together = Vec::new();
            let mut also = Vec::new();
            for (other, (with, by)) in others {
                let (other_baskets, other_buyers) = items(other);
                together.push((other.to_owned(), with, other_baskets));
                also.push((other.to_owned(), by, other_buyers));
            }
            let mut ranked = rank_neighbours(baskets, together, k);
            ranked.extend(rank_neighbours(buyers, also, k));
            (product.to_owned(), ranked)
        })
        .collect()
}

fn score(picks: &[String], held_out: &BTreeSet<String>, k: usize) -> Scores {
    let hits = picks.iter().filter(|p| held_out.contains(*p)).count() as f64;
    Scores {
        hit_at_k: f64::from(u8::from(hits > 0.0)),
        precision_at_k: hits / k as f64,
        recall_at_k: hits / held_out.len().max(1) as f64,
    }
}

/// Holds out each customer's last order (customers with two orders or more), learns from
/// every other order, and scores the top `k` picks and the `k` most popular products
/// (neither holding what the customer already bought) against the held-out products.
pub fn evaluate(purchases: &[Purchase], k: usize, clock: TrendClock) -> Evaluation {
    let mut by_customer: HashMap<&str, Vec<&Purchase>> = HashMap::new();
    for purchase in purchases {
        by_customer
            .entry(&purchase.customer_id)
            .or_default()
            .push(purchase);
    }
    let mut held_out: HashMap<&str, &Purchase> = HashMap::new();
    for (customer, orders) in &mut by_customer {
        orders.sort_by(|a, b| (a.paid_at, &a.order_id).cmp(&(b.paid_at, &b.order_id)));
        if orders.len() >= 2
            && let Some(last) = orders.last()
        {
            held_out.insert(customer, last);
        }
    }
    let mut counts = Counts::default();
    for purchase in purchases {
        let is_held_out = held_out
            .get(purchase.customer_id.as_str())
            .is_some_and(|h| h.order_id == purchase.order_id);
        if !is_held_out {
            feed(&mut counts, purchase, clock);
        }
    }
    let neighbours = neighbourhoods(&counts, k);
    let mut popular: Vec<(&String, f64)> = counts
        .trending
        .iter()
        .filter(|((path, _), _)| path.is_empty())
        .map(|((_, product), score)| (product, *score))
        .collect();
    popular.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let popular: Vec<String> = popular.into_iter().map(|(p, _)| p.clone()).collect();

    let (mut model, mut baseline) = (Scores::default(), Scores::default());
    let mut customers: Vec<&&str> = held_out.keys().collect();
    customers.sort();
    for customer in &customers {
        let held = held_out[**customer];
        let truth: BTreeSet<String> = held.lines.iter().map(|(p, _, _)| p.to_string()).collect();
        let purchased: BTreeSet<String> = counts
            .customer_items
            .get(**customer)
            .into_iter()
            .flatten()
            .filter(|(_, held)| held.n > 0)
            .map(|(p, _)| p.clone())
            .collect();
        let similar: Vec<(String, Vec<super::Neighbour>)> = purchased
            .iter()
            .map(|p| (p.clone(), neighbours.get(p).cloned().unwrap_or_default()))
            .collect();
        let picks: Vec<String> = personalize(&purchased, &similar, &popular, k)
            .into_iter()
            .map(|pick| pick.product_id)
            .collect();
        let most_popular: Vec<String> = popular
            .iter()
            .filter(|p| !purchased.contains(*p))
            .take(k)
            .cloned()
            .collect();
        for (total, scores) in [
            (&mut model, score(&picks, &truth, k)),
            (&mut baseline, score(&most_popular, &truth, k)),
        ] {
            total.hit_at_k += scores.hit_at_k;
            total.precision_at_k += scores.precision_at_k;
            total.recall_at_k += scores.recall_at_k;
        }
    }
    let n = customers.len().max(1) as f64;
    for total in [&mut model, &mut baseline] {
        total.hit_at_k /= n;
        total.precision_at_k /= n;
        total.recall_at_k /= n;
    }
    Evaluation {
        k,
        customers: customers.len(),
        model,
        popularity: baseline,
    }
}
