//! Recording a planned journey: who enters each event, when (transaction time), with which id, and
//! the mistakes caseworkers make and correct.
//!
//! The journey rules check events in the order they are recorded, not by business date. Most
//! events are entered within days, in the order they happened; those that carry a start or an end
//! (the *anchored* events) are kept in that order, so a caseworker who enters an event weeks late
//! has the following anchored events of that person wait until then, like a file being caught up.
//! Events that open or close nothing (contacts, tests, checklist items, status changes) may be
//! entered late on their own, but never after the person's departure is recorded, because after
//! `MovedAway` only a return or governance events are accepted.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use rand::rngs::StdRng;
use rand::Rng;

use crate::catalogue::{
    AddressChanged, Agency, ArrivalRecorded, CourseRegistered, CourseType, EmploymentKind,
    EmploymentStarted, Event, EventCorrected, EventRetracted, EventType, LanguageTestTaken, Level,
    Replacement, Topic,
};
use crate::envelope::{Actor, ActorRole, PersonId};

use super::calibration::{DUPLICATE_SHARE, MISTAKE_SHARE};
use super::plan::{Planned, Rank};
use super::population::DISTRICTS;
use super::random::{add_days, chance, days_between, pick, uuid};
use super::SynthEvent;

/// Caseworkers per agency (pool size) and the short code in their pseudonymous ids (`cw-jc-07`).
/// Assumption: a mid-sized city's staff working with refugees.
fn caseworker_pool(agency: Agency) -> (&'static str, u32) {
    match agency {
        Agency::Kommune => ("ko", 18),
        Agency::Auslaenderbehoerde => ("abh", 12),
        Agency::Jobcenter => ("jc", 30),
        Agency::Arbeitsagentur => ("aa", 10),
        Agency::Bildungsbuero => ("bb", 8),
        Agency::Jugendamt => ("ja", 10),
        Agency::Sozialarbeit => ("sa", 14),
        Agency::Ehrenamt => ("eh", 5),
        Agency::Wohnungsbau => ("wb", 3),
        Agency::Caritas => ("ca", 3),
        Agency::Diakonie => ("di", 3),
        Agency::Drk => ("drk", 3),
        Agency::Awo => ("awo", 3),
        Agency::Vereine => ("ve", 4),
    }
}

/// Caseworkers change every few years (staff turnover, reorganised caseloads). Assumption.
const CASEWORKER_TERM_YEARS: i32 = 3;

/// The caseworkers a household deals with: one starting number per agency, moving on every
/// `CASEWORKER_TERM_YEARS`.
#[derive(Debug, Clone)]
pub(super) struct Caseworkers {
    first: [u32; 8],
}

impl Caseworkers {
    pub(super) fn draw(rng: &mut StdRng) -> Self {
        let mut first = [0; 8];
        for slot in &mut first {
            *slot = rng.gen_range(0..1_000);
        }
        Self { first }
    }

    fn actor(&self, agency: Agency, at: DateTime<Utc>) -> Actor {
        let (code, pool) = caseworker_pool(agency);
        // The first eight agencies have a draw each; the partners of Start.Punkt.SZ, added later,
        // reuse one (modulo), so that adding them changed no earlier draw of the population.
        let slot = Agency::ALL
            .iter()
            .position(|candidate| *candidate == agency)
            .unwrap_or(0)
            % self.first.len();
        let term = u32::try_from((at.year() - 2010).div_euclid(CASEWORKER_TERM_YEARS)).unwrap_or(0);
        let number = (self.first[slot] + term * 7) % pool + 1;
        Actor {
            id: format!("cw-{code}-{number:02}"),
            agency: Some(agency),
            role: ActorRole::Caseworker,
        }
    }
}

/// How many days after the business date an event is entered: mostly the same day or within the
/// week, sometimes weeks later. Assumption.
fn entry_delay_days(rng: &mut StdRng, anchored: bool) -> i64 {
    let late_share = if anchored { 0.01 } else { 0.04 };
    if chance(rng, late_share) {
        return days_between(rng, 21, 90);
    }
    *pick(
        rng,
        &[
            (0, 0.55),
            (1, 0.15),
            (2, 0.1),
            (3, 0.06),
            (5, 0.06),
            (9, 0.05),
            (14, 0.03),
        ],
    )
}

