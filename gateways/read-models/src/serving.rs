//! The generations this process serves, following the serving pointers in the read models'
//! database: a swap or a rollback made anywhere is served here from the next
//! [`Serving::refresh`] on. A request takes one [`ReadModels`] for all its reads, so no answer
//! mixes generations, and the generation it replaced stays open until its last reader is done.

use std::sync::{Arc, PoisonError, RwLock};

use eventmall_projections::{Generation, Projection};

use crate::read_model::Stores;
use crate::{OrderViews, ReadModels, Recommendations, Result, Search, generations};

pub struct Serving {
    stores: Stores,
    current: RwLock<Arc<ReadModels>>,
    /// One refresh at a time, so two never open the same generation side by side.
    refreshing: tokio::sync::Mutex<()>,
}

impl Serving {
    /// Opens each read model's live generation.
    pub async fn open(stores: Stores) -> Result<Self> {
        let views = ReadModels::open(&stores).await?;
        Ok(Self {
            stores,
            current: RwLock::new(Arc::new(views)),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The read models being served now.
    pub fn current(&self) -> Arc<ReadModels> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Serves each read model's live generation, opening the ones swapped in since the last
    /// look, and brings the search reader up to the index's last commit; answers whether the
    /// generations changed.
    pub async fn refresh(&self) -> Result<bool> {
        let _one_at_a_time = self.refreshing.lock().await;
        let serving = self.current();
        let search = serving.search.clone();
        tokio::task::spawn_blocking(move || search.index().refresh())
            .await
            .map_err(|e| crate::Error::Corrupt(format!("refreshing the index: {e}")))??;
        let pool = &self.stores.pool;
        let pointers = generations::serving(pool).await?;
        let pointer = |name: &str, serving: Generation| {
            let key = self.stores.key(name);
            pointers.get(&key).copied().unwrap_or(serving)
        };
        let orders = pointer(OrderViews::NAME, serving.orders.generation());
        let search = pointer(Search::NAME, serving.search.generation());
        let recommendations = pointer(Recommendations::NAME, serving.recommendations.generation());
        if orders == serving.orders.generation()
            && search == serving.search.generation()
            && recommendations == serving.recommendations.generation()
        {
            return Ok(false);
        }
        let mut next = (*serving).clone();
        if orders != next.orders.generation() {
            next.orders = OrderViews::open(pool.clone(), orders).await?;
        }
        if search != next.search.generation() {
            next.search = self.stores.search(search)?;
        }
        if recommendations != next.recommendations.generation() {
            next.recommendations =
                Recommendations::open(pool.clone(), recommendations, self.stores.clock()).await?;
        }
        let next = next.rebuilt();
        tracing::info!(
            order_views = %orders,
            search = %search,
            recommendations = %recommendations,
            "serving generations switched"
        );
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(true)
    }
}
