//! The roles the binary runs: everything on one machine (`up`), or one role per process at
//! scale (`serve`, `project`, `relay`, `ingest consume`, `policy`), each until Ctrl-C or
//! SIGTERM.

use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::Arc;

use anyhow::Context;
use eventmall_events::PartnerId;
use eventmall_feeds::{FeedEncoding, FeedFormat, FeedIngest, FeedRun};
use eventmall_http::metrics::{self, Observe, observe_relays};
use eventmall_kafka::broker::LocalBroker;
use eventmall_kafka::ingest::IngestConsumer;
use eventmall_kafka::policy::PolicyConsumer;
use eventmall_kafka::relay::hostname;
use eventmall_store::keys::{ApiKeys, Principal};
use eventmall_store::{CommandGateway, EventBackend};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::AnyPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Settings;
use crate::demo::{self, DemoPlan};
use crate::keys::DemoKeys;
use crate::startup::{
    Application, codec, command_gateway, connect_ingest, connect_policy, connect_relay, feeds_over,
    stores, supervisor,
};

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
/// relay, the projectors, the ingest consumer, the payment policy and optionally the demo
/// world; until Ctrl-C or SIGTERM, then all of it stops.
pub async fn up(settings: &Settings, demo: Option<DemoPlan>) -> anyhow::Result<()> {
    let stopped = shutdown_signal();
    let cluster = Cluster::start(settings).await?;
    let result = run_up(settings, cluster.bootstrap_servers(), demo, stopped).await;
    cluster.stop().await;
    result
}

async fn run_up(
    settings: &Settings,
    bootstrap_servers: &str,
    demo: Option<DemoPlan>,
    stopped: impl Future<Output = ()> + Send + 'static,
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
    let projectors = match settings.projectors.enabled {
        true => Some(tokio::spawn(
            app.supervisor(settings, bootstrap_servers, &[])
                .await?
                .run(stop.clone()),
        )),
        false => None,
    };
    let ingest = match settings.ingest.enabled {
        true => Some(tokio::spawn(
            app.ingest(settings, bootstrap_servers)
                .await?
                .run(stop.clone()),
        )),
        false => None,
    };
    let policy = match settings.policy.enabled {
        true => Some(tokio::spawn(
            app.policy(settings, bootstrap_servers)
                .await?
                .run(stop.clone()),
        )),
        false => None,
    };
    let commands = app.commands().clone();
    let store_pool = app.store_pool().clone();
    let mut address = app.local_addr()?;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let server = tokio::spawn(app.run_until(stopped));
    if let Some(plan) = demo {
        // The demo's partners upload their feeds the way real ones do.
        let keys = demo_keys(settings, &store_pool, &plan).await?;
        let uploads = demo::HttpUpload::new(format!("http://{address}"), keys);
        // With the policy running, customers order with their wallet and it pays.
        let payer = match settings.policy.enabled {
            true => demo::Payer::Policy,
            false => demo::Payer::Customer,
        };
        let report = demo::run_through(&uploads, &commands, plan, payer).await?;
        info!(?report, "demo world ready");
    }
    let served = server.await;
    stop.cancel();
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    for (name, consumer) in [("ingest consumer", ingest), ("payment policy", policy)] {
        if let Some(consumer) = consumer
            && let Ok(Err(error)) = consumer.await
        {
            warn!(%error, "{name} ended with an error");
        }
    }
    if let Some(projectors) = projectors
        && let Ok(Err(error)) = projectors.await
    {
        warn!(%error, "projectors ended with an error");
    }
    served??;
    Ok(())
}

