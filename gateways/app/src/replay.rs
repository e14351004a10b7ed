//! `eventmall replay …`: rebuilds with progress, swap, rollback, garbage collection, verify,
//! offset resets and republish, against the configured cluster (else the local broker of a
//! running `up`) and the configured read models.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Subcommand};
use eventmall_kafka::replay::{Outcome, Progress, RebuildOptions, ResetTo, SwapMode, republish};
use eventmall_projections::Generation;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::roles::shutdown_signal;
use crate::startup::{codec, replay};

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Build a new generation of a projection from offset 0 beside the live one, then swap it
    /// in. Run again after a kill, it resumes from the new generation's checkpoints.
    Rebuild {
        /// `order-views`, `search` or `recommendations`.
        projection: String,
        /// `now` (the default: build, catch up, swap) or `position P` (build only the events
        /// stored up to P, and stop: for inspection, never served).
        #[arg(long, num_args = 1..=2, value_names = ["now|position", "P"])]
        until: Vec<String>,
        /// Compare with the live generation at its cut first; swap only when they are equal.
        #[arg(long)]
        verify: bool,
        /// `auto` swaps once caught up; `manual` leaves it ready for `replay swap`.
        #[arg(long, value_enum, default_value = "auto")]
        swap: SwapArg,
        /// Print progress as JSON lines instead of bars.
        #[arg(long)]
        json: bool,
    },
    /// A projection's generations and latest rebuilds.
    Status { projection: String },
    /// Make a ready generation (the newest, or `--generation`) serve.
    Swap {
        projection: String,
        #[arg(long)]
        generation: Option<u32>,
    },
    /// Make the previous generation serve again.
    Rollback { projection: String },
    /// Drop retired generations but the newest `--keep`: tables, index directories, groups.
    Gc {
        projection: String,
        #[arg(long, default_value_t = 1)]
        keep: usize,
    },
    /// Compare the live generation with a scratch rebuild at its cut; exits 1 when they differ.
    Verify { projection: String },
    /// Move a consumer group's offsets (a dry run unless `--execute`).
    ResetOffsets(ResetArgs),
    /// Send stored events to Kafka again, with their original ids and headers.
    Republish {
        #[arg(long)]
        from_position: i64,
        #[arg(long)]
        to_position: Option<i64>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SwapArg {
    Auto,
    Manual,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("to").required(true).args(
    ["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime"]
)))]
pub struct ResetArgs {
    /// The consumer group.
    #[arg(long)]
    group: String,
    /// Only this topic (needed for a group that is no projector's).
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    to_earliest: bool,
    #[arg(long)]
    to_latest: bool,
    #[arg(long)]
    to_offset: Option<i64>,
    #[arg(long, allow_hyphen_values = true)]
    shift_by: Option<i64>,
    /// RFC 3339, e.g. `2026-12-01T00:00:00+09:00`.
    #[arg(long)]
    to_datetime: Option<DateTime<Utc>>,
    /// Apply the plan; without it, only print it.
    #[arg(long)]
    execute: bool,
}

impl ResetArgs {
    fn to(&self) -> ResetTo {
        match (self.to_offset, self.shift_by, self.to_datetime) {
            (Some(offset), _, _) => ResetTo::Offset(offset),
            (_, Some(by), _) => ResetTo::ShiftBy(by),
            (_, _, Some(at)) => ResetTo::Datetime(at),
            _ if self.to_latest => ResetTo::Latest,
            _ => ResetTo::Earliest,
        }
    }
}

fn options(until: &[String], verify: bool, swap: SwapArg) -> anyhow::Result<RebuildOptions> {
    let until_position = match until {
        [] => None,
        [now] if now == "now" => None,
        [position, p] if position == "position" => Some(
            p.parse()
                .with_context(|| format!("--until position takes a store position, not {p}"))?,
        ),
        other => anyhow::bail!(
            "--until takes `now` or `position P`, not {}",
            other.join(" ")
        ),
    };
    Ok(RebuildOptions {
        until_position,
        verify,
        swap: match swap {
            SwapArg::Auto => SwapMode::Auto,
            SwapArg::Manual => SwapMode::Manual,
        },
    })
}

