//! The relay: publishes every stored event to Kafka, in store order, at least once.
//!
//! It tails the store by global position (gap-safe, so an event whose transaction commits late
//! is never passed), encodes each event as Avro in the Confluent wire format and produces it
//! with an idempotent producer, key = aggregate id. Batches are pipelined; the published
//! position moves only after the broker has acknowledged every record up to it, so a relay
//! killed at any point resends from there, and a resent record carries its original
//! `event_id`. A lease in the database keeps one relay instance active per relay name.

mod headers;
mod lag;
mod lease;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventmall_events::{AnyEvent, EventSchema, StoredEvent};
use eventmall_registry::RegisteredCodec;
use eventmall_store::{EventBackend, StoreError};
use futures::future::join_all;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use sqlx::AnyPool;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, info, instrument, warn};

pub use headers::headers;
use headers::{publish_span, traced_headers};
pub use lag::{RelayLag, lag};
pub use lease::{RelayLease, RelayRow, hostname, relay_rows};

use crate::{KafkaSettings, RelaySettings, Result, ensure_topics, producer_config};

/// Batches read ahead of the producer, at most.
const READ_AHEAD_BATCHES: usize = 2;

/// Batches produced but not yet acknowledged, at most.
const IN_FLIGHT_BATCHES: usize = 8;

/// While batches keep coming, the published position is written at most this often; a crash
/// resends at most this much more.
const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// How long after the holder's lease lapses a standby asks for it: the takeover is within the
/// lease's TTL of the holder's last renewal, plus this.
const LAPSE_MARGIN: Duration = Duration::from_millis(20);

/// The topics the relay writes: one per aggregate type.
pub fn topics(contract: &[EventSchema]) -> Vec<&'static str> {
    let mut topics: Vec<&'static str> = contract.iter().map(|event| event.topic).collect();
    topics.dedup();
    topics
}

pub struct Relay {
    backend: Arc<dyn EventBackend>,
    lease: RelayLease,
    codec: RegisteredCodec,
    producer_config: rdkafka::ClientConfig,
    /// The producer between publishing runs; a run that ends in a setback drops it.
    producer: std::sync::Mutex<Option<FutureProducer>>,
    latency: PublishLatency,
    settings: RelaySettings,
}

/// A batch handed to the producer.
struct InFlight {
    last_position: i64,
    deliveries: Vec<DeliveryFuture>,
    /// When each event was stored, in milliseconds since the epoch.
    recorded_at_ms: Vec<i64>,
    /// Each record's producer span, while spans are recorded: it ends when the batch is
    /// acknowledged.
    spans: Vec<tracing::Span>,
}

/// How long events take from stored to acknowledged by the broker, in milliseconds.
pub type PublishLatency = Arc<std::sync::Mutex<hdrhistogram::Histogram<u64>>>;

/// An empty latency histogram: milliseconds, three significant digits, any range.
fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    // Three significant digits are within the histogram's bounds (0 to 5).
    hdrhistogram::Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits"))
}

/// Why the relay stepped back to its published position.
#[derive(Debug, thiserror::Error)]
enum Setback {
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("event at position {position} cannot be published: {reason}")]
    Unpublishable { position: i64, reason: String },
    #[error("delivery failed: {0}")]
    Delivery(String),
    #[error("the relay's row: {0}")]
    Lease(#[from] sqlx::Error),
    #[error("the lease was taken over by another relay")]
    LeaseLost,
    #[error("the lease expired before it could be renewed")]
    LeaseExpired,
    #[error("the task reading the store ahead stopped")]
    ReaderStopped,
    #[error("the task writing the published position stopped")]
    KeeperStopped,
}

impl Relay {
    /// Connects the producer, creates the missing topics and registers our schemas.
    pub async fn connect(
        backend: Arc<dyn EventBackend>,
        pool: AnyPool,
        codec: RegisteredCodec,
        bootstrap_servers: &str,
        kafka_settings: &KafkaSettings,
        settings: &RelaySettings,
    ) -> Result<Self> {
        let contract = eventmall_events::avro::contract();
        ensure_topics(bootstrap_servers, kafka_settings, &topics(&contract)).await?;
        codec.register(&contract).await?;
        let producer_config = producer_config(bootstrap_servers, settings);
        // Connected now, so the first batch does not wait for the producer to start.
        let producer: FutureProducer = producer_config.create()?;
        let lease = RelayLease::new(
            pool,
            &settings.name,
            Duration::from_millis(settings.lease_ttl_ms),
        );
        Ok(Self {
            backend,
            lease,
            codec,
            producer_config,
            producer: std::sync::Mutex::new(Some(producer)),
            latency: Arc::new(std::sync::Mutex::new(latency_histogram())),
            settings: settings.clone(),
        })
    }

    /// Stored → acknowledged latency of every event this relay published.
    pub fn latency(&self) -> PublishLatency {
        self.latency.clone()
    }

