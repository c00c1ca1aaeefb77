//! The KPI columns (issue 11, plan step 7) are copies of view fields, kept up to date with the live
//! views: after any sequence of refreshes for dirty persons (new jobs, moves, district changes,
//! retractions, erasures, persons arriving), every row of the columns holds exactly its view's
//! fields, and every indicator answered over the kept columns equals the same indicator over the
//! views alone (columns built afresh from them).

mod support;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use journey_core::catalogue::{
    Accommodation, AddressChanged, Agency, ArrivalRecorded, AsylumDecisionIssued, AsylumOutcome,
    BenefitKind, BenefitsStarted, CounsellingContact, CourseEntitlementIssued, CourseRegistered,
    CourseType, Destination, EmploymentKind, EmploymentStarted, EntitlementIssuer, EntitlementKind,
    Event, EventCorrected, EventRetracted, Exam, KitaPlaceRequested, KitaStarted,
    LanguageTestTaken, Level, MentorAssigned, MovedAway, OrientationTestTaken, Origin,
    RecognitionApplied, RecognitionOutcome, Replacement, SchoolEnrolled, SchoolType, Topic,
    TrainingStarted,
};
use journey_core::envelope::PersonId;
use journey_core::registers::Registers;
use journey_projections::journal::{Fact, Journal};
use journey_projections::kpi::columns::{Columns, IntegrationCourse, Recognition, RowFields};
use journey_projections::kpi::{catalogue, compute, KpiQuery};
use journey_projections::offers::Offers;
use journey_projections::promising::{
    entries, placed_within_window, promising_applicants, PROMISING_MIN_IDLE_DAYS,
};
use journey_projections::view::{Households, PersonView};
use journey_projections::volunteers::Volunteers;
use journey_projections::{State, ViewSet, LIVE};
use proptest::prelude::*;
use uuid::Uuid;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// What happens to one person between two refreshes.
#[derive(Debug, Clone)]
enum Change {
    /// A job starts `days` after 2016-01-01.
    Job { days: i64, marginal: bool },
    /// The person moves away `days` after 2016-01-01.
    MoveAway { days: i64 },
    /// The person moves to district `district-N` `days` after 2016-01-01.
    Address { days: i64, district: u8 },
    /// The person arrives `days` after 2016-01-01, having entered Germany `entered` days before
    /// (if recorded).
    Arrival { days: i64, entered: Option<i64> },
    /// An asylum decision (outcome `outcome` of [`OUTCOMES`]) `days` after 2016-01-01.
    Decision { days: i64, outcome: usize },
    /// The registration is corrected to nationality `nationality`.
    Nationality { nationality: &'static str },
    /// Event `which` of [`other_event`] (Kita, school, benefits, training, tests, mentoring,
    /// courses, counselling at a base) `days` after 2016-01-01.
    Other { days: i64, which: usize },
    /// A training (`which` 0) or measure (1) starts `days` after 2016-01-01 and ends completed
    /// `length` days later, or a recognition (2) is applied for then and decided `full` `length`
    /// days later: the facts that qualify a promising applicant.
    Qualification {
        days: i64,
        length: i64,
        which: usize,
    },
    /// The registration is retracted: the person leaves the views.
    RetractRegistration,
    /// The person is erased.
    Erase,
}

const OUTCOMES: [AsylumOutcome; 3] = [
    AsylumOutcome::Refugee3,
    AsylumOutcome::Subsidiary4,
    AsylumOutcome::Rejected,
];

const OTHER_EVENTS: usize = 12;

/// One of the events that fill the columns' other lists; `serial` makes ids unique.
fn other_event(which: usize, serial: u64) -> Event {
    match which {
        0 => Event::KitaPlaceRequested(KitaPlaceRequested {}),
        1 => Event::KitaStarted(KitaStarted {}),
        2 => Event::SchoolEnrolled(SchoolEnrolled {
            school_type: SchoolType::Primary,
            language_class: true,
        }),
        3 => Event::BenefitsStarted(BenefitsStarted {
            kind: BenefitKind::Sgb2,
        }),
        4 => Event::TrainingStarted(TrainingStarted {
            training_id: format!("training-{serial}"),
            occupation_code: "2612".to_owned(),
        }),
        5 => Event::LanguageTestTaken(LanguageTestTaken {
            exam: Exam::Dtz,
            level: Level::B1,
            first_attempt: true,
        }),
        6 => Event::OrientationTestTaken(OrientationTestTaken { passed: true }),
        7 => Event::MentorAssigned(MentorAssigned {
            mentor_id: format!("mentor-{serial}"),
        }),
        8 => Event::CourseEntitlementIssued(CourseEntitlementIssued {
            kind: EntitlementKind::Entitlement,
            issuer: EntitlementIssuer::Bamf,
        }),
        9 => Event::CourseRegistered(CourseRegistered {
            course_id: format!("course-{serial}"),
            course_type: CourseType::General,
            provider: "vhs".to_owned(),
        }),
        10 => Event::RecognitionApplied(RecognitionApplied {
            occupation_code: "2612".to_owned(),
            regulated: true,
        }),
        _ => Event::CounsellingContact(CounsellingContact {
            agency: Agency::Jobcenter,
            topic: Topic::Work,
            base: Some("base-1".to_owned()),
        }),
    }
}

/// The start and the qualifying end of [`Change::Qualification`] `which`.
fn qualification(which: usize, serial: u64) -> (Event, Event) {
    match which {
        0 => (
            Event::TrainingStarted(support::training(&format!("training-{serial}"))),
            Event::TrainingEnded(support::training_ended(&format!("training-{serial}"))),
        ),
        1 => (
            Event::MeasureStarted(support::measure(&format!("measure-{serial}"))),
            Event::MeasureEnded(support::measure_ended(&format!("measure-{serial}"))),
        ),
        _ => (
            Event::RecognitionApplied(support::recognition_applied()),
            Event::RecognitionDecided(support::recognition_decided(RecognitionOutcome::Full)),
        ),
    }
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0i64..3650, any::<bool>()).prop_map(|(days, marginal)| Change::Job { days, marginal }),
        (0i64..3650).prop_map(|days| Change::MoveAway { days }),
        (0i64..3650, 0u8..4).prop_map(|(days, district)| Change::Address { days, district }),
        (0i64..3650, prop::option::of(0i64..400))
            .prop_map(|(days, entered)| Change::Arrival { days, entered }),
        (0i64..3650, 0..OUTCOMES.len())
            .prop_map(|(days, outcome)| Change::Decision { days, outcome }),
        prop::sample::select(vec!["SYR", "UKR", "unknown"])
            .prop_map(|nationality| Change::Nationality { nationality }),
        (0i64..3650, 0usize..OTHER_EVENTS).prop_map(|(days, which)| Change::Other { days, which }),
        (0i64..3650, 1i64..400, 0usize..3).prop_map(|(days, length, which)| {
            Change::Qualification {
                days,
                length,
                which,
            }
        }),
        Just(Change::RetractRegistration),
        Just(Change::Erase),
    ]
}

