//! The three folds of a person's history agree: the journey rules (`journey_core::rules`, record
//! order), the projections' person view (`journey_projections::view`, date order at a `known_at`
//! cut) and the API's visibility facts (`journey_api::visibility`).
//!
//! Who works with a person and which consents are active have one definition,
//! `journey_core::involvement`, which the view and the visibility facts both call; corrections and
//! retractions are applied twice, by the rules (`JourneyState::effective_events`, the source of
//! truth) and by the projections' transaction-time cut (`temporal::effective`), which must answer
//! for any `known_at` over a journal and so stays separate. This property test checks over random
//! streams, with corrections, retractions, consents, withdrawals, moves and returns by several
//! agencies, that all of them say the same: the same effective events, the same stay, the same
//! open spells, the same agencies working with the person, the same active consents.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use journey_api::visibility::PersonFacts;
use journey_core::catalogue::*;
use journey_core::clock::FixedClock;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::rules::{decide, JourneyEvent, JourneyState, Presence};
use journey_projections::journal::{Fact, Journal};
use journey_projections::temporal::effective;
use journey_projections::view::{Interval, PersonView};
use journey_projections::LIVE;
use proptest::prelude::*;
use uuid::Uuid;

const AGENCIES: [Agency; 4] = [
    Agency::Jobcenter,
    Agency::Kommune,
    Agency::Jugendamt,
    Agency::Ehrenamt,
];

fn base_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2018, 1, 1).expect("a date")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).expect("a date")
}

/// Who records an event: caseworkers of the four agencies, a coordinator (whose mentoring does
/// not involve their agency) and a system actor without an agency.
fn actor(pick: u8) -> Actor {
    match pick % 6 {
        4 => Actor {
            id: "co-1".into(),
            agency: Some(Agency::Ehrenamt),
            role: ActorRole::Coordinator,
        },
        5 => Actor::system("import"),
        index => Actor {
            id: format!("cw-{index}"),
            agency: Some(AGENCIES[usize::from(index)]),
            role: ActorRole::Caseworker,
        },
    }
}

fn arrival() -> ArrivalRecorded {
    ArrivalRecorded {
        entry_date: None,
        origin: Origin::ReceptionCentre,
        accommodation: Accommodation::Shared,
        district: "north".into(),
    }
}

/// A business event that involves agencies (or moves the person), with few ids so pairs meet.
fn business_event(kind: u8, parameter: u8) -> Event {
    let agency = AGENCIES[usize::from(parameter) % AGENCIES.len()];
    let id = ["A", "B"][usize::from(parameter / 4 % 2)];
    match kind % 12 {
        0 | 1 => arrival().into(),
        2 => MovedAway {
            destination: Destination::OtherMunicipality,
        }
        .into(),
        3 => CounsellingContact {
            agency,
            topic: Topic::Work,
            base: None,
        }
        .into(),
        4 => ReferralMade {
            to_agency: agency,
            topic: Topic::Language,
        }
        .into(),
        5 => CooperationPlanAgreed { agency }.into(),
        6 => EmploymentStarted {
            employment_id: id.into(),
            kind: EmploymentKind::SocialInsuranceFull,
            occupation_code: None,
            weekly_hours: None,
        }
        .into(),
        7 => EmploymentEnded {
            employment_id: id.into(),
        }
        .into(),
        8 => MentorAssigned {
            mentor_id: id.into(),
        }
        .into(),
        9 => MentoringEnded {
            mentor_id: id.into(),
        }
        .into(),
        10 => ChecklistItemCompleted {
            item: ChecklistItem::StartFolder,
        }
        .into(),
        _ => AddressChanged {
            district: "south".into(),
            accommodation: Accommodation::Flat,
        }
        .into(),
    }
}

/// One draw: kind, parameter, actor, target pick, days after the base date.
type Draw = (u8, u8, u8, u8, u16);

/// Builds the proposed event of a draw; corrections and retractions target one of the events
/// recorded so far (mostly recent ones, governance events among them).
fn proposed(draw: Draw, index: usize, recorded: &[Fact]) -> JourneyEvent {
    let (kind, parameter, _, pick, offset) = draw;
    let id = Uuid::from_u128(index as u128 + 1);
    let occurred_on = base_date() + Duration::days(i64::from(offset));
    // The registration (revision 0) is left alone: without it there is no view to compare.
    let target = (recorded.len() > 1).then(|| {
        let back = usize::from(pick % 6).min(recorded.len() - 2);
        recorded[recorded.len() - 1 - back].id
    });
    let consent_id = ["C-1", "C-2"][usize::from(parameter % 2)];
    let event: Event = match (kind % 20, target) {
        (12 | 13, _) => ConsentGiven {
            consent_id: consent_id.into(),
            recipients: vec![
                AGENCIES[usize::from(pick) % AGENCIES.len()],
                AGENCIES[usize::from(parameter / 2) % AGENCIES.len()],
            ],
            purpose: "case management".into(),
            form_version: "2024-1".into(),
        }
        .into(),
        (14, _) => ConsentWithdrawn {
            consent_id: consent_id.into(),
        }
        .into(),
        (15 | 16, Some(target)) => {
            let replacement = business_event(pick, parameter);
            EventCorrected {
                target_event_id: target,
                replacement: Replacement {
                    event_type: replacement.event_type().name().into(),
                    occurred_on: occurred_on - Duration::days(i64::from(pick % 40)),
                    data: replacement.to_data(),
                },
                reason: "typo".into(),
            }
            .into()
        }
        (17, Some(target)) => EventRetracted {
            target_event_id: target,
            reason: "wrong person".into(),
        }
        .into(),
        _ => business_event(kind, parameter),
    };
    JourneyEvent::new(id, occurred_on, event)
}

