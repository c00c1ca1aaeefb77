//! The education indicators (issue 14) on small explicit populations, computed by hand: given these
//! events, the answer is exactly this. D is 2024-12-31, so "the 12 months up to D" are 2024 and
//! "12 to 24 months before D" is 2023.

mod support;

use journey_core::catalogue::{
    Certificate, CourseLeftEarly, CourseType, EndOutcome, Exam, LeaveReason, Level,
    OrientationTestTaken, SchoolLeft, TrainingEnded,
};
use journey_projections::kpi::Dimension;
use support::*;

const D: &str = "2024-12-31";

fn orientation(passed: bool) -> OrientationTestTaken {
    OrientationTestTaken { passed }
}

fn left_with(certificate: Certificate) -> SchoolLeft {
    SchoolLeft { certificate }
}

fn left_early(course_id: &str, reason: LeaveReason) -> CourseLeftEarly {
    CourseLeftEarly {
        course_id: course_id.to_owned(),
        reason,
    }
}

#[test]
fn orientation_test_pass_rate_counts_every_result_of_the_year() {
    let mut twice = Person::arrived(1, 1990, "2023-01-01", "north");
    twice.on("2024-02-01", orientation(false));
    twice.on("2024-05-01", orientation(true));
    let mut once = Person::arrived(2, 1990, "2023-01-01", "south");
    once.on("2024-06-01", orientation(true));
    let mut before = Person::arrived(3, 1990, "2023-01-01", "north");
    before.on("2023-12-31", orientation(true)); // D minus 12 months: outside
    let persons = [twice, once, before];
    check(
        &render(
            &kpi(
                &persons,
                "orientation_test_pass_rate",
                D,
                &[Dimension::District],
            ),
            &[],
        ),
        "district=north: share_passed=0.5 (1/2 p1)
         district=south: share_passed=1 (1/1 p1)
         total: share_passed=0.6667 (2/3 p2)",
    );
    // Two persons are fewer than k = 3: suppressed, never shown as a number.
    check(
        &render(
            &kpi_suppressed(&persons, "orientation_test_pass_rate", D, &[], 3),
            &[],
        ),
        "total: share_passed=*",
    );
}

/// Pupils: 1 from a language class through a Hauptschule certificate into training; 2 from a
/// regular class without a certificate; 3 left with the Abitur in 2023; 4 in a language class
/// until moving away; 5 in a language class, moved to a regular one; 6 enrolled after D.
fn pupils() -> Vec<Person> {
    let mut through = Person::child(1, 2006, "2019-08-01");
    through.on("2020-01-01", school(true));
    through.on("2021-01-01", regular_class());
    through.on("2024-06-30", left_with(Certificate::Hauptschule));
    through.on("2024-09-01", training("T-1"));
    let mut regular = Person::child(2, 2006, "2019-08-01");
    regular.on("2020-01-01", school(false));
    regular.on("2024-07-01", left_with(Certificate::None));
    let mut earlier = Person::child(3, 2004, "2017-08-01");
    earlier.on("2018-01-01", school(false));
    earlier.on("2023-07-01", left_with(Certificate::Abitur));
    let mut moved = Person::child(4, 2010, "2021-08-01");
    moved.on("2022-01-01", school(true));
    moved.on("2024-03-01", moved_away());
    let mut moving_up = Person::child(5, 2012, "2023-07-01");
    moving_up.on("2023-08-01", school(true));
    moving_up.on("2024-02-01", regular_class());
    let mut later = Person::child(6, 2015, "2025-01-10");
    later.on("2025-02-01", school(true));
    vec![through, regular, earlier, moved, moving_up, later]
}

