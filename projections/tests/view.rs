//! The person view: every "as of D" answer comes from dates, and one view built at `known_at`
//! answers any `as_of`.

mod support;

use journey_core::catalogue::{
    Agency, AsylumOutcome, BenefitKind, CourseType, EmploymentKind, Exam, Level,
    RecognitionOutcome, ResidenceStatus, Sex,
};
use journey_projections::view::{
    ActivityKind, CourseEnd, CourseStatus, Households, Interval, PersonView, ProtectionStatus,
    SpellOutcome, Stage,
};
use support::*;

#[test]
fn presence_ends_on_moving_away_and_a_return_starts_a_new_stay() {
    let mut person = Person::registered(1, 1990, Sex::Male, "SYR");
    person.on("2020-03-01", arrival("north"));
    person.on("2021-05-01", moved_away());
    person.on("2022-01-10", arrival("south"));
    let view = person.view(NOW).expect("registered");

    assert_eq!(
        view.presence,
        [
            Interval {
                start: date("2020-03-01"),
                end: Some(date("2021-05-01"))
            },
            Interval::open(date("2022-01-10")),
        ]
    );
    let present = |on: &str| view.is_present(date(on));
    assert!(!present("2020-02-29"));
    assert!(present("2020-03-01"));
    assert!(present("2021-04-30"));
    assert!(!present("2021-05-01"), "moved away on D: not present on D");
    assert!(!present("2022-01-09"));
    assert!(present("2022-01-10"));

    // The first arrival stays the reference for cohorts and years since arrival.
    assert_eq!(
        view.first_arrival(date("2023-01-01")),
        Some(date("2020-03-01"))
    );
    assert_eq!(view.first_arrival(date("2020-02-29")), None);
    assert_eq!(view.years_since_arrival(date("2023-02-28")), Some(2));
    assert_eq!(view.years_since_arrival(date("2023-03-01")), Some(3));

    // District as of D; after moving away, the last known one.
    assert_eq!(view.district(date("2020-02-29")), None);
    assert_eq!(view.district(date("2021-06-01")), Some("north"));
    assert_eq!(view.district(date("2022-01-10")), Some("south"));
}

#[test]
fn events_after_as_of_count_as_not_yet_happened() {
    let mut person = Person::registered(2, 1990, Sex::Female, "SYR");
    person.on("2023-01-01", arrival("north"));
    person.on("2023-02-01", address("south"));
    person.on("2023-03-01", course_registered("IK-1", CourseType::General));
    person.on("2023-04-01", course_started("IK-1"));
    person.on("2023-09-01", course_completed("IK-1"));
    let view = person.view(NOW).expect("registered");

    let status = |on: &str| view.course_status(date(on));
    assert_eq!(status("2023-02-28"), CourseStatus::None);
    assert_eq!(status("2023-03-01"), CourseStatus::Waiting);
    assert_eq!(status("2023-04-01"), CourseStatus::InCourse);
    assert_eq!(status("2023-08-31"), CourseStatus::InCourse);
    assert_eq!(status("2023-09-01"), CourseStatus::Completed);
    assert_eq!(view.district(date("2023-01-31")), Some("north"));
    assert_eq!(view.district(date("2023-02-01")), Some("south"));
    assert!(!view.is_active(date("2023-03-31")));
    assert!(view.is_active(date("2023-04-01")));
    assert!(
        !view.is_active(date("2023-09-01")),
        "ended on D: not active on D"
    );
}

