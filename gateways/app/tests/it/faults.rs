//! Faults at the process level, each under a steady command load that keeps every receipt it
//! got: `eventmall up` killed with SIGKILL and started again; the broker stopped for 30 s;
//! PostgreSQL restarted. Each prints what it sent, what was acknowledged and what it found.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eventmall_events::{PartnerId, ProductId};
use eventmall_store::EventBackend;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::kafka::drain;

const TOPICS: [&str; 3] = [
    "eventmall.orders.v1",
    "eventmall.payments.v1",
    "eventmall.products.v1",
];

/// An acknowledged command: the product and its version after it.
#[derive(Clone, Debug)]
pub(crate) struct Acknowledged {
    product: String,
    version: i64,
}

/// What a load saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) sent: u64,
    pub(crate) acknowledged: Vec<Acknowledged>,
    /// Answers by status (`200`, `503`, `no answer`).
    pub(crate) answers: BTreeMap<String, u64>,
}

impl Tally {
    pub(crate) fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.acknowledged.extend(other.acknowledged);
        for (status, count) in other.answers {
            *self.answers.entry(status).or_default() += count;
        }
    }
}

/// Workers that each register a product of their own, then change its stock, one command
/// after another, until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Tally>>,
}

impl Load {
    pub(crate) fn start(base: &str, client: &Client, workers: usize, tag: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|worker| {
                let (base, client, stop) = (base.to_owned(), client.clone(), stop.clone());
                let partner = format!("{tag}-{worker}");
                tokio::spawn(async move { work(&base, &client, &partner, &stop).await })
            })
            .collect();
        Self { stop, workers }
    }

    pub(crate) async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for worker in self.workers {
            tally.add(worker.await.unwrap());
        }
        tally
    }
}

async fn work(base: &str, client: &Client, partner: &str, stop: &AtomicBool) -> Tally {
    let product = ProductId::for_partner_sku(&PartnerId::from(partner), "F-1").to_string();
    let mut tally = Tally::default();
    let mut registered = false;
    let mut stock = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let request = match registered {
            false => client.post(format!("{base}/v1/products")).json(&json!({
                "partner_id": partner, "sku": "F-1", "title": "내결함 시험 상품",
                "category": ["시험"], "price": {"amount": 1_000}, "stock": 0})),
            true => {
                stock += 1;
                client
                    .post(format!("{base}/v1/products/{product}/stock"))
                    .json(&json!({"partner_id": partner, "stock": stock}))
            }
        };
        tally.sent += 1;
        let answer = request.timeout(Duration::from_secs(5)).send().await;
        let status = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if status < 300 {
                    registered = true;
                    tally.acknowledged.push(Acknowledged {
                        product: product.clone(),
                        version: body["version"].as_i64().unwrap(),
                    });
                } else if status == 409 || status == 422 {
                    // Registered by a request whose answer was lost.
                    registered = true;
                }
                status.to_string()
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                "no answer".to_owned()
            }
        };
        *tally.answers.entry(status).or_default() += 1;
    }
    tally
}

/// How many acknowledged commands have their event in the store.
pub(crate) async fn found(backend: &dyn EventBackend, tally: &Tally) -> usize {
    let mut found = 0;
    for ack in &tally.acknowledged {
        let events = backend
            .stream("product", &ack.product, ack.version - 1, 1)
            .await
            .unwrap();
        if events.first().is_some_and(|e| e.sequence == ack.version) {
            found += 1;
        }
    }
    found
}

/// Every stored event, and how many of them are on the topics, and how many records more.
pub(crate) async fn on_kafka(backend: &dyn EventBackend, bootstrap: &str) -> (usize, usize, usize) {
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = backend.read_after(after, 10_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.global_position;
        stored.extend(page.into_iter().map(|e| e.metadata.event_id.to_string()));
    }
    let records = drain(bootstrap, &TOPICS);
    let ids: Vec<&str> = records.iter().map(|r| r.header("event_id")).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    let present = stored
        .iter()
        .filter(|id| unique.contains(id.as_str()))
        .count();
    (stored.len(), present, ids.len() - unique.len())
}

