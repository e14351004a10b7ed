//! A feed run: rows read as a stream on a blocking thread, turned into product commands,
//! and recorded: the run's counts, every rejected line with its reason and raw bytes, and per
//! product what the feed said last, so an unchanged row costs a lookup and no command and a
//! full feed delists what it no longer lists.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::Utc;
use eventmall_aggregates::ProductCommand;
use eventmall_events::product::ProductDetails;
use eventmall_events::{CommandMetadata, Currency, Money, PartnerId, ProductId};
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::ep::{Class, EpProduct};
use super::mapped::{CsvSource, FieldMapping, JsonlSource, RowSource};
use super::{EpReader, FeedEncoding, FeedError, FeedKind, FeedRow, FeedRows, RejectedLine};
use crate::commands::{CommandError, CommandGateway, CommandRequest, Dispatch};
use crate::dead_letters::FEED_STAGE;
use crate::kafka::dead_letter::DeadLetters;

/// Rows handled together: one lookup of what the feed said before, one write of what it says.
const CHUNK: usize = 256;
/// Commands in flight at once.
const CONCURRENCY: usize = 128;

/// The feed formats a run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// Naver Shopping EP 3.0 TSV, full or summary.
    EpTsv,
    /// CSV with a header row, through the partner's field mapping.
    Csv,
    /// JSON Lines, through the partner's field mapping.
    Jsonl,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EpTsv => "ep-tsv",
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// Whether the format needs a field mapping.
    pub fn mapped(self) -> bool {
        self != Self::EpTsv
    }
}

impl std::str::FromStr for FeedFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "ep-tsv" => Ok(Self::EpTsv),
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!(
                "unknown feed format {other}; one of ep-tsv, csv, jsonl"
            )),
        }
    }
}

/// What a run did, line by line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedCounts {
    /// Data lines read, rejected ones included.
    pub rows_read: i64,
    pub registered: i64,
    /// Rows that changed a product: details, price, or listed again.
    pub updated: i64,
    pub unchanged: i64,
    /// Products delisted: absent from a full feed, or `D` in a summary feed.
    pub delisted: i64,
    pub rejected: i64,
}

/// A rejected line of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub line: i64,
    pub reason: String,
}

/// A feed run as recorded, without its rejected lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedRunSummary {
    pub run_id: Uuid,
    pub partner_id: String,
    pub format: String,
    pub encoding: String,
    /// The field mapping's version a CSV or JSON Lines run used.
    pub mapping_version: Option<i64>,
    /// `full` or `summary`, once the header is read.
    pub kind: Option<String>,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    #[serde(flatten)]
    pub counts: FeedCounts,
}

/// A feed run as recorded, with every rejected line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedRun {
    #[serde(flatten)]
    pub summary: FeedRunSummary,
    pub rejections: Vec<Rejection>,
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

/// A page of a partner's runs, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedRunPage {
    pub runs: Vec<FeedRunSummary>,
    pub total: i64,
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("feed store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("partner {0} has no field mapping for {1} feeds; PUT one first")]
    NoMapping(String, &'static str),
    /// Rejected lines are kept in the run; the dead-letter topic did not take them.
    #[error("rejected lines not sent to the dead letters: {0:#}")]
    DeadLetters(anyhow::Error),
}

/// Runs feeds against the command gateway, recording them in the event store's database.
#[derive(Clone)]
pub struct FeedIngest {
    commands: CommandGateway,
    pool: AnyPool,
    /// Where rejected lines go besides the run's record, when there is a cluster.
    dead_letters: Option<DeadLetters>,
}

/// One product command's outcome for a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Registered,
    Updated,
    Unchanged,
    Delisted,
}

/// What the feed said last of a product.
struct Item {
    content: String,
    listed: bool,
}

impl FeedIngest {
    pub fn new(commands: CommandGateway, pool: AnyPool) -> Self {
        Self {
            commands,
            pool,
            dead_letters: None,
        }
    }

    /// Feed ingest that also sends each rejected line, raw, to the dead-letter topic of the
    /// cluster at `bootstrap_servers` (stage `feed`).
    pub fn with_dead_letters(
        mut self,
        bootstrap_servers: Option<&str>,
    ) -> rdkafka::error::KafkaResult<Self> {
        self.dead_letters = bootstrap_servers
            .map(|servers| DeadLetters::new(servers, FEED_STAGE))
            .transpose()?;
        Ok(self)
    }

    /// The command gateway the runs use.
    pub fn commands(&self) -> &CommandGateway {
        &self.commands
    }

