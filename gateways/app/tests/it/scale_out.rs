//! The compose roles run for real on this machine, each its own process, as
//! `docker-compose.yml` runs them: PostgreSQL for the event store and the read models, one
//! local broker, `serve --project search` ×2, `relay` ×2, `project order-views recommendations`
//! ×2, `ingest consume` ×2 and `policy`. Commands go through both API replicas; the active
//! relay is killed, then one projector instance; at the end nothing acknowledged is lost and
//! every read model equals a clean rebuild.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use eventmall_events::{PartnerId, ProductId};
use eventmall_kafka::broker::free_port;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::auth::keys_command;
use crate::faults::{Load, found, on_kafka, settled};
use crate::helpers::{client_with, get_json, postgres_db};
use crate::kafka::TestBroker;

/// The relays' lease, short so the test is: the standby must take over within it.
const LEASE_TTL_MS: u64 = 3_000;
/// How long a group waits for a silent member before its partitions move.
const SESSION_TIMEOUT_MS: u64 = 6_000;

/// One role's process and where its log goes.
struct Role {
    name: String,
    child: Child,
    log: PathBuf,
    /// Where it serves `GET /metrics` without a key.
    metrics: String,
}

/// The processes of one deployment, over one database and one broker.
struct Deployment {
    root: tempfile::TempDir,
    store_url: String,
    bootstrap: String,
    roles: Vec<Role>,
}

