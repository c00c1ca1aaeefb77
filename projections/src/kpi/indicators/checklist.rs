//! `checklist_completion` (issue 14): what each person counts. The steps, their groups and what
//! marks them done are defined once in [`crate::checklist`].

use chrono::Months;

use super::{share_alone, Context};
use crate::checklist::{weeks_after, Group, Step, FOLLOW_UP_WEEKS, WINDOWS_WEEKS};
use crate::kpi::columns::Row;
use crate::kpi::table::{Contribution, MeasureSpec};

/// Slots 0 to 3: the new arrivals of each [`Group`] (the denominators); then, per step in
/// [`Step::ALL`] order and per window in [`WINDOWS_WEEKS`] order, those who did the step within it.
/// A step done within 4 weeks is done within 8 too, so each share stands alone.
pub(super) const CHECKLIST: [MeasureSpec; 30] = [
    share_alone("start_folder_within_4_weeks", 4, 0, 0),
    share_alone("start_folder_within_8_weeks", 5, 0, 0),
    share_alone("start_folder_within_12_weeks", 6, 0, 0),
    share_alone("counselling_within_4_weeks", 7, 0, 0),
    share_alone("counselling_within_8_weeks", 8, 0, 0),
    share_alone("counselling_within_12_weeks", 9, 0, 0),
    share_alone("health_check_within_4_weeks", 10, 0, 0),
    share_alone("health_check_within_8_weeks", 11, 0, 0),
    share_alone("health_check_within_12_weeks", 12, 0, 0),
    share_alone("vaccination_within_4_weeks", 13, 0, 0),
    share_alone("vaccination_within_8_weeks", 14, 0, 0),
    share_alone("vaccination_within_12_weeks", 15, 0, 0),
    share_alone("competence_assessment_within_4_weeks", 16, 1, 1),
    share_alone("competence_assessment_within_8_weeks", 17, 1, 1),
    share_alone("competence_assessment_within_12_weeks", 18, 1, 1),
    share_alone("course_entitlement_within_4_weeks", 19, 1, 1),
    share_alone("course_entitlement_within_8_weeks", 20, 1, 1),
    share_alone("course_entitlement_within_12_weeks", 21, 1, 1),
    share_alone("start_course_within_4_weeks", 22, 1, 1),
    share_alone("start_course_within_8_weeks", 23, 1, 1),
    share_alone("start_course_within_12_weeks", 24, 1, 1),
    share_alone("german_lessons_within_4_weeks", 25, 1, 1),
    share_alone("german_lessons_within_8_weeks", 26, 1, 1),
    share_alone("german_lessons_within_12_weeks", 27, 1, 1),
    share_alone("kita_within_4_weeks", 28, 2, 2),
    share_alone("kita_within_8_weeks", 29, 2, 2),
    share_alone("kita_within_12_weeks", 30, 2, 2),
    share_alone("school_within_4_weeks", 31, 3, 3),
    share_alone("school_within_8_weeks", 32, 3, 3),
    share_alone("school_within_12_weeks", 33, 3, 3),
];

const FIRST_STEP_SLOT: usize = Group::ALL.len();

pub(super) fn observe_checklist(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let on = context.as_of;
    let Some(arrived_on) = row.first_arrival(on) else {
        return;
    };
    // New arrivals of the 12 months up to D who have had their whole 12 weeks by D: found from
    // the columns, and only their views are read.
    let year_before = on.checked_sub_months(Months::new(12)).unwrap_or(on);
    if arrived_on <= year_before || weeks_after(arrived_on, FOLLOW_UP_WEEKS) > on {
        return;
    }
    let view = row.view();
    for group in Group::ALL {
        if Step::ALL
            .iter()
            .any(|step| step.group() == group && step.applies(view, arrived_on))
        {
            out.count(group.index());
        }
    }
    for (index, step) in Step::ALL.iter().enumerate() {
        if !step.applies(view, arrived_on) {
            continue;
        }
        for (window, weeks) in WINDOWS_WEEKS.iter().enumerate() {
            if step.done_within(view, arrived_on, *weeks) {
                out.count(FIRST_STEP_SLOT + 3 * index + window);
            }
        }
    }
}
