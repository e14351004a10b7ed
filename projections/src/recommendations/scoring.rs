//! Scores: cosine similarity of co-purchase counts, neighbours ranked by it, and personalized
//! picks with the purchase that explains each.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

/// Cosine similarity of two products' purchase vectors, from how often they were bought
/// together and how often each was bought: both / √(a·b).
pub fn cosine(both: i64, a: i64, b: i64) -> f64 {
    if both <= 0 || a <= 0 || b <= 0 {
        return 0.0;
    }
    both as f64 / ((a as f64) * (b as f64)).sqrt()
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Neighbour {
    pub product_id: String,
    pub score: f64,
    /// Baskets (or customers) with both products.
    pub together: i64,
}

/// The `k` best neighbours of a product bought `count` times, from candidates
/// (product, times with it, times bought), best first; ties by count, then id.
pub fn rank_neighbours(
    count: i64,
    candidates: Vec<(String, i64, i64)>,
    k: usize,
) -> Vec<Neighbour> {
    let mut ranked: Vec<Neighbour> = candidates
        .into_iter()
        .filter(|(_, both, _)| *both > 0)
        .map(|(product_id, both, bought)| Neighbour {
            score: cosine(both, count, bought),
            product_id,
            together: both,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.together.cmp(&a.together))
            .then(a.product_id.cmp(&b.product_id))
    });
    ranked.truncate(k);
    ranked
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schema(as = PickReason)]
pub enum Reason {
    /// Similar to something the customer bought.
    BecauseYouBought { product_id: String },
    /// Popular now; for a customer with no history, or to fill the list.
    Popular,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Pick {
    pub product_id: String,
    pub score: f64,
    pub reason: Reason,
}

/// Picks for a customer: each candidate scores the sum of its similarities to what the
/// customer bought, explained by the purchase it is most similar to; nothing already bought;
/// popular products fill what is left.
pub fn personalize(
    purchased: &BTreeSet<String>,
    neighbours: &[(String, Vec<Neighbour>)],
    popular: &[String],
    k: usize,
) -> Vec<Pick> {
    let mut scores: HashMap<&str, (f64, &str, f64)> = HashMap::new();
    for (bought, similar) in neighbours {
        for neighbour in similar {
            if purchased.contains(&neighbour.product_id) {
                continue;
            }
            let entry =
                scores
                    .entry(neighbour.product_id.as_str())
                    .or_insert((0.0, bought.as_str(), 0.0));
            entry.0 += neighbour.score;
            if neighbour.score > entry.2 {
                entry.1 = bought.as_str();
                entry.2 = neighbour.score;
            }
        }
    }
    let mut picks: Vec<Pick> = scores
        .into_iter()
        .map(|(product, (score, because, _))| Pick {
            product_id: product.to_owned(),
            score,
            reason: Reason::BecauseYouBought {
                product_id: because.to_owned(),
            },
        })
        .collect();
    picks.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.product_id.cmp(&b.product_id))
    });
    picks.truncate(k);
    for product in popular {
        if picks.len() >= k {
            break;
        }
        if purchased.contains(product) || picks.iter().any(|p| &p.product_id == product) {
            continue;
        }
        picks.push(Pick {
            product_id: product.clone(),
            score: 0.0,
            reason: Reason::Popular,
        });
    }
    picks
}
