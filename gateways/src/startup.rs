//! Builds the application from settings and runs it until a shutdown signal.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eventmall_aggregates::PaymentServices;
use eventmall_events::PartnerId;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::AnyPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::commands::CommandGateway;
use crate::config::Settings;
use crate::consistency::ReadConsistency;
use crate::dead_letters::DeadLetterTool;
use crate::demo::{self, DemoPlan};
use crate::feed::FeedEncoding;
use crate::feed::ingest::{FeedFormat, FeedIngest, FeedRun};
use crate::http::{AppState, router};
use crate::ingest::IngestConsumer;
use crate::kafka;
use crate::kafka::broker::LocalBroker;
use crate::kafka::dead_letter::DEAD_LETTER_TOPIC;
use crate::projector::{Projection, Projector};
use crate::registry::{
    self, Level, RegisteredCodec, RegistryStore, RemoteRegistry, SchemaRegistry,
};
use crate::relay::Relay;
use crate::store::{self, EventBackend, StoreResult};
use crate::views::{self, ReadModels};
use crate::wallet::{SimulatedWallet, WalletLimits};

/// Opens the event store and wires the command gateway, without serving anything.
pub async fn command_gateway(settings: &Settings) -> StoreResult<CommandGateway> {
    if settings.store.url.is_empty() {
        // The default SQLite file lives in the data directory; make sure it exists.
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| store::StoreError::Database(sqlx::Error::Io(e)))?;
    }
    let backend = store::connect(&settings.store_url(), settings.store.max_connections).await?;
    Ok(gateway_over(backend, settings))
}

pub fn gateway_over(backend: Arc<dyn EventBackend>, settings: &Settings) -> CommandGateway {
    let wallet = SimulatedWallet::new(WalletLimits {
        starting_balance: settings.wallet.starting_balance,
        per_payment_limit: settings.wallet.per_payment_limit,
    });
    let services = PaymentServices {
        wallet: Arc::new(wallet),
    };
    CommandGateway::new(
        backend,
        settings.store.snapshot_every,
        settings.store.aggregate_cache,
        services,
    )
}

/// The embedded registry over the event store's database, at the configured default level.
pub fn registry_store(settings: &Settings, control: &AnyPool) -> anyhow::Result<RegistryStore> {
    let level: Level = settings
        .registry
        .compatibility
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))
        .context("registry.compatibility")?;
    Ok(RegistryStore::new(control.clone(), level))
}

/// The registry the relay and consumers use: the external one when configured, else ours.
pub fn schema_registry(
    settings: &Settings,
    control: &AnyPool,
) -> anyhow::Result<Arc<dyn SchemaRegistry>> {
    Ok(match settings.registry.url.as_str() {
        "" => Arc::new(registry_store(settings, control)?),
        url => Arc::new(RemoteRegistry::new(url)),
    })
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    commands: CommandGateway,
    control: AnyPool,
    views: ReadModels,
    feeds: FeedIngest,
}

