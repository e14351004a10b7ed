//! Recommendations from paid orders: item-to-item co-purchase (same basket, "bought
//! together", and same customer, "also bought") scored by cosine similarity, trending products
//! per category with exponential time decay, and personalized picks that say why.

mod counts;
mod evaluation;
mod purchases;
mod scoring;

pub use counts::{Basket, BasketLine, Counts, Held, MAX_PAIRED_PRODUCTS, TrendClock};
pub use evaluation::{Evaluation, Purchase, Scores, evaluate};
pub use purchases::Purchases;
pub use scoring::{Neighbour, Pick, Reason, cosine, personalize, rank_neighbours};
