//! Who may see which person (the role matrix of README.md, API section).
//!
//! This is the one place that decides it. The facts are folded from the person's recorded events,
//! either the ledger's decoded timeline ([`PersonFacts::from_timeline`]) or the projections'
//! journal of the same events ([`PersonFacts::from_journal`]); both go through one fold
//! ([`PersonFacts::fold`]), so the two sources give the same facts for the same events. The
//! decision itself ([`access`]) takes only the facts.
//!
//! Rules:
//! - An agency *works with* a person when one of its caseworkers recorded any event in the person's
//!   stream, or when an effective (not retracted, as corrected) `CooperationPlanAgreed`,
//!   `ReferralMade` (`to_agency`) or `CounsellingContact` names it.
//! - A consent is active from the moment its `ConsentGiven` is recorded until a `ConsentWithdrawn`
//!   with the same `consent_id` is recorded.
//! - A coordinator's events (mentoring) do not make their agency one that works with the person:
//!   coordinators see mentoring facts only and may record them for anyone, so counting them would
//!   let a coordinator open any person to every caseworker of their agency.
//! - Access is decided on what is recorded now, whatever `knownAt` a query asks for: a withdrawn
//!   consent also hides the history from before the withdrawal.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::{Agency, Event, EventType};
use journey_core::envelope::ActorRole;
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
    /// The agency of the actor who recorded it, when that actor is a caseworker (a coordinator's
    /// mentoring does not make their agency one that works with the person).
    fn caseworker_agency(&self) -> Option<Agency>;
    fn id(&self) -> Uuid;
    fn occurred_on(&self) -> NaiveDate;
    fn recorded_at(&self) -> DateTime<Utc>;
    /// Whether it is a `PersonalDataErased`.
    fn is_erasure(&self) -> bool;
    /// The decoded event; `None` when its payload can no longer be opened (erased person).
    fn event(&self) -> Option<&Event>;
}

impl Recorded for DecodedEvent {
    fn caseworker_agency(&self) -> Option<Agency> {
        let actor = &self.recorded.event.actor;
        actor.agency.filter(|_| actor.role == ActorRole::Caseworker)
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
    fn caseworker_agency(&self) -> Option<Agency> {
        self.actor
            .agency
            .filter(|_| self.actor.role == ActorRole::Caseworker)
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn occurred_on(&self) -> NaiveDate {
        self.occurred_on
    }
    fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }
    fn is_erasure(&self) -> bool {
        self.event.event_type() == EventType::PersonalDataErased
    }
    fn event(&self) -> Option<&Event> {
        Some(&self.event)
    }
}

/// One consent as recorded, with its withdrawal if there was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub consent_id: String,
    pub recipients: Vec<Agency>,
    pub purpose: String,
    pub form_version: String,
    pub given_on: NaiveDate,
    pub given_at: DateTime<Utc>,
    pub withdrawn_on: Option<NaiveDate>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl ConsentRecord {
    pub fn is_active(&self) -> bool {
        self.withdrawn_at.is_none()
    }
}

/// Every consent of a timeline, in the order given. A second `ConsentGiven` with an id that is
/// still active changes nothing (the rules refuse it anyway); after a withdrawal the same id may be
/// given again and is then listed again.
pub fn consents<R: Recorded>(timeline: &[R]) -> Vec<ConsentRecord> {
    let mut all: Vec<ConsentRecord> = Vec::new();
    let mut active: BTreeMap<String, usize> = BTreeMap::new();
    for recorded in timeline {
        match recorded.event() {
            Some(Event::ConsentGiven(given)) if !active.contains_key(&given.consent_id) => {
                active.insert(given.consent_id.clone(), all.len());
                all.push(ConsentRecord {
                    consent_id: given.consent_id.clone(),
                    recipients: given.recipients.clone(),
                    purpose: given.purpose.clone(),
                    form_version: given.form_version.clone(),
                    given_on: recorded.occurred_on(),
                    given_at: recorded.recorded_at(),
                    withdrawn_on: None,
                    withdrawn_at: None,
                });
            }
            Some(Event::ConsentWithdrawn(withdrawn)) => {
                if let Some(index) = active.remove(&withdrawn.consent_id) {
                    all[index].withdrawn_on = Some(recorded.occurred_on());
                    all[index].withdrawn_at = Some(recorded.recorded_at());
                }
            }
            _ => {}
        }
    }
    all
}

impl PersonFacts {
    /// Folds the facts from a person's whole decoded timeline.
    pub fn from_timeline(timeline: &[DecodedEvent]) -> Self {
        Self::fold(timeline)
    }

    /// Folds the facts from the projections' journal of a person, which holds the same events as
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
        for recorded in timeline {
            if let Some(agency) = recorded.caseworker_agency() {
                facts.works_with.insert(agency);
            }
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
            }
        }
        for event in state.effective_events() {
            match &event.event {
                Event::CooperationPlanAgreed(plan) => {
                    facts.works_with.insert(plan.agency);
                }
                Event::ReferralMade(referral) => {
                    facts.works_with.insert(referral.to_agency);
                }
                Event::CounsellingContact(contact) => {
                    facts.works_with.insert(contact.agency);
                }
                _ => {}
            }
        }
        facts.consented = consents(timeline)
            .into_iter()
            .filter(ConsentRecord::is_active)
            .flat_map(|consent| consent.recipients)
            .collect();
        facts
    }
}

/// What a principal may see of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every event, the consents and the personal data.
    Full,
    /// That the person exists and their mentoring events (`MentorAssigned`, `MentoringEnded`).
    MentoringOnly,
    /// Nothing; the message says why.
    Denied(String),
}

/// The events a coordinator sees and may record.
pub fn is_mentoring(event_type: &str) -> bool {
    event_type == EventType::MentorAssigned.name() || event_type == EventType::MentoringEnded.name()
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
