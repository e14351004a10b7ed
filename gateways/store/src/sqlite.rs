//! SQLite backend: one writer task that commits appends in groups, and a pool of readers.
//!
//! SQLite allows one writer at a time. Instead of letting connections fight over the write lock,
//! every append goes to a single writer task, which takes whatever appends are queued and
//! commits them in one transaction, with one fsync (group commit); a lost race fails only its
//! own append. `synchronous = FULL`: an event is on disk before its command is answered.
//!
//! An exclusive lock on `<database>.lock` keeps other processes from writing the file, so the
//! writer knows every aggregate's latest version and the event store can trust its cache.

mod writer;

use std::num::NonZeroUsize;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventmall_events::StoredEvent;
use lru::LruCache;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::mpsc;

use writer::{MAX_GROUP, ROWS_PER_INSERT, find_idempotency, write_loop};

use crate::backend::{
    Append, Appended, EventBackend, IdempotencyRecord, LoadedRows, Reply, Timer, through_writer,
};
use crate::error::{StoreError, StoreResult};
use crate::rows::{EventRow, SnapshotRow, TIMER_COLUMNS, TimerRow, into_events, into_timers};

const EVENT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, event_id, correlation_id, causation_id, traceparent, actor, recorded_at";

pub struct SqliteBackend {
    readers: SqlitePool,
    writer: mpsc::Sender<(Append, Reply)>,
    /// Latest version of recently appended aggregates, kept by the writer after each commit.
    /// Only with `_writer_lock`, which keeps other processes from appending to the file.
    versions: Option<Arc<Versions>>,
    /// Held for the backend's life: the one writer of the database file.
    _writer_lock: Option<std::fs::File>,
    /// One connection that writes beside the writer, for housekeeping that appends nothing
    /// (expired idempotency keys): SQLite takes turns between them. `None` when read-only.
    keeper: Option<SqlitePool>,
}

type Versions = Mutex<LruCache<(String, String), i64>>;

/// Aggregates whose latest version the backend remembers.
const KNOWN_VERSIONS: usize = 262_144;

impl SqliteBackend {
    /// Notes that the aggregate was at `version` when read, unless a later version is known:
    /// a write committed meanwhile may have been noted already.
    fn saw(&self, aggregate_type: &str, aggregate_id: &str, version: i64) {
        let Some(Ok(mut versions)) = self.versions.as_ref().map(|v| v.lock()) else {
            return;
        };
        let key = (aggregate_type.to_owned(), aggregate_id.to_owned());
        if versions.peek(&key).is_none_or(|known| *known < version) {
            versions.put(key, version);
        }
    }

    fn keeper(&self) -> StoreResult<&SqlitePool> {
        self.keeper.as_ref().ok_or(StoreError::WriterStopped)
    }

    /// Opens (creating if missing) the database at `url`, migrates it and starts the writer.
    pub async fn connect(url: &str, max_readers: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let writer_lock = lock_writer(options.get_filename())?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536");
        let mut writer = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run_direct(&mut writer)
            .await?;
        let keeper = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(max_readers.max(1))
            .connect_with(options.read_only(true))
            .await?;
        let (sender, receiver) = mpsc::channel(MAX_GROUP * 4);
        // Without the file lock (an in-memory database) nothing is known for sure.
        let versions = writer_lock.as_ref().map(|_| {
            let capacity = NonZeroUsize::new(KNOWN_VERSIONS).unwrap_or(NonZeroUsize::MIN);
            Arc::new(Mutex::new(LruCache::new(capacity)))
        });
        tokio::spawn(write_loop(writer, receiver, versions.clone()));
        Ok(Self {
            readers,
            writer: sender,
            versions,
            _writer_lock: writer_lock,
            keeper: Some(keeper),
        })
    }
}

impl SqliteBackend {
    /// Opens an existing database to read only, beside the process that writes it (a running
    /// `up`): no migration, no writer, no lock; an append fails with
    /// [`StoreError::WriterStopped`].
    pub async fn read_only(url: &str, max_readers: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .busy_timeout(Duration::from_secs(10))
            .read_only(true);
        let readers = SqlitePoolOptions::new()
            .max_connections(max_readers.max(1))
            .connect_with(options)
            .await?;
        let (writer, _) = mpsc::channel(1);
        Ok(Self {
            readers,
            writer,
            versions: None,
            _writer_lock: None,
            keeper: None,
        })
    }
}

