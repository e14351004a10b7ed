//! The roles that consume or feed the Kafka cluster, wired from settings: the relay, the
//! projectors and their supervisor, the replay tooling, the ingest consumer and the payment
//! policy, each with the topics it needs created when missing.

use std::sync::Arc;

use eventmall_events::dead_letter;
use eventmall_kafka::ensure_topics;
use eventmall_kafka::ingest::IngestConsumer;
use eventmall_kafka::policy::{self, Policy, PolicyConsumer};
use eventmall_kafka::projector::{Projector, Supervisor};
use eventmall_kafka::relay::Relay;
use eventmall_kafka::replay::Replay;
use eventmall_projections::Projection;
use eventmall_read_models::{ReadModels, Stores};
use eventmall_registry::RegisteredCodec;
use eventmall_store::{CommandGateway, EventBackend};
use sqlx::AnyPool;

use super::{codec, stores};
use crate::config::Settings;

/// The replay tooling over the configured cluster (else the local broker of a running `up`).
pub async fn replay(settings: &Settings, bootstrap_servers: &str) -> anyhow::Result<Replay> {
    let store_pool = eventmall_store::connect_pool(&settings.store_url()).await?;
    Ok(Replay::new(
        stores(settings).await?,
        codec(settings, &store_pool)?,
        bootstrap_servers,
        &settings.projectors.runtime(),
        &settings.replay,
    )?)
}

/// The supervisor of the projectors called `names` (every one when empty), with their topics
/// and the dead-letter topic created when missing.
pub async fn supervisor(
    settings: &Settings,
    stores: &Stores,
    codec: RegisteredCodec,
    bootstrap_servers: &str,
    names: &[String],
) -> anyhow::Result<Supervisor> {
    let chosen: Vec<&'static str> = match names.is_empty() {
        true => eventmall_read_models::NAMES.to_vec(),
        false => names
            .iter()
            .map(|name| Stores::known(name))
            .collect::<Result<_, _>>()?,
    };
    let topics = chosen
        .iter()
        .map(|name| Stores::topics(name))
        .collect::<Result<Vec<_>, _>>()?;
    ensure_projector_topics(settings, bootstrap_servers, topics.concat()).await?;
    Ok(Supervisor::new(
        stores.clone(),
        codec,
        bootstrap_servers,
        &settings.projectors.runtime(),
        chosen,
    ))
}

/// The projectors of `views` called `names` (every one when empty), with their topics and the
/// dead-letter topic created when missing.
pub async fn projectors(
    settings: &Settings,
    views: &ReadModels,
    codec: RegisteredCodec,
    bootstrap_servers: &str,
    names: &[String],
) -> anyhow::Result<Vec<Projector>> {
    let all = views.projections().to_vec();
    if let Some(unknown) = names
        .iter()
        .find(|name| !all.iter().any(|p| p.name() == name.as_str()))
    {
        let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
        anyhow::bail!("no projector {unknown}; one of {}", known.join(", "));
    }
    let chosen: Vec<Arc<dyn Projection>> = all
        .into_iter()
        .filter(|p| names.is_empty() || names.iter().any(|name| name == p.name()))
        .collect();
    let topics: Vec<&str> = chosen
        .iter()
        .flat_map(|p| p.topics().iter().copied())
        .collect();
    ensure_projector_topics(settings, bootstrap_servers, topics).await?;
    let runtime = settings.projectors.runtime();
    chosen
        .into_iter()
        .map(|projection| {
            Ok(Projector::new(
                projection,
                codec.clone(),
                bootstrap_servers,
                &runtime,
            )?)
        })
        .collect()
}

/// Creates the projectors' `topics` and the dead-letter topics when missing.
async fn ensure_projector_topics(
    settings: &Settings,
    bootstrap_servers: &str,
    mut topics: Vec<&str>,
) -> anyhow::Result<()> {
    topics.extend([dead_letter::TOPIC, dead_letter::RETRIED_TOPIC]);
    topics.sort_unstable();
    topics.dedup();
    Ok(ensure_topics(bootstrap_servers, &settings.kafka, &topics).await?)
}

/// A relay over `backend`, with the configured registry, publishing to `bootstrap_servers`.
pub async fn connect_relay(
    settings: &Settings,
    backend: Arc<dyn EventBackend>,
    store_pool: AnyPool,
    bootstrap_servers: &str,
) -> anyhow::Result<Relay> {
    let codec = codec(settings, &store_pool)?;
    Ok(Relay::connect(
        backend,
        store_pool,
        codec,
        bootstrap_servers,
        &settings.kafka,
        &settings.relay,
    )
    .await?)
}

/// The ingest consumer over `commands`, with the ingest and dead-letter topics created when
/// missing.
pub async fn connect_ingest(
    settings: &Settings,
    commands: CommandGateway,
    store_pool: &AnyPool,
    bootstrap_servers: &str,
) -> anyhow::Result<IngestConsumer> {
    let mut topics = eventmall_events::ingest::TOPICS.to_vec();
    topics.extend([dead_letter::TOPIC, dead_letter::RETRIED_TOPIC]);
    ensure_topics(bootstrap_servers, &settings.kafka, &topics).await?;
    let codec = codec(settings, store_pool)?;
    Ok(IngestConsumer::connect(commands, codec, bootstrap_servers, &settings.ingest).await?)
}

/// The payment policy over `commands`, with the order, payment and dead-letter topics created
/// when missing.
pub async fn connect_policy(
    settings: &Settings,
    commands: CommandGateway,
    store_pool: &AnyPool,
    bootstrap_servers: &str,
) -> anyhow::Result<PolicyConsumer> {
    let mut topics = policy::TOPICS.to_vec();
    topics.extend([dead_letter::TOPIC, dead_letter::RETRIED_TOPIC]);
    ensure_topics(bootstrap_servers, &settings.kafka, &topics).await?;
    let policy = Policy::new(
        commands,
        codec(settings, store_pool)?,
        settings.policy.rules(),
    );
    Ok(PolicyConsumer::connect(
        policy,
        bootstrap_servers,
        &settings.policy,
    )?)
}
