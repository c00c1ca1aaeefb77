//! A past `known_at` is a filter, not a rebuild (issue 11, plan step 4): the views of a past cut
//! derived from the live views ([`ViewSet::past_cut`], what the running projections serve) equal
//! every person's view folded again from the journals at that cut (the definition), for random
//! populations with late entries, corrections, retractions and erasures, and random cuts (among
//! them cuts exactly at a fact's transaction time, where `<=` against `<` would show).

mod support;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use journey_core::catalogue::{
    Agency, EmploymentKind, Event, EventCorrected, EventRetracted, Exam, Level, Replacement,
};
use std::collections::BTreeSet;

use journey_core::envelope::PersonId;
use journey_core::registers::Registers;
use journey_projections::journal::{Fact, Inline, Journal, Journals};
use journey_projections::kpi::columns::RowFields;
use journey_projections::kpi::history::History;
use journey_projections::kpi::{catalogue, Columns, Fields, KpiQuery, Suppression};
use journey_projections::offers::Offers;
use journey_projections::view::PersonView;
use journey_projections::volunteers::Volunteers;
use journey_projections::{KeptCut, State, ViewSet, LIVE};
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

/// What the past-cut proptests draw: a population, amendments to it and cuts to ask.
#[derive(Debug, Clone)]
struct AmendedCase {
    people: usize,
    seed: u64,
    amendments: Vec<(prop::sample::Index, Amendment, i64)>,
    free_cuts: Vec<i64>,
    fact_cuts: Vec<(prop::sample::Index, prop::sample::Index, i64)>,
}

fn amended_case() -> impl Strategy<Value = AmendedCase> {
    (
        5usize..60,
        any::<u64>(),
        prop::collection::vec(
            (any::<prop::sample::Index>(), amendment(), 0..SPAN_SECONDS),
            0..12,
        ),
        prop::collection::vec(0..SPAN_SECONDS, 1..4),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                -1i64..=1,
            ),
            1..4,
        ),
    )
        .prop_map(
            |(people, seed, amendments, free_cuts, fact_cuts)| AmendedCase {
                people,
                seed,
                amendments,
                free_cuts,
                fact_cuts,
            },
        )
}

/// A random population of `people` persons with `amendments` applied, and the cuts to ask:
/// `free_cuts` anywhere, and `fact_cuts` exactly at (or a second either side of) a recorded fact.
/// `None` when the population holds nobody.
fn amended_population(case: &AmendedCase) -> Option<(State<Inline>, Vec<DateTime<Utc>>)> {
    amended_population_and_persons(case).map(|amended| (amended.state, amended.cuts))
}

/// What [`amended_population_and_persons`] makes.
struct Amended {
    state: State<Inline>,
    cuts: Vec<DateTime<Utc>>,
    /// The persons an amendment was applied to.
    persons: BTreeSet<PersonId>,
}

/// [`amended_population`], with the persons amended.
fn amended_population_and_persons(case: &AmendedCase) -> Option<Amended> {
    let AmendedCase {
        people,
        seed,
        amendments,
        free_cuts,
        fact_cuts,
    } = case;
    let mut journals = support::population(*people, *seed);
    if journals.is_empty() {
        return None;
    }
    let persons: Vec<_> = journals.keys().copied().collect();
    let mut amended = BTreeSet::new();
    for (who, amendment, seconds) in amendments {
        let person = persons[who.index(persons.len())];
        if let Some(journal) = journals.get_mut(&person) {
            amend(journal, amendment, instant(*seconds));
            amended.insert(person);
        }
    }
    let mut cuts: Vec<DateTime<Utc>> = free_cuts.iter().map(|seconds| instant(*seconds)).collect();
    for (who, which, offset) in fact_cuts {
        let journal = &journals[&persons[who.index(persons.len())]];
        if !journal.facts.is_empty() {
            let fact = &journal.facts[which.index(journal.facts.len())];
            cuts.push(fact.recorded_at.time() + Duration::seconds(*offset));
        }
    }
    Some(Amended {
        state: State::from_journals(journals, None, None),
        cuts,
        persons: amended,
    })
}

