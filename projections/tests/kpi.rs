//! Every indicator of the catalogue on a small explicit population, computed by hand: given these
//! events, the answer is exactly this. The reporting date is 2024-12-31 unless a test says
//! otherwise, so "the 12 months up to D" are the calendar year 2024.
//!
//! Each measure renders as `name=value (numerator/denominator pPersons)` (see `support::render`).

mod support;

use journey_core::catalogue::{
    ArrivalRecorded, AsylumOutcome, BenefitKind, BirthYear, CourseType, EmploymentKind, Exam,
    Level, RecognitionOutcome, Sex,
};
use journey_core::registers::Registers;
use journey_projections::kpi::{
    catalogue, compute, definition, resolve_dimensions, CountingUnit, Dimension, KpiError,
};
use journey_projections::offers::Offers;
use journey_projections::view::Households;
use journey_projections::volunteers::Volunteers;
use journey_projections::{State, ViewSet};
use support::*;

const D: &str = "2024-12-31";

// ----- population_present -----

fn population() -> Vec<Person> {
    let mut present = Person::with(1, 1990, Sex::Female, "SYR", "2023-01-01", "north");
    present.on("2023-02-01", entitled());

    let mut moved = Person::with(2, 1990, Sex::Male, "AFG", "2023-03-01", "south");
    moved.on("2024-06-01", moved_away());

    let mut returned = Person::with(3, 1985, Sex::Unknown, "unknown", "2022-01-01", "south");
    returned.on("2022-06-01", decided(AsylumOutcome::Refugee3));
    returned.on("2024-03-01", moved_away());
    returned.on("2024-11-01", arrival("west"));

    let arrives_after_d = Person::with(4, 1990, Sex::Male, "SYR", "2025-01-05", "north");

    let never_arrived = Person::registered(5, 1990, Sex::Male, "SYR");

    let mut erased_person = Person::with(6, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    erased_person.on("2024-12-01", erased());

    let child = Person::with(7, 2010, Sex::Male, "SYR", "2023-01-01", "north");
    vec![
        present,
        moved,
        returned,
        arrives_after_d,
        never_arrived,
        erased_person,
        child,
    ]
}

#[test]
fn population_present_counts_stays_on_d() {
    let persons = population();
    let by =
        |dimensions: &[Dimension]| render(&kpi(&persons, "population_present", D, dimensions), &[]);

    check(&by(&[]), "total: persons=3 (3/- p3)");
    check(
        &by(&[Dimension::District]),
        "district=north: persons=2 (2/- p2)
         district=west: persons=1 (1/- p1)
         total: persons=3 (3/- p3)",
    );
    check(
        &by(&[Dimension::AgeBand]),
        "age_band=6-14: persons=1 (1/- p1)
         age_band=25-44: persons=2 (2/- p2)
         total: persons=3 (3/- p3)",
    );
    check(
        &by(&[Dimension::ArrivalCohort]),
        "arrival_cohort=2022: persons=1 (1/- p1)
         arrival_cohort=2023: persons=2 (2/- p2)
         total: persons=3 (3/- p3)",
    );
    check(
        &by(&[Dimension::YearsSinceArrival]),
        "years_since_arrival=1: persons=2 (2/- p2)
         years_since_arrival=2: persons=1 (1/- p1)
         total: persons=3 (3/- p3)",
    );
    // Earlier in 2024: the one who moved away is still here, the one who returned is away.
    check(
        &render(
            &kpi(
                &persons,
                "population_present",
                "2024-05-01",
                &[Dimension::District],
            ),
            &[],
        ),
        "district=north: persons=2 (2/- p2)
         district=south: persons=1 (1/- p1)
         total: persons=3 (3/- p3)",
    );
}

#[test]
fn unknown_is_kept_apart_from_none() {
    let persons = population();
    let by =
        |dimensions: &[Dimension]| render(&kpi(&persons, "population_present", D, dimensions), &[]);
    check(
        &by(&[Dimension::Sex]),
        "sex=female: persons=1 (1/- p1)
         sex=male: persons=1 (1/- p1)
         sex=unknown: persons=1 (1/- p1)
         total: persons=3 (3/- p3)",
    );
    check(
        &by(&[Dimension::Nationality]),
        "nationality=SYR: persons=2 (2/- p2)
         nationality=unknown: persons=1 (1/- p1)
         total: persons=3 (3/- p3)",
    );
    check(
        &by(&[Dimension::ProtectionStatus]),
        "protection_status=refugee: persons=1 (1/- p1)
         protection_status=none: persons=2 (2/- p2)
         total: persons=3 (3/- p3)",
    );

    // District `none` (never arrived) and nationality `unknown` side by side in one table.
    let mut arrived = Person::with(1, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    arrived.on("2024-03-01", test_taken(Exam::Dtz, Level::B1, true));
    let mut not_arrived = Person::registered(2, 1990, Sex::Male, "unknown");
    not_arrived.on("2024-03-01", test_taken(Exam::Dtz, Level::A2, true));
    let mut unknown_nationality =
        Person::with(3, 1990, Sex::Male, "unknown", "2023-01-01", "north");
    unknown_nationality.on("2024-03-01", test_taken(Exam::Dtz, Level::BelowA2, true));
    let result = kpi(
        &[arrived, not_arrived, unknown_nationality],
        "dtz_b1_rate",
        D,
        &[Dimension::District, Dimension::Nationality],
    );
    check(
        &render(&result, &["share_b1_or_better"]),
        "district=north,nationality=SYR: share_b1_or_better=1 (1/1 p1)
         district=north,nationality=unknown: share_b1_or_better=0 (0/1 p1)
         district=none,nationality=unknown: share_b1_or_better=0 (0/1 p1)
         district=north: share_b1_or_better=0.5 (1/2 p2)
         district=none: share_b1_or_better=0 (0/1 p1)
         nationality=SYR: share_b1_or_better=1 (1/1 p1)
         nationality=unknown: share_b1_or_better=0 (0/2 p2)
         total: share_b1_or_better=0.3333 (1/3 p3)",
    );
}

#[test]
fn population_present_two_way_has_margins() {
    let result = kpi(
        &population(),
        "population_present",
        D,
        &[Dimension::District, Dimension::Sex],
    );
    check(
        &render(&result, &[]),
        "district=north,sex=female: persons=1 (1/- p1)
         district=north,sex=male: persons=1 (1/- p1)
         district=west,sex=unknown: persons=1 (1/- p1)
         district=north: persons=2 (2/- p2)
         district=west: persons=1 (1/- p1)
         sex=female: persons=1 (1/- p1)
         sex=male: persons=1 (1/- p1)
         sex=unknown: persons=1 (1/- p1)
         total: persons=3 (3/- p3)",
    );
    assert_eq!(result.counting_unit, CountingUnit::Persons);
    assert_eq!(result.by, [Dimension::District, Dimension::Sex]);
}

// ----- courses -----

#[test]
fn course_waiting_days_over_integration_courses_started_in_the_last_year() {
    let mut first = Person::arrived(1, 1990, "2023-06-01", "north");
    first.on("2024-01-01", course_registered("IK-1", CourseType::General));
    first.on("2024-02-01", course_started("IK-1")); // 31 days
    first.on("2024-03-01", course_registered("JOB-1", CourseType::JobB1));
    first.on("2024-05-01", course_started("JOB-1")); // not an integration course
    let mut second = Person::arrived(2, 1990, "2023-06-01", "north");
    second.on("2023-11-01", course_registered("IK-2", CourseType::Alpha));
    second.on("2024-01-10", course_started("IK-2")); // 70 days
    let mut third = Person::arrived(3, 1990, "2023-06-01", "north");
    third.on("2023-10-01", course_registered("IK-3", CourseType::General));
    third.on("2023-12-31", course_started("IK-3")); // D minus 12 months: outside
    let mut fourth = Person::arrived(4, 1990, "2023-06-01", "north");
    fourth.on("2024-06-01", course_registered("IK-4", CourseType::General));
    fourth.on("2024-06-11", course_started("IK-4")); // 10 days
    fourth.on("2024-07-01", course_left("IK-4"));
    fourth.on("2024-08-01", course_registered("IK-4", CourseType::General));
    fourth.on("2024-09-20", course_started("IK-4")); // 50 days, a re-entry
    let mut fifth = Person::arrived(5, 1990, "2023-06-01", "north");
    fifth.on("2024-11-01", course_registered("IK-5", CourseType::General));
    fifth.on("2025-01-05", course_started("IK-5")); // after D

    // 10, 31, 50, 70: median (31 + 50) / 2, p75 at rank 2.25 = 50 + 0.25 * 20.
    let result = kpi(
        &[first, second, third, fourth, fifth],
        "course_waiting_days",
        D,
        &[],
    );
    check(
        &render(&result, &["median_days", "p75_days"]),
        "total: median_days=40.5 (-/4 p3) p75_days=55 (-/4 p3)",
    );
    assert_eq!(result.counting_unit, CountingUnit::Events);
    // The distribution over the same starts: 10 in up to 4 weeks, 31 and 50 in 5 to 8 weeks, 70
    // in 9 to 13 weeks, none longer.
    check(
        &render(
            &result,
            &[
                "share_waited_0_to_28_days",
                "share_waited_29_to_56_days",
                "share_waited_57_to_91_days",
                "share_waited_over_91_days",
            ],
        ),
        "total: share_waited_0_to_28_days=0.25 (1/4 p3) share_waited_29_to_56_days=0.5 (2/4 p3) share_waited_57_to_91_days=0.25 (1/4 p3) share_waited_over_91_days=0 (0/4 p3)",
    );
}

/// Waits on the bands' bounds, one course start per person: 28 and 29, 56 and 57, 91 and 92 days.
fn waits_on_the_band_bounds() -> Vec<Person> {
    [28, 29, 56, 57, 91, 92]
        .into_iter()
        .enumerate()
        .map(|(index, waited)| {
            let mut person = Person::arrived(index as u128 + 1, 1990, "2023-06-01", "north");
            let registered = date("2024-01-01");
            let started = registered + chrono::Duration::days(waited);
            person.on("2024-01-01", course_registered("IK-1", CourseType::General));
            person.on(&started.to_string(), course_started("IK-1"));
            person
        })
        .collect()
}

const WAITING_BANDS: [&str; 4] = [
    "share_waited_0_to_28_days",
    "share_waited_29_to_56_days",
    "share_waited_57_to_91_days",
    "share_waited_over_91_days",
];

#[test]
fn course_waiting_days_distribution_puts_a_wait_on_a_bound_in_the_lower_band() {
    let result = kpi(&waits_on_the_band_bounds(), "course_waiting_days", D, &[]);
    check(
        &render(&result, &WAITING_BANDS),
        "total: share_waited_0_to_28_days=0.1667 (1/6 p6) share_waited_29_to_56_days=0.3333 (2/6 p6) share_waited_57_to_91_days=0.3333 (2/6 p6) share_waited_over_91_days=0.1667 (1/6 p6)",
    );
}

#[test]
fn course_waiting_days_distribution_is_suppressed_as_one_group() {
    // The bands add up to the starts, so one band below k takes all of them; the quantiles stand
    // on their own persons count (6) and stay.
    let persons = waits_on_the_band_bounds();
    let suppressed = kpi_suppressed(&persons, "course_waiting_days", D, &[], 2);
    check(
        &render(&suppressed, &[]),
        "total: median_days=56.5 (-/6 p6) p75_days=82.5 (-/6 p6) share_waited_0_to_28_days=* share_waited_29_to_56_days=* share_waited_57_to_91_days=* share_waited_over_91_days=*",
    );
    // Two starts in every band (the bounds and one more of each), k = 2: every band is published.
    let mut doubled = persons;
    for (index, waited) in [1, 40, 95, 70].into_iter().enumerate() {
        let mut person = Person::arrived(index as u128 + 11, 1990, "2023-06-01", "north");
        let started = date("2024-01-01") + chrono::Duration::days(waited);
        person.on("2024-01-01", course_registered("IK-1", CourseType::General));
        person.on(&started.to_string(), course_started("IK-1"));
        doubled.push(person);
    }
    let published = kpi_suppressed(&doubled, "course_waiting_days", D, &[], 2);
    check(
        &render(&published, &WAITING_BANDS),
        "total: share_waited_0_to_28_days=0.2 (2/10 p10) share_waited_29_to_56_days=0.3 (3/10 p10) share_waited_57_to_91_days=0.3 (3/10 p10) share_waited_over_91_days=0.2 (2/10 p10)",
    );
}

#[test]
fn course_access_days_from_first_entitlement_to_first_integration_course() {
    let mut first = Person::arrived(1, 1990, "2023-06-01", "north");
    first.on("2023-12-01", entitled());
    first.on("2024-01-15", course_registered("IK-1", CourseType::General));
    first.on("2024-02-01", course_started("IK-1")); // 62 days
    let mut second = Person::arrived(2, 1990, "2023-06-01", "north");
    second.on("2023-09-01", entitled());
    second.on("2024-02-01", entitled()); // not the first
    second.on("2023-11-01", course_registered("IK-2", CourseType::Alpha));
    second.on("2024-01-10", course_started("IK-2")); // 131 days
    let mut started_before_window = Person::arrived(3, 1990, "2022-06-01", "north");
    started_before_window.on("2023-01-01", entitled());
    started_before_window.on("2023-10-01", course_registered("IK-3", CourseType::General));
    started_before_window.on("2023-12-31", course_started("IK-3"));
    let mut no_entitlement = Person::arrived(4, 1990, "2023-06-01", "north");
    no_entitlement.on("2024-06-01", course_registered("IK-4", CourseType::General));
    no_entitlement.on("2024-06-11", course_started("IK-4"));
    let mut entitled_after_start = Person::arrived(5, 1990, "2023-06-01", "north");
    entitled_after_start.on("2024-02-01", course_registered("IK-5", CourseType::General));
    entitled_after_start.on("2024-03-01", course_started("IK-5"));
    entitled_after_start.on("2024-04-01", entitled());
    let mut job_course_only = Person::arrived(6, 1990, "2023-06-01", "north");
    job_course_only.on("2023-05-01", entitled());
    job_course_only.on("2024-04-01", course_registered("JOB-6", CourseType::JobB2));
    job_course_only.on("2024-05-01", course_started("JOB-6"));

    // 62 and 131: median 96.5, p75 = 62 + 0.75 * 69.
    let result = kpi(
        &[
            first,
            second,
            started_before_window,
            no_entitlement,
            entitled_after_start,
            job_course_only,
        ],
        "course_access_days",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: median_days=96.5 (-/2 p2) p75_days=113.75 (-/2 p2)",
    );
}

#[test]
fn course_participation_rate_of_persons_entitled_six_months_before_d() {
    let mut started = Person::arrived(1, 1990, "2023-06-01", "north");
    started.on("2024-01-01", entitled());
    started.on("2024-04-01", course_registered("IK-1", CourseType::General));
    started.on("2024-05-01", course_started("IK-1"));
    let mut entitled_exactly_six_months = Person::arrived(2, 1990, "2023-06-01", "north");
    entitled_exactly_six_months.on("2024-06-30", entitled());
    let mut entitled_too_recently = Person::arrived(3, 1990, "2023-06-01", "north");
    entitled_too_recently.on("2024-07-01", entitled());
    let mut moved = Person::arrived(4, 1990, "2022-06-01", "north");
    moved.on("2023-01-01", entitled());
    moved.on("2024-08-01", moved_away());
    let mut job_course_only = Person::arrived(5, 1990, "2022-06-01", "north");
    job_course_only.on("2023-01-01", entitled());
    job_course_only.on("2023-02-01", course_registered("JOB-5", CourseType::JobB1));
    job_course_only.on("2023-03-01", course_started("JOB-5"));
    let mut starts_after_d = Person::arrived(6, 1990, "2021-06-01", "north");
    starts_after_d.on("2022-01-01", entitled());
    starts_after_d.on("2024-12-01", course_registered("IK-6", CourseType::General));
    starts_after_d.on("2025-01-10", course_started("IK-6"));

    let result = kpi(
        &[
            started,
            entitled_exactly_six_months,
            entitled_too_recently,
            moved,
            job_course_only,
            starts_after_d,
        ],
        "course_participation_rate",
        D,
        &[],
    );
    check(&render(&result, &[]), "total: rate=0.25 (1/4 p4)");
}

#[test]
fn course_completion_rate_of_courses_started_12_to_24_months_before_d() {
    let course = |person: &mut Person, id: &str, course_type, registered: &str, started: &str| {
        person.on(registered, course_registered(id, course_type));
        person.on(started, course_started(id));
    };
    let mut completed = Person::arrived(1, 1990, "2022-06-01", "north");
    course(
        &mut completed,
        "IK-1",
        CourseType::General,
        "2022-12-01",
        "2023-01-01",
    );
    completed.on("2023-07-01", course_completed("IK-1"));
    let mut reentered = Person::arrived(2, 1990, "2022-06-01", "north");
    course(
        &mut reentered,
        "IK-2",
        CourseType::Alpha,
        "2023-05-01",
        "2023-06-01",
    );
    reentered.on("2023-09-01", course_left("IK-2"));
    course(
        &mut reentered,
        "IK-2",
        CourseType::Alpha,
        "2023-10-01",
        "2023-11-01",
    );
    reentered.on("2024-06-01", course_completed("IK-2"));
    let mut open_on_d = Person::arrived(3, 1990, "2022-06-01", "north");
    course(
        &mut open_on_d,
        "IK-3",
        CourseType::General,
        "2023-12-01",
        "2023-12-31",
    );
    open_on_d.on("2025-01-15", course_completed("IK-3"));
    let mut too_early = Person::arrived(4, 1990, "2022-06-01", "north");
    course(
        &mut too_early,
        "IK-4",
        CourseType::General,
        "2022-12-01",
        "2022-12-31",
    );
    let mut too_late = Person::arrived(5, 1990, "2022-06-01", "north");
    course(
        &mut too_late,
        "IK-5",
        CourseType::General,
        "2023-12-01",
        "2024-01-01",
    );
    let mut job_course = Person::arrived(6, 1990, "2022-06-01", "north");
    course(
        &mut job_course,
        "JOB-6",
        CourseType::JobB2,
        "2023-04-01",
        "2023-05-01",
    );

    let result = kpi(
        &[
            completed, reentered, open_on_d, too_early, too_late, job_course,
        ],
        "course_completion_rate",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: share_completed=0.5 (2/4 p3) share_left_early=0.25 (1/4 p3) \
         share_moved_away=0 (0/4 p3) share_open=0.25 (1/4 p3)",
    );
}

/// A course open when its participant moves away ends with the move: it counts as moved away,
/// not as open, also when the person has come back since. A move after D leaves it open on D.
#[test]
fn course_completion_rate_counts_courses_ended_by_a_move_apart() {
    let course = |person: &mut Person, id: &str, registered: &str, started: &str| {
        person.on(registered, course_registered(id, CourseType::General));
        person.on(started, course_started(id));
    };
    let mut completed = Person::arrived(1, 1990, "2022-06-01", "north");
    course(&mut completed, "IK-1", "2022-12-01", "2023-01-01");
    completed.on("2023-07-01", course_completed("IK-1"));
    let mut moved = Person::arrived(2, 1990, "2022-06-01", "north");
    course(&mut moved, "IK-2", "2023-02-01", "2023-03-01");
    moved.on("2023-08-01", moved_away());
    let mut moves_after_d = Person::arrived(3, 1990, "2022-06-01", "north");
    course(&mut moves_after_d, "IK-3", "2023-02-01", "2023-03-01");
    moves_after_d.on("2025-02-01", moved_away());
    let mut returned = Person::arrived(4, 1990, "2022-06-01", "north");
    course(&mut returned, "IK-4", "2023-02-01", "2023-03-01");
    returned.on("2023-06-01", moved_away());
    returned.on("2024-01-01", arrival("south"));

    let result = kpi(
        &[completed, moved, moves_after_d, returned],
        "course_completion_rate",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: share_completed=0.25 (1/4 p4) share_left_early=0 (0/4 p4) \
         share_moved_away=0.5 (2/4 p4) share_open=0.25 (1/4 p4)",
    );
}

// ----- language tests -----

#[test]
fn dtz_b1_rate_for_all_results_and_first_attempts() {
    let mut first = Person::arrived(1, 1990, "2023-01-01", "north");
    first.on("2024-03-01", test_taken(Exam::Dtz, Level::B1, true));
    let mut second = Person::arrived(2, 1990, "2023-01-01", "north");
    second.on("2024-02-01", test_taken(Exam::Dtz, Level::A2, true));
    second.on("2024-10-01", test_taken(Exam::Dtz, Level::B1, false));
    let mut third = Person::arrived(3, 1990, "2023-01-01", "north");
    third.on("2024-05-01", test_taken(Exam::Dtz, Level::BelowA2, true));
    let mut outside = Person::arrived(4, 1990, "2023-01-01", "north");
    outside.on("2023-12-31", test_taken(Exam::Dtz, Level::B2, true));
    let mut other_exam = Person::arrived(5, 1990, "2023-01-01", "north");
    other_exam.on("2024-05-01", test_taken(Exam::Telc, Level::B1, true));

    let result = kpi(
        &[first, second, third, outside, other_exam],
        "dtz_b1_rate",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: share_b1_or_better=0.5 (2/4 p3) share_a2=0.25 (1/4 p3) share_below_a2=0.25 (1/4 p3) \
         first_attempt_share_b1_or_better=0.3333 (1/3 p3) first_attempt_share_a2=0.3333 (1/3 p3) \
         first_attempt_share_below_a2=0.3333 (1/3 p3)",
    );
    assert_eq!(result.counting_unit, CountingUnit::Events);
}

// ----- employment -----

fn employment_population() -> Vec<Person> {
    let mut full = Person::with(1, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    full.on(
        "2024-02-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let mut marginal = Person::with(2, 1990, Sex::Female, "SYR", "2023-01-01", "north");
    marginal.on("2024-02-01", job("E-2", EmploymentKind::Marginal));
    let mut both = Person::with(3, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    both.on("2024-02-01", job("E-3", EmploymentKind::Marginal));
    both.on("2024-03-01", job("E-4", EmploymentKind::SelfEmployed));
    let mut ended_on_d = Person::with(4, 1990, Sex::Female, "SYR", "2023-01-01", "north");
    ended_on_d.on(
        "2024-02-01",
        job("E-5", EmploymentKind::SocialInsurancePart),
    );
    ended_on_d.on("2024-12-31", job_ended("E-5"));
    let mut aged_65 = Person::with(5, 1959, Sex::Male, "SYR", "2023-01-01", "north");
    aged_65.on(
        "2024-02-01",
        job("E-6", EmploymentKind::SocialInsuranceFull),
    );
    let mut aged_14 = Person::with(6, 2010, Sex::Male, "SYR", "2023-01-01", "north");
    aged_14.on("2024-02-01", job("E-7", EmploymentKind::Marginal));
    let mut moved = Person::with(7, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    moved.on(
        "2024-02-01",
        job("E-8", EmploymentKind::SocialInsuranceFull),
    );
    moved.on("2024-06-01", moved_away());
    let mut starts_after_d = Person::with(8, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    starts_after_d.on(
        "2025-01-02",
        job("E-9", EmploymentKind::SocialInsuranceFull),
    );
    vec![
        full,
        marginal,
        both,
        ended_on_d,
        aged_65,
        aged_14,
        moved,
        starts_after_d,
    ]
}

#[test]
fn employment_rate_of_working_age_persons_with_marginal_jobs_apart() {
    let persons = employment_population();
    check(
        &render(&kpi(&persons, "employment_rate", D, &[]), &[]),
        "total: rate=0.4 (2/5 p5) marginal_only_rate=0.2 (1/5 p5)",
    );
    check(
        &render(&kpi(&persons, "employment_rate", D, &[Dimension::Sex]), &[]),
        "sex=female: rate=0 (0/2 p2) marginal_only_rate=0.5 (1/2 p2)
         sex=male: rate=0.6667 (2/3 p3) marginal_only_rate=0 (0/3 p3)
         total: rate=0.4 (2/5 p5) marginal_only_rate=0.2 (1/5 p5)",
    );
}

/// A job open when its holder moves away ends with the move: a person who comes back is employed
/// only through a job started after the return.
#[test]
fn employment_rate_after_a_return_counts_only_jobs_of_the_new_stay() {
    let mut stays = Person::with(1, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    stays.on(
        "2023-02-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let mut back_without_job = Person::with(2, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    back_without_job.on(
        "2023-02-01",
        job("E-2", EmploymentKind::SocialInsuranceFull),
    );
    back_without_job.on("2024-03-01", moved_away());
    back_without_job.on("2024-09-01", arrival("south"));
    let mut back_with_new_job = Person::with(3, 1990, Sex::Female, "SYR", "2023-01-01", "north");
    back_with_new_job.on("2023-02-01", job("E-3", EmploymentKind::Marginal));
    back_with_new_job.on("2024-03-01", moved_away());
    back_with_new_job.on("2024-09-01", arrival("south"));
    back_with_new_job.on("2024-10-01", job("E-4", EmploymentKind::SelfEmployed));
    let persons = [stays, back_without_job, back_with_new_job];

    check(
        &render(&kpi(&persons, "employment_rate", D, &[]), &[]),
        "total: rate=0.6667 (2/3 p3) marginal_only_rate=0 (0/3 p3)",
    );
    // While the two are away, only the one who stayed is counted.
    check(
        &render(&kpi(&persons, "employment_rate", "2024-06-30", &[]), &[]),
        "total: rate=1 (1/1 p1) marginal_only_rate=0 (0/1 p1)",
    );
    // Before the move, the marginal job still counts as marginal.
    check(
        &render(&kpi(&persons, "employment_rate", "2024-02-29", &[]), &[]),
        "total: rate=0.6667 (2/3 p3) marginal_only_rate=0.3333 (1/3 p3)",
    );
}

/// DOMAIN.md section 4 through the whole pipeline: the correction recorded on 2025-02-01 about
/// the job of 2024-06-01 changes the answer for 2024-12-31 only when known.
#[test]
fn a_late_correction_changes_a_past_reporting_date_only_when_known() {
    let mut person = Person::with(1, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    let started = person.on_recorded(
        "2024-06-01",
        "2024-06-02",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    person.correct(
        "2025-02-01T09:00:00Z",
        started,
        "2024-06-01",
        job("E-1", EmploymentKind::Marginal),
    );
    let persons = [person];
    let as_known_at = |known_at: &str| {
        let mut query = query("employment_rate", D, &[]);
        query.known_at = at(known_at);
        render(&run(&persons, &query), &[])
    };
    check(
        &as_known_at("2025-01-31T23:59:59Z"),
        "total: rate=1 (1/1 p1) marginal_only_rate=0 (0/1 p1)",
    );
    check(
        &as_known_at("2025-02-01T09:00:00Z"),
        "total: rate=0 (0/1 p1) marginal_only_rate=1 (1/1 p1)",
    );
    // The same past answer, asked twice, is the same bytes.
    let mut query = query("employment_rate", D, &[]);
    query.known_at = at("2025-01-31T23:59:59Z");
    let first = serde_json::to_string(&run(&persons, &query)).expect("serializes");
    let second = serde_json::to_string(&run(&persons, &query)).expect("serializes");
    assert_eq!(first, second);
}

#[test]
fn employment_by_years_since_arrival_is_the_cohort_curve_up_to_10_years() {
    let mut year_0_employed = Person::with(1, 1990, Sex::Male, "SYR", "2024-06-01", "north");
    year_0_employed.on(
        "2024-07-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let year_1 = Person::with(2, 1990, Sex::Female, "SYR", "2023-12-31", "north");
    let year_0 = Person::with(3, 1990, Sex::Female, "SYR", "2024-01-01", "north");
    let mut year_11 = Person::with(4, 1990, Sex::Male, "SYR", "2013-12-31", "north");
    year_11.on(
        "2014-02-01",
        job("E-4", EmploymentKind::SocialInsuranceFull),
    );
    let mut year_10 = Person::with(5, 1980, Sex::Male, "SYR", "2014-01-01", "north");
    year_10.on("2020-01-01", job("E-5", EmploymentKind::SelfEmployed));
    let persons = [year_0_employed, year_1, year_0, year_11, year_10];

    let result = kpi(&persons, "employment_by_years_since_arrival", D, &[]);
    check(
        &render(&result, &["rate"]),
        "years_since_arrival=0: rate=0.5 (1/2 p2)
         years_since_arrival=1: rate=0 (0/1 p1)
         years_since_arrival=10: rate=1 (1/1 p1)
         total: rate=0.5 (2/4 p4)",
    );
    assert_eq!(result.by, [Dimension::YearsSinceArrival]);

    let by_sex = kpi(
        &persons,
        "employment_by_years_since_arrival",
        D,
        &[Dimension::Sex],
    );
    check(
        &render(&by_sex, &["rate"]),
        "years_since_arrival=0,sex=female: rate=0 (0/1 p1)
         years_since_arrival=0,sex=male: rate=1 (1/1 p1)
         years_since_arrival=1,sex=female: rate=0 (0/1 p1)
         years_since_arrival=10,sex=male: rate=1 (1/1 p1)
         years_since_arrival=0: rate=0.5 (1/2 p2)
         years_since_arrival=1: rate=0 (0/1 p1)
         years_since_arrival=10: rate=1 (1/1 p1)
         sex=female: rate=0 (0/2 p2)
         sex=male: rate=1 (2/2 p2)
         total: rate=0.5 (2/4 p4)",
    );
    // Naming the implicit dimension again changes nothing.
    let named = kpi(
        &persons,
        "employment_by_years_since_arrival",
        D,
        &[Dimension::YearsSinceArrival],
    );
    assert_eq!(named, result);
}

/// The published curve counts from the entry into Germany: the entry date of the first arrival,
/// or the first arrival itself where none is recorded (counted in the metadata).
#[test]
fn employment_by_years_since_entry_counts_from_the_entry_into_germany() {
    let arrived_with_entry = |number, entered_on: &str, arrived_on: &str| {
        let mut person = Person::new(number);
        person.on(arrived_on, registration(1990, Sex::Male, "SYR", None));
        person.on(
            arrived_on,
            ArrivalRecorded {
                entry_date: Some(date(entered_on)),
                ..arrival("north")
            },
        );
        person
    };
    // Entered in 2016, came to the city in 2019: 8 years since entry, 5 since arrival.
    let mut entered_early = arrived_with_entry(1, "2016-10-01", "2019-06-01");
    entered_early.on(
        "2020-01-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    // Entered a year before D, arrived the same week: 1 year either way.
    let entered_recently = arrived_with_entry(2, "2023-12-20", "2023-12-27");
    // No entry date recorded: counted from the arrival, 3 years, and reported as a fallback.
    let mut no_entry_date = Person::with(3, 1990, Sex::Female, "SYR", "2021-03-01", "north");
    no_entry_date.on("2022-01-01", job("E-3", EmploymentKind::SelfEmployed));
    // Entered more than 10 whole years before D: outside the curve, though arrived in 2015.
    let entered_long_ago = arrived_with_entry(4, "2013-05-01", "2015-02-01");
    // A child, not of working age: outside the table and not counted as a fallback.
    let child = Person::child(5, 2018, "2021-03-01");
    // A return does not move the entry: the first arrival's entry date stays.
    let mut returned = arrived_with_entry(6, "2016-10-01", "2017-01-01");
    returned.on("2018-01-01", moved_away());
    returned.on(
        "2020-01-01",
        ArrivalRecorded {
            entry_date: Some(date("2019-12-31")),
            ..arrival("north")
        },
    );
    let persons = [
        entered_early,
        entered_recently,
        no_entry_date,
        entered_long_ago,
        child,
        returned,
    ];

    let result = kpi(&persons, "employment_by_years_since_entry", D, &[]);
    check(
        &render(&result, &["rate"]),
        "years_since_entry=1: rate=0 (0/1 p1)
         years_since_entry=3: rate=1 (1/1 p1)
         years_since_entry=8: rate=0.5 (1/2 p2)
         total: rate=0.5 (2/4 p4)",
    );
    assert_eq!(result.by, [Dimension::YearsSinceEntry]);
    assert_eq!(result.metadata.entry_date_fallbacks, Some(1));

    // By arrival the same persons fall into other years, and no fallback is reported.
    let by_arrival = kpi(&persons, "employment_by_years_since_arrival", D, &[]);
    check(
        &render(&by_arrival, &["rate"]),
        "years_since_arrival=1: rate=0 (0/1 p1)
         years_since_arrival=3: rate=1 (1/1 p1)
         years_since_arrival=5: rate=1 (1/1 p1)
         years_since_arrival=7: rate=0 (0/1 p1)
         years_since_arrival=9: rate=0 (0/1 p1)
         total: rate=0.4 (2/5 p5)",
    );
    assert_eq!(by_arrival.metadata.entry_date_fallbacks, None);

    // The dimension works for any indicator: the child is counted (a fallback) as present.
    let present = kpi(
        &persons,
        "population_present",
        D,
        &[Dimension::YearsSinceEntry],
    );
    assert_eq!(present.metadata.entry_date_fallbacks, Some(2));
}

#[test]
fn sgb2_integration_rate_per_average_recipient_at_month_ends() {
    let mut ended_for_a_job = Person::arrived(1, 1990, "2023-01-01", "north");
    ended_for_a_job.on("2023-06-01", benefits(BenefitKind::Sgb2));
    ended_for_a_job.on("2024-06-15", benefits_ended(BenefitKind::Sgb2));
    ended_for_a_job.on(
        "2024-06-15",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let mut three_starts = Person::arrived(2, 1990, "2023-01-01", "north");
    three_starts.on("2024-01-01", benefits(BenefitKind::Sgb2));
    three_starts.on("2024-03-10", training("T-2"));
    three_starts.on(
        "2024-03-20",
        job("E-2", EmploymentKind::SocialInsuranceFull),
    ); // same month
    three_starts.on("2024-09-01", job("E-3", EmploymentKind::SelfEmployed));
    let mut moved = Person::arrived(3, 1990, "2023-01-01", "north");
    moved.on("2024-07-01", benefits(BenefitKind::Sgb2));
    moved.on("2024-08-01", job("E-4", EmploymentKind::Marginal)); // not an integration
    moved.on("2024-10-15", moved_away());
    let mut no_benefits = Person::arrived(4, 1990, "2023-01-01", "north");
    no_benefits.on(
        "2024-05-01",
        job("E-5", EmploymentKind::SocialInsuranceFull),
    );
    let mut asylblg = Person::arrived(5, 1990, "2023-01-01", "north");
    asylblg.on("2024-01-01", benefits(BenefitKind::Asylblg));
    asylblg.on(
        "2024-02-01",
        job("E-6", EmploymentKind::SocialInsuranceFull),
    );
    let mut from_december = Person::arrived(6, 1990, "2023-01-01", "north");
    from_december.on("2024-12-01", benefits(BenefitKind::Sgb2));
    let persons = [
        ended_for_a_job,
        three_starts,
        moved,
        no_benefits,
        asylblg,
        from_december,
    ];

    // Month-ends 2024-01-31 … 2024-12-31: stocks 5 + 12 + 3 + 1 = 21 person-months; 3
    // integrations; 3 / (21 / 12).
    check(
        &render(&kpi(&persons, "sgb2_integration_rate", D, &[]), &[]),
        "total: rate=1.7143 (3/21 p4)",
    );
    // Month-ends 2023-12-31 … 2024-11-30: stocks 6 + 11 + 3 + 0 = 20; 3 / (20 / 12).
    check(
        &render(
            &kpi(&persons, "sgb2_integration_rate", "2024-12-15", &[]),
            &[],
        ),
        "total: rate=1.8 (3/20 p3)",
    );
}

// ----- idle time -----

#[test]
fn idle_days_over_idle_working_age_persons_without_a_child_under_3() {
    let persons = idle_population();
    // Idle 365 (since arrival), 91 (course ended), 30 (parent of a 3-year-old), 0 (job ended on
    // D) and 121 (since the return) days: median 91, p75 121, three above 90.
    check(
        &render(&kpi(&persons, "idle_days", D, &[]), &[]),
        "total: median_days=91 (-/5 p5) p75_days=121 (-/5 p5) share_over_90_days=0.6 (3/5 p5)",
    );
    check(
        &render(&kpi(&persons, "idle_days", D, &[Dimension::District]), &[]),
        "district=north: median_days=91 (-/3 p3) p75_days=228 (-/3 p3) share_over_90_days=0.6667 (2/3 p3)
         district=south: median_days=75.5 (-/2 p2) p75_days=98.25 (-/2 p2) share_over_90_days=0.5 (1/2 p2)
         total: median_days=91 (-/5 p5) p75_days=121 (-/5 p5) share_over_90_days=0.6 (3/5 p5)",
    );
}

#[test]
fn idle_list_is_person_level_and_not_an_aggregate() {
    let (views, households) = views(&idle_population(), NOW);
    let error =
        compute(&query("idle_list", D, &[]), &views, &households).expect_err("person-level");
    assert!(matches!(error, KpiError::PersonLevel { ref key, .. } if key == "idle_list"));
    assert!(error.to_string().contains("read model"), "{error}");
    let definition = definition("idle_list").expect("in the catalogue");
    assert!(definition.person_level);
    assert!(definition.disaggregations.is_empty());
}

// ----- children -----

#[test]
fn kita_rate_for_children_aged_0_to_2_and_3_to_5() {
    let mut age_1_in_kita = Person::child(1, 2023, "2023-06-01");
    age_1_in_kita.on("2024-01-01", kita_started());
    let age_2_without = Person::child(2, 2022, "2023-06-01");
    let mut age_0_starts_on_d = Person::child(3, 2024, "2024-06-01");
    age_0_starts_on_d.on("2024-12-31", kita_started());
    let mut age_4_ended_on_d = Person::child(4, 2020, "2022-06-01");
    age_4_ended_on_d.on("2023-01-01", kita_started());
    age_4_ended_on_d.on("2024-12-31", kita_ended());
    let mut age_5_in_kita = Person::child(5, 2019, "2021-06-01");
    age_5_in_kita.on("2022-01-01", kita_started());
    let mut age_3_moved = Person::child(6, 2021, "2022-06-01");
    age_3_moved.on("2023-01-01", kita_started());
    age_3_moved.on("2024-10-01", moved_away());

    let result = kpi(
        &[
            age_1_in_kita,
            age_2_without,
            age_0_starts_on_d,
            age_4_ended_on_d,
            age_5_in_kita,
            age_3_moved,
        ],
        "kita_rate",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: rate_0_2=0.6667 (2/3 p3) rate_3_5=0.5 (1/2 p2)",
    );
}

#[test]
fn school_rate_and_days_from_language_class_to_regular_class() {
    let mut age_6 = Person::child(1, 2018, "2024-08-01");
    age_6.on("2024-08-15", school(true));
    age_6.on("2024-11-15", regular_class()); // 92 days
    let age_15_not_enrolled = Person::child(2, 2009, "2023-06-01");
    let mut age_16 = Person::child(3, 2008, "2023-06-01");
    age_16.on("2023-08-01", school(false));
    let mut left_school = Person::child(4, 2012, "2022-06-01");
    left_school.on("2023-01-10", school(true));
    left_school.on("2023-12-31", regular_class()); // outside the last year
    left_school.on("2024-07-01", school_left());
    let mut moved = Person::child(5, 2010, "2023-06-01");
    moved.on("2024-01-15", school(true));
    moved.on("2024-03-15", regular_class()); // 60 days, counted although the pupil moved
    moved.on("2024-06-01", moved_away());

    let result = kpi(
        &[age_6, age_15_not_enrolled, age_16, left_school, moved],
        "school_rate",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: rate=0.3333 (1/3 p3) median_days_language_class_to_regular_class=76 (-/2 p2) \
         p75_days_language_class_to_regular_class=84 (-/2 p2)",
    );
}

// ----- recognition, mentoring -----

#[test]
fn recognition_outcomes_of_decisions_in_the_last_year() {
    let mut full = Person::arrived(1, 1990, "2023-01-01", "north");
    full.on("2024-01-10", recognition_applied());
    full.on("2024-04-10", recognition_decided(RecognitionOutcome::Full)); // 91 days
    let mut two = Person::arrived(2, 1990, "2023-01-01", "north");
    two.on("2023-11-01", recognition_applied());
    two.on(
        "2024-02-01",
        recognition_decided(RecognitionOutcome::Partial),
    ); // 92 days
    two.on("2024-03-01", recognition_applied());
    two.on(
        "2024-09-01",
        recognition_decided(RecognitionOutcome::CompensationMeasure),
    ); // 184 days
    let mut outside = Person::arrived(3, 1990, "2022-01-01", "north");
    outside.on("2023-01-01", recognition_applied());
    outside.on(
        "2023-12-31",
        recognition_decided(RecognitionOutcome::Negative),
    );
    let mut pending = Person::arrived(4, 1990, "2023-01-01", "north");
    pending.on("2024-06-01", recognition_applied());

    let result = kpi(
        &[full, two, outside, pending],
        "recognition_outcomes",
        D,
        &[],
    );
    check(
        &render(&result, &[]),
        "total: share_full=0.3333 (1/3 p2) share_partial=0.3333 (1/3 p2) \
         share_compensation_measure=0.3333 (1/3 p2) share_negative=0 (0/3 p2) \
         median_days=92 (-/3 p2) p75_days=138 (-/3 p2)",
    );
}

#[test]
fn mentoring_coverage_of_persons_present() {
    let mut active = Person::arrived(1, 1990, "2023-01-01", "north");
    active.on("2024-01-01", mentor("V-1"));
    let mut ended_on_d = Person::arrived(2, 1990, "2023-01-01", "north");
    ended_on_d.on("2024-01-01", mentor("V-2"));
    ended_on_d.on("2024-12-31", mentoring_ended("V-2"));
    let mut second_mentor = Person::arrived(3, 1990, "2023-01-01", "north");
    second_mentor.on("2024-01-01", mentor("V-3"));
    second_mentor.on("2024-06-01", mentoring_ended("V-3"));
    second_mentor.on("2024-07-01", mentor("V-4"));
    let mut moved = Person::arrived(4, 1990, "2023-01-01", "north");
    moved.on("2024-01-01", mentor("V-5"));
    moved.on("2024-06-01", moved_away());
    let none = Person::arrived(5, 1990, "2023-01-01", "north");

    let result = kpi(
        &[active, ended_on_d, second_mentor, moved, none],
        "mentoring_coverage",
        D,
        &[],
    );
    check(&render(&result, &[]), "total: rate=0.5 (2/4 p4)");
}

// ----- the chain -----

#[test]
fn chain_funnel_by_arrival_cohort() {
    let mut whole_chain = Person::arrived(1, 1990, "2023-01-10", "north");
    whole_chain.on("2023-02-10", entitled()); // 31 days
    whole_chain.on("2023-03-01", course_registered("IK-1", CourseType::General));
    whole_chain.on("2023-04-10", course_started("IK-1")); // 59 days
    whole_chain.on("2023-12-10", test_taken(Exam::Dtz, Level::B1, true)); // 244 days
    whole_chain.on("2024-01-10", measure("M-1")); // 31 days
    whole_chain.on(
        "2024-06-10",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    ); // 152 days
    let mut entitled_only = Person::arrived(2, 1990, "2023-03-01", "north");
    entitled_only.on("2023-03-11", entitled()); // 10 days
    let mut straight_to_work = Person::arrived(3, 1990, "2023-05-05", "north");
    straight_to_work.on("2023-06-01", job("E-2", EmploymentKind::Marginal));
    straight_to_work.on(
        "2023-08-01",
        job("E-3", EmploymentKind::SocialInsuranceFull),
    );
    let mut cohort_2024 = Person::arrived(4, 1990, "2024-02-01", "south");
    cohort_2024.on("2024-02-21", entitled()); // 20 days
    cohort_2024.on("2024-02-25", course_registered("IK-4", CourseType::Alpha));
    cohort_2024.on("2024-03-01", course_started("IK-4")); // 9 days
    let arrives_after_d = Person::arrived(5, 1990, "2025-02-01", "north");
    let never_arrived = Person::registered(6, 1990, Sex::Male, "SYR");

    let result = kpi(
        &[
            whole_chain,
            entitled_only,
            straight_to_work,
            cohort_2024,
            arrives_after_d,
            never_arrived,
        ],
        "chain_funnel",
        D,
        &[],
    );
    check(
        &render(
            &result,
            &[
                "reached_arrival",
                "reached_entitlement",
                "reached_course",
                "reached_b1",
                "reached_measure_or_training",
                "reached_employment",
            ],
        ),
        "arrival_cohort=2023: reached_arrival=1 (3/3 p3) reached_entitlement=0.6667 (2/3 p3) \
         reached_course=0.3333 (1/3 p3) reached_b1=0.3333 (1/3 p3) \
         reached_measure_or_training=0.3333 (1/3 p3) reached_employment=0.6667 (2/3 p3)
         arrival_cohort=2024: reached_arrival=1 (1/1 p1) reached_entitlement=1 (1/1 p1) \
         reached_course=1 (1/1 p1) reached_b1=0 (0/1 p1) \
         reached_measure_or_training=0 (0/1 p1) reached_employment=0 (0/1 p1)
         total: reached_arrival=1 (4/4 p4) reached_entitlement=0.75 (3/4 p4) \
         reached_course=0.5 (2/4 p4) reached_b1=0.25 (1/4 p4) \
         reached_measure_or_training=0.25 (1/4 p4) reached_employment=0.5 (2/4 p4)",
    );
    check(
        &render(
            &result,
            &[
                "median_days_arrival_to_entitlement",
                "p75_days_arrival_to_entitlement",
                "median_days_entitlement_to_course",
                "p75_days_entitlement_to_course",
                "median_days_course_to_b1",
                "median_days_b1_to_measure_or_training",
                "median_days_measure_or_training_to_employment",
            ],
        ),
        "arrival_cohort=2023: median_days_arrival_to_entitlement=20.5 (-/2 p2) \
         p75_days_arrival_to_entitlement=25.75 (-/2 p2) median_days_entitlement_to_course=59 (-/1 p1) \
         p75_days_entitlement_to_course=59 (-/1 p1) median_days_course_to_b1=244 (-/1 p1) \
         median_days_b1_to_measure_or_training=31 (-/1 p1) \
         median_days_measure_or_training_to_employment=152 (-/1 p1)
         arrival_cohort=2024: median_days_arrival_to_entitlement=20 (-/1 p1) \
         p75_days_arrival_to_entitlement=20 (-/1 p1) median_days_entitlement_to_course=9 (-/1 p1) \
         p75_days_entitlement_to_course=9 (-/1 p1) median_days_course_to_b1=- (-/0 p0) \
         median_days_b1_to_measure_or_training=- (-/0 p0) \
         median_days_measure_or_training_to_employment=- (-/0 p0)
         total: median_days_arrival_to_entitlement=20 (-/3 p3) \
         p75_days_arrival_to_entitlement=25.5 (-/3 p3) median_days_entitlement_to_course=34 (-/2 p2) \
         p75_days_entitlement_to_course=46.5 (-/2 p2) median_days_course_to_b1=244 (-/1 p1) \
         median_days_b1_to_measure_or_training=31 (-/1 p1) \
         median_days_measure_or_training_to_employment=152 (-/1 p1)",
    );
}

// ----- unknown birth years -----

/// A person registered with an unknown birth year, arrived in `north` on `arrived_on`.
fn unknown_birth_year(number: u128, arrived_on: &str, household: Option<u128>) -> Person {
    let mut person = Person::new(number);
    person.on(
        arrived_on,
        registration(BirthYear::Unknown, Sex::Female, "SYR", household),
    );
    person.on(arrived_on, arrival("north"));
    person
}

/// A person without a birth year has no age: every indicator over an age group leaves them out,
/// and the answer counts those present on D in its metadata. Indicators that do not depend on age
/// count them as anyone else.
#[test]
fn persons_with_an_unknown_birth_year_are_left_out_of_age_groups_and_counted() {
    let mut employed = Person::with(1, 1990, Sex::Male, "SYR", "2020-01-01", "north");
    employed.on(
        "2021-01-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let mut unknown_employed = unknown_birth_year(2, "2020-01-01", None);
    unknown_employed.on(
        "2021-01-01",
        job("E-2", EmploymentKind::SocialInsuranceFull),
    );
    let mut unknown_moved = unknown_birth_year(3, "2020-01-01", None);
    unknown_moved.on("2023-05-01", moved_away());
    let mut age_3_in_kita = Person::child(4, 2021, "2022-01-01");
    age_3_in_kita.on("2022-03-01", kita_started());
    let mut unknown_in_kita = unknown_birth_year(5, "2022-01-01", None);
    unknown_in_kita.on("2022-03-01", kita_started());
    let mut age_8_at_school = Person::child(6, 2016, "2022-01-01");
    age_8_at_school.on("2022-03-01", school(false));
    // An idle adult whose household holds a member without a birth year: that member is not
    // taken for a child under 3, so the adult is idle.
    let mut idle_parent = Person::new(7);
    idle_parent.on(
        "2024-01-01",
        registration(1985, Sex::Female, "SYR", Some(99)),
    );
    idle_parent.on("2024-01-01", arrival("north"));
    let unknown_in_household = unknown_birth_year(8, "2024-01-01", Some(99));
    let persons = [
        employed,
        unknown_employed,
        unknown_moved,
        age_3_in_kita,
        unknown_in_kita,
        age_8_at_school,
        idle_parent,
        unknown_in_household,
    ];
    // Present on D without a birth year: persons 2, 5 and 8 (person 3 has moved away).
    let left_out = 3;

    let employment = kpi(&persons, "employment_rate", D, &[]);
    check(&render(&employment, &["rate"]), "total: rate=0.5 (1/2 p2)");
    assert_eq!(employment.metadata.unknown_birth_year_excluded, left_out);
    let curve = kpi(&persons, "employment_by_years_since_entry", D, &[]);
    check(
        &render(&curve, &["rate"]),
        "years_since_entry=0: rate=0 (0/1 p1)
         years_since_entry=4: rate=1 (1/1 p1)
         total: rate=0.5 (1/2 p2)",
    );
    assert_eq!(curve.metadata.unknown_birth_year_excluded, left_out);
    let kita = kpi(&persons, "kita_rate", D, &[]);
    check(&render(&kita, &["rate_3_5"]), "total: rate_3_5=1 (1/1 p1)");
    assert_eq!(kita.metadata.unknown_birth_year_excluded, left_out);
    let school_rate = kpi(&persons, "school_rate", D, &[]);
    check(&render(&school_rate, &["rate"]), "total: rate=1 (1/1 p1)");
    assert_eq!(school_rate.metadata.unknown_birth_year_excluded, left_out);
    let idle = kpi(&persons, "idle_days", D, &[]);
    check(
        &render(&idle, &["median_days"]),
        "total: median_days=365 (-/1 p1)",
    );
    assert_eq!(idle.metadata.unknown_birth_year_excluded, left_out);

    // Not age-based: nobody is left out, and age_band shows the unknown ones as unknown.
    let present = kpi(&persons, "population_present", D, &[Dimension::AgeBand]);
    check(
        &render(&present, &["persons"]),
        "age_band=3-5: persons=1 (1/- p1)
         age_band=6-14: persons=1 (1/- p1)
         age_band=25-44: persons=2 (2/- p2)
         age_band=unknown: persons=3 (3/- p3)
         total: persons=7 (7/- p7)",
    );
    assert_eq!(present.metadata.unknown_birth_year_excluded, 0);
}

// ----- the catalogue and queries -----

#[test]
fn every_aggregate_indicator_reports_the_measures_its_definition_lists() {
    let households = Households::default();
    for definition in catalogue().iter().filter(|d| !d.person_level) {
        let result = compute(&query(definition.key, D, &[]), &[], &households)
            .expect("an empty population is a valid input");
        let reported: Vec<&str> = result
            .total
            .measures
            .iter()
            .map(|measure| measure.name.as_str())
            .collect();
        let defined: Vec<&str> = definition
            .measures
            .iter()
            .map(|measure| measure.name)
            .collect();
        assert_eq!(reported, defined, "{}", definition.key);
        assert_eq!(result.counting_unit, definition.counting_unit);
        assert_eq!(result.denominator, definition.denominator);
    }
    assert_eq!(catalogue().len(), 33);
}

#[test]
fn invalid_queries_are_typed_errors_naming_what_is_allowed() {
    let households = Households::default();
    let error = compute(&query("happiness", D, &[]), &[], &households).expect_err("unknown");
    assert!(matches!(error, KpiError::UnknownKey { .. }));
    assert!(
        error
            .to_string()
            .contains("population_present, course_waiting_days"),
        "{error}"
    );

    let three = [Dimension::District, Dimension::Sex, Dimension::AgeBand];
    let error = compute(&query("employment_rate", D, &three), &[], &households).expect_err("3");
    assert!(matches!(
        error,
        KpiError::TooManyDimensions {
            requested: 3,
            max: 2,
            ..
        }
    ));
    let two = [Dimension::District, Dimension::Sex];
    let error = compute(&query("chain_funnel", D, &two), &[], &households)
        .expect_err("the implicit cohort makes three");
    assert!(
        error
            .to_string()
            .contains("including its implicit `arrival_cohort`"),
        "{error}"
    );

    let twice = [Dimension::Sex, Dimension::Sex];
    let error = compute(&query("employment_rate", D, &twice), &[], &households).expect_err("twice");
    assert!(matches!(
        error,
        KpiError::RepeatedDimension {
            dimension: Dimension::Sex
        }
    ));

    let error = resolve_dimensions(
        definition("idle_list").expect("defined"),
        &[Dimension::District],
    )
    .expect_err("not allowed");
    assert!(matches!(error, KpiError::DimensionNotAllowed { .. }));
    assert!(error.to_string().contains("it allows none"), "{error}");

    let error = "district,sex".parse::<Dimension>().expect_err("one name");
    assert!(
        error.to_string().contains("district, sex, age_band"),
        "{error}"
    );
    assert_eq!("age_band".parse::<Dimension>(), Ok(Dimension::AgeBand));

    // The cut is the view set's (a view carries none): views of one cut answer no query of another.
    let state = State::from_journals(journals(&population()), None, None);
    let views = ViewSet::for_state(&state, at("2024-06-01"));
    let error = views
        .compute(
            &query("population_present", D, &[]),
            &Registers::default(),
            &Offers::default(),
            &Volunteers::default(),
        )
        .expect_err("views of another cut");
    assert!(matches!(error, KpiError::ViewsOutOfCut { .. }));
}

#[test]
fn results_are_byte_identical_for_the_same_inputs() {
    let persons = idle_population();
    let query = query("idle_days", D, &[Dimension::District, Dimension::Sex]);
    let first = serde_json::to_string(&run(&persons, &query)).expect("serializes");
    let mut reversed = persons.clone();
    reversed.reverse();
    let second = serde_json::to_string(&run(&reversed, &query)).expect("serializes");
    assert_eq!(first, second);
    assert!(first.starts_with(r#"{"key":"idle_days","as_of":"2024-12-31","known_at":"2030-01-01T00:00:00Z","counting_unit":"persons""#), "{first}");
    assert!(first.contains(r#""value":0.6667"#), "{first}");
}

// ----- contributions (what kpiChanged counts before it pushes) -----

#[test]
fn persons_changed_counts_who_joined_left_or_counts_differently_in_the_table() {
    use journey_projections::kpi::contributions;
    let query = query("employment_rate", D, &[Dimension::District]);
    let of = |persons: &[Person]| {
        let (persons_views, households) = views(persons, NOW);
        contributions(&query, &persons_views, &households, &Default::default())
            .expect("valid query")
    };
    let changed = |before: &[Person], after: &[Person]| of(after).persons_changed(&of(before));
    // Given three working-age persons present and a child (outside the population).
    let adult = |number| Person::with(number, 1990, Sex::Female, "SYR", "2023-01-01", "north");
    let before = vec![
        adult(1),
        adult(2),
        adult(3),
        Person::with(4, 2020, Sex::Male, "SYR", "2023-01-01", "north"),
    ];
    // When nothing changes, nobody counts.
    assert_eq!(changed(&before, &before), 0);
    // When one of them takes a job, one person counts differently.
    let mut after = before.clone();
    after[0].on(
        "2024-05-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    assert_eq!(changed(&before, &after), 1);
    // When the child starts at a Kita, the employment table does not change.
    let mut after = before.clone();
    after[3].on("2024-05-01", kita_started());
    assert_eq!(changed(&before, &after), 0);
    // When one moves away and another adult arrives: one left, one joined.
    let mut after = before.clone();
    after[1].on("2024-05-01", moved_away());
    after.push(adult(5));
    assert_eq!(changed(&before, &after), 2);
    // The count is symmetric: leaving changes the table as much as joining.
    assert_eq!(changed(&after, &before), 2);
}
