//! Scalars of the schema besides the built-in ones, `DateTime` (RFC 3339), `UUID` and `JSON`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar date, `YYYY-MM-DD` (ISO 8601): business dates such as `occurredOn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// A calendar date, `YYYY-MM-DD` (ISO 8601).
#[Scalar(
    name = "Date",
    specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    InputValueError::custom(format!(
                        "`{text}` is not a date: write it as YYYY-MM-DD"
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// A year of birth such as `1990`, or the string `"unknown"` when no registry knows it (common
/// among refugees). It is never guessed: a registry's substitute year is a year, no year is
/// `"unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthYear(pub journey_core::catalogue::BirthYear);

/// A year of birth such as `1990`, or the string `"unknown"` when no registry knows it.
#[Scalar(name = "BirthYear")]
impl ScalarType for BirthYear {
    fn parse(value: Value) -> InputValueResult<Self> {
        use journey_core::catalogue::BirthYear::{Known, Unknown};
        match &value {
            Value::Number(number) => number
                .as_i64()
                .and_then(|year| i32::try_from(year).ok())
                .map(|year| BirthYear(Known(year)))
                .ok_or_else(|| {
                    InputValueError::custom(format!(
                        "{number} is not a year: give a whole year such as 1990, or \"unknown\""
                    ))
                }),
            Value::String(text) if text == "unknown" => Ok(BirthYear(Unknown)),
            Value::String(text) => Err(InputValueError::custom(format!(
                "`{text}` is neither a year nor \"unknown\": give a year as a number such as 1990, or the string \"unknown\""
            ))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match self.0 {
            journey_core::catalogue::BirthYear::Known(year) => Value::from(year),
            journey_core::catalogue::BirthYear::Unknown => Value::String("unknown".to_owned()),
        }
    }
}
