//! The recommendations projector: co-purchase counts, customers' items and trends, in one
//! generation's tables, from `eventmall.orders.v1`. The queries that rank them are in
//! `queries.rs`.

mod queries;

use std::collections::{BTreeSet, HashMap};

use eventmall_events::order::OrderEvent;
use eventmall_projections::recommendations::{Basket, Counts, TrendClock};
use eventmall_projections::{Batch, Checkpoint, Generation, Prepared, Projection, ReadModelError};
use sqlx::{Any, AnyPool, Transaction};

pub use queries::{Affinity, Trend};

use crate::database::{SqlValue, placeholders, upsert};
use crate::{Result, checkpoints};

const TOPICS: &[&str] = &[OrderEvent::TOPIC];
/// Rows loaded per query.
const LOAD_CHUNK: usize = 400;

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
        mut row: impl FnMut(sqlx::any::AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(LOAD_CHUNK) {
            let sql = format!(
                "{select} WHERE {column} IN ({})",
                placeholders(1, chunk.len())
            );
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
    ) -> Result<Counts> {
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
    ) -> Result<()> {
        let t = &self.tables;
        let mut baskets = Vec::new();
        for basket in counts.baskets.values() {
            if loaded.get(&basket.order_id) == Some(&basket.version) {
                continue;
            }
            baskets.push(vec![
                SqlValue::Text(basket.order_id.clone()),
                SqlValue::Text(basket.customer_id.clone()),
                SqlValue::Int(basket.version),
                SqlValue::Text(serde_json::to_string(basket)?),
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
                    SqlValue::Text(customer.clone()),
                    SqlValue::Text(product.clone()),
                    SqlValue::Int(*n),
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
                    SqlValue::Text(product.clone()),
                    SqlValue::Int(*baskets),
                    SqlValue::Int(*buyers),
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
                    vec![
                        SqlValue::Text(a.clone()),
                        SqlValue::Text(b.clone()),
                        SqlValue::Int(*n),
                    ]
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
                    SqlValue::Text(category.clone()),
                    SqlValue::Text(product.clone()),
                    SqlValue::Real(*score),
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

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, ReadModelError> {
        Ok(checkpoints::load(&self.pool, Self::NAME, self.generation).await?)
    }

    async fn prepare(&self, batch: &Batch) -> Result<Prepared, ReadModelError> {
        let (mut tx, before) =
            checkpoints::begin(&self.pool, Self::NAME, self.generation, &batch.positions).await?;
        let (fresh, orders) = crate::fresh_orders(batch, &before);
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
            commit: checkpoints::commit(tx),
        })
    }
}
