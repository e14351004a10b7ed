//! SQLite has one writer: a second process on the same file is refused, not silently racing.

use eventmall_store::{SqliteBackend, StoreError};

use crate::helpers::sqlite_db;

#[tokio::test]
async fn a_second_writer_on_one_file_is_refused_until_the_first_is_gone() {
    let db = sqlite_db().await;
    let first = SqliteBackend::connect(&db.url(), 2).await.unwrap();
    let second = SqliteBackend::connect(&db.url(), 2).await;
    match second {
        Err(StoreError::Locked(path)) => assert!(path.ends_with("events.db")),
        Err(other) => panic!("expected the lock to be refused, got {other}"),
        Ok(_) => panic!("expected the lock to be refused, got a second writer"),
    }
    drop(first);
    SqliteBackend::connect(&db.url(), 2).await.unwrap();
}
