//! The dead letters: records a consumer could not use, kept whole on their own topic with the
//! reason and where they came from, so nothing is dropped silently and each can be retried.

use std::time::Duration;

use futures::future::try_join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::record::Consumed;
use crate::feed::RejectedLine;
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
    /// A rejected feed line's partner, run and line number (stage `feed`), in place of the
    /// source topic, partition and offset.
    pub const FEED_PARTNER: &str = "feed.partner_id";
    pub const FEED_RUN: &str = "feed.run_id";
    pub const FEED_LINE: &str = "feed.line";
}

/// A record to send to the dead letters, and why.
#[derive(Clone, Debug)]
pub struct DeadLetter<'a> {
    pub record: &'a Consumed,
    pub reason: String,
}

/// Sends dead letters for one stage (a projector, the ingest consumer, the feed ingest).
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
        let stage = self.stage.as_str();
        self.produce(letters.iter().map(|letter| {
            let source = letter.record;
            let mut headers: Vec<(&str, Vec<u8>)> = source
                .headers
                .iter()
                .map(|(key, value)| (key.as_str(), value.clone()))
                .collect();
            headers.extend([
                (header::REASON, letter.reason.clone().into_bytes()),
                (header::STAGE, stage.as_bytes().to_vec()),
                (header::SOURCE_TOPIC, source.topic.clone().into_bytes()),
                (
                    header::SOURCE_PARTITION,
                    source.partition.to_string().into_bytes(),
                ),
                (
                    header::SOURCE_OFFSET,
                    source.offset.to_string().into_bytes(),
                ),
            ]);
            (source.key.as_deref(), source.value.as_deref(), headers)
        }))
        .await
    }

    /// Sends the rejected lines of a feed run, each with its reason, partner, run and line,
    /// keyed by the partner; the value is the line's raw bytes.
    pub async fn send_feed_lines(
        &self,
        partner: &str,
        run: &str,
        lines: &[RejectedLine],
    ) -> anyhow::Result<()> {
        let stage = self.stage.as_str();
        self.produce(lines.iter().map(|line| {
            let headers = vec![
                (header::REASON, line.reason.clone().into_bytes()),
                (header::STAGE, stage.as_bytes().to_vec()),
                (header::FEED_PARTNER, partner.as_bytes().to_vec()),
                (header::FEED_RUN, run.as_bytes().to_vec()),
                (header::FEED_LINE, line.line.to_string().into_bytes()),
            ];
            (Some(partner.as_bytes()), Some(line.raw.as_slice()), headers)
        }))
        .await
    }

    async fn produce<'a>(
        &self,
        letters: impl Iterator<Item = (Option<&'a [u8]>, Option<&'a [u8]>, Vec<(&'a str, Vec<u8>)>)>,
    ) -> anyhow::Result<()> {
        let deliveries = letters.map(|(key, value, fields)| {
            let mut headers = OwnedHeaders::new_with_capacity(fields.len());
            for (key, value) in &fields {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(DEAD_LETTER_TOPIC).headers(headers);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(value) = value {
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
