//! The input of every read model and indicator: each person's recorded events, decoded, with both
//! times (valid time `occurred_on`, transaction time `recorded_at`).
//!
//! The projection runner keeps one [`Journal`] per person, fed only by the log subscription.
//! Everything else in this crate is a pure function of the journals and the cuts (`as_of`,
//! `known_at`), which is what makes answers for past cuts exactly reproducible and rebuilds equal.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::Event;
use journey_core::envelope::{Actor, PersonId};
use journey_core::log::Position;
use uuid::Uuid;

/// One recorded event as the projections see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Global position in the log.
    pub position: Position,
    /// Position in the person's stream.
    pub revision: u64,
    pub id: Uuid,
    /// Valid time: the business date.
    pub occurred_on: NaiveDate,
    /// Transaction time: when the ledger accepted the event.
    pub recorded_at: DateTime<Utc>,
    pub actor: Actor,
    /// The event at its current version (upcast on read).
    pub event: Event,
}

/// Everything recorded about one person, in stream order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    pub facts: Vec<Fact>,
    /// Set when a `PersonalDataErased` was recorded: the person is then in no read model and no
    /// indicator, whatever the cut (the facts are dropped when the erasure is applied).
    pub erased: bool,
}

/// All journals, ordered by person so every iteration (and every answer) is deterministic.
pub type Journals = BTreeMap<PersonId, Journal>;
