//! Tests of the synthetic population generator: reproducibility, acceptance by the journey rules,
//! transaction times, and calibration against the published figures of DOMAIN.md section 7.
//!
//! The calibration test computes the indicators directly from the generated events with a small
//! calculation that follows the definitions of DOMAIN.md section 5 (corrections applied through
//! `rules::evolve`). It is a check of the generator, not the KPI engine; run it with
//! `-- --nocapture` to see every figure next to its reference.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use journey_core::catalogue::{
    BenefitKind, BirthYear, CourseType, EmploymentKind, Event, Exam, Level, RecognitionOutcome, Sex,
};
use journey_core::clock::FixedClock;
use journey_core::envelope::PersonId;
use journey_core::rules::{decide, evolve, JourneyEvent, JourneyState};
use journey_core::synth::{generate, households, SynthConfig, SynthEvent};

fn day(text: &str) -> NaiveDate {
    text.parse().expect("test dates are ISO dates")
}

fn config(people: usize, seed: u64, end: &str) -> SynthConfig {
    SynthConfig {
        people,
        seed,
        start: day("2015-01-01"),
        end: day(end),
    }
}

/// Each person's events in output order.
fn by_person(events: &[SynthEvent]) -> BTreeMap<PersonId, Vec<&SynthEvent>> {
    let mut persons: BTreeMap<PersonId, Vec<&SynthEvent>> = BTreeMap::new();
    for event in events {
        persons.entry(event.person).or_default().push(event);
    }
    persons
}

fn journey_event(event: &SynthEvent) -> JourneyEvent {
    JourneyEvent::new(event.id, event.occurred_on, event.event.clone())
}

#[test]
fn the_same_config_gives_the_same_output_and_another_seed_another() {
    let first = generate(&config(300, 17, "2024-12-31"));
    let second = generate(&config(300, 17, "2024-12-31"));
    assert_eq!(first, second);
    let render = |events: &[SynthEvent]| -> String {
        events
            .iter()
            .map(|event| {
                format!(
                    "{} {} {} {} {} {} {}\n",
                    event.person,
                    event.id,
                    event.occurred_on,
                    event.recorded_at,
                    event.actor.id,
                    event.event.event_type(),
                    event.event.to_data()
                )
            })
            .collect()
    };
    assert_eq!(render(&first), render(&second));
    let other = generate(&config(300, 18, "2024-12-31"));
    assert_ne!(first, other);
}

#[test]
fn the_population_has_the_number_of_persons_asked_for() {
    for people in [1, 2, 57, 400] {
        let events = generate(&config(people, 3, "2023-06-30"));
        assert_eq!(by_person(&events).len(), people, "{people} persons");
    }
    assert!(generate(&config(0, 3, "2023-06-30")).is_empty());
}

/// Several "todays" matter: the rules see different open spells, and dated rules (the §24 permit
/// expiries, the 2022 switch of Ukrainians to SGB II) cut differently.
#[test]
fn every_persons_events_are_accepted_by_the_rules_in_output_order() {
    for (seed, end) in [(5, "2024-12-31"), (6, "2025-06-30"), (7, "2017-03-31")] {
        accepted_by_the_rules(&config(2_000, seed, end));
    }
}

fn accepted_by_the_rules(config: &SynthConfig) {
    let events = generate(config);
    let clock = FixedClock::at_date(config.end);
    let persons = by_person(&events);
    assert_eq!(persons.len(), config.people);
    for (person, events) in &persons {
        let proposed: Vec<JourneyEvent> = events.iter().map(|event| journey_event(event)).collect();
        if let Err(violation) = decide(&JourneyState::default(), &proposed, &clock) {
            let around: Vec<String> = events
                .iter()
                .enumerate()
                .skip(violation.index.saturating_sub(6))
                .take(8)
                .map(|(index, event)| {
                    format!(
                        "  {index}: {} rec {} {} {}",
                        event.occurred_on,
                        event.recorded_at,
                        event.event.event_type(),
                        event.event.to_data()
                    )
                })
                .collect();
            panic!("{person}: {violation}\n{}", around.join("\n"));
        }
    }
}

