//! `journey seed --people N --seed S [--start DATE] [--end DATE]`: writes a synthetic population
//! through the ledger's write path, with the transaction times the generator simulates.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use journey_core::envelope::PersonId;
use journey_core::ledger::{Ledger, Proposed};
use journey_core::log::ExpectedRevision;
use journey_core::synth::{self, SynthConfig, SynthEvent};
use tokio::task::JoinSet;

use crate::context::{CliError, Context, Options};

/// Persons appended concurrently (their appends share the log's group commits).
const PERSONS_IN_FLIGHT_MAX: usize = 64;

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

/// What a seeding run wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seeded {
    pub persons: usize,
    pub written: usize,
    pub already: usize,
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
    let mut seeded = Seeded::default();
    let mut tasks: JoinSet<Result<(usize, usize), CliError>> = JoinSet::new();
    for household in synth::households(&config) {
        for (person, events) in by_person(household, ledger.clock().now()) {
            while tasks.len() >= PERSONS_IN_FLIGHT_MAX {
                collect(&mut tasks, &mut seeded, &progress).await?;
            }
            let ledger = ledger.clone();
            tasks.spawn(async move {
                let mut written = 0;
                let mut already = 0;
                // A journey longer than one append allows is written in parts, in order.
                for part in events.chunks(journey_core::log::APPEND_EVENTS_MAX) {
                    let receipt = ledger
                        .append_historical(person, ExpectedRevision::Any, part.to_vec())
                        .await?;
                    already += receipt.already_recorded;
                    if let (Some(first), Some(last)) =
                        (receipt.first_position, receipt.last_position)
                    {
                        written += (last - first + 1) as usize;
                    }
                }
                Ok((written, already))
            });
        }
    }
    while !tasks.is_empty() {
        collect(&mut tasks, &mut seeded, &progress).await?;
    }
    progress.finish_and_clear();
    Ok(seeded)
}

async fn collect(
    tasks: &mut JoinSet<Result<(usize, usize), CliError>>,
    seeded: &mut Seeded,
    progress: &ProgressBar,
) -> Result<(), CliError> {
    if let Some(result) = tasks.join_next().await {
        let (written, already) =
            result.map_err(|error| format!("seeding task failed: {error}"))??;
        seeded.persons += 1;
        seeded.written += written;
        seeded.already += already;
        progress.inc(1);
    }
    Ok(())
}

/// One person's events with their transaction times.
type Journey = Vec<(Proposed, chrono::DateTime<chrono::Utc>)>;

/// Splits a household's events into each person's events, keeping their order.
/// Transaction times are capped at `now`: the generator places the last day's entries at times of
/// day that may still lie ahead, and a ledger never records the future.
fn by_person(
    events: Vec<SynthEvent>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(PersonId, Journey)> {
    let mut persons: Vec<(PersonId, Journey)> = Vec::new();
    for event in events {
        let recorded_at = event.recorded_at.min(now);
        let proposed = Proposed {
            id: event.id,
            occurred_on: event.occurred_on,
            event: event.event,
            actor: event.actor,
            correlation_id: None,
            causation_id: None,
        };
        match persons
            .iter_mut()
            .find(|(person, _)| *person == event.person)
        {
            Some((_, list)) => list.push((proposed, recorded_at)),
            None => persons.push((event.person, vec![(proposed, recorded_at)])),
        }
    }
    persons
}