#[test]
fn school_leaving_certificates_by_type_over_the_leavings_of_the_year() {
    check(
        &render(&kpi(&pupils(), "school_leaving_certificates", D, &[]), &[]),
        "total: share_none=0.5 (1/2 p2) share_hauptschule=0.5 (1/2 p2) share_realschule=0 (0/2 p2) share_abitur=0 (0/2 p2) share_unknown=0 (0/2 p2)",
    );
    // In 2023 the one leaving was the Abitur; the move away of 2024 is no leaving.
    check(
        &render(
            &kpi(&pupils(), "school_leaving_certificates", "2023-12-31", &[]),
            &["share_abitur"],
        ),
        "total: share_abitur=1 (1/1 p1)",
    );
}

#[test]
fn the_transition_from_the_language_class_to_training() {
    check(
        &render(&kpi(&pupils(), "school_to_training_transition", D, &[]), &[]),
        "total: reached_regular_class=0.6667 (2/3 p3) reached_school_leaving=0.3333 (1/3 p3) reached_certificate=0.3333 (1/3 p3) reached_training=0.3333 (1/3 p3)",
    );
    // Before the first pupil left school, nobody had.
    check(
        &render(
            &kpi(
                &pupils(),
                "school_to_training_transition",
                "2024-06-29",
                &[],
            ),
            &["reached_school_leaving", "reached_training"],
        ),
        "total: reached_school_leaving=0 (0/3 p3) reached_training=0 (0/3 p3)",
    );
}

#[test]
fn training_and_measure_outcomes_over_the_spells_ended_in_the_year() {
    let mut completed = Person::arrived(7, 1995, "2020-01-01", "north");
    completed.on("2021-09-01", training("T-7"));
    completed.on("2024-06-30", training_ended("T-7"));
    completed.on("2024-01-10", measure("M-1"));
    completed.on("2024-03-01", measure_ended("M-1"));
    let mut dropped = Person::arrived(8, 1995, "2020-01-01", "north");
    dropped.on("2023-09-01", training("T-8"));
    dropped.on(
        "2024-03-01",
        TrainingEnded {
            training_id: "T-8".to_owned(),
            outcome: EndOutcome::Aborted,
        },
    );
    dropped.on("2024-04-01", training("T-9")); // open on D
    dropped.on("2024-02-01", measure("M-2"));
    dropped.on(
        "2024-02-20",
        journey_core::catalogue::MeasureEnded {
            measure_id: "M-2".to_owned(),
            outcome: EndOutcome::Aborted,
        },
    );
    dropped.on("2024-05-01", measure("M-3"));
    dropped.on("2024-08-01", measure_ended("M-3"));
    let mut moved = Person::arrived(9, 1995, "2020-01-01", "south");
    moved.on("2023-06-01", measure("M-4"));
    moved.on("2023-09-01", measure_ended("M-4")); // 2023: outside
    moved.on("2023-09-01", training("T-10"));
    moved.on("2024-05-01", moved_away());
    let persons = [completed, dropped, moved];
    check(
        &render(&kpi(&persons, "training_outcomes", D, &[]), &[]),
        "total: share_completed=0.3333 (1/3 p3) share_aborted=0.3333 (1/3 p3) share_moved_away=0.3333 (1/3 p3)",
    );
    check(
        &render(&kpi(&persons, "measure_outcomes", D, &[]), &[]),
        "total: share_completed=0.6667 (2/3 p2) share_aborted=0.3333 (1/3 p2) share_moved_away=0 (0/3 p2)",
    );
}

