//! `journey bench projections`: how fast the projections rebuild compared with merely reading and
//! decoding the log, how long indicator queries take, and how much memory the projections hold.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use journey_core::ledger::Ledger;
use journey_core::log::{AllFrom, Direction, EventLog};
use journey_core::synth::{self, SynthConfig};
use journey_projections::kpi::{Dimension, Suppression};
use journey_projections::{KpiRequest, Projections, RunnerConfig, State, ViewSet};

use super::bench::{open_ledger, scratch_in, ProjectionsBenchArgs};
use crate::context::CliError;

const PAGE_EVENTS: usize = 4096;

/// Resident memory of this process in bytes (Linux), 0 where unknown.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .nth(1)
                .and_then(|pages| pages.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Reads and decodes the whole log; returns the number of events and the time taken.
async fn read_and_decode(ledger: &Ledger) -> Result<(u64, Duration), CliError> {
    let started = Instant::now();
    let mut from = AllFrom::Start;
    let mut events = 0u64;
    loop {
        let page = ledger
            .log()
            .read_all(from, Direction::Forwards, PAGE_EVENTS)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        from = AllFrom::Excluding(last.position);
        for recorded in page {
            events += 1;
            std::hint::black_box(ledger.decode(recorded)?);
        }
    }
    Ok((events, started.elapsed()))
}

/// Rebuilds every projection from position 0: the journals, then every person's view.
async fn rebuild(ledger: &Ledger) -> Result<(u64, Duration, State), CliError> {
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
    Ok((events, started.elapsed(), state))
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub async fn run(args: ProjectionsBenchArgs) -> Result<ExitCode, CliError> {
    println!(
        "journey bench projections: {} persons, seed {}",
        args.people, args.seed
    );
    let dir = scratch_in(&args.scratch_dir)?;
    let (store, log, ledger) = open_ledger(dir.path())?;
    let today = Utc::now().date_naive();
    let config = SynthConfig::new(args.people, args.seed, today);
    let started = Instant::now();
    let seeded = synth::seed(&ledger, &config, |_| {}).await?;
    let seeding = started.elapsed();
    println!(
        "seeded {} events for {} persons in {:.1} s ({:.0} events/s through the ledger)",
        seeded.written,
        seeded.persons,
        seeding.as_secs_f64(),
        rate(seeded.written as u64, seeding)
    );

    let events = seeded.written as u64;
    let resident_before = resident_bytes();
    let runner_dir = dir.path().join("projections");
    let started = Instant::now();
    let projections = Projections::start(ledger.clone(), RunnerConfig::new(runner_dir)).await?;
    projections.caught_up().await?;
    let catch_up = started.elapsed();
    let first_query = Instant::now();
    let request = |key: &str, as_of: NaiveDate, by: Vec<Dimension>| KpiRequest {
        key: key.to_owned(),
        as_of,
        known_at: None,
        by,
        suppression: Some(Suppression { k: 3 }),
    };
    projections.kpi(request("employment_rate", today, vec![]))?;
    let first_query = first_query.elapsed();
    let resident_after = resident_bytes();
    println!(
        "{:<58} {:>10.0} events/s  ({:.1} s, live subscription from position 0)",
        "catch-up of the running projections",
        rate(events, catch_up),
        catch_up.as_secs_f64()
    );
    println!(
        "{:<58} {:>10.1} ms  (builds the live views once)",
        "first indicator query after start",
        first_query.as_secs_f64() * 1000.0
    );

    // Each timing below computes: the result cache is keyed by the query, so distinct reporting
    // dates keep it from answering. Cached answers are timed separately.
    let past = NaiveDate::from_ymd_opt(2020, 12, 31).unwrap_or(today);
    let mut timings: Vec<(String, Duration)> = Vec::new();
    for (label, key, as_of, by) in [
        (
            "kpi employment_rate, today",
            "employment_rate",
            today,
            vec![],
        ),
        (
            "kpi employment_rate, as of 2020-12-31",
            "employment_rate",
            past,
            vec![],
        ),
        (
            "kpi employment_by_years_since_arrival by sex, today",
            "employment_by_years_since_arrival",
            today,
            vec![Dimension::Sex],
        ),
        (
            "kpi idle_days by district, today",
            "idle_days",
            today,
            vec![Dimension::District],
        ),
        (
            "kpi course_waiting_days, as of 2020-12-31",
            "course_waiting_days",
            past,
            vec![],
        ),
    ] {
        let mut samples = Vec::new();
        for offset in 0..5 {
            // A different day each time, so each sample computes.
            let day = as_of - chrono::Duration::days(offset);
            let begun = Instant::now();
            std::hint::black_box(projections.kpi(request(key, day, by.clone()))?);
            samples.push(begun.elapsed());
        }
        timings.push((label.to_owned(), median(samples)));
    }
    let mut cached = Vec::new();
    for _ in 0..100 {
        let begun = Instant::now();
        std::hint::black_box(projections.kpi(request("employment_rate", today, vec![]))?);
        cached.push(begun.elapsed());
    }
    timings.push((
        "kpi employment_rate, today, cached".to_owned(),
        median(cached),
    ));
    let known_at = Utc::now() - chrono::Duration::days(365);
    let begun = Instant::now();
    projections.kpi(KpiRequest {
        known_at: Some(known_at),
        ..request("employment_rate", past, vec![])
    })?;
    timings.push((
        "kpi employment_rate, as of 2020-12-31, known a year ago".to_owned(),
        begun.elapsed(),
    ));
    for (label, duration) in timings {
        println!(
            "{label:<58} {:>10.2} ms  (median)",
            duration.as_secs_f64() * 1000.0
        );
    }
    let persons = projections.read(|state| state.journals.len()).max(1);
    println!(
        "{:<58} {:>10.0} bytes/person  ({} persons, {:.0} MiB)",
        "resident memory of the projections",
        resident_after.saturating_sub(resident_before) as f64 / persons as f64,
        persons,
        resident_after.saturating_sub(resident_before) as f64 / (1024.0 * 1024.0)
    );
    projections.shutdown().await?;

    // Raw reading runs twice, before and after the rebuild, and the faster run is the baseline.
    let (_, raw_first) = read_and_decode(&ledger).await?;
    let (rebuilt_events, rebuild_time, state) = rebuild(&ledger).await?;
    drop(state);
    let (_, raw_second) = read_and_decode(&ledger).await?;
    let raw = raw_first.min(raw_second);
    let raw_rate = rate(events, raw);
    let rebuild_rate = rate(rebuilt_events, rebuild_time);
    println!(
        "{:<58} {:>10.0} events/s  (baseline: best of 2)",
        "read and decode the log", raw_rate
    );
    println!(
        "{:<58} {:>10.0} events/s  {:>5.1}% of baseline (target >= 50%)",
        "rebuild all projections (journals and person views)",
        rebuild_rate,
        100.0 * rebuild_rate / raw_rate
    );

    log.close().await?;
    store.flush()?;
    Ok(ExitCode::SUCCESS)
}