/// Writes `value` as a JSON line; a closed stdout (a pipe into `head`) is an error, not a panic.
fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn print_pretty(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

pub async fn run(settings: &Settings, servers: &str, command: ReplayCommand) -> anyhow::Result<()> {
    let tool = replay(settings, servers).await?;
    match command {
        ReplayCommand::Rebuild {
            projection,
            until,
            verify,
            swap,
            json,
        } => {
            let options = options(&until, verify, swap)?;
            let began = tool.begin(&projection).await?;
            if !began.resumed_from.is_empty() {
                eprintln!(
                    "resuming rebuild {} of {} {} from {}",
                    began.rebuild_id,
                    began.projector,
                    Generation(began.generation.0),
                    began
                        .resumed_from
                        .iter()
                        .map(|c| format!("{}/{}@{}", c.topic, c.partition, c.next_offset))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            let stop = CancellationToken::new();
            let stopping = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                stopping.cancel();
            });
            let mut bars = Bars::new(json || !std::io::stderr().is_terminal());
            let rebuilt = tool
                .run(began, &options, |progress| bars.show(progress, json), stop)
                .await?;
            bars.finish();
            print(&rebuilt)?;
            if let Outcome::VerifyFailed { .. } = rebuilt.outcome {
                anyhow::bail!("verify found differences: not swapped");
            }
        }
        ReplayCommand::Status { projection } => print(&tool.generations(&projection).await?)?,
        ReplayCommand::Swap {
            projection,
            generation,
        } => print(&tool.swap(&projection, generation.map(Generation)).await?)?,
        ReplayCommand::Rollback { projection } => print(&tool.rollback(&projection).await?)?,
        ReplayCommand::Gc { projection, keep } => {
            for collected in tool.gc(&projection, keep).await? {
                if let Some(error) = &collected.group_error {
                    eprintln!(
                        "{} {}: consumer group {} not deleted: {error}",
                        collected.projector,
                        Generation(collected.generation),
                        collected.group_id
                    );
                }
                print(&collected)?;
            }
        }
        ReplayCommand::Verify { projection } => {
            let verified = tool.verify(&projection).await?;
            print_pretty(&verified)?;
            if !verified.clean {
                anyhow::bail!("{} keys differ", verified.differences.count);
            }
        }
        ReplayCommand::ResetOffsets(args) => {
            let plan = tool
                .reset_offsets(&args.group, args.topic.as_deref(), args.to(), args.execute)
                .await?;
            print_pretty(&plan)?;
            if !plan.executed {
                eprintln!("dry run: nothing changed; --execute applies it");
            }
        }
        ReplayCommand::Republish {
            from_position,
            to_position,
        } => {
            let url = settings.store_url();
            let events = eventmall_store::connect_reader(&url)
                .await
                .context("opening the store")?;
            let store_pool = eventmall_store::connect_pool(&url).await?;
            let sent = republish(
                events,
                &codec(settings, &store_pool)?,
                servers,
                &settings.relay,
                from_position,
                to_position,
            )
            .await?;
            print(&sent)?;
        }
    }
    Ok(())
}

/// One bar per topic on a terminal; JSON lines with `--json`; nothing else otherwise.
struct Bars {
    quiet: bool,
    all: MultiProgress,
    bars: BTreeMap<String, ProgressBar>,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            all: MultiProgress::new(),
            bars: BTreeMap::new(),
        }
    }

    fn show(&mut self, progress: &Progress, json: bool) {
        if json {
            if let Err(error) = print(progress) {
                tracing::warn!(%error, "progress not printed");
            }
            return;
        }
        if self.quiet {
            return;
        }
        for topic in &progress.topics {
            let bar = self.bars.entry(topic.topic.clone()).or_insert_with(|| {
                let bar = self.all.add(ProgressBar::new(0));
                if let Ok(style) =
                    ProgressStyle::with_template("{prefix:<28} {bar:32} {pos:>9}/{len:<9} {msg}")
                {
                    bar.set_style(style);
                }
                bar.set_prefix(topic.topic.clone());
                bar
            });
            bar.set_length(u64::try_from(topic.total).unwrap_or_default());
            bar.set_position(u64::try_from(topic.applied).unwrap_or_default());
            let eta = topic
                .eta_seconds
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.0} s"));
            bar.set_message(format!(
                "{:?} {:.0}/s {} left, ETA {eta}",
                progress.phase, topic.events_per_second, topic.remaining
            ));
        }
    }

    fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish();
        }
    }
}
