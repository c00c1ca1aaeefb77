//! `journey bench …`: benchmarks that print figures, each next to a baseline measured in the same run
//! (these machines are shared and noisy, so only ratios are comparable between runs).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::{Args, Subcommand};
use journey_core::clock::SystemClock;
use journey_core::envelope::{Actor, PersonId};
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::{
    EventLog, ExpectedRevision, LogStats, NewEvent, PayloadEncoding, SledLog, SledLogConfig,
};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

use crate::context::{CliError, Options};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable append throughput of the event log and the ledger with 1 and many concurrent writers,
    /// next to raw sled batch inserts with a flush per batch.
    Log(LogBenchArgs),
    /// Rebuild rate of the projections next to the raw rate of reading and decoding the same log,
    /// indicator query times, and the projections' resident memory per person.
    Projections(ProjectionsBenchArgs),
}

#[derive(Debug, Args)]
pub struct ProjectionsBenchArgs {
    /// Persons of the synthetic population seeded into a scratch store.
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where to create the scratch store (a temporary directory is made inside and removed).
    #[arg(long)]
    pub scratch_dir: Option<PathBuf>,
    /// Measure on this already seeded data directory (`journey seed`; the master key as for any
    /// command) instead of seeding a scratch store: seeding is then not measured, and the store is
    /// only read (the projections' files go to a scratch directory), unless `--live-batches`
    /// writes to it.
    #[arg(long)]
    pub seeded_dir: Option<PathBuf>,
    /// Only the rates: read and decode the log (one core and every core), the catch-up and the
    /// rebuild in line; no latencies, memory or snapshots (what `tests/bench/postgres.sh` compares).
    #[arg(long)]
    pub rates_only: bool,
    /// After the indicators read off steps are measured, append this many batches of new
    /// persons (`--live-batch-persons` each) and time the first query after each: the live
    /// views' refresh with the steps' update. This writes to the store: use a copy.
    #[arg(long, default_value_t = 0)]
    pub live_batches: usize,
    /// The new persons of each of `--live-batches`.
    #[arg(long, default_value_t = 100)]
    pub live_batch_persons: usize,
}

#[derive(Debug, Args)]
pub struct LogBenchArgs {
    /// Events per scenario with many writers (1-writer scenarios run a tenth of that).
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Concurrent writers of the "many" scenarios (and the raw baseline's batch size).
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Bytes per raw baseline record (about the size of a stored event).
    #[arg(long, default_value_t = 400)]
    pub record_bytes: usize,
    /// Rounds of the many-writer scenarios, each next to its own baseline run; the median ratio
    /// counts.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Where to create the scratch stores (a temporary directory is made inside and removed).
    #[arg(long)]
    pub scratch_dir: Option<PathBuf>,
    /// Also run raw sled with two more keys per record at random places of the key space (a stream
    /// and an id index key each, as the log's format 1 wrote them), next to the plain baseline.
    #[arg(long)]
    pub random_index_keys: bool,
    /// Also write this many events (in streams of 35, by 64 writers), close the log and time its
    /// reopening, which builds the in-memory index (0: skip).
    #[arg(long, default_value_t = 0)]
    pub open_events: u64,
}

pub async fn run(options: &Options, command: BenchCommand) -> Result<ExitCode, CliError> {
    match command {
        BenchCommand::Log(args) => log_bench(args).await,
        BenchCommand::Projections(args) => super::bench_projections::run(options, args).await,
    }
}

/// Throughput and latency of one scenario.
#[derive(Debug)]
struct Figures {
    events: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, percentile: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * percentile).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    }
}

pub(crate) fn scratch_in(dir: &Option<PathBuf>) -> Result<tempfile::TempDir, CliError> {
    Ok(match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)?
        }
        None => tempfile::tempdir()?,
    })
}

fn scratch(args: &LogBenchArgs) -> Result<tempfile::TempDir, CliError> {
    Ok(match &args.scratch_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)?
        }
        None => tempfile::tempdir()?,
    })
}

