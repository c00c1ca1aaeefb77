//! Retention (DOMAIN.md section 6): a person whose case has been closed for the retention period is
//! erased with reason `retention_expired`.
//!
//! A case is closed when the person moved away (a `MovedAway` not followed by a return, an
//! `ArrivalRecorded`), from the date they moved away; otherwise when nothing happened for the
//! retention period, from the latest business date of their events. The rule reads only the envelope
//! (event type and business date), never a payload, so it needs no key. A `MovedAway` followed by a
//! correction or retraction is not trusted as a closure, because the envelope cannot tell which event
//! was corrected; such a person is judged by inactivity alone, which never erases earlier than the
//! moved-away rule would.

use std::collections::HashMap;

use chrono::{Months, NaiveDate};
use uuid::Uuid;

use crate::catalogue::{ErasureReason, Event, EventType, PersonalDataErased};
use crate::envelope::{Actor, PersonId};
use crate::ledger::{Ledger, LedgerError, Proposed};
use crate::log::{AllFrom, Direction, EventLog, ExpectedRevision, LogError};

/// Why a case counts as closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// Moved away on this date and did not return.
    MovedAway(NaiveDate),
    /// No event after this business date.
    Inactive(NaiveDate),
}

impl Closure {
    pub fn since(&self) -> NaiveDate {
        match self {
            Closure::MovedAway(date) | Closure::Inactive(date) => *date,
        }
    }
}

impl std::fmt::Display for Closure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closure::MovedAway(date) => write!(f, "moved away on {date}"),
            Closure::Inactive(date) => write!(f, "no event since {date}"),
        }
    }
}

/// What retention needs to know of one stream, folded from its envelopes in stream order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseSummary {
    erased: bool,
    moved_away: Option<NaiveDate>,
    /// A correction or retraction came after the last `MovedAway`.
    moved_away_doubted: bool,
    latest: Option<NaiveDate>,
}

impl CaseSummary {
    /// Folds the next event of the stream.
    pub fn apply(&mut self, event_type: &str, occurred_on: NaiveDate) {
        self.latest = Some(
            self.latest
                .map_or(occurred_on, |latest| latest.max(occurred_on)),
        );
        match EventType::from_name(event_type) {
            Some(EventType::PersonalDataErased) => self.erased = true,
            Some(EventType::MovedAway) => {
                self.moved_away = Some(occurred_on);
                self.moved_away_doubted = false;
            }
            Some(EventType::ArrivalRecorded) => self.moved_away = None,
            Some(EventType::EventCorrected | EventType::EventRetracted) => {
                self.moved_away_doubted = self.moved_away.is_some();
            }
            _ => {}
        }
    }

    /// Whether the case is closed.
    pub fn closure(&self) -> Option<Closure> {
        if self.erased {
            return None;
        }
        match (self.moved_away, self.moved_away_doubted) {
            (Some(date), false) => Some(Closure::MovedAway(date)),
            _ => self.latest.map(Closure::Inactive),
        }
    }

    /// The closure, when it is at least `years` years before `today` and the person is not erased.
    pub fn expired(&self, today: NaiveDate, years: u32) -> Option<Closure> {
        let closure = self.closure()?;
        let until = closure
            .since()
            .checked_add_months(Months::new(years.saturating_mul(12)))?;
        (until <= today).then_some(closure)
    }
}

/// One person retention erases (or would erase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub person: PersonId,
    pub closure: Closure,
}

/// Every person whose case closed at least `years` years before `today`, in order of person id.
pub async fn select(
    log: &dyn EventLog,
    today: NaiveDate,
    years: u32,
) -> Result<Vec<Expired>, LogError> {
    const PAGE: usize = 4096;
    let mut cases: HashMap<String, CaseSummary> = HashMap::new();
    let mut from = AllFrom::Start;
    loop {
        let page = log.read_all(from, Direction::Forwards, PAGE).await?;
        let done = page.len() < PAGE;
        for recorded in page {
            from = AllFrom::Excluding(recorded.position);
            cases
                .entry(recorded.stream)
                .or_default()
                .apply(&recorded.event.event_type, recorded.event.occurred_on);
        }
        if done {
            break;
        }
    }
    let mut expired: Vec<Expired> = cases
        .into_iter()
        .filter_map(|(stream, case)| {
            let person = PersonId::from_stream_name(&stream).ok()?;
            let closure = case.expired(today, years)?;
            Some(Expired { person, closure })
        })
        .collect();
    expired.sort_by_key(|expired| expired.person.0);
    Ok(expired)
}

