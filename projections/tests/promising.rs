//! Promising applicants (joint case management of Jobcenter and Arbeitsagentur): the list and the
//! `promising_applicants` indicator on a small explicit population, computed by hand. D is
//! 2024-12-31 and N is 90 days unless a test says otherwise; the conversion window holds entries
//! after 2023-06-30 and on or before 2024-06-30.

mod support;

use journey_core::catalogue::{CourseType, EmploymentKind, Exam, Level, RecognitionOutcome, Sex};
use journey_projections::kpi::Dimension;
use journey_projections::promising::{
    entries, promising_applicants, PromisingEntry, PROMISING_MIN_IDLE_DAYS,
};
use support::*;

const D: &str = "2024-12-31";

fn population() -> Vec<Person> {
    // Idle since arriving on 2024-01-01, B1 on 2024-03-01: on the list from 2024-04-01 (idle 91
    // days); on D idle 365 days, waiting 274.
    let mut idle_with_b1 = Person::with(1, 1990, Sex::Female, "SYR", "2024-01-01", "north");
    idle_with_b1.on("2024-03-01", test_taken(Exam::Dtz, Level::B1, true));

    // Course completed 2024-10-01, B1 during it: idle 91 days on D, entered on D itself.
    let mut after_course = Person::with(2, 1990, Sex::Male, "SYR", "2023-01-01", "north");
    after_course.on("2023-02-01", course_registered("IK-1", CourseType::General));
    after_course.on("2023-03-01", course_started("IK-1"));
    after_course.on("2024-09-15", test_taken(Exam::Dtz, Level::B1, true));
    after_course.on("2024-10-01", course_completed("IK-1"));

    // Idle as long, but only A2: not qualified.
    let mut only_a2 = Person::with(3, 1990, Sex::Male, "AFG", "2024-01-01", "north");
    only_a2.on("2024-03-01", test_taken(Exam::Dtz, Level::A2, true));

    // B1, but a marginal job since 2024-06-01: active on D, so not on the list. Idle with B1 before
    // it, so entered 2024-04-01: in the cohort, not placed (a marginal job is no placement).
    let mut marginal = Person::with(4, 1990, Sex::Female, "SYR", "2024-01-01", "north");
    marginal.on("2024-03-01", test_taken(Exam::Dtz, Level::B1, true));
    marginal.on("2024-06-01", job("E-4", EmploymentKind::Marginal));

    // Training completed 2023-06-30, idle since: entered 2023-09-29, placed 2023-11-01 (in the
    // window, placed within six months). Employed on D, so not on the list.
    let mut placed = Person::with(5, 1990, Sex::Male, "SYR", "2022-06-01", "north");
    placed.on("2022-09-01", training("T-5"));
    placed.on("2023-06-30", training_ended("T-5"));
    placed.on(
        "2023-11-01",
        job("E-5", EmploymentKind::SocialInsuranceFull),
    );

    // Recognition (full) 2023-01-10 while idle since arrival: entered 2023-01-10, before the
    // window. Then a measure completed 2024-01-31: entered again 2024-05-01 (in the window), not
    // placed; on D idle 335 days, waiting 244.
    let mut recognised = Person::with(6, 1985, Sex::Female, "IRQ", "2022-06-01", "south");
    recognised.on("2022-10-01", recognition_applied());
    recognised.on("2023-01-10", recognition_decided(RecognitionOutcome::Full));
    recognised.on("2023-08-01", measure("M-6"));
    recognised.on("2024-01-31", measure_ended("M-6"));

    // B1, idle, but 70 on D: not of working age.
    let mut retired = Person::with(7, 1954, Sex::Male, "SYR", "2024-01-01", "north");
    retired.on("2024-03-01", test_taken(Exam::Dtz, Level::B1, true));

    // Entered 2024-05-02 (idle 91 days since 2024-02-01, B1 the day before), moved away
    // 2024-08-01 without work: in the conversion cohort, not placed, not on the list on D.
    let mut moved = Person::with(8, 1992, Sex::Male, "SYR", "2024-02-01", "north");
    moved.on("2024-05-01", test_taken(Exam::Telc, Level::B2, false));
    moved.on("2024-08-01", moved_away());

    vec![
        idle_with_b1,
        after_course,
        only_a2,
        marginal,
        placed,
        recognised,
        retired,
        moved,
    ]
}