    /// Publishes until `stop` is cancelled, then flushes what is in flight and gives the lease up.
    pub async fn run(self, stop: CancellationToken) {
        info!(name = %self.settings.name, holder = %self.lease.holder(), "relay started");
        let idle = Duration::from_millis(self.settings.poll_interval_ms);
        let standby = Duration::from_millis(self.settings.lease_ttl_ms / 3).max(idle);
        let mut failures = 0u32;
        let mut holding = false;
        while !stop.is_cancelled() {
            let asked = Instant::now();
            let position = match self.lease.acquire().await {
                Ok(Some(position)) => {
                    if !holding {
                        info!(position, "relay holds the lease");
                    }
                    holding = true;
                    position
                }
                Ok(None) => {
                    holding = false;
                    debug!("another relay holds the lease; standing by");
                    let lapses = self.lease.lapses_in().await.unwrap_or(standby);
                    sleep_or_stop(&stop, standby.min(lapses + LAPSE_MARGIN)).await;
                    continue;
                }
                Err(error) => {
                    warn!(%error, "cannot read the relay's lease");
                    sleep_or_stop(&stop, standby).await;
                    continue;
                }
            };
            match self.publish_from(position, asked, &stop).await {
                Ok(()) => failures = 0,
                Err(setback) => {
                    failures += 1;
                    let backoff = Duration::from_millis((100u64 << failures.min(6)).min(5_000));
                    warn!(%setback, ?backoff, "relay stepping back to its published position");
                    sleep_or_stop(&stop, backoff).await;
                }
            }
        }
        if let Err(error) = self.lease.release().await {
            warn!(%error, "could not release the relay's lease");
        }
        info!("relay stopped");
    }

    /// Publishes from `published` on while the lease holds, until stopped or set back. The lease
    /// was taken by a request sent at `asked`: it holds until `asked` + its TTL, and each renewal
    /// moves that on from when the renewal was sent. Past it, another relay may hold the lease,
    /// so nothing more is produced, however long a renewal hangs.
    async fn publish_from(
        &self,
        mut published: i64,
        asked: Instant,
        stop: &CancellationToken,
    ) -> Result<(), Setback> {
        // After a setback, a fresh producer: nothing the old one queued arrives later.
        let kept = self.producer.lock().ok().and_then(|mut kept| kept.take());
        let producer = match kept {
            Some(producer) => producer,
            None => self
                .producer_config
                .create()
                .map_err(|e| Setback::Delivery(e.to_string()))?,
        };
        let idle = Duration::from_millis(self.settings.poll_interval_ms);
        let renew_every = Duration::from_millis(self.settings.lease_ttl_ms / 3);
        // The store is read ahead by its own task, while earlier batches are being delivered.
        let (ahead, mut batches) = mpsc::channel(READ_AHEAD_BATCHES);
        let _reader = AbortOnDropHandle::new(tokio::spawn(read_ahead(
            self.backend.clone(),
            published,
            self.settings.batch_size,
            idle,
            ahead,
        )));
        // The position is written by its own task, so that a slow write never holds up records.
        let (positions, position) = watch::channel(published);
        let ttl = Duration::from_millis(self.settings.lease_ttl_ms);
        let (held_until, lease_deadline) = watch::channel(asked + ttl);
        let mut keeper = AbortOnDropHandle::new(tokio::spawn(keep_position(
            self.lease.clone(),
            position,
            renew_every,
            held_until,
        )));
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        loop {
            if keeper.is_finished() {
                return match (&mut keeper).await {
                    Ok(Err(setback)) => Err(setback),
                    _ => Err(Setback::KeeperStopped),
                };
            }
            if Instant::now() >= *lease_deadline.borrow() {
                return Err(Setback::LeaseExpired);
            }
            // Take the next batch when there is room; wait for one only when nothing is in flight.
            let next = if in_flight.len() >= IN_FLIGHT_BATCHES || stop.is_cancelled() {
                None
            } else if in_flight.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => None,
                    batch = tokio::time::timeout(COMMIT_EVERY, batches.recv()) => match batch {
                        Ok(None) => return Err(Setback::ReaderStopped),
                        Ok(batch) => batch,
                        Err(_) => None,
                    },
                }
            } else {
                batches.try_recv().ok()
            };
            if let Some(batch) = next {
                in_flight.push_back(self.produce(&producer, &batch?).await?);
                continue;
            }
            match in_flight.pop_front() {
                Some(batch) => {
                    for delivery in join_all(batch.deliveries).await {
                        match delivery {
                            Ok(Ok(_)) => {}
                            Ok(Err((error, _))) => {
                                return Err(Setback::Delivery(error.to_string()));
                            }
                            Err(_) => {
                                return Err(Setback::Delivery(
                                    "the producer dropped a record".into(),
                                ));
                            }
                        }
                    }
                    // The producer spans end with the acknowledgement.
                    drop(batch.spans);
                    published = batch.last_position;
                    self.record_latency(&batch.recorded_at_ms);
                    positions.send_replace(published);
                }
                None if stop.is_cancelled() => {
                    // The keeper writes the last position once the sender is gone.
                    drop(positions);
                    let kept = (&mut keeper).await.unwrap_or(Err(Setback::KeeperStopped));
                    let _ = producer.flush(Duration::from_secs(5));
                    if let Ok(mut slot) = self.producer.lock() {
                        *slot = Some(producer);
                    }
                    return kept;
                }
                None => {}
            }
        }
    }

    fn record_latency(&self, recorded_at_ms: &[i64]) {
        let now = chrono::Utc::now().timestamp_millis();
        let produced = metrics::histogram!("eventmall_relay_stored_to_acknowledged_seconds");
        for recorded in recorded_at_ms {
            produced.record((now - recorded).max(0) as f64 / 1000.0);
        }
        metrics::counter!("eventmall_relay_events_total").increment(recorded_at_ms.len() as u64);
        if let Ok(mut latency) = self.latency.lock() {
            for recorded in recorded_at_ms {
                let _ = latency.record(u64::try_from(now - recorded).unwrap_or(0));
            }
        }
    }

    /// Encodes a batch and hands it to the producer, in order.
    #[instrument(skip_all, fields(events = batch.len(), first = batch.first().map(|e| e.global_position)))]
    async fn produce(
        &self,
        producer: &FutureProducer,
        batch: &[StoredEvent],
    ) -> Result<InFlight, Setback> {
        let codec = self.codec.codec().await;
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut recorded_at_ms = Vec::with_capacity(batch.len());
        let mut payload = Vec::with_capacity(256);
        let mut spans = Vec::new();
        for stored in batch {
            let unpublishable = |reason: String| Setback::Unpublishable {
                position: stored.global_position,
                reason,
            };
            let event =
                AnyEvent::from_stored(&stored.aggregate_type, &stored.event_type, &stored.payload)
                    .map_err(|e| unpublishable(e.to_string()))?;
            payload.clear();
            codec
                .encode(&event, &mut payload)
                .map_err(|e| unpublishable(e.to_string()))?;
            let traceparent = match eventmall_telemetry::recording() {
                true => {
                    let span = publish_span(stored, event.topic());
                    let traceparent = eventmall_telemetry::traceparent_of(&span);
                    spans.push(span);
                    traceparent
                }
                false => None,
            };
            let headers = traced_headers(stored, traceparent.as_deref());
            recorded_at_ms.push(stored.metadata.recorded_at.timestamp_millis());
            let mut record = FutureRecord::to(event.topic())
                .key(stored.aggregate_id.as_bytes())
                .payload(payload.as_slice())
                .headers(headers)
                .timestamp(stored.metadata.recorded_at.timestamp_millis());
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        back,
                    )) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => return Err(Setback::Delivery(error.to_string())),
                }
            }
        }
        Ok(InFlight {
            last_position: batch.last().map_or(0, |e| e.global_position),
            deliveries,
            recorded_at_ms,
            spans,
        })
    }
}

