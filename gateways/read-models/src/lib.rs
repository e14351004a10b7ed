//! Eventmall's read models: the SQL tables and the tantivy index behind the projections, each
//! in a generation of its own, with the checkpoints stored in the same transaction (or commit)
//! as the rows they account for; and the queries the read routes ask of them.
//!
//! The logic of each read model (what an event changes) is in `eventmall-projections`; this
//! crate stores it. It links neither the Kafka client nor the HTTP framework.

mod checkpoints;
mod database;
mod error;
pub mod order_views;
pub mod recommendations;
pub mod search;

use std::path::Path;
use std::sync::Arc;

use eventmall_events::AnyEvent;
use eventmall_events::order::OrderEvent;
use eventmall_projections::orders::CommissionRate;
use eventmall_projections::projection::Positions;
use eventmall_projections::recommendations::TrendClock;
use eventmall_projections::{Batch, Projection};
use sqlx::AnyPool;

pub use database::connect;
pub use error::{Error, Result};
pub use order_views::OrderViews;
pub use recommendations::Recommendations;
pub use search::Search;

/// What the read models are configured with, besides where they live.
#[derive(Clone, Debug)]
pub struct ReadModelSettings {
    /// Names this search replica when several keep their own index (each consumes as its own
    /// group); empty for one.
    pub search_replica: String,
    /// Half-life of a purchase's weight in trending products, in hours.
    pub trending_half_life_hours: f64,
    /// Platform commission taken from partners' net sales, in basis points (1080 = 10.8 %).
    pub commission_rate_bp: u32,
}

/// The read models the API serves, each at its live generation.
#[derive(Clone)]
pub struct ReadModels {
    pub orders: OrderViews,
    pub search: Search,
    pub recommendations: Recommendations,
    pub commission: CommissionRate,
    /// The same read models as their projectors run them; built once, looked up per read.
    projections: Vec<Arc<dyn Projection>>,
}

impl ReadModels {
    /// Opens the SQL read models in `pool` and the search index under `search_dir`.
    pub async fn open(
        pool: AnyPool,
        search_dir: &Path,
        settings: &ReadModelSettings,
    ) -> Result<Self> {
        let search = Search::live(&pool, search_dir, &settings.search_replica).await?;
        let clock = TrendClock {
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
            commission: CommissionRate(settings.commission_rate_bp),
            projections,
        })
    }

    /// Every read model's projection, as its projector runs it.
    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    pub fn projection(&self, name: &str) -> Option<&Arc<dyn Projection>> {
        self.projections.iter().find(|p| p.name() == name)
    }
}

/// The order events of a batch not yet applied, with their index, and the distinct orders they
/// are about.
fn fresh_orders<'a>(
    batch: &'a Batch,
    before: &'a Positions,
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
