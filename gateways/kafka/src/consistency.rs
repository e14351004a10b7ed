//! Read-your-writes and projector status. A command's receipt carries the store position of
//! its last event as a consistency token; a read that sends it back waits, up to a bound,
//! until the projection serving the read has applied everything up to that position.
//!
//! A projection has applied position `p` when the relay has published past `p` (so every
//! event up to `p` is on Kafka) and each partition of the projection's topics has either
//! applied a record at or past `p` or been consumed to its end.

use std::sync::Arc;
use std::time::Duration;

use eventmall_projections::{Checkpoint, Projection};
use rdkafka::consumer::BaseConsumer;
use serde::Serialize;
use sqlx::AnyPool;

use crate::client::partition_ends_blocking;
use crate::relay::relay_rows;
use crate::{Error, Result, client_config};

/// How long Kafka metadata and watermark requests may take.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a waiting read looks again.
const RECHECK: Duration = Duration::from_millis(10);

/// A consistency token past the event store's last position.
#[derive(Debug, thiserror::Error)]
#[error("consistency token {token} is past the event store's last position {head}")]
pub struct TokenAhead {
    pub token: i64,
    pub head: i64,
}

#[derive(Clone)]
pub struct ReadConsistency {
    /// The event store's database, where the relay's row is.
    store_pool: AnyPool,
    relay_name: String,
    /// A client for partition ends; `None` when no cluster is known (`serve` alone).
    kafka: Option<Arc<BaseConsumer>>,
    pub bound: Duration,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
    /// The highest store position applied.
    pub position: i64,
    pub end_offset: Option<i64>,
    pub lag: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectionStatus {
    pub name: &'static str,
    pub generation: u32,
    pub group_id: String,
    /// Records not yet applied, over all partitions; `None` when the cluster cannot be asked.
    pub lag: Option<i64>,
    pub partitions: Vec<PartitionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ReadConsistency {
    pub fn new(
        store_pool: AnyPool,
        relay_name: &str,
        bootstrap_servers: Option<&str>,
        bound: Duration,
    ) -> Self {
        let kafka = bootstrap_servers.and_then(|servers| {
            client_config(servers)
                .set("group.id", "eventmall-watermarks")
                .create::<BaseConsumer>()
                .ok()
                .map(Arc::new)
        });
        Self {
            store_pool,
            relay_name: relay_name.to_owned(),
            kafka,
            bound,
        }
    }

    /// Each partition's end offset, for `topics`.
    async fn ends(&self, topics: &[&'static str]) -> Result<Vec<(String, i32, i64)>> {
        let Some(kafka) = self.kafka.clone() else {
            return Err(Error::NoCluster);
        };
        partition_ends_blocking(kafka, topics, KAFKA_TIMEOUT).await
    }

    async fn relayed(&self) -> Result<i64> {
        Ok(relay_rows(&self.store_pool)
            .await?
            .into_iter()
            .find(|row| row.name == self.relay_name)
            .map_or(0, |row| row.position))
    }

    /// Whether `projection` has applied every event up to store position `token`.
    pub async fn applied(&self, projection: &dyn Projection, token: i64) -> Result<bool> {
        if self.relayed().await? < token {
            return Ok(false);
        }
        let checkpoints = projection.checkpoints_for_reads().await?;
        let ends = self.ends(projection.topics()).await?;
        Ok(ends.iter().all(|(topic, partition, end)| {
            checkpoint_of(&checkpoints, topic, *partition)
                .is_some_and(|c| c.position >= token || c.next_offset >= *end)
                || *end == 0
        }))
    }

    /// The store's last committed position, if the store answers.
    async fn head(&self) -> Option<i64> {
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(global_position) FROM events")
            .fetch_one(&self.store_pool)
            .await
            .ok()
            .map(Option::unwrap_or_default)
    }

    /// Waits until `projection` has applied `token`, up to the bound; answers whether it did.
    /// A token past the store's last position was never in a receipt of this store: waiting
    /// cannot help, so it is refused at once with that position.
    pub async fn wait(&self, projection: &dyn Projection, token: i64) -> Result<bool, TokenAhead> {
        if let Some(head) = self.head().await
            && token > head
        {
            return Err(TokenAhead { token, head });
        }
        let deadline = tokio::time::Instant::now() + self.bound;
        loop {
            match self.applied(projection, token).await {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(error) => {
                    tracing::debug!(projection = projection.name(), %error, "consistency check");
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(RECHECK.min(deadline - now)).await;
        }
    }

    /// Where `projection` stands in each partition, and its lag.
    pub async fn status(&self, projection: &dyn Projection) -> ProjectionStatus {
        let (checkpoints, error) = match projection.checkpoints().await {
            Ok(checkpoints) => (checkpoints, None),
            Err(error) => (Vec::new(), Some(format!("checkpoints: {error:#}"))),
        };
        let (ends, error) = match self.ends(projection.topics()).await {
            Ok(ends) => (Some(ends), error),
            Err(kafka) => (None, error.or(Some(format!("partition ends: {kafka:#}")))),
        };
        let mut partitions: Vec<PartitionStatus> = match &ends {
            Some(ends) => ends
                .iter()
                .map(|(topic, partition, end)| {
                    let (next_offset, position) = checkpoint_of(&checkpoints, topic, *partition)
                        .map_or((0, 0), |c| (c.next_offset, c.position));
                    PartitionStatus {
                        topic: topic.clone(),
                        partition: *partition,
                        next_offset,
                        position,
                        end_offset: Some(*end),
                        lag: Some((end - next_offset).max(0)),
                    }
                })
                .collect(),
            None => checkpoints
                .iter()
                .map(|c| PartitionStatus {
                    topic: c.topic.clone(),
                    partition: c.partition,
                    next_offset: c.next_offset,
                    position: c.position,
                    end_offset: None,
                    lag: None,
                })
                .collect(),
        };
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        ProjectionStatus {
            name: projection.name(),
            generation: projection.generation().0,
            group_id: projection.group_id(),
            lag: ends.map(|_| partitions.iter().filter_map(|p| p.lag).sum()),
            partitions,
            error,
        }
    }
}

fn checkpoint_of<'a>(
    checkpoints: &'a [Checkpoint],
    topic: &str,
    partition: i32,
) -> Option<&'a Checkpoint> {
    checkpoints
        .iter()
        .find(|c| c.topic == topic && c.partition == partition)
}