#[test]
fn protection_status_follows_the_documented_table() {
    let status_on = |person: &Person, on: &str| {
        person
            .view(NOW)
            .expect("registered")
            .protection_status(date(on))
    };

    let mut refugee = Person::registered(3, 1990, Sex::Male, "SYR");
    refugee.on("2016-01-10", asylum_filed());
    refugee.on("2016-01-20", residence(ResidenceStatus::Gestattung, None));
    refugee.on("2016-09-01", decided(AsylumOutcome::Refugee3));
    refugee.on(
        "2016-10-01",
        residence(ResidenceStatus::Aufenthaltserlaubnis, Some("§25(2)")),
    );
    refugee.on(
        "2021-10-01",
        residence(ResidenceStatus::Niederlassungserlaubnis, None),
    );
    assert_eq!(status_on(&refugee, "2016-01-09"), None);
    assert_eq!(
        status_on(&refugee, "2016-01-10"),
        Some(ProtectionStatus::InProcedure)
    );
    assert_eq!(
        status_on(&refugee, "2016-09-01"),
        Some(ProtectionStatus::Refugee)
    );
    assert_eq!(
        status_on(&refugee, "2017-01-01"),
        Some(ProtectionStatus::Refugee),
        "a permit after a positive decision keeps the protection"
    );
    assert_eq!(
        status_on(&refugee, "2022-01-01"),
        Some(ProtectionStatus::Settled)
    );

    let mut ukrainian = Person::registered(4, 1990, Sex::Female, "UKR");
    ukrainian.on(
        "2022-04-01",
        residence(ResidenceStatus::Aufenthaltserlaubnis, Some("§24")),
    );
    ukrainian.on(
        "2024-04-01",
        residence(ResidenceStatus::Aufenthaltserlaubnis, None),
    );
    assert_eq!(
        status_on(&ukrainian, "2023-01-01"),
        Some(ProtectionStatus::TemporaryProtection)
    );
    assert_eq!(
        status_on(&ukrainian, "2024-06-01"),
        Some(ProtectionStatus::TemporaryProtection)
    );

    let mut rejected = Person::registered(5, 1990, Sex::Male, "IRQ");
    rejected.on("2016-01-10", asylum_filed());
    rejected.on("2016-12-01", decided(AsylumOutcome::Dublin));
    rejected.on("2017-01-01", residence(ResidenceStatus::Duldung, None));
    rejected.on(
        "2020-01-01",
        residence(ResidenceStatus::Aufenthaltserlaubnis, Some("§25b")),
    );
    assert_eq!(
        status_on(&rejected, "2016-12-15"),
        Some(ProtectionStatus::Rejected)
    );
    assert_eq!(
        status_on(&rejected, "2017-06-01"),
        Some(ProtectionStatus::Tolerated)
    );
    assert_eq!(
        status_on(&rejected, "2020-06-01"),
        Some(ProtectionStatus::OtherPermit)
    );
}

#[test]
fn courses_keep_registrations_outcomes_and_re_entries() {
    let mut person = Person::registered(6, 1990, Sex::Female, "SYR");
    person.on("2023-01-01", arrival("north"));
    person.on("2023-02-01", course_registered("IK-1", CourseType::Alpha));
    person.on("2023-03-01", course_started("IK-1"));
    person.on("2023-05-01", course_left("IK-1"));
    person.on("2023-08-01", course_registered("IK-1", CourseType::Alpha));
    person.on("2023-09-01", course_started("IK-1"));
    let view = person.view(NOW).expect("registered");

    let spells: Vec<_> = view
        .courses
        .iter()
        .map(|course| {
            (
                course.registered_on.to_string(),
                course.started_on.map(|on| on.to_string()),
                course.ended_on.map(|on| on.to_string()),
                course.reentry,
            )
        })
        .collect();
    assert_eq!(
        spells,
        [
            (
                "2023-02-01".to_owned(),
                Some("2023-03-01".to_owned()),
                Some("2023-05-01".to_owned()),
                false
            ),
            (
                "2023-08-01".to_owned(),
                Some("2023-09-01".to_owned()),
                None,
                true
            ),
        ]
    );
    assert_eq!(
        view.course_status(date("2023-06-01")),
        CourseStatus::LeftEarly
    );
    assert_eq!(
        view.course_status(date("2023-08-15")),
        CourseStatus::Waiting
    );
    assert_eq!(
        view.first_integration_course_start(),
        Some(date("2023-03-01"))
    );
}

#[test]
fn stages_are_reached_on_their_first_dates_and_marginal_jobs_do_not_count() {
    let mut person = Person::registered(7, 1990, Sex::Male, "SYR");
    person.on("2023-01-10", arrival("north"));
    person.on("2023-02-10", entitled());
    person.on("2023-03-01", job("M-1", EmploymentKind::Marginal));
    person.on("2023-03-10", course_registered("JOB-1", CourseType::JobB1));
    person.on("2023-04-10", course_started("JOB-1"));
    person.on("2023-10-01", test_taken(Exam::Telc, Level::A2, true));
    person.on("2023-12-10", test_taken(Exam::Dtz, Level::B1, false));
    person.on("2024-06-10", job("E-1", EmploymentKind::SelfEmployed));
    let view = person.view(NOW).expect("registered");

    let stage = |on: &str| view.stage(date(on));
    assert_eq!(stage("2023-01-09"), Stage::Registered);
    assert_eq!(stage("2023-01-10"), Stage::Arrival);
    assert_eq!(stage("2023-03-01"), Stage::Entitlement);
    assert_eq!(stage("2023-04-10"), Stage::Course);
    assert_eq!(stage("2023-12-10"), Stage::B1);
    assert_eq!(stage("2024-06-10"), Stage::Employment);
    assert_eq!(view.stage_reached_on(Stage::MeasureOrTraining), None);
    assert_eq!(
        view.stage_reached_on(Stage::Employment),
        Some(date("2024-06-10"))
    );
}

