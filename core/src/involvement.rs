//! Who works with a person and which consents are active: the one definition that the API's
//! visibility (`journey_api::visibility`) and the projections' person view
//! (`journey_projections::view`) both use, so that a person read and a list agree on who sees a
//! person.
//!
//! Rules:
//! - An agency *works with* a person when one of its caseworkers recorded one of the person's
//!   effective events (not retracted; a corrected event counts for whoever recorded the original),
//!   or when an effective `CooperationPlanAgreed`, `ReferralMade` (`to_agency`) or
//!   `CounsellingContact` names it. A correction or retraction itself involves no one: it changes
//!   an event, and an event recorded for the wrong person and retracted must not keep the person
//!   open to the agency that made the mistake.
//! - A coordinator's events (mentoring) do not make their agency one that works with the person:
//!   coordinators see mentoring facts only and may record them for anyone, so counting them would
//!   let a coordinator open any person to every caseworker of their agency.
//! - A consent is active from its `ConsentGiven` until a `ConsentWithdrawn` with the same
//!   `consent_id`, in the order they were recorded (not by business date): access is decided on
//!   what is recorded, and a withdrawal takes effect when it is recorded. A second `ConsentGiven`
//!   of an id that is still active changes nothing (the rules refuse it anyway); after a
//!   withdrawal the same id may be given again and is then a consent of its own.
//!
//! Which events are effective is decided by the journey rules
//! ([`crate::rules::JourneyState::effective_events`]); the projections' transaction-time cut
//! applies corrections and retractions the same way (a property test over random streams,
//! `api/tests/folds.rs`, checks it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalogue::{Agency, Event};
use crate::envelope::{Actor, ActorRole};

/// The agency of a caseworker who recorded an event; `None` for every other role.
pub fn caseworker_agency(actor: &Actor) -> Option<Agency> {
    actor.agency.filter(|_| actor.role == ActorRole::Caseworker)
}

/// The agencies one effective event involves with the person: the recording caseworker's agency
/// and the agency the event names, when there are such.
pub fn involved_agencies(actor: &Actor, event: &Event) -> impl Iterator<Item = Agency> {
    let recorder = caseworker_agency(actor);
    let named = match event {
        Event::CooperationPlanAgreed(plan) => Some(plan.agency),
        Event::ReferralMade(referral) => Some(referral.to_agency),
        Event::CounsellingContact(contact) => Some(contact.agency),
        _ => None,
    };
    // Corrections and retractions are never effective events; should one be passed, it involves
    // nobody (see the module documentation).
    let amendment = matches!(event, Event::EventCorrected(_) | Event::EventRetracted(_));
    recorder
        .into_iter()
        .chain(named)
        .filter(move |_| !amendment)
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
    /// Not withdrawn (as far as the events folded so far tell).
    pub fn is_active(&self) -> bool {
        self.withdrawn_at.is_none()
    }
}

/// The consents of a person, folded from their consent events in the order they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consents {
    all: Vec<ConsentRecord>,
    /// The index in `all` of each active consent, by id.
    active: BTreeMap<String, usize>,
}

impl Consents {
    /// Folds one recorded event (anything but a consent event changes nothing). Events must come
    /// in the order they were recorded.
    pub fn apply(&mut self, occurred_on: NaiveDate, recorded_at: DateTime<Utc>, event: &Event) {
        match event {
            Event::ConsentGiven(given) if !self.active.contains_key(&given.consent_id) => {
                self.active.insert(given.consent_id.clone(), self.all.len());
                self.all.push(ConsentRecord {
                    consent_id: given.consent_id.clone(),
                    recipients: given.recipients.clone(),
                    purpose: given.purpose.clone(),
                    form_version: given.form_version.clone(),
                    given_on: occurred_on,
                    given_at: recorded_at,
                    withdrawn_on: None,
                    withdrawn_at: None,
                });
            }
            Event::ConsentWithdrawn(withdrawn) => {
                if let Some(index) = self.active.remove(&withdrawn.consent_id) {
                    self.all[index].withdrawn_on = Some(occurred_on);
                    self.all[index].withdrawn_at = Some(recorded_at);
                }
            }
            _ => {}
        }
    }

    /// Every consent, in the order given.
    pub fn records(&self) -> &[ConsentRecord] {
        &self.all
    }

    pub fn into_records(self) -> Vec<ConsentRecord> {
        self.all
    }

    /// The agencies an active consent names.
    pub fn consented(&self) -> BTreeSet<Agency> {
        self.all
            .iter()
            .filter(|consent| consent.is_active())
            .flat_map(|consent| consent.recipients.iter().copied())
            .collect()
    }
}
