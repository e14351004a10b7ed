//! What outside clients see: Confluent's Python clients on the registry and the relay's
//! topics, and `events tail` on any topic, malformed records included.

use std::time::Duration;

use eventmall::demo;
use eventmall_kafka::tail::{TailOptions, tail};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_sqlite_app};
use crate::kafka::{TestBroker, drain};
use crate::relay::{TOPICS, plan};

/// The Python with Confluent's clients and schemathesis installed; `scripts/test` prepares it.
pub fn python() -> String {
    std::env::var("EVENTMALL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "EVENTMALL_TEST_PYTHON is not set: run the tests with scripts/test, which installs \
             confluent-kafka and fastavro (gateways/app/tests/interop/requirements.txt)"
        )
    })
}

/// Runs a Python program to its end and returns what it printed; fails with its output when
/// it fails.
pub async fn run_python(what: &str, command: &mut tokio::process::Command) -> String {
    let output = command.output().await.expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// An app whose demo world the relay has published to `broker`.
async fn published_world(broker: &TestBroker) -> TestApp {
    let app = spawn_sqlite_app().await;
    demo::run(&app.feeds(), plan(30, 7)).await.unwrap();
    let (relay, stop) = app.start_relay(broker).await;
    app.wait_published(app.last_position().await).await;
    stop.cancel();
    relay.await.unwrap();
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluents_python_clients_work_against_the_registry_and_the_relay_unchanged() {
    let broker = TestBroker::in_memory().await;
    let app = published_world(&broker).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/confluent_clients.py"
    );
    let stdout = run_python(
        "the Python clients",
        tokio::process::Command::new(python())
            .arg(script)
            .arg(&app.address)
            .arg(broker.bootstrap())
            .env("EVENTMALL_KEY", &app.admin_key),
    )
    .await;
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["read_back"], 10, "{summary}");

    // What their serializer wrote, our codec reads.
    let codec = app.codec();
    let records = drain(&broker.bootstrap(), &["interop.python.v1"]);
    assert_eq!(records.len(), 10);
    for record in records {
        let (schema_id, value) = codec.decode_json(record.payload()).await.unwrap();
        assert_eq!(i64::from(schema_id), summary["v1_id"].as_i64().unwrap());
        assert_eq!(value["sku"], record.key);
    }
}

async fn tail_lines(broker: &TestBroker, app: &TestApp, options: &TailOptions) -> Vec<Value> {
    let mut out = Vec::new();
    let printed = tail(&broker.bootstrap(), &app.codec(), options, &mut out)
        .await
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, printed);
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_every_record_as_decoded_json() {
    let broker = TestBroker::in_memory().await;
    let app = published_world(&broker).await;
    let options = TailOptions {
        topic: TOPICS[1].into(),
        from_beginning: true,
        follow: false,
        partition: None,
        last: None,
    };
    let lines = tail_lines(&broker, &app, &options).await;
    let orders = drain(&broker.bootstrap(), &TOPICS[1..2]);
    assert_eq!(lines.len(), orders.len());
    for line in &lines {
        for field in [
            "key",
            "partition",
            "offset",
            "timestamp",
            "headers",
            "value",
        ] {
            assert!(!line[field].is_null(), "{field} missing in {line}");
        }
        assert_eq!(line["headers"]["aggregate_type"], "order");
        if line["headers"]["event_type"] == "OrderPlaced" {
            assert_eq!(line["value"]["order_id"], line["key"]);
            assert!(line["value"]["lines"].is_array());
        }
    }

    let one = tail_lines(
        &broker,
        &app,
        &TailOptions {
            partition: Some(1),
            ..options.clone()
        },
    )
    .await;
    assert_eq!(
        one.len(),
        orders.iter().filter(|r| r.partition == 1).count()
    );
    assert!(one.iter().all(|line| line["partition"] == 1));
    // From the end, without following, there is nothing to print.
    let from_end = TailOptions {
        from_beginning: false,
        ..options
    };
    assert!(tail_lines(&broker, &app, &from_end).await.is_empty());
    // The last record of each partition, whatever `from_beginning` says.
    let last = TailOptions {
        last: Some(1),
        ..from_end
    };
    let partitions: std::collections::BTreeSet<i64> = lines
        .iter()
        .map(|line| line["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(
        tail_lines(&broker, &app, &last).await.len(),
        partitions.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_reports_malformed_records_instead_of_failing() {
    let broker = TestBroker::in_memory().await;
    let app = spawn_sqlite_app().await;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .create()
        .unwrap();
    let records: [&[u8]; 4] = [b"{\"json\": true}", &[0, 0, 0, 0x30, 0x39, 2], &[0, 0], b""];
    for payload in records {
        producer
            .send(
                FutureRecord::<str, [u8]>::to("interop.garbage.v1")
                    .key("k")
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let options = TailOptions {
        topic: "interop.garbage.v1".into(),
        from_beginning: true,
        follow: false,
        partition: None,
        last: None,
    };
    let lines = tail_lines(&broker, &app, &options).await;
    let errors: Vec<&str> = lines
        .iter()
        .map(|line| line["value_error"].as_str().unwrap_or(""))
        .collect();
    assert!(errors[0].contains("magic byte"), "{errors:?}");
    assert!(errors[1].contains("unknown schema id 12345"), "{errors:?}");
    assert!(errors[2].contains("truncated"), "{errors:?}");
    assert!(
        errors[3].contains("truncated") || lines[3]["value"].is_null(),
        "{errors:?}"
    );
    assert!(lines.iter().all(|line| line["key"] == "k"));
}