/// Appends `change` to `journal`, recorded after everything in it.
fn apply(journal: &mut Journal, change: &Change, serial: u64) {
    let Some(last) = journal.facts.last().cloned() else {
        return;
    };
    let on = |days: i64| date("2016-01-01") + Duration::days(days);
    let fact = |occurred_on: NaiveDate, event: Event| {
        Fact::new(
            journey_core::log::Position::from_raw(10_000_000 + serial),
            u64::from(last.revision) + 1,
            Uuid::from_u128(u128::from(serial) << 64 | 0xc01),
            occurred_on,
            last.recorded_at.time() + Duration::seconds(1),
            last.actor.clone(),
            event,
        )
        .expect("a fact holds the test's revision and time")
    };
    let added = match change {
        Change::Job { days, marginal } => fact(
            on(*days),
            Event::EmploymentStarted(EmploymentStarted {
                employment_id: format!("job-{serial}"),
                kind: if *marginal {
                    EmploymentKind::Marginal
                } else {
                    EmploymentKind::SocialInsuranceFull
                },
                occupation_code: None,
                weekly_hours: None,
            }),
        ),
        Change::MoveAway { days } => fact(
            on(*days),
            Event::MovedAway(MovedAway {
                destination: Destination::OtherMunicipality,
            }),
        ),
        Change::Address { days, district } => fact(
            on(*days),
            Event::AddressChanged(AddressChanged {
                district: format!("district-{district}"),
                accommodation: Accommodation::Flat,
            }),
        ),
        Change::Arrival { days, entered } => fact(
            on(*days),
            Event::ArrivalRecorded(ArrivalRecorded {
                entry_date: entered.map(|before| on(*days) - Duration::days(before)),
                origin: Origin::Abroad,
                accommodation: Accommodation::Flat,
                district: "district-arrival".to_owned(),
            }),
        ),
        Change::Decision { days, outcome } => fact(
            on(*days),
            Event::AsylumDecisionIssued(AsylumDecisionIssued {
                outcome: OUTCOMES[*outcome],
            }),
        ),
        Change::Nationality { nationality } => {
            let registration = &journal.facts[0];
            let mut data = registration.event.to_data();
            data["nationality"] = (*nationality).into();
            fact(
                last.occurred_on,
                Event::EventCorrected(EventCorrected {
                    target_event_id: registration.id,
                    replacement: Replacement {
                        event_type: registration.event.event_type().name().to_owned(),
                        occurred_on: registration.occurred_on,
                        data,
                    },
                    reason: "typo".to_owned(),
                }),
            )
        }
        Change::Other { days, which } => fact(on(*days), other_event(*which, serial)),
        Change::Qualification {
            days,
            length,
            which,
        } => {
            let (started, ended) = qualification(*which, serial);
            journal.facts.push(fact(on(*days), started));
            let started = journal.facts.last().expect("just pushed");
            Fact::new(
                started.position,
                u64::from(started.revision) + 1,
                Uuid::from_u128(u128::from(serial) << 64 | 0xc02),
                on(*days + *length),
                started.recorded_at.time() + Duration::seconds(1),
                started.actor.clone(),
                ended,
            )
            .expect("a fact holds the test's revision and time")
        }
        Change::RetractRegistration => {
            let registration = journal.facts[0].id;
            fact(
                last.occurred_on,
                Event::EventRetracted(EventRetracted {
                    target_event_id: registration,
                    reason: "wrong person".to_owned(),
                }),
            )
        }
        Change::Erase => {
            *journal = Journal {
                facts: Vec::new(),
                erased: true,
            };
            return;
        }
    };
    journal.facts.push(added);
}

