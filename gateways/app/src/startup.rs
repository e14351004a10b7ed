//! The application: everything wired from settings, serving until it is stopped. Tests start
//! it on port 0 with a database of their own; the roles in `roles.rs` run it, or parts of it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eventmall_events::DeadLetter;
use eventmall_feeds::{DeadLetterSink, FeedIngest};
use eventmall_http::auth::Gate;
use eventmall_http::{AppState, router_with};
use eventmall_kafka::consistency::ReadConsistency;
use eventmall_kafka::dead_letters::{DeadLetterTool, DeadLetters};
use eventmall_kafka::ingest::IngestConsumer;
use eventmall_kafka::policy::PolicyConsumer;
use eventmall_kafka::projector::{Projector, Supervisor};
use eventmall_kafka::relay::Relay;
use eventmall_kafka::replay::Replay;
use eventmall_read_models::{ReadModels, Serving, Stores};
use eventmall_registry::{Level, RegisteredCodec, RegistryStore, RemoteRegistry, SchemaRegistry};
use eventmall_store::keys::ApiKeys;
use eventmall_store::pii::PiiVault;
use eventmall_store::{CommandGateway, EventBackend, StoreError, StoreResult, idempotency};
use sqlx::AnyPool;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::Settings;

mod kafka;

pub use kafka::{connect_ingest, connect_policy, connect_relay, projectors, replay, supervisor};

/// Opens the event store and wires the command gateway, without serving anything.
pub async fn command_gateway(settings: &Settings) -> StoreResult<CommandGateway> {
    if settings.store.url.is_empty() {
        // The default SQLite file lives in the data directory; make sure it exists.
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    }
    let backend =
        eventmall_store::connect(&settings.store_url(), settings.store.max_connections).await?;
    let store_pool = eventmall_store::connect_pool(&settings.store_url()).await?;
    Ok(commands_over(backend, settings).with_pii(PiiVault::new(store_pool)))
}

/// The command gateway over `backend`, with the simulated wallet.
pub fn commands_over(backend: Arc<dyn EventBackend>, settings: &Settings) -> CommandGateway {
    CommandGateway::with_simulated_wallet(backend, &settings.store, &settings.wallet)
}

/// The embedded registry over the event store's database, at the configured default level.
pub fn registry_store(settings: &Settings, store_pool: &AnyPool) -> anyhow::Result<RegistryStore> {
    let level: Level = settings
        .registry
        .compatibility
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))
        .context("registry.compatibility")?;
    Ok(RegistryStore::new(store_pool.clone(), level))
}

/// A codec over the registry the relay and the consumers use: the external one when
/// configured, else ours.
pub fn codec(settings: &Settings, store_pool: &AnyPool) -> anyhow::Result<RegisteredCodec> {
    let registry: Arc<dyn SchemaRegistry> = match settings.registry.url.as_str() {
        "" => Arc::new(registry_store(settings, store_pool)?),
        _ => Arc::new(RemoteRegistry::from_settings(&settings.registry)?),
    };
    Ok(RegisteredCodec::new(registry))
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    commands: CommandGateway,
    store_pool: AnyPool,
    views: Arc<Serving>,
    feeds: FeedIngest,
    /// How often the served generations are looked at again.
    follow_every: Duration,
}

