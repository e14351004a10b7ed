//! End-to-end lag under a steady load: from a command accepted to its effect visible in the
//! search index and in the order views, with the relay and every projector running in this
//! process against a local broker.
//!
//! `cargo bench -p eventmall --bench lag`
//! Environment: BENCH_RATE (1000 commands/s), BENCH_SECONDS (20), BENCH_SAMPLE (two in every 20
//! commands are followed to their read model), EVENTMALL_TEST_BROKER (the nisshi binary).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventmall_aggregates::order::LineRequest;
use eventmall_aggregates::{OrderCommand, ProductCommand};
use eventmall_events::{CommandMetadata, CustomerId, OrderId, PartnerId, ProductId};
use eventmall_store::{CommandGateway, CommandRequest, Dispatch, Receipt};
use hdrhistogram::Histogram;
use support::{app_on_broker, env, register_products};
use tokio_util::sync::CancellationToken;

type Lags = Arc<Mutex<Histogram<u64>>>;

fn histogram() -> Lags {
    Arc::new(Mutex::new(Histogram::new(3).unwrap()))
}

fn report(name: &str, lags: &Lags) {
    let h = lags.lock().unwrap();
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.value_at_quantile(0.999) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    );
}

/// Polls `visible` until it holds, then records the time since `accepted`.
async fn follow<F, Fut>(accepted: Instant, lags: Lags, visible: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = accepted + Duration::from_secs(60);
    while Instant::now() < deadline {
        if visible().await {
            let lag = accepted.elapsed().as_micros() as u64;
            lags.lock().unwrap().record(lag).unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Sends a command; `None` when it is refused (the run goes on).
async fn dispatch<C>(commands: &CommandGateway, id: impl ToString, command: C) -> Option<Receipt>
where
    C: Send,
    CommandGateway: Dispatch<C>,
{
    commands
        .dispatch(CommandRequest::new(
            id,
            command,
            CommandMetadata::new_root(None),
        ))
        .await
        .ok()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rate = env("BENCH_RATE", 1000);
    let seconds = env("BENCH_SECONDS", 20);
    let sample = env("BENCH_SAMPLE", 20).max(1);
    let data = tempfile::tempdir().unwrap();
    let (broker, settings, app) = app_on_broker(data.path()).await;
    let stop = CancellationToken::new();
    let relay = tokio::spawn(
        app.relay(&settings, broker.bootstrap_servers())
            .await
            .unwrap()
            .run(stop.clone()),
    );
    let projectors: Vec<_> = app
        .projectors(&settings, broker.bootstrap_servers())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.spawn(stop.clone()))
        .collect();
    let commands = app.commands().clone();
    let views = app.views().clone();
    let products: Vec<ProductId> = register_products(&commands, 500).await;
    // Start once search has the catalog, so the measured lag is steady-state lag.
    let last = products[products.len() - 1].to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while views.search.index().product(&last).ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "the catalog never reached search"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Four stock changes for each order placed: both read models see steady traffic.
    let (search_lags, order_lags) = (histogram(), histogram());
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut followers = tokio::task::JoinSet::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        sent += 1;
        // Two in each `sample` commands: one order placed (every fifth is) and one stock change.
        let followed = sent % sample < 2;
        let product = products[sent as usize % products.len()];
        let (commands, views) = (commands.clone(), views.clone());
        let (search_lags, order_lags) = (search_lags.clone(), order_lags.clone());
        followers.spawn(async move {
            let accepted_at = Instant::now();
            if sent.is_multiple_of(5) {
                let order = OrderId::new();
                let command = OrderCommand::Place {
                    order_id: order,
                    customer_id: CustomerId(format!("customer-{}", sent % 997)),
                    lines: vec![LineRequest {
                        product_id: product,
                        quantity: 1,
                    }],
                    wallet_id: None,
                    shipping: None,
                };
                let Some(receipt) = dispatch(&commands, order, command).await else {
                    return;
                };
                if followed {
                    let id = order.to_string();
                    follow(accepted_at, order_lags, || async {
                        views
                            .orders
                            .order(&id)
                            .await
                            .ok()
                            .flatten()
                            .is_some_and(|v| v.version >= receipt.version)
                    })
                    .await;
                }
            } else {
                let command = ProductCommand::ChangeStock {
                    partner_id: PartnerId::from("bench"),
                    stock: (sent % 1000) as u32 + 11,
                };
                let Some(receipt) = dispatch(&commands, product, command).await else {
                    return;
                };
                if followed {
                    let id = product.to_string();
                    follow(accepted_at, search_lags, || async {
                        views
                            .search
                            .index()
                            .product(&id)
                            .ok()
                            .flatten()
                            .is_some_and(|p| p.version >= receipt.version)
                    })
                    .await;
                }
            }
        });
    }
    let offered = sent as f64 / started.elapsed().as_secs_f64();
    // Every follower ends: its change became visible, or its 60 s ran out.
    while followers.join_next().await.is_some() {}
    println!(
        "{sent} commands at {offered:.0}/s offered, two in every {sample} followed to their read model"
    );
    println!("| visible in | samples | p50 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    report("search (stock change)", &search_lags);
    report("order views (order placed)", &order_lags);
    stop.cancel();
    let _ = relay.await;
    for projector in projectors {
        let _ = projector.await;
    }
    broker.stop().await;
}
