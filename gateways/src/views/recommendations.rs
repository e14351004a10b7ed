//! The recommendations projector: co-purchase counts, customers' items and trends, in one
//! generation's tables, from `eventmall.orders.v1`; and the queries that rank them.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;
use eventmall_events::order::OrderEvent;
use eventmall_projections::recommendations::{
    Basket, Counts, Neighbour, Pick, Purchase, TrendClock, personalize, rank_neighbours,
};
use eventmall_projections::{Checkpoint, Generation};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Any, AnyPool, Transaction};

use super::{Cell, upsert};
use crate::projector::{Batch, Prepared, Projection, checkpoints};
use crate::store::EventBackend;

const TOPICS: &[&str] = &[OrderEvent::TOPIC];
/// Rows loaded per query.
const LOAD_CHUNK: usize = 400;
/// Pairs considered per product, by count, before cosine ranks them.
const CANDIDATES: i64 = 200;
/// Purchases of a customer that personalized picks start from, at most.
const HISTORY: i64 = 100;

#[derive(Clone, Debug)]
struct Tables {
    baskets: String,
    items: String,
    together: String,
    customer_items: String,
    also: String,
    trending: String,
}

impl Tables {
    fn of(generation: Generation) -> Self {
        let prefix = generation.table_prefix(Recommendations::NAME);
        Self {
            baskets: format!("{prefix}baskets"),
            items: format!("{prefix}items"),
            together: format!("{prefix}together"),
            customer_items: format!("{prefix}customer_items"),
            also: format!("{prefix}also"),
            trending: format!("{prefix}trending"),
        }
    }

    fn create_statements(&self) -> Vec<String> {
        let Self {
            baskets,
            items,
            together,
            customer_items,
            also,
            trending,
        } = self;
        let mut statements = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {baskets} (order_id TEXT PRIMARY KEY, \
                 customer_id TEXT NOT NULL, version BIGINT NOT NULL, basket TEXT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {items} (product_id TEXT PRIMARY KEY, \
                 baskets BIGINT NOT NULL, buyers BIGINT NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {customer_items} (customer_id TEXT NOT NULL, \
                 product_id TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (customer_id, product_id))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {trending} (category TEXT NOT NULL, \
                 product_id TEXT NOT NULL, score DOUBLE PRECISION NOT NULL, \
                 PRIMARY KEY (category, product_id))"
            ),
            format!("CREATE INDEX IF NOT EXISTS {trending}_rank ON {trending} (category, score)"),
        ];
        // Pairs are read by their first product (the primary key's prefix; a product has a few
        // hundred at most) and sorted then: an index on the count would be moved by every
        // additive upsert.
        for pairs in [together, also] {
            statements.push(format!(
                "CREATE TABLE IF NOT EXISTS {pairs} (a TEXT NOT NULL, b TEXT NOT NULL, \
                 n BIGINT NOT NULL, PRIMARY KEY (a, b))"
            ));
        }
        statements
    }
}

