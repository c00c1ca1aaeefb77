//! The compact bytes of the kept rows ([`super::history::History`]) in the projections'
//! snapshot (issue 11): every integer a varint (signed ones zigzagged), a business date as its
//! day number from 2020-01-01 (two bytes for the years a journey spans), a transaction time as
//! the difference from the time before it, enums as their variant's number. [`Pack`] is the
//! encoding of one value; the layout of the columns and versions is in `packed`, `columns` and
//! `history`, which write what consecutive rows repeat once.
//!
//! Reading never trusts the bytes: every read is bounded by what is left, and a value out of its
//! range is an error that says where, never a panic (the section is only as sound as its seal and
//! the file's digest).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use journey_core::catalogue::{CourseType, Exam, Level, RecognitionOutcome, SchoolType, Sex};
use journey_core::envelope::PersonId;
use uuid::Uuid;

use super::columns::{IntegrationCourse, Recognition};
use crate::view::{
    CourseEnd, Dated, Interval, LanguageTest, ProtectionStatus, SchoolSpell, SpellOutcome,
    StaySummary,
};

/// Bytes being read: what is left of the section.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// Whether every byte was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    fn byte(&mut self) -> Result<u8, String> {
        let (first, rest) = self
            .input
            .split_first()
            .ok_or("the kept rows end inside a value")?;
        self.input = rest;
        Ok(*first)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], String> {
        if len > self.input.len() {
            return Err("the kept rows end inside a value".into());
        }
        let (taken, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(taken)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 64 bits".into())
    }

    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        let zigzag = self.u64()?;
        Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        u32::try_from(self.u64()?).map_err(|_| "a count beyond 32 bits".to_string())
    }

    /// A count of things that take at least a byte each: never more than the bytes left, so a
    /// damaged count cannot make a reader reserve room for more.
    pub(crate) fn count(&mut self) -> Result<usize, String> {
        let count = self.u64()?;
        usize::try_from(count)
            .ok()
            .filter(|count| *count <= self.input.len())
            .ok_or_else(|| format!("a count of {count} beyond the bytes left"))
    }

    /// A count of things that may take no byte (rows of a column that repeat): bounded by
    /// `limit` instead.
    pub(crate) fn count_up_to(&mut self, limit: usize) -> Result<usize, String> {
        let count = self.u64()?;
        usize::try_from(count)
            .ok()
            .filter(|count| *count <= limit)
            .ok_or_else(|| format!("a count of {count} beyond {limit}"))
    }
}