#[test]
fn idle_time_starts_at_the_later_of_the_last_activity_end_and_the_current_stay() {
    let mut person = Person::registered(8, 1990, Sex::Male, "SYR");
    person.on("2022-01-01", arrival("north"));
    person.on("2022-02-01", measure("M-1"));
    person.on("2022-06-01", measure_ended("M-1"));
    person.on("2023-01-01", moved_away());
    person.on("2023-06-01", arrival("north"));
    person.on("2023-09-01", training("T-1"));
    let view = person.view(NOW).expect("registered");

    assert_eq!(view.idle_since(date("2022-03-01")), None, "in a measure");
    assert_eq!(
        view.idle_since(date("2022-07-01")),
        Some(date("2022-06-01"))
    );
    assert_eq!(view.idle_since(date("2023-03-01")), None, "moved away");
    assert_eq!(
        view.idle_since(date("2023-07-01")),
        Some(date("2023-06-01"))
    );
    assert_eq!(view.idle_since(date("2023-09-01")), None, "in training");
    assert_eq!(
        view.last_ended_activity(date("2023-07-01")),
        Some((ActivityKind::Measure, date("2022-06-01")))
    );
}

#[test]
fn households_know_children_under_3_who_live_here() {
    let household = Some(77);
    let mut parent = Person::new(10);
    parent.on(
        "2015-01-01",
        registration(1990, Sex::Female, "SYR", household),
    );
    parent.on("2022-01-01", arrival("north"));
    let mut toddler = Person::new(11);
    toddler.on(
        "2022-01-01",
        registration(2021, Sex::Male, "SYR", household),
    );
    toddler.on("2022-01-01", arrival("north"));
    toddler.on("2024-03-01", moved_away());
    // Born here: never an arrival of its own.
    let mut baby = Person::new(12);
    baby.on(
        "2024-05-01",
        registration(2024, Sex::Female, "SYR", household),
    );
    let (views, households) = views(&[parent, toddler, baby], NOW);
    let parent_view = &views[0];

    assert_eq!(households.len(), 1);
    let has_child = |on: &str| households.has_child_under_3(parent_view, date(on));
    assert!(has_child("2023-06-01"), "the toddler, aged 2 in 2023");
    assert!(
        !has_child("2024-04-01"),
        "the toddler moved away, the baby is not yet born"
    );
    assert!(
        has_child("2024-06-01"),
        "the baby, without an arrival of its own"
    );
    assert!(has_child("2026-12-31"));
    assert!(!has_child("2027-01-01"), "the baby is 3 in 2027");
    assert!(
        !households.has_child_under_3(&views[2], date("2024-06-01")),
        "not one's own child"
    );
    assert!(!Households::default().has_child_under_3(parent_view, date("2024-06-01")));
}

#[test]
fn agencies_and_caseworkers_are_involved_from_their_first_event() {
    let mut person = Person::new(13);
    person.by(caseworker("cw-7", Agency::Auslaenderbehoerde));
    person.on("2023-01-01", registration(1990, Sex::Male, "SYR", None));
    person.on("2023-01-05", arrival("north"));
    person.by(caseworker("cw-9", Agency::Jobcenter));
    person.on("2023-03-01", counselling(Agency::Jobcenter));
    person.on("2023-04-01", referral(Agency::Bildungsbuero));
    person.on("2023-05-01", consent("C-1", &[Agency::Sozialarbeit]));
    let view = person.view(NOW).expect("registered");

    let agencies = |on: &str| view.agencies_on(date(on)).collect::<Vec<_>>();
    assert_eq!(agencies("2022-12-31"), []);
    assert_eq!(agencies("2023-02-01"), [Agency::Auslaenderbehoerde]);
    assert_eq!(
        agencies("2023-06-01"),
        [
            Agency::Auslaenderbehoerde,
            Agency::Jobcenter,
            Agency::Bildungsbuero
        ],
        "a consent lets Sozialarbeit see, it does not make it involved"
    );
    let caseworkers: Vec<_> = view
        .caseworkers
        .iter()
        .map(|c| (c.caseworker_id.as_str(), c.agency, c.since.to_string()))
        .collect();
    assert_eq!(
        caseworkers,
        [
            ("cw-7", Agency::Auslaenderbehoerde, "2023-01-01".to_owned()),
            ("cw-9", Agency::Jobcenter, "2023-03-01".to_owned()),
        ]
    );
}

