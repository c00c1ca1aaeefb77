//! The indicators read off running sums over days (`kpi::steps`: `population_present`,
//! `employment_rate`, `kita_rate`) answer as a pass over every person does: for random
//! populations, every breakdown each allows, with and without disclosure control, at reporting
//! dates before any arrival, on the day of a recorded event, at random, and after everything;
//! on one thread and on several. The live views' steps are built off the query path (a query
//! before they are served, or while they lag a batch, is answered by the pass, equal), brought
//! to the batches applied while they were built, and then updated per batch (persons arriving,
//! histories rewritten, late entries and corrections), never dropped, answering as the pass.

mod support;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use journey_core::catalogue::{EmploymentKind, Sex};
use journey_core::log::Position;
use journey_core::registers::Registers;
use journey_projections::journal::{Inline, Journals};
use journey_projections::kpi::{
    compute_from_steps, compute_visiting_everyone, Dimension, KpiQuery, Suppression,
};
use journey_projections::view::{Households, PersonView};
use journey_projections::{State, ViewSet, LIVE};
use proptest::prelude::*;
use support::{at, breakdowns, date, reference_views, Person, NOW};

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

/// Whether steps answer `by` (the years since arrival or entry step on anniversaries: the pass).
fn stepped(by: &[Dimension]) -> bool {
    !by.iter().any(|dimension| {
        matches!(
            dimension,
            Dimension::YearsSinceArrival | Dimension::YearsSinceEntry
        )
    })
}

/// The live views' answer to `query` (asked at the live cut) and the pass's over the reference
/// views of `journals`.
fn live_and_pass(live: &ViewSet, journals: &Journals, query: &KpiQuery) -> (String, String) {
    let mut query = query.clone();
    query.known_at = LIVE;
    let views = reference_views(journals, LIVE);
    let households = Households::from_views(&views);
    let registers = Registers::default();
    let pass = json(compute_visiting_everyone(
        &query,
        &views,
        &households,
        &registers,
    ));
    let served = json(live.compute(&query, &registers, &Default::default(), &Default::default()));
    (served, pass)
}

/// The state of `journals` after the `batch`th batch (each batch its own checkpoint).
fn state(journals: &Journals, batch: u64) -> State<Inline> {
    State::from_journals(journals.clone(), Some(Position::from_raw(batch)), None)
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
                let stepped = json(compute_from_steps(&query, &views, &households, &registers, threads));
                prop_assert_eq!(&stepped, &scanned, "{} persons, {:?} on {}", views.len(), query.by, as_of);
            }
        }
    }

    /// Given live views whose queries found no steps (answered by the pass), when the steps are
    /// built from them while a batch is applied, then served (brought to that batch first), and
    /// further batches are applied, then every answer equals the pass's at each checkpoint, the
    /// steps answer from the moment they are served, and a batch updates them (never drops them).
    #[test]
    fn the_live_steps_built_off_the_query_path_follow_every_batch(
        people in 2usize..120,
        seed in 0u64..1_000_000,
        offsets in proptest::collection::vec(-400i64..4_400, 1..3),
        picks in proptest::collection::vec(0usize..100, 3),
        batches in proptest::collection::vec(
            (proptest::collection::vec(any::<prop::sample::Index>(), 1..6), 0usize..3),
            2..4,
        ),
    ) {
        let mut journals = support::population(people, seed);
        prop_assume!(!journals.is_empty());
        let mut live = ViewSet::for_state(&state(&journals, 0), LIVE);
        // One breakdown beside none for each indicator: at most the steps the live views keep.
        let mut asked: Vec<KpiQuery> = Vec::new();
        for (key, pick) in STEP_INDICATORS.iter().zip(&picks) {
            let definition = journey_projections::kpi::definition(key).expect("in the catalogue");
            let all = breakdowns(definition.disaggregations);
            for by in [vec![], all[pick % all.len()].clone()] {
                asked.push(support::query(key, "2020-06-30", &by));
            }
        }
        let dates = |journals: &Journals| -> Vec<NaiveDate> {
            let mut dates: Vec<NaiveDate> = offsets
                .iter()
                .map(|offset| date("2015-01-01") + chrono::Duration::days(*offset))
                .collect();
            dates.extend(event_days(&reference_views(journals, LIVE)).last());
            dates
        };
        // The steps cover the days up to the end of the year after the latest date of the views
        // they are built from; a later batch may bring later days, which the pass answers.
        let last_built = event_days(&reference_views(&journals, LIVE)).last().copied();
        let check = |live: &ViewSet, journals: &Journals, from_steps: bool| -> Result<(), TestCaseError> {
            for query in &asked {
                for as_of in dates(journals) {
                    let mut query = query.clone();
                    query.as_of = as_of;
                    query.known_at = LIVE;
                    let (served, pass) = live_and_pass(live, journals, &query);
                    prop_assert_eq!(&served, &pass, "{} {:?} on {}", query.key, query.by, as_of);
                }
                // On the last event day of the views the steps are built from, every person's
                // span covers it and so do the steps: they answer there.
                if let Some(last) = last_built {
                    let mut query = query.clone();
                    query.as_of = last;
                    query.known_at = LIVE;
                    prop_assert_eq!(
                        live.answers_from_steps(&query),
                        from_steps && stepped(&query.by),
                        "{} {:?}", query.key, query.by
                    );
                }
            }
            Ok(())
        };
        // Asked before any steps: the pass answers, and the questions are queued.
        check(&live, &journals, false)?;
        prop_assert!(live.wants_steps());
        // Built from the views as they are, off the query path.
        let built_from = live.clone();
        let mut built = Vec::new();
        while let Some(steps) = built_from.build_wanted_steps() {
            built.push(steps);
        }
        let other: Vec<_> = support::population(people, seed ^ 0x5eed).into_values().collect();
        let mut batch_number = 0;
        let mut apply = |journals: &mut Journals, live: &mut ViewSet, (rebuilt, newcomers): &(Vec<prop::sample::Index>, usize)| {
            batch_number += 1;
            let persons: Vec<_> = journals.keys().copied().collect();
            let mut dirty = BTreeSet::new();
            for index in rebuilt {
                let at = index.index(persons.len());
                if let Some(journal) = other.get(at % other.len().max(1)) {
                    journals.insert(persons[at], journal.clone());
                    dirty.insert(persons[at]);
                }
            }
            for (person, journal) in support::population(*newcomers, seed ^ 0xa221 ^ batch_number) {
                if let std::collections::btree_map::Entry::Vacant(entry) = journals.entry(person) {
                    entry.insert(journal);
                    dirty.insert(person);
                }
            }
            live.refresh(&state(journals, batch_number), &dirty);
        };
        // A batch applied while they were built: not served yet, the pass answers.
        apply(&mut journals, &mut live, &batches[0]);
        check(&live, &journals, false)?;
        for steps in built {
            prop_assert!(live.install_steps(steps, &built_from).is_ok(), "at the live views' checkpoint");
        }
        check(&live, &journals, true)?;
        for batch in &batches[1..] {
            apply(&mut journals, &mut live, batch);
            check(&live, &journals, true)?;
        }
    }
}