pub(crate) fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_i64(out: &mut Vec<u8>, value: i64) {
    put_u64(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// The day the dates are counted from: a journey's dates lie within a few thousand days of it.
fn epoch_day() -> i32 {
    NaiveDate::from_ymd_opt(2020, 1, 1)
        .expect("a date")
        .num_days_from_ce()
}

/// A transaction time as the difference from `before`, in seconds (the flag bit clear) or, when
/// it has a fraction of a second, seconds then nanoseconds (the flag bit set), the varint moved
/// up by `reserved` (the values below it say something else, [`take_time_from`]). Both ends of
/// chrono's range fit: their seconds stay far inside 62 bits.
pub(crate) fn put_time_above(
    out: &mut Vec<u8>,
    time: DateTime<Utc>,
    before: DateTime<Utc>,
    reserved: u64,
) {
    let seconds = time.timestamp() - before.timestamp();
    let nanos = time.timestamp_subsec_nanos();
    let flagged = seconds * 2 + i64::from(nanos != 0);
    put_u64(out, ((flagged << 1) ^ (flagged >> 63)) as u64 + reserved);
    if nanos != 0 {
        put_u64(out, u64::from(nanos));
    }
}

pub(crate) fn put_time(out: &mut Vec<u8>, time: DateTime<Utc>, before: DateTime<Utc>) {
    put_time_above(out, time, before, 0);
}

/// The time [`put_time_above`] wrote as `value` (its varint less what was reserved), the
/// nanoseconds read after it when flagged.
pub(crate) fn take_time_from(
    input: &mut Reader,
    value: u64,
    before: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let flagged = (value >> 1) as i64 ^ -((value & 1) as i64);
    let nanos = if flagged & 1 == 1 { input.u32()? } else { 0 };
    let seconds = before
        .timestamp()
        .checked_add(flagged >> 1)
        .ok_or("a transaction time out of range")?;
    DateTime::from_timestamp(seconds, nanos).ok_or_else(|| "a transaction time out of range".into())
}

pub(crate) fn take_time(
    input: &mut Reader,
    before: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let value = input.u64()?;
    take_time_from(input, value, before)
}

/// One value's bytes (see the module).
pub(crate) trait Pack: Sized {
    fn pack(&self, out: &mut Vec<u8>);
    fn unpack(input: &mut Reader) -> Result<Self, String>;
}

impl Pack for u32 {
    fn pack(&self, out: &mut Vec<u8>) {
        put_u64(out, u64::from(*self));
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        input.u32()
    }
}

impl Pack for i32 {
    fn pack(&self, out: &mut Vec<u8>) {
        put_i64(out, i64::from(*self));
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        i32::try_from(input.i64()?).map_err(|_| "a number beyond 32 bits".into())
    }
}

impl Pack for bool {
    fn pack(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        match input.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("{other} is no truth value")),
        }
    }
}

impl Pack for NaiveDate {
    fn pack(&self, out: &mut Vec<u8>) {
        put_i64(out, i64::from(self.num_days_from_ce() - epoch_day()));
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        i32::try_from(input.i64()?)
            .ok()
            .and_then(|days| days.checked_add(epoch_day()))
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .ok_or_else(|| "a date out of range".into())
    }
}

impl Pack for Uuid {
    fn pack(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        let bytes: [u8; 16] = input.bytes(16)?.try_into().expect("16 bytes");
        Ok(Uuid::from_bytes(bytes))
    }
}

impl Pack for PersonId {
    fn pack(&self, out: &mut Vec<u8>) {
        self.0.pack(out);
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        Uuid::unpack(input).map(PersonId)
    }
}

impl<T: Pack> Pack for Option<T> {
    fn pack(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.pack(out);
            }
        }
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        match bool::unpack(input)? {
            false => Ok(None),
            true => T::unpack(input).map(Some),
        }
    }
}

impl<A: Pack, B: Pack> Pack for (A, B) {
    fn pack(&self, out: &mut Vec<u8>) {
        self.0.pack(out);
        self.1.pack(out);
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        Ok((A::unpack(input)?, B::unpack(input)?))
    }
}

impl<T: Pack + Copy + Default, const N: usize> Pack for [T; N] {
    fn pack(&self, out: &mut Vec<u8>) {
        self.iter().for_each(|value| value.pack(out));
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        let mut values = [T::default(); N];
        for value in &mut values {
            *value = T::unpack(input)?;
        }
        Ok(values)
    }
}

/// Values with no date in them: their postcard form (an enum is its variant's number).
macro_rules! pack_by_postcard {
    ($($name:ty),+ $(,)?) => {
        $(impl Pack for $name {
            fn pack(&self, out: &mut Vec<u8>) {
                out.extend(postcard::to_allocvec(self).expect("a value without dates serializes"));
            }

            fn unpack(input: &mut Reader) -> Result<Self, String> {
                let (value, rest) = postcard::take_from_bytes(input.input)
                    .map_err(|error| format!("{}: {error}", stringify!($name)))?;
                input.input = rest;
                Ok(value)
            }
        })+
    };
}

pack_by_postcard!(
    Sex,
    CourseType,
    RecognitionOutcome,
    ProtectionStatus,
    SpellOutcome,
    CourseEnd,
    Exam,
    Level,
    SchoolType,
    journey_core::catalogue::Certificate,
);