/// What the columns must hold for a view.
fn fields_of(view: &PersonView) -> RowFields {
    RowFields {
        person: view.person,
        household_id: view.household_id,
        birth_year: view.birth_year,
        sex: view.sex,
        stay: view.stay,
        activities: view
            .activities
            .iter()
            .map(|activity| activity.interval)
            .collect(),
        jobs: view
            .employments
            .iter()
            .map(|job| (job.interval, job.counts_as_employment()))
            .collect(),
        courses: view
            .courses
            .iter()
            .filter(|course| course.is_integration_course())
            .map(|course| IntegrationCourse {
                course_type: course.course_type,
                registered_on: course.registered_on,
                started_on: course.started_on,
                ended_on: course.ended_on,
                end: course.end,
            })
            .collect(),
        recorded_entry: view.arrivals.first().and_then(|first| first.entry_date),
        nationality: view.nationality.clone(),
        protection: view.protection.clone(),
        registered_on: view.registered_on,
        stages_reached_on: view.stages_reached_on,
        first_entitlement: view.entitlements.first().map(|entitlement| entitlement.on),
        kita: view.kita.clone(),
        kita_requests: view.kita_requests.clone(),
        // The stays are copied only for a person with several: with one, the summary decides.
        presence: if view.presence.len() > 1 {
            view.presence.clone()
        } else {
            Default::default()
        },
        schools: view.schools.clone(),
        mentoring: view.mentoring.iter().map(|spell| spell.interval).collect(),
        sgb2: view
            .benefits
            .iter()
            .filter(|spell| spell.kind == BenefitKind::Sgb2)
            .map(|spell| spell.interval)
            .collect(),
        trainings: view
            .trainings
            .iter()
            .map(|training| (training.interval, training.outcome))
            .collect(),
        measures: view
            .measures
            .iter()
            .map(|measure| (measure.interval, measure.outcome))
            .collect(),
        language_tests: view.language_tests.clone(),
        orientation_tests: view.orientation_tests.clone(),
        recognitions: view
            .recognitions
            .iter()
            .map(|case| Recognition {
                applied_on: case.applied_on,
                decided_on: case.decided_on,
                outcome: case.outcome,
            })
            .collect(),
        base_contacts: view
            .counselling
            .iter()
            .filter(|contact| contact.base.is_some())
            .map(|contact| contact.on)
            .collect(),
        districts: view.districts.clone(),
    }
}

