//! The bi-temporal cut: which facts are known at `known_at`, and how corrections and retractions
//! known by then change them.

mod support;

use journey_core::catalogue::{Agency, EmploymentKind, Event, EventType, Sex};
use journey_projections::journal::Journal;
use journey_projections::temporal::effective;
use support::*;

/// The effective facts as `type@date` in the order `effective` returns them.
fn summary(journal: &Journal, known_at: &str) -> Vec<String> {
    effective(journal, at(known_at))
        .iter()
        .map(|fact| format!("{}@{}", fact.event.event_type(), fact.occurred_on))
        .collect()
}

#[test]
fn only_facts_recorded_by_known_at_count_and_they_come_in_valid_time_order() {
    let mut person = Person::new(1);
    person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    person.on("2024-02-01", counselling(Agency::Jobcenter));
    // Entered a month late, back-dated to before the counselling contact.
    person.on_recorded("2024-01-15", "2024-03-01T08:00:00Z", arrival("north"));

    assert_eq!(
        summary(&person.journal, "2024-02-15"),
        [
            "PersonRegistered@2024-01-10",
            "CounsellingContact@2024-02-01"
        ]
    );
    assert_eq!(
        summary(&person.journal, "2024-03-01T08:00:00Z"),
        [
            "PersonRegistered@2024-01-10",
            "ArrivalRecorded@2024-01-15",
            "CounsellingContact@2024-02-01"
        ]
    );
    assert_eq!(summary(&person.journal, "2024-01-01"), Vec::<String>::new());
}

