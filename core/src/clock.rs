//! Time as an injected dependency, so that rules and replays are deterministic in tests.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

/// The source of "now" for the ledger (transaction time) and for rules ("no event in the future").
pub trait Clock: Send + Sync + Debug {
    /// The current transaction time.
    fn now(&self) -> DateTime<Utc>;

    /// The ledger's current business date.
    fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is moved; for tests and deterministic replays.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock standing at midnight UTC of `date`.
    pub fn at_date(date: NaiveDate) -> Self {
        Self::new(date.and_time(chrono::NaiveTime::MIN).and_utc())
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = now;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
