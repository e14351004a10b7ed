//! What the read routes ask of the recommendations: neighbours by cosine, trending products,
//! a customer's picks, and a checksum of a generation.

use std::collections::BTreeSet;

use chrono::Utc;
use eventmall_projections::Contents;
use eventmall_projections::recommendations::{Neighbour, Pick, personalize, rank_neighbours};
use serde::Serialize;

use super::Recommendations;
use crate::database::begin_snapshot;
use crate::{Result, checkpoints};

/// Pairs considered per product, by count, before cosine ranks them.
const CANDIDATES: i64 = 200;
/// Purchases of a customer that personalized picks start from, at most.
const HISTORY: i64 = 100;

/// A trending product and its score decayed to now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Trend {
    pub product_id: String,
    pub score: f64,
}

/// Which co-purchase a neighbour list is about.
#[derive(Clone, Copy, Debug)]
pub enum Affinity {
    /// In one basket.
    BoughtTogether,
    /// By one customer, at any time.
    AlsoBought,
}

impl Recommendations {
    /// The `k` products most similar to `product` by `affinity`.
    pub async fn neighbours(
        &self,
        product: &str,
        affinity: Affinity,
        k: usize,
    ) -> Result<Vec<Neighbour>> {
        let (pairs, count) = match affinity {
            Affinity::BoughtTogether => (&self.tables.together, "baskets"),
            Affinity::AlsoBought => (&self.tables.also, "buyers"),
        };
        let items = &self.tables.items;
        let own: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT {count} FROM {items} WHERE product_id = $1"
        ))
        .bind(product)
        .fetch_optional(&self.pool)
        .await?;
        let candidates: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT p.b, p.n, i.{count} FROM {pairs} p JOIN {items} i ON i.product_id = p.b \
             WHERE p.a = $1 AND p.n > 0 ORDER BY p.n DESC, p.b LIMIT $2"
        ))
        .bind(product)
        .bind(CANDIDATES)
        .fetch_all(&self.pool)
        .await?;
        Ok(rank_neighbours(own.unwrap_or(0), candidates, k))
    }

    /// The `k` products trending in a category path (`가전/청소기`; empty for everything).
    pub async fn trending(&self, category: &str, k: usize) -> Result<Vec<Trend>> {
        let rows: Vec<(String, f64)> = sqlx::query_as(&format!(
            "SELECT product_id, score FROM {} WHERE category = $1 AND score > 0.000001 \
             ORDER BY score DESC, product_id LIMIT $2",
            self.tables.trending
        ))
        .bind(category)
        .bind(i64::try_from(k).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let now = Utc::now();
        Ok(rows
            .into_iter()
            .map(|(product_id, score)| Trend {
                product_id,
                score: self.clock.decayed(score, now),
            })
            .collect())
    }

    /// Picks for a customer, each with its reason; popular products for a customer without
    /// purchases.
    pub async fn for_customer(&self, customer: &str, k: usize) -> Result<Vec<Pick>> {
        let purchased: BTreeSet<String> = sqlx::query_scalar::<_, String>(&format!(
            "SELECT product_id FROM {} WHERE customer_id = $1 AND n > 0 ORDER BY product_id LIMIT $2",
            self.tables.customer_items
        ))
        .bind(customer)
        .bind(HISTORY)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .collect();
        let mut similar = Vec::with_capacity(purchased.len());
        for product in &purchased {
            let mut neighbours = self
                .neighbours(product, Affinity::BoughtTogether, k)
                .await?;
            neighbours.extend(self.neighbours(product, Affinity::AlsoBought, k).await?);
            similar.push((product.clone(), neighbours));
        }
        let popular: Vec<String> = self
            .trending("", k + purchased.len())
            .await?
            .into_iter()
            .map(|t| t.product_id)
            .collect();
        Ok(personalize(&purchased, &similar, &popular, k))
    }

    /// Every row of this generation by key, with the checkpoints, read in one snapshot. Trend
    /// scores are compared to nine significant digits, as floating-point sums depend on how
    /// batches grouped them; pairs counted down to zero are no rows.
    pub async fn contents(&self) -> Result<Contents> {
        let t = &self.tables;
        let mut tx = begin_snapshot(&self.pool).await?;
        let mut contents = Contents::new(
            checkpoints::load(&mut *tx, Recommendations::NAME, self.generation).await?,
        );
        let texts = [
            (
                "baskets",
                format!(
                    "SELECT order_id, customer_id || '|' || version || '|' || basket FROM {}",
                    t.baskets
                ),
            ),
            (
                "items",
                format!(
                    "SELECT product_id, CAST(baskets AS TEXT) || ',' || CAST(buyers AS TEXT) \
                     FROM {}",
                    t.items
                ),
            ),
            (
                "together",
                format!(
                    "SELECT a || '/' || b, CAST(n AS TEXT) FROM {} WHERE n <> 0",
                    t.together
                ),
            ),
            (
                "also",
                format!(
                    "SELECT a || '/' || b, CAST(n AS TEXT) FROM {} WHERE n <> 0",
                    t.also
                ),
            ),
            (
                "customer_products",
                format!(
                    "SELECT customer_id || '/' || product_id, CAST(n AS TEXT) || ',' || \
                     CAST(paired AS TEXT) FROM {} WHERE n <> 0",
                    t.customer_items
                ),
            ),
        ];
        for (table, sql) in texts {
            let rows: Vec<(String, String)> = sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
            for (key, value) in rows {
                contents.insert(table, &key, &value);
            }
        }
        let trends: Vec<(String, String, f64)> = sqlx::query_as(&format!(
            "SELECT category, product_id, score FROM {}",
            t.trending
        ))
        .fetch_all(&mut *tx)
        .await?;
        for (category, product, score) in trends {
            contents.insert(
                "trending",
                &format!("{category}/{product}"),
                &format!("{score:.9e}"),
            );
        }
        tx.commit().await?;
        Ok(contents)
    }

    /// A digest of every row of this generation.
    pub async fn checksum(&self) -> Result<String> {
        Ok(self.contents().await?.checksum())
    }
}
