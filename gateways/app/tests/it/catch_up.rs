//! Catch-up mode: a projector far behind takes large windows, each within its memory budget,
//! and goes back to small batches at the head of its topics; what it builds is what a projector
//! in live mode builds.

use eventmall_events::dead_letter::TOPIC as DEAD_LETTER_TOPIC;
use eventmall_events::order::OrderEvent;
use eventmall_events::payment::PaymentEvent;
use eventmall_events::product::ProductEvent;
use eventmall_kafka::ProjectorSettings;
use eventmall_kafka::projector::{Mode, Projector};
use eventmall_projections::Generation;
use tokio_util::sync::CancellationToken;

use crate::helpers::spawn_sqlite_app;
use crate::kafka::{TestBroker, kafka_settings};
use crate::projector::{Subject, published_world, wait_applied};

/// A budget small enough that the log holds several windows' worth.
const BUDGET_MIB: usize = 1;

fn catching_up() -> ProjectorSettings {
    ProjectorSettings {
        batch_size: 10,
        batch_wait_ms: 5,
        catch_up_lag: 100,
        // The budget, not the count, has to close the windows.
        catch_up_batch_size: 1_000_000,
        catch_up_wait_ms: 2_000,
        memory_budget_mib: BUDGET_MIB,
        ..ProjectorSettings::default()
    }
}

async fn catches_up_within_its_budget_then_goes_live(subject: Subject) {
    let app = spawn_sqlite_app().await;
    let broker = TestBroker::in_memory().await;
    eventmall_kafka::ensure_topics(
        &broker.bootstrap(),
        &kafka_settings(),
        &[
            ProductEvent::TOPIC,
            OrderEvent::TOPIC,
            PaymentEvent::TOPIC,
            DEAD_LETTER_TOPIC,
        ],
    )
    .await
    .unwrap();
    published_world(&app, &broker, 700).await;
    let total = subject.records(&broker);
    let settings = catching_up();

    let projection = subject.open(&app, Generation(2)).await;
    let projector = Projector::new(
        projection.clone(),
        app.codec(),
        &broker.bootstrap(),
        &settings,
    )
    .unwrap();
    let status = projector.status();
    let stop = CancellationToken::new();
    let running = projector.spawn(stop.clone());
    let _stop = stop.clone().drop_guard();
    wait_applied(projection.as_ref(), total).await;

    // Far behind, it took windows far larger than a live batch; the budget closed each.
    let budget = settings.window_bytes();
    assert!(
        status.largest_records() > 10 * settings.batch_size,
        "{} records at most in a window: it never caught up in large windows",
        status.largest_records()
    );
    assert!(
        status.windows() >= 3,
        "{} windows for {total} records: the budget did not close them",
        status.windows()
    );
    // A window closes at the first record that reaches the budget: one record over, at most.
    let one_record = 64 * 1024;
    assert!(
        status.largest_bytes() <= budget + one_record,
        "a window held {} bytes of records, over the budget of {budget}",
        status.largest_bytes()
    );

    // At the head it is live again: new records come in small batches.
    assert_eq!(status.mode(), Mode::Live, "lag {}", status.lag());
    assert!(
        status.switches() >= 2,
        "{} mode switches",
        status.switches()
    );
    let (_relay, _stop_relay) = app.start_relay(&broker).await;
    let product = app.register_product("late", "LATE-1", 10_000).await;
    app.delivered_order(&product, 1, 10_000).await;
    app.wait_published(app.last_position().await).await;
    let grown = subject.records(&broker);
    wait_applied(projection.as_ref(), grown).await;
    assert_eq!(status.mode(), Mode::Live);
    assert!(status.last_records() <= settings.batch_size);
    stop.cancel();
    running.await.unwrap().unwrap();

    // What it built in windows is what a live projector builds record by record.
    let live = subject.open(&app, Generation(3)).await;
    let projector = Projector::new(
        live.clone(),
        app.codec(),
        &broker.bootstrap(),
        &ProjectorSettings::default(),
    )
    .unwrap();
    let stop = CancellationToken::new();
    let running = projector.spawn(stop.clone());
    wait_applied(live.as_ref(), grown).await;
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(
        subject.checksum(&app, Generation(2)).await,
        subject.checksum(&app, Generation(3)).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn order_views_catch_up_within_the_budget_then_go_live() {
    catches_up_within_its_budget_then_goes_live(Subject::OrderViews).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_catches_up_within_the_budget_then_goes_live() {
    catches_up_within_its_budget_then_goes_live(Subject::Search).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recommendations_catch_up_within_the_budget_then_go_live() {
    catches_up_within_its_budget_then_goes_live(Subject::Recommendations).await;
}