/// Waits until the relay published everything and each projector caught up.
pub(crate) async fn settled(api: &str, admin: &Client) {
    let mut seen = (Value::Null, Value::Null);
    let get = |path: &str| {
        let request = admin.get(format!("{api}{path}"));
        async move {
            let response = request.send().await.ok()?;
            response.json::<Value>().await.ok()
        }
    };
    for _ in 0..600 {
        let relay = get("/v1/relay").await.unwrap_or(Value::Null);
        let projections = get("/v1/projections").await.unwrap_or(Value::Null);
        let relayed = relay[0]["lag_events"] == 0;
        let caught_up = projections
            .as_array()
            .is_some_and(|all| !all.is_empty() && all.iter().all(|p| p["lag"] == 0));
        if relayed && caught_up {
            return;
        }
        seen = (relay, projections);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the relay or the projectors did not catch up within a minute: {} {}",
        seen.0, seen.1
    );
}

mod kill_up {
    //! `eventmall up` killed with SIGKILL under load, and started again.

    use std::path::Path;

    use eventmall_kafka::broker::free_port;
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio::process::{Child, Command};

    use super::*;
    use crate::auth::keys_command;
    use crate::helpers::client_with;

    /// `eventmall up` on `data`, with no rate limit and short lease and session timeouts.
    fn start_up(data: &Path, api: u16, broker: u16) -> Command {
        let mut command = crate::up::eventmall(data, api, broker);
        command
            .arg("up")
            .env("EVENTMALL__AUTH__RATE_PER_SECOND", "0")
            .env("EVENTMALL__RELAY__LEASE_TTL_MS", "2000")
            .env("EVENTMALL__PROJECTORS__SESSION_TIMEOUT_MS", "6000");
        command
    }

    async fn ready(api: &str, child: &mut Child) {
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("eventmall up exited: {status}");
            }
            let ready = reqwest::get(format!("{api}/readyz")).await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("eventmall up was not ready within a minute");
    }

    async fn keys_create_admin(data: &Path) -> String {
        let printed = keys_command(data, None, &["create", "--role", "admin"]).await;
        let issued: Value = serde_json::from_str(&printed).unwrap();
        issued["secret"].as_str().unwrap().to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_acknowledged_command_is_lost_and_the_read_models_equal_a_rebuild() {
        let data = tempfile::tempdir().unwrap();
        let (api_port, broker_port) = (free_port().unwrap(), free_port().unwrap());
        let api = format!("http://127.0.0.1:{api_port}");
        let secret = keys_create_admin(data.path()).await;
        let admin = client_with(&secret);
        let mut up = start_up(data.path(), api_port, broker_port)
            .spawn()
            .unwrap();
        ready(&api, &mut up).await;

        let load = Load::start(&api, &admin, 4, "kill");
        tokio::time::sleep(Duration::from_secs(4)).await;
        let pid = Pid::from_raw(i32::try_from(up.id().unwrap()).unwrap());
        kill(pid, Signal::SIGKILL).unwrap();
        up.wait().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tally = load.finish().await;

        let mut up = start_up(data.path(), api_port, broker_port)
            .spawn()
            .unwrap();
        ready(&api, &mut up).await;
        settled(&api, &admin).await;
        let url = format!("sqlite://{}", data.path().join("eventmall.db").display());
        let store = eventmall_store::connect_reader(&url).await.unwrap();
        let found = found(store.as_ref(), &tally).await;
        let (stored, on_topics, repeated) =
            on_kafka(store.as_ref(), &format!("127.0.0.1:{broker_port}")).await;
        println!(
            "kill -9 of eventmall up: {} commands sent, {} acknowledged, {found} found in the \
             store; {stored} events stored, {on_topics} on Kafka ({repeated} records sent again); \
             answers {:?}",
            tally.sent,
            tally.acknowledged.len(),
            tally.answers
        );
        assert!(tally.acknowledged.len() > 50, "{tally:?}");
        assert_eq!(
            found,
            tally.acknowledged.len(),
            "acknowledged commands lost"
        );
        assert_eq!(on_topics, stored, "stored events missing on Kafka");

        // Every read model equals a clean rebuild from the log.
        for projection in ["order-views", "search", "recommendations"] {
            let output = Command::new(env!("CARGO_BIN_EXE_eventmall"))
                .arg("--data-dir")
                .arg(data.path())
                .args(["replay", "verify", projection])
                .env("EVENTMALL__BROKER__PORT", broker_port.to_string())
                .env_remove("KAFKA_BOOTSTRAP_SERVERS")
                .env("EVENTMALL__LOG__FILTER", "warn")
                .output()
                .await
                .unwrap();
            assert!(
                output.status.success(),
                "{projection} differs from a rebuild: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        kill(
            Pid::from_raw(i32::try_from(up.id().unwrap()).unwrap()),
            Signal::SIGTERM,
        )
        .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(20), up.wait()).await;
    }
}

