//! `eventmall up` as a user runs it: the binary starts its broker, serves the API and the
//! registry, relays the demo world to Kafka, and on SIGTERM stops everything it started.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use eventmall_kafka::broker::free_port;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::helpers::client_with;
use crate::kafka::TestBroker;

/// `eventmall up --demo` running, with its API address and data directory.
pub(crate) struct Up {
    pub(crate) child: Child,
    pub(crate) api: String,
    pub(crate) data: tempfile::TempDir,
    /// The local broker's address.
    pub(crate) bootstrap: String,
}

/// `eventmall --data-dir <data>` with its API and local broker on the given ports.
pub(crate) fn eventmall(data: &Path, api_port: u16, broker_port: u16) -> Command {
    let broker = std::env::var("EVENTMALL_TEST_BROKER").unwrap_or_else(|_| "nisshi".into());
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventmall"));
    command
        .arg("--data-dir")
        .arg(data)
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env("EVENTMALL__HTTP__ADDR", format!("127.0.0.1:{api_port}"))
        .env("EVENTMALL__BROKER__PORT", broker_port.to_string())
        .env("EVENTMALL__BROKER__BINARY", broker)
        .env("EVENTMALL__LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn up(cluster: Option<&str>) -> Up {
    up_with(|command| {
        if let Some(servers) = cluster {
            command.env("KAFKA_BOOTSTRAP_SERVERS", servers);
        }
    })
    .await
}

/// `eventmall up --demo --orders 30`, its command set up by `configure` first.
pub(crate) async fn up_with(configure: impl FnOnce(&mut Command)) -> Up {
    let data = tempfile::tempdir().unwrap();
    let (api_port, broker_port) = (free_port().unwrap(), free_port().unwrap());
    let mut command = eventmall(data.path(), api_port, broker_port);
    configure(&mut command);
    let child = command
        .args(["up", "--demo", "--orders", "30"])
        .spawn()
        .unwrap();
    Up {
        child,
        api: format!("http://127.0.0.1:{api_port}"),
        data,
        bootstrap: format!("127.0.0.1:{broker_port}"),
    }
}

impl Up {
    /// A client with the admin key `up --demo` wrote into the data directory, once it has.
    pub(crate) fn admin(&self) -> Option<reqwest::Client> {
        let secret = std::fs::read_to_string(self.data.path().join("keys/admin")).ok()?;
        Some(client_with(secret.trim()))
    }

    /// Waits until the relay has published the whole demo world.
    pub(crate) async fn wait_relayed(&mut self) -> Value {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("eventmall up exited early: {status}");
            }
            // `up --demo` writes its keys before it makes the demo world.
            let Some(client) = self.admin() else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            if let Ok(response) = client.get(format!("{}/v1/relay", self.api)).send().await {
                let relays: Value = response.json().await.unwrap();
                let relay = &relays[0];
                if relay["published_position"].as_i64().unwrap_or(0) > 500
                    && relay["lag_events"] == 0
                {
                    return relay.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the demo world was not relayed within a minute");
    }

    pub(crate) async fn terminate(mut self) -> tempfile::TempDir {
        let pid = Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("eventmall up stops within 20 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "eventmall up exited with {status}");
        self.data
    }
}

fn alive(pid: i32) -> bool {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return false,
        Err(error) => panic!("reading /proc/{pid}/stat: {error}"),
    };
    // The third field is the state; a zombie has exited.
    stat.split_whitespace()
        .nth(2)
        .is_some_and(|state| state != "Z")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_broker_api_registry_and_relay_and_stops_the_broker_on_sigterm() {
    let mut up = up(None).await;
    let relay = up.wait_relayed().await;
    assert_eq!(relay["lag_seconds"], 0.0);
    let broker_pid: i32 = std::fs::read_to_string(up.data.path().join("broker/broker.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(broker_pid));
    let subjects: Value = reqwest::get(format!("{}/subjects", up.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        subjects.as_array().unwrap().len(),
        eventmall_events::avro::contract().len() + eventmall_events::ingest::contract().len()
    );

    // The demo's partners uploaded their feeds to the feed route; their bad lines are dead
    // letters. Partners 2 and 6 (of 0–7) carry two bad rows each; partner 1 exports EUC-KR.
    let admin = up.admin().unwrap();
    let get = |path: String| async {
        admin
            .get(path)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let runs = get(format!("{}/v1/partners/partner-003/feeds", up.api)).await;
    assert_eq!(runs["total"], 1, "{runs}");
    assert_eq!(runs["runs"][0]["rejected"], 2, "{runs}");
    let runs = get(format!("{}/v1/partners/partner-002/feeds", up.api)).await;
    assert_eq!(runs["runs"][0]["encoding"], "euc-kr", "{runs}");
    assert_eq!(runs["runs"][0]["rejected"], 0, "{runs}");
    let letters = get(format!("{}/v1/admin/dead-letters", up.api)).await;
    let feed_letters: Vec<&Value> = letters["letters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|letter| letter["stage"] == "feed")
        .collect();
    assert_eq!(feed_letters.len(), 4, "{letters}");
    assert!(
        feed_letters
            .iter()
            .any(|letter| letter["headers"]["feed.partner_id"] == "partner-007")
    );

    // Customers ordered with their wallets and the payment policy paid: a paid order's
    // payment events were issued by the policy.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let paid = 'found: loop {
        for partner in 0..8 {
            let queue = get(format!(
                "{}/v1/partners/partner-{partner:03}/orders?status=paid&limit=1",
                up.api
            ))
            .await;
            if let Some(order) = queue["orders"].as_array().and_then(|o| o.first()) {
                break 'found order["order_id"].as_str().unwrap().to_owned();
            }
        }
        assert!(std::time::Instant::now() < deadline, "no paid order");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let history = get(format!("{}/v1/orders/{paid}/events", up.api)).await;
    let marked = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["event_type"] == "OrderPaid")
        .unwrap_or_else(|| panic!("{history}"));
    assert_eq!(marked["metadata"]["actor"], "policy", "{marked}");

    // The CLI reads the topic through the running registry.
    let api_port = up.api.rsplit(':').next().unwrap().parse().unwrap();
    let broker_port = std::fs::read_to_string(up.data.path().join("broker/broker.log"))
        .unwrap()
        .split("tcp://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap()
        .parse()
        .unwrap();
    let output = eventmall(up.data.path(), api_port, broker_port)
        .args([
            "events",
            "tail",
            "eventmall.payments.v1",
            "--from-beginning",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["headers"]["event_type"] == "PaymentCaptured")
    );

    let data = up.terminate().await;
    // `up` waits for the broker before it exits; allow the kernel a moment to reap it.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while alive(broker_pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!alive(broker_pid), "the broker outlived eventmall up");
    assert!(!data.path().join("broker/broker.pid").exists());
    let log = std::fs::read_to_string(data.path().join("broker/broker.log")).unwrap();
    assert!(log.contains("ready in"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_uses_the_cluster_named_by_kafka_bootstrap_servers() {
    let broker = TestBroker::in_memory().await;
    let mut up = up(Some(&broker.bootstrap())).await;
    up.wait_relayed().await;

    // `up` consumes the ingest topics too: an upstream record becomes a product.
    let admin_key = std::fs::read_to_string(up.data.path().join("keys/admin")).unwrap();
    let registry = eventmall_registry::RemoteRegistry::with_key(&up.api, admin_key.trim());
    let codec = eventmall_registry::RegisteredCodec::new(std::sync::Arc::new(registry.unwrap()));
    codec
        .register(&eventmall_events::ingest::contract())
        .await
        .unwrap();
    let partner = eventmall_events::PartnerId::from("upstream-shop");
    let record: eventmall_events::ingest::IngestRecord =
        eventmall_events::ingest::ProductIngest::from(eventmall_events::ingest::ProductUpserted {
            event_id: "up-1".into(),
            partner_id: partner.clone(),
            sku: "UP-1".into(),
            title: "뉴발란스 남성 러닝화 1080 v14 [블랙]".into(),
            brand: Some("뉴발란스".into()),
            category: vec![
                "스포츠/레저".into(),
                "러닝".into(),
                "러닝용품".into(),
                "러닝화".into(),
            ],
            model_number: Some("M1080K14".into()),
            price: eventmall_events::Money::krw(189_000),
            stock: Some(3),
        })
        .into();
    let mut value = Vec::new();
    codec
        .codec()
        .await
        .encode_ingest(&record, &mut value)
        .unwrap();
    let producer: rdkafka::producer::FutureProducer =
        eventmall_kafka::client_config(&broker.bootstrap())
            .create()
            .unwrap();
    producer
        .send(
            rdkafka::producer::FutureRecord::<str, [u8]>::to(record.topic())
                .key("UP-1")
                .payload(&value),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let product = eventmall_events::ProductId::for_partner_sku(&partner, "UP-1");
    let state_url = format!("{}/v1/products/{product}/state", up.api);
    let mut listed = false;
    for _ in 0..300 {
        let response = up.admin().unwrap().get(&state_url).send().await.unwrap();
        if response.status() == 200 {
            let state: Value = response.json().await.unwrap();
            assert_eq!(state["state"]["stock"], 3, "{state}");
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "the upstream record did not become a product");

    let data = up.terminate().await;
    assert!(
        !data.path().join("broker").exists(),
        "a local broker was started anyway"
    );
    let orders = crate::kafka::drain(&broker.bootstrap(), &["eventmall.orders.v1"]);
    assert!(!orders.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventmall_relay_runs_standalone_against_postgres_and_stops_on_sigterm() {
    let broker = TestBroker::in_memory().await;
    let app = crate::helpers::spawn_app(crate::helpers::postgres_backend().await).await;
    eventmall::demo::run(&app.feeds(), crate::relay::plan(10, 11))
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let url = app.store_url();
    let mut relay = eventmall(data.path(), free_port().unwrap(), free_port().unwrap())
        .env("EVENTMALL__STORE__URL", &url)
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .arg("relay")
        .spawn()
        .unwrap();
    app.wait_published(app.last_position().await).await;
    let pid = Pid::from_raw(i32::try_from(relay.id().unwrap()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), relay.wait())
        .await
        .expect("eventmall relay stops within 20 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "eventmall relay exited with {status}");
    let records = crate::kafka::drain(&broker.bootstrap(), &crate::relay::TOPICS);
    assert_eq!(crate::relay::verify(&app, &records).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_finds_the_broker_install_broker_left_in_its_cache_when_it_is_not_on_path() {
    // Where scripts/install-broker puts it by default: ~/.cache/eventmall/broker/bin/nisshi.
    let installed = std::fs::canonicalize(
        std::env::var("EVENTMALL_TEST_BROKER").expect("scripts/test names the test broker"),
    )
    .expect("the test broker exists");
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join(".cache/eventmall/broker/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&installed, bin.join("nisshi")).unwrap();
    let path = "/usr/local/bin:/usr/bin:/bin";
    assert!(
        std::env::split_paths(path).all(|dir| !dir.join("nisshi").exists()),
        "nisshi is on {path}: the test would show nothing"
    );

    let data = tempfile::tempdir().unwrap();
    let (api_port, broker_port) = (free_port().unwrap(), free_port().unwrap());
    let mut child = eventmall(data.path(), api_port, broker_port)
        .env_remove("EVENTMALL__BROKER__BINARY")
        .env_remove("EVENTMALL_BROKER_ROOT")
        .env("HOME", home.path())
        .env("PATH", path)
        .arg("up")
        .spawn()
        .unwrap();
    let ready = format!("http://127.0.0.1:{api_port}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("eventmall up exited ({status}) instead of finding the installed broker");
        }
        if reqwest::get(&ready).await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "up never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let up = Up {
        child,
        api: format!("http://127.0.0.1:{api_port}"),
        data,
        bootstrap: format!("127.0.0.1:{broker_port}"),
    };
    let data = up.terminate().await;
    assert!(data.path().join("broker/broker.log").exists());
}

/// Whether process `pid` catches `signal`: its `SigCgt` mask in /proc.
fn catches(pid: u32, signal: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .expect("/proc/<pid>/status has SigCgt");
    let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
    mask & (1 << (signal as u64 - 1)) != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_catches_sigterm_before_it_connects_and_stops_cleanly_while_starting() {
    let db = crate::helpers::postgres_db().await;
    // A broker address nothing answers on: the relay stays in its start, connecting.
    let nowhere = format!("127.0.0.1:{}", free_port().unwrap());
    let data = tempfile::tempdir().unwrap();
    let mut relay = eventmall(data.path(), free_port().unwrap(), free_port().unwrap())
        .env("EVENTMALL__STORE__URL", db.url())
        .env("KAFKA_BOOTSTRAP_SERVERS", &nowhere)
        .arg("relay")
        .spawn()
        .unwrap();
    let pid = relay.id().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !catches(pid, Signal::SIGTERM) {
        if let Some(status) = relay.try_wait().unwrap() {
            panic!("eventmall relay exited ({status}) before catching SIGTERM");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "eventmall relay never caught SIGTERM while it was starting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), relay.wait())
        .await
        .expect("eventmall relay stops within 10 s of SIGTERM, though not started")
        .unwrap();
    assert!(status.success(), "eventmall relay exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_up_serves_the_demo_world_and_stops_on_sigterm() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/up");
    let data = tempfile::tempdir().unwrap();
    let (api_port, broker_port) = (free_port().unwrap(), free_port().unwrap());
    let child = Command::new(script)
        .args([
            "--data-dir",
            data.path().to_str().unwrap(),
            "--orders",
            "30",
        ])
        .env("EVENTMALL_BIN", env!("CARGO_BIN_EXE_eventmall"))
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env("EVENTMALL__HTTP__ADDR", format!("127.0.0.1:{api_port}"))
        .env("EVENTMALL__BROKER__PORT", broker_port.to_string())
        .env("EVENTMALL__LOG__FILTER", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut up = Up {
        child,
        api: format!("http://127.0.0.1:{api_port}"),
        data,
        bootstrap: format!("127.0.0.1:{broker_port}"),
    };
    let relay = up.wait_relayed().await;
    assert_eq!(relay["lag_events"], 0);
    let data = up.terminate().await;
    assert!(
        !data.path().join("broker/broker.pid").exists(),
        "the broker it started is stopped"
    );
}