#[test]
fn recognition_decisions_close_the_earliest_open_application() {
    let mut person = Person::registered(14, 1990, Sex::Male, "SYR");
    person.on("2024-01-01", recognition_applied());
    person.on("2024-02-01", recognition_applied());
    person.on(
        "2024-03-01",
        recognition_decided(RecognitionOutcome::Partial),
    );
    let view = person.view(NOW).expect("registered");
    let cases: Vec<_> = view
        .recognitions
        .iter()
        .map(|case| {
            (
                case.applied_on.to_string(),
                case.decided_on.map(|on| on.to_string()),
            )
        })
        .collect();
    assert_eq!(
        cases,
        [
            ("2024-01-01".to_owned(), Some("2024-03-01".to_owned())),
            ("2024-02-01".to_owned(), None),
        ]
    );
}

#[test]
fn no_view_without_a_registration_known_at_the_cut() {
    let mut person = Person::new(15);
    person.on_recorded(
        "2024-01-01",
        "2024-02-01",
        registration(1990, Sex::Male, "SYR", None),
    );
    assert!(person.view("2024-01-31").is_none());
    let view: PersonView = person.view("2024-02-01").expect("known by then");
    assert_eq!(view.registered_on, date("2024-01-01"));
}

/// Household ids need not be random: ids that differ only in their last bytes must still spread
/// over the hash map's buckets (whose index is the hash's low bits), or lookups degrade to scans.
#[test]
fn structured_household_ids_spread_over_buckets() {
    use std::collections::BTreeSet;
    use std::hash::BuildHasher;

    let hasher = std::hash::BuildHasherDefault::<journey_projections::view::UuidHasher>::default();
    let low_bits: BTreeSet<u64> = (0..1024u64)
        .map(|number| hasher.hash_one(uuid::Uuid::from_u64_pair(0, number)) & 1023)
        .collect();
    assert!(
        low_bits.len() > 600,
        "{} distinct buckets of 1024",
        low_bits.len()
    );
}

/// A move away closes every spell open on its date, with the outcome "moved away" where a spell
/// has an outcome, and a return starts with nothing open: the same as `journey_core::rules`.
#[test]
fn moving_away_closes_every_open_spell_and_a_return_starts_fresh() {
    let mut person = Person::registered(3, 1990, Sex::Female, "SYR");
    person.on("2020-02-01", arrival("north"));
    person.on("2020-03-01", course_registered("IK-1", CourseType::General));
    person.on("2020-03-01", course_registered("IK-2", CourseType::General));
    person.on("2020-04-01", course_started("IK-2"));
    person.on("2020-03-01", measure("M-1"));
    person.on("2020-03-01", training("T-1"));
    person.on(
        "2020-03-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    person.on("2020-03-01", mentor("V-1"));
    person.on("2020-03-01", kita_started());
    person.on("2020-03-01", school(true));
    person.on("2020-03-01", benefits(BenefitKind::Sgb2));
    person.on("2021-01-01", moved_away());
    person.on("2021-06-01", arrival("south"));
    let view = person.view(NOW).expect("registered");

    let moved_on = Some(date("2021-01-01"));
    let ends: Vec<(Option<CourseStatus>, Option<CourseEnd>)> = view
        .courses
        .iter()
        .map(|course| (course.status_on(date("2021-01-01")), course.end))
        .collect();
    assert_eq!(
        ends,
        [
            (Some(CourseStatus::MovedAway), Some(CourseEnd::MovedAway)),
            (Some(CourseStatus::MovedAway), Some(CourseEnd::MovedAway)),
        ]
    );
    assert!(view
        .courses
        .iter()
        .all(|course| course.ended_on == moved_on));
    assert_eq!(view.measures[0].interval.end, moved_on);
    assert_eq!(view.measures[0].outcome, Some(SpellOutcome::MovedAway));
    assert_eq!(view.trainings[0].interval.end, moved_on);
    assert_eq!(view.trainings[0].outcome, Some(SpellOutcome::MovedAway));
    assert_eq!(view.employments[0].interval.end, moved_on);
    assert_eq!(view.mentoring[0].interval.end, moved_on);
    assert_eq!(view.kita[0].end, moved_on);
    assert_eq!(view.schools[0].interval.end, moved_on);
    assert_eq!(view.benefits[0].interval.end, moved_on);

    // Active and employed up to the day before the move; after the return, nothing is open.
    assert!(view.is_active(date("2020-12-31")));
    assert!(view.employment_on(date("2020-12-31")).employed);
    assert!(!view.is_active(date("2021-06-01")));
    assert!(!view.employment_on(date("2021-06-01")).employed);
    assert!(!view.has_mentor(date("2021-06-01")));
    assert!(!view.receives(BenefitKind::Sgb2, date("2021-06-01")));
    assert_eq!(
        view.course_status(date("2021-06-01")),
        CourseStatus::MovedAway
    );
    // The idle time of the new stay begins with the return.
    assert_eq!(
        view.idle_since(date("2021-07-01")),
        Some(date("2021-06-01"))
    );
}
