//! 50 concurrent commands on one order: contiguous versions, no lost update, 409 for losers.

use eventmall_projections::Generation;
use eventmall_read_models::generations;
use serde_json::json;

use crate::helpers::{TestApp, on_both_backends, postgres_db};

async fn concurrent_commands_on_one_order(app: TestApp) {
    const CONCURRENT: usize = 50;
    let product = app.register_product("shop-1", "A", 1000).await;
    let order = app.delivered_order(&product, 100, 1000).await;
    let path = format!("/v1/orders/{order}/return");
    let body = json!({"lines": [{"line_no": 1, "quantity": 1}], "reason": "불량"});
    let replies =
        futures::future::join_all((0..CONCURRENT).map(|_| app.post(&path, body.clone()))).await;
    let mut won = Vec::new();
    let mut lost = 0;
    for reply in &replies {
        match reply.status {
            200 => won.push(reply.body["version"].as_i64().unwrap()),
            409 => {
                reply.assert_problem(409, "version-conflict");
                lost += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(!won.is_empty());
    assert!(
        lost > 0,
        "50 commands at once, and not one lost a race: nothing was concurrent"
    );
    assert_eq!(won.len() + lost, CONCURRENT);
    won.sort_unstable();
    // delivered_order left the order at version 4; each winner took the next version
    let expected: Vec<i64> = (5..5 + won.len() as i64).collect();
    assert_eq!(won, expected, "versions are contiguous and unique");

    let history = app
        .get(&format!("/v1/orders/{order}/events?limit=1000"))
        .await;
    let sequences: Vec<i64> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=4 + won.len() as i64).collect::<Vec<_>>());
    // no lost update: every accepted return is in the state
    let view = app.get(&format!("/v1/orders/{order}/state")).await;
    assert_eq!(view.body["state"]["returned"]["1"], won.len());
    assert_eq!(view.body["state"]["refunded"]["amount"], 1000 * won.len());
}

/// All 50 decided on the same version: exactly one may append it, the 49 others get 409.
async fn concurrent_commands_expecting_one_version(app: TestApp) {
    let product = app.register_product("shop-1", "A", 1000).await;
    let order = app.delivered_order(&product, 100, 1000).await;
    let url = format!("{}/v1/orders/{order}/return", app.address);
    let body = json!({"lines": [{"line_no": 1, "quantity": 1}], "reason": "불량"});
    let replies = futures::future::join_all((0..50).map(|_| {
        app.send(
            app.client
                .post(&url)
                .header("if-match", "\"4\"")
                .json(&body),
        )
    }))
    .await;
    let won: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one command wins version 5");
    assert_eq!(won[0].body["version"], 5);
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_problem(409, "version-conflict");
    }
    let view = app.get(&format!("/v1/orders/{order}/state")).await;
    assert_eq!(view.body["version"], 5);
    assert_eq!(view.body["state"]["returned"]["1"], 1);
}

on_both_backends!(
    concurrent_commands_on_one_order,
    concurrent_commands_expecting_one_version
);

/// API replicas starting together on one PostgreSQL each create the read models' tables and
/// the first live generation of each projector (one per search replica here, so that the race
/// is run many times); all of them start, and they agree on generation 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_postgres_agree_on_the_first_generation() {
    let db = postgres_db().await;
    let url = db.url();
    let started = futures::future::join_all((0..8).map(|_| async {
        let pool = eventmall_read_models::connect(&url).await?;
        let mut live = Vec::new();
        for replica in 0..32 {
            let projector = format!("search@replica-{replica}");
            live.push(
                generations::live(&pool, &projector)
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
        Ok::<_, sqlx::Error>(live)
    }))
    .await;
    for replica in started {
        for live in replica.expect("a replica's read models open") {
            assert_eq!(live, Ok(Generation(1)));
        }
    }
}
