//! What the benchmarks share.
// Each benchmark is its own crate and uses a part of this.
#![allow(dead_code)]

pub mod log;
pub mod rows;

use eventmall_aggregates::ProductCommand;
use eventmall_events::{CommandMetadata, PartnerId, ProductId};
use eventmall_store::{CommandGateway, CommandRequest, Dispatch};

/// The roles a benchmark runs in its own process allocate as they do in `eventmall`, whose
/// allocator this is: glibc's free-list work was a fifth of the relay's time here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A numeric setting from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Registers `n` products of the partner `bench` through the command gateway.
pub async fn register_products(commands: &CommandGateway, n: usize) -> Vec<ProductId> {
    let partner = PartnerId::from("bench");
    let mut ids = Vec::new();
    for i in 0..n {
        let sku = format!("LAT-{i}");
        let id = ProductId::for_partner_sku(&partner, &sku);
        let command = ProductCommand::Register {
            product_id: id,
            partner_id: partner.clone(),
            sku,
            details: eventmall_events::product::ProductDetails {
                title: format!("삼성 무선청소기 VS{i:05}"),
                brand: Some("삼성".into()),
                category: vec!["가전".into(), "청소기".into()],
                model_number: Some(format!("VS{i:05}")),
            },
            price: eventmall_events::Money::krw(100_000),
            stock: 10,
        };
        commands
            .dispatch(CommandRequest::new(
                id,
                command,
                CommandMetadata::new_root(None),
            ))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// An application with its store and read models in `dir`, on a local in-memory broker of its
/// own, as `up` builds it (nothing started yet).
pub async fn app_on_broker(
    dir: &std::path::Path,
) -> (
    eventmall_kafka::broker::LocalBroker,
    eventmall::config::Settings,
    eventmall::startup::Application,
) {
    let broker = start_broker("memory://nisshi/", &dir.join("broker")).await;
    let mut settings = eventmall::config::Settings {
        data_dir: dir.to_owned(),
        ..eventmall::config::Settings::default()
    };
    settings.http.addr = "127.0.0.1:0".into();
    settings.kafka.bootstrap_servers = broker.bootstrap_servers().to_owned();
    let app = eventmall::startup::Application::build(&settings)
        .await
        .unwrap();
    (broker, settings, app)
}

/// A local broker for a benchmark, from `EVENTMALL_TEST_BROKER` (else `nisshi` on `PATH`).
pub async fn start_broker(
    storage: &str,
    dir: &std::path::Path,
) -> eventmall_kafka::broker::LocalBroker {
    use eventmall_kafka::BrokerSettings;
    use eventmall_kafka::broker::{LocalBroker, free_port};
    LocalBroker::start(
        &BrokerSettings {
            binary: std::env::var("EVENTMALL_TEST_BROKER").unwrap_or_else(|_| "nisshi".into()),
            port: free_port().unwrap(),
            storage: storage.to_owned(),
            ..BrokerSettings::default()
        },
        dir,
    )
    .await
    .unwrap()
}

/// Resets this process's peak resident memory, so the next phase's peak can be read.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since start or the last [`reset_peak`], in MiB.
pub fn peak_mib() -> f64 {
    process_peak_mib(std::process::id())
}

/// Reads every record of `topics` from the beginning with a plain consumer; answers the time.
pub fn raw_consume(bootstrap: &str, topics: &[&str], expected: usize) -> std::time::Duration {
    use rdkafka::Message;
    let mut bytes = 0usize;
    let took = consume(bootstrap, topics, expected, |message| {
        bytes += message.payload().map_or(0, <[u8]>::len);
    });
    assert!(bytes > 0);
    took
}

/// Reads `expected` records of `topics` from the beginning with a plain consumer, handing each
/// to `each`; answers the time.
pub fn consume(
    bootstrap: &str,
    topics: &[&str],
    expected: usize,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> std::time::Duration {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    use std::time::{Duration, Instant};

    let consumer: BaseConsumer = eventmall_kafka::client_config(bootstrap)
        .set("group.id", format!("bench-raw-{}", uuid::Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        for partition in metadata.topics()[0].partitions() {
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .unwrap();
        }
    }
    let started = Instant::now();
    consumer.assign(&assignment).unwrap();
    let mut seen = 0;
    while seen < expected {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            each(&message);
            seen += 1;
        }
    }
    started.elapsed()
}

/// Reads every record of `topics` from the beginning and decodes each into its event type:
/// the least a projector must do per record. Answers the time.
pub fn consume_and_decode(
    bootstrap: &str,
    topics: &[&str],
    expected: usize,
    codec: &eventmall_events::Codec,
) -> std::time::Duration {
    use rdkafka::Message;
    consume(bootstrap, topics, expected, |message| {
        let event = codec.decode(message.payload().unwrap()).unwrap();
        std::hint::black_box(event);
    })
}

/// Peak resident memory of process `pid` over its life so far, in MiB.
pub fn process_peak_mib(pid: u32) -> f64 {
    process_status_mib(pid, "VmHWM")
}

/// A memory figure of `/proc/<pid>/status` (`VmHWM`, `RssAnon`, `RssFile`, …), in MiB.
pub fn process_status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.split(':').next() == Some(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Records on `topics`, from the partitions' end offsets.
pub fn total_records(bootstrap: &str, topics: &[&str]) -> usize {
    use rdkafka::consumer::BaseConsumer;
    let consumer: BaseConsumer = eventmall_kafka::client_config(bootstrap).create().unwrap();
    eventmall_kafka::partition_ends(&consumer, topics, std::time::Duration::from_secs(10))
        .unwrap()
        .iter()
        .map(|(_, _, end)| usize::try_from(*end).unwrap())
        .sum()
}
