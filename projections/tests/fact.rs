//! A journal's fact in its compact form (issue 11): 48 bytes when interned, its revision as a
//! `u32` and its transaction time as nanoseconds since the epoch (`journal::RecordedAt`). These
//! check the size claimed, that every value the ledger records comes back exactly, that a value a
//! fact cannot hold is refused with an error naming it, and that a cut compares compact times
//! exactly as it compares the times themselves.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use journey_core::catalogue::{Agency, CounsellingContact, Event, Topic};
use journey_core::envelope::Actor;
use journey_core::log::Position;
use journey_projections::journal::{
    ActorSymbol, EventSymbol, Fact, FactError, RecordedAt, FACT_BYTES,
};
use journey_projections::LIVE;
use proptest::prelude::*;
use uuid::Uuid;

fn event() -> Event {
    Event::CounsellingContact(CounsellingContact {
        agency: Agency::Jobcenter,
        topic: Topic::Work,
        base: None,
    })
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 1).expect("a date")
}

#[test]
fn an_interned_fact_takes_the_bytes_claimed() {
    assert_eq!(
        std::mem::size_of::<Fact<EventSymbol, ActorSymbol>>(),
        FACT_BYTES
    );
    assert_eq!(FACT_BYTES, 48);
    assert_eq!(std::mem::size_of::<RecordedAt>(), 8);
}

#[test]
fn a_revision_beyond_u32_is_refused_naming_it() {
    let at = DateTime::from_timestamp(1_709_284_380, 0).expect("a time");
    let made = |revision: u64| {
        Fact::new(
            Position::from_raw(1),
            revision,
            Uuid::from_u128(1),
            day(),
            at,
            Actor::system("test"),
            event(),
        )
    };
    let highest = made(u64::from(u32::MAX)).expect("the highest revision held");
    assert_eq!(u64::from(highest.revision), u64::from(u32::MAX));
    let error = made(u64::from(u32::MAX) + 1).expect_err("one more is refused");
    assert_eq!(
        error,
        FactError::RevisionTooLarge {
            revision: u64::from(u32::MAX) + 1
        }
    );
    assert!(error.to_string().contains("revision 4294967296"), "{error}");
}

#[test]
fn times_outside_1677_to_2262_and_leap_seconds_are_refused_naming_them() {
    let refused = |time: DateTime<Utc>| {
        let error = RecordedAt::new(time).expect_err("refused");
        assert_eq!(error, FactError::RecordedAtOutOfRange { recorded_at: time });
        assert!(
            error.to_string().contains("1677-09-21 to 2262-04-11"),
            "{error}"
        );
    };
    refused(DateTime::<Utc>::MIN_UTC);
    refused(LIVE);
    refused(DateTime::from_timestamp(-9_300_000_000, 0).expect("1675"));
    refused(DateTime::from_timestamp(9_300_000_000, 0).expect("2264"));
    // 2016-12-31T23:59:60.5Z, a leap second.
    refused(DateTime::from_timestamp(1_483_228_799, 1_500_000_000).expect("a leap second"));
}

/// Any time chrono holds, as seconds and nanoseconds (leap seconds included).
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        // Transaction times as the ledger records them.
        (1_400_000_000i64..1_900_000_000, 0u32..1_000_000_000),
        // The edges of what a fact holds.
        (-9_223_372_037i64..-9_223_372_036, 0u32..1_000_000_000),
        (9_223_372_036i64..9_223_372_037, 0u32..1_000_000_000),
        // Anywhere, leap seconds too.
        (-100_000_000_000i64..100_000_000_000, 0u32..2_000_000_000),
    ]
    .prop_filter_map("a time chrono holds", |(seconds, nanos)| {
        DateTime::from_timestamp(seconds, nanos)
    })
}

proptest! {
    #[test]
    fn a_held_time_comes_back_exactly(nanos in any::<i64>()) {
        let time = DateTime::from_timestamp_nanos(nanos);
        let held = RecordedAt::new(time).expect("every nanosecond count is held");
        prop_assert_eq!(held.time(), time);
        prop_assert_eq!(DateTime::<Utc>::from(held), time);
    }

    #[test]
    fn a_time_is_held_exactly_or_refused(time in any_time()) {
        match RecordedAt::new(time) {
            Ok(held) => prop_assert_eq!(held.time(), time),
            Err(error) => prop_assert_eq!(error, FactError::RecordedAtOutOfRange { recorded_at: time }),
        }
    }

    #[test]
    fn a_fact_keeps_every_value_it_was_made_from(
        position in any::<u64>(),
        revision in any::<u32>(),
        id in any::<u128>(),
        days in -100_000i32..100_000,
        nanos in any::<i64>(),
    ) {
        let occurred_on = NaiveDate::from_num_days_from_ce_opt(730_000 + days).expect("a date");
        let recorded_at = DateTime::from_timestamp_nanos(nanos);
        let fact = Fact::new(
            Position::from_raw(position),
            u64::from(revision),
            Uuid::from_u128(id),
            occurred_on,
            recorded_at,
            Actor::system("test"),
            event(),
        )
        .expect("held");
        prop_assert_eq!(fact.position.raw(), position);
        prop_assert_eq!(fact.revision, revision);
        prop_assert_eq!(fact.id, Uuid::from_u128(id));
        prop_assert_eq!(fact.occurred_on, occurred_on);
        prop_assert_eq!(fact.recorded_at.time(), recorded_at);
        prop_assert_eq!(fact.actor, Actor::system("test"));
        prop_assert_eq!(fact.event, event());
    }

    /// The cut of `temporal::effective` compares integers; it must say what comparing the times
    /// says, for every cut (`LIVE`, leap seconds and times no fact holds included).
    #[test]
    fn a_cut_compares_compact_times_as_the_times(
        nanos in any::<i64>(),
        near in -2_000_000_000i64..2_000_000_000,
        known_at in any_time(),
        pick in 0u8..4,
    ) {
        let recorded = RecordedAt::new(DateTime::from_timestamp_nanos(nanos)).expect("held");
        let known_at = match pick {
            // Near the fact's time, to hit equality and both sides of it.
            0 => recorded
                .time()
                .checked_add_signed(TimeDelta::nanoseconds(near))
                .unwrap_or(known_at),
            1 => recorded.time(),
            2 => LIVE,
            _ => known_at,
        };
        prop_assert_eq!(
            recorded.time() <= known_at,
            Some(recorded) <= RecordedAt::cut(known_at)
        );
    }
}

#[test]
fn the_cut_at_the_edges() {
    assert_eq!(RecordedAt::cut(DateTime::<Utc>::MIN_UTC), None);
    let latest = RecordedAt::new(DateTime::from_timestamp_nanos(i64::MAX)).expect("held");
    assert_eq!(RecordedAt::cut(LIVE), Some(latest));
    let earliest = RecordedAt::new(DateTime::from_timestamp_nanos(i64::MIN)).expect("held");
    assert_eq!(RecordedAt::cut(earliest.time()), Some(earliest));
    // One nanosecond before the earliest time held: no fact is known.
    let before = earliest.time() - TimeDelta::nanoseconds(1);
    assert_eq!(RecordedAt::cut(before), None);
    // A leap second lies after its whole second and before the next.
    let leap = DateTime::from_timestamp(1_483_228_799, 1_500_000_000).expect("a leap second");
    let last_nanosecond =
        RecordedAt::new(DateTime::from_timestamp(1_483_228_799, 999_999_999).expect("a time"))
            .expect("held");
    assert_eq!(RecordedAt::cut(leap), Some(last_nanosecond));
}