/// A time during office hours on `day`, or on the Monday after when `day` falls on a weekend,
/// because caseworkers enter events while their offices are open.
fn office_time(rng: &mut StdRng, day: NaiveDate) -> DateTime<Utc> {
    let day = match day.weekday() {
        Weekday::Sat => add_days(day, 2),
        Weekday::Sun => add_days(day, 1),
        _ => day,
    };
    let seconds = rng.gen_range(7 * 3600..16 * 3600);
    let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, 0).unwrap_or(NaiveTime::MIN);
    day.and_time(time).and_utc()
}

/// Whether an event opens or closes something (or is a governance event, which may pair too):
/// such events keep their relative order when recorded.
fn anchored(event_type: EventType) -> bool {
    !matches!(
        event_type,
        EventType::AsylumApplicationFiled
            | EventType::AsylumDecisionIssued
            | EventType::ResidenceStatusChanged
            | EventType::AddressChanged
            | EventType::CourseEntitlementIssued
            | EventType::LanguageTestTaken
            | EventType::OrientationTestTaken
            | EventType::KitaPlaceRequested
            | EventType::CooperationPlanAgreed
            | EventType::CounsellingContact
            | EventType::ReferralMade
            | EventType::ChecklistItemCompleted
    )
}

/// The day of the latest arrival (a return is an arrival too) among `earlier`.
fn latest_arrival_on(earlier: &[Planned]) -> Option<NaiveDate> {
    earlier.iter().rev().find_map(|earlier| {
        matches!(earlier.event, Event::ArrivalRecorded(_)).then_some(earlier.on)
    })
}

/// A wrong version of an event that a caseworker could plausibly have entered, with the reason
/// given when correcting it. The wrong versions never break a journey rule on their own: dates are
/// only ever moved earlier and never before what they depend on.
fn mistake(
    rng: &mut StdRng,
    planned: &Planned,
    earlier: &[Planned],
) -> Option<(NaiveDate, Event, &'static str)> {
    let on = planned.on;
    match &planned.event {
        Event::LanguageTestTaken(test) => {
            let level = match test.level {
                Level::BelowA2 => Level::A2,
                Level::A2 => {
                    if chance(rng, 0.5) {
                        Level::B1
                    } else {
                        Level::BelowA2
                    }
                }
                Level::B1 => Level::A2,
                Level::B2 => Level::B1,
                Level::C1 => Level::B2,
                Level::C2 => Level::C1,
            };
            Some((
                on,
                LanguageTestTaken {
                    level,
                    ..test.clone()
                }
                .into(),
                "wrong level entered from the certificate",
            ))
        }
        Event::CourseRegistered(course) => {
            let course_type = if course.course_type == CourseType::General {
                CourseType::Alpha
            } else {
                CourseType::General
            };
            Some((
                on,
                CourseRegistered {
                    course_type,
                    ..course.clone()
                }
                .into(),
                "wrong course type selected",
            ))
        }
        Event::CourseStarted(course) => {
            let registered_on = earlier
                .iter()
                .rev()
                .find_map(|earlier| match &earlier.event {
                    Event::CourseRegistered(registered)
                        if registered.course_id == course.course_id =>
                    {
                        Some(earlier.on)
                    }
                    _ => None,
                })?;
            let wrong = add_days(on, -days_between(rng, 1, 30)).max(registered_on);
            (wrong < on).then(|| (wrong, planned.event.clone(), "wrong start date entered"))
        }
        Event::EmploymentStarted(employment) => {
            if chance(rng, 0.5) {
                // Never before the latest arrival: after a return, a job dated before the
                // return would start while the person was away (rule start_not_before_return).
                let latest_arrival = latest_arrival_on(earlier)?;
                let wrong = add_days(on, -days_between(rng, 28, 31)).max(latest_arrival);
                (wrong < on).then(|| (wrong, planned.event.clone(), "wrong month entered"))
            } else {
                let kind = match employment.kind {
                    EmploymentKind::SocialInsuranceFull => EmploymentKind::SocialInsurancePart,
                    EmploymentKind::SocialInsurancePart => EmploymentKind::SocialInsuranceFull,
                    EmploymentKind::Marginal => EmploymentKind::SocialInsurancePart,
                    EmploymentKind::SelfEmployed => return None,
                };
                Some((
                    on,
                    EmploymentStarted {
                        kind,
                        ..employment.clone()
                    }
                    .into(),
                    "wrong kind of employment selected",
                ))
            }
        }
        Event::CounsellingContact(contact) => {
            let topic = Topic::ALL[rng.gen_range(0..Topic::ALL.len())];
            (topic != contact.topic).then(|| {
                let mut wrong = contact.clone();
                wrong.topic = topic;
                (on, wrong.into(), "wrong topic selected")
            })
        }
        Event::ArrivalRecorded(arrival) => {
            let district = *pick(rng, DISTRICTS);
            (district != arrival.district).then(|| {
                (
                    on,
                    ArrivalRecorded {
                        district: district.to_owned(),
                        ..arrival.clone()
                    }
                    .into(),
                    "wrong district entered",
                )
            })
        }
        Event::AddressChanged(address) => {
            let district = *pick(rng, DISTRICTS);
            (district != address.district).then(|| {
                (
                    on,
                    AddressChanged {
                        district: district.to_owned(),
                        ..address.clone()
                    }
                    .into(),
                    "wrong district entered",
                )
            })
        }
        _ => None,
    }
}

