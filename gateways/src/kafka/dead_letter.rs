//! The dead letters: records a consumer could not use, kept whole on their own topic with the
//! reason and where they came from, so nothing is dropped silently and each can be retried.

use std::time::Duration;

use futures::future::try_join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::record::Consumed;
use crate::kafka::client_config;

/// The topic of every dead letter.
pub const DEAD_LETTER_TOPIC: &str = "eventmall.dead-letter.v1";

/// Headers a dead letter adds to those of its source record.
pub mod header {
    pub const REASON: &str = "dead_letter.reason";
    pub const STAGE: &str = "dead_letter.stage";
    pub const SOURCE_TOPIC: &str = "dead_letter.source_topic";
    pub const SOURCE_PARTITION: &str = "dead_letter.source_partition";
    pub const SOURCE_OFFSET: &str = "dead_letter.source_offset";
}

/// A record to send to the dead letters, and why.
#[derive(Clone, Debug)]
pub struct DeadLetter<'a> {
    pub record: &'a Consumed,
    pub reason: String,
}

/// Sends dead letters for one stage (a projector, an ingest consumer).
#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
    stage: String,
}

impl DeadLetters {
    pub fn new(bootstrap_servers: &str, stage: &str) -> rdkafka::error::KafkaResult<Self> {
        let producer = client_config(bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self {
            producer,
            stage: stage.to_owned(),
        })
    }

    /// Sends every letter and waits until the broker has them all.
    pub async fn send(&self, letters: &[DeadLetter<'_>]) -> anyhow::Result<()> {
        let deliveries = letters.iter().map(|letter| {
            let source = letter.record;
            let partition = source.partition.to_string();
            let offset = source.offset.to_string();
            let mut headers = OwnedHeaders::new_with_capacity(source.headers.len() + 5);
            for (key, value) in &source.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            for (key, value) in [
                (header::REASON, letter.reason.as_str()),
                (header::STAGE, self.stage.as_str()),
                (header::SOURCE_TOPIC, source.topic.as_str()),
                (header::SOURCE_PARTITION, partition.as_str()),
                (header::SOURCE_OFFSET, offset.as_str()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(DEAD_LETTER_TOPIC).headers(headers);
            if let Some(key) = source.key.as_deref() {
                record = record.key(key);
            }
            if let Some(value) = source.value.as_deref() {
                record = record.payload(value);
            }
            let sent = self.producer.send(record, Duration::from_secs(30));
            async move {
                sent.await
                    .map(|_| ())
                    .map_err(|(error, _)| anyhow::anyhow!("dead letter not delivered: {error}"))
            }
        });
        try_join_all(deliveries).await?;
        Ok(())
    }
}
