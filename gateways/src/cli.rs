//! The `eventmall` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing::info;

use crate::config::Settings;
use crate::demo::{self, DemoPlan};
use crate::startup::{Application, command_gateway};
use crate::telemetry;

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
    Serve,
    /// Run the event store's migrations, then exit.
    Migrate,
    /// Create a synthetic world through the command path, then exit.
    Demo(DemoArgs),
    /// Everything on one machine: migrate, optionally create the demo world, serve.
    Up {
        /// Create the demo world before serving (idempotent for a given seed).
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        plan: DemoArgs,
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref(), cli.data_dir.as_deref())
        .context("loading configuration")?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => serve(&settings).await,
        Command::Migrate => {
            command_gateway(&settings).await.context("migrating")?;
            info!(store = %settings.store_url(), "migrated");
            Ok(())
        }
        Command::Demo(plan) => {
            let commands = command_gateway(&settings)
                .await
                .context("opening the store")?;
            let report = demo::run(&commands, plan.into()).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Up { demo, plan } => {
            let app = Application::build(&settings).await?;
            if demo {
                let report = demo::run(app.commands(), plan.into()).await?;
                info!(?report, "demo world ready");
            }
            app.run_until_stopped().await?;
            Ok(())
        }
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::build(settings)
        .await
        .context("starting the application")?;
    app.run_until_stopped().await?;
    Ok(())
}