/// The columns of `set` hold its views' fields, row by row, and every indicator (in total and by
/// each of its breakdowns, at two reporting dates) answers over them as over the views alone.
fn check(set: &ViewSet) -> Result<(), TestCaseError> {
    prop_assert_eq!(set.columns().len(), set.views.len());
    for (row, view) in set.views.iter().enumerate() {
        prop_assert_eq!(set.columns().row_fields(row), fields_of(view));
    }
    prop_assert!(
        set.columns().households() == set.households,
        "the households of the columns are the views'"
    );
    for definition in catalogue()
        .iter()
        .filter(|definition| !definition.person_level)
    {
        let mut breakdowns = vec![vec![]];
        breakdowns.extend(definition.disaggregations.iter().map(|by| vec![*by]));
        for by in breakdowns {
            for as_of in [date("2019-06-30"), date("2024-12-31")] {
                let query = KpiQuery {
                    key: definition.key.to_owned(),
                    as_of,
                    known_at: set.known_at,
                    by: by.clone(),
                    suppression: None,
                };
                let kept = set.compute(
                    &query,
                    &Registers::default(),
                    &Offers::default(),
                    &Volunteers::default(),
                );
                let afresh = compute(&query, &set.views, &set.households);
                prop_assert_eq!(
                    format!("{kept:?}"),
                    format!("{afresh:?}"),
                    "{} by {:?} as of {}",
                    definition.key,
                    by,
                    as_of
                );
            }
        }
    }
    for as_of in [date("2019-06-30"), date("2024-12-31")] {
        check_promising(set, as_of)?;
    }
    Ok(())
}