#[test]
fn the_latest_known_correction_wins_and_carries_its_date() {
    let mut person = Person::new(2);
    person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    let started = person.on(
        "2024-06-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let first = person.correct(
        "2024-07-01",
        started,
        "2024-06-15",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    let second = person.correct(
        "2024-08-01",
        started,
        "2024-07-01",
        job("E-1", EmploymentKind::Marginal),
    );

    let kind_on = |known_at: &str| {
        let facts = effective(&person.journal, at(known_at));
        let fact = facts
            .iter()
            .find(|fact| fact.id == started)
            .expect("the corrected event stays, under its id");
        let Event::EmploymentStarted(job) = fact.event.as_ref() else {
            panic!("still an EmploymentStarted");
        };
        (
            fact.occurred_on.to_string(),
            job.kind,
            fact.corrected_by.map(|correction| correction.id),
        )
    };
    assert_eq!(
        kind_on("2024-06-30"),
        (
            "2024-06-01".to_owned(),
            EmploymentKind::SocialInsuranceFull,
            None
        )
    );
    assert_eq!(
        kind_on("2024-07-15"),
        (
            "2024-06-15".to_owned(),
            EmploymentKind::SocialInsuranceFull,
            Some(first)
        )
    );
    assert_eq!(
        kind_on("2024-08-15"),
        (
            "2024-07-01".to_owned(),
            EmploymentKind::Marginal,
            Some(second)
        )
    );
    // The corrections themselves are applied, not listed.
    let types: Vec<EventType> = effective(&person.journal, at(NOW))
        .iter()
        .map(|fact| fact.event.event_type())
        .collect();
    assert_eq!(
        types,
        [EventType::PersonRegistered, EventType::EmploymentStarted]
    );
}

#[test]
fn a_retraction_removes_its_target_once_known_and_later_corrections_do_not_revive_it() {
    let mut person = Person::new(3);
    person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    let wrong = person.on("2024-03-01", arrival("north"));
    person.retract("2024-04-01", wrong);
    // The ledger would reject this; history is still read leniently.
    person.correct("2024-05-01", wrong, "2024-03-02", arrival("south"));

    assert_eq!(
        summary(&person.journal, "2024-03-31"),
        ["PersonRegistered@2024-01-10", "ArrivalRecorded@2024-03-01"]
    );
    assert_eq!(
        summary(&person.journal, "2024-04-01"),
        ["PersonRegistered@2024-01-10"]
    );
    assert_eq!(
        summary(&person.journal, NOW),
        ["PersonRegistered@2024-01-10"]
    );
}

/// DOMAIN.md section 4: a correction recorded on 2025-02-01 about an event of 2024-06-01 changes
/// `as_of 2024-12-31` answers only when `known_at >= 2025-02-01`.
#[test]
fn domain_example_a_late_correction_changes_a_past_date_only_from_when_it_is_known() {
    let mut person = Person::new(4);
    person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    person.on("2024-01-15", arrival("north"));
    let started = person.on_recorded(
        "2024-06-01",
        "2024-06-02",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    // It was a marginal job from 2025-01-10, not a full job from 2024-06-01.
    person.correct(
        "2025-02-01T09:00:00Z",
        started,
        "2025-01-10",
        job("E-1", EmploymentKind::Marginal),
    );
    let as_of = date("2024-12-31");

    let before = person.view("2025-01-31T23:59:59Z").expect("registered");
    assert!(before.employment_on(as_of).employed);
    let just_before = person.view("2025-02-01T08:59:59Z").expect("registered");
    assert!(just_before.employment_on(as_of).employed);
    let after = person.view("2025-02-01T09:00:00Z").expect("registered");
    assert!(!after.employment_on(as_of).employed);
    assert!(!after.employment_on(as_of).marginal);
    assert!(after.employment_on(date("2025-01-10")).marginal);
}

#[test]
fn an_erased_journal_yields_nothing_whatever_the_cut() {
    let mut person = Person::new(5);
    person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    person.on("2024-01-15", arrival("north"));
    let mut flagged = person.journal.clone();
    flagged.erased = true;
    assert!(effective(&flagged, at(NOW)).is_empty());
    assert!(effective(&flagged, at("2024-01-20")).is_empty());

    // An erasure recorded after the cut still hides everything: erasure is not bi-temporal.
    person.on("2024-06-01", erased());
    assert!(effective(&person.journal, at("2024-01-20")).is_empty());
    assert!(person.view("2024-01-20").is_none());
}

#[test]
fn consents_stay_in_the_effective_history() {
    let mut person = Person::new(6);
    person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    person.on("2024-02-01", consent("C-1", &[Agency::Jobcenter]));
    person.on("2024-05-01", consent_withdrawn("C-1"));
    assert_eq!(
        summary(&person.journal, NOW),
        [
            "PersonRegistered@2024-01-10",
            "ConsentGiven@2024-02-01",
            "ConsentWithdrawn@2024-05-01"
        ]
    );
    let view = person.view(NOW).expect("registered");
    let recipients_on = |on: &str| view.consented_recipients(date(on)).collect::<Vec<_>>();
    assert_eq!(recipients_on("2024-01-31"), []);
    assert_eq!(recipients_on("2024-03-01"), [Agency::Jobcenter]);
    assert_eq!(recipients_on("2024-05-01"), []);
}

#[test]
fn a_correction_of_the_registration_changes_the_person() {
    let mut person = Person::new(7);
    let registered = person.on("2024-01-10", registration(1990, Sex::Male, "SYR", None));
    person.correct(
        "2024-03-01",
        registered,
        "2024-01-10",
        registration(1985, Sex::Female, "AFG", None),
    );
    let early = person.view("2024-02-01").expect("registered");
    assert_eq!(
        (early.birth_year, early.sex, early.nationality.as_str()),
        (Some(1990), Sex::Male, "SYR")
    );
    let late = person.view(NOW).expect("registered");
    assert_eq!(
        (late.birth_year, late.sex, late.nationality.as_str()),
        (Some(1985), Sex::Female, "AFG")
    );
    // Retracting the registration leaves no person at that cut.
    person.retract("2024-04-01", registered);
    assert!(person.view(NOW).is_none());
    assert!(person.view("2024-03-15").is_some());
}
