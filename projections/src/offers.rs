//! The offers as the projections see them: every offer stream's events with both times, folded
//! from the log as they are applied, so capacity is answered for any `as_of` and `known_at` like
//! the persons' facts.
//!
//! Snapshots hold only the journals; after one is loaded, [`up_to`] reads the offer streams (the
//! log lists them by their prefix) up to its checkpoint again, as the registers are read.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::ledger::{DecodedEvent, Ledger, LedgerError};
use journey_core::log::Position;
use journey_core::offers::{
    decode_offer_event, Month, OfferEvent, OfferId, OfferKind, OfferState, WithdrawalReason,
    OFFER_STREAM_PREFIX,
};

/// One recorded offer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferFact {
    pub occurred_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub event: OfferEvent,
}

/// Every offer's events, in record order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offers {
    by_offer: BTreeMap<OfferId, Vec<OfferFact>>,
}

/// An offer's capacity as of a day, known at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub offer: OfferId,
    pub kind: OfferKind,
    pub month: Month,
    pub district: Option<String>,
    pub provider: Option<String>,
    /// Places, or hours for counselling.
    pub quantity: u32,
}

impl Offers {
    pub fn push(&mut self, offer: OfferId, fact: OfferFact) {
        self.by_offer.entry(offer).or_default().push(fact);
    }

    pub fn is_empty(&self) -> bool {
        self.by_offer.is_empty()
    }

    /// The offers in force on `as_of`, as recorded by `known_at`, by offer id. An offer is in force
    /// from its `CapacityOffered` date until a withdrawal dated on or before `as_of`; a withdrawal
    /// `recorded_in_error` takes it out of every day. Its quantity is the last one (in record order)
    /// dated on or before `as_of`. The fold is core's ([`OfferState::apply`]), over the events
    /// the two cuts keep.
    pub fn in_force(&self, as_of: NaiveDate, known_at: DateTime<Utc>) -> Vec<Capacity> {
        let mut capacities = Vec::new();
        for (offer, facts) in &self.by_offer {
            let known = facts.iter().filter(|fact| fact.recorded_at <= known_at);
            let mut never_existed = false;
            let mut state = OfferState::default();
            for fact in known {
                if let OfferEvent::Withdrawn(withdrawn) = &fact.event {
                    never_existed |= withdrawn.reason == WithdrawalReason::RecordedInError;
                }
                if fact.occurred_on <= as_of {
                    state.apply(&fact.event);
                }
            }
            let Some(offered) = state.offered.filter(|_| !never_existed) else {
                continue;
            };
            if state.withdrawn.is_some() {
                continue;
            }
            capacities.push(Capacity {
                offer: *offer,
                kind: offered.kind,
                month: offered.month,
                district: offered.district,
                provider: offered.provider,
                quantity: state.quantity,
            });
        }
        capacities
    }
}

/// Folds `decoded` into `offers` when it is an offer event; returns whether it was one. The
/// ledger checked it before writing, so one that does not decode means the log was changed behind
/// the ledger's back: it is logged and left out.
pub(crate) fn apply(offers: &mut Arc<Offers>, decoded: &DecodedEvent) -> bool {
    let Some(offer) = OfferId::from_stream_name(&decoded.recorded.stream) else {
        return false;
    };
    let envelope = &decoded.recorded.event;
    match decode_offer_event(
        &envelope.event_type,
        envelope.version,
        decoded.data.clone().unwrap_or_default(),
    ) {
        Ok(event) => Arc::make_mut(offers).push(
            offer,
            OfferFact {
                occurred_on: envelope.occurred_on,
                recorded_at: envelope.recorded_at,
                event,
            },
        ),
        Err(error) => {
            tracing::warn!(position = decoded.recorded.position.raw(), %error, "offer event left out")
        }
    }
    true
}

/// The offers as of the log position `checkpoint` (`None`: before the first event).
pub(crate) async fn up_to(
    ledger: &Ledger,
    checkpoint: Option<Position>,
) -> Result<Arc<Offers>, LedgerError> {
    let mut offers = Arc::new(Offers::default());
    let Some(checkpoint) = checkpoint else {
        return Ok(offers);
    };
    for stream in ledger.log().stream_names(OFFER_STREAM_PREFIX).await? {
        for recorded in ledger.read_whole_stream(&stream).await? {
            if recorded.position > checkpoint {
                break;
            }
            apply(&mut offers, &ledger.decode(recorded)?);
        }
    }
    Ok(offers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use journey_core::offers::{CapacityChanged, CapacityOffered, CapacityWithdrawn};
    use uuid::Uuid;

    fn at(day: &str) -> DateTime<Utc> {
        format!("{day}T12:00:00Z").parse().expect("time")
    }

    fn fact(on: &str, recorded: &str, event: OfferEvent) -> OfferFact {
        OfferFact {
            occurred_on: on.parse().expect("date"),
            recorded_at: at(recorded),
            event,
        }
    }

    #[test]
    fn an_offer_is_in_force_between_its_dates_with_its_latest_quantity_as_known() {
        let offer = OfferId(Uuid::from_u128(1));
        let mut offers = Offers::default();
        offers.push(
            offer,
            fact(
                "2025-01-10",
                "2025-01-10",
                OfferEvent::Offered(CapacityOffered {
                    kind: OfferKind::KitaPlaces,
                    month: "2025-03".parse().expect("month"),
                    district: Some("Thiede".into()),
                    provider: None,
                    quantity: 10,
                }),
            ),
        );
        offers.push(
            offer,
            fact(
                "2025-02-01",
                "2025-02-03",
                OfferEvent::Changed(CapacityChanged { quantity: 6 }),
            ),
        );
        offers.push(
            offer,
            fact(
                "2025-03-15",
                "2025-03-15",
                OfferEvent::Withdrawn(CapacityWithdrawn {
                    reason: WithdrawalReason::Cancelled,
                }),
            ),
        );
        let quantity = |offers: &Offers, as_of: &str, known: &str| {
            offers
                .in_force(as_of.parse().expect("date"), at(known))
                .first()
                .map(|capacity| capacity.quantity)
        };
        assert_eq!(
            quantity(&offers, "2025-01-09", "2026-01-01"),
            None,
            "not yet offered"
        );
        assert_eq!(quantity(&offers, "2025-01-31", "2026-01-01"), Some(10));
        assert_eq!(quantity(&offers, "2025-02-10", "2026-01-01"), Some(6));
        assert_eq!(
            quantity(&offers, "2025-02-10", "2025-02-02"),
            Some(10),
            "the change not yet known"
        );
        assert_eq!(
            quantity(&offers, "2025-03-15", "2026-01-01"),
            None,
            "withdrawn"
        );
        assert_eq!(
            quantity(&offers, "2025-03-15", "2025-03-01"),
            Some(6),
            "the withdrawal not yet known"
        );
        offers.push(
            offer,
            fact(
                "2025-03-20",
                "2025-03-20",
                OfferEvent::Withdrawn(CapacityWithdrawn {
                    reason: WithdrawalReason::RecordedInError,
                }),
            ),
        );
        assert_eq!(
            quantity(&offers, "2025-02-10", "2026-01-01"),
            None,
            "recorded in error: never in force"
        );
        assert_eq!(
            quantity(&offers, "2025-02-10", "2025-03-16"),
            Some(6),
            "as known before the mistake was found"
        );
    }
}
