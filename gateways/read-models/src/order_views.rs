//! The order views projector: orders with their timelines, partner sales per Seoul day and
//! customer profiles, from `eventmall.orders.v1`, and the orders' payments, from
//! `eventmall.payments.v1`, in one generation's tables.

mod queries;

use std::collections::HashMap;

use eventmall_events::AnyEvent;
use eventmall_events::order::OrderEvent;
use eventmall_events::payment::PaymentEvent;
use eventmall_projections::orders::{
    OrderChanges, OrderView, PaymentChanges, PaymentView, seoul_day,
};
use eventmall_projections::{Batch, Checkpoint, Generation, Prepared, Projection, ReadModelError};
use sqlx::{Any, AnyPool, Transaction};

pub use queries::{CategoryCount, CustomerProfile, DailySales, OrderPage, PartnerOrdersFilter};

use crate::database::{self, SqlValue, add_up, placeholders, upsert};
use crate::{Result, checkpoints, generations};

/// Rows loaded per query when a batch reads the views it touches.
const LOAD_CHUNK: usize = 400;

/// One generation of the order views.
#[derive(Clone)]
pub struct OrderViews {
    pool: AnyPool,
    generation: Generation,
    tables: Tables,
}

/// The table names of a generation.
#[derive(Clone, Debug)]
struct Tables {
    orders: String,
    sales: String,
    customers: String,
    categories: String,
    payments: String,
}

impl Tables {
    fn of(generation: Generation) -> Self {
        let prefix = generation.table_prefix(OrderViews::NAME);
        Self {
            orders: format!("{prefix}orders"),
            sales: format!("{prefix}daily_sales"),
            customers: format!("{prefix}customers"),
            categories: format!("{prefix}customer_categories"),
            payments: format!("{prefix}payments"),
        }
    }

    /// `keyed` ends the tables of small keyed rows (see [`database::keyed_rows`]).
    fn create_statements(&self, keyed: &str) -> Vec<String> {
        let Self {
            orders,
            sales,
            customers,
            categories,
            payments,
        } = self;
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {orders} (order_id TEXT PRIMARY KEY, \
                 customer_id TEXT NOT NULL, partner_id TEXT NOT NULL, status TEXT NOT NULL, \
                 placed_at_ms BIGINT NOT NULL, placed_day TEXT NOT NULL, version BIGINT NOT NULL, \
                 view TEXT NOT NULL)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {orders}_customer ON {orders} \
                 (customer_id, placed_at_ms, order_id)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {orders}_partner ON {orders} \
                 (partner_id, status, placed_day)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {sales} (partner_id TEXT NOT NULL, day TEXT NOT NULL, \
                 currency TEXT NOT NULL, orders BIGINT NOT NULL, units BIGINT NOT NULL, \
                 gross BIGINT NOT NULL, cancellations BIGINT NOT NULL, cancelled BIGINT NOT NULL, \
                 refunds BIGINT NOT NULL, net BIGINT NOT NULL, \
                 PRIMARY KEY (partner_id, day, currency)){keyed}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {customers} (customer_id TEXT PRIMARY KEY, \
                 orders BIGINT NOT NULL, spent BIGINT NOT NULL, last_order_at_ms BIGINT){keyed}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {categories} (customer_id TEXT NOT NULL, \
                 category TEXT NOT NULL, orders BIGINT NOT NULL, \
                 PRIMARY KEY (customer_id, category)){keyed}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {payments} (payment_id TEXT PRIMARY KEY, \
                 order_id TEXT NOT NULL, version BIGINT NOT NULL, view TEXT NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS {payments}_by_order ON {payments} (order_id)"),
        ]
    }
}

