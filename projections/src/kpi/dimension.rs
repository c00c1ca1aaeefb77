//! The disaggregations of DOMAIN.md section 5 and each person's value of them as of D.
//!
//! A value is computed as a [`Key`] that borrows from the view, so the hot loop of an indicator
//! allocates nothing; labels are written only for the finished cells. Keys sort in the order a
//! table is read: age bands and protection statuses in their catalogue order, years and cohorts
//! numerically, districts and nationalities alphabetically, then `unknown`, then `none`.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use journey_core::catalogue::Sex;
use journey_core::registers::{RegisterKind, Registers};
use serde::{Deserialize, Serialize};

use super::columns::Row;
use super::KpiError;
use crate::view::ProtectionStatus;

/// A disaggregation of an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The district as of D (the last known one for a person who moved away), named as the
    /// district register named it on D: a code renamed or merged before D counts under its
    /// successor. `none` before any arrival.
    District,
    /// As registered, `unknown` included.
    Sex,
    /// Age on D = year(D) − birth year, in the bands of [`AGE_BANDS`]; `unknown` when the birth
    /// year is.
    AgeBand,
    /// As registered (ISO 3166-1 alpha-3); `unknown` when registered as unknown.
    Nationality,
    /// The year of the first arrival; `none` before any arrival.
    ArrivalCohort,
    /// Whole years from the first arrival to D; `none` before any arrival.
    YearsSinceArrival,
    /// Whole years from the entry into Germany to D, counted from the first arrival where no
    /// entry date is recorded (see [`PersonView::entry`]); `none` before any arrival.
    YearsSinceEntry,
    /// See [`ProtectionStatus`]; `none` when nothing status-bearing is recorded by D.
    ProtectionStatus,
    /// The area (the district register's parent, Salzgitter's Ortschaft) of the district as of D;
    /// `unknown` for a district the register does not know, `none` before any arrival.
    Area,
    /// The district as of D named by today's register: records of renamed or merged districts
    /// count under today's code (a split district keeps its old code). `none` before any arrival.
    CurrentDistrict,
}

