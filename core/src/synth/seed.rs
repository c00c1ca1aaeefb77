//! Writing a synthetic population through the ledger's write path.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::offers::NeedTally;
use super::volunteers::VolunteerTally;
use super::{households, SynthConfig, SynthEvent};
use crate::envelope::{Actor, ActorRole, PersonId};
use crate::ledger::{Ledger, LedgerError, Proposed};
use crate::log::{ExpectedRevision, APPEND_EVENTS_MAX};

/// Persons appended concurrently (their appends share the log's group commits). Several groups'
/// worth: while one group is flushed, the ledger already checks and seals the persons of the
/// next ones, so the cores stay busy during the flush instead of waiting for it (with 64, every
/// person in flight sat in the one group being flushed).
const PERSONS_IN_FLIGHT_MAX: usize = 256;

/// What a seeding run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    pub persons: usize,
    pub written: usize,
    /// Events already recorded by an earlier run with the same seed.
    pub already: usize,
    /// Offers (`offer-<uuid>` streams) written or found.
    pub offers: usize,
    /// Volunteers (`volunteer-<uuid>` streams) written or found.
    pub volunteers: usize,
}

/// One person's events with their transaction times.
type Journey = Vec<(Proposed, DateTime<Utc>)>;

/// Appends the population of `config` through [`Ledger::append_historical`], each person's journey in
/// one append, many persons at a time. Transaction times are capped at the ledger's now: the generator
/// places the last day's entries at times of day that may still lie ahead, and a ledger never records
/// the future. `progress` is called with the number of persons written so far. Running it again with
/// the same config writes nothing new (event ids are deterministic).
pub async fn seed(
    ledger: &Arc<Ledger>,
    config: &SynthConfig,
    progress: impl Fn(usize),
) -> Result<Seeded, LedgerError> {
    let mut needs = NeedTally::default();
    let mut volunteers = VolunteerTally::default();
    let mut seeded = write_persons(ledger, config, progress, |event| {
        needs.observe(event);
        volunteers.observe(event);
    })
    .await?;
    // The offers, once the persons are in: organisational capacity, no person's data.
    let planner = Actor {
        id: "synth-planner".into(),
        agency: Some(crate::catalogue::Agency::Kommune),
        role: ActorRole::Coordinator,
    };
    for (offer, proposal) in needs.offers(config) {
        let receipt = ledger
            .append_offer_events(offer, vec![proposal], &planner)
            .await?;
        seeded.offers += 1;
        seeded.written += usize::from(receipt.first_position.is_some());
        seeded.already += receipt.already_recorded;
    }
    // The volunteer register, once the mentorings it links are in the log.
    let coordinator = Actor {
        id: "synth-coordinator".into(),
        agency: Some(crate::catalogue::Agency::Ehrenamt),
        role: ActorRole::Coordinator,
    };
    for (volunteer, proposals) in volunteers.register(config) {
        let count = proposals.len();
        let receipt = ledger
            .append_volunteer_events(volunteer, proposals, &coordinator)
            .await?;
        seeded.volunteers += 1;
        seeded.already += receipt.already_recorded;
        seeded.written += count - receipt.already_recorded;
    }
    Ok(seeded)
}

/// The persons' journeys of `config` only, as [`seed`] writes them, without the offers and
/// volunteers that follow from them (a store seeded with another config holds those already: their
/// ids come from their names).
pub async fn seed_persons(
    ledger: &Arc<Ledger>,
    config: &SynthConfig,
    progress: impl Fn(usize),
) -> Result<Seeded, LedgerError> {
    write_persons(ledger, config, progress, |_| {}).await
}

/// Appends every person's journey of `config`, each in one append (or in appends of at most
/// `APPEND_EVENTS_MAX` events), many persons at a time; `observe` sees every event first.
async fn write_persons(
    ledger: &Arc<Ledger>,
    config: &SynthConfig,
    progress: impl Fn(usize),
    mut observe: impl FnMut(&SynthEvent),
) -> Result<Seeded, LedgerError> {
    let now = ledger.clock().now();
    let mut seeded = Seeded::default();
    let mut tasks: JoinSet<Result<(usize, usize), LedgerError>> = JoinSet::new();
    for household in households(config) {
        household.iter().for_each(&mut observe);
        for (person, events) in by_person(household, now) {
            while tasks.len() >= PERSONS_IN_FLIGHT_MAX {
                collect(&mut tasks, &mut seeded).await?;
                progress(seeded.persons);
            }
            let ledger = ledger.clone();
            tasks.spawn(async move {
                let (mut written, mut already) = (0, 0);
                let mut rest = events;
                while !rest.is_empty() {
                    // The journey is moved into the appends, not copied: at most
                    // `APPEND_EVENTS_MAX` events each.
                    let tail = rest.split_off(rest.len().min(APPEND_EVENTS_MAX));
                    let part = std::mem::replace(&mut rest, tail);
                    let receipt = ledger
                        .append_historical(person, ExpectedRevision::Any, part)
                        .await?;
                    already += receipt.already_recorded;
                    written += receipt.written;
                }
                Ok((written, already))
            });
        }
    }
    while !tasks.is_empty() {
        collect(&mut tasks, &mut seeded).await?;
        progress(seeded.persons);
    }
    Ok(seeded)
}

async fn collect(
    tasks: &mut JoinSet<Result<(usize, usize), LedgerError>>,
    seeded: &mut Seeded,
) -> Result<(), LedgerError> {
    if let Some(result) = tasks.join_next().await {
        let (written, already) = match result {
            Ok(outcome) => outcome?,
            // A panic in a seeding task is a bug; pass it on rather than hide it.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => return Err(LedgerError::Log(crate::log::LogError::Closed)),
        };
        seeded.persons += 1;
        seeded.written += written;
        seeded.already += already;
    }
    Ok(())
}

/// Splits a household's events into each person's events, keeping their order.
fn by_person(events: Vec<SynthEvent>, now: DateTime<Utc>) -> Vec<(PersonId, Journey)> {
    let mut persons: Vec<(PersonId, Journey)> = Vec::new();
    for event in events {
        let recorded_at = event.recorded_at.min(now);
        let person = event.person;
        let proposed = event.proposed();
        match persons.iter_mut().find(|(known, _)| *known == person) {
            Some((_, journey)) => journey.push((proposed, recorded_at)),
            None => persons.push((person, vec![(proposed, recorded_at)])),
        }
    }
    persons
}