/// Values of named fields: each field in order.
macro_rules! pack_fields {
    ($name:ident { $($field:ident),+ $(,)? }) => {
        impl Pack for $name {
            fn pack(&self, out: &mut Vec<u8>) {
                $(self.$field.pack(out);)+
            }

            fn unpack(input: &mut Reader) -> Result<Self, String> {
                Ok($name { $($field: Pack::unpack(input)?,)+ })
            }
        }
    };
}

pack_fields!(Interval { start, end });
pack_fields!(StaySummary {
    stays,
    first_arrival,
    latest
});
pack_fields!(IntegrationCourse {
    course_type,
    registered_on,
    started_on,
    ended_on,
    end
});
pack_fields!(Recognition {
    applied_on,
    decided_on,
    outcome
});
pack_fields!(LanguageTest {
    on,
    exam,
    level,
    first_attempt
});
pack_fields!(SchoolSpell {
    school_type,
    language_class,
    interval,
    regular_class_on,
    certificate
});

impl<T: Pack> Pack for Dated<T> {
    fn pack(&self, out: &mut Vec<u8>) {
        self.on.pack(out);
        self.value.pack(out);
    }

    fn unpack(input: &mut Reader) -> Result<Self, String> {
        Ok(Dated {
            on: NaiveDate::unpack(input)?,
            value: T::unpack(input)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<T: Pack + PartialEq + std::fmt::Debug>(value: T) -> Result<(), TestCaseError> {
        let mut out = Vec::new();
        value.pack(&mut out);
        let mut input = Reader::new(&out);
        prop_assert_eq!(T::unpack(&mut input), Ok(value));
        prop_assert!(input.is_empty());
        Ok(())
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (-200_000i32..200_000).prop_map(|days| {
            NaiveDate::from_num_days_from_ce_opt(epoch_day() + days).expect("a date")
        })
    }

    proptest! {
        /// Every integer, date and time comes back as written, whatever its size or sign.
        #[test]
        fn values_come_back_as_written(
            unsigned in any::<u32>(),
            signed in any::<i32>(),
            on in date(),
            end in proptest::option::of(date()),
            seconds in -8_000_000_000_000i64..8_000_000_000_000,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            before in -8_000_000_000_000i64..8_000_000_000_000,
        ) {
            round_trip(unsigned)?;
            round_trip(signed)?;
            round_trip(Interval { start: on, end })?;
            round_trip(Dated { on, value: signed })?;
            round_trip([end, Some(on), None, end, None, Some(on)])?;
            let before = DateTime::from_timestamp(before, 0).expect("a time");
            if let Some(time) = DateTime::from_timestamp(seconds, nanos) {
                let mut out = Vec::new();
                put_time(&mut out, time, before);
                prop_assert_eq!(take_time(&mut Reader::new(&out), before), Ok(time));
            }
        }
    }

    #[test]
    fn a_date_of_a_journey_takes_two_bytes_and_the_extremes_of_time_come_back() {
        let mut out = Vec::new();
        NaiveDate::from_ymd_opt(2013, 5, 17)
            .expect("a date")
            .pack(&mut out);
        assert_eq!(out.len(), 2);
        for (time, before) in [
            (DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC),
            (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
        ] {
            let mut out = Vec::new();
            put_time(&mut out, time, before);
            assert_eq!(take_time(&mut Reader::new(&out), before), Ok(time));
        }
    }

    #[test]
    fn bytes_cut_short_are_an_error_not_a_panic() {
        let mut out = Vec::new();
        Some(Interval {
            start: NaiveDate::from_ymd_opt(2021, 1, 1).expect("a date"),
            end: None,
        })
        .pack(&mut out);
        for len in 0..out.len() {
            assert!(Option::<Interval>::unpack(&mut Reader::new(&out[..len])).is_err());
        }
    }
}
