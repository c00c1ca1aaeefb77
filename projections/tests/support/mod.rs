//! Terse builders for journals, views and KPI queries in the projection tests.
//!
//! A [`Person`] records events with dates as strings; each event is recorded at noon UTC of the
//! day it occurred unless a recording time is given, so transaction time follows valid time by
//! default and late entries and corrections are explicit. Ids and positions are derived from the
//! person number and the revision, so every run builds identical journals.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use journey_core::catalogue::*;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::synth::{generate, SynthConfig};
use journey_projections::journal::{Fact, Journal, Journals};
use journey_projections::kept_rows::KeptRowsStatus;
use journey_projections::kpi::{compute, Dimension, KpiQuery, KpiResult, Suppression};
use journey_projections::view::{Households, PersonView};
use journey_projections::Projections;
use uuid::Uuid;

/// Waits until the kept rows of `projections` serve at their state's checkpoint, for at most a
/// minute: kept rows that never catch up fail the test that waits instead of hanging the suite.
pub async fn kept_rows_ready(projections: &Projections) -> KeptRowsStatus {
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        projections.kept_rows_ready(),
    )
    .await
    .expect("the kept rows catch up with the state within a minute")
    .expect("kept rows")
}

/// A transaction time after every event of every test.
pub const NOW: &str = "2030-01-01T00:00:00Z";

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a YYYY-MM-DD date")
}

/// A transaction time: an RFC 3339 timestamp, or a date (noon UTC of that day).
pub fn at(text: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.with_timezone(&Utc),
        Err(_) => date(text)
            .and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon"))
            .and_utc(),
    }
}

/// The reference views of a cut: every person's view built on its own (`PersonView::build`, the
/// definition), in person order; what `grid.rs` and `kept_cut.rs` hold the served projections to.
pub fn reference_views(journals: &Journals, known_at: DateTime<Utc>) -> Vec<PersonView> {
    journals
        .iter()
        .filter_map(|(person, journal)| PersonView::build(*person, journal, known_at))
        .collect()
}

/// The breakdowns the served-answer comparisons ask for: none, each of the first two dimensions,
/// and the first two together.
pub fn leading_breakdowns(disaggregations: &[Dimension]) -> Vec<Vec<Dimension>> {
    let mut breakdowns = vec![vec![]];
    breakdowns.extend(
        disaggregations
            .iter()
            .take(2)
            .map(|dimension| vec![*dimension]),
    );
    if disaggregations.len() >= 2 {
        breakdowns.push(vec![disaggregations[0], disaggregations[1]]);
    }
    breakdowns
}

/// Every breakdown of an indicator the grids ask for: none, each dimension, the first two.
pub fn breakdowns(disaggregations: &[Dimension]) -> Vec<Vec<Dimension>> {
    let mut breakdowns = vec![vec![]];
    breakdowns.extend(disaggregations.iter().map(|dimension| vec![*dimension]));
    if disaggregations.len() >= 2 {
        breakdowns.push(vec![disaggregations[0], disaggregations[1]]);
    }
    breakdowns
}

pub fn caseworker(id: &str, agency: Agency) -> Actor {
    Actor {
        id: id.to_owned(),
        agency: Some(agency),
        role: ActorRole::Caseworker,
    }
}

/// One person's journal under construction.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: PersonId,
    pub number: u128,
    pub journal: Journal,
    actor: Actor,
}

impl Person {
    pub fn new(number: u128) -> Self {
        Self {
            id: PersonId(Uuid::from_u128(number)),
            number,
            journal: Journal::default(),
            actor: caseworker("cw-1", Agency::Jobcenter),
        }
    }

    /// A registered person: `PersonRegistered` on 2015-01-01.
    pub fn registered(number: u128, birth_year: i32, sex: Sex, nationality: &str) -> Self {
        let mut person = Self::new(number);
        person.on(
            "2015-01-01",
            registration(birth_year, sex, nationality, None),
        );
        person
    }

    /// A registered person who arrived in `district` on `arrived_on`.
    pub fn arrived(number: u128, birth_year: i32, arrived_on: &str, district: &str) -> Self {
        let mut person = Self::registered(number, birth_year, Sex::Female, "SYR");
        person.on(arrived_on, arrival(district));
        person
    }

