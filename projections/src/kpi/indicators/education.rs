//! The education indicators (issue 14): what each person counts for them. Their definitions in
//! words are in [`crate::kpi::catalogue`]; every one is computed from events already recorded.

use chrono::NaiveDate;
use journey_core::catalogue::{Certificate, CourseType, EndOutcome, Exam, LeaveReason};

use super::{share, share_alone, Context};
use crate::kpi::columns::{IntegrationCourse, Row};
use crate::kpi::table::{Contribution, MeasureSpec};
use crate::view::{CourseEnd, Interval, SpellOutcome};

/// `orientation_test_pass_rate`: slot 0 persons, 1 tests, 2 passed.
pub(super) const ORIENTATION: [MeasureSpec; 1] = [share("share_passed", 2, 1, 0)];

pub(super) fn observe_orientation(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let mut any = false;
    for test in row
        .orientation_tests()
        .iter()
        .filter(|test| context.in_last_year(test.on))
    {
        any = true;
        out.count(1);
        if test.value {
            out.count(2);
        }
    }
    if any {
        out.count(0);
    }
}

/// `school_leaving_certificates`: slot 0 persons, 1 leavings, then one slot per certificate in
/// catalogue order.
pub(super) const CERTIFICATES: [MeasureSpec; 5] = [
    share("share_none", 2, 1, 0),
    share("share_hauptschule", 3, 1, 0),
    share("share_realschule", 4, 1, 0),
    share("share_abitur", 5, 1, 0),
    share("share_unknown", 6, 1, 0),
];

pub(super) fn observe_certificates(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let mut any = false;
    for school in row.schools() {
        let (Some(left_on), Some(certificate)) = (school.interval.end, school.certificate) else {
            continue;
        };
        if !context.in_last_year(left_on) {
            continue;
        }
        any = true;
        out.count(1);
        out.count(
            2 + match certificate {
                Certificate::None => 0,
                Certificate::Hauptschule => 1,
                Certificate::Realschule => 2,
                Certificate::Abitur => 3,
                Certificate::Unknown => 4,
            },
        );
    }
    if any {
        out.count(0);
    }
}

/// `school_to_training_transition`: slot 0 the pupils who started in a language class, then the
/// stages reached. The stages overlap (each is a share of its own).
pub(super) const TRANSITION: [MeasureSpec; 4] = [
    share_alone("reached_regular_class", 1, 0, 0),
    share_alone("reached_school_leaving", 2, 0, 0),
    share_alone("reached_certificate", 3, 0, 0),
    share_alone("reached_training", 4, 0, 0),
];

pub(super) fn observe_transition(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let on = context.as_of;
    let Some(language_class_on) = row
        .schools()
        .iter()
        .filter(|school| school.language_class && school.interval.start <= on)
        .map(|school| school.interval.start)
        .min()
    else {
        return;
    };
    out.count(0);
    let later = |date: NaiveDate| language_class_on <= date && date <= on;
    if row
        .schools()
        .iter()
        .filter_map(|school| school.regular_class_on)
        .any(later)
    {
        out.count(1);
    }
    let leavings = || {
        row.schools().iter().filter_map(|school| {
            let left_on = school.interval.end.filter(|left_on| later(*left_on))?;
            school.certificate.map(|certificate| (left_on, certificate))
        })
    };
    if leavings().next().is_some() {
        out.count(2);
    }
    if leavings()
        .any(|(_, certificate)| !matches!(certificate, Certificate::None | Certificate::Unknown))
    {
        out.count(3);
    }
    if row
        .trainings()
        .iter()
        .any(|(interval, _)| later(interval.start))
    {
        out.count(4);
    }
}

/// `training_outcomes` and `measure_outcomes`: slot 0 persons, 1 spells ended, 2 completed, 3
/// aborted, 4 ended by moving away.
pub(super) const OUTCOMES: [MeasureSpec; 3] = [
    share("share_completed", 2, 1, 0),
    share("share_aborted", 3, 1, 0),
    share("share_moved_away", 4, 1, 0),
];