impl Deployment {
    /// `eventmall <args>` as the role `name`, with the compose file's variables: its values
    /// but for the addresses (this machine's in place of the containers') and the pool size
    /// (nine processes share one PostgreSQL of 100 connections here); then the test's own.
    fn command(&self, name: &str, args: &[&str]) -> Command {
        let data = self.root.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_eventmall"));
        for (variable, value) in compose_environment() {
            let value = match variable.as_str() {
                "EVENTMALL__STORE__URL" | "EVENTMALL__PROJECTORS__URL" => self.store_url.clone(),
                "KAFKA_BOOTSTRAP_SERVERS" => self.bootstrap.clone(),
                "EVENTMALL__DATA_DIR" => data.display().to_string(),
                "EVENTMALL__STORE__MAX_CONNECTIONS" => "4".to_owned(),
                // Each role's own, set by `start`.
                "EVENTMALL__TELEMETRY__METRICS_ADDR" => String::new(),
                _ => value,
            };
            command.env(variable, value);
        }
        command
            .args(args)
            .env("EVENTMALL__RELAY__LEASE_TTL_MS", LEASE_TTL_MS.to_string())
            .env(
                "EVENTMALL__PROJECTORS__SESSION_TIMEOUT_MS",
                SESSION_TIMEOUT_MS.to_string(),
            )
            .env("EVENTMALL__AUTH__RATE_PER_SECOND", "0")
            .env("EVENTMALL__LOG__FILTER", "warn,eventmall_kafka::relay=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Starts the role `name`, its log in the deployment's folder.
    fn start(&mut self, name: &str, args: &[&str], env: &[(&str, String)]) {
        let log = self.root.path().join(format!("{name}.log"));
        let metrics = format!("127.0.0.1:{}", free_port().unwrap());
        let mut command = self.command(name, args);
        command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("EVENTMALL__TELEMETRY__METRICS_ADDR", &metrics);
        let child = command
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.roles.push(Role {
            name: name.to_owned(),
            child,
            log,
            metrics: format!("http://{metrics}/metrics"),
        });
    }

    /// Kills the role `name` with SIGKILL, as a crash would.
    async fn kill(&mut self, name: &str) {
        let at = self.roles.iter().position(|r| r.name == name).unwrap();
        let mut role = self.roles.remove(at);
        let pid = Pid::from_raw(i32::try_from(role.child.id().unwrap()).unwrap());
        kill(pid, Signal::SIGKILL).unwrap();
        role.child.wait().await.unwrap();
    }

    /// Panics with the role's log when a role has exited.
    fn check_alive(&mut self) {
        for role in &mut self.roles {
            if let Some(status) = role.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(&role.log).unwrap_or_default();
                panic!("{} exited with {status}:\n{log}", role.name);
            }
        }
    }

    /// `eventmall replay verify <projection>` as the role `name` sees it.
    async fn verify(&self, name: &str, projection: &str, env: &[(&str, String)]) {
        let output = self
            .command(name, &["replay", "verify", projection])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{projection} ({name}) differs from a rebuild: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The compose file's environment of its Eventmall services (one anchor, shared by all).
fn compose_environment() -> Vec<(String, String)> {
    let services = compose_services();
    let environment = services["api"]["environment"].as_mapping().unwrap();
    let scalar = |value: &serde_yaml::Value| match value {
        serde_yaml::Value::String(text) => text.clone(),
        other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
    };
    environment
        .iter()
        .map(|(name, value)| (scalar(name), scalar(value)))
        .collect()
}

fn compose_services() -> serde_yaml::Mapping {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docker-compose.yml");
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    compose["services"].as_mapping().unwrap().clone()
}

/// Each Eventmall service's command line in the compose file.
fn compose_roles() -> std::collections::BTreeSet<Vec<String>> {
    compose_services()
        .values()
        .filter(|service| service.get("build").is_some())
        .map(|service| {
            let command = service["command"].as_sequence().unwrap();
            command
                .iter()
                .map(|word| word.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

async fn ready(deployment: &mut Deployment, api: &str) {
    for _ in 0..900 {
        deployment.check_alive();
        let ready = reqwest::get(format!("{api}/readyz")).await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{api} was not ready within 90 s");
}

/// When the relay logging to `log` last took the lease, from its log line's own timestamp (so
/// the time an API takes to report the new holder is not counted).
fn lease_taken_at(log: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
    let log = std::fs::read_to_string(log).ok()?;
    let line = log
        .lines()
        .rfind(|line| line.contains("relay holds the lease"))?;
    // The log is coloured: the timestamp is the first word once escape sequences are gone.
    let plain: String = line
        .split('\x1b')
        .map(|part| {
            part.split_once('m')
                .filter(|_| part.starts_with('['))
                .map_or(part, |(_, rest)| rest)
        })
        .collect();
    plain.split_whitespace().next()?.parse().ok()
}

/// The relay holding the lease, as the API reports it.
async fn holder(api: &str, admin: &Client) -> String {
    let relays = get_json(admin, &format!("{api}/v1/relay")).await;
    relays[0]["holder"].as_str().unwrap_or_default().to_owned()
}

/// Places orders of the load's products, each to be paid with a wallet by the payment policy;
/// answers their ids.
async fn orders(api: &str, admin: &Client, tag: &str, count: usize) -> Vec<String> {
    let mut placed = Vec::new();
    for n in 0..count {
        let partner = PartnerId::from(format!("{tag}-{}", n % 3).as_str());
        let product = ProductId::for_partner_sku(&partner, "F-1").to_string();
        let customer = format!("{tag}-customer-{n}");
        let body = json!({"customer_id": customer, "wallet_id": format!("wallet-{customer}"),
                          "lines": [{"product_id": product, "quantity": 1}]});
        let answer = admin
            .post(format!("{api}/v1/orders"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        let receipt: Value = answer.json().await.unwrap();
        placed.push(receipt["aggregate_id"].as_str().unwrap().to_owned());
    }
    placed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_as_its_own_process_survives_a_relay_and_a_projector_killed() {
    let database = postgres_db().await;
    let broker = TestBroker::in_memory().await;
    let mut deployment = Deployment {
        root: tempfile::tempdir().unwrap(),
        store_url: database.url(),
        bootstrap: broker.bootstrap(),
        roles: Vec::new(),
    };
    // The roles below are the compose file's, one for one.
    let started: std::collections::BTreeSet<Vec<String>> = [
        &["migrate"][..],
        &["relay"],
        &["serve", "--project", "search"],
        &["project", "order-views", "recommendations"],
        &["ingest", "consume"],
        &["policy"],
    ]
    .iter()
    .map(|args| args.iter().map(|word| (*word).to_owned()).collect())
    .collect();
    assert_eq!(
        started,
        compose_roles(),
        "the compose file runs other roles"
    );
    let migrated = deployment
        .command("migrate", &["migrate"])
        .status()
        .await
        .unwrap();
    assert!(migrated.success());
    let admin_dir = deployment.root.path().join("keys");
    let printed = keys_command(
        &admin_dir,
        Some(&deployment.store_url),
        &["create", "--role", "admin"],
    )
    .await;
    let issued: Value = serde_json::from_str(&printed).unwrap();
    let admin = client_with(issued["secret"].as_str().unwrap());

    // The relays first: they make the event topics the others subscribe to.
    deployment.start("relay-1", &["relay"], &[]);
    deployment.start("relay-2", &["relay"], &[]);
    let apis: Vec<String> = (1..=2)
        .map(|n| {
            let port = free_port().unwrap();
            let env = [
                ("EVENTMALL__HTTP__ADDR", format!("127.0.0.1:{port}")),
                ("EVENTMALL__PROJECTORS__SEARCH_REPLICA", format!("api-{n}")),
            ];
            deployment.start(&format!("api-{n}"), &["serve", "--project", "search"], &env);
            format!("http://127.0.0.1:{port}")
        })
        .collect();
    for api in &apis {
        ready(&mut deployment, api).await;
    }
    for n in 1..=2 {
        deployment.start(
            &format!("project-{n}"),
            &["project", "order-views", "recommendations"],
            &[],
        );
        deployment.start(&format!("ingest-{n}"), &["ingest", "consume"], &[]);
    }
    deployment.start("policy", &["policy"], &[]);

    let loads = [
        Load::start(&apis[0], &admin, 3, "one"),
        Load::start(&apis[1], &admin, 3, "two"),
    ];
    tokio::time::sleep(Duration::from_secs(5)).await;
    deployment.check_alive();

    // The active relay dies; the standby takes the lease once it expires.
    let active = holder(&apis[0], &admin).await;
    let relay = ["relay-1", "relay-2"]
        .into_iter()
        .find(|name| {
            let log = std::fs::read_to_string(deployment.root.path().join(format!("{name}.log")));
            log.is_ok_and(|log| log.contains(&active))
        })
        .unwrap_or_else(|| panic!("no relay logged the holder {active}"));
    let killed = chrono::Utc::now();
    deployment.kill(relay).await;
    let standby = if relay == "relay-1" {
        "relay-2"
    } else {
        "relay-1"
    };
    let mut took_over = None;
    for _ in 0..300 {
        let now = holder(&apis[1], &admin).await;
        if !now.is_empty() && now != active {
            took_over = lease_taken_at(&deployment.root.path().join(format!("{standby}.log")))
                .map(|at| (at - killed).to_std().unwrap_or_default());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took_over = took_over.expect("the standby relay took the lease and logged it");

    // One projector instance dies; its partitions go to the other after the session timeout.
    deployment.kill("project-1").await;
    tokio::time::sleep(Duration::from_millis(SESSION_TIMEOUT_MS + 3_000)).await;
    deployment.check_alive();
    let [first, second] = loads;
    let mut tally = first.finish().await;
    tally.add(second.finish().await);
    let mut placed = orders(&apis[0], &admin, "one", 10).await;
    placed.extend(orders(&apis[1], &admin, "two", 10).await);

    for api in &apis {
        settled(api, &admin).await;
    }
    let store = eventmall_store::connect(&deployment.store_url, 4)
        .await
        .unwrap();
    let found = found(store.as_ref(), &tally).await;
    let (stored, on_topics, repeated) = on_kafka(store.as_ref(), &deployment.bootstrap).await;
    println!(
        "scale-out: {} commands sent through 2 API replicas, {} acknowledged, {found} found in \
         the store; {} orders placed and paid by the policy; {stored} events stored, {on_topics} on Kafka \
         ({repeated} records sent again); the standby relay took over {:.1} s after the kill \
         (lease TTL {:.1} s); answers {:?}",
        tally.sent,
        tally.acknowledged.len(),
        placed.len(),
        took_over.as_secs_f64(),
        LEASE_TTL_MS as f64 / 1000.0,
        tally.answers,
    );
    assert!(tally.acknowledged.len() > 100, "{tally:?}");
    assert_eq!(
        found,
        tally.acknowledged.len(),
        "acknowledged commands lost"
    );
    assert_eq!(on_topics, stored, "stored events missing on Kafka");
    assert!(
        took_over <= Duration::from_millis(LEASE_TTL_MS + 1_000),
        "the standby took {took_over:?}, past the lease TTL"
    );
    // The policy paid every order; each API replica's order view says so.
    for (n, order) in placed.iter().enumerate() {
        let api = &apis[n % 2];
        let view = get_json(&admin, &format!("{api}/v1/orders/{order}")).await;
        assert_eq!(view["status"], "paid", "{view}");
    }

    // Each role serves its own metrics without a key, as Prometheus scrapes them in compose.
    for role in &deployment.roles {
        let expected = match role.name.split('-').next().unwrap() {
            "api" => "eventmall_http_requests_total",
            "relay" => "eventmall_relay_lag_events",
            "project" => "eventmall_projector_applied_total",
            "ingest" => "eventmall_consumer_rebalances_total",
            _ => "eventmall_policy_steps_total",
        };
        let scraped = reqwest::get(&role.metrics).await.unwrap();
        assert_eq!(scraped.status(), 200, "{}", role.name);
        let text = scraped.text().await.unwrap();
        assert!(
            text.contains(expected),
            "{} has no {expected}:\n{text}",
            role.name
        );
    }

    for projection in ["order-views", "recommendations"] {
        deployment.verify("project-2", projection, &[]).await;
    }
    for n in 1..=2 {
        let replica = [("EVENTMALL__PROJECTORS__SEARCH_REPLICA", format!("api-{n}"))];
        deployment
            .verify(&format!("api-{n}"), "search", &replica)
            .await;
    }
}