const SPAN_SECONDS: i64 = 12 * 366 * 24 * 3600;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_past_cut_filtered_from_the_live_views_equals_a_full_rebuild_of_that_cut(
        case in amended_case(),
    ) {
        let Some((state, cuts)) = amended_population(&case) else {
            return Err(TestCaseError::reject("no persons"));
        };
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

/// The columns of every view folded at `known_at`, row by row (the definition a filtered cut must
/// equal).
fn folded_rows<S: journey_projections::journal::Store>(
    state: &State<S>,
    known_at: DateTime<Utc>,
) -> Vec<RowFields> {
    let folded = ViewSet::folded(state, known_at);
    let columns = folded.columns();
    (0..columns.len())
        .map(|row| columns.row_fields(row))
        .collect()
}

fn rows_of(columns: &Columns) -> Vec<RowFields> {
    (0..columns.len())
        .map(|row| columns.row_fields(row))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_kept_rows_filtered_at_a_past_cut_equal_the_columns_of_the_fold_at_that_cut(
        case in amended_case(),
    ) {
        let Some((state, cuts)) = amended_population(&case) else {
            return Err(TestCaseError::reject("no persons"));
        };
        let history = History::of_journals(&state.store, &state.journals);
        for cut in cuts {
            let filtered = history.columns_at(&state.store, &state.journals, cut);
            prop_assert_eq!(filtered.filtered + filtered.folded, state.journals.len());
            prop_assert!(
                rows_of(&filtered.columns) == folded_rows(&state, cut),
                "the rows at {} differ from the fold's", cut
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The columns of a cut from the kept rows are gathered a field at a time from the kept
    /// rows and the persons folded at the cut: they equal the columns of the views folded at the
    /// cut as a whole, codes and layout included, not only row for row.
    #[test]
    fn the_kept_rows_gathered_equal_the_folded_columns_code_for_code(
        case in amended_case(),
        threads in 1usize..4,
    ) {
        let Some((state, cuts)) = amended_population(&case) else {
            return Err(TestCaseError::reject("no persons"));
        };
        let history = History::of_journals(&state.store, &state.journals);
        for cut in cuts {
            let gathered = history.columns_at_on(&state.store, &state.journals, cut, threads);
            let folded = ViewSet::folded(&state, cut);
            prop_assert!(
                &gathered.columns == folded.columns(),
                "the columns at {} differ from the fold's", cut
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The columns of a cut from the kept rows are built on every core, a share of the persons
    /// each, and joined in order: whatever the number of shares, they equal those built on one
    /// thread, row for row and code for code, and so the fold's.
    #[test]
    fn the_kept_rows_filtered_in_shares_equal_those_filtered_on_one_thread(
        case in amended_case(),
        threads in 2usize..7,
    ) {
        let Some((state, cuts)) = amended_population(&case) else {
            return Err(TestCaseError::reject("no persons"));
        };
        let history = History::of_journals(&state.store, &state.journals);
        for cut in cuts {
            let one = history.columns_at_on(&state.store, &state.journals, cut, 1);
            let shared = history.columns_at_on(&state.store, &state.journals, cut, threads);
            prop_assert_eq!((shared.filtered, shared.folded), (one.filtered, one.folded));
            prop_assert!(shared.columns == one.columns, "columns at {} in {} shares", cut, threads);
            prop_assert!(
                rows_of(&shared.columns) == folded_rows(&state, cut),
                "the rows at {} differ from the fold's", cut
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The history kept up to date: built before the amendments were applied and before some
    /// persons came (`arrivals` of them left out), then refreshed with the persons amended or
    /// come, filtered at a past cut equals the fold at that cut.
    #[test]
    fn kept_rows_refreshed_after_amendments_and_arrivals_equal_the_fold_at_a_past_cut(
        case in amended_case(),
        arrivals in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        refreshes in 1usize..3,
    ) {
        let Some(Amended { state: after, cuts, persons: amended }) =
            amended_population_and_persons(&case)
        else {
            return Err(TestCaseError::reject("no persons"));
        };
        let mut journals = support::population(case.people, case.seed);
        let persons: Vec<PersonId> = journals.keys().copied().collect();
        let arrived: BTreeSet<PersonId> = arrivals
            .iter()
            .map(|who| persons[who.index(persons.len())])
            .collect();
        journals.retain(|person, _| !arrived.contains(person));
        let before = State::from_journals(journals, None, None);
        let mut history = History::of_journals(&before.store, &before.journals);

        let dirty: BTreeSet<PersonId> = amended.union(&arrived).copied().collect();
        // Refreshed once or more with the same persons, as a person changing twice would be.
        for _ in 0..refreshes {
            history.refresh(&after.store, &after.journals, &dirty);
        }

        for cut in cuts {
            let filtered = history.columns_at(&after.store, &after.journals, cut);
            prop_assert_eq!(filtered.filtered + filtered.folded, after.journals.len());
            prop_assert!(
                rows_of(&filtered.columns) == folded_rows(&after, cut),
                "the rows at {} differ from the fold's", cut
            );
        }
    }
}

/// Given a person whose facts were each recorded on the day they occurred,
/// when a cut falls between two of them,
/// then the row at the cut is a kept one (no fold) and is the row of the facts recorded by then.
#[test]
fn a_cut_between_facts_recorded_in_order_is_filtered_not_folded() {
    let mut person = support::Person::arrived(1, 1990, "2016-03-01", "Nord");
    person.on(
        "2017-05-02",
        support::job("j1", EmploymentKind::SocialInsuranceFull),
    );
    person.on("2018-06-30", support::job_ended("j1"));
    let state = State::from_journals(support::journals(&[person]), None, None);
    let history = History::of_journals(&state.store, &state.journals);

    let cut = support::at("2017-12-31");
    let filtered = history.columns_at(&state.store, &state.journals, cut);

    assert_eq!((filtered.filtered, filtered.folded), (1, 0));
    assert_eq!(rows_of(&filtered.columns), folded_rows(&state, cut));
    let job = &rows_of(&filtered.columns)[0].jobs;
    assert_eq!(job.len(), 1);
    assert_eq!(
        job[0].0.end, None,
        "the job's end was not recorded by the cut"
    );
}

/// Given a person whose job start was entered late, after the job had ended,
/// when a cut falls between the end's recording and the late entry,
/// then no kept row answers it and the person is folded again, to the fold's row.
#[test]
fn a_cut_before_a_late_entry_of_an_earlier_fact_falls_back_to_the_fold() {
    let mut person = support::Person::arrived(1, 1990, "2016-03-01", "Nord");
    person.on("2017-05-02", support::counselling(Agency::Jobcenter));
    person.on_recorded(
        "2017-01-10",
        "2018-01-15",
        support::test_taken(Exam::Dtz, Level::B1, true),
    );
    let state = State::from_journals(support::journals(&[person]), None, None);
    let history = History::of_journals(&state.store, &state.journals);

    let cut = support::at("2017-12-31");
    let filtered = history.columns_at(&state.store, &state.journals, cut);

    assert_eq!((filtered.filtered, filtered.folded), (0, 1));
    assert_eq!(rows_of(&filtered.columns), folded_rows(&state, cut));
    assert!(rows_of(&filtered.columns)[0].language_tests.is_empty());
}

/// Given a person with a correction recorded after the cut,
/// when the cut is asked, and a cut after the correction,
/// then both are kept rows (the stretch before the correction is folded on its own): the original
/// at the first, the replacement at the second, as the fold says.
#[test]
fn cuts_before_and_after_a_correction_are_both_filtered() {
    let mut person = support::Person::arrived(1, 1990, "2016-03-01", "Nord");
    let wrong = person.on("2017-05-02", support::job("j1", EmploymentKind::Marginal));
    person.correct(
        "2018-02-01",
        wrong,
        "2017-05-02",
        support::job("j1", EmploymentKind::SocialInsuranceFull),
    );
    let state = State::from_journals(support::journals(&[person]), None, None);
    let history = History::of_journals(&state.store, &state.journals);

    for (cut, counts) in [("2017-12-31", false), ("2018-03-01", true)] {
        let cut = support::at(cut);
        let filtered = history.columns_at(&state.store, &state.journals, cut);
        assert_eq!(filtered.folded, 0, "at {cut}");
        let rows = rows_of(&filtered.columns);
        assert_eq!(rows, folded_rows(&state, cut));
        assert_eq!(
            rows[0].jobs[0].1, counts,
            "the job counts as employment at {cut}"
        );
    }
}

/// Given two persons alike but for a counselling contact away from a base (which no column
/// holds), recorded in order after their job started,
/// when their histories are kept,
/// then the contact adds neither a row nor a version (the row it would make equals the one
/// before and the two stretches of cuts meet), and a cut after it is still filtered, to the fold.
#[test]
fn a_fact_no_column_holds_keeps_no_row_of_its_own() {
    let history_of = |contact: bool| {
        let mut person = support::Person::arrived(1, 1990, "2016-03-01", "Nord");
        person.on(
            "2017-05-02",
            support::job("j1", EmploymentKind::SocialInsuranceFull),
        );
        if contact {
            person.on("2017-08-01", support::counselling(Agency::Jobcenter));
        }
        person.on("2018-06-30", support::job_ended("j1"));
        let state = State::from_journals(support::journals(&[person]), None, None);
        let history = History::of_journals(&state.store, &state.journals);
        (state, history)
    };
    let (_, without) = history_of(false);

    let (state, with) = history_of(true);

    assert_eq!(
        (with.rows(), with.versions()),
        (without.rows(), without.versions())
    );
    let cut = support::at("2017-12-31");
    let filtered = with.columns_at(&state.store, &state.journals, cut);
    assert_eq!((filtered.filtered, filtered.folded), (1, 0));
    assert_eq!(rows_of(&filtered.columns), folded_rows(&state, cut));
}

/// Given the synthetic population (late entries and corrections at the generator's rates),
/// when its columns are asked at the cuts the bench asks (two to ten months before its end),
/// then few persons fall back to the fold: the filter answers nearly every person.
#[test]
fn in_the_synthetic_population_few_persons_fall_back_to_the_fold() {
    let journals = support::population(1500, 7);
    let end = support::at("2024-12-31");
    let state = State::from_journals(journals, None, None);
    let history = History::of_journals(&state.store, &state.journals);

    let (mut filtered, mut folded) = (0, 0);
    for months in 1..=5 {
        let cut = end - Duration::days(61 * months);
        let answer = history.columns_at(&state.store, &state.journals, cut);
        assert_eq!(rows_of(&answer.columns), folded_rows(&state, cut));
        filtered += answer.filtered;
        folded += answer.folded;
    }

    let share = folded as f64 / (filtered + folded) as f64;
    println!(
        "kept: {} rows and {} versions for {} persons",
        history.rows(),
        history.versions(),
        state.journals.len()
    );
    println!(
        "folded again: {folded} of {} person-cuts ({:.2}%)",
        filtered + folded,
        100.0 * share
    );
    assert!(
        share < 0.05,
        "{folded} of {} person-cuts folded again",
        filtered + folded
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// A past cut served with only the fields its indicators' passes read (each gathered when a
    /// pass finds it left out, `KeptCut::compute_from`), starting from any fields, answers every
    /// indicator it serves, by every breakdown, with and without suppression, exactly as the cut
    /// with every field does. One cut is asked one indicator after another, so each finds the
    /// fields the ones before gathered (and the households made or not). And a cut made with
    /// one field holds that field (with its code partner for nationality and districts) alone.
    #[test]
    fn a_cut_with_the_fields_its_passes_read_answers_every_indicator_as_the_whole_cut(
        case in amended_case(),
        first in any::<u32>(),
        as_of_days in 0u64..(12 * 366),
    ) {
        let Some((state, cuts)) = amended_population(&case) else {
            return Err(TestCaseError::reject("no persons"));
        };
        let history = History::of_journals(&state.store, &state.journals);
        let first = Fields::ALL
            .each()
            .enumerate()
            .filter(|(bit, _)| first >> bit & 1 == 1)
            .fold(Fields::NONE, |fields, (_, field)| fields.with(field));
        let as_ofs = [
            date("2014-01-01") + chrono::Days::new(as_of_days),
            date("2024-12-31"),
        ];
        for field in Fields::ALL.each() {
            let held = KeptCut::with_fields(&state, &history, cuts[0], field).fields();
            prop_assert!(
                held.without(field).len() <= 1 && held.with(field) == held,
                "a cut made with {:?} holds {:?}", field, held
            );
        }
        for cut in cuts {
            let whole = KeptCut::of_history(&state, &history, cut);
            prop_assert_eq!(whole.fields(), Fields::ALL);
            let partial = KeptCut::with_fields(&state, &history, cut, first);
            for definition in catalogue()
                .iter()
                .filter(|definition| !definition.person_level && KeptCut::answers(definition.key))
            {
                for by in support::breakdowns(definition.disaggregations) {
                    for (as_of, suppression) in as_ofs.iter().zip([None, Some(Suppression { k: 3 })]) {
                        let query = KpiQuery {
                            key: definition.key.to_owned(),
                            as_of: *as_of,
                            known_at: cut,
                            by: by.clone(),
                            suppression,
                        };
                        let organisational =
                            (&Registers::default(), &Offers::default(), &Volunteers::default());
                        let expected = whole.compute(
                            &query,
                            organisational.0,
                            organisational.1,
                            organisational.2,
                        );
                        let answered = partial.compute_from(
                            &history,
                            &query,
                            organisational.0,
                            organisational.1,
                            organisational.2,
                        );
                        prop_assert_eq!(
                            format!("{answered:?}"),
                            format!("{expected:?}"),
                            "{} by {:?} as of {}, known at {}", definition.key, by, as_of, cut
                        );
                    }
                }
            }
        }
    }
}
