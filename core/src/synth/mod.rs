//! A synthetic population of refugees' integration journeys in Salzgitter, for demos, load tests
//! and calibrating the indicators (DOMAIN.md section 7).
//!
//! [`generate`] returns every event of a population in recording order; [`households`] yields the
//! same events one household at a time, for callers that append as they go and should not hold
//! millions of events in memory. Both are deterministic: a [`SynthConfig`] always gives
//! byte-identical output, because every household draws from its own RNG seeded from the config's
//! seed and the household's number.
//!
//! What a journey holds: registration and arrival (a district of Salzgitter), the asylum procedure
//! and its decision or temporary protection under §24, residence statuses and obligations,
//! AsylbLG then SGB II (ended for the household while an adult's job covers its needs), the
//! integration course (entitlement, registration, waiting, literacy or general course, leaving
//! early and re-entering, DTZ and orientation tests, job-related courses), recognition of
//! qualifications, trainings, jobs (the first one timed by the published employment curve),
//! marginal jobs, measures and cooperation plans, Kita and school for children, mentoring,
//! checklist items, counselling contacts and referrals, address changes, moves away and returns,
//! consents, and the caseworkers' mistakes with their corrections and retractions.
//!
//! Invariant: every person's events, in output order, are accepted by [`crate::rules::decide`]
//! with the clock at `end`; no event occurs or is recorded after `end`.
//!
//! ```
//! use chrono::NaiveDate;
//! use journey_core::synth::{generate, SynthConfig};
//!
//! let config = SynthConfig {
//!     people: 20,
//!     seed: 7,
//!     start: NaiveDate::from_ymd_opt(2015, 1, 1).unwrap(),
//!     end: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
//! };
//! let events = generate(&config);
//! assert!(events.windows(2).all(|pair| pair[0].recorded_at <= pair[1].recorded_at));
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::catalogue::Event;
use crate::envelope::{Actor, PersonId};

mod calibration;
mod household;
mod offers;
mod plan;
mod population;
mod random;
mod record;
mod seed;
mod volunteers;

pub use seed::{seed, seed_persons, Seeded};

use calibration::EntryCurves;

/// What population to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of persons, children included.
    pub people: usize,
    pub seed: u64,
    /// The first arrivals.
    pub start: NaiveDate,
    /// The "today" of the population: nothing occurs or is recorded after it.
    pub end: NaiveDate,
}

impl SynthConfig {
    /// A population of `people` persons arriving from 2015-01-01 up to `end`.
    pub fn new(people: usize, seed: u64, end: NaiveDate) -> Self {
        Self {
            people,
            seed,
            start: default_start(),
            end,
        }
    }
}

impl Default for SynthConfig {
    /// A thousand persons arriving from 2015 to the end of 2024.
    fn default() -> Self {
        Self {
            people: 1_000,
            seed: 0,
            start: default_start(),
            end: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or(NaiveDate::MAX),
        }
    }
}

/// The first arrivals of the default population: the start of the 2015 intake.
fn default_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// One generated event with its envelope fields, ready to be appended to the person's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthEvent {
    pub person: PersonId,
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    /// Simulated transaction time: usually the day of `occurred_on` or a few days later, sometimes
    /// weeks later (a late entry); never after `end`.
    pub recorded_at: DateTime<Utc>,
    /// The caseworker who recorded the event, for example `cw-jc-07` of the Jobcenter.
    pub actor: Actor,
    pub event: Event,
}

impl SynthEvent {
    /// The event as proposed to the ledger by its caseworker (no correlation or causation ids).
    pub fn proposed(self) -> crate::ledger::Proposed {
        crate::ledger::Proposed {
            id: self.id,
            occurred_on: self.occurred_on,
            event: self.event,
            actor: self.actor,
            correlation_id: None,
            causation_id: None,
        }
    }
}

/// Every event of the population, sorted by (`recorded_at`, `person`, order within the person),
/// so that appending in this order satisfies each stream's order.
///
/// # Panics
///
/// When `config.end` is before `config.start`.
pub fn generate(config: &SynthConfig) -> Vec<SynthEvent> {
    let mut events = Vec::new();
    for batch in households(config) {
        events.extend(batch);
    }
    // Each batch is sorted by (recorded_at, person) with every person's events in recording
    // order, and a person lives in one batch only; a stable sort by the same key therefore keeps
    // each person's order. Sorting in place needs less memory than merging into a second vector.
    events.sort_by_cached_key(|event| (event.recorded_at, event.person));
    events
}

/// The events of the population one household at a time, each batch sorted like [`generate`]'s
/// output. Appending batch after batch satisfies every stream's order, because a person belongs to
/// exactly one household; only the global order differs from [`generate`].
///
/// # Panics
///
/// When `config.end` is before `config.start`.
pub fn households(config: &SynthConfig) -> Households {
    assert!(
        config.start <= config.end,
        "the population's start ({}) must not be after its end ({})",
        config.start,
        config.end
    );
    Households {
        config: config.clone(),
        curves: EntryCurves::new(),
        next_index: 0,
        persons_left: config.people,
    }
}

/// The iterator of [`households`].
#[derive(Debug)]
pub struct Households {
    config: SynthConfig,
    curves: EntryCurves,
    next_index: u64,
    persons_left: usize,
}

impl Iterator for Households {
    type Item = Vec<SynthEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.persons_left == 0 {
            return None;
        }
        let (events, persons) = household::household_events(
            &self.config,
            &self.curves,
            self.next_index,
            self.persons_left,
        );
        self.next_index += 1;
        self.persons_left = self.persons_left.saturating_sub(persons.max(1));
        Some(events)
    }
}