mod broker_down {
    //! The broker stopped for 30 s under load.

    use super::*;
    use crate::helpers::{spawn_app_with, sqlite_backend};
    use crate::kafka::TestBroker;
    use crate::replay::configure;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commands_are_accepted_the_lag_recovers_and_nothing_is_lost_or_doubled() {
        let mut broker = TestBroker::durable().await;
        let bootstrap = broker.bootstrap();
        let app = spawn_app_with(sqlite_backend().await, |settings| {
            configure(settings, &bootstrap)
        })
        .await;
        let (_relay, _stop_relay) = app.start_relay(&broker).await;
        let (_projectors, _stop) = app.start_supervisor(&broker).await;
        let load = Load::start(&app.address, &app.client, 2, "broker");
        tokio::time::sleep(Duration::from_secs(3)).await;
        broker.stop().await;
        let stopped = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(30)).await;
        broker.restart().await;
        let down = stopped.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let tally = load.finish().await;

        let backend = app.backend().as_ref();
        let restarted = tokio::time::Instant::now();
        settled(&app.address, &app.client).await;
        let recovered = restarted.elapsed();
        let found = found(backend, &tally).await;
        let (stored, on_topics, repeated) = on_kafka(backend, &broker.bootstrap()).await;
        println!(
            "broker down {:.0} s: {} commands sent, {} acknowledged, {found} found in the store; \
             {stored} events stored, {on_topics} on Kafka ({repeated} records sent again); lag \
             recovered {:.1} s after the restart; answers {:?}",
            down.as_secs_f64(),
            tally.sent,
            tally.acknowledged.len(),
            recovered.as_secs_f64(),
            tally.answers
        );
        let refused: u64 = tally
            .answers
            .iter()
            .filter(|(status, _)| !status.starts_with('2'))
            .map(|(_, count)| count)
            .sum();
        assert_eq!(
            refused, 0,
            "commands were refused while the broker was down"
        );
        assert!(tally.acknowledged.len() > 100, "{tally:?}");
        assert_eq!(found, tally.acknowledged.len());
        assert_eq!(on_topics, stored, "stored events missing on Kafka");
        // Applied once each: every read model equals a clean rebuild.
        let replay = app.replay(&broker);
        for projection in ["order-views", "search", "recommendations"] {
            let verified = replay.verify(projection).await.unwrap();
            assert!(verified.clean, "{projection}: {verified:?}");
        }
    }
}

mod postgres_restart {
    //! PostgreSQL restarted under load: a cluster of the test's own, so that no other test
    //! loses its database.

    use std::path::PathBuf;
    use std::process::Command;

    use eventmall_kafka::broker::free_port;

    use super::*;
    use crate::helpers::{TestDb, spawn_app_with};
    use crate::kafka::TestBroker;
    use crate::replay::configure;

    /// A PostgreSQL cluster in a directory of its own, on a free port.
    struct Cluster {
        dir: tempfile::TempDir,
        bin: PathBuf,
        port: u16,
    }

