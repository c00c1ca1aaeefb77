//! The bi-temporal cut (DOMAIN.md section 4): what a person's history says when only the facts
//! recorded by `known_at` are used, with every correction and retraction known by then applied.
//!
//! [`effective`] is the transaction-time half of every question. The valid-time half (`as_of`) is
//! answered later by comparing business dates, never by stream order: a view built from the
//! effective facts at `known_at` answers "as of D" for any D (see [`crate::view`]).
//!
//! Decisions where DOMAIN.md is silent:
//! - A correction or retraction whose target is unknown at the cut, is a governance event, or was
//!   retracted before, changes nothing (the ledger rejects these; history is still read leniently).
//! - A replacement that cannot be decoded changes nothing: the original stays, as in `rules::evolve`.
//! - The effective facts come in valid-time order (`occurred_on`, ties in stream order), because
//!   that is the order every read model folds them in.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::{decode_replacement, Event, EventCorrected};
use journey_core::envelope::Actor;
use journey_core::log::Position;
use uuid::Uuid;

use crate::journal::{Fact, Inline, Journal, RecordedAt, Store};

/// One event of the effective history: a recorded event as it stands at the cut, with its latest
/// known correction applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveFact<'a> {
    /// The id of the recorded event (a corrected event keeps its original id).
    pub id: Uuid,
    /// Global position of the recorded event.
    pub position: Position,
    /// Position of the recorded event in the person's stream.
    pub revision: u64,
    /// The business date, the replacement's when the event was corrected.
    pub occurred_on: NaiveDate,
    /// When the original event was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded the original event.
    pub actor: &'a Actor,
    /// The event, the replacement's when corrected.
    pub event: Cow<'a, Event>,
    /// The correction that gave this event its current content, when there is one.
    pub corrected_by: Option<CorrectionRef>,
}

/// Which correction applies to an effective fact, so a timeline can show the original as history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrectionRef {
    pub id: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// What the corrections and retractions known at the cut say about one target.
enum Amendment<'a, S: Store> {
    Corrected {
        fact: &'a Fact<S::Event, S::Actor>,
        correction: &'a EventCorrected,
    },
    Retracted,
}

/// The effective history of a journal as known at `known_at`: only facts recorded at or before
/// `known_at`; a correction replaces its target's event and business date (the latest correction
/// known at the cut wins); a retraction removes its target; corrections and retractions themselves
/// are left out once applied; consents and other governance events stay. An erased journal yields
/// nothing, whatever the cut.
pub fn effective(journal: &Journal, known_at: DateTime<Utc>) -> Vec<EffectiveFact<'_>> {
    effective_in(&Inline, journal, known_at)
}

/// [`effective`] of a journal whose events and actors `store` keeps.
pub fn effective_in<'a, S: Store>(
    store: &'a S,
    journal: &'a Journal<S::Event, S::Actor>,
    known_at: DateTime<Utc>,
) -> Vec<EffectiveFact<'a>> {
    if journal.erased
        || journal
            .facts
            .iter()
            .any(|fact| matches!(store.event(&fact.event), Event::PersonalDataErased(_)))
    {
        return Vec::new();
    }
    let cut = RecordedAt::cut(known_at);
    let known = || {
        journal
            .facts
            .iter()
            .filter(move |fact| Some(fact.recorded_at) <= cut)
    };

    // Corrections are rare, so the map usually stays empty and never allocates.
    let mut amendments: BTreeMap<Uuid, Amendment<'_, S>> = BTreeMap::new();
    for fact in known() {
        match store.event(&fact.event) {
            Event::EventCorrected(correction) => {
                let target = correction.target_event_id;
                if !matches!(amendments.get(&target), Some(Amendment::Retracted)) {
                    amendments.insert(target, Amendment::Corrected { fact, correction });
                }
            }
            Event::EventRetracted(retraction) => {
                amendments.insert(retraction.target_event_id, Amendment::Retracted);
            }
            _ => {}
        }
    }

    let mut effective = Vec::with_capacity(journal.facts.len());
    for fact in known() {
        let event = store.event(&fact.event);
        if matches!(event, Event::EventCorrected(_) | Event::EventRetracted(_)) {
            continue;
        }
        let governance = event.event_type().is_governance();
        let mut effective_fact = EffectiveFact {
            id: fact.id,
            position: fact.position,
            revision: u64::from(fact.revision),
            occurred_on: fact.occurred_on,
            recorded_at: fact.recorded_at.time(),
            actor: store.actor(&fact.actor),
            event: Cow::Borrowed(event),
            corrected_by: None,
        };
        match amendments.get(&fact.id) {
            // Governance events are never corrected or retracted; such an amendment is ignored.
            _ if governance => {}
            None => {}
            Some(Amendment::Retracted) => continue,
            Some(Amendment::Corrected {
                fact: correction_fact,
                correction,
            }) => {
                if let Ok(replacement) = decode_replacement(&correction.replacement) {
                    if !replacement.event_type().is_governance() {
                        effective_fact.occurred_on = correction.replacement.occurred_on;
                        effective_fact.event = Cow::Owned(replacement);
                        effective_fact.corrected_by = Some(CorrectionRef {
                            id: correction_fact.id,
                            recorded_at: correction_fact.recorded_at.time(),
                        });
                    }
                }
            }
        }
        effective.push(effective_fact);
    }
    // Stable: events of the same day keep their stream order.
    effective.sort_by_key(|fact| (fact.occurred_on, fact.revision));
    effective
}
