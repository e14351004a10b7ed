//! `/metrics`: the process's metrics in Prometheus's text format, with bounded labels.

mod prometheus;
mod traces;

use std::time::Duration;

use crate::kafka::TestBroker;
use crate::read_api::app_on;

/// The value of the sample `name{labels…}` whose label set contains each of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_commands_appends_the_relay_projectors_and_routes_without_ids() {
    let broker = TestBroker::in_memory().await;
    let app = app_on(&broker, 2_000).await;
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let (_projectors, _stop) = app.start_projectors(&broker).await;
    let product = app.register_product("shop-1", "M-1", 10_000).await;
    let order = app.paid_order(&product, 1).await;
    app.wait_published(app.last_position().await).await;
    assert_eq!(app.get("/v1/search?q=청소기").await.status, 200);
    assert_eq!(app.get("/v1/orders/no-such-order").await.status, 400);

    let anonymous = reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // The relay has published everything; the projectors take their first windows a little
    // later.
    let mut text = String::new();
    for _ in 0..100 {
        let scraped = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(scraped.status(), 200);
        assert!(
            scraped.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain"),
            "{:?}",
            scraped.headers()
        );
        text = scraped.text().await.unwrap();
        let applied = ["order-views", "search", "recommendations"]
            .iter()
            .all(|name| {
                let label = format!("projector=\"{name}\"");
                sample(&text, "eventmall_projector_applied_total", &[&label]).is_some()
            });
        if applied {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let order_placed = [
        "aggregate=\"order\"",
        "command=\"Place\"",
        "outcome=\"accepted\"",
    ];
    assert_eq!(
        sample(&text, "eventmall_commands_total", &order_placed),
        Some(1.0),
        "{text}"
    );
    let captures = ["aggregate=\"payment\"", "command=\"Capture\""];
    assert!(sample(&text, "eventmall_command_duration_seconds_count", &captures).is_some());
    let search = ["route=\"/v1/search\"", "method=\"GET\"", "status=\"200\""];
    assert_eq!(
        sample(&text, "eventmall_http_requests_total", &search),
        Some(1.0)
    );
    let bad = ["route=\"/v1/orders/{id}\"", "class=\"4xx\""];
    assert_eq!(
        sample(&text, "eventmall_http_errors_total", &bad),
        Some(1.0)
    );
    for histogram in [
        "eventmall_http_request_duration_seconds_bucket",
        "eventmall_store_append_duration_seconds_bucket",
        "eventmall_store_group_commit_size_bucket",
        "eventmall_relay_stored_to_acknowledged_seconds_bucket",
    ] {
        assert!(
            sample(&text, histogram, &["le=\"+Inf\""]).is_some(),
            "{histogram}: {text}"
        );
    }
    assert!(
        sample(&text, "eventmall_relay_lag_events", &["relay="]).is_some(),
        "{text}"
    );
    assert!(sample(&text, "eventmall_relay_lag_seconds", &["relay="]).is_some());
    for projector in ["order-views", "search", "recommendations"] {
        let label = format!("projector=\"{projector}\"");
        assert!(
            sample(&text, "eventmall_projector_lag", &[&label]).is_some(),
            "{projector}"
        );
        assert!(sample(&text, "eventmall_projector_partition_lag", &[&label]).is_some());
    }
    assert!(
        sample(
            &text,
            "eventmall_projector_records_total",
            &["projector=\"search\""]
        )
        .is_some()
    );

    // Labels are bounded: no aggregate, order or product id in any of them.
    for id in [&product, &order] {
        assert!(!text.contains(id.as_str()), "an id in a label: {id}");
    }
}
