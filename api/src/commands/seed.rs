//! `journey seed --people N --seed S [--start DATE] [--end DATE]`: writes a synthetic population
//! through the ledger's write path, with the transaction times the generator simulates.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use journey_core::ledger::Ledger;
use journey_core::synth::{self, Seeded, SynthConfig};

use crate::context::{CliError, Context, Options};

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Number of persons (children included).
    #[arg(long, default_value_t = 5_000)]
    pub people: usize,
    /// The generator's seed: the same seed gives the same population.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The first arrivals.
    #[arg(long, default_value = "2015-01-01")]
    pub start: NaiveDate,
    /// The population's "today": nothing occurs or is recorded after it. Default: today.
    #[arg(long)]
    pub end: Option<NaiveDate>,
}

pub async fn run(options: &Options, args: SeedArgs) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let seeded = seed(&context.ledger, &args, true).await?;
    println!(
        "seeded {} persons: {} events written, {} already recorded",
        seeded.persons, seeded.written, seeded.already
    );
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// Seeds the population described by `args` into `ledger`.
pub async fn seed(
    ledger: &Arc<Ledger>,
    args: &SeedArgs,
    show_progress: bool,
) -> Result<Seeded, CliError> {
    let end = args.end.unwrap_or_else(|| ledger.clock().today());
    if args.start > end {
        return Err(format!("--start {} is after the end {end}", args.start).into());
    }
    let config = SynthConfig {
        people: args.people,
        seed: args.seed,
        start: args.start,
        end,
    };
    let progress = if show_progress {
        ProgressBar::new(args.people as u64).with_style(
            ProgressStyle::with_template("seeding {bar:40} {pos}/{len} persons ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let seeded = synth::seed(ledger, &config, |persons| {
        progress.set_position(persons as u64)
    })
    .await?;
    progress.finish_and_clear();
    Ok(seeded)
}
