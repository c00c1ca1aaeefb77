//! Who may see which person (the role matrix of README.md, API section).
//!
//! This is the one place that decides it. The facts are folded from the person's recorded events:
//! every read folds the ledger's decoded timeline ([`PersonFacts::from_timeline`]; the projections
//! keep interned events, not timelines); a journal of decoded facts ([`PersonFacts::from_journal`],
//! what `api/tests/folds.rs` compares with the projections' views) goes through the same fold
//! ([`PersonFacts::fold`]), so the two sources give the same facts for the same events. The
//! decision itself ([`access`]) takes only the facts.
//!
//! Who works with a person and which consents are active are defined once, in
//! `journey_core::involvement` (read its rules there); the fold applies them to the effective
//! history the journey rules give (`journey_core::rules`), and the projections' person view
//! applies the same definition, so lists built from the views ([`sees_in_view`]) agree with
//! person reads (`api/tests/folds.rs` checks it over random streams).
//!
//! Decisions of this module:
//! - After erasure nothing is effective any more (the payloads no longer open), so the agencies
//!   whose caseworkers recorded anything for the person keep working with them, to see that the
//!   person was erased.
//! - Access is decided on what is recorded now, whatever `knownAt` a query asks for: a withdrawn
//!   consent also hides the history from before the withdrawal.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::{Agency, Event, EventType};
use journey_core::envelope::Actor;
use journey_core::involvement::{caseworker_agency, involved_agencies, Consents};
use journey_core::ledger::DecodedEvent;
use journey_core::rules::{self, JourneyEvent, JourneyState};
use journey_projections::journal::Fact;
use journey_projections::view::PersonView;
use uuid::Uuid;

use crate::auth::{Principal, Role};

/// The facts about one person that visibility depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonFacts {
    /// The stream holds at least one event.
    pub exists: bool,
    pub erased: bool,
    pub works_with: BTreeSet<Agency>,
    /// The agencies named by an active consent.
    pub consented: BTreeSet<Agency>,
}

/// One recorded event as visibility reads it: an event of the ledger's decoded timeline, or the
/// projections' [`Fact`] of the same event.
pub trait Recorded {
    /// Who recorded it.
    fn actor(&self) -> &Actor;
    fn id(&self) -> Uuid;
    fn occurred_on(&self) -> NaiveDate;
    fn recorded_at(&self) -> DateTime<Utc>;
    /// Whether it is a `PersonalDataErased`.
    fn is_erasure(&self) -> bool;
    /// The decoded event; `None` when its payload can no longer be opened (erased person).
    fn event(&self) -> Option<&Event>;
}

impl Recorded for DecodedEvent {
    fn actor(&self) -> &Actor {
        &self.actor
    }
    fn id(&self) -> Uuid {
        self.recorded.event.id
    }
    fn occurred_on(&self) -> NaiveDate {
        self.recorded.event.occurred_on
    }
    fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded.event.recorded_at
    }
    fn is_erasure(&self) -> bool {
        self.recorded.event.event_type == EventType::PersonalDataErased.name()
    }
    fn event(&self) -> Option<&Event> {
        self.event.as_ref()
    }
}

impl Recorded for Fact {
    fn actor(&self) -> &Actor {
        &self.actor
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn occurred_on(&self) -> NaiveDate {
        self.occurred_on
    }
    fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at.time()
    }
    fn is_erasure(&self) -> bool {
        self.event.event_type() == EventType::PersonalDataErased
    }
    fn event(&self) -> Option<&Event> {
        Some(&self.event)
    }
}

pub use journey_core::involvement::ConsentRecord;

/// Every consent of a timeline, in the order given (see `journey_core::involvement::Consents`).
pub fn consents<R: Recorded>(timeline: &[R]) -> Vec<ConsentRecord> {
    let mut consents = Consents::default();
    for recorded in timeline {
        if let Some(event) = recorded.event() {
            consents.apply(recorded.occurred_on(), recorded.recorded_at(), event);
        }
    }
    consents.into_records()
}

impl PersonFacts {
    /// Folds the facts from a person's whole decoded timeline.
    pub fn from_timeline(timeline: &[DecodedEvent]) -> Self {
        Self::fold(timeline)
    }

    /// Folds the facts from a journal of a person's decoded facts, which holds the same events as
    /// the timeline as long as it is complete (no revision missing) and the person is not erased;
    /// the caller checks both.
    pub fn from_journal(facts: &[Fact]) -> Self {
        Self::fold(facts)
    }

    /// Folds the facts from every recorded event of a person, in stream order.
    pub fn fold<R: Recorded>(timeline: &[R]) -> Self {
        let mut facts = PersonFacts {
            exists: !timeline.is_empty(),
            ..PersonFacts::default()
        };
        let mut state = JourneyState::default();
        let mut consents = Consents::default();
        for recorded in timeline {
            if recorded.is_erasure() {
                facts.erased = true;
            }
            if let Some(event) = recorded.event() {
                rules::evolve(
                    &mut state,
                    &JourneyEvent {
                        id: recorded.id(),
                        occurred_on: recorded.occurred_on(),
                        event: event.clone(),
                    },
                );
                consents.apply(recorded.occurred_on(), recorded.recorded_at(), event);
            }
        }
        if facts.erased {
            facts.works_with = timeline
                .iter()
                .filter_map(|recorded| caseworker_agency(recorded.actor()))
                .collect();
        } else {
            // A corrected event keeps its original id, so it counts for whoever recorded it.
            let recorders: BTreeMap<Uuid, &Actor> = timeline
                .iter()
                .map(|recorded| (recorded.id(), recorded.actor()))
                .collect();
            for event in state.effective_events() {
                if let Some(actor) = recorders.get(&event.id) {
                    facts
                        .works_with
                        .extend(involved_agencies(actor, &event.event));
                }
            }
        }
        facts.consented = consents.consented();
        facts
    }
}

