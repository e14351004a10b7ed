//! The replay tooling end to end: rebuilds swapped in under read load (here); a rebuild killed
//! with SIGKILL and resumed, one rebuild per projection at a time, and the admin routes
//! (`handover.rs`); verify, rollback, garbage collection, offset resets, republish and
//! upcasting through a rebuild (`tools.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use eventmall::startup::supervisor;
use eventmall_kafka::replay::{Outcome, RebuildOptions, Rebuilt, Replay};
use eventmall_projections::Generation;
use eventmall_read_models::generations::{self, GenerationState};
use eventmall_read_models::{ReadModels, Stores};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::helpers::{TestApp, spawn_app_with, sqlite_backend};
use crate::kafka::{TestBroker, kafka_settings};
use crate::projector::{Subject, published_world, wait_applied};

mod handover;
mod tools;

/// An app on `broker` whose processes look at the serving generations every 50 ms, and whose
/// rebuilds report every 100 ms and hold a 2 s lease.
pub(super) async fn replay_app(broker: &TestBroker) -> TestApp {
    let bootstrap = broker.bootstrap();
    spawn_app_with(sqlite_backend().await, move |settings| {
        configure(settings, &bootstrap);
    })
    .await
}

pub(super) fn configure(settings: &mut eventmall::config::Settings, bootstrap: &str) {
    settings.kafka = kafka_settings();
    settings.kafka.bootstrap_servers = bootstrap.to_owned();
    settings.projectors.read_wait_ms = 5_000;
    settings.projectors.batch_wait_ms = 5;
    settings.projectors.follow_ms = 50;
    settings.replay.progress_every_ms = 100;
    settings.replay.lease_ttl_ms = 2_000;
}

impl TestApp {
    /// The app's read-model stores (sharing its open search indexes).
    pub(super) fn stores(&self) -> Stores {
        self.serving.stores().clone()
    }

    /// The replay tooling over this app's read models and `broker`.
    pub(super) fn replay(&self, broker: &TestBroker) -> Replay {
        Replay::new(
            self.stores(),
            self.codec(),
            &broker.bootstrap(),
            &self.settings.projectors.runtime(),
            &self.settings.replay,
        )
        .unwrap()
    }

    /// The projector role in this process: every followed generation of every read model.
    pub(super) async fn start_supervisor(
        &self,
        broker: &TestBroker,
    ) -> (JoinHandle<()>, DropGuard) {
        let supervisor = supervisor(
            &self.settings,
            &self.stores(),
            self.codec(),
            &broker.bootstrap(),
            &[],
        )
        .await
        .unwrap()
        .every(Duration::from_millis(100));
        let stop = CancellationToken::new();
        let running = tokio::spawn({
            let stop = stop.clone();
            async move { supervisor.run(stop).await.unwrap() }
        });
        (running, stop.drop_guard())
    }

    /// Waits until this app serves `generation` of `subject`.
    pub(super) async fn wait_serving(&self, subject: Subject, generation: Generation) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while serving(&self.serving.current(), subject) != generation {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} {generation} is not served",
                subject.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Rebuilds `name` to its end with `options`.
pub(super) async fn rebuild(replay: &Replay, name: &str, options: &RebuildOptions) -> Rebuilt {
    let began = replay.begin(name).await.unwrap();
    replay
        .run(began, options, |_| {}, CancellationToken::new())
        .await
        .unwrap()
}

fn serving(views: &ReadModels, subject: Subject) -> Generation {
    views
        .projection(subject.name())
        .map(|p| p.generation())
        .unwrap()
}

/// The read routes a subject serves, for the ids of the demo world: each path with its answer
/// before the rebuild.
async fn reads(app: &TestApp, subject: Subject) -> Vec<(String, Value)> {
    let stored = app.stored().await;
    let ids = |aggregate: &str| -> Vec<String> {
        let mut ids: Vec<String> = stored
            .iter()
            .filter(|e| e.aggregate_type == aggregate)
            .map(|e| e.aggregate_id.clone())
            .collect();
        ids.dedup();
        ids.truncate(15);
        ids
    };
    let paths: Vec<String> = match subject {
        Subject::OrderViews => ids("order")
            .iter()
            .map(|id| format!("/v1/orders/{id}"))
            .chain(["/v1/customers/customer-0001/orders".to_owned()])
            .collect(),
        Subject::Search => ids("product")
            .iter()
            .map(|id| format!("/v1/products/{id}"))
            .chain(["/v1/search?q=%EB%AC%B4%EC%84%A0&limit=5".to_owned()])
            .collect(),
        Subject::Recommendations => (1..=10)
            .map(|n| format!("/v1/customers/customer-{n:04}/recommendations"))
            .chain(
                ids("product")
                    .iter()
                    .map(|id| format!("/v1/products/{id}/bought-together")),
            )
            .collect(),
    };
    let token = app.last_position().await.to_string();
    let mut expected = Vec::new();
    for path in paths {
        let reply = app
            .send(
                app.client
                    .get(format!("{}{path}", app.address))
                    .header("x-consistency-token", &token),
            )
            .await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.headers["x-consistency"], "fresh", "{path}");
        expected.push((path, unscored(reply.body)));
    }
    expected
}

/// An answer as two generations with the same documents give it: without relevance scores
/// (BM25 counts deleted documents until segments merge, so the same documents score a little
/// differently) and with search hits in product order (hits with equal scores come in index
/// order, which differs between generations).
fn unscored(mut answer: Value) -> Value {
    match &mut answer {
        Value::Object(fields) => {
            fields.remove("score");
            for value in fields.values_mut() {
                *value = unscored(value.take());
            }
            if let Some(Value::Array(hits)) = fields.get_mut("hits") {
                hits.sort_by_key(|hit| hit["product"]["product_id"].to_string());
            }
        }
        Value::Array(items) => {
            for item in items {
                *item = unscored(item.take());
            }
        }
        _ => {}
    }
    answer
}

