//! `replay republish`: stored events sent to Kafka again, for a topic that was lost or cut
//! short. Each record is the one the relay sent (key, payload, the same `event_id` and other
//! headers, the same timestamp), plus `republish_run` naming this run. Consumers de-duplicate
//! by aggregate version, so the read models stay the same.

use std::sync::Arc;

use eventmall_events::AnyEvent;
use eventmall_registry::RegisteredCodec;
use eventmall_store::EventBackend;
use rdkafka::message::Header;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use tracing::info;

use crate::relay::headers;
use crate::{Error, RelaySettings, Result, producer_config};

/// Events read from the store per page.
const PAGE: i64 = 1_000;

/// What a republish sent.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Republished {
    /// The `republish_run` header on every record sent.
    pub run: String,
    pub from_position: i64,
    pub to_position: Option<i64>,
    /// Records sent, by topic.
    pub records: BTreeMap<String, u64>,
    /// The last store position sent.
    pub last_position: i64,
}

/// Sends the events stored at positions `from..=to` (to the end without `to`) again.
pub async fn republish(
    backend: Arc<dyn EventBackend>,
    codec: &RegisteredCodec,
    bootstrap_servers: &str,
    relay: &RelaySettings,
    from: i64,
    to: Option<i64>,
) -> Result<Republished> {
    let producer: FutureProducer = producer_config(bootstrap_servers, relay).create()?;
    let run = uuid::Uuid::now_v7().to_string();
    // The ids of today's schemas, as the relay encodes with them.
    codec.register(&eventmall_events::avro::contract()).await?;
    let codec = codec.codec().await;
    let mut sent = Republished {
        run: run.clone(),
        from_position: from,
        to_position: to,
        records: BTreeMap::new(),
        last_position: 0,
    };
    let mut after = from.saturating_sub(1).max(0);
    let mut payload = Vec::with_capacity(256);
    'pages: loop {
        let page = backend.read_after(after, PAGE).await?;
        if page.is_empty() {
            break;
        }
        let mut deliveries = Vec::with_capacity(page.len());
        for stored in &page {
            if to.is_some_and(|to| stored.global_position > to) {
                for delivery in deliveries {
                    delivered(delivery).await?;
                }
                break 'pages;
            }
            let event =
                AnyEvent::from_stored(&stored.aggregate_type, &stored.event_type, &stored.payload)
                    .map_err(|e| Error::Replay(format!("event {}: {e}", stored.global_position)))?;
            payload.clear();
            codec
                .encode(&event, &mut payload)
                .map_err(|e| Error::Replay(format!("event {}: {e}", stored.global_position)))?;
            let record = FutureRecord::to(event.topic())
                .key(stored.aggregate_id.as_bytes())
                .payload(payload.as_slice())
                .headers(headers(stored).insert(Header {
                    key: "republish_run",
                    value: Some(run.as_str()),
                }))
                .timestamp(stored.metadata.recorded_at.timestamp_millis());
            let delivery = producer
                .send_result(record)
                .map_err(|(error, _)| Error::Kafka(error))?;
            deliveries.push(delivery);
            *sent.records.entry(event.topic().to_owned()).or_default() += 1;
            sent.last_position = stored.global_position;
        }
        for delivery in deliveries {
            delivered(delivery).await?;
        }
        after = page.last().map_or(after, |e| e.global_position);
    }
    info!(%run, from, ?to, records = ?sent.records, "republished");
    Ok(sent)
}

async fn delivered(delivery: rdkafka::producer::DeliveryFuture) -> Result<()> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(Error::Kafka(error)),
        Err(_) => Err(Error::Replay("the producer dropped a record".into())),
    }
}