impl Application {
    /// Opens the store, migrates it and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let commands = command_gateway(settings).await?;
        let control = store::connect_control(&settings.store_url()).await?;
        Self::with_gateway(settings, commands, control).await
    }

    /// Serves the command API, the relay's status and, unless an external registry is
    /// configured, the embedded schema registry's Confluent API.
    pub async fn with_gateway(
        settings: &Settings,
        commands: CommandGateway,
        control: AnyPool,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.http.addr).await?;
        let views = open_views(settings).await?;
        let feeds = feeds_over(settings, commands.clone(), control.clone())?;
        let state = AppState {
            commands: commands.clone(),
            control: control.clone(),
            views: views.clone(),
            consistency: ReadConsistency::new(
                control.clone(),
                &settings.relay.name,
                settings.external_kafka(),
                Duration::from_millis(settings.projectors.read_wait_ms),
            ),
            feeds: feeds.clone(),
            dead_letters: settings.external_kafka().map(DeadLetterTool::new),
            feed_limit_bytes: settings.http.feed_limit_bytes,
        };
        let mut router = router(state, settings.http.body_limit_bytes);
        if settings.registry.url.is_empty() {
            router = router.merge(registry::http::router(registry_store(settings, &control)?));
        }
        Ok(Self {
            listener,
            router,
            commands,
            control,
            views,
            feeds,
        })
    }

    /// A relay over this application's store, publishing to `bootstrap_servers`.
    pub async fn relay(
        &self,
        settings: &Settings,
        bootstrap_servers: &str,
    ) -> anyhow::Result<Relay> {
        connect_relay(
            settings,
            self.commands.backend().clone(),
            self.control.clone(),
            bootstrap_servers,
        )
        .await
    }

    /// The ingest consumer over this application's store, consuming `bootstrap_servers`.
    pub async fn ingest(
        &self,
        settings: &Settings,
        bootstrap_servers: &str,
    ) -> anyhow::Result<IngestConsumer> {
        connect_ingest(
            settings,
            self.commands.clone(),
            &self.control,
            bootstrap_servers,
        )
        .await
    }

    /// The projectors of this application's read models, consuming `bootstrap_servers`.
    pub async fn projectors(
        &self,
        settings: &Settings,
        bootstrap_servers: &str,
    ) -> anyhow::Result<Vec<Projector>> {
        let codec = RegisteredCodec::new(schema_registry(settings, &self.control)?);
        projectors(settings, &self.views, codec, bootstrap_servers, &[]).await
    }

    pub fn views(&self) -> &ReadModels {
        &self.views
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Feed ingest over this application's store: what the upload route runs.
    pub fn feeds(&self) -> FeedIngest {
        self.feeds.clone()
    }

    pub fn commands(&self) -> &CommandGateway {
        &self.commands
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        info!(addr = %self.listener.local_addr()?, "serving");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await
    }
}

/// The Kafka cluster: an external one, or the local broker started for this run.
pub enum Cluster {
    External(String),
    Local(Box<LocalBroker>),
}

impl Cluster {
    /// The configured cluster, or a local broker started with its files in the data directory.
    pub async fn start(settings: &Settings) -> anyhow::Result<Self> {
        match settings.external_kafka() {
            Some(servers) => Ok(Self::External(servers.to_owned())),
            None => {
                let dir = settings.data_dir.join("broker");
                let broker = LocalBroker::start(&settings.broker, &dir).await?;
                Ok(Self::Local(Box::new(broker)))
            }
        }
    }

    pub fn bootstrap_servers(&self) -> &str {
        match self {
            Self::External(servers) => servers,
            Self::Local(broker) => broker.bootstrap_servers(),
        }
    }

    /// Stops the local broker; an external cluster is left alone.
    pub async fn stop(self) {
        if let Self::Local(broker) = self {
            broker.stop().await;
        }
    }
}

/// Everything on one machine: the broker (unless external), the API with the registry, the
/// relay, and optionally the demo world; until Ctrl-C or SIGTERM, then all of it stops.
pub async fn up(settings: &Settings, demo: Option<DemoPlan>) -> anyhow::Result<()> {
    let cluster = Cluster::start(settings).await?;
    let result = run_up(settings, cluster.bootstrap_servers(), demo).await;
    cluster.stop().await;
    result
}