    /// Runs a PostgreSQL program as the `postgres` user; panics, never skips, when it fails.
    fn as_postgres(program: PathBuf, args: &[&str]) {
        let output = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("runuser {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?}: {}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    impl Cluster {
        fn start() -> Self {
            let bin = std::fs::read_dir("/usr/lib/postgresql")
                .expect("PostgreSQL is installed (scripts/start-postgres installs it)")
                .flatten()
                .map(|version| version.path().join("bin"))
                .find(|bin| bin.join("initdb").exists())
                .expect("PostgreSQL's initdb");
            let dir = tempfile::tempdir().unwrap();
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
            let data = dir.path().join("data");
            as_postgres(
                bin.join("initdb"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
            );
            let cluster = Self {
                dir,
                bin,
                port: free_port().unwrap(),
            };
            cluster.up();
            cluster
        }

        fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
        }

        fn up(&self) {
            let data = self.dir.path().join("data");
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            );
            let log = self.dir.path().join("log");
            as_postgres(
                self.bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-o",
                    &options,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "start",
                ],
            );
        }

        fn down(&self) {
            let data = self.dir.path().join("data");
            as_postgres(
                self.bin.join("pg_ctl"),
                &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
            );
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            let data = self.dir.path().join("data");
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
                .output();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commands_get_503_while_it_is_down_nothing_is_half_applied_and_all_recovers() {
        let cluster = Cluster::start();
        let url = cluster.url();
        let broker = TestBroker::in_memory().await;
        let bootstrap = broker.bootstrap();
        let backend = eventmall_store::connect(&url, 8).await.unwrap();
        let db = TestDb::Postgres { url: url.clone() };
        let app = spawn_app_with((backend, db), |settings| {
            configure(settings, &bootstrap);
            settings.projectors.url = url.clone();
        })
        .await;
        let (_relay, _stop_relay) = app.start_relay(&broker).await;
        let (_projectors, _stop) = app.start_supervisor(&broker).await;

        let load = Load::start(&app.address, &app.client, 2, "pg");
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.down();
        tokio::time::sleep(Duration::from_secs(5)).await;
        cluster.up();
        let restarted = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let tally = load.finish().await;

        settled(&app.address, &app.client).await;
        let recovered = restarted.elapsed();
        let backend = app.backend().as_ref();
        let found = found(backend, &tally).await;
        let (stored, on_topics, repeated) = on_kafka(backend, &broker.bootstrap()).await;
        println!(
            "PostgreSQL restarted (5 s down): {} commands sent, {} acknowledged, {found} found in \
             the store; {stored} events stored, {on_topics} on Kafka ({repeated} records sent \
             again); settled {:.1} s after the restart; answers {:?}",
            tally.sent,
            tally.acknowledged.len(),
            recovered.as_secs_f64(),
            tally.answers
        );
        assert!(
            tally.answers.get("503").is_some_and(|n| *n > 0),
            "{tally:?}"
        );
        let failed: u64 = tally
            .answers
            .iter()
            .filter(|(status, _)| !matches!(status.as_str(), "200" | "201" | "503"))
            .map(|(_, count)| count)
            .sum();
        assert_eq!(
            failed, 0,
            "answers other than success or 503: {:?}",
            tally.answers
        );
        assert_eq!(
            found,
            tally.acknowledged.len(),
            "acknowledged commands lost"
        );
        assert_eq!(on_topics, stored, "stored events missing on Kafka");
        // Nothing half-applied: each product's events are its sequences 1..n, one per command
        // its worker sent and had recorded, and commands succeed again.
        let mut products: BTreeMap<&str, i64> = BTreeMap::new();
        for ack in &tally.acknowledged {
            let top = products.entry(&ack.product).or_default();
            *top = (*top).max(ack.version);
        }
        for (product, acknowledged) in &products {
            let events = backend
                .stream("product", product, 0, 100_000)
                .await
                .unwrap();
            let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
            let expected: Vec<i64> = (1..=sequences.len() as i64).collect();
            assert_eq!(sequences, expected, "{product}");
            assert!(sequences.len() as i64 >= *acknowledged);
        }
        let after = Load::start(&app.address, &app.client, 1, "pg-after");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = after.finish().await;
        assert!(!after.acknowledged.is_empty(), "{after:?}");
        let replay = app.replay(&broker);
        for projection in ["order-views", "search", "recommendations"] {
            let verified = replay.verify(projection).await.unwrap();
            assert!(verified.clean, "{projection}: {verified:?}");
        }
    }
}
