//! Offers: the capacity the municipality and its organisations make available (course places a
//! provider offers for a month, Kita places in a district for a month, counselling hours), set
//! against what persons need.
//!
//! Capacity is organisational, not personal. Each offer has a stream of its own, `offer-<uuid>`,
//! under the same envelope, chain and audit as a person's stream, but written through the plain
//! path the registers use ([`crate::plain`]): the payload is plain JSON, there is no data key and
//! nothing to erase. An offer's stream starts with [`CapacityOffered`] (what, for which month,
//! where, how much), may change its quantity ([`CapacityChanged`]) and may be withdrawn
//! ([`CapacityWithdrawn`]); [`decide`] names the rule a proposal breaks, and the district and
//! provider are checked against the registers valid on the first day of the offer's month.

mod events;
mod month;
mod rules;
mod write;

pub use events::{
    decode_offer_event, event_schemas, CapacityChanged, CapacityOffered, CapacityWithdrawn,
    OfferEvent, OfferEventType, OfferId, OfferKind, WithdrawalReason, OFFER_STREAM_PREFIX,
};
pub use month::{InvalidMonth, Month};
pub use rules::{decide, OfferRule, OfferState, OfferViolation, Proposal, QUANTITY_MAX};
pub use write::{OfferProposal, OfferReceipt};
