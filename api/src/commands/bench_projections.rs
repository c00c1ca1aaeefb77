//! `journey bench projections`: every figure of the projections' targets (issue 11) from one run,
//! each next to a baseline measured in the same run where there is one: the catch-up and rebuild
//! rates against reading and decoding the same log on one and on every core, the resident memory
//! of the projections by part, start-up with and without a snapshot, indicator latencies (p50 and
//! p99, one- and two-way tables, today and a past `as_of`), past `known_at` cuts, and disk per event.
//!
//! Seeding runs in this process; the measurements run in a fresh child process on the seeded store,
//! so that the memory the seeding freed (and the allocator keeps) does not hide what the projections
//! take. `--seeded-dir` measures an existing seeded data directory instead, without seeding.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::ledger::Ledger;
use journey_core::log::{AllFrom, Direction, Position};
use journey_core::synth::{self, SynthConfig};
use journey_projections::journal::{ActorSymbol, EventSymbol, Fact};
use journey_projections::kpi::history::History;
use journey_projections::kpi::{catalogue, Dimension, KpiQuery, Suppression};
use journey_projections::view::PersonView;
use journey_projections::{KeptCut, KpiRequest, Projections, RunnerConfig, State, ViewSet};
use rand::RngCore;

use super::bench::{scratch_in, ProjectionsBenchArgs};
use crate::context::{CliError, Context, LogStore, Options};
use journey_api::memory;

const PAGE_EVENTS: usize = 4096;
/// Samples per indicator scenario (p99 of 60 samples is the second slowest).
const KPI_SAMPLES: i64 = 60;
/// The longest the bench waits for the live views' steps to be served.
const STEPS_WAIT_MAX: Duration = Duration::from_secs(120);
/// The seed of the first batch of persons appended live (`--live-batches`).
const LIVE_BATCH_SEED: u64 = 7_000;
/// Samples per indicator and scenario of the per-indicator table (its p99 is the slowest).
const PER_INDICATOR_SAMPLES: i64 = 20;

/// What the process holds at one moment, after giving freed memory back to the system
/// ([`memory::trim`]): the live heap bytes (the counting allocator of the `journey` binary) and the
/// resident memory.
#[derive(Debug, Clone, Copy)]
struct Held {
    live: u64,
    resident: u64,
}

impl Held {
    fn now() -> Self {
        memory::trim();
        Self {
            live: memory::live_bytes().unwrap_or(0),
            resident: memory::resident_bytes(),
        }
    }

    /// What was added since `before`, per person, as "live ... (RSS ...)".
    fn since(self, before: Held, persons: u64) -> String {
        let per_person = |bytes: u64| bytes as f64 / persons as f64;
        format!(
            "{:>10.0} bytes/person live  ({:.0} resident)",
            per_person(self.live.saturating_sub(before.live)),
            per_person(self.resident.saturating_sub(before.resident))
        )
    }
}

/// The bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Reads and decodes the events at raw positions `from..to` page by page. Splitting the log by raw
/// position is the bench's own shortcut: sled's positions are dense, so the ranges are about equal;
/// on a log with sparse positions they would only be uneven, never wrong.
async fn read_and_decode_range(ledger: Arc<Ledger>, from: u64, to: u64) -> Result<u64, CliError> {
    let mut next = AllFrom::Including(Position::from_raw(from));
    let mut decoded = 0;
    'pages: loop {
        let page = ledger
            .log()
            .read_all(next, Direction::Forwards, PAGE_EVENTS)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        next = AllFrom::Excluding(last.position);
        for recorded in page {
            if recorded.position.raw() >= to {
                break 'pages;
            }
            std::hint::black_box(ledger.decode(recorded)?);
            decoded += 1;
        }
    }
    Ok(decoded)
}

/// The raw position one past the log's last event (0 for an empty log).
async fn raw_end(ledger: &Ledger) -> Result<u64, CliError> {
    Ok(ledger
        .log()
        .last_position()
        .await?
        .map_or(0, |last| last.raw() + 1))
}

/// Reads and decodes the whole log in `parts` contiguous ranges at once, one task each (on a
/// multi-threaded runtime, one core each): the most a parallel rebuild could reach.
async fn read_and_decode(ledger: &Arc<Ledger>, parts: u64) -> Result<(u64, Duration), CliError> {
    let started = Instant::now();
    let head = raw_end(ledger).await?;
    let step = head.div_ceil(parts.max(1));
    let tasks: Vec<_> = (0..parts)
        .map(|part| {
            let from = (part * step).min(head);
            let to = ((part + 1) * step).min(head);
            tokio::spawn(read_and_decode_range(ledger.clone(), from, to))
        })
        .collect();
    let mut events = 0;
    for task in tasks {
        events += task.await.map_err(|error| error.to_string())??;
    }
    Ok((events, started.elapsed()))
}