/// The demo's keys, in `<data dir>/keys/`: the admin's, each partner's and each customer's.
async fn demo_keys(
    settings: &Settings,
    store_pool: &AnyPool,
    plan: &DemoPlan,
) -> anyhow::Result<DemoKeys> {
    let partners = (0..plan.partners).map(|p| Principal::Partner(demo::partner_id(p).0));
    let customers = (0..plan.customers).map(|c| Principal::Customer(demo::customer_id(c).0));
    let dir = DemoKeys::dir(&settings.data_dir);
    let keys = ApiKeys::new(store_pool.clone());
    let demo_keys = DemoKeys::ensure(&keys, &dir, partners.chain(customers)).await?;
    info!(dir = %dir.display(), "the demo's API keys: admin, partner-001…, customer-0001…");
    Ok(demo_keys)
}

/// The API, with the projectors called `names` in the same process (a search replica), until
/// Ctrl-C or SIGTERM.
pub async fn serve(settings: &Settings, names: &[String]) -> anyhow::Result<()> {
    let stopped = shutdown_signal();
    let mut settings = settings.clone();
    if !names.is_empty() && settings.projectors.search_replica.is_empty() {
        settings.projectors.search_replica = hostname();
    }
    let settings = &settings;
    let app = Application::build(settings)
        .await
        .context("starting the application")?;
    let stop = CancellationToken::new();
    let (backend, store_pool) = (app.commands().backend().clone(), app.store_pool().clone());
    export_metrics(settings, Some(relay_lag(backend, store_pool)), &stop).await?;
    let mut running = None;
    if !names.is_empty() {
        let servers = settings
            .external_kafka()
            .context("projectors need a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
        let supervisor = app.supervisor(settings, servers, names).await?;
        running = Some(tokio::spawn(supervisor.run(stop.clone())));
    }
    let served = app.run_until(stopped).await;
    stop.cancel();
    if let Some(projectors) = running {
        projectors.await??;
    }
    Ok(served?)
}

/// The projectors called `names` alone (every followed generation of each), until Ctrl-C or
/// SIGTERM.
pub async fn project(settings: &Settings, names: &[String]) -> anyhow::Result<()> {
    let mut stopped = pin!(shutdown_signal());
    let servers = settings
        .external_kafka()
        .context("a projector needs a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
    let starting = async {
        let store_pool = eventmall_store::connect_pool(&settings.store_url()).await?;
        let codec = codec(settings, &store_pool)?;
        let stores = stores(settings).await?;
        supervisor(settings, &stores, codec, servers, names).await
    };
    let Some(supervisor) = unless_stopped(&mut stopped, starting).await? else {
        return Ok(());
    };
    let stop = CancellationToken::new();
    export_metrics(settings, None, &stop).await?;
    let running = tokio::spawn(supervisor.run(stop.clone()));
    stopped.await;
    stop.cancel();
    running.await??;
    Ok(())
}

/// The relay alone, until Ctrl-C or SIGTERM.
pub async fn relay(settings: &Settings) -> anyhow::Result<()> {
    let mut stopped = pin!(shutdown_signal());
    let servers = settings
        .external_kafka()
        .context("the relay needs a cluster: set KAFKA_BOOTSTRAP_SERVERS")?;
    let starting = async {
        let url = settings.store_url();
        let backend = eventmall_store::connect(&url, settings.store.max_connections).await?;
        let store_pool = eventmall_store::connect_pool(&url).await?;
        let relay = connect_relay(settings, backend.clone(), store_pool.clone(), servers).await?;
        anyhow::Ok((relay, backend, store_pool))
    };
    let Some((relay, backend, store_pool)) = unless_stopped(&mut stopped, starting).await? else {
        return Ok(());
    };
    let stop = CancellationToken::new();
    export_metrics(settings, Some(relay_lag(backend, store_pool)), &stop).await?;
    let running = tokio::spawn(relay.run(stop.clone()));
    stopped.await;
    stop.cancel();
    running.await?;
    Ok(())
}

/// The ingest consumer alone, until Ctrl-C or SIGTERM.
pub async fn ingest(settings: &Settings) -> anyhow::Result<()> {
    let connect = async |commands, store_pool: AnyPool, servers: String| {
        connect_ingest(settings, commands, &store_pool, &servers).await
    };
    let run = |consumer: IngestConsumer, stop| tokio::spawn(consumer.run(stop));
    consume(settings, "the ingest consumer", connect, run).await
}

/// The payment policy alone, until Ctrl-C or SIGTERM.
pub async fn policy(settings: &Settings) -> anyhow::Result<()> {
    let connect = async |commands, store_pool: AnyPool, servers: String| {
        connect_policy(settings, commands, &store_pool, &servers).await
    };
    let run = |consumer: PolicyConsumer, stop| tokio::spawn(consumer.run(stop));
    consume(settings, "the payment policy", connect, run).await
}

/// A consumer of the configured cluster over the configured store, started by `connect` and
/// run by `run` until Ctrl-C or SIGTERM.
async fn consume<C>(
    settings: &Settings,
    what: &str,
    connect: impl AsyncFnOnce(CommandGateway, AnyPool, String) -> anyhow::Result<C>,
    run: impl FnOnce(C, CancellationToken) -> JoinHandle<eventmall_kafka::Result<()>>,
) -> anyhow::Result<()> {
    let mut stopped = pin!(shutdown_signal());
    let servers = settings
        .external_kafka()
        .with_context(|| format!("{what} needs a cluster: set KAFKA_BOOTSTRAP_SERVERS"))?;
    let starting = async {
        let commands = command_gateway(settings).await?;
        let store_pool = eventmall_store::connect_pool(&settings.store_url()).await?;
        connect(commands, store_pool, servers.to_owned()).await
    };
    let Some(consumer) = unless_stopped(&mut stopped, starting).await? else {
        return Ok(());
    };
    let stop = CancellationToken::new();
    export_metrics(settings, None, &stop).await?;
    let running = run(consumer, stop.clone());
    stopped.await;
    stop.cancel();
    Ok(running.await??)
}

/// Reads the relays' lag at scrape time.
fn relay_lag(backend: Arc<dyn EventBackend>, store_pool: AnyPool) -> Observe {
    Arc::new(move || {
        let (backend, store_pool) = (backend.clone(), store_pool.clone());
        Box::pin(async move {
            if let Err(error) = observe_relays(backend.as_ref(), &store_pool).await {
                warn!(%error, "relay lag not read");
            }
        })
    })
}

/// Serves `GET /metrics` on `[telemetry] metrics_addr`, when set, until `stop`.
async fn export_metrics(
    settings: &Settings,
    observe: Option<Observe>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let address = settings.telemetry.metrics_addr.as_str();
    if address.is_empty() {
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the metrics address {address}"))?;
    info!(address = %listener.local_addr()?, "metrics at /metrics");
    let stop = stop.clone();
    tokio::spawn(async move {
        if let Err(error) = metrics::export(listener, observe, stop).await {
            warn!(%error, "the metrics exporter stopped");
        }
    });
    Ok(())
}

/// Feed ingest over the configured store, for the CLI (`ingest feed`, `demo`).
pub async fn feed_ingest(settings: &Settings) -> anyhow::Result<FeedIngest> {
    let commands = command_gateway(settings)
        .await
        .context("opening the store")?;
    let store_pool = eventmall_store::connect_pool(&settings.store_url()).await?;
    feeds_over(settings, commands, store_pool)
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

/// `starting`, unless a shutdown signal comes first: then `None`, and the role stops before it
/// has started.
async fn unless_stopped<T>(
    stopped: &mut Pin<&mut impl Future<Output = ()>>,
    starting: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Option<T>> {
    tokio::select! {
        started = starting => started.map(Some),
        () = stopped.as_mut() => {
            info!("stopped while starting");
            Ok(None)
        }
    }
}

/// Listens for Ctrl-C and SIGTERM from now on; the future completes on the first of them. A
/// role calls it before it starts any work, so a signal that comes early is never the default
/// action (the process killed mid-way) but a clean stop.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = (interrupt, terminate) else {
            warn!("cannot listen for shutdown signals; stop the process with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        info!("shutdown signal received");
    }
}
