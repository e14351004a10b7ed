//! A feed run: rows read as a stream on a blocking thread and turned into product commands,
//! chunk by chunk, recorded as they go. An unchanged row costs a lookup and no command; a full
//! feed delists what it no longer lists; every rejected line is kept with its reason and raw
//! bytes, and sent to the dead letters when there is a cluster.

use std::io::BufRead;
use std::sync::Arc;

use eventmall_aggregates::ProductCommand;
use eventmall_events::product::ProductEvent;
use eventmall_events::{Currency, DeadLetter, Money, PartnerId, ProductId};
use eventmall_store::{CommandError, CommandGateway, CommandRequest, Dispatch};
use futures::{FutureExt, StreamExt};
use sqlx::AnyPool;
use tokio::sync::{Semaphore, mpsc};
use tracing::instrument;
use uuid::Uuid;

use crate::ep::{Class, EpProduct};
use crate::mapped::{CsvSource, JsonlSource};
use crate::records::{Ending, FeedRecords, ROWS_PER_STATEMENT, Seen};
use crate::{
    EpReader, FeedCounts, FeedEncoding, FeedError, FeedFormat, FeedKind, FeedRow, FeedRows,
    FeedRun, FeedSettings, RejectedLine, RowSource,
};
use row::{content, dead_letter, details, metadata};

mod row;