/// Raw sled: batches of `batch` records of `record_bytes`, one `apply_batch` and one flush each.
/// With `random_index_keys`, every record also gets a 50-byte and a 17-byte key with an 8-byte
/// value at random places of the key space.
fn raw_sled(
    dir: &std::path::Path,
    events: u64,
    batch: usize,
    record_bytes: usize,
    random_index_keys: bool,
) -> Result<Figures, CliError> {
    let db = sled::Config::new()
        .path(dir.join("raw"))
        .mode(sled::Mode::HighThroughput)
        .open()?;
    let tree = db.open_tree("raw")?;
    let mut rng = StdRng::seed_from_u64(1);
    let mut value = vec![0u8; record_bytes];
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut position = 0u64;
    while position < events {
        let begun = Instant::now();
        let mut sled_batch = sled::Batch::default();
        for _ in 0..batch {
            rng.fill_bytes(&mut value);
            sled_batch.insert(&position.to_be_bytes(), value.as_slice());
            if random_index_keys {
                let mut stream_key = [b's'; 50];
                rng.fill_bytes(&mut stream_key[1..17]);
                sled_batch.insert(&stream_key[..], &position.to_be_bytes()[..]);
                let mut id_key = [b'i'; 17];
                rng.fill_bytes(&mut id_key[1..]);
                sled_batch.insert(&id_key[..], &position.to_be_bytes()[..]);
            }
            position += 1;
        }
        tree.apply_batch(sled_batch)?;
        db.flush()?;
        latencies.push(begun.elapsed());
    }
    Ok(Figures {
        events: position,
        elapsed: started.elapsed(),
        latencies,
    })
}

fn log_event(rng: &mut StdRng) -> NewEvent {
    let mut payload = vec![0u8; 120];
    rng.fill_bytes(&mut payload);
    let mut digest = [0u8; 32];
    rng.fill_bytes(&mut digest);
    NewEvent {
        id: Uuid::from_u128(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())),
        event_type: "CounsellingContact".into(),
        version: 1,
        occurred_on: Utc::now().date_naive(),
        recorded_at: Utc::now(),
        actor: Actor::system("bench").to_log(),
        correlation_id: None,
        causation_id: None,
        encoding: PayloadEncoding::Sealed,
        payload,
        content_digest: digest,
        prev_hash: [0; 32],
        hash: digest,
    }
}

/// `writers` tasks append one event per call to their own stream until `events` are written.
async fn log_appends(log: Arc<SledLog>, events: u64, writers: usize) -> Result<Figures, CliError> {
    let per_writer = events.div_ceil(writers as u64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let log = log.clone();
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(writer as u64 + 100);
            let stream = format!("bench-{writer}");
            let mut latencies = Vec::with_capacity(per_writer as usize);
            for _ in 0..per_writer {
                let event = log_event(&mut rng);
                let begun = Instant::now();
                log.append(&stream, ExpectedRevision::Any, vec![event])
                    .await?;
                latencies.push(begun.elapsed());
            }
            Ok::<_, CliError>(latencies)
        });
    }
    collect(tasks, started).await
}

/// `writers` tasks append one event per call to their own person through the full write path.
async fn ledger_appends(
    ledger: Arc<Ledger>,
    events: u64,
    writers: usize,
) -> Result<Figures, CliError> {
    let per_writer = events.div_ceil(writers as u64);
    let today = ledger.clock().today();
    let mut people = Vec::with_capacity(writers);
    for _ in 0..writers {
        let person = PersonId(Uuid::new_v4());
        ledger
            .append(
                person,
                ExpectedRevision::NoStream,
                vec![sample::registration(Uuid::new_v4(), today)],
            )
            .await?;
        people.push(person);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for person in people {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_writer as usize);
            for _ in 0..per_writer {
                let event = sample::counselling(Uuid::new_v4(), today);
                let begun = Instant::now();
                ledger
                    .append(person, ExpectedRevision::Any, vec![event])
                    .await?;
                latencies.push(begun.elapsed());
            }
            Ok::<_, CliError>(latencies)
        });
    }
    collect(tasks, started).await
}

