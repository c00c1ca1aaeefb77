//! The rules of an offer's stream: what it starts with, what may follow, which fields each kind
//! needs. The one source of truth for what an offer stream may hold; the ledger calls [`decide`]
//! before writing, the projections fold with [`OfferState::apply`].

use chrono::NaiveDate;
use uuid::Uuid;

use super::events::{CapacityOffered, OfferEvent, OfferEventType, OfferKind, WithdrawalReason};

/// The most an offer may hold: a bound on typing errors (a Kita group of 100 000 places).
pub const QUANTITY_MAX: u32 = 100_000;

/// The rules an offer stream keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferRule {
    /// The first event of an offer stream is `CapacityOffered`, and it comes only once.
    StreamStartsWithOffer,
    /// Nothing follows `CapacityWithdrawn`.
    WithdrawnIsFinal,
    /// No `occurred_on` after the ledger's current date.
    OccurredOnNotInFuture,
    /// Course places name their provider; Kita places and counselling hours their district, and
    /// Kita places no provider.
    FieldsOfKind,
    /// A quantity is 1 to [`QUANTITY_MAX`].
    QuantityInRange,
}

impl OfferRule {
    pub const ALL: [OfferRule; 5] = [
        OfferRule::StreamStartsWithOffer,
        OfferRule::WithdrawnIsFinal,
        OfferRule::OccurredOnNotInFuture,
        OfferRule::FieldsOfKind,
        OfferRule::QuantityInRange,
    ];

    /// The stable snake_case name of the rule.
    pub fn code(&self) -> &'static str {
        match self {
            OfferRule::StreamStartsWithOffer => "offer_stream_starts_with_offer",
            OfferRule::WithdrawnIsFinal => "offer_withdrawn_is_final",
            OfferRule::OccurredOnNotInFuture => "occurred_on_not_in_future",
            OfferRule::FieldsOfKind => "offer_fields_of_kind",
            OfferRule::QuantityInRange => "offer_quantity_in_range",
        }
    }
}

/// A proposed offer event that breaks a rule: which one, where, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {}: {} {event_id}{}: {message}", rule.code(), event_type.name(), field.as_ref().map(|field| format!(": field {field}")).unwrap_or_default())]
pub struct OfferViolation {
    pub rule: OfferRule,
    /// The index of the rejected event in the proposed batch.
    pub index: usize,
    pub event_id: Uuid,
    pub event_type: OfferEventType,
    pub field: Option<String>,
    pub message: String,
}

/// An offer as its stream has it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferState {
    /// The offer as first recorded; `None` before the first event.
    pub offered: Option<CapacityOffered>,
    /// The quantity now (the latest change, or the first).
    pub quantity: u32,
    pub withdrawn: Option<WithdrawalReason>,
}

impl OfferState {
    /// Folds one recorded event (the ledger checked it with [`decide`] before writing it).
    pub fn apply(&mut self, event: &OfferEvent) {
        match event {
            OfferEvent::Offered(offered) => {
                self.quantity = offered.quantity;
                self.offered = Some(offered.clone());
            }
            OfferEvent::Changed(changed) => self.quantity = changed.quantity,
            OfferEvent::Withdrawn(withdrawn) => self.withdrawn = Some(withdrawn.reason),
        }
    }
}

/// One proposed event, as [`decide`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    pub event: &'a OfferEvent,
}

/// Checks proposed events, in order, against the stream's state and each other; returns the
/// state after them, or the first rule broken.
pub fn decide(
    state: &OfferState,
    proposals: &[Proposal<'_>],
    today: NaiveDate,
) -> Result<OfferState, OfferViolation> {
    let mut state = state.clone();
    for (index, proposal) in proposals.iter().enumerate() {
        let event_type = proposal.event.event_type();
        let violation = |rule: OfferRule, field: Option<&str>, message: String| OfferViolation {
            rule,
            index,
            event_id: proposal.id,
            event_type,
            field: field.map(str::to_owned),
            message,
        };
        if proposal.occurred_on > today {
            return Err(violation(
                OfferRule::OccurredOnNotInFuture,
                Some("occurred_on"),
                format!(
                    "{} is after today ({today}); record an offer when it is made (its month may lie ahead)",
                    proposal.occurred_on
                ),
            ));
        }
        if state.withdrawn.is_some() {
            return Err(violation(
                OfferRule::WithdrawnIsFinal,
                None,
                "the offer was withdrawn; record a new offer in a stream of its own".to_owned(),
            ));
        }
        match (proposal.event, &state.offered) {
            (OfferEvent::Offered(_), Some(_)) => {
                return Err(violation(
                    OfferRule::StreamStartsWithOffer,
                    None,
                    "the offer is already recorded; change its quantity with CapacityChanged, or record another offer in a stream of its own".to_owned(),
                ))
            }
            (OfferEvent::Changed(_) | OfferEvent::Withdrawn(_), None) => {
                return Err(violation(
                    OfferRule::StreamStartsWithOffer,
                    None,
                    "an offer stream starts with CapacityOffered".to_owned(),
                ))
            }
            (OfferEvent::Offered(offered), None) => {
                check_fields(offered).map_err(|(field, message)| {
                    violation(OfferRule::FieldsOfKind, Some(field), message)
                })?;
                check_quantity(offered.quantity)
                    .map_err(|message| violation(OfferRule::QuantityInRange, Some("quantity"), message))?;
            }
            (OfferEvent::Changed(changed), Some(_)) => {
                check_quantity(changed.quantity)
                    .map_err(|message| violation(OfferRule::QuantityInRange, Some("quantity"), message))?;
            }
            (OfferEvent::Withdrawn(_), Some(_)) => {}
        }
        state.apply(proposal.event);
    }
    Ok(state)
}

fn check_fields(offered: &CapacityOffered) -> Result<(), (&'static str, String)> {
    let kind = offered.kind.as_str();
    match offered.kind {
        OfferKind::CoursePlaces if offered.provider.is_none() => Err((
            "provider",
            format!("{kind} name the provider that offers them"),
        )),
        OfferKind::KitaPlaces | OfferKind::CounsellingHours if offered.district.is_none() => Err((
            "district",
            format!("{kind} name the district they are offered in"),
        )),
        OfferKind::KitaPlaces if offered.provider.is_some() => Err((
            "provider",
            format!("{kind} are counted by district, not by provider; leave the provider out"),
        )),
        _ => Ok(()),
    }
}

fn check_quantity(quantity: u32) -> Result<(), String> {
    if (1..=QUANTITY_MAX).contains(&quantity) {
        Ok(())
    } else {
        Err(format!(
            "{quantity} is outside 1 to {QUANTITY_MAX}; to end an offer, withdraw it"
        ))
    }
}