/// Writes each new published position, at most every [`COMMIT_EVERY`], renewing the lease
/// with it; renews it alone when nothing moves. Ends after a last write when the publisher
/// drops its sender, or with [`Setback::LeaseLost`] when another relay took the lease.
async fn keep_position(
    lease: RelayLease,
    mut positions: watch::Receiver<i64>,
    renew_every: Duration,
    held_until: watch::Sender<Instant>,
) -> Result<(), Setback> {
    let mut written = *positions.borrow_and_update();
    loop {
        let changed = tokio::time::timeout(renew_every, positions.changed()).await;
        let position = *positions.borrow_and_update();
        let asked = Instant::now();
        if position > written || matches!(changed, Ok(Err(_))) {
            if !lease.commit(position).await? {
                return Err(Setback::LeaseLost);
            }
            written = position;
        } else if lease.acquire().await?.is_none() {
            return Err(Setback::LeaseLost);
        }
        held_until.send_replace(asked + lease.ttl());
        match changed {
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(())) => tokio::time::sleep(COMMIT_EVERY).await,
            Err(_) => {}
        }
    }
}

/// Reads the store after `after` in batches and hands them over in order, until the receiver
/// is gone; a store error is handed over as the last item.
async fn read_ahead(
    backend: Arc<dyn EventBackend>,
    mut after: i64,
    batch_size: i64,
    idle: Duration,
    batches: mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
) {
    loop {
        match backend.read_after(after, batch_size).await {
            Ok(batch) if batch.is_empty() => tokio::time::sleep(idle).await,
            Ok(batch) => {
                after = batch.last().map_or(after, |event| event.global_position);
                if batches.send(Ok(batch)).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = batches.send(Err(error)).await;
                return;
            }
        }
    }
}

async fn sleep_or_stop(stop: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}