impl Application {
    /// Opens the store, migrates it and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let commands = command_gateway(settings).await?;
        let store_pool = eventmall_store::connect_pool(&settings.store_url()).await?;
        Self::with_gateway(settings, commands, store_pool).await
    }

    /// Serves the command API, the read models, the relay's status and, unless an external
    /// registry is configured, the embedded schema registry's Confluent API.
    pub async fn with_gateway(
        settings: &Settings,
        commands: CommandGateway,
        store_pool: AnyPool,
    ) -> anyhow::Result<Self> {
        let commands = commands.with_pii(PiiVault::new(store_pool.clone()));
        let listener = TcpListener::bind(&settings.http.addr).await?;
        let views = open_views(settings).await?;
        let feeds = feeds_over(settings, commands.clone(), store_pool.clone())?;
        let replay = match settings.external_kafka() {
            Some(servers) => Some(Replay::new(
                views.stores().clone(),
                codec(settings, &store_pool)?,
                servers,
                &settings.projectors.runtime(),
                &settings.replay,
            )?),
            None => None,
        };
        let state = AppState {
            commands: commands.clone(),
            store_pool: store_pool.clone(),
            views: views.clone(),
            consistency: ReadConsistency::new(
                store_pool.clone(),
                &settings.relay.name,
                settings.external_kafka(),
                Duration::from_millis(settings.projectors.read_wait_ms),
            ),
            feeds: feeds.clone(),
            dead_letters: settings.external_kafka().map(DeadLetterTool::new),
            replay,
            feed_limit_bytes: settings.http.feed_limit_bytes,
            feed_idle_timeout: Duration::from_millis(settings.http.feed_idle_timeout_ms),
            gate: Gate::new(ApiKeys::new(store_pool.clone()), settings.auth.clone()),
            vault: PiiVault::new(store_pool.clone()),
            deadlines: settings.http.deadlines(),
        };
        let registry = match settings.registry.url.is_empty() {
            true => eventmall_registry::http::router(registry_store(settings, &store_pool)?),
            false => axum::Router::new(),
        };
        let router = router_with(state, settings.http.body_limit_bytes, registry);
        Ok(Self {
            listener,
            router,
            commands,
            store_pool,
            views,
            feeds,
            follow_every: Duration::from_millis(settings.projectors.follow_ms),
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
            self.store_pool.clone(),
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
            &self.store_pool,
            bootstrap_servers,
        )
        .await
    }

    /// The payment policy over this application's store, consuming `bootstrap_servers`.
    pub async fn policy(
        &self,
        settings: &Settings,
        bootstrap_servers: &str,
    ) -> anyhow::Result<PolicyConsumer> {
        connect_policy(
            settings,
            self.commands.clone(),
            &self.store_pool,
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
        let codec = codec(settings, &self.store_pool)?;
        projectors(settings, &self.views(), codec, bootstrap_servers, &[]).await
    }

    /// The supervisor of the projectors called `names` (every one when empty) over this
    /// application's read models: every followed generation of each.
    pub async fn supervisor(
        &self,
        settings: &Settings,
        bootstrap_servers: &str,
        names: &[String],
    ) -> anyhow::Result<Supervisor> {
        let codec = codec(settings, &self.store_pool)?;
        supervisor(
            settings,
            self.views.stores(),
            codec,
            bootstrap_servers,
            names,
        )
        .await
    }

    /// The read models served now.
    pub fn views(&self) -> Arc<ReadModels> {
        self.views.current()
    }

    /// The served read models, following the serving generations.
    pub fn serving(&self) -> &Arc<Serving> {
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

    /// The event store's database, as a plain pool.
    pub fn store_pool(&self) -> &AnyPool {
        &self.store_pool
    }

    /// Serves until `stop` completes.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        info!(addr = %self.listener.local_addr()?, "serving");
        let following = tokio::spawn(follow(self.views.clone(), self.follow_every));
        let sweeping = tokio::spawn(sweep_idempotency_keys(self.commands.clone()));
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await;
        following.abort();
        sweeping.abort();
        served
    }
}

/// Looks at the serving generations and the search index's last commit every `every`.
async fn follow(views: Arc<Serving>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = views.refresh().await {
            warn!(%error, "cannot follow the serving generations");
        }
    }
}

/// Removes expired idempotency keys: a quarter of the retention period apart, at least a second
/// and at most ten minutes, a thousand keys per statement.
async fn sweep_idempotency_keys(commands: CommandGateway) {
    let retention = commands.retention();
    let every = (retention.0 / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let backend = commands.backend().as_ref();
        match idempotency::sweep(backend, retention, 1_000, Duration::from_millis(100)).await {
            Ok(0) => {}
            Ok(removed) => info!(removed, "expired idempotency keys removed"),
            Err(error) => warn!(%error, "cannot remove expired idempotency keys"),
        }
    }
}

/// Opens the read models' database.
pub async fn stores(settings: &Settings) -> anyhow::Result<Stores> {
    if settings.projectors.url.is_empty() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let pool = eventmall_read_models::connect(&settings.views_url())
        .await
        .context("opening the read models' database")?;
    Ok(Stores::new(
        pool,
        settings.search_dir(),
        settings.projectors.read_models(),
    ))
}

/// Opens the read models' database and each read model's live generation, to serve.
pub async fn open_views(settings: &Settings) -> anyhow::Result<Arc<Serving>> {
    Ok(Arc::new(Serving::open(stores(settings).await?).await?))
}

/// Feed ingest over `commands`; with a cluster configured, rejected lines also go to its dead
/// letters.
pub fn feeds_over(
    settings: &Settings,
    commands: CommandGateway,
    store_pool: AnyPool,
) -> anyhow::Result<FeedIngest> {
    let feeds = FeedIngest::with_settings(commands, store_pool, &settings.feeds);
    Ok(match settings.external_kafka() {
        Some(servers) => {
            feeds.with_dead_letters(Arc::new(KafkaDeadLetters(DeadLetters::new(servers)?)))
        }
        None => feeds,
    })
}

/// The feeds' dead-letter port, on the cluster's dead-letter topic.
struct KafkaDeadLetters(DeadLetters);

#[async_trait::async_trait]
impl DeadLetterSink for KafkaDeadLetters {
    async fn send(
        &self,
        letters: Vec<DeadLetter>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.send(letters).await?)
    }
}
