//! Rebuilds as an operator runs them: the CLI killed with SIGKILL and run again, one rebuild
//! per projection at a time, and the admin routes.

use std::collections::BTreeMap;
use std::time::Duration;

use eventmall_projections::Generation;
use eventmall_read_models::generations::{self, GenerationState};
use eventmall_read_models::replays;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{configure, replay_app};
use crate::helpers::{TestApp, spawn_app_with, sqlite_backend};
use crate::kafka::TestBroker;
use crate::projector::{Subject, applied, published_world, wait_applied};

/// `eventmall replay …` against the app's store and read models, as its own process.
fn replay_process(app: &TestApp, broker: &TestBroker, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .arg("replay")
        .args(args)
        .arg("--data-dir")
        .arg(app.data.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .env("EVENTMALL__STORE__URL", app.store_url())
        .env("EVENTMALL__PROJECTORS__BATCH_SIZE", "2")
        .env("EVENTMALL__PROJECTORS__BATCH_WAIT_MS", "5")
        .env("EVENTMALL__REPLAY__LEASE_TTL_MS", "3000")
        .env("EVENTMALL__REPLAY__PROGRESS_EVERY_MS", "50")
        .env("EVENTMALL__LOG__FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn offsets(checkpoints: &[eventmall_projections::Checkpoint]) -> i64 {
    checkpoints.iter().map(|c| c.next_offset).sum()
}

/// A rebuild killed with SIGKILL part of the way keeps a second rebuild out while its lease
/// lasts, is then taken up again from its generation's checkpoints, and ends equal to a clean
/// rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_rebuild_resumes_from_its_checkpoints_and_ends_equal_to_a_clean_rebuild() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 1000).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    let subject = Subject::OrderViews;
    let total = subject.records(&broker);
    wait_applied(subject.live(&app).as_ref(), total).await;

    let mut first = replay_process(
        &app,
        &broker,
        &["rebuild", "order-views", "--json", "--swap", "manual"],
    );
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let rebuild_id = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("no progress within a minute")
            .unwrap()
            .expect("the rebuild ended before a third of the way");
        let progress: Value = serde_json::from_str(&line).unwrap();
        let rebuild_id = progress["rebuild_id"].as_str().unwrap().to_owned();
        let applied: i64 = progress["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["applied"].as_i64().unwrap())
            .sum();
        if applied >= total / 3 {
            break rebuild_id;
        }
    };

    first.start_kill().unwrap();
    first.wait().await.unwrap();

    // One at a time: while the killed rebuild's lease lasts, a second one is refused, naming
    // the holder.
    let refusal = app
        .replay(&broker)
        .begin("order-views")
        .await
        .err()
        .expect("a second rebuild was let in")
        .to_string();
    assert!(
        refusal.contains("a rebuild of order-views is running")
            && refusal.contains(&rebuild_id)
            && refusal.contains("held by"),
        "{refusal}"
    );
    let pool = app.stores().pool;
    let building = app
        .stores()
        .open("order-views", Generation(2))
        .await
        .unwrap()
        .projection();
    let at_kill = building.checkpoints().await.unwrap();
    assert!(
        offsets(&at_kill) > 0 && offsets(&at_kill) < total,
        "killed part of the way: {} of {total}",
        offsets(&at_kill)
    );
    assert_eq!(
        generations::state_of(&pool, "order-views", Generation(2))
            .await
            .unwrap(),
        Some(GenerationState::Building)
    );
    // Its lease runs out: the rebuild shows as abandoned.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while replays::rebuild(&pool, &rebuild_id)
        .await
        .unwrap()
        .unwrap()
        .state
        != "abandoned"
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let resumed = replay_process(
        &app,
        &broker,
        &["rebuild", "order-views", "--swap", "manual"],
    )
    .wait_with_output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("resuming rebuild"), "{stderr}");
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    let ended: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(ended["rebuild_id"], rebuild_id.as_str());
    assert_eq!(ended["generation"], 2);
    assert_eq!(ended["outcome"], "ready");
    let resumed_from: i64 = ended["resumed_from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["next_offset"].as_i64().unwrap())
        .sum();
    assert!(
        resumed_from >= offsets(&at_kill) && resumed_from > 0,
        "resumed from {resumed_from}, killed at {}",
        offsets(&at_kill)
    );

    let swapped = replay_process(&app, &broker, &["swap", "order-views"])
        .wait_with_output()
        .await
        .unwrap();
    assert!(
        swapped.status.success(),
        "{}",
        String::from_utf8_lossy(&swapped.stderr)
    );
    app.wait_serving(subject, Generation(2)).await;
    assert_eq!(applied(building.as_ref()).await, total);
    let verified = app.replay(&broker).verify("order-views").await.unwrap();
    assert!(verified.clean, "{verified:#?}");
}

/// The admin routes mirror the CLI: a rebuild started over HTTP, followed at its `Location`,
/// refused when one runs, shown in `GET /v1/projections`; swap, rollback and verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_routes_rebuild_swap_roll_back_and_verify() {
    let broker = TestBroker::in_memory().await;
    let bootstrap = broker.bootstrap();
    let app = spawn_app_with(sqlite_backend().await, move |settings| {
        configure(settings, &bootstrap);
        settings.projectors.batch_size = 5;
    })
    .await;
    published_world(&app, &broker, 100).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    wait_applied(
        Subject::Search.live(&app).as_ref(),
        Subject::Search.records(&broker),
    )
    .await;

    let started = app
        .post(
            "/v1/admin/projections/search/rebuilds",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    let location = started.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(started.body["generation"], 2);
    let again = app
        .post(
            "/v1/admin/projections/search/rebuilds",
            serde_json::json!({}),
        )
        .await;
    again.assert_problem(409, "rebuild-running");
    assert!(again.body["detail"].as_str().unwrap().contains("held by"));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut phases = BTreeMap::new();
    let rebuild = loop {
        let rebuild = app.get(&location).await;
        assert_eq!(rebuild.status, 200, "{}", rebuild.body);
        if let Some(phase) = rebuild.body["progress"]["phase"].as_str() {
            *phases.entry(phase.to_owned()).or_insert(0) += 1;
        }
        if rebuild.body["state"] != "running" {
            break rebuild;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", rebuild.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rebuild.body["state"], "swapped", "{}", rebuild.body);
    assert!(phases.contains_key("building"), "{phases:?}");
    let topics = rebuild.body["progress"]["topics"].as_array().unwrap();
    assert!(
        topics
            .iter()
            .all(|t| t["remaining"] == 0 && t["total"].as_i64() > Some(0)),
        "{topics:?}"
    );

    app.wait_serving(Subject::Search, Generation(2)).await;
    let status = app.get("/v1/projections").await;
    let search = status
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "search")
        .unwrap();
    assert_eq!(search["generation"], 2);
    assert_eq!(search["rebuilds"][0]["state"], "swapped");
    let states: Vec<&str> = search["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["retired", "live"]);

    let rolled = app
        .post(
            "/v1/admin/projections/search/rollback",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(rolled.body["serving"], 1);
    app.post("/v1/admin/projections/search/swap", serde_json::json!({}))
        .await
        .assert_problem(409, "replay-refused");
    let swapped = app
        .post(
            "/v1/admin/projections/search/swap",
            serde_json::json!({"generation": 2}),
        )
        .await;
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    assert_eq!(swapped.body["serving"], 2);
    let verified = app
        .post("/v1/admin/projections/search/verify", serde_json::json!({}))
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert_eq!(verified.body["clean"], true, "{}", verified.body);
    app.post(
        "/v1/admin/projections/nothing/rollback",
        serde_json::json!({}),
    )
    .await
    .assert_problem(404, "not-found");

    let collected = app.replay(&broker).gc("search", 0).await.unwrap();
    assert_eq!(collected.len(), 1, "{collected:?}");
    assert!(!app.settings.search_dir().join("g1").exists());
    assert!(app.settings.search_dir().join("g2").exists());
}

/// Runs `eventmall replay <args>` to its end; answers its stdout, failing on a failed exit.
async fn replay_cli(app: &TestApp, broker: &TestBroker, args: &[&str]) -> String {
    let output = replay_process(app, broker, args)
        .wait_with_output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "replay {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every `replay` subcommand through the binary, as an operator types it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_replay_command_runs_from_the_command_line() {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 20).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    wait_applied(
        Subject::OrderViews.live(&app).as_ref(),
        Subject::OrderViews.records(&broker),
    )
    .await;

    let status: Value =
        serde_json::from_str(&replay_cli(&app, &broker, &["status", "order-views"]).await).unwrap();
    assert_eq!(status["generations"][0]["state"], "live");
    let verified: Value =
        serde_json::from_str(&replay_cli(&app, &broker, &["verify", "order-views"]).await).unwrap();
    assert_eq!(verified["clean"], true);
    let plan: Value = serde_json::from_str(
        &replay_cli(
            &app,
            &broker,
            &[
                "reset-offsets",
                "--group",
                "eventmall.order-views.g1",
                "--to-earliest",
            ],
        )
        .await,
    )
    .unwrap();
    assert_eq!(plan["executed"], false);
    let sent: Value = serde_json::from_str(
        &replay_cli(
            &app,
            &broker,
            &["republish", "--from-position", "1", "--to-position", "3"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(sent["last_position"], 3);

    let rebuilt = replay_cli(&app, &broker, &["rebuild", "order-views"]).await;
    let rebuilt: Value = serde_json::from_str(rebuilt.lines().last().unwrap()).unwrap();
    assert_eq!(rebuilt["outcome"], "swapped");
    let rolled: Value =
        serde_json::from_str(&replay_cli(&app, &broker, &["rollback", "order-views"]).await)
            .unwrap();
    assert_eq!(rolled["serving"], 1);
    let collected = replay_cli(&app, &broker, &["gc", "order-views", "--keep", "0"]).await;
    let collected: Value = serde_json::from_str(collected.lines().next().unwrap()).unwrap();
    assert_eq!(collected["generation"], 2);

    let unknown = replay_process(&app, &broker, &["verify", "orders"])
        .wait_with_output()
        .await
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no projection orders"));
}
