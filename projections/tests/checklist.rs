//! The municipal checklist (issue 14): the `checklist_completion` indicator and the overdue list on a
//! small explicit population, computed by hand. D is 2024-12-31: new arrivals are those who first
//! arrived after 2023-12-31 and on or before 2024-10-08 (12 weeks before D).

mod support;

use journey_core::catalogue::{Agency, ChecklistItem, ChecklistItemCompleted, KitaPlaceRequested};
use journey_projections::checklist::{overdue, OverdueEntry};
use support::*;

const D: &str = "2024-12-31";

fn done(item: ChecklistItem) -> ChecklistItemCompleted {
    ChecklistItemCompleted { item }
}

fn population() -> Vec<Person> {
    // An adult: start folder in week 2, counselling in week 7, entitled before arriving, German
    // lessons registered in week 12.
    let mut adult = Person::arrived(1, 1990, "2024-03-01", "north");
    adult.on("2024-02-15", entitled());
    adult.on("2024-03-10", done(ChecklistItem::StartFolder));
    adult.on("2024-04-15", counselling(Agency::Kommune));
    adult.on(
        "2024-05-20",
        course_registered("IK-1", journey_core::catalogue::CourseType::General),
    );
    // An adult with only a health check in week 1.
    let mut checked = Person::arrived(2, 1985, "2024-06-01", "south");
    checked.on("2024-06-05", done(ChecklistItem::HealthCheck));
    // A child of Kita age: start folder the next day, a Kita place requested in week 5.
    let mut toddler = Person::child(3, 2021, "2024-03-01");
    toddler.on("2024-03-02", done(ChecklistItem::StartFolder));
    toddler.on("2024-04-01", KitaPlaceRequested {});
    // A child of school age enrolled in week 3.
    let mut pupil = Person::child(4, 2016, "2024-09-01");
    pupil.on("2024-09-20", school(true));
    // Arrived too recently to have had 12 weeks, and too long ago.
    let recent = Person::arrived(5, 1990, "2024-11-01", "north");
    let earlier = Person::arrived(6, 1990, "2023-06-01", "north");
    vec![adult, checked, toddler, pupil, recent, earlier]
}

#[test]
fn each_step_is_a_share_of_the_new_arrivals_it_is_for() {
    let result = kpi(&population(), "checklist_completion", D, &[]);
    check(
        &render(
            &result,
            &[
                "start_folder_within_4_weeks",
                "counselling_within_4_weeks",
                "counselling_within_8_weeks",
                "health_check_within_12_weeks",
                "vaccination_within_12_weeks",
            ],
        ),
        "total: start_folder_within_4_weeks=0.5 (2/4 p4) counselling_within_4_weeks=0 (0/4 p4) counselling_within_8_weeks=0.25 (1/4 p4) health_check_within_12_weeks=0.25 (1/4 p4) vaccination_within_12_weeks=0 (0/4 p4)",
    );
    check(
        &render(
            &result,
            &[
                "course_entitlement_within_4_weeks",
                "german_lessons_within_8_weeks",
                "german_lessons_within_12_weeks",
                "competence_assessment_within_12_weeks",
            ],
        ),
        "total: competence_assessment_within_12_weeks=0 (0/2 p2) course_entitlement_within_4_weeks=0.5 (1/2 p2) german_lessons_within_8_weeks=0 (0/2 p2) german_lessons_within_12_weeks=0.5 (1/2 p2)",
    );
    check(
        &render(
            &result,
            &[
                "kita_within_4_weeks",
                "kita_within_8_weeks",
                "school_within_4_weeks",
            ],
        ),
        "total: kita_within_4_weeks=0 (0/1 p1) kita_within_8_weeks=1 (1/1 p1) school_within_4_weeks=1 (1/1 p1)",
    );
    // With k = 3 the shares over fewer persons are suppressed.
    let suppressed = kpi_suppressed(&population(), "checklist_completion", D, &[], 3);
    check(
        &render(
            &suppressed,
            &["kita_within_8_weeks", "german_lessons_within_12_weeks"],
        ),
        "total: german_lessons_within_12_weeks=* kita_within_8_weeks=*",
    );
}

fn render_overdue(list: &[OverdueEntry]) -> String {
    list.iter()
        .map(|entry| {
            let steps: Vec<String> = entry
                .overdue
                .iter()
                .map(|step| format!("{}:{}", step.step.as_str(), step.days_overdue))
                .collect();
            format!(
                "{} arrived={} days={} [{}]",
                entry.person.0.as_u128(),
                entry.arrived_on,
                entry.days_since_arrival,
                steps.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_overdue_list_names_the_steps_past_their_due_day() {
    let (views, _) = views(&population(), NOW);
    check(
        &render_overdue(&overdue(&views, date("2024-04-15"))),
        "6 arrived=2023-06-01 days=319 [start_folder:291 counselling:291 health_check:291 vaccination:263 competence_assessment:263 course_entitlement:263 start_course:235 german_lessons:235]
         1 arrived=2024-03-01 days=45 [health_check:17]
         3 arrived=2024-03-01 days=45 [counselling:17 health_check:17]",
    );
}