impl OrderViews {
    /// The topics it is built from.
    pub const TOPICS: &'static [&'static str] = &[OrderEvent::TOPIC, PaymentEvent::TOPIC];

    pub const NAME: &'static str = "order-views";

    /// Opens `generation`, creating its tables when missing.
    pub async fn open(pool: AnyPool, generation: Generation) -> sqlx::Result<Self> {
        let tables = Tables::of(generation);
        let statements = tables.create_statements(database::keyed_rows(&pool));
        database::create_schema(&pool, &statements).await?;
        Ok(Self {
            pool,
            generation,
            tables,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Drops `generation`'s tables.
    pub async fn drop_tables(pool: &AnyPool, generation: Generation) -> Result<()> {
        let Tables {
            orders,
            sales,
            customers,
            categories,
            payments,
        } = Tables::of(generation);
        database::drop_tables(pool, &[orders, sales, customers, categories, payments]).await
    }

    /// Opens the generation reads are served from.
    pub async fn live(pool: AnyPool) -> Result<Self> {
        let generation = generations::live(&pool, Self::NAME).await?;
        Ok(Self::open(pool, generation).await?)
    }

    /// The stored views (JSON in the `view` column) of `table`'s rows whose `key` is in `ids`.
    async fn load<T: serde::de::DeserializeOwned>(
        tx: &mut Transaction<'_, Any>,
        (table, key): (&str, &str),
        ids: &[&str],
    ) -> Result<Vec<T>> {
        let mut views = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_CHUNK) {
            let sql = format!(
                "SELECT view FROM {table} WHERE {key} IN ({})",
                placeholders(tx, 1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for json in query.fetch_all(&mut **tx).await? {
                views.push(serde_json::from_str(&json)?);
            }
        }
        Ok(views)
    }

    async fn write_payments(
        &self,
        tx: &mut Transaction<'_, Any>,
        changes: &PaymentChanges,
        loaded_versions: &HashMap<String, i64>,
    ) -> Result<()> {
        let mut rows = Vec::new();
        for view in changes.views.values() {
            if loaded_versions.get(&view.payment_id) == Some(&view.version) {
                continue;
            }
            rows.push(vec![
                SqlValue::Text(view.payment_id.clone()),
                SqlValue::Text(view.order_id.clone()),
                SqlValue::Int(view.version),
                SqlValue::Text(serde_json::to_string(view)?),
            ]);
        }
        upsert(
            tx,
            &self.tables.payments,
            &["payment_id", "order_id", "version", "view"],
            "payment_id",
            "version = excluded.version, view = excluded.view",
            rows,
        )
        .await?;
        Ok(())
    }

    async fn write(
        &self,
        tx: &mut Transaction<'_, Any>,
        changes: &OrderChanges,
        loaded_versions: &HashMap<String, i64>,
    ) -> Result<()> {
        let mut views = Vec::new();
        for view in changes.views.values() {
            if loaded_versions.get(&view.order_id) == Some(&view.version) {
                continue;
            }
            views.push(vec![
                SqlValue::Text(view.order_id.clone()),
                SqlValue::Text(view.customer_id.clone()),
                SqlValue::Text(view.partner_id.clone()),
                SqlValue::Text(view.status.as_str().to_owned()),
                SqlValue::Int(view.placed_at.timestamp_millis()),
                SqlValue::Text(seoul_day(view.placed_at).to_string()),
                SqlValue::Int(view.version),
                SqlValue::Text(serde_json::to_string(view)?),
            ]);
        }
        upsert(
            tx,
            &self.tables.orders,
            &[
                "order_id",
                "customer_id",
                "partner_id",
                "status",
                "placed_at_ms",
                "placed_day",
                "version",
                "view",
            ],
            "order_id",
            "status = excluded.status, version = excluded.version, view = excluded.view",
            views,
        )
        .await?;

        let table = &self.tables.sales;
        let sums = [
            "orders",
            "units",
            "gross",
            "cancellations",
            "cancelled",
            "refunds",
            "net",
        ];
        let sales = changes
            .sales
            .iter()
            .map(|(key, delta)| {
                let mut row = vec![
                    SqlValue::Text(key.partner_id.clone()),
                    SqlValue::Text(key.day.to_string()),
                    SqlValue::Text(format!("{:?}", key.currency)),
                ];
                row.extend(
                    [
                        delta.orders,
                        delta.units,
                        delta.gross,
                        delta.cancellations,
                        delta.cancelled,
                        delta.refunds,
                        delta.net,
                    ]
                    .map(SqlValue::Int),
                );
                row
            })
            .collect();
        let add: Vec<String> = sums
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        let mut columns = vec!["partner_id", "day", "currency"];
        columns.extend(sums);
        add_up(
            tx,
            table,
            &columns,
            "partner_id, day, currency",
            &add.join(", "),
            &sums,
            sales,
        )
        .await?;

        let table = &self.tables.customers;
        let profiles = changes
            .profiles
            .iter()
            .map(|(customer, delta)| {
                vec![
                    SqlValue::Text(customer.clone()),
                    SqlValue::Int(delta.orders),
                    SqlValue::Int(delta.spent),
                    SqlValue::MaybeInt(delta.last_order_at.map(|at| at.timestamp_millis())),
                ]
            })
            .collect();
        let update = format!(
            "orders = {table}.orders + excluded.orders, spent = {table}.spent + excluded.spent, \
             last_order_at_ms = CASE WHEN {table}.last_order_at_ms IS NULL \
             OR excluded.last_order_at_ms > {table}.last_order_at_ms \
             THEN COALESCE(excluded.last_order_at_ms, {table}.last_order_at_ms) \
             ELSE {table}.last_order_at_ms END"
        );
        add_up(
            tx,
            table,
            &["customer_id", "orders", "spent", "last_order_at_ms"],
            "customer_id",
            &update,
            &["orders", "spent"],
            profiles,
        )
        .await?;

        let table = &self.tables.categories;
        let categories = changes
            .profiles
            .iter()
            .flat_map(|(customer, delta)| {
                delta.categories.iter().map(move |(category, count)| {
                    vec![
                        SqlValue::Text(customer.clone()),
                        SqlValue::Text(category.clone()),
                        SqlValue::Int(*count),
                    ]
                })
            })
            .collect();
        add_up(
            tx,
            table,
            &["customer_id", "category", "orders"],
            "customer_id, category",
            &format!("orders = {table}.orders + excluded.orders"),
            &["orders"],
            categories,
        )
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Projection for OrderViews {
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
        let (fresh, ids) = crate::fresh_orders(batch, &before);
        let orders = (self.tables.orders.as_str(), "order_id");
        let loaded: Vec<OrderView> = Self::load(&mut tx, orders, &ids).await?;
        let versions = loaded
            .iter()
            .map(|view| (view.order_id.clone(), view.version))
            .collect();
        let mut changes = OrderChanges::over(loaded);
        let mut refused = Vec::new();
        for (index, event) in fresh {
            let envelope = batch.events[index].envelope.with(event.clone());
            if let Err(error) = changes.apply(&envelope) {
                refused.push((index, error.to_string()));
            }
        }
        self.write(&mut tx, &changes, &versions).await?;

        let (fresh, ids) = crate::fresh_of(batch, &before, |event| match event {
            AnyEvent::Payment(event) => Some(event),
            _ => None,
        });
        let payments = (self.tables.payments.as_str(), "payment_id");
        let loaded: Vec<PaymentView> = Self::load(&mut tx, payments, &ids).await?;
        let versions = loaded
            .iter()
            .map(|view| (view.payment_id.clone(), view.version))
            .collect();
        let mut payments = PaymentChanges::over(loaded);
        for (index, event) in fresh {
            let envelope = batch.events[index].envelope.with(event.clone());
            if let Err(error) = payments.apply(&envelope) {
                refused.push((index, error.to_string()));
            }
        }
        self.write_payments(&mut tx, &payments, &versions).await?;
        let (commit, rollback) = checkpoints::finish(tx);
        Ok(Prepared {
            refused,
            before,
            commit,
            rollback,
        })
    }
}