    /// A person of the given sex and nationality, registered and arrived in `district` on
    /// `arrived_on` (children are registered when they arrive, never before their birth year).
    pub fn with(
        number: u128,
        birth_year: i32,
        sex: Sex,
        nationality: &str,
        arrived_on: &str,
        district: &str,
    ) -> Self {
        let mut person = Self::new(number);
        person.on(arrived_on, registration(birth_year, sex, nationality, None));
        person.on(arrived_on, arrival(district));
        person
    }

    /// A child born in `birth_year`, registered and arrived in `north` on `arrived_on`.
    pub fn child(number: u128, birth_year: i32, arrived_on: &str) -> Self {
        Self::with(number, birth_year, Sex::Female, "SYR", arrived_on, "north")
    }

    /// Records the following events as this actor.
    pub fn by(&mut self, actor: Actor) -> &mut Self {
        self.actor = actor;
        self
    }

    /// Records an event that occurred on `on`, at noon of that day.
    pub fn on(&mut self, on: &str, event: impl Into<Event>) -> Uuid {
        self.on_recorded(on, on, event)
    }

    /// Records an event that occurred on `on` at the transaction time `recorded_at`.
    pub fn on_recorded(&mut self, on: &str, recorded_at: &str, event: impl Into<Event>) -> Uuid {
        let revision = self.journal.facts.len() as u64;
        let id = Uuid::from_u128((self.number << 32) | u128::from(revision));
        self.journal.facts.push(
            Fact::new(
                journey_core::log::Position::from_raw((self.number as u64) * 10_000 + revision),
                revision,
                id,
                date(on),
                at(recorded_at),
                self.actor.clone(),
                event.into(),
            )
            .expect("a fact holds the test's revision and time"),
        );
        id
    }

    /// Records, at `recorded_at`, that `target` should have said `replacement` on `on`.
    pub fn correct(
        &mut self,
        recorded_at: &str,
        target: Uuid,
        on: &str,
        replacement: impl Into<Event>,
    ) -> Uuid {
        let replacement = replacement.into();
        let correction = EventCorrected {
            target_event_id: target,
            replacement: Replacement {
                event_type: replacement.event_type().name().to_owned(),
                occurred_on: date(on),
                data: replacement.to_data(),
            },
            reason: "typo".to_owned(),
        };
        let recorded_on = at(recorded_at).date_naive().to_string();
        self.on_recorded(&recorded_on, recorded_at, correction)
    }

    /// Records, at `recorded_at`, that `target` should never have been recorded.
    pub fn retract(&mut self, recorded_at: &str, target: Uuid) -> Uuid {
        let retraction = EventRetracted {
            target_event_id: target,
            reason: "wrong person".to_owned(),
        };
        let recorded_on = at(recorded_at).date_naive().to_string();
        self.on_recorded(&recorded_on, recorded_at, retraction)
    }

    pub fn view(&self, known_at: &str) -> Option<PersonView> {
        PersonView::build(self.id, &self.journal, at(known_at))
    }
}

pub fn journals(persons: &[Person]) -> Journals {
    persons
        .iter()
        .map(|person| (person.id, person.journal.clone()))
        .collect()
}

/// The views of a population at `known_at`, ordered by person, and their households.
pub fn views(persons: &[Person], known_at: &str) -> (Vec<PersonView>, Households) {
    let known_at = at(known_at);
    let views: Vec<PersonView> = journals(persons)
        .iter()
        .filter_map(|(id, journal)| PersonView::build(*id, journal, known_at))
        .collect();
    let households = Households::from_views(&views);
    (views, households)
}

/// A query as of `as_of`, known now, by the given dimensions.
pub fn query(key: &str, as_of: &str, by: &[Dimension]) -> KpiQuery {
    KpiQuery {
        key: key.to_owned(),
        as_of: date(as_of),
        known_at: at(NOW),
        by: by.to_vec(),
        suppression: None,
    }
}

/// Computes a KPI over a population known now, without suppression.
pub fn kpi(persons: &[Person], key: &str, as_of: &str, by: &[Dimension]) -> KpiResult {
    run(persons, &query(key, as_of, by))
}