#[test]
fn course_reentry_follows_the_courses_left_early_a_year_before() {
    let course = |person: &mut Person, id: &str, registered: &str, started: &str| {
        person.on(registered, course_registered(id, CourseType::General));
        person.on(started, course_started(id));
    };
    let mut back = Person::arrived(10, 1990, "2022-06-01", "north");
    course(&mut back, "IK-1", "2022-09-01", "2022-10-01");
    back.on("2023-03-01", left_early("IK-1", LeaveReason::Illness));
    course(&mut back, "IK-2", "2023-10-01", "2024-01-15");
    let mut registered = Person::arrived(11, 1990, "2022-06-01", "north");
    course(&mut registered, "IK-3", "2022-10-01", "2022-11-01");
    registered.on("2023-06-01", left_early("IK-3", LeaveReason::Childcare));
    registered.on("2024-06-01", course_registered("IK-4", CourseType::Alpha));
    let mut gone = Person::arrived(12, 1990, "2022-06-01", "north");
    course(&mut gone, "IK-5", "2023-01-01", "2023-02-01");
    gone.on("2023-05-01", left_early("IK-5", LeaveReason::Other));
    let mut moving = Person::arrived(13, 1990, "2022-06-01", "north");
    course(&mut moving, "IK-6", "2023-01-01", "2023-02-01");
    moving.on("2023-04-01", left_early("IK-6", LeaveReason::Moved)); // not counted
    let mut recent = Person::arrived(14, 1990, "2022-06-01", "north");
    course(&mut recent, "IK-7", "2023-11-01", "2023-12-01");
    recent.on("2024-03-01", left_early("IK-7", LeaveReason::Other)); // within the year: too recent
    let persons = [back, registered, gone, moving, recent];
    check(
        &render(&kpi(&persons, "course_reentry", D, &[]), &[]),
        "total: share_registered_again=0.6667 (2/3 p3) share_started_again=0.3333 (1/3 p3)",
    );
    // On 2024-03-31 the window holds leavings up to 2023-03-31: the first person's only.
    check(
        &render(&kpi(&persons, "course_reentry", "2024-03-31", &[]), &[]),
        "total: share_registered_again=1 (1/1 p1) share_started_again=1 (1/1 p1)",
    );
}

#[test]
fn dtz_results_are_linked_to_the_course_they_end() {
    let mut general = Person::arrived(15, 1990, "2023-01-01", "north");
    general.on("2023-08-01", course_registered("IK-1", CourseType::General));
    general.on("2023-09-01", course_started("IK-1"));
    general.on("2024-03-01", course_completed("IK-1"));
    general.on("2024-03-10", test_taken(Exam::Dtz, Level::B1, true));
    let mut alpha = Person::arrived(16, 1990, "2023-01-01", "north");
    alpha.on("2023-05-01", course_registered("IK-2", CourseType::Alpha));
    alpha.on("2023-06-01", course_started("IK-2"));
    alpha.on("2024-02-01", test_taken(Exam::Dtz, Level::A2, true));
    alpha.on("2024-08-01", test_taken(Exam::Dtz, Level::B1, false));
    let mut no_course = Person::arrived(17, 1990, "2023-01-01", "south");
    no_course.on("2024-04-01", test_taken(Exam::Dtz, Level::B1, true));
    no_course.on("2024-04-02", test_taken(Exam::Telc, Level::B2, true)); // not a DTZ
    let mut switched = Person::arrived(18, 1990, "2023-01-01", "south");
    switched.on("2023-12-01", course_registered("IK-3", CourseType::General));
    switched.on("2024-01-01", course_started("IK-3"));
    switched.on("2024-05-01", left_early("IK-3", LeaveReason::Other));
    switched.on("2024-05-15", course_registered("IK-4", CourseType::Alpha));
    switched.on("2024-06-01", course_started("IK-4"));
    switched.on("2024-07-01", test_taken(Exam::Dtz, Level::BelowA2, true));
    let persons = [general, alpha, no_course, switched];
    check(
        &render(&kpi(&persons, "dtz_by_course_type", D, &[]), &[]),
        "total: general_share_b1_or_better=1 (1/1 p1) alpha_share_b1_or_better=0.3333 (1/3 p2) other_share_b1_or_better=1 (1/1 p1) general_first_attempt_share_b1_or_better=1 (1/1 p1) alpha_first_attempt_share_b1_or_better=0 (0/2 p2)",
    );
    check(
        &render(
            &kpi(&persons, "dtz_by_course_type", D, &[Dimension::District]),
            &["alpha_share_b1_or_better"],
        ),
        "district=north: alpha_share_b1_or_better=0.5 (1/2 p1)
         district=south: alpha_share_b1_or_better=0 (0/1 p1)
         total: alpha_share_b1_or_better=0.3333 (1/3 p2)",
    );
}
