//! The SQL read models, in their own database (SQLite by default, PostgreSQL at scale),
//! through one `sqlx::Any` implementation.

pub mod order_views;
pub mod recommendations;
pub mod search;

use std::sync::Arc;

use eventmall_events::AnyEvent;
use eventmall_events::order::OrderEvent;
use sqlx::AnyPool;

use crate::projector::Projection;
use sqlx::any::AnyPoolOptions;

pub use order_views::OrderViews;
pub use recommendations::Recommendations;
pub use search::Search;

/// Begins a read model's write transaction. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later could not wait for
/// another writer, it would fail with a busy snapshot.
pub async fn begin_write(pool: &AnyPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
    match pool.connect_options().database_url.scheme() {
        "sqlite" => pool.begin_with("BEGIN IMMEDIATE").await,
        _ => pool.begin().await,
    }
}

/// The order events of a batch not yet applied, with their index, and the distinct orders they
/// are about.
fn fresh_orders<'a>(
    batch: &'a crate::projector::Batch,
    before: &'a std::collections::HashMap<(String, i32), i64>,
) -> (Vec<(usize, &'a OrderEvent)>, Vec<&'a str>) {
    let fresh: Vec<(usize, &OrderEvent)> = batch
        .fresh(before)
        .filter_map(|(index, delivered)| match &delivered.envelope.event {
            AnyEvent::Order(event) => Some((index, event)),
            _ => None,
        })
        .collect();
    let orders: std::collections::BTreeSet<&str> = fresh
        .iter()
        .map(|(index, _)| batch.events[*index].envelope.aggregate_id.as_str())
        .collect();
    (fresh, orders.into_iter().collect())
}

/// A value bound into a multi-row statement.
#[derive(Clone, Debug)]
pub(crate) enum Cell {
    Text(String),
    Int(i64),
    MaybeInt(Option<i64>),
    Real(f64),
}

/// Bound values per statement at most: under SQLite's and PostgreSQL's parameter limits, and
/// large enough that a batch takes few statements (each is a round trip to sqlx's SQLite
/// worker thread).
const VALUES_PER_STATEMENT: usize = 900;

/// `INSERT INTO table (columns) VALUES (…), (…) … ON CONFLICT (conflict) DO UPDATE SET update`
/// for all `rows`, in as few statements as the parameter limit allows. Keys must be distinct.
pub(crate) async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    conflict: &str,
    update: &str,
    rows: Vec<Vec<Cell>>,
) -> sqlx::Result<()> {
    let per_statement = (VALUES_PER_STATEMENT / columns.len()).max(1);
    for chunk in rows.chunks(per_statement) {
        let mut values = Vec::with_capacity(chunk.len());
        let mut n = 0;
        for _ in chunk {
            let placeholders: Vec<String> = columns
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            values.push(format!("({})", placeholders.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {} ON CONFLICT ({conflict}) DO UPDATE SET {update}",
            columns.join(", "),
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for cell in chunk.iter().flatten() {
            query = match cell {
                Cell::Text(text) => query.bind(text.as_str()),
                Cell::Int(value) => query.bind(*value),
                Cell::MaybeInt(value) => query.bind(*value),
                Cell::Real(value) => query.bind(*value),
            };
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The read models the API serves, each at its live generation.
#[derive(Clone)]
pub struct ReadModels {
    pub orders: OrderViews,
    pub search: Search,
    pub recommendations: Recommendations,
    pub commission: eventmall_projections::orders::CommissionRate,
    /// The same read models as their projectors run them; built once, looked up per read.
    projections: Vec<Arc<dyn Projection>>,
}

impl ReadModels {
    /// Every read model's projection, as its projector runs it.
    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    pub fn projection(&self, name: &str) -> Option<&Arc<dyn Projection>> {
        self.projections.iter().find(|p| p.name() == name)
    }

    /// Opens the SQL read models in `pool` and the search index under `search_dir`.
    pub async fn open(
        pool: AnyPool,
        search_dir: &std::path::Path,
        settings: &crate::config::ProjectorSettings,
    ) -> anyhow::Result<Self> {
        let search = Search::live(&pool, search_dir, &settings.search_replica).await?;
        let clock = eventmall_projections::recommendations::TrendClock {
            half_life_hours: settings.trending_half_life_hours,
        };
        let recommendations = Recommendations::live(pool.clone(), clock).await?;
        let orders = OrderViews::live(pool).await?;
        let projections: Vec<Arc<dyn Projection>> = vec![
            Arc::new(orders.clone()),
            Arc::new(search.clone()),
            Arc::new(recommendations.clone()),
        ];
        Ok(Self {
            orders,
            search,
            recommendations,
            commission: eventmall_projections::orders::CommissionRate(settings.commission_rate_bp),
            projections,
        })
    }
}

/// Opens the read models' database, creating a SQLite file when missing, with the projector
/// bookkeeping tables.
pub async fn connect(url: &str) -> sqlx::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let url = match sqlite && !url.contains('?') && !url.contains(":memory:") {
        true => format!("{url}?mode=rwc"),
        false => url.to_owned(),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite { 4 } else { 16 })
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if sqlite {
                    // Readers beside one writer; a waiting writer retries instead of failing.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = NORMAL",
                        "PRAGMA busy_timeout = 10000",
                    ] {
                        sqlx::query(pragma).execute(&mut *connection).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    crate::projector::checkpoints::ensure_tables(&pool).await?;
    Ok(pool)
}