#[test]
fn transaction_times_lie_between_the_business_date_and_the_end_and_the_output_is_sorted() {
    let end = day("2022-12-31");
    let events = generate(&config(1_500, 9, "2022-12-31"));
    for event in &events {
        assert!(event.occurred_on <= end, "{event:?}");
        assert!(
            event.recorded_at.date_naive() >= event.occurred_on,
            "{event:?}"
        );
        assert!(event.recorded_at.date_naive() <= end, "{event:?}");
        assert_eq!(
            event.actor.role,
            journey_core::envelope::ActorRole::Caseworker
        );
    }
    for pair in events.windows(2) {
        let key = |event: &SynthEvent| (event.recorded_at, event.person);
        assert!(key(&pair[0]) <= key(&pair[1]), "not sorted: {pair:?}");
    }
    // Late entries and corrections exist and are recorded weeks after the business date.
    let late = events
        .iter()
        .filter(|event| (event.recorded_at.date_naive() - event.occurred_on).num_days() >= 21)
        .count();
    assert!(late > 0);
    let corrections = events
        .iter()
        .filter(|event| matches!(event.event, Event::EventCorrected(_)))
        .count();
    let retractions = events
        .iter()
        .filter(|event| matches!(event.event, Event::EventRetracted(_)))
        .count();
    assert!(corrections > 0 && retractions > 0);
    assert!(!events
        .iter()
        .any(|event| matches!(event.event, Event::PersonalDataErased(_))));
}

#[test]
fn households_yield_the_same_events_as_generate() {
    let config = config(500, 21, "2024-12-31");
    let mut from_households: Vec<SynthEvent> = households(&config).flatten().collect();
    let mut all = generate(&config);
    let key = |event: &SynthEvent| (event.person, event.recorded_at, event.id);
    from_households.sort_by_key(key);
    all.sort_by_key(key);
    assert_eq!(from_households, all);
}

#[test]
fn households_share_an_id_and_children_live_with_adults() {
    let events = generate(&config(2_000, 4, "2024-12-31"));
    let mut members: BTreeMap<uuid::Uuid, Vec<BirthYear>> = BTreeMap::new();
    for event in &events {
        if let Event::PersonRegistered(registered) = &event.event {
            if let Some(household) = registered.household_id {
                members
                    .entry(household)
                    .or_default()
                    .push(registered.birth_year);
            }
        }
    }
    assert!(members.len() > 100);
    assert!(members.values().any(|years| years.len() >= 3));
}

#[test]
fn some_persons_move_away_and_some_of_them_return() {
    let events = generate(&config(3_000, 8, "2024-12-31"));
    let mut moved = 0;
    let mut returned = 0;
    for events in by_person(&events).values() {
        let moved_at = events
            .iter()
            .position(|event| matches!(event.event, Event::MovedAway(_)));
        if let Some(moved_at) = moved_at {
            moved += 1;
            let after: Vec<_> = events[moved_at + 1..]
                .iter()
                .map(|event| event.event.event_type())
                .collect();
            if after.iter().any(|event_type| {
                *event_type == journey_core::catalogue::EventType::ArrivalRecorded
            }) {
                returned += 1;
            }
        }
    }
    assert!(moved > 100, "{moved} moved away");
    assert!(
        returned > 0 && returned < moved,
        "{returned} of {moved} returned"
    );
}

/// DOMAIN.md section 7 reference figures the calibration test checks against.
/// "employment rate by years since arrival: ≈7–10% after 1 year (8.5% used), 31% after 3, 49% after
/// 5, 62–63% after 7 (62.5% used)".
const EMPLOYMENT_REFERENCE: [(usize, f64); 4] = [(1, 8.5), (3, 31.0), (5, 49.0), (7, 62.5)];
/// "DTZ results, first-time takers (2017): B1 48.7%".
const DTZ_B1_FIRST_ATTEMPT_REFERENCE: f64 = 48.7;
/// "integration course continuity: 62% continuous".
const COURSE_COMPLETION_REFERENCE: f64 = 62.0;
/// The tolerance of the calibration test in percentage points.
const TOLERANCE_POINTS: f64 = 6.0;
/// "waiting time registration → course start: median ≈5–12 weeks", as days.
const WAITING_MEDIAN_DAYS_RANGE: (i64, i64) = (35, 84);

