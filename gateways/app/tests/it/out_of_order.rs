//! A reader must never pass a transaction still in flight. PostgreSQL commits transactions in
//! any order, so its reader holds back behind the oldest one running. SQLite has one writer,
//! which commits in position order; the event store suite's tailing reader
//! (`a_tailing_reader_never_skips_concurrent_appends`) checks our reader over it.

use eventmall_store::EventBackend;

use crate::helpers::{delivered, postgres_backend_typed, read_until};

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