/// Given the live views' steps of `population_present` and `employment_rate` by district, when a
/// batch brings a late entry (a job from years ago recorded now), a correction (an arrival's
/// district), a move away and a new person, then the steps, updated for those four, answer as the
/// pass on the days around each change.
#[test]
fn late_entries_and_corrections_update_the_steps_of_the_persons_they_touch() {
    let mut settled = Person::arrived(1, 1990, "2016-03-01", "north");
    settled.on(
        "2018-01-01",
        support::job("j1", EmploymentKind::SocialInsuranceFull),
    );
    // The steps cover the days up to the end of the year after the latest date when they are
    // built: this one's job ends in 2024, so they cover the batch's dates.
    settled.on("2024-09-30", support::job_ended("j1"));
    let mut corrected = Person::registered(2, 1985, Sex::Male, "AFG");
    let corrected_arrival = corrected.on("2017-05-10", support::arrival("south"));
    let mut leaving = Person::arrived(3, 2018, "2019-02-01", "north");
    leaving.on("2020-08-01", support::kita_started());
    let persons = vec![settled, corrected, leaving];
    let mut journals = support::journals(&persons);
    let mut live = ViewSet::for_state(&state(&journals, 1), LIVE);
    let asked: Vec<KpiQuery> = ["population_present", "employment_rate", "kita_rate"]
        .iter()
        .map(|key| {
            let mut query = support::query(key, "2021-01-01", &[Dimension::District]);
            query.known_at = LIVE;
            query
        })
        .collect();
    for query in &asked {
        let (served, pass) = live_and_pass(&live, &journals, query);
        assert_eq!(served, pass, "the pass while no steps exist");
    }
    let built_from = live.clone();
    while let Some(steps) = built_from.build_wanted_steps() {
        live.install_steps(steps, &built_from)
            .expect("at the checkpoint");
    }
    assert!(asked.iter().all(|query| live.answers_from_steps(query)));

    let mut persons = persons;
    persons[0].on_recorded(
        "2016-06-01",
        "2024-02-01",
        support::job("j0", EmploymentKind::SocialInsuranceFull),
    );
    persons[1].correct(
        "2024-02-01",
        corrected_arrival,
        "2017-05-10",
        support::arrival("north"),
    );
    persons[2].on_recorded("2022-03-01", "2024-02-01", support::moved_away());
    let newcomer = Person::arrived(4, 2000, "2023-11-11", "south");
    persons.push(newcomer);
    journals = support::journals(&persons);
    let dirty: BTreeSet<_> = persons.iter().map(|person| person.id).collect();
    live.refresh(&state(&journals, 2), &dirty);
    for query in &asked {
        for as_of in [
            "2016-05-31",
            "2016-06-01",
            "2017-05-10",
            "2018-01-01",
            "2020-08-01",
            "2022-02-28",
            "2022-03-01",
            "2023-11-11",
            "2024-09-30",
            "2025-06-30",
        ] {
            let mut query = query.clone();
            query.as_of = date(as_of);
            assert!(
                live.answers_from_steps(&query),
                "updated, not dropped: {} on {as_of}",
                query.key
            );
            let (served, pass) = live_and_pass(&live, &journals, &query);
            assert_eq!(served, pass, "{} on {as_of}", query.key);
        }
    }
}