/// What a principal may see of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every event, the consents and the personal data.
    Full,
    /// That the person exists and their mentoring events (`MentorRequested`, `MentorAssigned`,
    /// `MentoringEnded`).
    MentoringOnly,
    /// Nothing; the message says why.
    Denied(String),
}

/// The events a coordinator sees and may record: asking for a mentor, assigning one, ending it.
pub fn is_mentoring(event_type: &str) -> bool {
    event_type == EventType::MentorRequested.name()
        || event_type == EventType::MentorAssigned.name()
        || event_type == EventType::MentoringEnded.name()
}

/// Who may read and record the volunteer register (`volunteer-<uuid>` streams, the volunteers'
/// names and contacts, their erasure, the open mentor requests): the volunteer coordination and
/// admins. The one rule every endpoint asks (GraphQL and the gRPC streams); the message says why
/// anyone else is refused. Caseworkers work with persons, not volunteers; analysts have the
/// volunteer indicators, which are aggregates.
pub fn may_manage_volunteers(role: Role) -> Result<(), String> {
    match role {
        Role::Admin | Role::Coordinator => Ok(()),
        other => Err(format!(
            "the volunteer register is for coordinators and admins, not {other}; the volunteer indicators are aggregates (`kpi`)"
        )),
    }
}

/// The decision. `facts.exists` is not checked here: callers answer NOT_FOUND first.
pub fn access(principal: &Principal, facts: &PersonFacts) -> Access {
    match principal.role {
        Role::Admin => Access::Full,
        Role::Coordinator => Access::MentoringOnly,
        Role::Analyst => Access::Denied(
            "analysts see no person-level data; use `events` (pseudonymised)".into(),
        ),
        Role::Auditor => {
            Access::Denied("auditors see the audit log, not person-level data".into())
        }
        Role::Replication => Access::Denied(
            "the replication role reads and writes plain streams over the KurrentDB protocol, not persons".into(),
        ),
        Role::Replica => Access::Denied(
            "the replica role follows `$all` over the KurrentDB protocol for a read replica; it reads no person through GraphQL".into(),
        ),
        Role::Caseworker => match principal.agency {
            Some(agency) if facts.works_with.contains(&agency) => Access::Full,
            Some(agency) if facts.consented.contains(&agency) => Access::Full,
            Some(agency) => Access::Denied(format!(
                "agency `{agency}` does not work with this person and holds no active consent naming it"
            )),
            None => Access::Denied("a caseworker token without an agency sees no one".into()),
        },
    }
}

/// Whether a caseworker's agency is involved with the person in their live view (any date): the
/// view-side counterpart of `works_with`, for lists built from the projections.
pub fn involved_in_view(principal: &Principal, view: &PersonView) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::Caseworker => principal.agency.is_some_and(|agency| {
            view.agencies
                .iter()
                .any(|involvement| involvement.agency == agency)
        }),
        _ => false,
    }
}

/// Whether a caseworker sees the person in lists built from the live view: their agency is
/// involved, or a consent that is not withdrawn names it.
pub fn sees_in_view(principal: &Principal, view: &PersonView) -> bool {
    involved_in_view(principal, view)
        || (principal.role == Role::Caseworker
            && principal.agency.is_some_and(|agency| {
                view.consents.iter().any(|consent| {
                    consent.interval.end.is_none() && consent.recipients.contains(&agency)
                })
            }))
}

/// Whether the principal may erase the person: admins, and caseworkers whose agency works with the
/// person (a consent alone does not suffice: it was given for a purpose, not for erasure).
pub fn may_erase(principal: &Principal, facts: &PersonFacts) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::Caseworker => principal
            .agency
            .is_some_and(|agency| facts.works_with.contains(&agency)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caseworker(agency: Agency) -> Principal {
        Principal {
            token_id: "tok-1".into(),
            name: None,
            role: Role::Caseworker,
            agency: Some(agency),
        }
    }

    #[test]
    fn caseworkers_see_whom_their_agency_works_with_or_holds_a_consent_for() {
        let mut facts = PersonFacts {
            exists: true,
            ..PersonFacts::default()
        };
        facts.works_with.insert(Agency::Jobcenter);
        assert_eq!(access(&caseworker(Agency::Jobcenter), &facts), Access::Full);
        assert!(matches!(
            access(&caseworker(Agency::Jugendamt), &facts),
            Access::Denied(_)
        ));
        facts.consented.insert(Agency::Jugendamt);
        assert_eq!(access(&caseworker(Agency::Jugendamt), &facts), Access::Full);
        assert!(!may_erase(&caseworker(Agency::Jugendamt), &facts));
        assert!(may_erase(&caseworker(Agency::Jobcenter), &facts));
    }
}