async fn run_up(
    settings: &Settings,
    bootstrap_servers: &str,
    demo: Option<DemoPlan>,
) -> anyhow::Result<()> {
    // The cluster of this run, local or not, is the one every part reads and writes.
    let mut settings = settings.clone();
    settings.kafka.bootstrap_servers = bootstrap_servers.to_owned();
    let settings = &settings;
    let app = Application::build(settings).await?;
    let stop = CancellationToken::new();
    let relay = match settings.relay.enabled {
        true => Some(tokio::spawn(
            app.relay(settings, bootstrap_servers)
                .await?
                .run(stop.clone()),
        )),
        false => None,
    };
    let projectors: Vec<_> = match settings.projectors.enabled {
        true => app
            .projectors(settings, bootstrap_servers)
            .await?
            .into_iter()
            .map(|projector| projector.spawn(stop.clone()))
            .collect(),
        false => Vec::new(),
    };
    let ingest = match settings.ingest.enabled {
        true => Some(tokio::spawn(
            app.ingest(settings, bootstrap_servers)
                .await?
                .run(stop.clone()),
        )),
        false => None,
    };
    let commands = app.commands().clone();
    let mut address = app.local_addr()?;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let server = tokio::spawn(app.run_until(shutdown_signal()));
    if let Some(plan) = demo {
        // The demo's partners upload their feeds the way real ones do.
        let uploads = demo::HttpUpload::new(format!("http://{address}"));
        let report = demo::run_through(&uploads, &commands, plan).await?;
        info!(?report, "demo world ready");
    }
    let served = server.await;
    stop.cancel();
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    if let Some(ingest) = ingest
        && let Ok(Err(error)) = ingest.await
    {
        tracing::warn!(%error, "ingest consumer ended with an error");
    }
    for projector in projectors {
        if let Ok(Err(error)) = projector.await {
            tracing::warn!(%error, "projector ended with an error");
        }
    }
    served??;
    Ok(())
}

/// Opens the read models' database and each read model's live generation.
pub async fn open_views(settings: &Settings) -> anyhow::Result<ReadModels> {
    if settings.projectors.url.is_empty() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let pool = views::connect(&settings.views_url())
        .await
        .context("opening the read models' database")?;
    ReadModels::open(pool, &settings.search_dir(), &settings.projectors).await
}

/// The projectors called `names` (every one when empty), with their topics and the dead-letter
/// topic created when missing.
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
    let mut topics: Vec<&str> = chosen
        .iter()
        .flat_map(|p| p.topics().iter().copied())
        .collect();
    topics.push(DEAD_LETTER_TOPIC);
    topics.sort_unstable();
    topics.dedup();
    kafka::ensure_topics(bootstrap_servers, &settings.kafka, &topics).await?;
    chosen
        .into_iter()
        .map(|projection| {
            Ok(Projector::new(
                projection,
                codec.clone(),
                bootstrap_servers,
                &settings.projectors,
            )?)
        })
        .collect()
}

/// The API, with the projectors called `names` in the same process (a search replica), until
/// Ctrl-C or SIGTERM.
pub async fn serve(settings: &Settings, names: &[String]) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    if !names.is_empty() && settings.projectors.search_replica.is_empty() {
        settings.projectors.search_replica = crate::relay::hostname();
    }
    let settings = &settings;
    let app = Application::build(settings)
        .await
        .context("starting the application")?;
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    if !names.is_empty() {
        let servers = settings
            .external_kafka()
            .context("projectors need a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
        let codec = RegisteredCodec::new(schema_registry(settings, &app.control)?);
        for projector in projectors(settings, app.views(), codec, servers, names).await? {
            running.push(projector.spawn(stop.clone()));
        }
    }
    let served = app.run_until_stopped().await;
    stop.cancel();
    for projector in running {
        projector.await??;
    }
    Ok(served?)
}

