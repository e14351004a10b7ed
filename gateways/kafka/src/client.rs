//! Client configuration shared by every producer and consumer, topic creation, and partition
//! ends.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use tracing::info;

use crate::{Error, KafkaSettings, RelaySettings, Result};

/// Configuration shared by every client of the cluster.
pub fn client_config(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("client.id", "eventmall")
        .set("broker.address.family", "v4");
    config
}

/// An idempotent producer (acks=all) that never reorders one aggregate's records: retries do not
/// duplicate or reorder a partition's records, and neither can a timeout, because there is none.
/// librdkafka keeps its gapless guarantee only for records that do not time out
/// (`message.timeout.ms`): one that did would leave e1, e4, e5 on the topic and the resend from
/// the relay's position would add e2, e3 after them. With no timeout a record is retried until
/// the cluster takes it, in order; an error that could still leave a gap is fatal
/// (`enable.gapless.guarantee`), and the relay resends from its position with a new producer.
pub fn producer_config(bootstrap_servers: &str, relay: &RelaySettings) -> ClientConfig {
    let mut config = client_config(bootstrap_servers);
    config
        .set("enable.idempotence", "true")
        .set("enable.gapless.guarantee", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("linger.ms", relay.linger_ms.to_string())
        .set("compression.type", &relay.compression)
        .set("message.timeout.ms", "0")
        .set("queue.buffering.max.messages", "1000000")
        .set("partitioner", "murmur2_random");
    config
}

/// The end offset (high watermark) of every partition of `topics`: (topic, partition, end).
/// Blocking: librdkafka's metadata and watermark requests wait for the broker.
pub fn partition_ends<C: rdkafka::consumer::Consumer>(
    consumer: &C,
    topics: &[&str],
    timeout: Duration,
) -> rdkafka::error::KafkaResult<Vec<(String, i32, i64)>> {
    let mut ends = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (_, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
            ends.push(((*topic).to_owned(), partition.id(), high));
        }
    }
    Ok(ends)
}

/// [`partition_ends`] off the async runtime's threads.
pub async fn partition_ends_blocking(
    consumer: std::sync::Arc<rdkafka::consumer::BaseConsumer>,
    topics: &[&'static str],
    timeout: Duration,
) -> Result<Vec<(String, i32, i64)>> {
    let topics = topics.to_vec();
    Ok(
        tokio::task::spawn_blocking(move || partition_ends(consumer.as_ref(), &topics, timeout))
            .await??,
    )
}

/// Creates the missing `topics` with infinite retention; existing ones are left as they are.
pub async fn ensure_topics(
    bootstrap_servers: &str,
    kafka: &KafkaSettings,
    topics: &[&str],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap_servers).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| {
            NewTopic::new(
                topic,
                kafka.partitions,
                TopicReplication::Fixed(kafka.replication_factor),
            )
            .set("retention.ms", "-1")
            .set("cleanup.policy", "delete")
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(topic) => info!(%topic, partitions = kafka.partitions, "topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(Error::CreateTopic { topic, code }),
        }
    }
    Ok(())
}