async fn collect(
    mut tasks: tokio::task::JoinSet<Result<Vec<Duration>, CliError>>,
    started: Instant,
) -> Result<Figures, CliError> {
    let mut latencies = Vec::new();
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result.map_err(|error| format!("bench task failed: {error}"))??);
    }
    Ok(Figures {
        events: latencies.len() as u64,
        elapsed: started.elapsed(),
        latencies,
    })
}

pub(crate) fn open_ledger(
    dir: &std::path::Path,
) -> Result<(Store, Arc<SledLog>, Arc<Ledger>), CliError> {
    let store = Store::open(dir, &StoreConfig::default())?;
    let mut rng = StdRng::from_entropy();
    let master = journey_core::crypto::SecretKey::generate(&mut rng);
    let keys = Arc::new(KeyStore::open(&store, master, &mut rng)?);
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default())?);
    let ledger = Arc::new(Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        Arc::new(SystemClock),
        Box::new(StdRng::from_entropy()),
        LedgerConfig::default(),
    ));
    Ok((store, log, ledger))
}

fn row(name: &str, figures: &Figures, baseline: Option<f64>, events_per_group: f64) {
    let share = baseline.map_or_else(String::new, |baseline| {
        format!(
            "  {:>6.1}% of baseline",
            100.0 * figures.events_per_second() / baseline
        )
    });
    println!(
        "{name:<49} {:>10.0} events/s  p50 {:>7.2} ms  p99 {:>7.2} ms{share}  ({events_per_group:.1} events/group commit)",
        figures.events_per_second(),
        figures.percentile_ms(0.50),
        figures.percentile_ms(0.99),
    );
}

