//! Applying a window: its records' events handed to the read model with their positions, the
//! records that cannot be applied sent to the dead letters first, and the window retried
//! whole while the read model's store fails.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventmall_events::{AnyEvent, DeadLetter};
use eventmall_projections::projection::Fault;
use eventmall_projections::{Batch, Checkpoint, Delivered, Envelope, Projection};
use eventmall_registry::RegisteredCodec;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument, warn};

use super::decode::{Undecoded, decode};
use crate::dead_letters::{DeadLetters, refused};
use crate::{Consumed, Error, Result};

/// The longest wait between retries of a window while the read model's store is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A record read into its event when the window was polled, or the reason it is poison;
/// `None` when the registry did not answer then (it is decoded again when applied).
pub(super) type Decoded = Option<std::result::Result<Envelope<AnyEvent>, String>>;

/// The records of a window, each with what decoding it gave.
pub(super) struct Window {
    pub records: Vec<Consumed>,
    pub decoded: Vec<Decoded>,
}

/// Decodes, applies, dead-letters and commits windows, on the runtime, while the projector's
/// thread reads the next one.
#[derive(Clone)]
pub(super) struct Applier {
    pub projection: Arc<dyn Projection>,
    pub codec: RegisteredCodec,
    pub dead_letters: DeadLetters,
}

impl Applier {
    /// Reads each record into its event.
    pub async fn decode(&self, records: &[Consumed]) -> Vec<Decoded> {
        let mut decoded = Vec::with_capacity(records.len());
        for record in records {
            decoded.push(match decode(record, &self.codec).await {
                Ok(envelope) => Some(Ok(envelope)),
                Err(Undecoded::Poison(reason)) => Some(Err(reason)),
                Err(Undecoded::Unavailable(_)) => None,
            });
        }
        decoded
    }

    /// Applies `window`, retrying while the read model's store fails; `None` when stopped
    /// first. The next window is not applied meanwhile, so the one in hand is the one retried
    /// and nothing past it counts: however long the store is down, no record is skipped.
    /// `_turn` is held until then: a rebalance waits for it.
    pub async fn settle(
        self,
        window: Window,
        stop: CancellationToken,
        _turn: OwnedMutexGuard<()>,
    ) -> Option<Vec<Checkpoint>> {
        let name = self.projection.name();
        let mut backoff = Duration::from_millis(100);
        loop {
            // A stop abandons the window wherever it is (a dead-letter send may take until the
            // producer gives up): nothing uncommitted counts, and the checkpoints say where to
            // resume.
            let applied = tokio::select! {
                () = stop.cancelled() => return None,
                applied = self.isolating(&window.records, &window.decoded) => applied,
            };
            match applied {
                Ok(positions) => return Some(positions),
                Err(error) => {
                    warn!(projector = name, %error, ?backoff, "batch not applied; retrying it");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Applies `records`; when the read model says the data is at fault, splits them in halves
    /// until the one record at fault is found, sends it to the dead letters with the read
    /// model's reason and applies the rest. A failure of the store is returned, to be retried.
    async fn isolating(
        &self,
        records: &[Consumed],
        decoded: &[Decoded],
    ) -> Result<Vec<Checkpoint>> {
        let error = match self.process(records, decoded, None).await {
            Err(Error::ReadModel(error)) if error.fault() == Fault::Data => error,
            other => return other,
        };
        if let [record] = records {
            warn!(
                projector = self.projection.name(),
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
                %error,
                "the read model cannot apply this record"
            );
            return self
                .process(records, decoded, Some(error.to_string()))
                .await;
        }
        let half = records.len() / 2;
        let mut positions = Box::pin(self.isolating(&records[..half], &decoded[..half])).await?;
        positions.extend(Box::pin(self.isolating(&records[half..], &decoded[half..])).await?);
        Ok(positions)
    }

    /// Applies, dead-letters and commits one batch; answers the new positions. With `refused`,
    /// every record is poison for that reason and only the positions move.
    #[instrument(skip_all, fields(projector = self.projection.name(), records = records.len()))]
    async fn process(
        &self,
        records: &[Consumed],
        decoded: &[Decoded],
        refused: Option<String>,
    ) -> Result<Vec<Checkpoint>> {
        // Per partition: the next offset and the highest store position passed.
        let mut positions: BTreeMap<(&str, i32), (i64, i64)> = BTreeMap::new();
        let mut batch = Batch::default();
        let mut poison: Vec<(usize, String)> = Vec::new();
        for (index, (record, decoded)) in records.iter().zip(decoded).enumerate() {
            let stored_at = record
                .header("global_position")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let entry = positions
                .entry((&record.topic, record.partition))
                .or_insert((0, 0));
            *entry = (record.offset + 1, entry.1.max(stored_at));
            if let Some(reason) = &refused {
                poison.push((index, reason.clone()));
                continue;
            }
            let envelope = match decoded {
                Some(Ok(envelope)) => envelope.clone(),
                Some(Err(reason)) => {
                    poison.push((index, reason.clone()));
                    continue;
                }
                None => match decode(record, &self.codec).await {
                    Ok(envelope) => envelope,
                    Err(Undecoded::Poison(reason)) => {
                        poison.push((index, reason));
                        continue;
                    }
                    // Not the record's fault: the batch is retried.
                    Err(Undecoded::Unavailable(error)) => return Err(Error::Codec(error)),
                },
            };
            batch.events.push(Delivered {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                envelope,
                record: index,
            });
        }
        batch.positions = positions
            .into_iter()
            .map(|((topic, partition), (next_offset, position))| Checkpoint {
                topic: topic.to_owned(),
                partition,
                next_offset,
                position,
            })
            .collect();
        // Dead letters are sent with no transaction open (on PostgreSQL an open one would hold
        // back the relay's gap-safe reads): a batch that refuses records is rolled back, its
        // letters sent, and prepared again.
        let mut sent = BTreeSet::new();
        let started = Instant::now();
        let prepared = loop {
            let prepared = self.projection.prepare(&batch).await?;
            let letters: Vec<(usize, String)> = poison
                .iter()
                .cloned()
                .chain(
                    prepared
                        .refused
                        .iter()
                        .map(|(event, reason)| (batch.events[*event].record, reason.clone())),
                )
                // A record below the checkpoint was dead-lettered when it was first passed.
                .filter(|(index, _)| {
                    let record = &records[*index];
                    let key = (record.topic.clone(), record.partition);
                    record.offset >= prepared.before.get(&key).copied().unwrap_or(0)
                })
                .filter(|(index, _)| !sent.contains(index))
                .collect();
            if letters.is_empty() {
                break prepared;
            }
            prepared.rollback.await?;
            self.send_dead_letters(records, &letters).await?;
            sent.extend(letters.into_iter().map(|(index, _)| index));
        };
        let prepared_in = started.elapsed();
        prepared.commit.await?;
        debug!(
            projector = self.projection.name(),
            records = records.len(),
            dead_letters = sent.len(),
            prepared_ms = prepared_in.as_millis(),
            committed_ms = (started.elapsed() - prepared_in).as_millis(),
            "batch committed"
        );
        Ok(batch.positions)
    }

    async fn send_dead_letters(
        &self,
        records: &[Consumed],
        letters: &[(usize, String)],
    ) -> Result<()> {
        let stage = self.projection.name();
        let letters: Vec<DeadLetter> = letters
            .iter()
            .map(|(index, reason)| {
                let record = &records[*index];
                warn!(
                    projector = stage,
                    topic = %record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    %reason,
                    "record sent to the dead letters"
                );
                refused(record, stage, reason)
            })
            .collect();
        self.dead_letters.send(letters).await
    }
}
