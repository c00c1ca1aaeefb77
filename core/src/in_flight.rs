//! The transaction times of appends in flight: stamped by the ledger, not yet in the log.
//!
//! The ledger stamps an append's `recorded_at` before it seals and hands the events to the log, and
//! two appends to different persons can reach the log in the other order than they took their
//! times. A reader that reports "everything recorded by T" (the projections' live answers, whose
//! `known_at` must reproduce them) would then have answered before an event recorded at or before T
//! existed in the log. This registry lets such a reader wait until no append stamped at or before T
//! is still on its way ([`InFlight::settled`]); the stamp is taken under the registry's lock, so an
//! append that is not registered when the reader looks takes a later time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::clock::Clock;

/// The stamps of appends in flight, with how many appends hold each.
#[derive(Debug)]
pub struct InFlight {
    stamps: Mutex<BTreeMap<DateTime<Utc>, usize>>,
    /// Bumped whenever an append leaves, so that waiters look again.
    left: watch::Sender<u64>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            stamps: Mutex::new(BTreeMap::new()),
            left: watch::channel(0).0,
        }
    }
}

/// One append's stamp; the append is no longer in flight when this is dropped (after the log
/// acknowledged it, or after it failed).
#[derive(Debug)]
#[must_use = "the stamp is in flight only while the guard lives"]
pub struct Stamp<'a> {
    registry: &'a InFlight,
    pub recorded_at: DateTime<Utc>,
}

impl InFlight {
    /// Takes the time from `clock` and registers it as in flight, atomically with respect to
    /// [`InFlight::earliest`].
    pub fn stamp(&self, clock: &dyn Clock) -> Stamp<'_> {
        let mut stamps = self.lock();
        let recorded_at = clock.now();
        *stamps.entry(recorded_at).or_default() += 1;
        Stamp {
            registry: self,
            recorded_at,
        }
    }

    /// The earliest stamp still in flight.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.lock().keys().next().copied()
    }

    /// Waits until no append stamped at or before `through` is in flight. Appends stamped later
    /// do not hold it up.
    pub async fn settled(&self, through: DateTime<Utc>) {
        let mut left = self.left.subscribe();
        loop {
            // Marked seen before looking, so that a departure after the look wakes the wait.
            left.borrow_and_update();
            if self.earliest().is_none_or(|earliest| earliest > through) {
                return;
            }
            if left.changed().await.is_err() {
                return;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<DateTime<Utc>, usize>> {
        self.stamps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Stamp<'_> {
    fn drop(&mut self) {
        {
            let mut stamps = self.registry.lock();
            if let Some(count) = stamps.get_mut(&self.recorded_at) {
                *count -= 1;
                if *count == 0 {
                    stamps.remove(&self.recorded_at);
                }
            }
        }
        self.registry
            .left
            .send_modify(|generation| *generation += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use chrono::TimeZone;

    fn at(second: u32) -> FixedClock {
        FixedClock::new(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, second).unwrap())
    }

    #[test]
    fn the_earliest_stamp_in_flight_is_reported_until_its_append_leaves() {
        let registry = InFlight::default();
        assert_eq!(registry.earliest(), None);
        let late = registry.stamp(&at(20));
        let early = registry.stamp(&at(10));
        let twin = registry.stamp(&at(10));
        assert_eq!(registry.earliest(), Some(early.recorded_at));
        drop(early);
        assert_eq!(
            registry.earliest(),
            Some(twin.recorded_at),
            "one append still holds 10 s"
        );
        drop(twin);
        assert_eq!(registry.earliest(), Some(late.recorded_at));
        drop(late);
        assert_eq!(registry.earliest(), None);
    }

    #[tokio::test]
    async fn settled_waits_only_for_appends_stamped_at_or_before_the_time() {
        let registry = std::sync::Arc::new(InFlight::default());
        let later = registry.stamp(&at(30));
        // Nothing at or before 20 s is in flight: settled at once, the later append does not count.
        registry.settled(at(20).now()).await;

        let stamp = registry.stamp(&at(10));
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.settled(at(20).now()).await })
        };
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "an append stamped at 10 s is still in flight"
        );
        drop(stamp);
        waiter.await.expect("settled once the append left");
        drop(later);
    }
}
