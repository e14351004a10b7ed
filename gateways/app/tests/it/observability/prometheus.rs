//! A real Prometheus scrapes `eventmall up --demo` with the demo's admin key and answers PromQL
//! over what it scraped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use eventmall_kafka::broker::free_port;
use serde_json::Value;
use tokio::process::Command;

use crate::up::up_with;

/// Every metric the operations issue names, by the name Prometheus stores it under.
const NAMED: [&str; 19] = [
    "eventmall_commands_total",
    "eventmall_command_duration_seconds_bucket",
    "eventmall_store_append_duration_seconds_bucket",
    "eventmall_store_group_commit_size_bucket",
    "eventmall_relay_lag_events",
    "eventmall_relay_lag_seconds",
    "eventmall_relay_stored_to_acknowledged_seconds_bucket",
    "eventmall_projector_lag",
    "eventmall_projector_partition_lag",
    "eventmall_projector_applied_total",
    "eventmall_dead_letters_total",
    "eventmall_consumer_rebalances_total",
    "eventmall_http_requests_total",
    "eventmall_http_errors_total",
    "eventmall_http_request_duration_seconds_bucket",
    "eventmall_feed_rows_total",
    "eventmall_wallet_calls_total",
    "eventmall_policy_steps_total",
    "eventmall_policy_pending_timers",
];

/// Debian's `prometheus`, or `EVENTMALL_TEST_PROMETHEUS`; the test fails when there is none.
fn prometheus_binary() -> PathBuf {
    let binary = std::env::var("EVENTMALL_TEST_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
    let found = std::process::Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        found,
        "no Prometheus at {binary:?}: `apt-get install prometheus` (scripts/test does) or set \
         EVENTMALL_TEST_PROMETHEUS"
    );
    PathBuf::from(binary)
}

/// Asks Prometheus's HTTP API; the `data` of a successful answer.
async fn ask(prometheus: &str, path: &str, query: &[(&str, &str)]) -> Option<Value> {
    let answer: Value = reqwest::Client::new()
        .get(format!("{prometheus}{path}"))
        .query(query)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    (answer["status"] == "success").then(|| answer["data"].clone())
}

/// The `eventmall_…` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("eventmall_") {
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[start + name.len()..];
        names.push(name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_demo_and_answers_the_lag_of_each_projector() {
    let binary = prometheus_binary();
    let mut up = up_with(|_| {}).await;
    up.wait_relayed().await;
    // One error, so that the error counter has a sample.
    let admin = up.admin().unwrap();
    let missing = admin.get(format!("{}/v1/orders/not-an-order", up.api));
    assert_eq!(missing.send().await.unwrap().status(), 400);

    let dir = tempfile::tempdir().unwrap();
    let target = up.api.trim_start_matches("http://");
    let key_file = up.data.path().join("keys/admin");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: eventmall\n    metrics_path: /metrics\n\
         \x20   authorization:\n      type: Bearer\n      credentials_file: {}\n\
         \x20   static_configs:\n      - targets: ['{target}']\n",
        key_file.display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let port = free_port().unwrap();
    let mut prometheus_process = Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting prometheus");
    let prometheus = format!("http://127.0.0.1:{port}");

    let lag_query = [("query", "max by (projector) (eventmall_projector_lag)")];
    let mut lags = Vec::new();
    for _ in 0..120 {
        if let Some(status) = prometheus_process.try_wait().unwrap() {
            panic!("prometheus exited: {status}");
        }
        if let Some(data) = ask(&prometheus, "/api/v1/query", &lag_query).await {
            lags = data["result"].as_array().cloned().unwrap_or_default();
            if lags.len() >= 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut projectors: Vec<(String, f64)> = lags
        .iter()
        .map(|sample| {
            let value = sample["value"][1].as_str().unwrap().parse().unwrap();
            (
                sample["metric"]["projector"].as_str().unwrap().to_owned(),
                value,
            )
        })
        .collect();
    projectors.sort_by(|a, b| a.0.cmp(&b.0));
    println!("projector lag in Prometheus: {projectors:?}");
    let names: Vec<&str> = projectors.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["order-views", "recommendations", "search"]);

    // Prometheus stored every named metric: the scrape parsed, with each one in it.
    let stored = ask(&prometheus, "/api/v1/label/__name__/values", &[])
        .await
        .unwrap();
    let stored: Vec<&str> = stored
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<&&str> = NAMED.iter().filter(|name| !stored.contains(name)).collect();
    assert!(
        missing.is_empty(),
        "not scraped: {missing:?}; scraped: {stored:?}"
    );
    // The Grafana dashboard in deploy/ asks only what Prometheus can answer from these.
    let dashboard = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/eventmall.json"),
    )
    .unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "{} panels", panels.len());
    for target in panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap())
    {
        let expr = target["expr"].as_str().unwrap();
        assert!(
            ask(&prometheus, "/api/v1/query", &[("query", expr)])
                .await
                .is_some(),
            "the dashboard's query does not run: {expr}"
        );
        for name in metric_names(expr) {
            assert!(
                stored.contains(&name.as_str()),
                "{expr} asks for {name}, never scraped"
            );
        }
    }

    let up_query = [("query", "up{job=\"eventmall\"}")];
    let scrape = ask(&prometheus, "/api/v1/query", &up_query).await.unwrap();
    assert_eq!(scrape["result"][0]["value"][1], "1", "{scrape}");
    up.terminate().await;
}