/// The id of a person's retention erasure: derived from the person, so a repeated run (or a retry
/// after a crash) finds it already recorded instead of erasing twice.
pub fn erasure_event_id(person: PersonId) -> Uuid {
    Uuid::new_v5(&person.0, b"journey/retention_expired")
}

/// Erases `person` with reason `retention_expired`, recorded by the system actor `retention` today.
pub async fn erase(ledger: &Ledger, person: PersonId) -> Result<(), LedgerError> {
    let proposed = Proposed {
        id: erasure_event_id(person),
        occurred_on: ledger.clock().today(),
        event: Event::PersonalDataErased(PersonalDataErased {
            reason: ErasureReason::RetentionExpired,
        }),
        actor: Actor::system("retention"),
        correlation_id: None,
        causation_id: None,
    };
    ledger
        .append(person, ExpectedRevision::StreamExists, vec![proposed])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn case(events: &[(&str, &str)]) -> CaseSummary {
        let mut case = CaseSummary::default();
        for (event_type, on) in events {
            case.apply(event_type, date(on));
        }
        case
    }

    #[test]
    fn given_a_person_who_moved_away_when_the_period_has_passed_then_they_expire() {
        let case = case(&[
            ("PersonRegistered", "2018-01-10"),
            ("MovedAway", "2020-06-30"),
            ("ConsentGiven", "2021-01-01"),
        ]);
        assert_eq!(case.expired(date("2023-06-29"), 3), None, "one day early");
        assert_eq!(
            case.expired(date("2023-06-30"), 3),
            Some(Closure::MovedAway(date("2020-06-30")))
        );
    }

    #[test]
    fn given_a_person_who_returned_when_they_are_still_active_then_they_stay() {
        let case = case(&[
            ("PersonRegistered", "2015-01-10"),
            ("MovedAway", "2016-06-30"),
            ("ArrivalRecorded", "2022-01-01"),
        ]);
        assert_eq!(case.expired(date("2024-01-01"), 3), None);
        assert_eq!(
            case.expired(date("2025-01-01"), 3),
            Some(Closure::Inactive(date("2022-01-01")))
        );
    }

    #[test]
    fn given_no_event_for_n_years_then_the_case_expires_and_an_erased_one_never_does() {
        let active = case(&[
            ("PersonRegistered", "2019-03-01"),
            ("CounsellingContact", "2020-03-01"),
        ]);
        assert_eq!(active.expired(date("2023-02-28"), 3), None);
        assert_eq!(
            active.expired(date("2023-03-01"), 3),
            Some(Closure::Inactive(date("2020-03-01")))
        );
        assert_eq!(
            active.expired(date("2023-03-01"), 10),
            None,
            "N is honoured"
        );
        let erased = case(&[
            ("PersonRegistered", "2010-01-01"),
            ("PersonalDataErased", "2011-01-01"),
        ]);
        assert_eq!(erased.expired(date("2030-01-01"), 3), None);
    }

    #[test]
    fn given_a_correction_after_moving_away_then_only_inactivity_counts() {
        let case = case(&[
            ("PersonRegistered", "2018-01-10"),
            ("MovedAway", "2019-01-01"),
            ("EventRetracted", "2021-05-01"),
        ]);
        assert_eq!(case.expired(date("2022-01-01"), 3), None);
        assert_eq!(
            case.expired(date("2024-05-01"), 3),
            Some(Closure::Inactive(date("2021-05-01")))
        );
    }
}