/// How long after the mistaken entry the correction is recorded. Assumption: weeks, when a
/// certificate, a plausibility check or the person themselves brings it up.
const CORRECTION_DELAY_DAYS: (i64, i64) = (14, 70);
/// How long after a duplicate entry it is retracted. Assumption.
const RETRACTION_DELAY_DAYS: (i64, i64) = (3, 42);

/// One recorded event before the final sort: its transaction time, the planned event's place and a
/// sub-position (the event itself, then what follows it at the same time).
struct Entry {
    recorded_at: DateTime<Utc>,
    place: usize,
    sub: u8,
    event: SynthEvent,
}

/// Records the planned events of one person: ids, transaction times, actors, mistakes and their
/// corrections, duplicates and their retractions. The result is in recording order, which the
/// journey rules accept.
pub(super) fn record(
    rng: &mut StdRng,
    person: PersonId,
    planned: &[Planned],
    caseworkers: &Caseworkers,
    end: NaiveDate,
) -> Vec<SynthEvent> {
    let cap = end
        .and_time(NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN))
        .and_utc();
    let desired: Vec<DateTime<Utc>> = planned
        .iter()
        .map(|event| {
            let delay = entry_delay_days(rng, anchored(event.event.event_type()));
            office_time(rng, add_days(event.on, delay))
        })
        .collect();

    // Anchored events keep their order: each waits for the one before it.
    let mut recorded_at = desired.clone();
    let mut last_anchor: Option<DateTime<Utc>> = None;
    let mut previous_anchor = vec![None; planned.len()];
    for (index, event) in planned.iter().enumerate() {
        previous_anchor[index] = last_anchor;
        if anchored(event.event.event_type()) {
            let at = last_anchor.map_or(desired[index], |last| desired[index].max(last));
            recorded_at[index] = at;
            last_anchor = Some(at);
        }
    }
    // The others fall between the anchored event before them and the next departure.
    let mut next_departure: Option<DateTime<Utc>> = None;
    for index in (0..planned.len()).rev() {
        let event = &planned[index];
        if event.rank == Rank::Departure {
            next_departure = Some(recorded_at[index]);
        }
        if !anchored(event.event.event_type()) {
            let mut at = desired[index];
            if let Some(floor) = previous_anchor[index] {
                at = at.max(floor);
            }
            if let Some(ceiling) = next_departure {
                at = at.min(ceiling);
            }
            recorded_at[index] = at;
        }
    }
    for at in &mut recorded_at {
        *at = (*at).min(cap);
    }

    let mut entries = Vec::with_capacity(planned.len() + 4);
    for (place, event) in planned.iter().enumerate() {
        let at = recorded_at[place];
        let id = uuid(rng);
        let actor = caseworkers.actor(event.agency, at);
        let mut occurred_on = event.on;
        let mut recorded_event = event.event.clone();

        if chance(rng, MISTAKE_SHARE) {
            if let Some((wrong_on, wrong_event, reason)) = mistake(rng, event, &planned[..place]) {
                let corrected_on = add_days(
                    at.date_naive(),
                    days_between(rng, CORRECTION_DELAY_DAYS.0, CORRECTION_DELAY_DAYS.1),
                );
                if corrected_on <= end {
                    let corrected_at = office_time(rng, corrected_on).min(cap);
                    occurred_on = wrong_on;
                    recorded_event = wrong_event;
                    let correction = EventCorrected {
                        target_event_id: id,
                        replacement: Replacement {
                            event_type: event.event.event_type().name().to_owned(),
                            occurred_on: event.on,
                            data: event.event.to_data(),
                        },
                        reason: reason.to_owned(),
                    };
                    entries.push(Entry {
                        recorded_at: corrected_at,
                        place,
                        sub: 2,
                        event: SynthEvent {
                            person,
                            id: uuid(rng),
                            occurred_on: corrected_on,
                            recorded_at: corrected_at,
                            actor: caseworkers.actor(event.agency, corrected_at),
                            event: correction.into(),
                        },
                    });
                }
            }
        }

        let duplicable = matches!(
            event.event,
            Event::CounsellingContact(_) | Event::ChecklistItemCompleted(_)
        );
        if duplicable && chance(rng, DUPLICATE_SHARE) {
            let retracted_on = add_days(
                at.date_naive(),
                days_between(rng, RETRACTION_DELAY_DAYS.0, RETRACTION_DELAY_DAYS.1),
            );
            if retracted_on <= end {
                let duplicate_id = uuid(rng);
                entries.push(Entry {
                    recorded_at: at,
                    place,
                    sub: 1,
                    event: SynthEvent {
                        person,
                        id: duplicate_id,
                        occurred_on,
                        recorded_at: at,
                        actor: actor.clone(),
                        event: recorded_event.clone(),
                    },
                });
                let retracted_at = office_time(rng, retracted_on).min(cap);
                entries.push(Entry {
                    recorded_at: retracted_at,
                    place,
                    sub: 3,
                    event: SynthEvent {
                        person,
                        id: uuid(rng),
                        occurred_on: retracted_on,
                        recorded_at: retracted_at,
                        actor: caseworkers.actor(event.agency, retracted_at),
                        event: EventRetracted {
                            target_event_id: duplicate_id,
                            reason: "recorded twice".to_owned(),
                        }
                        .into(),
                    },
                });
            }
        }

        entries.push(Entry {
            recorded_at: at,
            place,
            sub: 0,
            event: SynthEvent {
                person,
                id,
                occurred_on,
                recorded_at: at,
                actor,
                event: recorded_event,
            },
        });
    }
    entries.sort_by_key(|entry| (entry.recorded_at, entry.place, entry.sub));
    entries.into_iter().map(|entry| entry.event).collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use crate::catalogue::{Accommodation, Destination, MovedAway, Origin};

    use super::super::plan::{Closer, Plan, Stay};
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("test dates are ISO dates")
    }

    fn arrival() -> ArrivalRecorded {
        ArrivalRecorded {
            entry_date: None,
            origin: Origin::Abroad,
            accommodation: Accommodation::Flat,
            district: "lebenstedt".into(),
        }
    }

    #[test]
    fn a_wrong_month_for_a_job_after_a_return_is_never_before_the_return() {
        // Given a person who arrived, moved away, returned on 2022-06-17 and started a job three
        // days after the return.
        let mut plan = Plan::new();
        plan.add_stay_event(day("2019-03-01"), Agency::Kommune, arrival());
        plan.add_stay_event(
            day("2022-01-30"),
            Agency::Kommune,
            MovedAway {
                destination: Destination::Abroad,
            },
        );
        plan.add_stay_event(day("2022-06-17"), Agency::Kommune, arrival());
        let job = plan.group(Agency::Jobcenter, Closer::Employment("E-1".into()));
        plan.add_to(
            job,
            day("2022-06-20"),
            Agency::Jobcenter,
            EmploymentStarted {
                employment_id: "E-1".into(),
                kind: EmploymentKind::Marginal,
                occupation_code: None,
                weekly_hours: None,
            },
        );
        let stay = Stay {
            moved_away: Some(day("2022-01-30")),
            returned: Some(day("2022-06-17")),
        };
        let planned = plan.finish(stay, day("2024-12-31"));
        let (place, _) = planned
            .iter()
            .enumerate()
            .find(|(_, planned)| matches!(planned.event, Event::EmploymentStarted(_)))
            .expect("the job is kept: it starts after the return");
        // When a caseworker enters it with a wrong date, for many draws.
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            if let Some((wrong_on, _, _)) = mistake(&mut rng, &planned[place], &planned[..place]) {
                // Then the wrong date is never before the return (the rule would refuse it).
                assert!(wrong_on >= day("2022-06-17"), "seed {seed}: {wrong_on}");
            }
        }
    }
}