async fn log_bench(args: LogBenchArgs) -> Result<ExitCode, CliError> {
    let writers = args.writers.max(1);
    let rounds = args.rounds.max(1);
    let single_events = (args.events / 10).max(100);
    println!(
        "journey bench log: {} events per many-writer scenario, {single_events} per single-writer scenario, {writers} writers, {rounds} rounds",
        args.events
    );
    let raw_run = || -> Result<Figures, CliError> {
        let dir = scratch(&args)?;
        raw_sled(dir.path(), args.events, writers, args.record_bytes, false)
    };

    // The single-writer scenarios run once, for their latency.
    {
        let dir = scratch(&args)?;
        let (store, log, ledger) = open_ledger(dir.path())?;
        let before = log.stats();
        let figures = log_appends(log.clone(), single_events, 1).await?;
        let per_group = group_counters(&log, before);
        row("event log append, 1 writer", &figures, None, per_group);
        let before = log.stats();
        let figures = ledger_appends(ledger.clone(), single_events, 1).await?;
        let per_group = group_counters(&log, before);
        row(
            "ledger append (rules, seal, chain), 1 writer",
            &figures,
            None,
            per_group,
        );
        log.close().await?;
        store.flush()?;
    }

    // The many-writer scenarios run in rounds, each next to its own baseline run on a fresh store
    // just before it: the machines are shared, and load that comes and goes between a baseline
    // and a scenario measured minutes apart distorts a ratio far more than the code does. The
    // figure that counts is the median of the rounds' ratios.
    let mut log_ratios = Vec::with_capacity(rounds);
    let mut ledger_ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let raw = raw_run()?;
        let baseline = raw.events_per_second();
        println!(
            "round {round}: {:<35} {:>10.0} events/s  p99 {:>7.2} ms per batch",
            format!(
                "raw sled apply_batch({writers} x {} B) + flush",
                args.record_bytes
            ),
            baseline,
            raw.percentile_ms(0.99),
        );
        if args.random_index_keys {
            let dir = scratch(&args)?;
            let variant = raw_sled(dir.path(), args.events, writers, args.record_bytes, true)?;
            row(
                &format!("round {round}: raw sled + 2 random index keys per record"),
                &variant,
                Some(baseline),
                writers as f64,
            );
        }
        let dir = scratch(&args)?;
        let (store, log, ledger) = open_ledger(dir.path())?;
        let before = log.stats();
        let figures = log_appends(log.clone(), args.events, writers).await?;
        let per_group = group_counters(&log, before);
        row(
            &format!("round {round}: event log append, {writers} writers"),
            &figures,
            Some(baseline),
            per_group,
        );
        log_ratios.push(figures.events_per_second() / baseline);
        let before = log.stats();
        let figures = ledger_appends(ledger.clone(), args.events, writers).await?;
        let per_group = group_counters(&log, before);
        row(
            &format!("round {round}: ledger append, {writers} writers"),
            &figures,
            Some(baseline),
            per_group,
        );
        ledger_ratios.push(figures.events_per_second() / baseline);
        if round == 1 {
            let (indexed, index_bytes) = log.index_footprint();
            println!(
                "in-memory index: {indexed} events, about {} bytes per event",
                index_bytes / indexed.max(1)
            );
        }
        log.close().await?;
        store.flush()?;
    }

    if args.open_events > 0 {
        open_time(&args, writers).await?;
    }

    // The median of the rounds' ratios, printed with its range.
    let median = |name: &str, ratios: &mut Vec<f64>| {
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        println!(
            "{name}, {writers} writers: median {:.0}% of the raw batch rate over {rounds} rounds (min {:.0}%, max {:.0}%)",
            median * 100.0,
            ratios[0] * 100.0,
            ratios[ratios.len() - 1] * 100.0
        );
        median
    };
    let log_median = median("event log", &mut log_ratios);
    let ledger_median = median("ledger", &mut ledger_ratios);
    let verdict = |ratio: f64| if ratio >= 0.5 { "met" } else { "NOT met" };
    println!(
        "target: {writers} durable writers reach >= 50% of the raw batch rate (median of rounds): event log {:.0}% ({}), ledger {:.0}% ({})",
        log_median * 100.0,
        verdict(log_median),
        ledger_median * 100.0,
        verdict(ledger_median),
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `--open-events` events in streams of 35, closes the log and times opening it again.
async fn open_time(args: &LogBenchArgs, writers: usize) -> Result<(), CliError> {
    const PER_STREAM: u64 = 35;
    let dir = scratch(args)?;
    let store = Store::open(dir.path(), &StoreConfig::default())?;
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default())?);
    let streams = args.open_events.div_ceil(PER_STREAM);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers as u64 {
        let log = log.clone();
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(writer + 1_000);
            for stream in (writer..streams).step_by(writers) {
                let name = format!("open-{stream}");
                for _ in 0..PER_STREAM / 7 {
                    let events = (0..7).map(|_| log_event(&mut rng)).collect();
                    log.append(&name, ExpectedRevision::Any, events).await?;
                }
            }
            Ok::<_, CliError>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.map_err(|error| format!("bench task failed: {error}"))??;
    }
    let written = log.stats().events;
    println!(
        "open time: wrote {written} events in {streams} streams in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    log.close().await?;
    drop(log);
    let started = Instant::now();
    let log = SledLog::open(&store, SledLogConfig::default())?;
    let opened = started.elapsed();
    let (events, bytes) = log.index_footprint();
    println!(
        "open time: reopened {events} events in {:.2} s; in-memory index about {} bytes per event",
        opened.as_secs_f64(),
        bytes / events.max(1)
    );
    log.close().await?;
    Ok(())
}

/// The writer's counters since `before`: events per group commit and the time per group of each
/// step (printed to stderr).
fn group_counters(log: &SledLog, before: LogStats) -> f64 {
    let after = log.stats();
    let groups = (after.groups - before.groups).max(1);
    let per_group_ms = |after: u64, before: u64| (after - before) as f64 / groups as f64 / 1e6;
    eprintln!(
        "  writer per group: prepare {:.3} ms, apply {:.3} ms, flush {:.3} ms",
        per_group_ms(after.prepare_ns, before.prepare_ns),
        per_group_ms(after.apply_ns, before.apply_ns),
        per_group_ms(after.flush_ns, before.flush_ns)
    );
    (after.events - before.events) as f64 / groups as f64
}