/// The projectors called `names` alone, until Ctrl-C or SIGTERM.
pub async fn project(settings: &Settings, names: &[String]) -> anyhow::Result<()> {
    let servers = settings
        .external_kafka()
        .context("a projector needs a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
    let control = store::connect_control(&settings.store_url()).await?;
    let codec = RegisteredCodec::new(schema_registry(settings, &control)?);
    let views = open_views(settings).await?;
    let stop = CancellationToken::new();
    let running: Vec<_> = projectors(settings, &views, codec, servers, names)
        .await?
        .into_iter()
        .map(|projector| projector.spawn(stop.clone()))
        .collect();
    shutdown_signal().await;
    stop.cancel();
    for projector in running {
        projector.await??;
    }
    Ok(())
}

/// A relay over `backend`, with the configured registry, publishing to `bootstrap_servers`.
async fn connect_relay(
    settings: &Settings,
    backend: Arc<dyn EventBackend>,
    control: AnyPool,
    bootstrap_servers: &str,
) -> anyhow::Result<Relay> {
    let codec = RegisteredCodec::new(schema_registry(settings, &control)?);
    Relay::connect(
        backend,
        control,
        codec,
        bootstrap_servers,
        &settings.kafka,
        &settings.relay,
    )
    .await
}

/// Feed ingest over `commands`; with a cluster configured, rejected lines also go to its dead
/// letters.
fn feeds_over(
    settings: &Settings,
    commands: CommandGateway,
    control: AnyPool,
) -> rdkafka::error::KafkaResult<FeedIngest> {
    FeedIngest::new(commands, control).with_dead_letters(settings.external_kafka())
}

/// Feed ingest over the configured store, for the CLI (`ingest feed`, `demo`).
pub async fn feed_ingest(settings: &Settings) -> anyhow::Result<FeedIngest> {
    let commands = command_gateway(settings)
        .await
        .context("opening the store")?;
    let control = store::connect_control(&settings.store_url()).await?;
    Ok(feeds_over(settings, commands, control)?)
}

/// Ingests a feed file through the same path as `POST /v1/partners/{id}/feeds`, showing how
/// much of the file is read.
pub async fn ingest_feed(
    settings: &Settings,
    partner: PartnerId,
    format: FeedFormat,
    encoding: FeedEncoding,
    file: &Path,
) -> anyhow::Result<FeedRun> {
    let feeds = feed_ingest(settings).await?;
    let opened =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let progress = ProgressBar::new(opened.metadata()?.len()).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")?,
    );
    let input = std::io::BufReader::with_capacity(256 * 1024, progress.wrap_read(opened));
    let run = feeds.run(partner, format, encoding, input).await?;
    progress.finish_and_clear();
    Ok(run)
}

/// The ingest consumer over `commands`, with the ingest and dead-letter topics created when
/// missing.
pub async fn connect_ingest(
    settings: &Settings,
    commands: CommandGateway,
    control: &AnyPool,
    bootstrap_servers: &str,
) -> anyhow::Result<IngestConsumer> {
    let mut topics = eventmall_events::ingest::TOPICS.to_vec();
    topics.push(DEAD_LETTER_TOPIC);
    kafka::ensure_topics(bootstrap_servers, &settings.kafka, &topics).await?;
    let codec = RegisteredCodec::new(schema_registry(settings, control)?);
    IngestConsumer::connect(commands, codec, bootstrap_servers, &settings.ingest).await
}

/// The ingest consumer alone, until Ctrl-C or SIGTERM.
pub async fn ingest(settings: &Settings) -> anyhow::Result<()> {
    let servers = settings
        .external_kafka()
        .context("the ingest consumer needs a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
    let commands = command_gateway(settings).await?;
    let control = store::connect_control(&settings.store_url()).await?;
    let consumer = connect_ingest(settings, commands, &control, servers).await?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(consumer.run(stop.clone()));
    shutdown_signal().await;
    stop.cancel();
    running.await?
}

/// The relay alone, until Ctrl-C or SIGTERM.
pub async fn relay(settings: &Settings) -> anyhow::Result<()> {
    let servers = settings
        .external_kafka()
        .context("the relay needs a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
    let backend = store::connect(&settings.store_url(), settings.store.max_connections).await?;
    let control = store::connect_control(&settings.store_url()).await?;
    let relay = connect_relay(settings, backend, control, servers).await?;
    let stop = CancellationToken::new();
    let running = tokio::spawn(relay.run(stop.clone()));
    shutdown_signal().await;
    stop.cancel();
    running.await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutdown signal received");
}