/// What the load generator saw.
#[derive(Debug, Default)]
struct Seen {
    reads: usize,
    marked_stale: usize,
    failed: Vec<String>,
    unmarked_stale: Vec<String>,
}

/// Reads `expected` over and over from two clients, half of the reads with `token`, until
/// stopped. Nothing is written meanwhile, so every answer must be the expected one unless it
/// says `X-Consistency: stale`.
fn load(
    app: &TestApp,
    expected: Vec<(String, Value)>,
    token: i64,
    stop: Arc<AtomicBool>,
    reads: Arc<AtomicUsize>,
) -> Vec<JoinHandle<Seen>> {
    let expected = Arc::new(expected);
    (0..2)
        .map(|client| {
            let expected = expected.clone();
            let stop = stop.clone();
            let reads = reads.clone();
            let http = app.client.clone();
            let address = app.address.clone();
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let mut round = client;
                while !stop.load(Ordering::Relaxed) {
                    for (path, answer) in expected.iter() {
                        round += 1;
                        let mut request = http.get(format!("{address}{path}"));
                        if round % 2 == 0 {
                            request = request.header("x-consistency-token", token.to_string());
                        }
                        seen.reads += 1;
                        reads.fetch_add(1, Ordering::Relaxed);
                        let reply = match request.send().await {
                            Ok(reply) => reply,
                            Err(error) => {
                                seen.failed.push(format!("{path}: {error}"));
                                continue;
                            }
                        };
                        let status = reply.status();
                        let stale = reply
                            .headers()
                            .get("x-consistency")
                            .is_some_and(|v| v == "stale");
                        let body = unscored(reply.json().await.unwrap_or(Value::Null));
                        if !status.is_success() {
                            seen.failed.push(format!("{path}: {status} {body}"));
                        } else if stale {
                            seen.marked_stale += 1;
                        } else if &body != answer {
                            let body: String = body.to_string().chars().take(300).collect();
                            seen.unmarked_stale.push(format!("{path}: {body}"));
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                seen
            })
        })
        .collect()
}

macro_rules! for_each_subject {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn order_views() {
                    super::$test(super::Subject::OrderViews).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn search() {
                    super::$test(super::Subject::Search).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn recommendations() {
                    super::$test(super::Subject::Recommendations).await;
                }
            }
        )+
    };
}

for_each_subject!(rebuilt_and_swapped_under_read_load);

/// While two clients read at a steady rate, the projection is rebuilt beside the live
/// generation and swapped in: no read fails, no answer differs from the one before without
/// saying it is stale, and the new generation equals a clean rebuild.
async fn rebuilt_and_swapped_under_read_load(subject: Subject) {
    let broker = TestBroker::in_memory().await;
    let app = replay_app(&broker).await;
    published_world(&app, &broker, 120).await;
    let (_projectors, _stop) = app.start_supervisor(&broker).await;
    // Every read model caught up: recommendations answer with search's product documents.
    for caught_up in [
        Subject::OrderViews,
        Subject::Search,
        Subject::Recommendations,
    ] {
        wait_applied(caught_up.live(&app).as_ref(), caught_up.records(&broker)).await;
    }
    let live = subject.live(&app);
    let expected = reads(&app, subject).await;
    let token = app.last_position().await;

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let clients = load(&app, expected, token, stop.clone(), reads.clone());
    let replay = app.replay(&broker);
    let began = replay.begin(subject.name()).await.unwrap();
    let next = began.generation;
    assert_eq!(next, live.generation().next());
    let mut phases = Vec::new();
    let rebuilt = replay
        .run(
            began,
            &RebuildOptions::default(),
            |progress| phases.push(progress.phase),
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(
        matches!(rebuilt.outcome, Outcome::Swapped { replaced } if replaced == live.generation().0),
        "{rebuilt:?}"
    );
    assert!(phases.len() >= 2, "progress was reported: {phases:?}");
    app.wait_serving(subject, next).await;
    // And a round of reads on the new generation.
    let swapped_at = reads.load(Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while reads.load(Ordering::Relaxed) < swapped_at + 2 * 25 {
        assert!(tokio::time::Instant::now() < deadline, "the load stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Seen::default();
    for client in clients {
        let client = client.await.unwrap();
        seen.reads += client.reads;
        seen.marked_stale += client.marked_stale;
        seen.failed.extend(client.failed);
        seen.unmarked_stale.extend(client.unmarked_stale);
    }
    assert!(seen.reads >= 50, "the load was too light: {seen:?}");
    assert!(seen.failed.is_empty(), "failed reads: {:#?}", seen.failed);
    assert!(
        seen.unmarked_stale.is_empty(),
        "{} answers differ without saying so, as {:#?}",
        seen.unmarked_stale.len(),
        &seen.unmarked_stale[..seen.unmarked_stale.len().min(3)]
    );

    // The old generation is retired and still followed; the new one equals a clean rebuild.
    let rows = generations::list(&app.stores().pool, subject.name())
        .await
        .unwrap();
    let states: Vec<(u32, GenerationState)> =
        rows.iter().map(|r| (r.generation.0, r.state)).collect();
    assert_eq!(
        states,
        vec![(1, GenerationState::Retired), (2, GenerationState::Live)]
    );
    let verified = replay.verify(subject.name()).await.unwrap();
    assert!(verified.clean, "{verified:#?}");
    assert!(verified.rows > 0);
}
