//! `eventmall events tail <topic>`: prints records as JSON lines, with Avro values decoded
//! through the registry, as `kcat -s value=avro` would.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Map, Value, json};

use eventmall_registry::RegisteredCodec;

use crate::{Error, Result, client_config};

/// Where to read and for how long.
#[derive(Clone, Debug)]
pub struct TailOptions {
    pub topic: String,
    /// Start at each partition's first record instead of its end.
    pub from_beginning: bool,
    /// Keep waiting for new records instead of stopping at the end.
    pub follow: bool,
    /// One partition instead of all.
    pub partition: Option<i32>,
    /// Start this many records before each partition's end (within what it still has);
    /// before `from_beginning`.
    pub last: Option<i64>,
}

/// Prints records of `options.topic` to `out`, one JSON object per line; answers how many.
pub async fn tail(
    bootstrap_servers: &str,
    codec: &RegisteredCodec,
    options: &TailOptions,
    out: &mut (dyn Write + Send),
) -> Result<u64> {
    let consumer: StreamConsumer = client_config(bootstrap_servers)
        .set(
            "group.id",
            format!("eventmall-tail-{}", uuid::Uuid::now_v7()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&options.topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|topic| topic.name() == options.topic && topic.error().is_none())
        .flat_map(|topic| topic.partitions().iter().map(|p| p.id()))
        .filter(|id| options.partition.is_none_or(|wanted| wanted == *id))
        .collect();
    if partitions.is_empty() {
        return Err(Error::NoSuchTopic(match options.partition {
            Some(partition) => format!("{} (partition {partition})", options.topic),
            None => options.topic.clone(),
        }));
    }
    let mut assignment = TopicPartitionList::new();
    let mut remaining = Vec::new();
    for &partition in &partitions {
        let (low, high) =
            consumer.fetch_watermarks(&options.topic, partition, Duration::from_secs(10))?;
        let start = match options.last {
            Some(last) => (high - last.max(0)).max(low),
            None if options.from_beginning => low,
            None => high,
        };
        assignment.add_partition_offset(&options.topic, partition, Offset::Offset(start))?;
        if start < high {
            remaining.push((partition, high));
        }
    }
    consumer.assign(&assignment)?;
    let mut printed = 0;
    while options.follow || !remaining.is_empty() {
        let Ok(result) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await
        else {
            continue;
        };
        let message = match result {
            Ok(message) => message,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => continue,
            Err(error) => return Err(error.into()),
        };
        let line = record_json(codec, &message).await;
        writeln!(out, "{line}")?;
        printed += 1;
        let offset = message.offset();
        remaining
            .retain(|(partition, high)| *partition != message.partition() || offset + 1 < *high);
    }
    out.flush()?;
    Ok(printed)
}

/// One record as JSON: key, partition, offset, timestamp, headers and decoded value.
pub async fn record_json(codec: &RegisteredCodec, message: &BorrowedMessage<'_>) -> Value {
    let mut headers = Map::new();
    if let Some(list) = message.headers() {
        for header in list.iter() {
            headers.insert(
                header.key.to_owned(),
                header.value.map_or(Value::Null, text_or_base64),
            );
        }
    }
    let mut record = json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp().to_millis(),
        "key": message.key().map_or(Value::Null, text_or_base64),
        "headers": headers,
    });
    match message.payload() {
        None => record["value"] = Value::Null,
        Some(payload) => match codec.decode_json(payload).await {
            Ok((schema_id, value)) => {
                record["schema_id"] = json!(schema_id);
                record["value"] = value;
            }
            Err(error) => {
                record["value"] = Value::Null;
                record["value_error"] = json!(error.to_string());
                record["value_base64"] = json!(BASE64.encode(payload));
            }
        },
    }
    record
}

fn text_or_base64(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "base64": BASE64.encode(bytes) }),
    }
}
