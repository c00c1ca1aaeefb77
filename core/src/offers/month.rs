//! A calendar month, written `YYYY-MM`: the period an offer's capacity is for.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar month (`2025-03`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    /// The first day of the month; the only representation, so equal months compare equal.
    first_day: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a month: write it as YYYY-MM, for example 2025-03")]
pub struct InvalidMonth(pub String);

impl Month {
    /// The month `date` falls in.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            first_day: date.with_day(1).unwrap_or(date),
        }
    }

    pub fn first_day(&self) -> NaiveDate {
        self.first_day
    }

    /// The last day of the month.
    pub fn last_day(&self) -> NaiveDate {
        self.next().first_day.pred_opt().unwrap_or(self.first_day)
    }

    /// The month after this one.
    pub fn next(&self) -> Self {
        self.plus(1)
    }

    /// The month `months` after this one.
    pub fn plus(&self, months: u32) -> Self {
        Self {
            first_day: self
                .first_day
                .checked_add_months(Months::new(months))
                .unwrap_or(self.first_day),
        }
    }

    /// The month `months` before this one.
    pub fn minus(&self, months: u32) -> Self {
        Self {
            first_day: self
                .first_day
                .checked_sub_months(Months::new(months))
                .unwrap_or(self.first_day),
        }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        Month::of(date) == *self
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

impl FromStr for Month {
    type Err = InvalidMonth;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidMonth(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first_day| Month { first_day })
            .ok_or_else(invalid)
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Month {
    fn schema_name() -> Cow<'static, str> {
        "Month".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A calendar month, YYYY-MM.",
            "type": "string",
            "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_reads_and_writes_yyyy_mm_and_refuses_anything_else() {
        let month: Month = "2025-02".parse().expect("a month");
        assert_eq!(month.to_string(), "2025-02");
        assert_eq!(
            month.last_day(),
            NaiveDate::from_ymd_opt(2025, 2, 28).unwrap()
        );
        assert_eq!(month.plus(11).to_string(), "2026-01");
        for bad in ["2025-13", "2025-2", "25-02", "2025-02-01", "x"] {
            assert_eq!(bad.parse::<Month>(), Err(InvalidMonth(bad.to_owned())));
        }
    }
}