/// Computes a KPI over a population known now, with suppression at `k`.
pub fn kpi_suppressed(
    persons: &[Person],
    key: &str,
    as_of: &str,
    by: &[Dimension],
    k: u32,
) -> KpiResult {
    let mut query = query(key, as_of, by);
    query.suppression = Some(Suppression { k });
    run(persons, &query)
}

pub fn run(persons: &[Person], query: &KpiQuery) -> KpiResult {
    let known_at = query.known_at.to_rfc3339();
    let (views, households) = views(persons, &known_at);
    compute(query, &views, &households).expect("the query is valid")
}

/// One line per cell (inner cells, then margins, then the total): the dimension values, then each
/// measure as `name=value (numerator/denominator pN)`, `-` for an absent figure, `*` for a
/// suppressed measure. `only` restricts the measures shown (empty: all).
pub fn render(result: &KpiResult, only: &[&str]) -> String {
    let mut lines = Vec::new();
    let cells = result
        .cells
        .iter()
        .chain(&result.margins)
        .chain(std::iter::once(&result.total));
    for cell in cells {
        let label = if cell.dimensions.is_empty() {
            "total".to_owned()
        } else {
            cell.dimensions
                .iter()
                .map(|value| format!("{}={}", value.dimension, value.value))
                .collect::<Vec<_>>()
                .join(",")
        };
        let figure = |value: Option<u64>| value.map_or("-".to_owned(), |value| value.to_string());
        let measures: Vec<String> = cell
            .measures
            .iter()
            .filter(|measure| only.is_empty() || only.contains(&measure.name.as_str()))
            .map(|measure| {
                if measure.suppressed {
                    return format!("{}=*", measure.name);
                }
                let value = measure
                    .value
                    .map_or("-".to_owned(), |value| value.to_string());
                format!(
                    "{}={} ({}/{} p{})",
                    measure.name,
                    value,
                    figure(measure.numerator),
                    figure(measure.denominator),
                    figure(measure.persons)
                )
            })
            .collect();
        lines.push(format!("{label}: {}", measures.join(" ")));
    }
    lines.join("\n")
}

/// Compares rendered text line by line, ignoring the indentation of the expected text.
#[track_caller]
pub fn check(actual: &str, expected: &str) {
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    assert_eq!(actual_lines, expected, "\nactual:\n{actual}\n");
}

/// The idle population of `idle_days` (shared by tests/models.rs and tests/kpi.rs): idle 365, 91, 30, 0 and 121 days, plus
/// persons who are not idle for each of the reasons the definition names.
pub fn idle_population() -> Vec<Person> {
    let mut never_active = Person::arrived(1, 1990, "2024-01-01", "north");
    never_active.on("2024-02-01", counselling(Agency::Jobcenter));

    let mut course_ended = Person::arrived(2, 1990, "2023-01-01", "north");
    course_ended.on("2023-02-01", course_registered("IK-1", CourseType::General));
    course_ended.on("2023-03-01", course_started("IK-1"));
    course_ended.on("2024-10-01", course_completed("IK-1"));

    let mut in_measure = Person::arrived(3, 1990, "2023-01-01", "north");
    in_measure.on("2024-05-01", measure("M-1"));

    let mut parent = Person::new(4);
    parent.on(
        "2015-01-01",
        registration(1990, Sex::Female, "SYR", Some(100)),
    );
    parent.on("2024-01-01", arrival("south"));
    let mut toddler = Person::new(5);
    toddler.on(
        "2023-01-01",
        registration(2023, Sex::Male, "SYR", Some(100)),
    );
    toddler.on("2024-01-01", arrival("south"));

    let mut parent_of_three_year_old = Person::new(6);
    parent_of_three_year_old.on(
        "2015-01-01",
        registration(1990, Sex::Male, "SYR", Some(200)),
    );
    parent_of_three_year_old.on("2024-12-01", arrival("south"));
    let mut three_year_old = Person::new(7);
    three_year_old.on(
        "2021-01-01",
        registration(2021, Sex::Female, "SYR", Some(200)),
    );
    three_year_old.on("2024-12-01", arrival("south"));

    let mut job_ended_on_d = Person::arrived(8, 1990, "2023-01-01", "north");
    job_ended_on_d.on(
        "2023-06-01",
        job("E-1", EmploymentKind::SocialInsuranceFull),
    );
    job_ended_on_d.on("2024-12-31", job_ended("E-1"));

    let mut moved = Person::arrived(9, 1990, "2023-01-01", "north");
    moved.on("2024-06-01", moved_away());

    let retired = Person::arrived(10, 1950, "2023-01-01", "north");

    let mut returned = Person::arrived(11, 1990, "2022-01-01", "south");
    returned.on("2022-02-01", job("E-2", EmploymentKind::Marginal));
    returned.on("2023-05-01", job_ended("E-2"));
    returned.on("2023-06-01", moved_away());
    returned.on("2024-09-01", arrival("south"));

    vec![
        never_active,
        course_ended,
        in_measure,
        parent,
        toddler,
        parent_of_three_year_old,
        three_year_old,
        job_ended_on_d,
        moved,
        retired,
        returned,
    ]
}