impl Dimension {
    pub const ALL: [Dimension; 10] = [
        Dimension::District,
        Dimension::Sex,
        Dimension::AgeBand,
        Dimension::Nationality,
        Dimension::ArrivalCohort,
        Dimension::YearsSinceArrival,
        Dimension::YearsSinceEntry,
        Dimension::ProtectionStatus,
        Dimension::Area,
        Dimension::CurrentDistrict,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Dimension::District => "district",
            Dimension::Sex => "sex",
            Dimension::AgeBand => "age_band",
            Dimension::Nationality => "nationality",
            Dimension::ArrivalCohort => "arrival_cohort",
            Dimension::YearsSinceArrival => "years_since_arrival",
            Dimension::YearsSinceEntry => "years_since_entry",
            Dimension::ProtectionStatus => "protection_status",
            Dimension::Area => "area",
            Dimension::CurrentDistrict => "current_district",
        }
    }

    /// The `district` cell of a recorded district value on `on`: the register's code for it then
    /// (renames and merges before `on` applied), or the value as recorded.
    pub(crate) fn district_key<'a>(
        district: &'a str,
        on: NaiveDate,
        registers: &'a Registers,
    ) -> Key<'a> {
        let districts = registers.register(RegisterKind::Districts);
        Key::text(districts.resolve(district, Some(on)).unwrap_or(district))
    }

    /// Whether the value of this dimension is a function of the person's district on D alone
    /// ([`Dimension::of_district`]).
    pub(crate) fn is_of_district(&self) -> bool {
        matches!(
            self,
            Dimension::District | Dimension::CurrentDistrict | Dimension::Area
        )
    }

    /// The value of a dimension that [`Dimension::is_of_district`] for a person whose district
    /// on `on` is `district` (as recorded), named through the registers.
    pub(crate) fn of_district<'a>(
        &self,
        district: &'a str,
        on: NaiveDate,
        registers: &'a Registers,
    ) -> Key<'a> {
        debug_assert!(self.is_of_district(), "a dimension of the district");
        let districts = registers.register(RegisterKind::Districts);
        match self {
            Dimension::CurrentDistrict => {
                Key::text(districts.resolve(district, None).unwrap_or(district))
            }
            Dimension::Area => {
                let areas = registers.register(RegisterKind::Areas);
                districts
                    .resolve(district, Some(on))
                    .and_then(|code| districts.parent(code))
                    .map_or(Key::Unknown, |area| {
                        Key::text(areas.resolve(area, Some(on)).unwrap_or(area))
                    })
            }
            _ => Self::district_key(district, on, registers),
        }
    }

    /// The value of this dimension for a person as of `on`, from the person's columns only.
    pub(crate) fn key<'a>(&self, row: Row<'a>, on: NaiveDate, registers: &'a Registers) -> Key<'a> {
        match self {
            Dimension::District | Dimension::CurrentDistrict | Dimension::Area => {
                row.district(on).map_or(Key::None, |district| {
                    self.of_district(district, on, registers)
                })
            }
            Dimension::Sex => match row.sex() {
                Sex::Unknown => Key::Unknown,
                sex => Key::Ordinal(sex as u8),
            },
            Dimension::AgeBand => match row.age(on) {
                Some(age) => age_band(age).map_or(Key::None, Key::Ordinal),
                None => Key::Unknown,
            },
            Dimension::Nationality => Key::text(row.nationality()),
            Dimension::ArrivalCohort => row
                .first_arrival(on)
                .map_or(Key::None, |arrival| Key::Number(arrival.year())),
            Dimension::YearsSinceArrival => {
                row.years_since_arrival(on).map_or(Key::None, Key::Number)
            }
            Dimension::YearsSinceEntry => row.years_since_entry(on).map_or(Key::None, Key::Number),
            Dimension::ProtectionStatus => row
                .protection_status(on)
                .map_or(Key::None, |status| Key::Ordinal(status as u8)),
        }
    }

    /// The wire form of a value of this dimension.
    pub(crate) fn label(&self, key: Key<'_>) -> String {
        match key {
            Key::Unknown => "unknown".to_owned(),
            Key::None => "none".to_owned(),
            Key::Number(number) => number.to_string(),
            Key::Text(text) => text.to_owned(),
            Key::Ordinal(index) => {
                let index = usize::from(index);
                let label = match self {
                    Dimension::Sex => Sex::ALL.get(index).map(Sex::as_str),
                    Dimension::AgeBand => AGE_BANDS.get(index).map(|band| band.label),
                    Dimension::ProtectionStatus => ProtectionStatus::ALL
                        .get(index)
                        .map(ProtectionStatus::as_str),
                    _ => None,
                };
                // Ordinals are only made from these three enumerations, by index.
                label.unwrap_or("invalid").to_owned()
            }
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dimension {
    type Err = KpiError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Dimension::ALL
            .into_iter()
            .find(|dimension| dimension.as_str() == name)
            .ok_or_else(|| KpiError::UnknownDimension {
                name: name.to_owned(),
                allowed: Dimension::ALL.to_vec(),
            })
    }
}

/// An age band of DOMAIN.md section 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeBand {
    pub label: &'static str,
    pub from: i32,
    /// Inclusive; `None` for the open top band.
    pub to: Option<i32>,
}

pub const AGE_BANDS: [AgeBand; 7] = [
    AgeBand {
        label: "0-2",
        from: 0,
        to: Some(2),
    },
    AgeBand {
        label: "3-5",
        from: 3,
        to: Some(5),
    },
    AgeBand {
        label: "6-14",
        from: 6,
        to: Some(14),
    },
    AgeBand {
        label: "15-24",
        from: 15,
        to: Some(24),
    },
    AgeBand {
        label: "25-44",
        from: 25,
        to: Some(44),
    },
    AgeBand {
        label: "45-64",
        from: 45,
        to: Some(64),
    },
    AgeBand {
        label: "65+",
        from: 65,
        to: None,
    },
];

/// The index of the band an age falls in; `None` for a negative age (not born by D).
fn age_band(age: i32) -> Option<u8> {
    AGE_BANDS
        .iter()
        .position(|band| age >= band.from && band.to.is_none_or(|to| age <= to))
        .and_then(|index| u8::try_from(index).ok())
}

/// A dimension value as computed in the hot loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key<'a> {
    /// A value of a fixed enumeration, by its position.
    Ordinal(u8),
    Number(i32),
    Text(&'a str),
    /// Recorded as unknown.
    Unknown,
    /// Nothing recorded, or not applicable.
    None,
}

impl<'a> Key<'a> {
    pub(crate) fn text(text: &'a str) -> Self {
        if text == "unknown" {
            Key::Unknown
        } else {
            Key::Text(text)
        }
    }

    /// The same value borrowing nothing; a text (a district, an area, a nationality) becomes
    /// `unknown`, so it is for the dimensions whose values are no texts.
    pub(crate) fn detached(self) -> Key<'static> {
        debug_assert!(!matches!(self, Key::Text(_)), "a value that is no text");
        match self {
            Key::Ordinal(ordinal) => Key::Ordinal(ordinal),
            Key::Number(number) => Key::Number(number),
            Key::Text(_) | Key::Unknown => Key::Unknown,
            Key::None => Key::None,
        }
    }
}