/// Rows handled together: one lookup of what the feed said before, one write of what it says.
const CHUNK: usize = 256;
/// Commands in flight at once.
const CONCURRENCY: usize = 128;

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("feed store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("partner {0} has no field mapping for {1} feeds; PUT one first")]
    NoMapping(String, &'static str),
    /// Rejected lines are kept in the run; the dead-letter topic did not take them.
    #[error("rejected lines not sent to the dead letters: {0}")]
    DeadLetters(Box<dyn std::error::Error + Send + Sync>),
    /// The partner has a run going: one at a time, or each would delist what the other lists.
    #[error("partner {partner} has feed run {running} going; one run at a time")]
    Busy { partner: String, running: Uuid },
    /// This process runs as many feeds as it is configured to.
    #[error("{max} feed runs are going; try again when one ends")]
    AtCapacity { max: usize },
    /// The run stopped once it had rejected this many lines, recorded as failed.
    #[error("feed run {run_id} stopped after {max} rejected lines; its report has them")]
    TooManyRejections { run_id: Uuid, max: i64 },
}

/// Where a run's rejected lines go besides its record: the dead-letter topic of a cluster.
#[async_trait::async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Sends the letters and answers once they are taken.
    async fn send(
        &self,
        letters: Vec<DeadLetter>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Runs feeds against the command gateway, recording them in the event store's database.
#[derive(Clone)]
pub struct FeedIngest {
    commands: CommandGateway,
    records: FeedRecords,
    /// Where rejected lines go besides the run's record, when there is a cluster.
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    settings: FeedSettings,
    /// A permit per run going in this process.
    running: Arc<Semaphore>,
}

/// What one product command did for a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowOutcome {
    Registered,
    Updated,
    Unchanged,
    Delisted,
}

impl FeedIngest {
    /// Feed ingest over `commands`, recording runs in `pool` (the event store's database).
    pub fn new(commands: CommandGateway, pool: AnyPool) -> Self {
        Self::with_settings(commands, pool, &FeedSettings::default())
    }

    pub fn with_settings(commands: CommandGateway, pool: AnyPool, settings: &FeedSettings) -> Self {
        Self {
            commands,
            records: FeedRecords::new(pool),
            dead_letters: None,
            settings: settings.clone(),
            running: Arc::new(Semaphore::new(settings.max_concurrent_runs)),
        }
    }

    /// Feed ingest that also sends each rejected line, raw, to `sink` (stage `feed`).
    pub fn with_dead_letters(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// The command gateway the runs use.
    pub fn commands(&self) -> &CommandGateway {
        &self.commands
    }

    /// What the runs recorded, and the partners' mappings.
    pub fn records(&self) -> &FeedRecords {
        &self.records
    }

    /// Reads `input` to its end as a feed of `partner`, applies it, and answers the run. A feed
    /// whose header cannot be read fails whole, recorded as `failed`.
    pub async fn run<R: BufRead + Send + 'static>(
        &self,
        partner: PartnerId,
        format: FeedFormat,
        encoding: FeedEncoding,
        input: R,
    ) -> Result<FeedRun, RunError> {
        let mapping = match format.mapped() {
            false => None,
            true => Some(
                self.records
                    .mapping(&partner.0, format)
                    .await?
                    .ok_or_else(|| RunError::NoMapping(partner.0.clone(), format.as_str()))?,
            ),
        };
        let _permit =
            self.running
                .clone()
                .try_acquire_owned()
                .map_err(|_| RunError::AtCapacity {
                    max: self.settings.max_concurrent_runs,
                })?;
        let run_id = Uuid::now_v7();
        let version = mapping.as_ref().map(|(version, _)| *version);
        if let Some(running) = self
            .records
            .start(run_id, &partner, format, encoding, version)
            .await?
        {
            return Err(RunError::Busy {
                partner: partner.0,
                running,
            });
        }
        let _beating = self.records.heartbeat(run_id);
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
        let ending = match &outcome {
            Ok(kind) => Ending {
                status: "completed",
                error: None,
                kind: Some(*kind),
                counts: &counts,
            },
            Err(error) => Ending {
                status: "failed",
                error: Some(error.to_string()),
                kind: None,
                counts: &counts,
            },
        };
        self.records.finish(run_id, ending).await?;
        outcome?;
        self.records
            .find(&partner.0, run_id)
            .await?
            .ok_or(RunError::Store(sqlx::Error::RowNotFound))
    }

    async fn apply(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        open: impl FnOnce() -> Result<Box<dyn RowSource + Send>, FeedError> + Send + 'static,
        counts: &mut FeedCounts,
    ) -> Result<FeedKind, RunError> {
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
                let before = counts.clone();
                self.apply_chunk(run_id, partner, &mut chunk, counts)
                    .await?;
                counts.count_since(&before);
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
            let before = counts.clone();
            counts.delisted += self.delist_absent(run_id, partner).await?;
            counts.count_since(&before);
        }
        Ok(kind)
    }

    #[instrument(skip_all, fields(partner = %partner.0, run = %run_id, rows = chunk.len()))]
    async fn apply_chunk(
        &self,
        run_id: Uuid,
        partner: &PartnerId,
        chunk: &mut Vec<FeedRow>,
        counts: &mut FeedCounts,
    ) -> Result<(), RunError> {
        let skus: Vec<&str> = chunk
            .iter()
            .filter_map(|row| match row {
                FeedRow::Valid { product, .. } => Some(product.id.as_str()),
                FeedRow::Rejected(_) => None,
            })
            .collect();
        let before = self.records.items(partner, &skus).await?;
        let mut rejected = Vec::new();
        // What this chunk says of each product.
        let mut seen: Vec<Seen> = Vec::new();
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
                        RowOutcome::Registered => counts.registered += 1,
                        RowOutcome::Updated => counts.updated += 1,
                        RowOutcome::Unchanged => counts.unchanged += 1,
                        RowOutcome::Delisted => counts.delisted += 1,
                    }
                    seen.push((product.id, content, outcome != RowOutcome::Delisted));
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
        self.records
            .record(run_id, partner, &seen, &rejected)
            .await?;
        if let Some(sink) = &self.dead_letters
            && !rejected.is_empty()
        {
            let letters = rejected
                .into_iter()
                .map(|line| dead_letter(partner, run_id, line))
                .collect();
            sink.send(letters).await.map_err(RunError::DeadLetters)?;
        }
        let max = self.settings.max_rejections;
        if counts.rejected >= max {
            return Err(RunError::TooManyRejections { run_id, max });
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
    ) -> Result<RowOutcome, CommandError> {
        let id = ProductId::for_partner_sku(partner, &product.id);
        let metadata = metadata(run_id, partner, line);
        let send = |command: ProductCommand| {
            self.commands
                .execute(CommandRequest::new(id, command, metadata.clone()))
        };
        if product.class == Some(Class::Delete) {
            let done = send(ProductCommand::Delist {
                partner_id: partner.clone(),
                reason: Some("deleted from the feed".into()),
            })
            .await?;
            return Ok(match done.events.is_empty() {
                true => RowOutcome::Unchanged,
                false => RowOutcome::Delisted,
            });
        }
        let done = send(ProductCommand::List {
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
        Ok(match done.events.first() {
            None => RowOutcome::Unchanged,
            Some(ProductEvent::ProductRegistered(_)) => RowOutcome::Registered,
            Some(_) => RowOutcome::Updated,
        })
    }

    /// Delists the partner's listed products this full feed did not list.
    async fn delist_absent(&self, run_id: Uuid, partner: &PartnerId) -> Result<i64, RunError> {
        let absent = self.records.absent(run_id, partner).await?;
        for skus in absent.chunks(ROWS_PER_STATEMENT) {
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
            self.records.delisted(partner, skus).await?;
        }
        Ok(absent.len() as i64)
    }
}
