//! The recommendations projector: co-purchase counts, customers' items and trends, in one
//! generation's tables, from `eventmall.orders.v1`. The queries that rank them are in
//! `queries.rs`.

mod queries;
mod tables;

use std::collections::{BTreeSet, HashMap};

use eventmall_events::order::OrderEvent;
use eventmall_projections::recommendations::{Basket, Counts, Held, TrendClock};
use eventmall_projections::{Batch, Checkpoint, Generation, Prepared, Projection, ReadModelError};
use sqlx::{Any, AnyPool, Transaction};

pub use queries::{Affinity, Trend};
use tables::Tables;

use crate::database::{self, SqlValue, placeholders, upsert};
use crate::{Result, checkpoints, generations};

/// Rows loaded per query.
const LOAD_CHUNK: usize = 400;

/// One generation of the recommendation counts.
#[derive(Clone)]
pub struct Recommendations {
    pool: AnyPool,
    generation: Generation,
    tables: Tables,
    clock: TrendClock,
}

impl Recommendations {
    /// The topics it is built from.
    pub const TOPICS: &'static [&'static str] = &[OrderEvent::TOPIC];

    pub const NAME: &'static str = "recommendations";

    pub async fn open(
        pool: AnyPool,
        generation: Generation,
        clock: TrendClock,
    ) -> sqlx::Result<Self> {
        let tables = Tables::of(generation);
        let statements = tables.create_statements(database::keyed_rows(&pool));
        database::create_schema(&pool, &statements).await?;
        Ok(Self {
            pool,
            generation,
            tables,
            clock,
        })
    }

    pub async fn live(pool: AnyPool, clock: TrendClock) -> Result<Self> {
        let generation = generations::live(&pool, Self::NAME).await?;
        Ok(Self::open(pool, generation, clock).await?)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Drops `generation`'s tables.
    pub async fn drop_tables(pool: &AnyPool, generation: Generation) -> Result<()> {
        database::drop_tables(pool, &Tables::of(generation).names()).await
    }

    /// `select … WHERE column IN (keys)`, in chunks; `column` may open with more conditions.
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
                placeholders(tx, 1, chunk.len())
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

    /// The counts of a batch's orders and their customers, as stored: the baskets, and for
    /// each customer the holds on the products the batch names and on their paired products
    /// (a bounded few). The customers are locked first.
    async fn load(
        &self,
        tx: &mut Transaction<'_, Any>,
        orders: &[&str],
        placed: &[(String, Vec<String>)],
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
        let mut named: BTreeSet<(&str, &str)> = BTreeSet::new();
        for basket in &baskets {
            for line in &basket.lines {
                named.insert((&basket.customer_id, &line.product_id));
            }
        }
        for (customer, products) in placed {
            named.extend(products.iter().map(|p| (customer.as_str(), p.as_str())));
        }
        let customers: Vec<&str> = named
            .iter()
            .map(|(customer, _)| *customer)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.lock(tx, &customers).await?;
        let t = &self.tables.customer_items;
        let hold = |row: sqlx::any::AnyRow| -> Result<(String, String, Held)> {
            let held = Held {
                n: row.try_get(2)?,
                paired: row.try_get::<i64, _>(3)? != 0,
            };
            Ok((row.try_get(0)?, row.try_get(1)?, held))
        };
        let mut holds = self
            .load_where(
                tx,
                &format!("SELECT customer_id, product_id, n, paired FROM {t}"),
                "paired = 1 AND customer_id",
                &customers,
                hold,
            )
            .await?;
        let named: Vec<(&str, &str)> = named.into_iter().collect();
        for chunk in named.chunks(LOAD_CHUNK / 2) {
            let keys: Vec<String> = (0..chunk.len())
                .map(|i| {
                    format!(
                        "(customer_id = ${} AND product_id = ${})",
                        2 * i + 1,
                        2 * i + 2
                    )
                })
                .collect();
            let sql = format!(
                "SELECT customer_id, product_id, n, paired FROM {t} WHERE {}",
                keys.join(" OR ")
            );
            let mut query = sqlx::query(&sql);
            for (customer, product) in chunk {
                query = query.bind(*customer).bind(*product);
            }
            for row in query.fetch_all(&mut **tx).await? {
                holds.push(hold(row)?);
            }
        }
        let mut customer_items: HashMap<String, HashMap<String, Held>> = HashMap::new();
        for (customer, product, held) in holds {
            customer_items
                .entry(customer)
                .or_default()
                .insert(product, held);
        }
        Ok(Counts {
            baskets: baskets
                .into_iter()
                .map(|b| (b.order_id.clone(), b))
                .collect(),
            customer_items,
            ..Counts::default()
        })
    }

    /// Takes the customers' rows for the rest of the transaction, in one order so that two
    /// instances never wait on each other both ways. (SQLite's one writer needs no more.)
    async fn lock(&self, tx: &mut Transaction<'_, Any>, customers: &[&str]) -> Result<()> {
        let table = &self.tables.customers;
        let rows = customers
            .iter()
            .map(|c| vec![SqlValue::Text((*c).to_owned()), SqlValue::Int(1)])
            .collect();
        upsert(
            tx,
            table,
            &["customer_id", "batches"],
            "customer_id",
            &format!("batches = {table}.batches + 1"),
            rows,
        )
        .await?;
        Ok(())
    }

    async fn write(
        &self,
        tx: &mut Transaction<'_, Any>,
        counts: &Counts,
        loaded: &HashMap<String, i64>,
        held_before: &HashMap<String, HashMap<String, Held>>,
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
        // Absolute values: the customers are locked, so these are what this transaction read
        // and changed.
        let held = counts
            .customer_items
            .iter()
            .flat_map(|(customer, holds)| {
                holds.iter().filter_map(move |(product, held)| {
                    let before = held_before.get(customer).and_then(|h| h.get(product));
                    (before != Some(held)).then(|| {
                        vec![
                            SqlValue::Text(customer.clone()),
                            SqlValue::Text(product.clone()),
                            SqlValue::Int(held.n),
                            SqlValue::Int(i64::from(held.paired)),
                        ]
                    })
                })
            })
            .collect();
        upsert(
            tx,
            &t.customer_items,
            &["customer_id", "product_id", "n", "paired"],
            "customer_id, product_id",
            "n = excluded.n, paired = excluded.paired",
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
        Self::TOPICS
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
        let placed: Vec<(String, Vec<String>)> = fresh
            .iter()
            .filter_map(|(_, event)| match event {
                OrderEvent::OrderPlaced(placed) => Some((
                    placed.customer_id.to_string(),
                    placed
                        .lines
                        .iter()
                        .map(|l| l.product_id.to_string())
                        .collect(),
                )),
                _ => None,
            })
            .collect();
        let mut counts = self.load(&mut tx, &orders, &placed).await?;
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
        let (commit, rollback) = checkpoints::finish(tx);
        Ok(Prepared {
            refused,
            before,
            commit,
            rollback,
        })
    }
}
