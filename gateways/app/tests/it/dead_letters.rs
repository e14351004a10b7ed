//! The dead-letter tooling against a real broker: list, show and retry, over HTTP and the CLI.

use eventmall_events::dead_letter::TOPIC as DEAD_LETTER_TOPIC;
use eventmall_kafka::Consumed;
use eventmall_kafka::dead_letters::{DeadLetters, refused};
use serde_json::Value;

use crate::kafka::{TestBroker, drain, kafka_settings};
use crate::read_api::app_on;

const SOURCE: &str = "eventmall.products.v1";

/// Two dead letters on the topic, as a projector sends them.
async fn letters(broker: &TestBroker) {
    eventmall_kafka::ensure_topics(
        &broker.bootstrap(),
        &kafka_settings(),
        &[SOURCE, DEAD_LETTER_TOPIC],
    )
    .await
    .unwrap();
    let records: Vec<Consumed> = (0..2)
        .map(|i| Consumed {
            topic: SOURCE.into(),
            partition: 0,
            offset: 40 + i,
            key: Some(format!("product-{i}").into_bytes()),
            value: Some(vec![0x07, 0xde, 0xad, i as u8]),
            headers: vec![("event_type".into(), b"ProductRegistered".to_vec())],
            timestamp_ms: None,
        })
        .collect();
    let sent = records
        .iter()
        .map(|record| refused(record, "test", "bad magic byte 0x07"))
        .collect();
    DeadLetters::new(&broker.bootstrap())
        .unwrap()
        .send(sent)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_and_retried_to_their_source_topic() {
    let broker = TestBroker::in_memory().await;
    letters(&broker).await;
    let app = app_on(&broker, 100).await;

    let listed = app.get("/v1/admin/dead-letters").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["total"], 2);
    let letters = listed.body["letters"].as_array().unwrap();
    assert_eq!(letters.len(), 2);
    let first = &letters[0];
    assert_eq!(first["reason"], "bad magic byte 0x07");
    assert_eq!(first["stage"], "test");
    assert_eq!(first["source_topic"], SOURCE);
    assert_eq!(first["source_offset"], 40);
    assert_eq!(first["headers"]["event_type"], "ProductRegistered");
    let at = format!("{}/{}", first["partition"], first["offset"]);

    let shown = app.get(&format!("/v1/admin/dead-letters/{at}")).await;
    assert_eq!(shown.body, *first);
    app.get("/v1/admin/dead-letters/0/999")
        .await
        .assert_problem(404, "not-found");
    app.get("/v1/admin/dead-letters/x/1")
        .await
        .assert_problem(400, "bad-request");

    let retried = app
        .send(
            app.client
                .post(format!("{}/v1/admin/dead-letters/{at}/retry", app.address)),
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["topic"], SOURCE);
    // The original record, on its source topic, without the dead_letter.* headers.
    let source = drain(&broker.bootstrap(), &[SOURCE]);
    assert_eq!(source.len(), 1);
    assert_eq!(source[0].key, "product-0");
    assert_eq!(source[0].payload(), [0x07, 0xde, 0xad, 0]);
    assert_eq!(source[0].header("event_type"), "ProductRegistered");
    assert!(
        source[0]
            .headers
            .keys()
            .all(|k| !k.starts_with("dead_letter."))
    );

    // Retried, it leaves the list, and it is not retried twice.
    let listed = app.get("/v1/admin/dead-letters").await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    let left: Vec<String> = listed.body["letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}/{}", l["partition"], l["offset"]))
        .collect();
    assert_eq!(left.len(), 1);
    assert!(!left.contains(&at), "{left:?}");
    let again = app
        .send(
            app.client
                .post(format!("{}/v1/admin/dead-letters/{at}/retry", app.address)),
        )
        .await;
    again.assert_problem(422, "not-retriable");
    assert_eq!(drain(&broker.bootstrap(), &[SOURCE]).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_shows_and_retries() {
    let broker = TestBroker::in_memory().await;
    letters(&broker).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
            .arg("dead-letters")
            .args(args)
            .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
            .env("EVENTMALL__LOG__FILTER", "warn")
            .output()
            .unwrap()
    };
    let listed = run(&["list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let (partition, offset) = (
        lines[1]["partition"].to_string(),
        lines[1]["offset"].to_string(),
    );
    let shown = run(&["show", &partition, &offset]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["key"], "product-1");
    let missing = run(&["show", "0", "999"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no dead letter at 0/999"));
    let retried = run(&["retry", &partition, &offset]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let source = drain(&broker.bootstrap(), &[SOURCE]);
    assert_eq!(source.len(), 1);
    assert_eq!(source[0].key, "product-1");
}
