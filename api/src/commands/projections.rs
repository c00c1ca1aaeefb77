//! `journey projections status|rebuild`: the projection runner from the command line.

use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use journey_projections::{Projections, RunnerConfig};

use crate::context::{CliError, Context, Options};

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Loads the projections (snapshot, then catch-up) and prints their position, lag and digest.
    Status,
    /// Rebuilds the projections from position 0 beside the current state, then swaps it in. An
    /// interrupted rebuild resumes from its last progress snapshot.
    Rebuild {
        /// Write a resumable progress snapshot after N events, or after as many as the rebuilt
        /// state held at the last one when that is more (the gaps double as the state grows).
        #[arg(long, default_value_t = 250_000)]
        snapshot_every: u64,
    },
}

pub fn runner_config(options: &Options) -> RunnerConfig {
    RunnerConfig::new(options.data_dir.join("projections"))
}

/// Opens the data directory and starts its projections, caught up with the log; with a
/// `known_at`, also checks that they reached it (caught up already, so only a time in the future
/// is refused). For the commands that compute indicators (`kpi`, `report`).
pub async fn open_caught_up(
    options: &Options,
    known_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(Context, Projections), CliError> {
    let context = Context::open(options).await?;
    let projections = Projections::start(context.ledger.clone(), runner_config(options)).await?;
    projections.caught_up().await?;
    if let Some(known_at) = known_at {
        projections
            .reach(known_at, std::time::Duration::ZERO)
            .await?;
    }
    Ok((context, projections))
}

pub async fn run(options: &Options, command: ProjectionsCommand) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let mut config = runner_config(options);
    if let ProjectionsCommand::Rebuild { snapshot_every } = &command {
        config.snapshot_every_events = (*snapshot_every).max(1);
    }
    let projections = Projections::start(context.ledger.clone(), config).await?;
    let loaded = projections.status().await?;
    match command {
        ProjectionsCommand::Status => {
            println!("version            {}", loaded.version);
            println!(
                "loaded checkpoint  {} (lag {} events at start)",
                loaded
                    .checkpoint
                    .map_or("none".to_owned(), |c| c.to_string()),
                loaded.lag_events
            );
            projections.caught_up().await?;
        }
        ProjectionsCommand::Rebuild { .. } => {
            // Positions are not dense: the bar shows how far through the log's positions the
            // rebuild is, and the count of events applied beside it.
            let bar = ProgressBar::new(loaded.head.map_or(0, |head| head.raw())).with_style(
                ProgressStyle::with_template("rebuilding {bar:40} {msg} events ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            projections
                .rebuild(|progress| {
                    bar.set_length(progress.head.map_or(0, |head| head.raw()));
                    bar.set_position(progress.checkpoint.map_or(0, |checkpoint| checkpoint.raw()));
                    bar.set_message(progress.applied.to_string());
                })
                .await?;
            bar.finish_and_clear();
            println!("rebuilt from position 0");
        }
    }
    let status = projections.status().await?;
    let (persons, digest) = projections.read(|state| (state.journals.len(), state.digest()));
    println!(
        "checkpoint         {}",
        status
            .checkpoint
            .map_or("none".to_owned(), |c| c.to_string())
    );
    println!(
        "head               {}",
        status
            .head
            .map_or("none".to_owned(), |head| head.to_string())
    );
    println!("lag                {} events", status.lag_events);
    println!(
        "kept rows          {}",
        if status.kept_rows_ready {
            "ready (a past knownAt is served from them)"
        } else {
            "building (a past knownAt is served from views meanwhile)"
        }
    );
    println!("persons            {persons}");
    println!("digest             {digest}");
    projections.shutdown().await?;
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}
