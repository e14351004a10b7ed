//! The console in headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`), against `eventmall up --demo`: each page renders with the demo's data,
//! nothing is requested off this host, a dead letter retried from the page leaves the list,
//! and a rebuild started from the page completes.
//! Screenshots of each page go to `target/console/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use eventmall_kafka::broker::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use eventmall_events::ingest::ProductIngest;
use eventmall_kafka::Consumed;
use eventmall_kafka::dead_letters::{DeadLetters, refused};

use crate::helpers::get_json;
use crate::up::up_with;

/// `chromedriver` on a free port, for as long as it is kept.
async fn chromedriver() -> (Child, u16) {
    let binary =
        std::env::var("EVENTMALL_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port().unwrap();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "no {binary}: `apt-get install chromium chromium-driver` (scripts/test does): {e}"
            )
        });
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .is_ok()
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer within 10 s");
}

/// Headless Chromium that cannot resolve any host but this one.
async fn browser(port: u16) -> Client {
    let mut capabilities = serde_json::Map::new();
    let arguments = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ];
    capabilities.insert("goog:chromeOptions".into(), json!({ "args": arguments }));
    ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

/// Opens `#/<route>` and waits until the page says it has rendered.
async fn open(client: &Client, base: &str, route: &str) {
    client
        .goto(&format!("{base}/console#/{route}"))
        .await
        .unwrap();
    client.refresh().await.unwrap();
    for _ in 0..200 {
        let ready = client
            .execute("return document.body.dataset.ready === 'true'", vec![])
            .await
            .unwrap();
        if ready == Value::Bool(true) {
            // Let the page's first data arrive before it is looked at.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("#/{route} did not render within 20 s");
}

/// The page's text once it contains `expected`.
async fn text_with(client: &Client, expected: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = client
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(expected) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed {expected:?}:\n{text}");
}

/// Waits until the page has an element matching `css`.
async fn shown(client: &Client, css: &str) {
    for _ in 0..100 {
        if !client.find_all(Locator::Css(css)).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = client
        .execute("return document.querySelector('main').outerHTML", vec![])
        .await
        .unwrap();
    panic!("nothing matches {css} after 10 s: {html}");
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Signs in with `key` through the page's form.
async fn sign_in(client: &Client, key: &str) {
    let input = client.find(Locator::Id("key")).await.unwrap();
    input.send_keys(key).await.unwrap();
    client
        .find(Locator::Css("#sign-in button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Every URL the page fetched, scripts and styles included.
async fn requested(client: &Client) -> Vec<String> {
    let urls = client
        .execute(
            "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(urls).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_the_demo_world_from_this_host_and_a_rebuild_runs_from_the_page() {
    let (_driver, driver_port) = chromedriver().await;
    let mut up = up_with(|_| {}).await;
    up.wait_relayed().await;
    let base = up.api.clone();
    let key = |name: &str| std::fs::read_to_string(up.data.path().join("keys").join(name)).unwrap();
    let client = browser(driver_port).await;
    let mut urls = Vec::new();

    // Anyone: the search playground, with facets and highlights.
    open(&client, &base, "search?q=청소기").await;
    let text = text_with(&client, "products").await;
    assert!(
        text.contains("Categories") && text.contains("Brands"),
        "{text}"
    );
    let highlighted = client
        .find_all(Locator::Css(".hit .title b"))
        .await
        .unwrap();
    assert!(!highlighted.is_empty(), "no highlighted match: {text}");
    screenshot(&client, "search").await;
    urls.extend(requested(&client).await);

    // A partner: sales chart, settlement, order queue and feed runs.
    sign_in(&client, key("partner-002").trim()).await;
    open(&client, &base, "partner").await;
    let text = text_with(&client, "Feed runs").await;
    assert!(
        text.contains("Partner partner-002") || text.contains("partner-002"),
        "{text}"
    );
    shown(&client, "#sales-chart canvas").await;
    let text = text_with(&client, "payout").await;
    assert!(text.contains("completed"), "{text}");
    screenshot(&client, "partner").await;
    urls.extend(requested(&client).await);

    // The operator: relay, projections with their lag chart, generations, letters, registry.
    sign_in(&client, key("admin").trim()).await;
    open(&client, &base, "operations").await;
    let text = text_with(&client, "order-views").await;
    assert!(
        text.contains("recommendations") && text.contains("search"),
        "{text}"
    );
    shown(&client, "#lag-chart canvas").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    screenshot(&client, "operations").await;
    urls.extend(requested(&client).await);

    // A record the ingest consumer cannot read: its dead letter is retried from the page, goes
    // back to the ingest topic and leaves the list (the consumer refuses it again, as a new
    // letter).
    let garbage = Consumed {
        topic: ProductIngest::TOPIC.into(),
        partition: 0,
        offset: 0,
        key: Some(b"console".to_vec()),
        value: Some(vec![0x07, 0xde, 0xad]),
        headers: Vec::new(),
        timestamp_ms: None,
    };
    let letter = refused(&garbage, "ingest", "bad magic byte 0x07");
    DeadLetters::new(&up.bootstrap)
        .unwrap()
        .send(vec![letter])
        .await
        .unwrap();
    open(&client, &base, "dead-letters").await;
    let text = text_with(&client, "bad magic byte").await;
    assert!(text.contains("shown of"), "{text}");
    screenshot(&client, "dead-letters").await;
    urls.extend(requested(&client).await);
    let retry = client
        .find(Locator::Css("button[data-retry]"))
        .await
        .unwrap();
    let at = retry.attr("data-retry").await.unwrap().unwrap();
    retry.click().await.unwrap();
    let gone = format!("button[data-retry='{at}']");
    let mut left = true;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = !client
            .find_all(Locator::Css(&gone))
            .await
            .unwrap()
            .is_empty();
        if !left {
            break;
        }
    }
    assert!(!left, "the retried letter {at} is still listed");
    screenshot(&client, "dead-letters-retried").await;
    urls.extend(requested(&client).await);
    urls.extend(requested(&client).await);

    open(&client, &base, "registry").await;
    let text = text_with(&client, "subjects").await;
    assert!(
        text.contains("eventmall.orders.v1-eventmall.order.OrderPlaced"),
        "{text}"
    );
    screenshot(&client, "registry").await;
    urls.extend(requested(&client).await);

    open(&client, &base, "events?topic=eventmall.orders.v1").await;
    let text = text_with(&client, "OrderPlaced").await;
    assert!(text.contains("records"), "{text}");
    screenshot(&client, "events").await;
    urls.extend(requested(&client).await);

    // A rebuild started from the page completes, and a new generation is there.
    open(&client, &base, "operations").await;
    text_with(&client, "order-views").await;
    client
        .find(Locator::Css("button[data-action=rebuild-order-views]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut generations = Value::Null;
    for _ in 0..300 {
        let admin = up.admin().unwrap();
        generations = get_json(&admin, &format!("{base}/v1/admin/projections/order-views")).await;
        let rebuilt = generations["rebuilds"]
            .as_array()
            .is_some_and(|all| all.iter().any(|r| r["state"] == "swapped"));
        if rebuilt {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let live = generations["generations"]
        .as_array()
        .and_then(|all| all.iter().find(|g| g["state"] == "live"))
        .map(|g| g["generation"].clone());
    assert_eq!(
        live,
        Some(json!(2)),
        "the rebuild started from the page did not swap in generation 2: {generations}"
    );
    text_with(&client, "swapped").await;
    screenshot(&client, "rebuild").await;
    urls.extend(requested(&client).await);

    // Nothing the pages loaded or asked for came from another host.
    assert!(urls.len() > 20, "{urls:?}");
    for url in &urls {
        assert!(url.starts_with(&base), "requested off this host: {url}");
    }
    client.close().await.unwrap();
    up.terminate().await;
}
