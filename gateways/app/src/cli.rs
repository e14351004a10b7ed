//! The `eventmall` command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing::info;

use eventmall_events::PartnerId;
use eventmall_feeds::{FeedEncoding, FeedFormat};
use eventmall_kafka::dead_letters::{DeadLetterRecord, DeadLetterTool};
use eventmall_kafka::tail::{TailOptions, tail};
use eventmall_projections::recommendations::{Purchases, TrendClock, evaluate};
use eventmall_registry::{RegisteredCodec, RemoteRegistry};
use eventmall_store::EventBackend;

use crate::config::Settings;
use crate::demo::{self, DemoPlan};
use crate::keys::{self, KeysCommand};
use crate::replay::{self, ReplayCommand};
use crate::startup::command_gateway;
use crate::{roles, telemetry};

#[derive(Debug, Parser)]
#[command(name = "eventmall", version, about = "Event-sourced commerce backbone")]
pub struct Cli {
    /// TOML configuration file, read after the defaults and before EVENTMALL__… variables.
    #[arg(long, global = true, env = "EVENTMALL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite event store by default); overrides the file and environment.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Run these projectors in this process too (needs KAFKA_BOOTSTRAP_SERVERS): a search
        /// replica serves the index it builds. Its replica name defaults to the host name.
        #[arg(long = "project")]
        projectors: Vec<String>,
    },
    /// Run the event store's migrations, then exit.
    Migrate,
    /// Print the HTTP API's OpenAPI 3.1 document (also served at `/openapi.json`).
    Openapi,
    /// Create a synthetic world through the command path, then exit.
    Demo(DemoArgs),
    /// Publish stored events to Kafka (needs KAFKA_BOOTSTRAP_SERVERS).
    Relay,
    /// Run projectors alone (needs KAFKA_BOOTSTRAP_SERVERS); instances of one projector share
    /// its topics' partitions.
    Project {
        /// The projectors (`order-views`); every one when none is named.
        names: Vec<String>,
    },
    /// Run the order↔payment policy alone (needs KAFKA_BOOTSTRAP_SERVERS): it follows the
    /// order and payment events and fires its timers; instances share the topics' partitions.
    Policy,
    /// Feed ingest: what `POST /v1/partners/{id}/feeds` does, from a file.
    Ingest {
        #[command(subcommand)]
        command: IngestCommand,
    },
    /// Recommendation tooling.
    Recommend {
        #[command(subcommand)]
        command: RecommendCommand,
    },
    /// The dead letters: list, show, retry (needs KAFKA_BOOTSTRAP_SERVERS, else the local
    /// broker of a running `up`).
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCommand,
    },
    /// Rebuild, swap, roll back, verify and garbage-collect projections; reset consumer
    /// offsets; republish stored events (needs KAFKA_BOOTSTRAP_SERVERS, else the local broker of
    /// a running `up`).
    Replay {
        #[command(subcommand)]
        command: ReplayCommand,
    },
    /// API keys: create, list, revoke, rotate (on the configured event store's database).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Read the event topics.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Everything on one machine: the local broker (unless KAFKA_BOOTSTRAP_SERVERS names a
    /// cluster), the API with the schema registry, the relay and the projectors; optionally the
    /// demo world.
    Up {
        /// Create the demo world before serving (idempotent for a given seed).
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        plan: DemoArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Print the dead letters as JSON lines, oldest first per partition.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print one dead letter as JSON, with its raw value in base64.
    Show { partition: i32, offset: i64 },
    /// Produce a dead letter's original record to its source topic again.
    Retry { partition: i32, offset: i64 },
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Ingest a partner's product feed file, with a progress bar; prints the run's report.
    Feed {
        /// The partner whose feed it is.
        #[arg(long)]
        partner: String,
        /// The feed's format: ep-tsv (Naver Shopping EP 3.0, full or summary).
        #[arg(long, default_value = "ep-tsv")]
        format: FeedFormat,
        /// utf-8 (with or without a BOM) or euc-kr (CP949).
        #[arg(long, default_value = "utf-8")]
        encoding: FeedEncoding,
        /// The feed file.
        file: PathBuf,
    },
    /// Consume the upstream producers' ingest topics into commands, until Ctrl-C (needs
    /// KAFKA_BOOTSTRAP_SERVERS).
    Consume,
}

