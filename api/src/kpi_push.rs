//! When `kpiChanged` pushes a changed indicator: coalescing against differencing (SECURITY.md).
//!
//! A push after every applied batch lets a subscriber subtract two consecutive results and read
//! off the one event between them. So a subscription pushes at most once per interval
//! (`journey serve --kpi-push-interval`, 60 s by default), and, where the caller's answers are
//! suppressed, only once at least k persons contribute differently to the table than at the last
//! push (they joined or left its population, or count something else in it): the difference of
//! two pushes is then about k persons or more. A result that changed while no person counts
//! differently (an offer's places, a register) is pushed after the interval: such a difference
//! is about organisations, not persons. The rule is [`PushGate`], a pure function of the
//! instants and counts it is given; the subscription in `graphql/subscription.rs` feeds it.

use std::time::Duration;

use tokio::time::Instant;

/// The interval when `--kpi-push-interval` is not given.
pub const KPI_PUSH_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// The shortest interval the flag accepts: below a second pushes follow the batches again.
pub const KPI_PUSH_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// The longest interval the flag accepts: a day; longer is a misconfiguration, not a policy.
pub const KPI_PUSH_INTERVAL_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Reads `--kpi-push-interval`: a whole number with an optional unit `s` (the default), `m` or
/// `h`, from 1 s to 24 h. Anything else is refused with what to write instead.
pub fn parse_push_interval(text: &str) -> Result<Duration, String> {
    let refuse = || {
        format!(
            "`{text}` is not a push interval: give a whole number of seconds, minutes or hours \
             from 1s to 24h, for example 60s, 5m or 1h"
        )
    };
    let interval = crate::config::parse_whole_duration(text).ok_or_else(refuse)?;
    if interval < KPI_PUSH_INTERVAL_MIN || interval > KPI_PUSH_INTERVAL_MAX {
        return Err(refuse());
    }
    Ok(interval)
}

/// What a subscription does with a result computed after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushDecision {
    /// Push it.
    Push,
    /// Not before this instant: the last push was less than an interval ago. Compute again then.
    WaitUntil(Instant),
    /// It is what was pushed last (its `knownAt` aside): nothing to push.
    Unchanged,
    /// Fewer than `needed` persons contribute differently since the last push: wait for more
    /// changes.
    TooFewPersons { changed: usize, needed: usize },
}

/// The push rule of one `kpiChanged` subscription.
#[derive(Debug, Clone)]
pub struct PushGate {
    interval: Duration,
    /// k where the caller's answers are suppressed, 0 where they are not (nothing is hidden
    /// from such a caller, so there is nothing to difference).
    persons_min: usize,
    last_push: Option<Instant>,
}

impl PushGate {
    pub fn new(interval: Duration, persons_min: usize) -> Self {
        Self {
            interval,
            persons_min,
            last_push: None,
        }
    }

    /// k where the caller's answers are suppressed, else 0.
    pub fn persons_min(&self) -> usize {
        self.persons_min
    }

    /// The earliest instant of the next push, if there was one before.
    pub fn ready_at(&self) -> Option<Instant> {
        self.last_push.map(|last| last + self.interval)
    }

    /// Whether to push a result computed at `now`: `differs` says whether it differs from the
    /// last one pushed, `persons_changed` counts the persons it differs by (only asked for when
    /// the rest allows a push, because counting walks every view).
    pub fn decide(
        &self,
        now: Instant,
        differs: bool,
        persons_changed: impl FnOnce() -> usize,
    ) -> PushDecision {
        if let Some(ready_at) = self.ready_at().filter(|ready_at| now < *ready_at) {
            return PushDecision::WaitUntil(ready_at);
        }
        if !differs {
            return PushDecision::Unchanged;
        }
        // The first result is pushed whole, as `kpi` would answer it; only differences count.
        // A result that differs while no person counts differently changed through what holds
        // no personal data (offers' capacity, registers): its difference isolates nobody, so it
        // is pushed. Persons changed alongside it are still held to k.
        if self.last_push.is_some() && self.persons_min > 0 {
            let changed = persons_changed();
            if changed > 0 && changed < self.persons_min {
                return PushDecision::TooFewPersons {
                    changed,
                    needed: self.persons_min,
                };
            }
        }
        PushDecision::Push
    }