pub(super) fn observe_outcomes<'a>(
    context: &Context<'_>,
    spells: impl Iterator<Item = &'a (Interval, Option<SpellOutcome>)>,
    out: &mut Contribution,
) {
    let mut any = false;
    for (interval, outcome) in spells {
        let (interval, outcome) = (*interval, *outcome);
        let (Some(ended_on), Some(outcome)) = (interval.end, outcome) else {
            continue;
        };
        if !context.in_last_year(ended_on) {
            continue;
        }
        any = true;
        out.count(1);
        out.count(match outcome {
            SpellOutcome::Recorded(EndOutcome::Completed) => 2,
            SpellOutcome::Recorded(EndOutcome::Aborted) => 3,
            SpellOutcome::MovedAway => 4,
        });
    }
    if any {
        out.count(0);
    }
}

/// `course_reentry`: slot 0 persons, 1 integration courses left early, 2 followed by a
/// re-registration, 3 followed by a re-start.
pub(super) const REENTRY: [MeasureSpec; 2] = [
    share_alone("share_registered_again", 2, 1, 0),
    share_alone("share_started_again", 3, 1, 0),
];

pub(super) fn observe_reentry(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let on = context.as_of;
    // Only a person who left an integration course early can count: the view, with all of the
    // person's courses, is read for them only.
    if !row
        .integration_courses()
        .iter()
        .any(|course| matches!(course.end, Some(CourseEnd::LeftEarly(_))))
    {
        return;
    }
    let view = row.view();
    let mut any = false;
    for course in view.courses.iter().filter(|c| c.is_integration_course()) {
        let (Some(left_on), Some(CourseEnd::LeftEarly(reason))) = (course.ended_on, course.end)
        else {
            continue;
        };
        // Leaving because of a move ends the course here; a return is not a re-entry.
        if reason == LeaveReason::Moved
            || !(context.two_years_before < left_on && left_on <= context.year_before)
        {
            continue;
        }
        any = true;
        out.count(1);
        let reentries = || {
            view.courses.iter().filter(move |later| {
                later.reentry && left_on <= later.registered_on && later.registered_on <= on
            })
        };
        if reentries().next().is_some() {
            out.count(2);
        }
        if reentries().any(|later| later.started_on.is_some_and(|started| started <= on)) {
            out.count(3);
        }
    }
    if any {
        out.count(0);
    }
}

/// `dtz_by_course_type`: three slots (persons, results, results at B1 or better) per group:
/// general, alpha, other (another integration course type, or none), then general and alpha for
/// first attempts only.
pub(super) const DTZ_BY_COURSE: [MeasureSpec; 5] = [
    share_alone("general_share_b1_or_better", 2, 1, 0),
    share_alone("alpha_share_b1_or_better", 5, 4, 3),
    share_alone("other_share_b1_or_better", 8, 7, 6),
    share_alone("general_first_attempt_share_b1_or_better", 11, 10, 9),
    share_alone("alpha_first_attempt_share_b1_or_better", 14, 13, 12),
];

/// The course a language test belongs to: the person's integration course with the latest start
/// on or before the test day (the course the test ends, or the last one attended).
fn course_of_test<'a>(row: Row<'a>, test_on: NaiveDate) -> Option<&'a IntegrationCourse> {
    row.integration_courses()
        .iter()
        .filter(|course| course.started_on.is_some_and(|started| started <= test_on))
        .max_by_key(|course| course.started_on)
}

pub(super) fn observe_dtz_by_course(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let mut persons = [false; 5];
    for test in row
        .language_tests()
        .iter()
        .filter(|test| test.exam == Exam::Dtz && context.in_last_year(test.on))
    {
        let group = match course_of_test(row, test.on).map(|course| course.course_type) {
            Some(CourseType::General) => 0,
            Some(CourseType::Alpha) => 1,
            _ => 2,
        };
        let mut add = |group: usize| {
            persons[group] = true;
            out.count(3 * group + 1);
            if test.is_b1_or_better() {
                out.count(3 * group + 2);
            }
        };
        add(group);
        if test.first_attempt && group < 2 {
            add(3 + group);
        }
    }
    for (group, counted) in persons.into_iter().enumerate() {
        if counted {
            out.count(3 * group);
        }
    }
}