// ----- events -----

pub fn registration(
    birth_year: impl Into<BirthYear>,
    sex: Sex,
    nationality: &str,
    household: Option<u128>,
) -> PersonRegistered {
    PersonRegistered {
        birth_year: birth_year.into(),
        sex,
        nationality: nationality.to_owned(),
        languages: vec!["ar".to_owned()],
        household_id: household.map(Uuid::from_u128),
    }
}

pub fn arrival(district: &str) -> ArrivalRecorded {
    ArrivalRecorded {
        entry_date: None,
        origin: Origin::ReceptionCentre,
        accommodation: Accommodation::Shared,
        district: district.to_owned(),
    }
}

pub fn moved_away() -> MovedAway {
    MovedAway {
        destination: Destination::OtherMunicipality,
    }
}

pub fn address(district: &str) -> AddressChanged {
    AddressChanged {
        district: district.to_owned(),
        accommodation: Accommodation::Flat,
    }
}

pub fn asylum_filed() -> AsylumApplicationFiled {
    AsylumApplicationFiled {}
}

pub fn decided(outcome: AsylumOutcome) -> AsylumDecisionIssued {
    AsylumDecisionIssued { outcome }
}

pub fn residence(status: ResidenceStatus, legal_basis: Option<&str>) -> ResidenceStatusChanged {
    ResidenceStatusChanged {
        status,
        legal_basis: legal_basis.map(str::to_owned),
        valid_until: None,
        work_permitted: true,
    }
}

pub fn entitled() -> CourseEntitlementIssued {
    CourseEntitlementIssued {
        kind: EntitlementKind::Entitlement,
        issuer: EntitlementIssuer::Bamf,
    }
}

pub fn course_registered(course_id: &str, course_type: CourseType) -> CourseRegistered {
    CourseRegistered {
        course_id: course_id.to_owned(),
        course_type,
        provider: "vhs".to_owned(),
    }
}

pub fn course_started(course_id: &str) -> CourseStarted {
    CourseStarted {
        course_id: course_id.to_owned(),
    }
}

pub fn course_completed(course_id: &str) -> CourseCompleted {
    CourseCompleted {
        course_id: course_id.to_owned(),
    }
}

pub fn course_left(course_id: &str) -> CourseLeftEarly {
    CourseLeftEarly {
        course_id: course_id.to_owned(),
        reason: LeaveReason::Unknown,
    }
}

pub fn test_taken(exam: Exam, level: Level, first_attempt: bool) -> LanguageTestTaken {
    LanguageTestTaken {
        exam,
        level,
        first_attempt,
    }
}

pub fn job(employment_id: &str, kind: EmploymentKind) -> EmploymentStarted {
    EmploymentStarted {
        employment_id: employment_id.to_owned(),
        kind,
        occupation_code: None,
        weekly_hours: None,
    }
}

pub fn job_ended(employment_id: &str) -> EmploymentEnded {
    EmploymentEnded {
        employment_id: employment_id.to_owned(),
    }
}