/// One generation of the recommendation counts.
#[derive(Clone)]
pub struct Recommendations {
    pool: AnyPool,
    generation: Generation,
    tables: Tables,
    clock: TrendClock,
}

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
    pub const NAME: &'static str = "recommendations";

    pub async fn open(
        pool: AnyPool,
        generation: Generation,
        clock: TrendClock,
    ) -> sqlx::Result<Self> {
        let tables = Tables::of(generation);
        for statement in tables.create_statements() {
            sqlx::query(&statement).execute(&pool).await?;
        }
        Ok(Self {
            pool,
            generation,
            tables,
            clock,
        })
    }

    pub async fn live(pool: AnyPool, clock: TrendClock) -> sqlx::Result<Self> {
        let generation = checkpoints::live_generation(&pool, Self::NAME).await?;
        Self::open(pool, generation, clock).await
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn load_where<T>(
        &self,
        tx: &mut Transaction<'_, Any>,
        select: &str,
        column: &str,
        keys: &[&str],
        mut row: impl FnMut(sqlx::any::AnyRow) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(LOAD_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{select} WHERE {column} IN ({})", placeholders.join(", "));
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = query.bind(*key);
            }
            for found in query.fetch_all(&mut **tx).await? {
                out.push(row(found)?);
            }
        }
        Ok(out)
    }

    /// The counts of a batch's orders and their customers, as stored.
    async fn load(
        &self,
        tx: &mut Transaction<'_, Any>,
        orders: &[&str],
        placing_customers: &[&str],
    ) -> anyhow::Result<Counts> {
        use sqlx::Row;
        let baskets: Vec<Basket> = self
            .load_where(
                tx,
                &format!("SELECT basket FROM {}", self.tables.baskets),
                "order_id",
                orders,
                |row| Ok(serde_json::from_str(&row.try_get::<String, _>(0)?)?),
            )
            .await?;
        let customers: Vec<String> = baskets
            .iter()
            .map(|b| b.customer_id.clone())
            .chain(placing_customers.iter().map(|c| (*c).to_owned()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let customer_keys: Vec<&str> = customers.iter().map(String::as_str).collect();
        let held = self
            .load_where(
                tx,
                &format!(
                    "SELECT customer_id, product_id, n FROM {}",
                    self.tables.customer_items
                ),
                "customer_id",
                &customer_keys,
                |row| {
                    Ok((
                        (row.try_get(0)?, row.try_get(1)?),
                        row.try_get::<i64, _>(2)?,
                    ))
                },
            )
            .await?;
        Ok(Counts {
            baskets: baskets
                .into_iter()
                .map(|b| (b.order_id.clone(), b))
                .collect(),
            customer_items: held.into_iter().collect(),
            ..Counts::default()
        })
    }

    async fn write(
        &self,
        tx: &mut Transaction<'_, Any>,
        counts: &Counts,
        loaded: &HashMap<String, i64>,
        held_before: &HashMap<(String, String), i64>,
    ) -> anyhow::Result<()> {
        let t = &self.tables;
        let mut baskets = Vec::new();
        for basket in counts.baskets.values() {
            if loaded.get(&basket.order_id) == Some(&basket.version) {
                continue;
            }
            baskets.push(vec![
                Cell::Text(basket.order_id.clone()),
                Cell::Text(basket.customer_id.clone()),
                Cell::Int(basket.version),
                Cell::Text(serde_json::to_string(basket)?),
            ]);
        }
        upsert(
            tx,
            &t.baskets,
            &["order_id", "customer_id", "version", "basket"],
            "order_id",
            "version = excluded.version, basket = excluded.basket",
            baskets,
        )
        .await?;
        let held = counts
            .customer_items
            .iter()
            .filter(|(key, n)| held_before.get(*key) != Some(*n))
            .map(|((customer, product), n)| {
                vec![
                    Cell::Text(customer.clone()),
                    Cell::Text(product.clone()),
                    Cell::Int(*n),
                ]
            })
            .collect();
        upsert(
            tx,
            &t.customer_items,
            &["customer_id", "product_id", "n"],
            "customer_id, product_id",
            "n = excluded.n",
            held,
        )
        .await?;
        let items = counts
            .items
            .iter()
            .map(|(product, (baskets, buyers))| {
                vec![
                    Cell::Text(product.clone()),
                    Cell::Int(*baskets),
                    Cell::Int(*buyers),
                ]
            })
            .collect();
        let table = &t.items;
        upsert(
            tx,
            table,
            &["product_id", "baskets", "buyers"],
            "product_id",
            &format!(
                "baskets = {table}.baskets + excluded.baskets, buyers = {table}.buyers + excluded.buyers"
            ),
            items,
        )
        .await?;
        for (table, pairs) in [(&t.together, &counts.together), (&t.also, &counts.also)] {
            let rows = pairs
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|((a, b), n)| {
                    vec![Cell::Text(a.clone()), Cell::Text(b.clone()), Cell::Int(*n)]
                })
                .collect();
            upsert(
                tx,
                table,
                &["a", "b", "n"],
                "a, b",
                &format!("n = {table}.n + excluded.n"),
                rows,
            )
            .await?;
        }
        let trends = counts
            .trending
            .iter()
            .map(|((category, product), score)| {
                vec![
                    Cell::Text(category.clone()),
                    Cell::Text(product.clone()),
                    Cell::Real(*score),
                ]
            })
            .collect();
        let table = &t.trending;
        upsert(
            tx,
            table,
            &["category", "product_id", "score"],
            "category, product_id",
            &format!("score = {table}.score + excluded.score"),
            trends,
        )
        .await?;
        Ok(())
    }

    /// The `k` products most similar to `product` by `affinity`.
    pub async fn neighbours(
        &self,
        product: &str,
        affinity: Affinity,
        k: usize,
    ) -> anyhow::Result<Vec<Neighbour>> {
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
    pub async fn trending(&self, category: &str, k: usize) -> anyhow::Result<Vec<Trend>> {
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
    pub async fn for_customer(&self, customer: &str, k: usize) -> anyhow::Result<Vec<Pick>> {
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

    /// A digest of every row of this generation; trend scores are compared to nine significant
    /// digits, as floating-point sums depend on how batches grouped them.
    pub async fn checksum(&self) -> anyhow::Result<String> {
        let t = &self.tables;
        let mut digest = Sha256::new();
        let texts = [
            format!(
                "SELECT order_id, basket FROM {} ORDER BY order_id",
                t.baskets
            ),
            format!(
                "SELECT product_id, CAST(baskets AS TEXT) || ',' || CAST(buyers AS TEXT) FROM {} ORDER BY product_id",
                t.items
            ),
            format!(
                "SELECT a || '/' || b, CAST(n AS TEXT) FROM {} WHERE n <> 0 ORDER BY a, b",
                t.together
            ),
            format!(
                "SELECT a || '/' || b, CAST(n AS TEXT) FROM {} WHERE n <> 0 ORDER BY a, b",
                t.also
            ),
            format!(
                "SELECT customer_id || '/' || product_id, CAST(n AS TEXT) FROM {} WHERE n <> 0 \
                 ORDER BY customer_id, product_id",
                t.customer_items
            ),
        ];
        for sql in texts {
            let rows: Vec<(String, String)> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
            for (key, value) in rows {
                digest.update(format!("{key}\0{value}\0"));
            }
        }
        let trends: Vec<(String, String, f64)> = sqlx::query_as(&format!(
            "SELECT category, product_id, score FROM {} ORDER BY category, product_id",
            t.trending
        ))
        .fetch_all(&self.pool)
        .await?;
        for (category, product, score) in trends {
            digest.update(format!("{category}/{product}\0{score:.9e}\0"));
        }
        Ok(format!("{:x}", digest.finalize()))
    }
}

/// Every paid order that was not cancelled, read from the event store in order, for the
/// offline evaluation.
pub async fn purchases(backend: &dyn EventBackend) -> anyhow::Result<Vec<Purchase>> {
    let mut placed: HashMap<String, Purchase> = HashMap::new();
    let mut paid: Vec<String> = Vec::new();
    let mut cancelled: HashSet<String> = HashSet::new();
    let mut after = 0;
    loop {
        let page = backend.read_after(after, 5_000).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.global_position;
        for stored in page
            .iter()
            .filter(|e| e.aggregate_type == OrderEvent::AGGREGATE_TYPE)
        {
            let id = stored.aggregate_id.clone();
            match OrderEvent::from_json(&stored.event_type, &stored.payload)? {
                OrderEvent::OrderPlaced(order) => {
                    let lines = order
                        .lines
                        .iter()
                        .map(|l| (l.product_id, l.quantity, l.category.clone()))
                        .collect();
                    placed.insert(
                        id.clone(),
                        Purchase {
                            customer_id: order.customer_id.to_string(),
                            order_id: id,
                            paid_at: stored.metadata.recorded_at,
                            lines,
                        },
                    );
                }
                OrderEvent::OrderPaid(_) => {
                    if let Some(order) = placed.get_mut(&id) {
                        order.paid_at = stored.metadata.recorded_at;
                        paid.push(id);
                    }
                }
                OrderEvent::OrderCancelled(_) => {
                    cancelled.insert(id);
                }
                _ => {}
            }
        }
    }
    Ok(paid
        .into_iter()
        .filter(|id| !cancelled.contains(id))
        .filter_map(|id| placed.remove(&id))
        .collect())
}

#[async_trait::async_trait]
impl Projection for Recommendations {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }

    fn generation(&self) -> Generation {
        self.generation
    }

    async fn checkpoints(&self) -> anyhow::Result<Vec<Checkpoint>> {
        Ok(checkpoints::load(&self.pool, Self::NAME, self.generation).await?)
    }

    async fn prepare(&self, batch: &Batch) -> anyhow::Result<Prepared> {
        let mut tx = super::begin_write(&self.pool).await?;
        let before =
            checkpoints::advance(&mut tx, Self::NAME, self.generation, &batch.positions).await?;
        let (fresh, orders) = super::fresh_orders(batch, &before);
        let placing: Vec<String> = fresh
            .iter()
            .filter_map(|(_, event)| match event {
                OrderEvent::OrderPlaced(placed) => Some(placed.customer_id.to_string()),
                _ => None,
            })
            .collect();
        let placing: Vec<&str> = placing.iter().map(String::as_str).collect();
        let mut counts = self.load(&mut tx, &orders, &placing).await?;
        let loaded: HashMap<String, i64> = counts
            .baskets
            .values()
            .map(|b| (b.order_id.clone(), b.version))
            .collect();
        let held_before = counts.customer_items.clone();
        let mut refused = Vec::new();
        for (index, event) in fresh {
            let envelope = batch.events[index].envelope.with(event.clone());
            if let Err(error) = counts.apply(&envelope, self.clock) {
                refused.push((index, error.to_string()));
            }
        }
        self.write(&mut tx, &counts, &loaded, &held_before).await?;
        Ok(Prepared {
            refused,
            before,
            commit: Box::pin(async move { Ok(tx.commit().await?) }),
        })
    }
}
