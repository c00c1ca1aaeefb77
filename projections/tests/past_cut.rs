//! A past `known_at` is a filter, not a rebuild (issue 11, plan step 4): the views of a past cut
//! derived from the live views ([`ViewSet::past_cut`], what the running projections serve) equal
//! every person's view folded again from the journals at that cut (the definition), for random
//! populations with late entries, corrections, retractions and erasures, and random cuts (among
//! them cuts exactly at a fact's transaction time, where `<=` against `<` would show).

mod support;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use journey_core::catalogue::{Event, EventCorrected, EventRetracted, Replacement};
use journey_projections::journal::{Fact, Journal, Journals};
use journey_projections::view::PersonView;
use journey_projections::{State, ViewSet, LIVE};
use proptest::prelude::*;
use uuid::Uuid;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// What is done to one person after the population was generated.
#[derive(Debug, Clone)]
enum Amendment {
    /// Retracts the person's `target`-th fact (modulo their facts), the registration when 0.
    Retract { target: usize },
    /// Corrects the `target`-th fact to the same event `days` later in valid time.
    Correct { target: usize, days: i64 },
    /// Erases the person, as the runner does when it applies `PersonalDataErased`.
    Erase,
}

fn amendment() -> impl Strategy<Value = Amendment> {
    prop_oneof![
        (0usize..40).prop_map(|target| Amendment::Retract { target }),
        (0usize..40, -400i64..400).prop_map(|(target, days)| Amendment::Correct { target, days }),
        Just(Amendment::Erase),
    ]
}

/// Appends `amendment` to `journal`, recorded at `recorded_at` (which may lie before facts already
/// in the stream: nothing may rely on a stream's transaction times going only forward).
fn amend(journal: &mut Journal, amendment: &Amendment, recorded_at: DateTime<Utc>) {
    let Some(last) = journal.facts.last().cloned() else {
        return;
    };
    let fact = |event: Event| {
        Fact::new(
            journey_core::log::Position::from_raw(last.position.raw() + 1_000_000),
            u64::from(last.revision) + 1,
            Uuid::from_u128(u128::from(last.position.raw()) << 64 | 0xa11),
            recorded_at.date_naive(),
            recorded_at,
            last.actor.clone(),
            event,
        )
        .expect("a fact holds the test's revision and time")
    };
    match amendment {
        Amendment::Retract { target } => {
            let target = &journal.facts[target % journal.facts.len()];
            let retraction = EventRetracted {
                target_event_id: target.id,
                reason: "wrong person".to_owned(),
            };
            journal.facts.push(fact(Event::EventRetracted(retraction)));
        }
        Amendment::Correct { target, days } => {
            let target = &journal.facts[target % journal.facts.len()];
            let correction = EventCorrected {
                target_event_id: target.id,
                replacement: Replacement {
                    event_type: target.event.event_type().name().to_owned(),
                    occurred_on: target.occurred_on + Duration::days(*days),
                    data: target.event.to_data(),
                },
                reason: "typo".to_owned(),
            };
            journal.facts.push(fact(Event::EventCorrected(correction)));
        }
        Amendment::Erase => {
            *journal = Journal {
                facts: Vec::new(),
                erased: true,
            };
        }
    }
}

/// The definition: every person's view folded from their journal at the cut, in person order.
fn reference(journals: &Journals, known_at: DateTime<Utc>) -> Vec<PersonView> {
    journals
        .iter()
        .filter_map(|(person, journal)| PersonView::build(*person, journal, known_at))
        .collect()
}

/// A transaction time between 2014 and 2026, to the second.
fn instant(seconds: i64) -> DateTime<Utc> {
    date("2014-01-01")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        + Duration::seconds(seconds)
}

const SPAN_SECONDS: i64 = 12 * 366 * 24 * 3600;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_past_cut_filtered_from_the_live_views_equals_a_full_rebuild_of_that_cut(
        people in 5usize..60,
        seed in any::<u64>(),
        amendments in prop::collection::vec(
            (any::<prop::sample::Index>(), amendment(), 0..SPAN_SECONDS),
            0..12,
        ),
        free_cuts in prop::collection::vec(0..SPAN_SECONDS, 1..4),
        fact_cuts in prop::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), -1i64..=1),
            1..4,
        ),
    ) {
        let mut journals = support::population(people, seed);
        prop_assume!(!journals.is_empty());
        let persons: Vec<_> = journals.keys().copied().collect();
        for (who, amendment, seconds) in &amendments {
            let person = persons[who.index(persons.len())];
            if let Some(journal) = journals.get_mut(&person) {
                amend(journal, amendment, instant(*seconds));
            }
        }
        // Cuts anywhere, and cuts exactly at (and a second either side of) a recorded fact.
        let mut cuts: Vec<DateTime<Utc>> = free_cuts.iter().map(|seconds| instant(*seconds)).collect();
        for (who, which, offset) in &fact_cuts {
            let journal = &journals[&persons[who.index(persons.len())]];
            if !journal.facts.is_empty() {
                let fact = &journal.facts[which.index(journal.facts.len())];
                cuts.push(fact.recorded_at.time() + Duration::seconds(*offset));
            }
        }

        let state = State::from_journals(journals, None, None);
        let live = ViewSet::for_state(&state, LIVE);
        prop_assert_eq!(&live.views, &reference(&state.journals, LIVE));
        for cut in cuts {
            let past = ViewSet::past_cut(&state, &live, cut);
            let expected = reference(&state.journals, cut);
            prop_assert_eq!(past.known_at, cut);
            prop_assert!(past.views == expected, "the views at {} differ from a rebuild", cut);
            for view in &expected {
                prop_assert_eq!(past.view(view.person), Some(view));
            }
        }
    }
}
