//! Eventmall's read models: the SQL tables and the tantivy index behind the projections, each
//! in a generation of its own, with the checkpoints stored in the same transaction (or commit)
//! as the rows they account for; and the queries the read routes ask of them.
//!
//! The logic of each read model (what an event changes) is in `eventmall-projections`; this
//! crate stores it. It links neither the Kafka client nor the HTTP framework.

mod checkpoints;
mod database;
mod error;
pub mod generations;
pub mod order_views;
mod read_model;
pub mod recommendations;
pub mod replays;
pub mod search;
mod serving;

use std::sync::Arc;

use eventmall_events::AnyEvent;
use eventmall_events::order::OrderEvent;
use eventmall_projections::orders::CommissionRate;
use eventmall_projections::projection::Positions;
use eventmall_projections::{Batch, Projection};

pub use database::connect;
pub use error::{Error, Result};
pub use order_views::OrderViews;
pub use read_model::{NAMES, ReadModel, Stores};
pub use recommendations::Recommendations;
pub use search::Search;
pub use serving::Serving;

/// What the read models are configured with, besides where they live.
#[derive(Clone, Debug)]
pub struct ReadModelSettings {
    /// Names this search replica when several keep their own index (each consumes as its own
    /// group); empty for one.
    pub search_replica: String,
    /// The search dictionary's file, read whenever a new search generation is made (a rebuild
    /// deploys a changed one); `None` for the built-in dictionary.
    pub search_dictionary: Option<std::path::PathBuf>,
    /// Half-life of a purchase's weight in trending products, in hours.
    pub trending_half_life_hours: f64,
    /// Platform commission taken from partners' net sales, in basis points (1080 = 10.8 %).
    pub commission_rate_bp: u32,
}

/// The read models the API serves, each at one generation.
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
    /// Opens each read model's live generation.
    pub async fn open(stores: &Stores) -> Result<Self> {
        let pool = &stores.pool;
        let settings = &stores.settings;
        let search = stores.search(generations::live(pool, &stores.key(Search::NAME)).await?)?;
        let recommendations = Recommendations::live(pool.clone(), stores.clock()).await?;
        let orders = OrderViews::live(pool.clone()).await?;
        Ok(Self {
            orders,
            search,
            recommendations,
            commission: CommissionRate(settings.commission_rate_bp),
            projections: Vec::new(),
        }
        .rebuilt())
    }

    /// The same read models, with their projections listed again after one was replaced.
    fn rebuilt(mut self) -> Self {
        self.projections = vec![
            Arc::new(self.orders.clone()),
            Arc::new(self.search.clone()),
            Arc::new(self.recommendations.clone()),
        ];
        self
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
    fresh_of(batch, before, |event| match event {
        AnyEvent::Order(event) => Some(event),
        _ => None,
    })
}

/// The events of a batch not yet applied that `pick` takes, with their index, and the distinct
/// aggregates they are about.
fn fresh_of<'a, E>(
    batch: &'a Batch,
    before: &'a Positions,
    pick: impl Fn(&'a AnyEvent) -> Option<&'a E>,
) -> (Vec<(usize, &'a E)>, Vec<&'a str>) {
    let fresh: Vec<(usize, &E)> = batch
        .fresh(before)
        .filter_map(|(index, delivered)| pick(&delivered.envelope.event).map(|e| (index, e)))
        .collect();
    let ids: std::collections::BTreeSet<&str> = fresh
        .iter()
        .map(|(index, _)| batch.events[*index].envelope.aggregate_id.as_str())
        .collect();
    (fresh, ids.into_iter().collect())
}
