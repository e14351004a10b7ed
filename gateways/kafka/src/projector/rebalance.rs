//! Where a projector's partitions start: each one assigned is sought to the read model's
//! checkpoint, so the records a batch already applied are not read again.

use std::sync::Arc;

use eventmall_projections::{Checkpoint, Projection};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tracing::{info, warn};

/// Seeks every partition it is given to the read model's checkpoint (or the beginning).
pub(super) struct Rebalancer {
    pub projection: Arc<dyn Projection>,
    pub runtime: Handle,
}

impl ClientContext for Rebalancer {}

impl ConsumerContext for Rebalancer {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let name = self.projection.name();
        let kind = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => "assign",
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => "revoke",
            _ => "error",
        };
        crate::keyed::rebalanced(name, kind);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = match self.runtime.block_on(self.projection.checkpoints()) {
                    Ok(stored) => stored,
                    Err(error) => {
                        // Start from the beginning: each batch's own check against the stored
                        // checkpoints still skips what is applied, only slower.
                        warn!(projector = name, %error, "checkpoints unavailable at assignment");
                        Vec::new()
                    }
                };
                seek_to(partitions, &stored);
                info!(projector = name, assigned = ?positions(partitions), "partitions assigned");
                if let Err(error) = consumer.assign(partitions) {
                    warn!(projector = name, %error, "assignment failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(
                    projector = name,
                    revoked = partitions.count(),
                    "partitions revoked"
                );
                if let Err(error) = consumer.unassign() {
                    warn!(projector = name, %error, "unassignment failed");
                }
            }
            other => warn!(projector = name, error = ?other, "rebalance failed"),
        }
    }
}

/// Sets each partition's offset to its checkpoint, or to the beginning when there is none.
fn seek_to(partitions: &mut TopicPartitionList, stored: &[Checkpoint]) {
    let wanted: Vec<(String, i32, Offset)> = partitions
        .elements()
        .iter()
        .map(|element| {
            let offset = stored
                .iter()
                .find(|c| c.topic == element.topic() && c.partition == element.partition())
                .map_or(Offset::Beginning, |c| Offset::Offset(c.next_offset));
            (element.topic().to_owned(), element.partition(), offset)
        })
        .collect();
    for (topic, partition, offset) in wanted {
        let _ = partitions.set_partition_offset(&topic, partition, offset);
    }
}

fn positions(partitions: &TopicPartitionList) -> Vec<String> {
    partitions
        .elements()
        .iter()
        .map(|e| format!("{}/{}@{:?}", e.topic(), e.partition(), e.offset()))
        .collect()
}
