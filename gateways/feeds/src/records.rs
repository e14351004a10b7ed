//! What feed runs record in the event store's database: each run and its counts, every
//! rejected line with its reason and raw bytes, per product what the partner's feed said last
//! (`feed_items`), and (in `mappings.rs`) the partners' field mappings.

use std::collections::HashMap;

use chrono::Utc;
use eventmall_events::PartnerId;
use sqlx::{AnyPool, Row};
use tokio_util::task::AbortOnDropHandle;
use uuid::Uuid;

use crate::report::{
    FeedCounts, FeedRun, FeedRunPage, FeedRunSummary, REPORTED_REJECTIONS, Rejection, RejectionPage,
};
use crate::{FeedEncoding, FeedFormat, FeedKind, RejectedLine};

mod mappings;

/// How long a running run may go without a heartbeat before it counts as abandoned.
pub(crate) const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
/// How often a running run beats.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// Rows a statement names at most: four values a row stay under SQLite's 32,766 parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

/// What the feed said last of a product: a digest of its details and price, and whether it
/// listed it.
pub(crate) struct FeedItem {
    pub content: String,
    pub listed: bool,
}

/// A product as a run saw it: its SKU, the digest of what the row says, whether it is listed.
pub(crate) type Seen = (String, String, bool);

/// The feed tables of the event store's database.
#[derive(Clone)]
pub struct FeedRecords {
    pool: AnyPool,
}

/// Columns of a run's summary, in the order [`summary`] reads them.
const SUMMARY_COLUMNS: &str = "run_id, partner_id, format, encoding, mapping_version, kind, \
     status, error, started_at_ms, finished_at_ms, rows_read, registered, updated, unchanged, \
     delisted, rejected";

fn summary(row: &sqlx::any::AnyRow) -> Result<FeedRunSummary, sqlx::Error> {
    let run_id: String = row.try_get(0)?;
    Ok(FeedRunSummary {
        run_id: run_id
            .parse()
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
        partner_id: row.try_get(1)?,
        format: row.try_get(2)?,
        encoding: row.try_get(3)?,
        mapping_version: row.try_get(4)?,
        kind: row.try_get(5)?,
        status: row.try_get(6)?,
        error: row.try_get(7)?,
        started_at_ms: row.try_get(8)?,
        finished_at_ms: row.try_get(9)?,
        counts: FeedCounts {
            rows_read: row.try_get(10)?,
            registered: row.try_get(11)?,
            updated: row.try_get(12)?,
            unchanged: row.try_get(13)?,
            delisted: row.try_get(14)?,
            rejected: row.try_get(15)?,
        },
    })
}

/// How a run ended, as recorded.
pub(crate) struct Ending<'a> {
    pub status: &'static str,
    pub error: Option<String>,
    pub kind: Option<FeedKind>,
    pub counts: &'a FeedCounts,
}