    /// Records a push at `now`.
    pub fn pushed(&mut self, now: Instant) {
        self.last_push = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// A gate with one push at `start`, k = 3.
    fn after_a_push(start: Instant) -> PushGate {
        let mut gate = PushGate::new(MINUTE, 3);
        assert_eq!(gate.decide(start, true, || 0), PushDecision::Push);
        gate.pushed(start);
        gate
    }

    #[test]
    fn a_change_within_the_interval_waits_for_its_end() {
        let start = Instant::now();
        // Given a push at start.
        let gate = after_a_push(start);
        // When five persons changed 10 s later, then it waits until a minute after the push.
        assert_eq!(
            gate.decide(start + Duration::from_secs(10), true, || 5),
            PushDecision::WaitUntil(start + MINUTE)
        );
        // And at the end of the interval it pushes.
        assert_eq!(gate.decide(start + MINUTE, true, || 5), PushDecision::Push);
    }

    #[test]
    fn fewer_than_k_changed_persons_are_never_pushed() {
        let start = Instant::now();
        let gate = after_a_push(start);
        // Given an hour since the push, when two persons (k = 3) changed, then no push.
        let later = start + 60 * MINUTE;
        assert_eq!(
            gate.decide(later, true, || 2),
            PushDecision::TooFewPersons {
                changed: 2,
                needed: 3
            }
        );
        // When the third changed, then it pushes.
        assert_eq!(gate.decide(later, true, || 3), PushDecision::Push);
    }

    #[test]
    fn a_change_no_person_explains_is_pushed() {
        let start = Instant::now();
        let gate = after_a_push(start);
        // Given an hour since the push, when the result differs but no person counts differently
        // (an offer's places changed), then it pushes: there is nobody to isolate.
        assert_eq!(
            gate.decide(start + 60 * MINUTE, true, || 0),
            PushDecision::Push
        );
        // But within the interval it still waits.
        assert_eq!(
            gate.decide(start + Duration::from_secs(1), true, || 0),
            PushDecision::WaitUntil(start + MINUTE)
        );
    }

    #[test]
    fn an_unchanged_result_is_not_pushed_and_its_persons_are_not_counted() {
        let start = Instant::now();
        let gate = after_a_push(start);
        let counted = std::cell::Cell::new(false);
        let decision = gate.decide(start + MINUTE, false, || {
            counted.set(true);
            9
        });
        assert_eq!(decision, PushDecision::Unchanged);
        assert!(
            !counted.get(),
            "counting walks every view: only when it may push"
        );
    }

    #[test]
    fn the_first_result_goes_out_at_once_and_an_unsuppressed_caller_needs_no_persons() {
        let start = Instant::now();
        // Given no push yet, when the first result is there, then it is pushed whatever changed.
        assert_eq!(
            PushGate::new(MINUTE, 3).decide(start, true, || 0),
            PushDecision::Push
        );
        // Given an admin's subscription (nothing suppressed, persons_min 0), when one person
        // changed after the interval, then it pushes: the interval still holds.
        let mut gate = PushGate::new(MINUTE, 0);
        gate.pushed(start);
        assert_eq!(
            gate.decide(start + Duration::from_secs(1), true, || 1),
            PushDecision::WaitUntil(start + MINUTE)
        );
        assert_eq!(gate.decide(start + MINUTE, true, || 1), PushDecision::Push);
    }

    #[test]
    fn the_interval_flag_takes_seconds_minutes_or_hours_from_one_second_to_a_day() {
        for (text, seconds) in [
            ("60", 60),
            ("60s", 60),
            ("5m", 300),
            ("1h", 3600),
            ("1s", 1),
        ] {
            assert_eq!(
                parse_push_interval(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for text in [
            "0",
            "0s",
            "",
            "-5",
            "1.5s",
            "25h",
            "86401",
            "soon",
            "ms",
            "99999999999999999999",
        ] {
            let error = parse_push_interval(text).expect_err(text);
            assert!(
                error.contains("from 1s to 24h") && error.contains(&format!("`{text}`")),
                "{text}: {error}"
            );
        }
    }
}