/// Rebuilds every projection from the log's start in this task, one event after the other: the
/// journals, then every person's view.
async fn rebuild_in_line(ledger: &Ledger) -> Result<(u64, Duration), CliError> {
    let started = Instant::now();
    let mut state = State::default();
    let mut events = 0u64;
    loop {
        let page = ledger
            .log()
            .read_all(
                AllFrom::after(state.checkpoint),
                Direction::Forwards,
                PAGE_EVENTS,
            )
            .await?;
        if page.is_empty() {
            break;
        }
        for recorded in page {
            state.apply(&ledger.decode(recorded)?)?;
            events += 1;
        }
    }
    let views = ViewSet::for_state(&state, journey_projections::LIVE);
    std::hint::black_box(&views);
    Ok((events, started.elapsed()))
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The sample at `percentile` (0..=1) of `samples`, nearest rank.
fn percentile(samples: &[Duration], percentile: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((sorted.len() as f64) * percentile).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// "p50 … ms max" of `samples`, the bench's figure of a handful of timed runs.
fn p50_max(samples: &[Duration]) -> String {
    format!(
        "{:>10.1} ms p50 {:>8.1} ms max",
        ms(percentile(samples, 0.5)),
        ms(percentile(samples, 1.0))
    )
}

/// Times `request` at five past `known_at` cuts, 61 days apart before `now` (each a cut of its own,
/// so no cached answer serves one); `after_first` runs right after the first.
fn past_known_at_cuts(
    projections: &Projections,
    request: KpiRequest,
    now: DateTime<Utc>,
    mut after_first: impl FnMut(),
) -> Result<Vec<Duration>, CliError> {
    let mut cuts = Vec::new();
    for months in 1..=5 {
        let begun = Instant::now();
        projections.kpi(KpiRequest {
            known_at: Some(now - chrono::Duration::days(61 * months)),
            ..request.clone()
        })?;
        cuts.push(begun.elapsed());
        if months == 1 {
            after_first();
        }
    }
    Ok(cuts)
}

fn figure(label: &str, value: String) {
    println!("{label:<62} {value}");
}

/// The same five past cuts as a filter over the rows the live fold passes through
/// (`kpi::history`, issue 11): the one-time build of those rows and what they hold, then the
/// columns of each cut (kept rows, and the persons no kept row answers folded again), against the
/// views folded again at the cut (`folded_p50`, measured just before). Not yet what `kpi` serves:
/// the indicators still read the views of the cut (docs/bench.md).
fn kept_rows(projections: &Projections, now: DateTime<Utc>, persons: u64, folded_p50: Duration) {
    let before = Held::now();
    let begun = Instant::now();
    let history = projections.read(|state| History::of_journals(&state.store, &state.journals));
    let built = begun.elapsed();
    let held = Held::now();
    figure(
        "kept rows of the past cuts built (every core, once)",
        format!(
            "{:>10.1} ms  ({:.1} rows, {:.1} versions a person)",
            ms(built),
            history.rows() as f64 / persons as f64,
            history.versions() as f64 / persons as f64
        ),
    );
    figure("memory: the kept rows", held.since(before, persons));
    let parts = history.heap_bytes_by_part();
    let total: usize = parts.iter().map(|(_, bytes)| bytes).sum();
    let per_person = |bytes: usize| bytes as f64 / persons.max(1) as f64;
    figure(
        "  counted by part, bytes a person",
        format!("{:>10.0}", per_person(total)),
    );
    for (part, bytes) in parts.iter().filter(|(_, bytes)| *bytes > 0) {
        figure(
            &format!("    {part}"),
            format!("{:>10.0}", per_person(*bytes)),
        );
    }
    // Each cut in its three steps, timed apart: the columns (every core), the households made
    // of them, then the indicator over them (on a `KeptCut` built again untimed).
    let (mut cuts, mut filtered, mut folded) = (Vec::new(), 0, 0);
    let (mut households, mut indicators) = (Vec::new(), Vec::new());
    for months in 1..=5 {
        let known_at = now - chrono::Duration::days(61 * months);
        let begun = Instant::now();
        let cut =
            projections.read(|state| history.columns_at(&state.store, &state.journals, known_at));
        cuts.push(begun.elapsed());
        let begun = Instant::now();
        std::hint::black_box(cut.columns.households());
        households.push(begun.elapsed());
        filtered += cut.filtered;
        folded += cut.folded;
        drop(cut);
        projections.read(|state| {
            let kept = KeptCut::of_history(state, &history, known_at);
            let query = KpiQuery {
                key: "employment_rate".to_owned(),
                as_of: NaiveDate::from_ymd_opt(2020, 12, 31).expect("a date"),
                known_at,
                by: vec![],
                suppression: Some(Suppression { k: 3 }),
            };
            let begun = Instant::now();
            std::hint::black_box(
                kept.compute(&query, &state.registers, &state.offers, &state.volunteers)
                    .ok(),
            );
            indicators.push(begun.elapsed());
        });
    }
    figure(
        "columns of a past known_at from the kept rows (every core)",
        format!(
            "{}  ({:.1}% of the folded views' p50)",
            p50_max(&cuts),
            100.0 * ms(percentile(&cuts, 0.5)) / ms(folded_p50).max(f64::MIN_POSITIVE)
        ),
    );
    figure(
        "  then the households of those columns",
        p50_max(&households),
    );
    figure("  then employment_rate over them", p50_max(&indicators));
    figure(
        "persons folded again at those cuts (no kept row answers)",
        format!(
            "{:>10.2} %  ({folded} of {} person-cuts)",
            100.0 * folded as f64 / (filtered + folded).max(1) as f64,
            filtered + folded
        ),
    );
}

pub async fn run(options: &Options, args: ProjectionsBenchArgs) -> Result<ExitCode, CliError> {
    memory::count_live_bytes();
    match &args.seeded_dir {
        Some(store) => {
            let options = Options {
                data_dir: store.clone(),
                ..options.clone()
            };
            measure(&options, &args).await
        }
        None => seed_then_measure(&args).await,
    }
}

/// Seeds a scratch store here, then measures it in a fresh child process.
async fn seed_then_measure(args: &ProjectionsBenchArgs) -> Result<ExitCode, CliError> {
    println!(
        "journey bench projections: {} persons, seed {}",
        args.people, args.seed
    );
    let scratch = scratch_in(&args.scratch_dir)?;
    let data_dir = scratch.path().join("data");
    let key_file = scratch.path().join("master.key");
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    std::fs::write(&key_file, hex)?;
    let options = Options {
        data_dir: data_dir.clone(),
        master_key_file: Some(key_file.clone()),
        erasure_register: None,
        store: LogStore::Sled,
    };
    let context = Context::open(&options).await?;
    let today = Utc::now().date_naive();
    let config = SynthConfig::new(args.people, args.seed, today);
    let started = Instant::now();
    let seeded = synth::seed(&context.ledger, &config, |_| {}).await?;
    let seeding = started.elapsed();
    figure(
        "seeding through the ledger",
        format!(
            "{:>10.0} events/s  ({} events, {} persons, {:.1} s)",
            rate(seeded.written as u64, seeding),
            seeded.written,
            seeded.persons,
            seeding.as_secs_f64()
        ),
    );
    context.close().await?;

    let mut child = std::process::Command::new(std::env::current_exe()?);
    child
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--master-key-file")
        .arg(&key_file)
        .args(["bench", "projections", "--people"])
        .arg(args.people.to_string())
        .arg("--seed")
        .arg(args.seed.to_string())
        .arg("--seeded-dir")
        .arg(&data_dir);
    if args.rates_only {
        child.arg("--rates-only");
    }
    if let Some(dir) = &args.scratch_dir {
        child.arg("--scratch-dir").arg(dir);
    }
    let status = child.status()?;
    drop(scratch);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The indicators read off running sums over days (`kpi::steps`): the first query at the live
/// cut is the pass and queues the steps, built in the background; the queries after they are
/// served read them.
async fn steps_of_the_live_views(
    projections: &Projections,
    today: NaiveDate,
    persons: u64,
) -> Result<(), CliError> {
    for by in [
        vec![Dimension::District],
        vec![Dimension::District, Dimension::Sex],
    ] {
        let request = |offset: i64| KpiRequest {
            key: "population_present".to_owned(),
            as_of: today - chrono::Duration::days(offset * 7),
            known_at: None,
            by: by.clone(),
            suppression: Some(Suppression { k: 3 }),
        };
        let begun = Instant::now();
        std::hint::black_box(projections.kpi(request(0))?);
        let first = begun.elapsed();
        let begun = Instant::now();
        while !projections.answers_from_steps(&request(0)) && begun.elapsed() < STEPS_WAIT_MAX {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let served = begun.elapsed();
        let mut samples = Vec::new();
        for offset in 1..=KPI_SAMPLES {
            let begun = Instant::now();
            std::hint::black_box(projections.kpi(request(offset))?);
            samples.push(begun.elapsed());
        }
        let dims: Vec<&str> = by.iter().map(|dimension| dimension.as_str()).collect();
        figure(
            &format!(
                "kpi population_present by {}, first at the live cut",
                dims.join("×")
            ),
            format!(
                "{:>10.2} ms (the pass), steps served {:.0} ms later{}, then {:.3} ms p50 {:.3} ms p99 (weekly as_of back {} weeks)",
                ms(first),
                ms(served),
                if projections.answers_from_steps(&request(0)) { "" } else { " (NOT served)" },
                ms(percentile(&samples, 0.5)),
                ms(percentile(&samples, 0.99)),
                KPI_SAMPLES
            ),
        );
    }
    let held = projections.steps_held();
    figure(
        "steps held by the live views",
        format!(
            "{:>10} steps, {:.1} bytes a person",
            held.held,
            held.heap_bytes as f64 / persons as f64
        ),
    );
    Ok(())
}

/// Appends `args.live_batches` batches of new persons, and times the first query after each
/// (the live views' refresh, the steps' update in it, the answer).
async fn live_batches(
    ledger: &Arc<Ledger>,
    projections: &Projections,
    args: &ProjectionsBenchArgs,
    today: NaiveDate,
) -> Result<(), CliError> {
    let mut queries = Vec::new();
    let mut updates = Vec::new();
    let mut from_steps = 0;
    for batch in 0..args.live_batches {
        let config = SynthConfig::new(
            args.live_batch_persons,
            LIVE_BATCH_SEED + batch as u64,
            today,
        );
        synth::seed_persons(ledger, &config, |_| {}).await?;
        projections.caught_up().await?;
        let request = KpiRequest {
            key: "population_present".to_owned(),
            as_of: today - chrono::Duration::days(batch as i64),
            known_at: None,
            by: vec![Dimension::District],
            suppression: Some(Suppression { k: 3 }),
        };
        let begun = Instant::now();
        std::hint::black_box(projections.kpi(request.clone())?);
        queries.push(begun.elapsed());
        updates.push(projections.steps_held().updated_in);
        from_steps += usize::from(projections.answers_from_steps(&request));
    }
    figure(
        &format!(
            "kpi after a batch of {} new persons (refresh + answer)",
            args.live_batch_persons
        ),
        format!(
            "{}  ({from_steps} of {} answered from the steps)",
            p50_max(&queries),
            args.live_batches
        ),
    );
    figure("  of which the steps' update", p50_max(&updates));
    Ok(())
}

/// Every measurement, on the seeded store of `options`.
async fn measure(options: &Options, args: &ProjectionsBenchArgs) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let ledger = context.ledger.clone();
    // The bench runs on sled, whose positions are dense: one past the last is the event count.
    let events = raw_end(&ledger).await?.max(1);
    let store_bytes = dir_bytes(&options.data_dir);
    let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get() as u64);
    println!(
        "measuring {} events in {} (a fresh process, {} cores)",
        events,
        options.data_dir.display(),
        cores
    );

    // The baselines: reading and decoding the whole log on one core and on all. The first read
    // also warms the store's cache, so that the memory measured below is the projections'.
    let (_, single_first) = read_and_decode(&ledger, 1).await?;
    let (_, parallel_first) = read_and_decode(&ledger, cores).await?;
    if args.rates_only {
        let baselines = Baselines {
            cores,
            single_first,
            parallel_first,
        };
        measure_rates(&ledger, args, events, baselines).await?;
        context.close().await?;
        return Ok(ExitCode::SUCCESS);
    }

    let scratch = scratch_in(&args.scratch_dir)?;
    let runner_dir = scratch.path().join("projections");
    let held_open = Held::now();
    let started = Instant::now();
    let projections =
        Projections::start(ledger.clone(), RunnerConfig::new(runner_dir.clone())).await?;
    projections.caught_up().await?;
    let catch_up = started.elapsed();
    let held_journals = Held::now();
    let persons = projections.read(|state| state.journals.len()).max(1) as u64;

    let today = ledger.clock().today();
    let request = |key: &str, as_of: NaiveDate, by: Vec<Dimension>| KpiRequest {
        key: key.to_owned(),
        as_of,
        known_at: None,
        by,
        suppression: Some(Suppression { k: 3 }),
    };
    let begun = Instant::now();
    projections.kpi(request("employment_rate", today, vec![]))?;
    let first_query = begun.elapsed();
    let held_live = Held::now();

    // The kept rows of the past cuts are built in the background after the catch-up (after the
    // live views): a past `known_at` asked meanwhile is answered from views, not held up.
    let past = NaiveDate::from_ymd_opt(2020, 12, 31).unwrap_or(today);
    let now = Utc::now();
    let early_ready = projections.kept_rows().ready;
    let begun = Instant::now();
    projections.kpi(KpiRequest {
        known_at: Some(now - chrono::Duration::days(61 * 6)),
        ..request("employment_rate", past, vec![])
    })?;
    figure(
        "kpi at a past known_at while the kept rows are built",
        format!(
            "{:>10.1} ms  ({})",
            ms(begun.elapsed()),
            if early_ready {
                "they were ready already"
            } else {
                "from views, sharing the cores with the build"
            }
        ),
    );
    let kept = projections.kept_rows_ready().await?;
    figure(
        "kept rows of the past cuts ready, after the catch-up",
        format!(
            "{:>10.1} ms  (built in the background in {:.1} ms, every core; {:.1} rows, {:.1} versions, {:.0} bytes a person)",
            kept.served_at.map_or(0.0, |served| ms(served.saturating_duration_since(started).saturating_sub(catch_up))),
            ms(kept.built_in),
            kept.rows as f64 / persons as f64,
            kept.versions as f64 / persons as f64,
            kept.heap_bytes as f64 / persons as f64
        ),
    );
    let held_kept = Held::now();
    // Counted once the kept rows' build is done: the parts are measured as the live bytes of deep
    // copies, which a build allocating beside them would swell.
    let journal_parts = projections.read(JournalParts::of);
    figure(
        "memory: the kept rows, live (the allocator's growth since the first query)",
        held_kept.since(held_live, persons),
    );

    steps_of_the_live_views(&projections, today, persons).await?;
    if args.live_batches > 0 {
        live_batches(&ledger, &projections, args, today).await?;
    }

    // Each sample asks for another reporting date, so that the result cache never answers.
    let scenarios: [(&str, &str, NaiveDate, Vec<Dimension>); 8] = [
        ("one-way", "employment_rate", today, vec![]),
        (
            "one-way",
            "employment_rate",
            today,
            vec![Dimension::District],
        ),
        (
            "one-way",
            "employment_by_years_since_arrival",
            today,
            vec![Dimension::Sex],
        ),
        ("one-way", "idle_days", today, vec![Dimension::District]),
        (
            "one-way past",
            "employment_rate",
            past,
            vec![Dimension::AgeBand],
        ),
        (
            "one-way past",
            "course_waiting_days",
            past,
            vec![Dimension::District],
        ),
        (
            "two-way",
            "idle_days",
            today,
            vec![Dimension::District, Dimension::Sex],
        ),
        (
            "two-way",
            "employment_rate",
            past,
            vec![Dimension::AgeBand, Dimension::ProtectionStatus],
        ),
    ];
    let mut by_kind: Vec<(&str, Vec<Duration>)> = Vec::new();
    for (kind, key, as_of, by) in scenarios {
        let mut samples = Vec::new();
        for offset in 0..KPI_SAMPLES {
            let day = as_of - chrono::Duration::days(offset);
            let begun = Instant::now();
            std::hint::black_box(projections.kpi(request(key, day, by.clone()))?);
            samples.push(begun.elapsed());
        }
        let dims: Vec<&str> = by.iter().map(|dimension| dimension.as_str()).collect();
        figure(
            &format!(
                "kpi {key}{}{}",
                if dims.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", dims.join("×"))
                },
                if as_of == today {
                    ", today"
                } else {
                    ", past as_of"
                }
            ),
            format!(
                "{:>10.2} ms p50 {:>8.2} ms p99",
                ms(percentile(&samples, 0.5)),
                ms(percentile(&samples, 0.99))
            ),
        );
        match by_kind.iter_mut().find(|(known, _)| *known == kind) {
            Some((_, all)) => all.extend(samples),
            None => by_kind.push((kind, samples)),
        }
    }
    for (kind, samples) in &by_kind {
        figure(
            &format!("kpi {kind} tables, all samples"),
            format!(
                "{:>10.2} ms p99  (target <= {} ms at 1,000,000)",
                ms(percentile(samples, 0.99)),
                if *kind == "two-way" { 50 } else { 10 }
            ),
        );
    }

    per_indicator(&projections, today, past)?;

    // Past `known_at` cuts: served from the kept rows (`KeptCut`, ready above) for an indicator
    // that reads no views, as `employment_rate`.
    let mut held_past = held_kept;
    let cuts = past_known_at_cuts(
        &projections,
        request("employment_rate", past, vec![]),
        now,
        || held_past = Held::now(),
    )?;
    figure(
        "kpi at a past known_at (served from the kept rows)",
        format!(
            "{}  (5 cuts; target <= 200 ms at 1,000,000)",
            p50_max(&cuts)
        ),
    );
    figure(
        "kpi at a past known_at, the four after the first",
        p50_max(&cuts[1..]),
    );
    // The baseline of the same run: the same cuts with every view folded again from the journals,
    // which is how a past cut was answered before it became a filter of the live views.
    let mut folded = Vec::new();
    for months in 1..=5 {
        let known_at = now - chrono::Duration::days(61 * months);
        let begun = Instant::now();
        std::hint::black_box(projections.read(|state| ViewSet::folded(state, known_at)));
        folded.push(begun.elapsed());
    }
    figure(
        "views of a past known_at folded again (baseline)",
        format!(
            "{}  (derived: {:.1}% of this)",
            p50_max(&folded),
            100.0 * ms(percentile(&cuts, 0.5))
                / ms(percentile(&folded, 0.5)).max(f64::MIN_POSITIVE)
        ),
    );
    kept_rows(&projections, now, persons, percentile(&folded, 0.5));
    figure(
        "first indicator query after a start without snapshot",
        format!("{:>10.1} ms  (builds the live views)", ms(first_query)),
    );

    let view_parts = ViewParts::of(&projections.views(None));
    print_memory(
        persons,
        (&journal_parts, &view_parts),
        [held_open, held_journals, held_live, held_kept, held_past],
    );
    let begun = Instant::now();
    projections.shutdown().await?;
    let snapshot_write = begun.elapsed();
    drop(projections);
    let snapshot_bytes = dir_bytes(&runner_dir);
    figure(
        "snapshot written at shutdown",
        format!(
            "{:>10.1} s  ({:.0} bytes/event)",
            snapshot_write.as_secs_f64(),
            snapshot_bytes as f64 / events as f64
        ),
    );
    let sections = journey_projections::snapshot::sections(&runner_dir.join("journals.snapshot"))?;
    let per_event = |bytes: u64| bytes as f64 / events as f64;
    figure(
        "snapshot by section: bytes/event",
        format!(
            "{:>10.2} entries, {:.2} kept rows, {:.2} shared table, {:.2} header and digest",
            per_event(sections.entries),
            per_event(sections.kept_rows),
            per_event(sections.shared),
            per_event(sections.header + sections.digest)
        ),
    );
    figure(
        "disk per event: log (the data directory) + snapshot",
        format!(
            "{:>10.0} bytes  ({:.0} + {:.0}; target <= 600)",
            (store_bytes + snapshot_bytes) as f64 / events as f64,
            store_bytes as f64 / events as f64,
            snapshot_bytes as f64 / events as f64
        ),
    );

    let held_closed = Held::now();
    figure(
        "memory left after the projections were dropped",
        held_closed.since(held_open, persons),
    );
    let started = Instant::now();
    let projections = Projections::start(ledger.clone(), RunnerConfig::new(runner_dir)).await?;
    projections.caught_up().await?;
    let ready = started.elapsed();
    figure(
        "memory: journals loaded from the snapshot",
        Held::now().since(held_closed, persons),
    );
    let begun = Instant::now();
    projections.kpi(request("employment_rate", today, vec![]))?;
    let first_after_snapshot = begun.elapsed();
    figure(
        "start with a snapshot: ready (loaded and caught up)",
        format!(
            "{:>10.1} s  (target <= 10 s at 1,000,000)",
            ready.as_secs_f64()
        ),
    );
    figure(
        "first indicator query after a start with snapshot",
        format!(
            "{:>10.1} ms  (target <= 1,000 ms)",
            ms(first_after_snapshot)
        ),
    );
    // The kept rows came with the snapshot: ready once the persons touched since are refreshed
    // (built again, as after a start without snapshot, when the snapshot holds none).
    let kept = projections.kept_rows_ready().await?;
    figure(
        "kept rows of the past cuts ready, after a start with snapshot",
        format!(
            "{:>10.1} ms after the start  ({})",
            kept.served_at
                .map_or(0.0, |served| ms(served.saturating_duration_since(started))),
            if kept.built_in.is_zero() {
                "from the snapshot".to_owned()
            } else {
                format!("built again in {:.1} ms", ms(kept.built_in))
            }
        ),
    );
    let cuts = past_known_at_cuts(
        &projections,
        request("employment_rate", past, vec![]),
        now,
        || {},
    )?;
    figure(
        "kpi at a past known_at after a start with snapshot (kept rows)",
        format!("{}  (5 cuts)", p50_max(&cuts)),
    );
    let started = Instant::now();
    projections.rebuild(|_| {}).await?;
    let runner_rebuild = started.elapsed();
    projections.shutdown().await?;
    drop(projections);

    let (rebuilt, in_line) = rebuild_in_line(&ledger).await?;
    let baselines = Baselines {
        cores,
        single_first,
        parallel_first,
    };
    let rates = [
        (
            "catch-up of the running projections (no snapshot)",
            rate(events, catch_up),
        ),
        (
            "rebuild (Projections::rebuild, with progress snapshots)",
            rate(events, runner_rebuild),
        ),
        (
            "rebuild in line (State::apply on one core, then views)",
            rate(rebuilt, in_line),
        ),
    ];
    print_rates(&ledger, events, baselines, &rates).await?;
    drop(scratch);
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// Every aggregate indicator's latency (p50 and p99) today and at a past `as_of`, one-way and
/// by district (or by its first breakdown where district is not one), slowest first, each as a
/// multiple of `population_present`'s, the simplest pass over the same rows in the same run: so
/// it is visible which indicators still read more than the columns.
fn per_indicator(
    projections: &Projections,
    today: NaiveDate,
    past: NaiveDate,
) -> Result<(), CliError> {
    let measure = |key: &str, as_of: NaiveDate, by: &[Dimension]| -> Result<_, CliError> {
        let mut samples = Vec::new();
        for offset in 0..PER_INDICATOR_SAMPLES {
            let request = KpiRequest {
                key: key.to_owned(),
                // Another reporting date each sample, so that the result cache never answers.
                as_of: as_of - chrono::Duration::days(offset),
                known_at: None,
                by: by.to_vec(),
                suppression: Some(Suppression { k: 3 }),
            };
            let begun = Instant::now();
            std::hint::black_box(projections.kpi(request)?);
            samples.push(begun.elapsed());
        }
        Ok((percentile(&samples, 0.5), percentile(&samples, 0.99)))
    };
    let mut rows = Vec::new();
    for definition in catalogue()
        .iter()
        .filter(|definition| !definition.person_level)
    {
        let breakdown = if definition.disaggregations.contains(&Dimension::District) {
            Dimension::District
        } else {
            match definition.disaggregations.first() {
                Some(first) => *first,
                None => continue,
            }
        };
        for (when, as_of) in [("today", today), ("past", past)] {
            for by in [vec![], vec![breakdown]] {
                let (p50, p99) = measure(definition.key, as_of, &by)?;
                let label = match by.first() {
                    Some(dimension) => format!("{} by {dimension}, {when}", definition.key),
                    None => format!("{}, {when}", definition.key),
                };
                rows.push((label, p50, p99));
            }
        }
    }
    // The baseline is a row of the table itself: measuring it apart first would leave its
    // results cached for the table's samples.
    let baseline = rows
        .iter()
        .find(|(label, _, _)| label == "population_present, today")
        .map_or(f64::MIN_POSITIVE, |(_, p50, _)| {
            ms(*p50).max(f64::MIN_POSITIVE)
        });
    rows.sort_by_key(|row| std::cmp::Reverse(row.2));
    println!(
        "per indicator ({PER_INDICATOR_SAMPLES} samples each; x = p50 / population_present's p50 of {baseline:.2} ms):"
    );
    for (label, p50, p99) in rows {
        figure(
            &format!("  {label}"),
            format!(
                "{:>10.2} ms p50 {:>8.2} ms p99 {:>7.1}x",
                ms(p50),
                ms(p99),
                ms(p50) / baseline
            ),
        );
    }
    Ok(())
}

/// What the journals are made of, counted by structure: the facts' own bytes (each journal's
/// `Vec` at its length) and the room left at the end of each `Vec`, the person map, the interner's
/// tables, and the distinct events and actors, measured as the live bytes of one deep copy of them;
/// the registers, offers and volunteers the state holds beside the journals, likewise.
#[derive(Debug)]
struct JournalParts {
    facts: u64,
    fact_bytes: u64,
    slack_bytes: u64,
    person_map_bytes: u64,
    table_bytes: u64,
    distinct_events: u64,
    distinct_actors: u64,
    event_bytes: u64,
    actor_bytes: u64,
    beside_bytes: u64,
}

impl JournalParts {
    fn of(state: &State) -> Self {
        let fact_size = std::mem::size_of::<Fact<EventSymbol, ActorSymbol>>() as u64;
        let facts = state.fact_count();
        let capacity: u64 = state
            .journals
            .values()
            .map(|journal| journal.facts.capacity() as u64)
            .sum();
        let (distinct_events, distinct_actors) = state.store.len();
        let event_bytes =
            memory::live_bytes_of(|| Box::new(state.store.events().cloned().collect::<Vec<_>>()));
        let actor_bytes =
            memory::live_bytes_of(|| Box::new(state.store.actors().cloned().collect::<Vec<_>>()));
        // The person map's nodes: the same keys inserted in the order the catch-up inserted them
        // (each person at its first fact; erased persons, whose facts are gone, last) give the same
        // tree, here with empty journals, which allocate nothing of their own.
        let mut order: Vec<_> = state
            .journals
            .iter()
            .map(|(person, journal)| {
                let first = journal
                    .facts
                    .first()
                    .map_or(u64::MAX, |fact| fact.position.raw());
                (first, *person)
            })
            .collect();
        order.sort_unstable();
        let person_map_bytes = memory::live_bytes_of(|| {
            let mut map = journey_projections::journal::Journals::<EventSymbol, ActorSymbol>::new();
            for (_, person) in &order {
                map.insert(*person, Default::default());
            }
            Box::new(map)
        });
        let beside_bytes = memory::live_bytes_of(|| {
            Box::new((
                (*state.registers).clone(),
                (*state.offers).clone(),
                (*state.volunteers).clone(),
            ))
        });
        Self {
            facts,
            fact_bytes: facts * fact_size,
            slack_bytes: capacity.saturating_sub(facts) * fact_size,
            person_map_bytes,
            table_bytes: state.store.table_bytes(),
            distinct_events: distinct_events as u64,
            distinct_actors: distinct_actors as u64,
            event_bytes,
            actor_bytes,
            beside_bytes,
        }
    }

    /// Every part above, in bytes.
    fn total(&self) -> u64 {
        self.fact_bytes
            + self.slack_bytes
            + self.person_map_bytes
            + self.table_bytes
            + self.event_bytes
            + self.actor_bytes
            + self.beside_bytes
    }
}

/// What the live views, their index and the KPI columns are made of: the views' inline records
/// (`size_of::<PersonView>()` each), their lists' heap and their strings (counted from the views'
/// capacities, [`PersonView::heap_bytes_by_list`]), the households and the columns (each measured
/// as the live bytes of one deep copy), and each column family (counted from capacities). What is
/// left of the measured total is the person index, the latest `recorded_at` of each view and the
/// first query's cached result.
#[derive(Debug)]
struct ViewParts {
    views: u64,
    inline: u64,
    lists: Vec<(&'static str, u64)>,
    households: u64,
    columns: u64,
    families: Vec<(&'static str, usize)>,
}

impl ViewParts {
    fn of(set: &ViewSet) -> Self {
        let views = memory::live_bytes_of(|| Box::new(set.views.clone()));
        let households = memory::live_bytes_of(|| Box::new(set.households.clone()));
        let columns = memory::live_bytes_of(|| Box::new(set.columns().clone()));
        let mut lists: Vec<(&'static str, u64)> = Vec::new();
        for view in &set.views {
            for (at, (name, bytes)) in view.heap_bytes_by_list().into_iter().enumerate() {
                match lists.get_mut(at) {
                    Some(sum) => sum.1 += bytes as u64,
                    None => lists.push((name, bytes as u64)),
                }
            }
        }
        Self {
            views,
            inline: (set.views.len() * std::mem::size_of::<PersonView>()) as u64,
            lists,
            households,
            columns,
            families: set.columns().heap_bytes_by_family(),
        }
    }

    fn print(&self, persons: u64, total: u64) {
        let per_person = |bytes: u64| bytes as f64 / persons as f64;
        let counted: u64 = self.lists.iter().map(|(_, bytes)| bytes).sum();
        let strings = self
            .lists
            .iter()
            .find(|(name, _)| *name == "strings")
            .map_or(0, |(_, bytes)| *bytes);
        figure(
            "  of which the views (a deep copy)",
            format!("{:>10.0} bytes/person", per_person(self.views)),
        );
        figure(
            "    inline records (PersonView)",
            format!(
                "{:>10.0} bytes/person  ({} bytes each)",
                per_person(self.inline),
                std::mem::size_of::<PersonView>()
            ),
        );
        figure(
            "    their lists' heap, counted",
            format!("{:>10.0} bytes/person", per_person(counted - strings)),
        );
        figure(
            "    their strings, counted",
            format!("{:>10.0} bytes/person", per_person(strings)),
        );
        figure(
            "    allocator rounding and what is not counted",
            format!(
                "{:>10.0} bytes/person",
                per_person(self.views.saturating_sub(self.inline + counted))
            ),
        );
        let mut largest: Vec<_> = self
            .lists
            .iter()
            .filter(|(name, _)| *name != "strings")
            .collect();
        largest.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
        let largest: Vec<String> = largest
            .iter()
            .take(8)
            .map(|(name, bytes)| format!("{name} {:.0}", per_person(*bytes)))
            .collect();
        println!("      largest lists (bytes/person): {}", largest.join(", "));
        figure(
            "  of which the households (a deep copy)",
            format!("{:>10.0} bytes/person", per_person(self.households)),
        );
        figure(
            "  of which the KPI columns (a deep copy)",
            format!("{:>10.0} bytes/person", per_person(self.columns)),
        );
        let families: Vec<String> = self
            .families
            .iter()
            .map(|(name, bytes)| format!("{name} {:.0}", per_person(*bytes as u64)))
            .collect();
        println!("      by family (bytes/person): {}", families.join(", "));
        figure(
            "  the rest: person index, recorded_until, cached result",
            format!(
                "{:>10.0} bytes/person",
                per_person(total.saturating_sub(self.views + self.households + self.columns))
            ),
        );
    }
}

/// Memory by part: live heap bytes (what the projections hold) next to the growth of resident
/// memory after freed pages were given back; `held` is at open, after the catch-up, after the
/// first query and after the first past cut.
/// `held`: at the open, after the catch-up, after the first query (the live views; the kept
/// rows' build in the background may have begun, so their growth over the catch-up holds part of
/// it), once the kept rows were ready, and after the first past cut.
fn print_memory(persons: u64, parts: (&JournalParts, &ViewParts), held: [Held; 5]) {
    let (parts, view_parts) = parts;
    let [open, journals, live, kept, past] = held;
    if memory::live_bytes().is_none() {
        println!("  (live bytes unknown: this binary has no counting allocator)");
    }
    let per_person = |bytes: u64| bytes as f64 / persons as f64;
    // The journals are counted by part: the allocator's growth from the open to the end of the
    // catch-up also subtracts whatever the open held and the catch-up freed, and came out below
    // the parts in earlier runs (docs/bench.md, "The merged tree of session 10").
    let grown = journals.live.saturating_sub(open.live);
    figure(
        "memory: journals (the state), counted by part",
        format!(
            "{:>10.0} bytes/person  (the allocator's growth since the open: {:.0} live, {:.0} resident)",
            per_person(parts.total()),
            per_person(grown),
            per_person(journals.resident.saturating_sub(open.resident)),
        ),
    );
    let part = |label: &str, bytes: u64, detail: String| {
        figure(
            &format!("  of which {label}"),
            format!("{:>10.0} bytes/person  ({detail})", per_person(bytes)),
        );
    };
    part(
        "the facts",
        parts.fact_bytes,
        format!(
            "{} facts, {:.1} a person, {} bytes each",
            parts.facts,
            parts.facts as f64 / persons as f64,
            parts.fact_bytes / parts.facts.max(1),
        ),
    );
    part(
        "room left in the fact lists",
        parts.slack_bytes,
        "capacity beyond the length".to_owned(),
    );
    part(
        "the distinct events (deep)",
        parts.event_bytes,
        format!(
            "{} events, {:.0} bytes each",
            parts.distinct_events,
            parts.event_bytes as f64 / parts.distinct_events.max(1) as f64,
        ),
    );
    part(
        "the distinct actors (deep)",
        parts.actor_bytes,
        format!("{} actors", parts.distinct_actors),
    );
    part(
        "the interner's tables",
        parts.table_bytes,
        "slots, hash indexes".to_owned(),
    );
    part(
        "the person map",
        parts.person_map_bytes,
        "BTreeMap nodes with the journals' headers".to_owned(),
    );
    part(
        "registers, offers, volunteers",
        parts.beside_bytes,
        "beside the journals".to_owned(),
    );
    part(
        "the growth beyond the parts",
        grown.saturating_sub(parts.total()),
        "what else the catch-up left allocated".to_owned(),
    );
    figure(
        "memory: live views, their index and KPI columns",
        live.since(journals, persons),
    );
    view_parts.print(persons, live.live.saturating_sub(journals.live));
    figure("memory: one past cut (cached)", past.since(kept, persons));
    let total = parts.total() + live.live.saturating_sub(journals.live);
    figure(
        "memory of the projections (journals by part + views live)",
        format!(
            "{:>10.0} bytes/person  ({persons} persons, {:.0} MiB; target <= 2,048; the allocator's growth since the open: {})",
            per_person(total),
            total as f64 / (1024.0 * 1024.0),
            live.since(open, persons).trim_start(),
        ),
    );
}

/// The read-and-decode baselines' first runs (each runs again after the projections).
struct Baselines {
    cores: u64,
    single_first: Duration,
    parallel_first: Duration,
}

/// `--rates-only`: the catch-up of the running projections (without snapshot) and the rebuild in
/// line, next to the read-and-decode baselines.
async fn measure_rates(
    ledger: &Arc<Ledger>,
    args: &ProjectionsBenchArgs,
    events: u64,
    baselines: Baselines,
) -> Result<(), CliError> {
    let scratch = scratch_in(&args.scratch_dir)?;
    let started = Instant::now();
    let projections = Projections::start(
        ledger.clone(),
        RunnerConfig::new(scratch.path().join("projections")),
    )
    .await?;
    projections.caught_up().await?;
    let catch_up = started.elapsed();
    projections.shutdown().await?;
    drop(projections);
    let (rebuilt, in_line) = rebuild_in_line(ledger).await?;
    let rates = [
        (
            "catch-up of the running projections (no snapshot)",
            rate(events, catch_up),
        ),
        (
            "rebuild in line (State::apply on one core, then views)",
            rate(rebuilt, in_line),
        ),
    ];
    print_rates(ledger, events, baselines, &rates).await?;
    drop(scratch);
    Ok(())
}

/// Runs the baselines a second time, then prints them (the faster run of each counts) and each of
/// `rates` as a share of them.
async fn print_rates(
    ledger: &Arc<Ledger>,
    events: u64,
    baselines: Baselines,
    rates: &[(&str, f64)],
) -> Result<(), CliError> {
    let cores = baselines.cores;
    let (_, single_second) = read_and_decode(ledger, 1).await?;
    let (_, parallel_second) = read_and_decode(ledger, cores).await?;
    let single = rate(events, baselines.single_first.min(single_second));
    let parallel = rate(events, baselines.parallel_first.min(parallel_second));
    figure(
        "read and decode the log, one core (baseline)",
        format!("{single:>10.0} events/s"),
    );
    figure(
        &format!("read and decode the log, {cores} cores (baseline)"),
        format!("{parallel:>10.0} events/s"),
    );
    for (label, measured) in rates {
        figure(
            label,
            format!(
                "{measured:>10.0} events/s  {:>5.1}% of {cores} cores, {:>5.1}% of one (target >= 80% of {cores} cores)",
                100.0 * measured / parallel,
                100.0 * measured / single
            ),
        );
    }
    Ok(())
}
