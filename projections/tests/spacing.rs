//! When the runner writes its next snapshot (`SnapshotSpacing`): given a state of some size and the
//! events and time since the last snapshot, is one due? Each snapshot costs time in proportion to the
//! whole state, so a catch-up or rebuild spaces them by the state's size; the time trigger keeps a
//! quiet server's snapshots fresh.

use std::time::{Duration, Instant};

use journey_projections::runner::SnapshotSpacing;

const EVERY_EVENTS: u64 = 1_000;
const INTERVAL: Duration = Duration::from_secs(300);

/// Given a state of `applied` events at its last snapshot taken at `start`.
fn given(applied: u64, interval: Option<Duration>, start: Instant) -> SnapshotSpacing {
    SnapshotSpacing::new(EVERY_EVENTS, interval, applied, start)
}

#[test]
fn a_small_state_snapshots_every_configured_number_of_events() {
    let start = Instant::now();
    let mut spacing = given(0, None, start);
    spacing.applied(EVERY_EVENTS - 1);
    assert!(!spacing.due(start));
    spacing.applied(1);
    assert!(spacing.due(start));
}

#[test]
fn a_large_state_waits_for_as_many_new_events_as_it_holds() {
    let start = Instant::now();
    let mut spacing = given(10 * EVERY_EVENTS, None, start);
    spacing.applied(10 * EVERY_EVENTS - 1);
    assert!(!spacing.due(start));
    spacing.applied(1);
    assert!(spacing.due(start));
}

#[test]
fn after_a_snapshot_the_gap_grows_with_the_state() {
    let start = Instant::now();
    let mut spacing = given(0, None, start);
    // Then the snapshots of a catch-up from nothing fall at 1,000, 2,000, 4,000, 8,000 events.
    let mut written_at = Vec::new();
    for event in 1..=10_000u64 {
        spacing.applied(1);
        if spacing.due(start) {
            spacing.written(start);
            written_at.push(event);
        }
    }
    assert_eq!(written_at, [1_000, 2_000, 4_000, 8_000]);
}

#[test]
fn the_snapshots_of_a_long_catch_up_cost_at_most_twice_the_last_one() {
    let start = Instant::now();
    let mut spacing = given(0, None, start);
    let (mut events, mut written_events) = (0u64, 0u64);
    // Batches of uneven size, as the live loop applies them.
    for batch in (1..=4_000u64).map(|n| 1 + n % 97) {
        spacing.applied(batch);
        events += batch;
        if spacing.due(start) {
            spacing.written(start);
            // A snapshot costs in proportion to the events in the state.
            written_events += events;
        }
    }
    assert!(
        written_events <= 2 * events,
        "{written_events} events serialized for a state of {events}"
    );
}

#[test]
fn the_time_trigger_writes_a_quiet_states_changes() {
    let start = Instant::now();
    let mut spacing = given(10 * EVERY_EVENTS, Some(INTERVAL), start);
    assert!(!spacing.due(start + 2 * INTERVAL), "nothing changed");
    spacing.applied(1);
    assert!(!spacing.due(start + INTERVAL - Duration::from_secs(1)));
    assert!(spacing.due(start + INTERVAL));
    spacing.written(start + INTERVAL);
    spacing.applied(1);
    assert!(!spacing.due(start + INTERVAL + Duration::from_secs(1)));
}

#[test]
fn without_a_time_trigger_only_events_count() {
    let start = Instant::now();
    let mut spacing = given(0, None, start);
    spacing.applied(1);
    assert!(!spacing.due(start + 100 * INTERVAL));
}