pub fn measure(measure_id: &str) -> MeasureStarted {
    MeasureStarted {
        measure_id: measure_id.to_owned(),
        measure_type: MeasureType::Activation,
    }
}

pub fn measure_ended(measure_id: &str) -> MeasureEnded {
    MeasureEnded {
        measure_id: measure_id.to_owned(),
        outcome: EndOutcome::Completed,
    }
}

pub fn training(training_id: &str) -> TrainingStarted {
    TrainingStarted {
        training_id: training_id.to_owned(),
        occupation_code: "26212".to_owned(),
    }
}

pub fn training_ended(training_id: &str) -> TrainingEnded {
    TrainingEnded {
        training_id: training_id.to_owned(),
        outcome: EndOutcome::Completed,
    }
}

pub fn kita_started() -> KitaStarted {
    KitaStarted {}
}

pub fn kita_ended() -> KitaEnded {
    KitaEnded {}
}

pub fn school(language_class: bool) -> SchoolEnrolled {
    SchoolEnrolled {
        school_type: SchoolType::Primary,
        language_class,
    }
}

pub fn regular_class() -> MovedToRegularClass {
    MovedToRegularClass {}
}

pub fn school_left() -> SchoolLeft {
    SchoolLeft {
        certificate: Certificate::None,
    }
}

pub fn benefits(kind: BenefitKind) -> BenefitsStarted {
    BenefitsStarted { kind }
}

pub fn benefits_ended(kind: BenefitKind) -> BenefitsEnded {
    BenefitsEnded { kind }
}

pub fn recognition_applied() -> RecognitionApplied {
    RecognitionApplied {
        occupation_code: "81302".to_owned(),
        regulated: true,
    }
}

pub fn recognition_decided(outcome: RecognitionOutcome) -> RecognitionDecided {
    RecognitionDecided { outcome }
}

pub fn mentor(mentor_id: &str) -> MentorAssigned {
    MentorAssigned {
        mentor_id: mentor_id.to_owned(),
    }
}

pub fn mentoring_ended(mentor_id: &str) -> MentoringEnded {
    MentoringEnded {
        mentor_id: mentor_id.to_owned(),
    }
}

pub fn consent(consent_id: &str, recipients: &[Agency]) -> ConsentGiven {
    ConsentGiven {
        consent_id: consent_id.to_owned(),
        recipients: recipients.to_vec(),
        purpose: "case management".to_owned(),
        form_version: "v1".to_owned(),
    }
}

pub fn consent_withdrawn(consent_id: &str) -> ConsentWithdrawn {
    ConsentWithdrawn {
        consent_id: consent_id.to_owned(),
    }
}

pub fn counselling(agency: Agency) -> CounsellingContact {
    CounsellingContact {
        agency,
        topic: Topic::Work,
        base: None,
    }
}

pub fn referral(to_agency: Agency) -> ReferralMade {
    ReferralMade {
        to_agency,
        topic: Topic::Language,
    }
}

pub fn erased() -> PersonalDataErased {
    PersonalDataErased {
        reason: ErasureReason::Art17Request,
    }
}

/// A synthetic population's journals as the runner would hold them after applying its log: every
/// generated event in generation order, at consecutive positions, each person's in stream order.
pub fn synthetic_journals(config: &SynthConfig) -> Journals {
    let mut journals = Journals::new();
    let mut revisions: std::collections::HashMap<_, u64> = std::collections::HashMap::new();
    for (position, event) in generate(config).into_iter().enumerate() {
        let revision = revisions.entry(event.person).or_default();
        journals.entry(event.person).or_default().facts.push(
            Fact::new(
                journey_core::log::Position::from_raw(position as u64),
                *revision,
                event.id,
                event.occurred_on,
                event.recorded_at,
                event.actor,
                event.event,
            )
            .expect("a fact holds the generator's revision and time"),
        );
        *revision += 1;
    }
    journals
}

/// [`synthetic_journals`] of `people` persons arriving from 2015 to 2024.
pub fn population(people: usize, seed: u64) -> Journals {
    synthetic_journals(&SynthConfig {
        people,
        seed,
        start: date("2015-01-01"),
        end: date("2024-12-31"),
    })
}
