//! Throwaway brokers, started the way `eventmall up` starts its own, and a reader that drains
//! topics from the beginning.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use eventmall_kafka::broker::{LocalBroker, free_port};
use eventmall_kafka::{BrokerSettings, KafkaSettings, RelaySettings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;

/// A broker of our own, on a free port. Panics, never skips, when it cannot start.
pub struct TestBroker {
    pub broker: Option<LocalBroker>,
    pub dir: TempDir,
    pub port: u16,
}

fn settings(port: u16, storage: &str) -> BrokerSettings {
    BrokerSettings {
        binary: std::env::var("EVENTMALL_TEST_BROKER").unwrap_or_else(|_| "nisshi".into()),
        port,
        storage: storage.into(),
        ready_timeout_ms: 30_000,
        group_initial_rebalance_delay_ms: 0,
    }
}

async fn start(port: u16, dir: &Path, storage: &str) -> LocalBroker {
    LocalBroker::start(&settings(port, storage), dir)
        .await
        .unwrap_or_else(|e| {
            panic!("the test broker did not start: {e:#}. Run the tests with scripts/test, which installs it.")
        })
}

impl TestBroker {
    /// A broker keeping its log in memory: gone when stopped.
    pub async fn in_memory() -> Self {
        Self::with_storage("memory://nisshi/").await
    }

    /// A broker keeping its log in a SQLite file, so it can be stopped and started again.
    pub async fn durable() -> Self {
        Self::with_storage("").await
    }

    async fn with_storage(storage: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().unwrap();
        let broker = start(port, dir.path(), storage).await;
        Self {
            broker: Some(broker),
            dir,
            port,
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn stop(&mut self) {
        if let Some(broker) = self.broker.take() {
            broker.stop().await;
        }
    }

    /// Starts a stopped durable broker again, on the same port and files.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.broker = Some(start(self.port, self.dir.path(), "").await);
    }
}

pub fn kafka_settings() -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: String::new(),
        partitions: 3,
        replication_factor: 1,
    }
}

pub fn relay_settings() -> RelaySettings {
    RelaySettings {
        batch_size: 100,
        lease_ttl_ms: 2_000,
        ..RelaySettings::default()
    }
}

/// A record as read back.
#[derive(Clone, Debug)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
    pub key: String,
    pub headers: HashMap<String, String>,
    /// The value; `None` for a record without one (a dead letter of such a record).
    pub value: Option<Vec<u8>>,
}

impl Record {
    /// The header `key`; a record without it fails the test.
    pub fn header(&self, key: &str) -> &str {
        self.headers
            .get(key)
            .unwrap_or_else(|| panic!("record without header {key}: {:?}", self.headers))
    }

    /// The value; a record without one fails the test.
    pub fn payload(&self) -> &[u8] {
        self.value
            .as_deref()
            .unwrap_or_else(|| panic!("record without a value: {:?}", self.headers))
    }
}

/// Every record of `topics`, read from the beginning up to the end, in partition order.
pub fn drain(bootstrap: &str, topics: &[&str]) -> Vec<Record> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("drain-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("broker.address.family", "v4")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    let timeout = Duration::from_secs(10);
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout).unwrap();
        for partition in metadata.topics()[0].partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition.id(), timeout)
                .unwrap();
            if high > low {
                assignment
                    .add_partition_offset(topic, partition.id(), Offset::Offset(low))
                    .unwrap();
                ends.insert((topic.to_string(), partition.id()), high);
            }
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return records;
    }
    consumer.assign(&assignment).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ends.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "draining took over a minute; left: {ends:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap();
        let mut headers = HashMap::new();
        if let Some(list) = message.headers() {
            for header in list.iter() {
                let value = header
                    .value
                    .unwrap_or_else(|| panic!("header {} without a value", header.key));
                headers.insert(
                    header.key.to_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                );
            }
        }
        let key = (message.topic().to_owned(), message.partition());
        if ends
            .get(&key)
            .is_some_and(|high| message.offset() + 1 >= *high)
        {
            ends.remove(&key);
        }
        records.push(Record {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: String::from_utf8_lossy(message.key().expect("our records have keys"))
                .into_owned(),
            headers,
            value: message.payload().map(<[u8]>::to_vec),
        });
    }
    records
}
