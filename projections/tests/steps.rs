//! The indicators read off running sums over days (`kpi::steps`: `population_present`,
//! `employment_rate`, `kita_rate`) answer as a pass over every person does: for random
//! populations, every breakdown each allows, with and without disclosure control, at reporting
//! dates before any arrival, on the day of a recorded event, at random, and after everything;
//! the steps of one cut built once and asked again at other dates; on one thread and on several.

mod support;

use chrono::NaiveDate;
use journey_core::registers::Registers;
use journey_projections::kpi::{compute_on, compute_visiting_everyone, KpiQuery, Suppression};
use journey_projections::view::{Households, PersonView};
use journey_projections::{State, ViewSet, LIVE};
use proptest::prelude::*;
use std::collections::BTreeSet;
use support::{at, breakdowns, date, reference_views, NOW};

const STEP_INDICATORS: [&str; 3] = ["population_present", "employment_rate", "kita_rate"];

/// Every step indicator by every breakdown it allows, with and without suppression, on `as_of`.
fn queries(as_of: NaiveDate) -> Vec<KpiQuery> {
    let mut queries = Vec::new();
    for key in STEP_INDICATORS {
        let definition = journey_projections::kpi::definition(key).expect("in the catalogue");
        for by in breakdowns(definition.disaggregations) {
            for suppression in [None, Some(Suppression { k: 3 })] {
                queries.push(KpiQuery {
                    key: key.to_owned(),
                    as_of,
                    known_at: at(NOW),
                    by: by.clone(),
                    suppression,
                });
            }
        }
    }
    queries
}

fn json<E: std::fmt::Display>(answer: Result<journey_projections::kpi::KpiResult, E>) -> String {
    answer
        .map(|result| serde_json::to_string(&result).expect("json"))
        .unwrap_or_else(|error| format!("error: {error}"))
}

/// The days a person's counts may step on: every arrival, move and job start of the views.
fn event_days(views: &[PersonView]) -> Vec<NaiveDate> {
    let mut days: Vec<NaiveDate> = views
        .iter()
        .flat_map(|view| {
            let arrival = view.stay.first_arrival;
            let latest = view.stay.latest.map(|stay| stay.start);
            let end = view.stay.latest.and_then(|stay| stay.end);
            [arrival, latest, end]
        })
        .flatten()
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_steps_answer_as_the_pass_over_every_person(
        people in 1usize..160,
        seed in 0u64..1_000_000,
        days in 0i64..3_650,
        pick in 0usize..1_000,
        threads in 1usize..4,
    ) {
        let journals = support::population(people, seed);
        let views = reference_views(&journals, at(NOW));
        let households = Households::from_views(&views);
        let registers = Registers::default();
        let events = event_days(&views);
        let mut dates = vec![
            date("2009-03-01"),
            date("2015-06-30") + chrono::Duration::days(days),
            date("2041-01-01"),
        ];
        if !events.is_empty() {
            let on = events[pick % events.len()];
            dates.extend([on, on.pred_opt().unwrap_or(on), on.succ_opt().unwrap_or(on)]);
            dates.push(*events.last().unwrap_or(&on));
        }
        for as_of in dates {
            for query in queries(as_of) {
                let scanned = json(compute_visiting_everyone(&query, &views, &households, &registers));
                let stepped = json(compute_on(&query, &views, &households, &registers, threads));
                prop_assert_eq!(&stepped, &scanned, "{} persons, {:?} on {}", views.len(), query.by, as_of);
            }
        }
    }

    /// The live cut's steps, built by the first query, answer later queries at other dates, and
    /// are built again after persons' views are rebuilt in place or persons arrive.
    #[test]
    fn the_steps_kept_with_the_live_cut_answer_every_date_asked_later_and_after_refreshes(
        people in 2usize..100,
        seed in 0u64..1_000_000,
        offsets in proptest::collection::vec(-400i64..4_400, 1..4),
        rebuilt in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
        newcomers in 0usize..3,
    ) {
        let mut journals = support::population(people, seed);
        prop_assume!(!journals.is_empty());
        let mut state = State::from_journals(journals.clone(), None, None);
        let mut live = ViewSet::for_state(&state, LIVE);
        let registers = Registers::default();
        let check = |live: &ViewSet, state: &State<_>| -> Result<(), TestCaseError> {
            let views = reference_views(&state.journals, LIVE);
            let households = Households::from_views(&views);
            for offset in &offsets {
                let as_of = date("2015-01-01") + chrono::Duration::days(*offset);
                for mut query in queries(as_of) {
                    query.known_at = LIVE;
                    let scanned =
                        json(compute_visiting_everyone(&query, &views, &households, &registers));
                    let kept = json(live.compute(
                        &query,
                        &registers,
                        &Default::default(),
                        &Default::default(),
                    ));
                    prop_assert_eq!(&kept, &scanned, "{:?} on {}", query.by, as_of);
                }
            }
            Ok(())
        };
        check(&live, &state)?;
        // Some persons' histories replaced by another population's (their views rebuilt in
        // place), and a few persons arriving.
        let other: Vec<_> = support::population(people, seed ^ 0x5eed).into_values().collect();
        let persons: Vec<_> = journals.keys().copied().collect();
        let mut dirty = BTreeSet::new();
        for index in rebuilt {
            let at = index.index(persons.len());
            if let Some(journal) = other.get(at % other.len().max(1)) {
                journals.insert(persons[at], journal.clone());
                dirty.insert(persons[at]);
            }
        }
        prop_assert!(!persons.is_empty() && !dirty.is_empty(), "some views are rebuilt");
        for (person, journal) in support::population(newcomers, seed ^ 0xa221) {
            if let std::collections::btree_map::Entry::Vacant(entry) = journals.entry(person) {
                entry.insert(journal);
                dirty.insert(person);
            }
        }
        state = State::from_journals(journals.clone(), None, None);
        live.refresh(&state, &dirty);
        check(&live, &state)?;
    }
}