fn render_list(list: &[PromisingEntry]) -> String {
    list.iter()
        .map(|entry| {
            let facts = &entry.membership.qualifications;
            let mut why = Vec::new();
            if let Some((on, exam, level)) = &facts.b1 {
                why.push(format!("{level} {exam} {on}"));
            }
            if let Some((on, outcome, _)) = &facts.recognition {
                why.push(format!("recognition {outcome} {on}"));
            }
            if let Some((on, _)) = &facts.training {
                why.push(format!("training {on}"));
            }
            if let Some((on, id)) = &facts.measure {
                why.push(format!("measure {id} {on}"));
            }
            format!(
                "{} waiting={} idle={} since={} entered={} {} [{}]",
                entry.person.0.as_u128(),
                entry.waiting_days,
                entry.idle_days,
                entry.membership.idle_since,
                entry.membership.entered_on,
                entry.district.as_deref().unwrap_or("-"),
                why.join("; ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_list_holds_qualified_persons_idle_more_than_n_days_longest_waiting_first() {
    let (views, households) = views(&population(), NOW);
    let list = promising_applicants(&views, &households, date(D), PROMISING_MIN_IDLE_DAYS, None);
    check(
        &render_list(&list),
        "1 waiting=274 idle=365 since=2024-01-01 entered=2024-04-01 north [b1 dtz 2024-03-01]
         6 waiting=244 idle=335 since=2024-01-31 entered=2024-05-01 south [recognition full 2023-01-10; measure M-6 2024-01-31]
         2 waiting=0 idle=91 since=2024-10-01 entered=2024-12-31 north [b1 dtz 2024-09-15]",
    );
}

#[test]
fn n_and_the_district_narrow_the_list() {
    let (views, households) = views(&population(), NOW);
    // Idle exactly 91 days is not idle more than 91.
    let list = promising_applicants(&views, &households, date(D), 91, None);
    check(
        &render_list(&list),
        "1 waiting=273 idle=365 since=2024-01-01 entered=2024-04-02 north [b1 dtz 2024-03-01]
         6 waiting=243 idle=335 since=2024-01-31 entered=2024-05-02 south [recognition full 2023-01-10; measure M-6 2024-01-31]",
    );
    let south = promising_applicants(&views, &households, date(D), 90, Some("south"));
    assert_eq!(
        south.iter().map(|entry| entry.person).collect::<Vec<_>>(),
        [Person::new(6).id]
    );
    // Before the B1 result, the first person was idle but not yet qualified.
    let before = promising_applicants(&views, &households, date("2024-02-29"), 30, None);
    assert!(before.iter().all(|entry| entry.person != Person::new(1).id));
}

#[test]
fn each_idle_spell_enters_the_list_once_when_qualified_by_then() {
    let persons = population();
    let (views, households) = views(&persons, NOW);
    let view = |number: u128| {
        views
            .iter()
            .find(|view| view.person == Person::new(number).id)
            .expect("registered")
    };
    let dates = |number| {
        entries(view(number), &households, date(D), 90)
            .into_iter()
            .map(|day| day.to_string())
            .collect::<Vec<_>>()
    };
    // The idle spell before the training was not qualified; the one after it was.
    assert_eq!(dates(5), ["2023-09-29"]);
    assert_eq!(dates(6), ["2023-01-10", "2024-05-01"]);
    assert_eq!(dates(8), ["2024-05-02"]);
    assert!(dates(3).is_empty());
    assert!(dates(7).is_empty());
}

#[test]
fn the_indicator_counts_the_stock_and_the_placements_within_six_months() {
    let persons = population();
    check(
        &render(&kpi(&persons, "promising_applicants", D, &[]), &[]),
        "total: persons=3 (3/- p3) share_placed_within_6_months=0.2 (1/5 p5)",
    );
    check(
        &render(
            &kpi(&persons, "promising_applicants", D, &[Dimension::District]),
            &[],
        ),
        "district=north: persons=2 (2/- p2) share_placed_within_6_months=0.25 (1/4 p4)
         district=south: persons=1 (1/- p1) share_placed_within_6_months=0 (0/1 p1)
         total: persons=3 (3/- p3) share_placed_within_6_months=0.2 (1/5 p5)",
    );
    check(
        &render(
            &kpi(
                &persons,
                "promising_applicants",
                D,
                &[Dimension::Sex, Dimension::Nationality],
            ),
            &[],
        ),
        "sex=female,nationality=IRQ: persons=1 (1/- p1) share_placed_within_6_months=0 (0/1 p1)
         sex=female,nationality=SYR: persons=1 (1/- p1) share_placed_within_6_months=0 (0/2 p2)
         sex=male,nationality=SYR: persons=1 (1/- p1) share_placed_within_6_months=0.5 (1/2 p2)
         sex=female: persons=2 (2/- p2) share_placed_within_6_months=0 (0/3 p3)
         sex=male: persons=1 (1/- p1) share_placed_within_6_months=0.5 (1/2 p2)
         nationality=IRQ: persons=1 (1/- p1) share_placed_within_6_months=0 (0/1 p1)
         nationality=SYR: persons=2 (2/- p2) share_placed_within_6_months=0.25 (1/4 p4)
         total: persons=3 (3/- p3) share_placed_within_6_months=0.2 (1/5 p5)",
    );
    // Half a year later the window holds entries after 2023-12-30 and on or before 2024-12-30:
    // the first, fourth, sixth and eighth person's (the second entered on 2024-12-31), none placed.
    check(
        &render(
            &kpi(&persons, "promising_applicants", "2025-06-30", &[]),
            &[],
        ),
        "total: persons=3 (3/- p3) share_placed_within_6_months=0 (0/4 p4)",
    );
}

#[test]
fn the_indicator_suppresses_small_cells() {
    // Both districts count fewer than 3 persons on the list; the total share is suppressed though
    // it is over 5 entrants, since its numerator (1 placed) is below k and would name who was.
    let result = kpi_suppressed(
        &population(),
        "promising_applicants",
        D,
        &[Dimension::District],
        3,
    );
    check(
        &render(&result, &[]),
        "district=north: persons=* share_placed_within_6_months=*
         district=south: persons=* share_placed_within_6_months=*
         total: persons=3 (3/- p3) share_placed_within_6_months=*",
    );
}

#[test]
fn the_indicator_is_cut_by_district_sex_and_nationality_only() {
    let error = journey_projections::kpi::compute(
        &query("promising_applicants", D, &[Dimension::AgeBand]),
        &[],
        &journey_projections::view::Households::default(),
    )
    .expect_err("age_band is not a cut of this indicator");
    assert!(
        error.to_string().contains("district, sex, nationality"),
        "{error}"
    );
}