#[derive(Debug, Subcommand)]
pub enum RecommendCommand {
    /// Hold out each customer's last paid order, learn from the others, and report Hit@K,
    /// Precision@K and Recall@K of the picks against a popularity baseline.
    Evaluate {
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print a topic's records as JSON lines, Avro values decoded through the registry.
    Tail {
        /// The topic (`eventmall.orders.v1`).
        topic: String,
        /// Start at the first record instead of the end.
        #[arg(long)]
        from_beginning: bool,
        /// Keep waiting for new records instead of stopping at the end.
        #[arg(long)]
        follow: bool,
        /// Read only this partition.
        #[arg(long)]
        partition: Option<i32>,
    },
}

#[derive(Clone, Copy, Debug, Args)]
pub struct DemoArgs {
    /// Partner shops.
    #[arg(long, default_value_t = 8)]
    pub partners: usize,
    /// Products each partner sells.
    #[arg(long, default_value_t = 40)]
    pub products_per_partner: usize,
    /// Customers.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// Orders placed.
    #[arg(long, default_value_t = 1000)]
    pub orders: usize,
    /// Seed of the generator; the same seed makes the same world.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Commands in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

impl From<DemoArgs> for DemoPlan {
    fn from(a: DemoArgs) -> Self {
        DemoPlan {
            partners: a.partners,
            products_per_partner: a.products_per_partner,
            customers: a.customers,
            orders: a.orders,
            seed: a.seed,
            concurrency: a.concurrency,
        }
    }
}

impl Command {
    /// The role the process plays, for its spans' `service.name`.
    fn role(&self) -> &'static str {
        match self {
            Self::Serve { .. } => "serve",
            Self::Relay => "relay",
            Self::Project { .. } => "project",
            Self::Policy => "policy",
            Self::Ingest { .. } => "ingest",
            Self::Up { .. } => "up",
            _ => "cli",
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), cli.data_dir.as_deref())
        .context("loading configuration")?;
    let _telemetry = telemetry::init(&settings.log, &settings.telemetry, cli.command.role());
    match cli.command {
        Command::Serve { projectors } => roles::serve(&settings, &projectors).await,
        Command::Openapi => {
            println!("{}", eventmall_http::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Migrate => {
            command_gateway(&settings).await.context("migrating")?;
            info!(store = %settings.store_url(), "migrated");
            Ok(())
        }
        Command::Demo(plan) => {
            let feeds = roles::feed_ingest(&settings).await?;
            let report = demo::run(&feeds, plan.into()).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Relay => roles::relay(&settings).await,
        Command::Keys { command } => keys::run(&settings, command).await,
        Command::Policy => roles::policy(&settings).await,
        Command::DeadLetters { command } => dead_letters(&settings, command).await,
        Command::Ingest {
            command:
                IngestCommand::Feed {
                    partner,
                    format,
                    encoding,
                    file,
                },
        } => {
            let run =
                roles::ingest_feed(&settings, PartnerId(partner), format, encoding, &file).await?;
            println!("{}", serde_json::to_string_pretty(&run)?);
            Ok(())
        }
        Command::Ingest {
            command: IngestCommand::Consume,
        } => roles::ingest(&settings).await,
        Command::Recommend {
            command: RecommendCommand::Evaluate { k },
        } => {
            let commands = command_gateway(&settings)
                .await
                .context("opening the store")?;
            let purchases = purchases(commands.backend().as_ref()).await?;
            let clock = TrendClock {
                half_life_hours: settings.projectors.trending_half_life_hours,
            };
            let report = evaluate(&purchases, k, clock);
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Project { names } => roles::project(&settings, &names).await,
        Command::Events {
            command:
                EventsCommand::Tail {
                    topic,
                    from_beginning,
                    follow,
                    partition,
                },
        } => {
            let options = TailOptions {
                topic,
                from_beginning,
                follow,
                partition,
                last: None,
            };
            events_tail(&settings, &options).await
        }
        Command::Up { demo, plan } => roles::up(&settings, demo.then(|| plan.into())).await,
        Command::Replay { command } => replay::run(&settings, &cluster(&settings), command).await,
    }
}

/// Every paid order not cancelled, from the event store, in order.
pub async fn purchases(
    backend: &dyn EventBackend,
) -> anyhow::Result<Vec<eventmall_projections::recommendations::Purchase>> {
    let mut purchases = Purchases::default();
    let mut after = 0;
    loop {
        let page = backend.read_after(after, 5_000).await?;
        let Some(last) = page.last() else {
            return Ok(purchases.finish());
        };
        after = last.global_position;
        for stored in &page {
            purchases.apply(stored)?;
        }
    }
}

/// The configured cluster, else the local broker of a running `up`.
fn cluster(settings: &Settings) -> String {
    match settings.external_kafka() {
        Some(servers) => servers.to_owned(),
        None => format!("127.0.0.1:{}", settings.broker.port),
    }
}

async fn dead_letters(settings: &Settings, command: DeadLettersCommand) -> anyhow::Result<()> {
    let tool = DeadLetterTool::new(&cluster(settings));
    match command {
        DeadLettersCommand::List { limit } => {
            let page = tool.list(limit).await?;
            for letter in &page.letters {
                println!("{}", serde_json::to_string(letter)?);
            }
            eprintln!("{} of {} dead letters", page.letters.len(), page.total);
        }
        DeadLettersCommand::Show { partition, offset } => {
            let record = tool
                .show(partition, offset)
                .await?
                .with_context(|| format!("no dead letter at {partition}/{offset}"))?;
            let letter = DeadLetterRecord::from(&record);
            println!("{}", serde_json::to_string_pretty(&letter)?);
        }
        DeadLettersCommand::Retry { partition, offset } => {
            let retried = tool.retry(partition, offset).await?;
            println!("{}", serde_json::to_string(&retried)?);
        }
    }
    Ok(())
}

/// Reads from the configured cluster, else the local broker of a running `up`, and decodes
/// through the configured registry, else the one that `up` or `serve` serves.
async fn events_tail(settings: &Settings, options: &TailOptions) -> anyhow::Result<()> {
    let servers = cluster(settings);
    let registry = match settings.registry.url.as_str() {
        "" => format!("http://{}", settings.http.addr),
        url => url.to_owned(),
    };
    let codec = RegisteredCodec::new(Arc::new(RemoteRegistry::new(&registry)));
    let mut out = std::io::LineWriter::new(std::io::stdout());
    tail(&servers, &codec, options, &mut out).await?;
    Ok(())
}