/// Takes the exclusive lock that makes this process the database's only writer.
fn lock_writer(database: &Path) -> StoreResult<Option<std::fs::File>> {
    if database.as_os_str().is_empty() || database == Path::new(":memory:") {
        return Ok(None);
    }
    let mut path = database.as_os_str().to_owned();
    path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Locked(database.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
}

#[async_trait]
impl EventBackend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn known_version(&self, aggregate_type: &str, aggregate_id: &str) -> Option<i64> {
        // Versions written by this process, or read by it since: as the database's only
        // writer, nothing else moves them.
        let key = (aggregate_type.to_owned(), aggregate_id.to_owned());
        self.versions.as_ref()?.lock().ok()?.get(&key).copied()
    }

    async fn load(&self, aggregate_type: &str, aggregate_id: &str) -> StoreResult<LoadedRows> {
        let mut connection = self.readers.acquire().await?;
        // One read transaction, so the snapshot and the events after it are from one instant.
        let mut tx = connection.begin().await?;
        let snapshot: Option<SnapshotRow> = sqlx::query_as(
            "SELECT version, payload FROM snapshots WHERE aggregate_type = ? AND aggregate_id = ?",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_optional(&mut *tx)
        .await?;
        let after = snapshot.as_ref().map_or(0, |s| s.version);
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = ? AND aggregate_id = ? \
             AND sequence > ? ORDER BY sequence"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let events = into_events(rows)?;
        let version = events.last().map_or(after, |e| e.sequence);
        self.saw(aggregate_type, aggregate_id, version);
        Ok(LoadedRows {
            snapshot: snapshot.map(|s| (s.version, s.payload.0)),
            events,
        })
    }

    async fn stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = ? AND aggregate_id = ? \
             AND sequence > ? ORDER BY sequence LIMIT ?"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(after_sequence)
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        let events = into_events(rows)?;
        if (events.len() as i64) < limit {
            let version = events.last().map_or(after_sequence, |e| e.sequence);
            self.saw(aggregate_type, aggregate_id, version);
        }
        Ok(events)
    }

    async fn append(&self, append: Append) -> StoreResult<Appended> {
        // One append is one INSERT, bound by SQLite's limit on parameters.
        if append.events.len() > ROWS_PER_INSERT {
            return Err(StoreError::AppendTooLarge {
                count: append.events.len(),
                max: ROWS_PER_INSERT,
            });
        }
        through_writer(&self.writer, append).await
    }

    async fn read_after(&self, position: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        // One writer commits in position order, so every committed position is final.
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > ? \
             ORDER BY global_position LIMIT ?"
        ))
        .bind(position)
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        into_events(rows)
    }

    async fn count_after(&self, position: i64) -> StoreResult<i64> {
        let count = sqlx::query_scalar("SELECT count(*) FROM events WHERE global_position > ?")
            .bind(position)
            .fetch_one(&self.readers)
            .await?;
        Ok(count)
    }

    async fn idempotency(&self, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        find_idempotency(&self.readers, key).await
    }

    async fn forget_idempotency(
        &self,
        key: &str,
        created_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = ? AND created_at < ?")
            .bind(key)
            .bind(created_before)
            .execute(self.keeper()?)
            .await?;
        Ok(())
    }

    async fn sweep_idempotency(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64> {
        let swept = sqlx::query(&format!(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys \
             WHERE created_at < ? AND ({}) ORDER BY created_at LIMIT ?)",
            crate::idempotency::expiring_keys()
        ))
        .bind(created_before)
        .bind(limit)
        .execute(self.keeper()?)
        .await?;
        Ok(swept.rows_affected())
    }

    async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Timer>> {
        let rows: Vec<TimerRow> = sqlx::query_as(&format!(
            "SELECT {TIMER_COLUMNS} FROM policy_timers \
             WHERE closed_at IS NULL AND due_at_ms <= ? ORDER BY due_at_ms LIMIT ?"
        ))
        .bind(now.timestamp_millis())
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        into_timers(rows)
    }

    async fn open_timers(&self) -> StoreResult<i64> {
        let (open,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM policy_timers WHERE closed_at IS NULL")
                .fetch_one(&self.readers)
                .await?;
        Ok(open)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        if self.writer.is_closed() {
            return Err(StoreError::WriterStopped);
        }
        Ok(())
    }
}