/// One person's effective history (corrections applied) reduced to what the indicators need.
#[derive(Default)]
struct Facts {
    /// `None` when registered as unknown.
    birth_year: Option<i32>,
    sex: Option<Sex>,
    first_arrival: Option<NaiveDate>,
    /// The entry into Germany recorded with the first arrival, if any.
    first_entry: Option<NaiveDate>,
    present: bool,
    employed: bool,
    marginal: bool,
    sgb2: bool,
    kita: bool,
    school: bool,
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

fn whole_years(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

/// The indicators of DOMAIN.md section 5 the calibration needs, on reporting date `d`, computed
/// from the effective events of every person.
#[derive(Default)]
struct Indicators {
    working_age_by_years: [usize; 11],
    employed_by_years: [usize; 11],
    working_age_by_sex_year_7: BTreeMap<&'static str, (usize, usize)>,
    dtz_window: [usize; 3],
    dtz_all_years: [usize; 3],
    dtz_by_course_type: BTreeMap<&'static str, (usize, usize)>,
    courses_in_completion_window: usize,
    completed_in_completion_window: usize,
    left_in_completion_window: usize,
    waiting_days: Vec<i64>,
    present: usize,
    present_under_65: usize,
    sgb2_under_65: usize,
    working_age_present: usize,
    employed: usize,
    marginal: usize,
    kita: BTreeMap<&'static str, (usize, usize)>,
    school: (usize, usize),
    first_courses_alpha: (usize, usize),
    recognition: BTreeMap<&'static str, usize>,
    asylum_procedure_days: Vec<i64>,
    moved_away: usize,
    returned: usize,
    corrections: usize,
    retractions: usize,
    events: usize,
    persons: usize,
    unknown_birth_year: usize,
}

fn indicators(events: &[SynthEvent], d: NaiveDate) -> Indicators {
    let year_before = d.checked_sub_months(Months::new(12)).expect("date");
    let two_years_before = d.checked_sub_months(Months::new(24)).expect("date");
    let mut result = Indicators {
        events: events.len(),
        ..Indicators::default()
    };
    for person_events in by_person(events).values() {
        result.persons += 1;
        let mut state = JourneyState::default();
        for event in person_events {
            evolve(&mut state, &journey_event(event));
        }
        let effective = state.effective_events();
        let mut facts = Facts::default();
        let mut last_presence: Option<(NaiveDate, usize, bool)> = None;
        let mut employments: BTreeMap<&str, (EmploymentKind, bool)> = BTreeMap::new();
        let mut courses: BTreeMap<&str, (CourseType, NaiveDate, Option<NaiveDate>)> =
            BTreeMap::new();
        let mut dtz_taken_course: Option<CourseType> = None;
        let mut first_course_seen = false;
        let mut filed_on: Option<NaiveDate> = None;
        let mut decided = false;
        let mut moved = false;
        for event in person_events {
            match event.event {
                Event::EventCorrected(_) => result.corrections += 1,
                Event::EventRetracted(_) => result.retractions += 1,
                _ => {}
            }
        }
        for (position, event) in effective.iter().enumerate() {
            let on = event.occurred_on;
            if on > d {
                continue;
            }
            let mut presence = |arrived: bool| {
                let candidate = (on, position, arrived);
                if last_presence.is_none_or(|last| (last.0, last.1) < (on, position)) {
                    last_presence = Some(candidate);
                }
            };
            match &event.event {
                Event::PersonRegistered(registered) => {
                    facts.birth_year = registered.birth_year.year();
                    if facts.birth_year.is_none() {
                        result.unknown_birth_year += 1;
                    }
                    facts.sex = Some(registered.sex);
                }
                Event::ArrivalRecorded(arrival) => {
                    if moved && facts.first_arrival.is_some() {
                        result.returned += 1;
                    }
                    if facts.first_arrival.is_none_or(|first| on < first) {
                        facts.first_arrival = Some(on);
                        facts.first_entry = arrival.entry_date.filter(|entry| *entry <= on);
                    }
                    presence(true);
                }
                Event::MovedAway(_) => {
                    presence(false);
                    if !moved {
                        result.moved_away += 1;
                    }
                    moved = true;
                }
                Event::AsylumApplicationFiled(_) => filed_on = filed_on.or(Some(on)),
                Event::AsylumDecisionIssued(_) => {
                    if let (Some(filed_on), false) = (filed_on, decided) {
                        result
                            .asylum_procedure_days
                            .push((on - filed_on).num_days());
                    }
                    decided = true;
                }
                Event::EmploymentStarted(employment) => {
                    employments.insert(&employment.employment_id, (employment.kind, true));
                }
                Event::EmploymentEnded(employment) => {
                    if let Some(open) = employments.get_mut(employment.employment_id.as_str()) {
                        open.1 = false;
                    }
                }
                Event::BenefitsStarted(benefits) if benefits.kind == BenefitKind::Sgb2 => {
                    facts.sgb2 = true;
                }
                Event::BenefitsEnded(benefits) if benefits.kind == BenefitKind::Sgb2 => {
                    facts.sgb2 = false;
                }
                Event::KitaStarted(_) => facts.kita = true,
                Event::KitaEnded(_) => facts.kita = false,
                Event::SchoolEnrolled(_) => facts.school = true,
                Event::SchoolLeft(_) => facts.school = false,
                Event::CourseRegistered(course) => {
                    courses.insert(&course.course_id, (course.course_type, on, None));
                }
                Event::CourseStarted(course) => {
                    if let Some((course_type, registered_on, started)) =
                        courses.get_mut(course.course_id.as_str())
                    {
                        *started = Some(on);
                        if course_type.is_integration_course() && !first_course_seen {
                            first_course_seen = true;
                            result.first_courses_alpha.1 += 1;
                            if *course_type == CourseType::Alpha {
                                result.first_courses_alpha.0 += 1;
                            }
                        }
                        if on > year_before {
                            result.waiting_days.push((on - *registered_on).num_days());
                        }
                        if course_type.is_integration_course()
                            && on > two_years_before
                            && on <= year_before
                        {
                            result.courses_in_completion_window += 1;
                        }
                    }
                }
                Event::CourseCompleted(course) => {
                    if let Some((course_type, _, Some(started_on))) =
                        courses.get(course.course_id.as_str())
                    {
                        dtz_taken_course = Some(*course_type);
                        if course_type.is_integration_course()
                            && *started_on > two_years_before
                            && *started_on <= year_before
                        {
                            result.completed_in_completion_window += 1;
                        }
                    }
                }
                Event::CourseLeftEarly(course) => {
                    if let Some((course_type, _, Some(started_on))) =
                        courses.get(course.course_id.as_str())
                    {
                        dtz_taken_course = Some(*course_type);
                        if course_type.is_integration_course()
                            && *started_on > two_years_before
                            && *started_on <= year_before
                        {
                            result.left_in_completion_window += 1;
                        }
                    }
                }
                Event::LanguageTestTaken(test) if test.exam == Exam::Dtz && test.first_attempt => {
                    let slot = match test.level {
                        Level::BelowA2 => 2,
                        Level::A2 => 1,
                        _ => 0,
                    };
                    result.dtz_all_years[slot] += 1;
                    if on > year_before {
                        result.dtz_window[slot] += 1;
                    }
                    let group = if dtz_taken_course == Some(CourseType::Alpha) {
                        "alpha"
                    } else {
                        "general"
                    };
                    let entry = result.dtz_by_course_type.entry(group).or_default();
                    entry.1 += 1;
                    if slot == 0 {
                        entry.0 += 1;
                    }
                }
                Event::RecognitionDecided(decision) => {
                    let name = match decision.outcome {
                        RecognitionOutcome::Full => "full",
                        RecognitionOutcome::Partial => "partial",
                        RecognitionOutcome::CompensationMeasure => "compensation_measure",
                        RecognitionOutcome::Negative => "negative",
                    };
                    *result.recognition.entry(name).or_default() += 1;
                }
                _ => {}
            }
        }
        facts.present = last_presence.is_some_and(|(_, _, arrived)| arrived);
        facts.employed = employments.values().any(|(kind, open)| {
            *open
                && matches!(
                    kind,
                    EmploymentKind::SocialInsuranceFull
                        | EmploymentKind::SocialInsurancePart
                        | EmploymentKind::SelfEmployed
                )
        });
        facts.marginal = employments
            .values()
            .any(|(kind, open)| *open && *kind == EmploymentKind::Marginal);
        if !facts.present {
            continue;
        }
        result.present += 1;
        // Age-based figures leave out persons whose birth year is unknown, as the indicators do.
        let Some(age) = facts.birth_year.map(|year| d.year() - year) else {
            continue;
        };
        if age < 65 {
            result.present_under_65 += 1;
            if facts.sgb2 {
                result.sgb2_under_65 += 1;
            }
        }
        match age {
            0..=5 => {
                let band = if age <= 2 { "0-2" } else { "3-5" };
                let entry = result.kita.entry(band).or_default();
                entry.1 += 1;
                if facts.kita {
                    entry.0 += 1;
                }
            }
            6..=15 => {
                result.school.1 += 1;
                if facts.school {
                    result.school.0 += 1;
                }
            }
            _ => {}
        }
        if (15..=64).contains(&age) {
            result.working_age_present += 1;
            if facts.employed {
                result.employed += 1;
            }
            if facts.marginal {
                result.marginal += 1;
            }
            // The published curve counts from the entry into Germany; the first arrival stands
            // in where no entry date is recorded.
            if let Some(entry) = facts.first_entry.or(facts.first_arrival) {
                let years = whole_years(entry, d);
                if let Ok(years) = usize::try_from(years) {
                    if years <= 10 {
                        result.working_age_by_years[years] += 1;
                        if facts.employed {
                            result.employed_by_years[years] += 1;
                        }
                    }
                    if years == 7 {
                        let sex = if facts.sex == Some(Sex::Male) {
                            "men"
                        } else {
                            "women"
                        };
                        let entry = result.working_age_by_sex_year_7.entry(sex).or_default();
                        entry.1 += 1;
                        if facts.employed {
                            entry.0 += 1;
                        }
                    }
                }
            }
        }
    }
    result
}

impl Indicators {
    fn employment_rate(&self, years: usize) -> f64 {
        share(
            self.employed_by_years[years],
            self.working_age_by_years[years],
        )
    }

    fn report(&self, d: NaiveDate) -> String {
        let mut lines = vec![format!(
            "reporting date {d}: {} persons, {} events ({:.1} per person), {} present",
            self.persons,
            self.events,
            self.events as f64 / self.persons as f64,
            self.present
        )];
        lines.push(format!(
            "  registered without a birth year: {} ({:.1}%)",
            self.unknown_birth_year,
            share(self.unknown_birth_year, self.persons)
        ));
        for years in 0..=10 {
            lines.push(format!(
                "  employment {years:>2} years after entry: {:5.1}% of {}",
                self.employment_rate(years),
                self.working_age_by_years[years]
            ));
        }
        for (sex, (employed, all)) in &self.working_age_by_sex_year_7 {
            lines.push(format!(
                "  employment after 7 years, {sex}: {:.1}% of {all}",
                share(*employed, *all)
            ));
        }
        lines.push(format!(
            "  employment rate (working age): {:.1}%, marginal only reported separately: {:.1}%",
            share(self.employed, self.working_age_present),
            share(self.marginal, self.working_age_present)
        ));
        let window: usize = self.dtz_window.iter().sum();
        let all: usize = self.dtz_all_years.iter().sum();
        lines.push(format!(
            "  DTZ first attempts, 12 months up to D: B1 {:.1}%, A2 {:.1}%, below A2 {:.1}% of {window}",
            share(self.dtz_window[0], window),
            share(self.dtz_window[1], window),
            share(self.dtz_window[2], window)
        ));
        lines.push(format!(
            "  DTZ first attempts, all years: B1 {:.1}%, A2 {:.1}%, below A2 {:.1}% of {all}",
            share(self.dtz_all_years[0], all),
            share(self.dtz_all_years[1], all),
            share(self.dtz_all_years[2], all)
        ));
        for (group, (b1, all)) in &self.dtz_by_course_type {
            lines.push(format!(
                "  DTZ B1 after a {group} course: {:.1}% of {all}",
                share(*b1, *all)
            ));
        }
        lines.push(format!(
            "  course completion (started 12-24 months before D): completed {:.1}%, left early {:.1}%, open {:.1}% of {}",
            share(self.completed_in_completion_window, self.courses_in_completion_window),
            share(self.left_in_completion_window, self.courses_in_completion_window),
            share(
                self.courses_in_completion_window
                    - self.completed_in_completion_window
                    - self.left_in_completion_window,
                self.courses_in_completion_window
            ),
            self.courses_in_completion_window
        ));
        let mut waiting = self.waiting_days.clone();
        lines.push(format!(
            "  course waiting time (started in the 12 months up to D): median {:?} days of {}",
            median(&mut waiting),
            waiting.len()
        ));
        lines.push(format!(
            "  first integration course is a literacy course: {:.1}% of {}",
            share(self.first_courses_alpha.0, self.first_courses_alpha.1),
            self.first_courses_alpha.1
        ));
        lines.push(format!(
            "  SGB II among present persons under 65: {:.1}% of {}",
            share(self.sgb2_under_65, self.present_under_65),
            self.present_under_65
        ));
        for (band, (with_place, all)) in &self.kita {
            lines.push(format!(
                "  Kita, age {band}: {:.1}% of {all}",
                share(*with_place, *all)
            ));
        }
        lines.push(format!(
            "  school, age 6-15: {:.1}% of {}",
            share(self.school.0, self.school.1),
            self.school.1
        ));
        let mut procedure = self.asylum_procedure_days.clone();
        lines.push(format!(
            "  asylum procedure (application to first decision): median {:?} days of {}",
            median(&mut procedure),
            procedure.len()
        ));
        lines.push(format!(
            "  moved away: {} persons, of whom {} returned; {} corrections, {} retractions",
            self.moved_away, self.returned, self.corrections, self.retractions
        ));
        let decided: usize = self.recognition.values().sum();
        for (outcome, count) in &self.recognition {
            lines.push(format!(
                "  recognition {outcome}: {:.1}% of {decided}",
                share(*count, decided)
            ));
        }
        lines.join("\n")
    }
}

/// The population's indicators land within the tolerance of the published figures. The
/// reporting date is the end of 2022: the big 2015–2016 cohorts are then seven years in, and the
/// DTZ and course windows (2021–2022) are not yet dominated by the 2022 arrivals from Ukraine.
#[test]
fn indicators_meet_the_published_figures() {
    let end = day("2022-12-31");
    let events = generate(&config(30_000, 2_022, "2022-12-31"));
    let result = indicators(&events, end);
    let report = result.report(end);
    eprintln!("{report}");

    let mut failures = Vec::new();
    let mut check = |name: &str, value: f64, reference: f64| {
        // A NaN (no persons in the cell) compares false and so fails, as it should.
        let within = (value - reference).abs() <= TOLERANCE_POINTS;
        if !within {
            failures.push(format!("{name}: {value:.1} vs reference {reference:.1}"));
        }
    };
    for (years, reference) in EMPLOYMENT_REFERENCE {
        check(
            &format!("employment {years} years after entry"),
            result.employment_rate(years),
            reference,
        );
    }
    // Registries know no birth year for a few refugees: a small share, never none.
    let unknown_birth_year = share(result.unknown_birth_year, result.persons);
    assert!(
        (0.5..=3.0).contains(&unknown_birth_year),
        "{unknown_birth_year:.2}% registered without a birth year"
    );
    let window: usize = result.dtz_window.iter().sum();
    let all: usize = result.dtz_all_years.iter().sum();
    assert!(window >= 300, "too few DTZ tests in the window: {window}");
    check(
        "DTZ B1, first attempts, 12 months up to D",
        share(result.dtz_window[0], window),
        DTZ_B1_FIRST_ATTEMPT_REFERENCE,
    );
    check(
        "DTZ B1, first attempts, all years",
        share(result.dtz_all_years[0], all),
        DTZ_B1_FIRST_ATTEMPT_REFERENCE,
    );
    assert!(result.courses_in_completion_window >= 300);
    check(
        "course completion",
        share(
            result.completed_in_completion_window,
            result.courses_in_completion_window,
        ),
        COURSE_COMPLETION_REFERENCE,
    );
    let mut waiting = result.waiting_days.clone();
    let waiting_median = median(&mut waiting).expect("courses started in the window");
    if !(WAITING_MEDIAN_DAYS_RANGE.0..=WAITING_MEDIAN_DAYS_RANGE.1).contains(&waiting_median) {
        failures.push(format!("median course waiting time {waiting_median} days"));
    }
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
}

/// The synthetic population uses the registers: every district and course provider it records
/// (corrections' replacements included) is a code of Salzgitter's shipped registers on the date
/// of its event, so seeding an installation with those registers loaded is accepted.
#[test]
fn every_coded_value_is_in_salzgitters_registers_on_its_date() {
    use journey_core::registers::{RegisterFile, Registers};
    let mut registers = Registers::default();
    let changes = RegisterFile::salzgitter()
        .changes(&registers, day("2025-01-01"))
        .expect("the shipped file imports");
    for (kind, on, event) in &changes {
        registers.apply(*kind, *on, event).expect("applies");
    }
    let events = generate(&config(600, 5, "2025-06-30"));
    let mut checked = 0;
    for event in &events {
        if let Err(unknown) = registers.check_event(&event.event, event.occurred_on) {
            panic!("{}: {unknown}", event.id);
        }
        checked += journey_core::registers::coded_values(&event.event).len();
    }
    assert!(
        checked > 600,
        "districts and providers were checked ({checked})"
    );
}
