//! A reader must never pass a transaction still in flight. PostgreSQL commits transactions in
//! any order; SQLite has one writer, so a later append waits for the held one.

use eventmall_gateways::store::EventBackend;

use sqlx::Connection;

use crate::helpers::{delivered, postgres_backend_typed, read_until, sqlite_db};

#[tokio::test]
async fn postgres_an_out_of_order_commit_is_never_skipped() {
    let (backend, _db) = postgres_backend_typed().await;
    let first = backend.append(delivered("first")).await.unwrap();
    let after_first = first.positions[0];

    // A takes its position, then stays open.
    let mut held = backend.pool().begin().await.unwrap();
    let a = backend
        .append_in(&mut held, &delivered("held"))
        .await
        .unwrap()
        .unwrap();
    // B starts later, takes a later position, and commits first.
    let b = backend.append(delivered("later")).await.unwrap();
    assert!(a.positions[0] < b.positions[0]);
    assert!(after_first < a.positions[0]);

    // B is committed and visible, but a reader must not pass A while A may still commit.
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(backend.pool())
        .await
        .unwrap();
    assert_eq!(visible, 2, "B is committed");
    let read = backend.read_after(after_first, 100).await.unwrap();
    assert!(read.is_empty(), "read past an open transaction: {read:?}");

    held.commit().await.unwrap();
    let read = read_until(&*backend, after_first, 2).await;
    let ids: Vec<&str> = read.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["held", "later"]);
}

#[tokio::test]
async fn postgres_a_rolled_back_transaction_leaves_no_gap_that_blocks_readers() {
    let (backend, _db) = postgres_backend_typed().await;
    let mut abandoned = backend.pool().begin().await.unwrap();
    backend
        .append_in(&mut abandoned, &delivered("abandoned"))
        .await
        .unwrap();
    abandoned.rollback().await.unwrap();
    backend.append(delivered("kept")).await.unwrap();
    let read = read_until(&*backend, 0, 1).await;
    let ids: Vec<&str> = read.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_held_write_transaction_is_never_passed() {
    let db = sqlite_db().await;
    let backend = std::sync::Arc::new(
        eventmall_gateways::store::SqliteBackend::connect(&db.url(), 2)
            .await
            .unwrap(),
    );
    let first = backend.append(delivered("first")).await.unwrap();

    // Another connection holds a write transaction that took the next position.
    let mut held = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut held)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, event_id, correlation_id, causation_id, recorded_at) \
         VALUES ('order', 'held', 1, 'OrderDelivered', '1', '{}', ?, 'c', 'c', ?)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(chrono::Utc::now())
    .execute(&mut held)
    .await
    .unwrap();

    // A later append is issued while it is open; it cannot commit first.
    let later = tokio::spawn({
        let backend = backend.clone();
        async move { backend.append(delivered("later")).await }
    });
    let read = backend.read_after(first.positions[0], 100).await.unwrap();
    assert!(read.is_empty(), "read past an open transaction: {read:?}");

    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    later.await.unwrap().unwrap();
    let read = read_until(&*backend, first.positions[0], 2).await;
    let ids: Vec<&str> = read.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["held", "later"]);
}