/// The stream the ledger would have accepted from the draws (each draw decided on its own,
/// refused ones left out), as the projections' journal sees it, and the rules' state after it.
fn accepted_journal(draws: &[Draw]) -> (Journal, JourneyState) {
    let clock = FixedClock::at_date(today());
    let registration = JourneyEvent::new(
        Uuid::from_u128(u128::MAX),
        base_date(),
        PersonRegistered {
            birth_year: journey_core::catalogue::BirthYear::Known(1990),
            sex: Sex::Female,
            nationality: "SYR".into(),
            languages: vec!["ar".into()],
            household_id: None,
        },
    );
    let mut state = JourneyState::default();
    let mut facts: Vec<Fact> = Vec::new();
    for step in 0..=draws.len() {
        let (event, who) = match step.checked_sub(1) {
            None => (registration.clone(), actor(0)),
            Some(index) => (proposed(draws[index], index, &facts), actor(draws[index].2)),
        };
        let Ok(next) = decide(&state, std::slice::from_ref(&event), &clock) else {
            continue;
        };
        state = next;
        let revision = facts.len() as u64;
        facts.push(
            Fact::new(
                journey_core::log::Position::from_raw(revision),
                revision,
                event.id,
                event.occurred_on,
                recorded_at(revision),
                who,
                event.event,
            )
            .expect("a fact holds the test's revision and time"),
        );
    }
    (
        Journal {
            facts,
            erased: false,
        },
        state,
    )
}

/// Transaction times that grow with the revision.
fn recorded_at(revision: u64) -> DateTime<Utc> {
    base_date()
        .and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon"))
        .and_utc()
        + Duration::hours(i64::try_from(revision).unwrap_or(i64::MAX))
}

fn draws() -> impl Strategy<Value = Vec<Draw>> {
    let draw = (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0u16..2700,
    );
    (
        prop::bool::weighted(0.7),
        prop::collection::vec(draw, 0..40),
    )
        .prop_map(|(in_date_order, mut draws)| {
            // Mostly forward in time, so that later events get a chance to be accepted; the
            // other streams record events out of date order, where a fold by record order and
            // one by date could part.
            if in_date_order {
                let mut offsets: Vec<u16> = draws.iter().map(|draw| draw.4).collect();
                offsets.sort_unstable();
                for (draw, offset) in draws.iter_mut().zip(offsets) {
                    draw.4 = offset;
                }
            }
            draws
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rules_view_and_visibility_fold_the_same_history(draws in draws()) {
        let (journal, state) = accepted_journal(&draws);
        let person = PersonId(Uuid::from_u128(7));

        // Corrections and retractions: the rules' effective history is the projections' cut at
        // the live end, event for event (the projections order it by date, ties in stream order).
        let revision_of = |id: Uuid| {
            journal
                .facts
                .iter()
                .position(|fact| fact.id == id)
                .expect("an effective event was recorded")
        };
        let mut by_rules: Vec<(NaiveDate, usize, Uuid, Event)> = state
            .effective_events()
            .into_iter()
            .map(|event| (event.occurred_on, revision_of(event.id), event.id, event.event.clone()))
            .collect();
        by_rules.sort_by_key(|(on, revision, _, _)| (*on, *revision));
        let by_projections: Vec<(NaiveDate, usize, Uuid, Event)> = effective(&journal, LIVE)
            .into_iter()
            .map(|fact| (fact.occurred_on, fact.revision as usize, fact.id, fact.event.into_owned()))
            .collect();
        prop_assert_eq!(&by_rules, &by_projections);

        // Works-with and consents: the visibility facts and the live view agree.
        let facts = PersonFacts::from_journal(&journal.facts);
        let view = PersonView::build(person, &journal, LIVE).expect("registered");
        let involved: BTreeSet<Agency> = view.agencies.iter().map(|known| known.agency).collect();
        prop_assert_eq!(&facts.works_with, &involved);
        let consented: BTreeSet<Agency> = view
            .consents
            .iter()
            .filter(|consent| consent.interval.end.is_none())
            .flat_map(|consent| consent.recipients.iter().copied())
            .collect();
        prop_assert_eq!(&facts.consented, &consented);

        // Presence: the rules (record order) and the view (date order) agree on the stay.
        let latest_stay = view.presence.last().copied();
        let expected_stay = match state.presence() {
            Presence::NotArrived => None,
            Presence::Present { since } => Some(Interval::open(since)),
            Presence::MovedAway { on } => latest_stay.filter(|stay| stay.end == Some(on)),
        };
        prop_assert_eq!(latest_stay, expected_stay);
        prop_assert_eq!(view.presence.is_empty(), state.presence() == Presence::NotArrived);

        // Spells: what the rules hold open is what the view leaves open (a move closes both).
        let open_jobs: BTreeSet<&str> = view
            .employments
            .iter()
            .filter(|job| job.interval.end.is_none())
            .map(|job| job.employment_id.as_str())
            .collect();
        let jobs_by_rules: BTreeSet<&str> =
            state.open_employments().keys().map(String::as_str).collect();
        prop_assert_eq!(open_jobs, jobs_by_rules);
        let open_mentors: BTreeSet<&str> = view
            .mentoring
            .iter()
            .filter(|spell| spell.interval.end.is_none())
            .map(|spell| spell.mentor_id.as_str())
            .collect();
        let mentors_by_rules: BTreeSet<&str> =
            state.active_mentors().keys().map(String::as_str).collect();
        prop_assert_eq!(open_mentors, mentors_by_rules);

        // And the rules' active consents are the same ones.
        let by_rules: BTreeSet<Agency> = state
            .consents()
            .values()
            .flat_map(|consent| consent.recipients.iter().copied())
            .collect();
        prop_assert_eq!(&facts.consented, &by_rules);
    }
}