/// `promising_applicants`, answered from the columns alone, counts what the rule says of the
/// views themselves: the caseworkers' list on D, and of the entrants 6 to 18 months before D
/// those placed within six months.
fn check_promising(set: &ViewSet, as_of: NaiveDate) -> Result<(), TestCaseError> {
    let query = KpiQuery {
        key: "promising_applicants".to_owned(),
        as_of,
        known_at: set.known_at,
        by: vec![],
        suppression: None,
    };
    let answer = set
        .compute(
            &query,
            &Registers::default(),
            &Offers::default(),
            &Volunteers::default(),
        )
        .expect("promising_applicants answers");
    let listed = promising_applicants(
        &set.views,
        &set.households,
        as_of,
        PROMISING_MIN_IDLE_DAYS,
        None,
    )
    .len();
    let months_before = |months| as_of.checked_sub_months(Months::new(months)).expect("date");
    let entrants: Vec<_> = set
        .views
        .iter()
        .filter_map(|view| {
            entries(
                view,
                &set.households,
                months_before(6),
                PROMISING_MIN_IDLE_DAYS,
            )
            .into_iter()
            .find(|entered_on| months_before(18) < *entered_on)
            .map(|entered_on| placed_within_window(view, entered_on))
        })
        .collect();
    let placed = entrants.iter().filter(|placed| **placed).count();
    let persons = answer.total.measure("persons").expect("persons");
    prop_assert_eq!(persons.value, Some(listed as f64), "listed on {}", as_of);
    let share = answer
        .total
        .measure("share_placed_within_6_months")
        .expect("share");
    prop_assert_eq!(
        share.denominator,
        Some(entrants.len() as u64),
        "entrants on {}",
        as_of
    );
    prop_assert_eq!(share.numerator, Some(placed as u64), "placed on {}", as_of);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn the_columns_kept_with_the_live_views_equal_the_views_after_any_refreshes(
        people in 5usize..40,
        seed in any::<u64>(),
        rounds in prop::collection::vec(
            (
                prop::collection::vec((any::<prop::sample::Index>(), change()), 0..8),
                0usize..4,
            ),
            1..4,
        ),
    ) {
        let mut journals = support::population(people, seed);
        prop_assume!(!journals.is_empty());
        let mut state = State::from_journals(journals.clone(), None, None);
        let mut live = ViewSet::for_state(&state, LIVE);
        check(&live)?;
        let mut serial = 0u64;
        for (round, (changes, newcomers)) in rounds.iter().enumerate() {
            let mut dirty: BTreeSet<PersonId> = BTreeSet::new();
            let persons: Vec<_> = journals.keys().copied().collect();
            for (who, change) in changes {
                let person = persons[who.index(persons.len())];
                if let Some(journal) = journals.get_mut(&person) {
                    serial += 1;
                    apply(journal, change, serial);
                    dirty.insert(person);
                }
            }
            // Persons arriving: a few of another population.
            let arriving = support::population(*newcomers, seed ^ (round as u64 + 1));
            for (person, journal) in arriving {
                if let std::collections::btree_map::Entry::Vacant(entry) = journals.entry(person) {
                    entry.insert(journal);
                    dirty.insert(person);
                }
            }
            state = State::from_journals(journals.clone(), None, None);
            live.refresh(&state, &dirty);
            let afresh = ViewSet::for_state(&state, LIVE);
            prop_assert!(live.views == afresh.views, "the refreshed views are the views");
            check(&live)?;
        }
    }
}

/// A cut of its own is checked the same way (its columns are built with it).
#[test]
fn a_past_cuts_columns_hold_its_views_fields() {
    let journals = support::population(60, 3);
    let state = State::from_journals(journals, None, None);
    let cut: DateTime<Utc> = date("2020-01-01")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let past = ViewSet::for_state(&state, cut);
    assert!(!past.views.is_empty(), "the cut holds persons");
    check(&past).expect("columns of the cut");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The columns and households of a cut are built on every core, a share of the views each,
    /// and joined in order (a person's first query after a start builds them for every person):
    /// whatever the number of shares, they equal those built on one thread, row for row and code
    /// for code, live and at a past cut.
    #[test]
    fn the_columns_and_households_built_in_shares_equal_those_built_on_one_thread(
        people in 0usize..60,
        seed in any::<u64>(),
        threads in 2usize..7,
        past in any::<bool>(),
    ) {
        let state = State::from_journals(support::population(people, seed), None, None);
        let known_at = if past {
            date("2020-01-01").and_hms_opt(0, 0, 0).expect("midnight").and_utc()
        } else {
            LIVE
        };
        let set = ViewSet::for_state(&state, known_at);
        let one = Columns::of_cut_on(&set.views, known_at, 1);
        let shared = Columns::of_cut_on(&set.views, known_at, threads);
        prop_assert_eq!(shared.len(), set.views.len());
        prop_assert!(shared == one, "columns on {} threads", threads);
        for (row, view) in set.views.iter().enumerate() {
            prop_assert_eq!(shared.row_fields(row), fields_of(view), "row {}", row);
        }
        prop_assert!(
            Households::from_views_on(&set.views, threads) == Households::from_views(&set.views),
            "households on {} threads",
            threads
        );
    }
}