impl FeedRecords {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Records a run as started, unless another run of the partner is running: then answers
    /// that run's id. A running run whose heartbeat is older than [`ABANDONED_AFTER`] is
    /// failed first: the process running it is gone.
    pub(crate) async fn start(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        format: FeedFormat,
        encoding: FeedEncoding,
        mapping_version: Option<i64>,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        let now = Utc::now().timestamp_millis();
        let silent_since = now - i64::try_from(ABANDONED_AFTER.as_millis()).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE feed_runs SET status = 'failed', finished_at_ms = $1, \
             error = 'abandoned: the process running it stopped' \
             WHERE partner_id = $2 AND status = 'running' AND heartbeat_at_ms < $3",
        )
        .bind(now)
        .bind(&partner.0)
        .bind(silent_since)
        .execute(&self.pool)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO feed_runs (run_id, partner_id, format, encoding, mapping_version, status, \
             started_at_ms, heartbeat_at_ms) VALUES ($1, $2, $3, $4, $5, 'running', $6, $6) \
             ON CONFLICT DO NOTHING",
        )
        .bind(run_id.to_string())
        .bind(&partner.0)
        .bind(format.as_str())
        .bind(encoding.as_str())
        .bind(mapping_version)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        let running: Option<String> = sqlx::query_scalar(
            "SELECT run_id FROM feed_runs WHERE partner_id = $1 AND status = 'running'",
        )
        .bind(&partner.0)
        .fetch_optional(&self.pool)
        .await?;
        // The other run may have ended between the insert and the look: it is still the one
        // this run collided with.
        let running = running.and_then(|id| id.parse().ok()).unwrap_or(run_id);
        Ok(Some(running))
    }

    /// Says every [`HEARTBEAT`] that the run is still running, until the handle is dropped
    /// (however the run ends).
    pub(crate) fn heartbeat(&self, run_id: Uuid) -> AbortOnDropHandle<()> {
        let pool = self.pool.clone();
        AbortOnDropHandle::new(tokio::spawn(async move {
            let mut beats = tokio::time::interval(HEARTBEAT);
            loop {
                beats.tick().await;
                let beat =
                    sqlx::query("UPDATE feed_runs SET heartbeat_at_ms = $1 WHERE run_id = $2")
                        .bind(Utc::now().timestamp_millis())
                        .bind(run_id.to_string())
                        .execute(&pool)
                        .await;
                if let Err(error) = beat {
                    tracing::warn!(run = %run_id, %error, "feed run heartbeat not recorded");
                }
            }
        }))
    }

    /// Records how a run ended, with its counts.
    pub(crate) async fn finish(&self, run_id: Uuid, ending: Ending<'_>) -> Result<(), sqlx::Error> {
        let counts = ending.counts;
        sqlx::query(
            "UPDATE feed_runs SET status = $2, error = $3, kind = $4, finished_at_ms = $5, \
             rows_read = $6, registered = $7, updated = $8, unchanged = $9, delisted = $10, \
             rejected = $11 WHERE run_id = $1",
        )
        .bind(run_id.to_string())
        .bind(ending.status)
        .bind(ending.error)
        .bind(ending.kind.map(kind_name))
        .bind(Utc::now().timestamp_millis())
        .bind(counts.rows_read)
        .bind(counts.registered)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.delisted)
        .bind(counts.rejected)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What the feed said before of these SKUs.
    pub(crate) async fn items(
        &self,
        partner: &PartnerId,
        skus: &[&str],
    ) -> Result<HashMap<String, FeedItem>, sqlx::Error> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let query = format!(
            "SELECT sku, content, listed FROM feed_items WHERE partner_id = $1 AND sku IN ({})",
            placeholders(2, skus.len())
        );
        let mut select = sqlx::query(&query).bind(&partner.0);
        for sku in skus {
            select = select.bind(*sku);
        }
        select
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    FeedItem {
                        content: row.try_get(1)?,
                        listed: row.try_get::<i32, _>(2)? != 0,
                    },
                ))
            })
            .collect()
    }

    /// Records what a chunk's rows said, and its rejected lines, in one transaction.
    pub(crate) async fn record(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        seen: &[Seen],
        rejected: &[RejectedLine],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let run = run_id.to_string();
        // A rejected line still names its product: a full feed does not delist it.
        let named: Vec<&str> = rejected.iter().filter_map(|r| r.id.as_deref()).collect();
        for ids in named.chunks(ROWS_PER_STATEMENT) {
            let query = format!(
                "UPDATE feed_items SET last_run = $2 WHERE partner_id = $1 AND sku IN ({})",
                placeholders(3, ids.len())
            );
            let mut touch = sqlx::query(&query).bind(&partner.0).bind(&run);
            for id in ids {
                touch = touch.bind(*id);
            }
            touch.execute(&mut *tx).await?;
        }
        for rows in seen.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..rows.len())
                .map(|i| {
                    let n = 3 + i * 3;
                    format!("($1, ${n}, ${}, ${}, $2)", n + 1, n + 2)
                })
                .collect();
            let query = format!(
                "INSERT INTO feed_items (partner_id, sku, content, listed, last_run) VALUES {} \
                 ON CONFLICT (partner_id, sku) DO UPDATE SET content = excluded.content, \
                 listed = excluded.listed, last_run = excluded.last_run",
                values.join(", ")
            );
            let mut insert = sqlx::query(&query).bind(&partner.0).bind(&run);
            for (sku, content, listed) in rows {
                insert = insert.bind(sku).bind(content).bind(i32::from(*listed));
            }
            insert.execute(&mut *tx).await?;
        }
        for line in rejected {
            sqlx::query(
                "INSERT INTO feed_rejections (run_id, line, reason, raw) VALUES ($1, $2, $3, $4)",
            )
            .bind(&run)
            .bind(i64::try_from(line.line).unwrap_or(i64::MAX))
            .bind(&line.reason)
            .bind(line.raw.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The partner's listed products that run `run_id` did not name.
    pub(crate) async fn absent(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query(
            "SELECT sku FROM feed_items WHERE partner_id = $1 AND listed = 1 AND last_run <> $2",
        )
        .bind(&partner.0)
        .bind(run_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect()
    }

    /// Records these products of the partner as delisted.
    pub(crate) async fn delisted(
        &self,
        partner: &PartnerId,
        skus: &[String],
    ) -> Result<(), sqlx::Error> {
        for skus in skus.chunks(ROWS_PER_STATEMENT) {
            let query = format!(
                "UPDATE feed_items SET listed = 0 WHERE partner_id = $1 AND sku IN ({})",
                placeholders(2, skus.len())
            );
            let mut update = sqlx::query(&query).bind(&partner.0);
            for sku in skus {
                update = update.bind(sku);
            }
            update.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// A run of `partner`, without its rejections.
    pub async fn find_summary(
        &self,
        partner: &str,
        run_id: Uuid,
    ) -> Result<Option<FeedRunSummary>, sqlx::Error> {
        let query = format!(
            "SELECT {SUMMARY_COLUMNS} FROM feed_runs WHERE run_id = $1 AND partner_id = $2"
        );
        sqlx::query(&query)
            .bind(run_id.to_string())
            .bind(partner)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(summary)
            .transpose()
    }

    /// A run of `partner`, with its first [`REPORTED_REJECTIONS`] rejections in line order.
    pub async fn find(&self, partner: &str, run_id: Uuid) -> Result<Option<FeedRun>, sqlx::Error> {
        let Some(summary) = self.find_summary(partner, run_id).await? else {
            return Ok(None);
        };
        let page = self.rejections(run_id, 0, REPORTED_REJECTIONS).await?;
        Ok(Some(FeedRun {
            summary,
            rejections: page.rejections,
            more_rejections_after: page.next_after,
        }))
    }

    /// Up to `limit` rejected lines of a run after line `after`, in line order.
    pub async fn rejections(
        &self,
        run_id: Uuid,
        after: i64,
        limit: usize,
    ) -> Result<RejectionPage, sqlx::Error> {
        let mut rejections = sqlx::query(
            "SELECT line, reason FROM feed_rejections WHERE run_id = $1 AND line > $2 \
             ORDER BY line LIMIT $3",
        )
        .bind(run_id.to_string())
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Rejection {
                line: r.try_get(0)?,
                reason: r.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let more = rejections.len() > limit;
        rejections.truncate(limit);
        let next_after = more.then(|| rejections.last().map(|r| r.line)).flatten();
        Ok(RejectionPage {
            rejections,
            next_after,
        })
    }

    /// A partner's runs, newest first.
    pub async fn runs(
        &self,
        partner: &str,
        offset: i64,
        limit: i64,
    ) -> Result<FeedRunPage, sqlx::Error> {
        let query = format!(
            "SELECT {SUMMARY_COLUMNS} FROM feed_runs WHERE partner_id = $1 \
             ORDER BY started_at_ms DESC, run_id DESC LIMIT $2 OFFSET $3"
        );
        let runs = sqlx::query(&query)
            .bind(partner)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(summary)
            .collect::<Result<_, _>>()?;
        let total = sqlx::query("SELECT COUNT(*) FROM feed_runs WHERE partner_id = $1")
            .bind(partner)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(FeedRunPage { runs, total })
    }
}

/// `$first, $first+1, …`, `count` of them.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_name(kind: FeedKind) -> &'static str {
    match kind {
        FeedKind::Full => "full",
        FeedKind::Summary => "summary",
    }
}
