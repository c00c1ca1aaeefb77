//! Small, valid sample events for benchmarks, crash tests and examples. The calibrated synthetic
//! population is a separate generator; these are deliberately plain.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::catalogue::*;
use crate::envelope::{Actor, ActorRole};
use crate::ledger::Proposed;

/// A caseworker of the Jobcenter.
pub fn caseworker() -> Actor {
    Actor {
        id: "cw-1".into(),
        agency: Some(Agency::Jobcenter),
        role: ActorRole::Caseworker,
    }
}

fn proposed(id: Uuid, occurred_on: NaiveDate, event: Event) -> Proposed {
    Proposed {
        id,
        occurred_on,
        event,
        actor: caseworker(),
        correlation_id: None,
        causation_id: None,
    }
}

/// `PersonRegistered` of an adult born in 1990.
pub fn registration(id: Uuid, occurred_on: NaiveDate) -> Proposed {
    proposed(
        id,
        occurred_on,
        Event::PersonRegistered(PersonRegistered {
            birth_year: BirthYear::Known(1990),
            sex: Sex::Female,
            nationality: "SYR".into(),
            languages: vec!["ar".into()],
            household_id: None,
        }),
    )
}

/// `ArrivalRecorded` in the district `Lebenstedt`.
pub fn arrival(id: Uuid, occurred_on: NaiveDate) -> Proposed {
    proposed(
        id,
        occurred_on,
        Event::ArrivalRecorded(ArrivalRecorded {
            entry_date: None,
            origin: Origin::ReceptionCentre,
            accommodation: Accommodation::Shared,
            district: "Lebenstedt".into(),
        }),
    )
}

/// A `CounsellingContact`; any number of them is valid after registration.
pub fn counselling(id: Uuid, occurred_on: NaiveDate) -> Proposed {
    proposed(
        id,
        occurred_on,
        Event::CounsellingContact(CounsellingContact {
            agency: Agency::Jobcenter,
            topic: Topic::Work,
            base: None,
        }),
    )
}