    /// Reads `input` to its end as a feed of `partner`, applies it, and answers the run. A feed
    /// whose header cannot be read fails whole, recorded as `failed`.
    pub async fn run<R: BufRead + Send + 'static>(
        &self,
        partner: PartnerId,
        format: FeedFormat,
        encoding: FeedEncoding,
        input: R,
    ) -> Result<FeedRun, IngestError> {
        let mapping = match format.mapped() {
            false => None,
            true => Some(
                self.mapping(&partner.0, format)
                    .await?
                    .ok_or_else(|| IngestError::NoMapping(partner.0.clone(), format.as_str()))?,
            ),
        };
        let run_id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO feed_runs (run_id, partner_id, format, encoding, mapping_version, status, \
             started_at_ms) VALUES ($1, $2, $3, $4, $5, 'running', $6)",
        )
        .bind(run_id.to_string())
        .bind(&partner.0)
        .bind(format.as_str())
        .bind(encoding.as_str())
        .bind(mapping.as_ref().map(|(version, _)| *version))
        .bind(Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        let open = move || -> Result<Box<dyn RowSource + Send>, FeedError> {
            Ok(match (format, mapping) {
                (FeedFormat::Csv, Some((_, fields))) => {
                    Box::new(CsvSource::new(input, encoding, &fields)?)
                }
                (FeedFormat::Jsonl, Some((_, fields))) => {
                    Box::new(JsonlSource::new(input, encoding, &fields)?)
                }
                _ => Box::new(EpReader::new(input, encoding)?),
            })
        };
        // A run that fails part of the way keeps the counts of what it did until then.
        let mut counts = FeedCounts::default();
        let outcome = self.apply(run_id, &partner, open, &mut counts).await;
        let (status, error, kind) = match &outcome {
            Ok(kind) => ("completed", None, Some(*kind)),
            Err(error) => ("failed", Some(error.to_string()), None),
        };
        sqlx::query(
            "UPDATE feed_runs SET status = $2, error = $3, kind = $4, finished_at_ms = $5, \
             rows_read = $6, registered = $7, updated = $8, unchanged = $9, delisted = $10, \
             rejected = $11 WHERE run_id = $1",
        )
        .bind(run_id.to_string())
        .bind(status)
        .bind(error)
        .bind(kind.map(kind_name))
        .bind(Utc::now().timestamp_millis())
        .bind(counts.rows_read)
        .bind(counts.registered)
        .bind(counts.updated)
        .bind(counts.unchanged)
        .bind(counts.delisted)
        .bind(counts.rejected)
        .execute(&self.pool)
        .await?;
        outcome?;
        Ok(self
            .find(&partner.0, run_id)
            .await?
            .unwrap_or_else(|| unreachable!("the run was just recorded")))
    }

    async fn apply(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        open: impl FnOnce() -> Result<Box<dyn RowSource + Send>, FeedError> + Send + 'static,
        counts: &mut FeedCounts,
    ) -> Result<FeedKind, IngestError> {
        let (kind_tx, kind_rx) = tokio::sync::oneshot::channel();
        let (rows_tx, mut rows_rx) = mpsc::channel::<FeedRow>(CHUNK * 4);
        // Parsing is blocking I/O over the stream; rows come over a bounded channel, so a big
        // feed never sits whole in memory.
        let reader = tokio::task::spawn_blocking(move || -> Result<(), FeedError> {
            let mut rows = match open() {
                Ok(source) => FeedRows::from_source(source),
                Err(error) => {
                    let _ = kind_tx.send(None);
                    return Err(error);
                }
            };
            let _ = kind_tx.send(Some(rows.kind()));
            while let Some(row) = rows.next_row()? {
                if rows_tx.blocking_send(row).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let Ok(Some(kind)) = kind_rx.await else {
            return Err(reader
                .await
                .map_err(|e| FeedError::Io(std::io::Error::other(e)))?
                .err()
                .unwrap_or(FeedError::Empty)
                .into());
        };
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            let open = rows_rx.recv_many(&mut chunk, CHUNK).await > 0;
            if !chunk.is_empty() {
                self.apply_chunk(run_id, partner, &mut chunk, counts)
                    .await?;
            }
            if !open {
                break;
            }
        }
        reader
            .await
            .map_err(|e| FeedError::Io(std::io::Error::other(e)))??;
        // Only a feed read to its end says what the partner no longer lists.
        if kind == FeedKind::Full {
            counts.delisted += self.delist_absent(run_id, partner).await?;
        }
        Ok(kind)
    }

    async fn apply_chunk(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        chunk: &mut Vec<FeedRow>,
        counts: &mut FeedCounts,
    ) -> Result<(), IngestError> {
        let skus: Vec<&str> = chunk
            .iter()
            .filter_map(|row| match row {
                FeedRow::Valid { product, .. } => Some(product.id.as_str()),
                FeedRow::Rejected(_) => None,
            })
            .collect();
        let before = self.items(partner, &skus).await?;
        let mut rejected = Vec::new();
        // What this chunk says of each product: (SKU, content, listed).
        let mut seen = Vec::new();
        let mut changed = Vec::new();
        for row in chunk.drain(..) {
            counts.rows_read += 1;
            match row {
                FeedRow::Rejected(line) => rejected.push(line),
                FeedRow::Valid { line, product, raw } => {
                    let content = content(&product);
                    let delete = product.class == Some(Class::Delete);
                    match before.get(&product.id) {
                        Some(item) if !delete && item.listed && item.content == content => {
                            counts.unchanged += 1;
                            seen.push((product.id, content, true));
                        }
                        _ => changed.push((line, product, raw, content)),
                    }
                }
            }
        }
        let results: Vec<_> = futures::stream::iter(changed)
            .map(|(line, product, raw, content)| {
                async move {
                    let outcome = self.apply_row(run_id, partner, line, &product).await;
                    (line, product, raw, content, outcome)
                }
                .boxed()
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (line, product, raw, content, outcome) in results {
            match outcome {
                Ok(outcome) => {
                    match outcome {
                        Outcome::Registered => counts.registered += 1,
                        Outcome::Updated => counts.updated += 1,
                        Outcome::Unchanged => counts.unchanged += 1,
                        Outcome::Delisted => counts.delisted += 1,
                    }
                    seen.push((product.id, content, outcome != Outcome::Delisted));
                }
                Err(CommandError::Rejected(refusal)) => rejected.push(RejectedLine {
                    line,
                    reason: format!("{}: {refusal}", refusal.code()),
                    raw,
                    id: Some(product.id),
                }),
                Err(error) => return Err(error.into()),
            }
        }
        counts.rejected += rejected.len() as i64;
        self.record(run_id, partner, &seen, &rejected).await?;
        if let Some(letters) = &self.dead_letters
            && !rejected.is_empty()
        {
            letters
                .send_feed_lines(&partner.0, &run_id.to_string(), &rejected)
                .await
                .map_err(IngestError::DeadLetters)?;
        }
        Ok(())
    }

    /// The command for one row that differs from what the feed said before (or is new).
    async fn apply_row(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        line: u64,
        product: &EpProduct,
    ) -> Result<Outcome, CommandError> {
        let id = ProductId::for_partner_sku(partner, &product.id);
        let metadata = metadata(run_id, partner, line);
        let send = |command: ProductCommand| {
            self.commands
                .dispatch(CommandRequest::new(id, command, metadata.clone()))
        };
        if product.class == Some(Class::Delete) {
            let receipt = send(ProductCommand::Delist {
                partner_id: partner.clone(),
                reason: Some("deleted from the feed".into()),
            })
            .await?;
            return Ok(match receipt.events.is_empty() {
                true => Outcome::Unchanged,
                false => Outcome::Delisted,
            });
        }
        let receipt = send(ProductCommand::List {
            product_id: id,
            partner_id: partner.clone(),
            sku: product.id.clone(),
            details: details(product),
            price: Money {
                amount: product.price,
                currency: Currency::KRW,
            },
            // EP feeds carry no stock: a new product gets the listed stock, a known one keeps its.
            stock: None,
        })
        .await?;
        Ok(match receipt.events.first().map(String::as_str) {
            None => Outcome::Unchanged,
            Some("ProductRegistered") => Outcome::Registered,
            Some(_) => Outcome::Updated,
        })
    }

    /// Delists the partner's listed products this full feed did not list.
    async fn delist_absent(&self, run_id: Uuid, partner: &PartnerId) -> Result<i64, IngestError> {
        let absent: Vec<String> = sqlx::query(
            "SELECT sku FROM feed_items WHERE partner_id = $1 AND listed = 1 AND last_run <> $2",
        )
        .bind(&partner.0)
        .bind(run_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        let mut delisted = 0;
        for skus in absent.chunks(CHUNK) {
            let results: Vec<Result<(), CommandError>> = futures::stream::iter(skus.to_vec())
                .map(|sku| {
                    async move {
                        let id = ProductId::for_partner_sku(partner, &sku);
                        let metadata = metadata(run_id, partner, format!("absent:{sku}"));
                        let command = ProductCommand::Delist {
                            partner_id: partner.clone(),
                            reason: Some("absent from the full feed".into()),
                        };
                        self.commands
                            .dispatch(CommandRequest::new(id, command, metadata))
                            .await
                            .map(|_| ())
                    }
                    .boxed()
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            results.into_iter().collect::<Result<Vec<()>, _>>()?;
            let mut query =
                String::from("UPDATE feed_items SET listed = 0 WHERE partner_id = $1 AND sku IN (");
            query.push_str(&placeholders(2, skus.len()));
            query.push(')');
            let mut update = sqlx::query(&query).bind(&partner.0);
            for sku in skus {
                update = update.bind(sku);
            }
            update.execute(&self.pool).await?;
            delisted += skus.len() as i64;
        }
        Ok(delisted)
    }

    /// What the feed said before of these SKUs.
    async fn items(
        &self,
        partner: &PartnerId,
        skus: &[&str],
    ) -> Result<HashMap<String, Item>, sqlx::Error> {
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
                    Item {
                        content: row.try_get(1)?,
                        listed: row.try_get::<i32, _>(2)? != 0,
                    },
                ))
            })
            .collect()
    }

    /// Records what the chunk's rows said, and its rejected lines, in one transaction.
    async fn record(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        seen: &[(String, String, bool)],
        rejected: &[RejectedLine],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let run = run_id.to_string();
        // A rejected line still names its product: a full feed does not delist it.
        let named: Vec<&str> = rejected.iter().filter_map(|r| r.id.as_deref()).collect();
        for ids in named.chunks(CHUNK) {
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
        // Four values a row; SQLite takes at most 32,766 in a statement.
        for rows in seen.chunks(CHUNK) {
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

    /// Stores `fields` as the partner's newest mapping for `format`; answers its version.
    pub async fn put_mapping(
        &self,
        partner: &str,
        format: FeedFormat,
        fields: &FieldMapping,
    ) -> Result<i64, sqlx::Error> {
        let json = serde_json::to_string(fields).unwrap_or_default();
        // The next version; two writers racing for it collide on the primary key.
        let row = sqlx::query(
            "INSERT INTO feed_mappings (partner_id, format, version, fields, created_at_ms) \
             SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4 FROM feed_mappings \
             WHERE partner_id = $1 AND format = $2 RETURNING version",
        )
        .bind(partner)
        .bind(format.as_str())
        .bind(json)
        .bind(Utc::now().timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        row.try_get(0)
    }

    /// The partner's newest mapping for `format`, with its version.
    pub async fn mapping(
        &self,
        partner: &str,
        format: FeedFormat,
    ) -> Result<Option<(i64, FieldMapping)>, sqlx::Error> {
        let Some(row) = sqlx::query(
            "SELECT version, fields FROM feed_mappings WHERE partner_id = $1 AND format = $2 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(partner)
        .bind(format.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let fields: String = row.try_get(1)?;
        let mapping =
            serde_json::from_str(&fields).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        Ok(Some((row.try_get(0)?, mapping)))
    }

    /// A run of `partner`, with its rejections in line order.
    pub async fn find(&self, partner: &str, run_id: Uuid) -> Result<Option<FeedRun>, sqlx::Error> {
        let query = format!(
            "SELECT {SUMMARY_COLUMNS} FROM feed_runs WHERE run_id = $1 AND partner_id = $2"
        );
        let Some(row) = sqlx::query(&query)
            .bind(run_id.to_string())
            .bind(partner)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let rejections =
            sqlx::query("SELECT line, reason FROM feed_rejections WHERE run_id = $1 ORDER BY line")
                .bind(run_id.to_string())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(Rejection {
                        line: r.try_get(0)?,
                        reason: r.try_get(1)?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(FeedRun {
            summary: summary(&row)?,
            rejections,
        }))
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

/// A feed command's metadata: the run correlates, the line (or the absent SKU) causes, the
/// partner's feed acts.
fn metadata(run_id: Uuid, partner: &PartnerId, cause: impl std::fmt::Display) -> CommandMetadata {
    CommandMetadata {
        correlation_id: run_id.to_string(),
        causation_id: format!("{run_id}:{cause}"),
        traceparent: None,
        actor: Some(format!("feed:{}", partner.0)),
    }
}

fn details(product: &EpProduct) -> ProductDetails {
    ProductDetails {
        title: product.title.clone(),
        brand: product.brand.clone(),
        category: product.category.clone(),
        model_number: product.model_number.clone(),
    }
}

/// A digest of what a row tells the Product aggregate: its details and price.
fn content(product: &EpProduct) -> String {
    let mut digest = Sha256::new();
    let details = details(product);
    for field in [
        Some(details.title.as_str()),
        details.brand.as_deref(),
        details.model_number.as_deref(),
    ] {
        digest.update(field.unwrap_or("\u{0}"));
        digest.update(b"\x1f");
    }
    for level in &details.category {
        digest.update(level);
        digest.update(b"\x1e");
    }
    digest.update(product.price.to_be_bytes());
    format!("{:x}", digest.finalize())
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
