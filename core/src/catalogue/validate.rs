//! Field checks shared by the payloads.

/// A field-level problem: which field, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub field: String,
    pub message: String,
}

impl Check {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub(crate) mod check {
    use super::Check;

    /// The longest identifier (course, measure, training, employment, mentor and consent ids).
    pub const IDENTIFIER_LEN_MAX: usize = 64;
    /// The longest short label (district, provider, purpose, legal basis, form version).
    pub const LABEL_LEN_MAX: usize = 120;
    /// The longest reason of a correction or retraction.
    pub const REASON_LEN_MAX: usize = 500;

    fn text(field: &str, value: &str, len_max: usize) -> Result<(), Check> {
        if value.trim().is_empty() {
            return Err(Check::new(field, "must not be empty"));
        }
        let len = value.chars().count();
        if len > len_max {
            return Err(Check::new(
                field,
                format!("must be at most {len_max} characters, is {len}"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(Check::new(field, "must not contain control characters"));
        }
        Ok(())
    }

    pub fn identifier(field: &str, value: &str) -> Result<(), Check> {
        text(field, value, IDENTIFIER_LEN_MAX)
    }

    pub fn label(field: &str, value: &str) -> Result<(), Check> {
        text(field, value, LABEL_LEN_MAX)
    }

    pub fn reason(field: &str, value: &str) -> Result<(), Check> {
        text(field, value, REASON_LEN_MAX)
    }

    pub fn birth_year(field: &str, value: i32) -> Result<(), Check> {
        if !(1900..=2100).contains(&value) {
            return Err(Check::new(
                field,
                format!("must be a year between 1900 and 2100, is {value}"),
            ));
        }
        Ok(())
    }

    pub fn nationality(field: &str, value: &str) -> Result<(), Check> {
        if value == "unknown" || (value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()))
        {
            Ok(())
        } else {
            Err(Check::new(
                field,
                format!(
                    "must be an ISO 3166-1 alpha-3 code such as `SYR`, or `unknown`; got `{value}`"
                ),
            ))
        }
    }

    pub fn language(field: &str, value: &str) -> Result<(), Check> {
        if value.len() == 2 && value.bytes().all(|b| b.is_ascii_lowercase()) {
            Ok(())
        } else {
            Err(Check::new(
                field,
                format!("must be an ISO 639-1 code such as `ar`; got `{value}`"),
            ))
        }
    }

    pub fn occupation_code(field: &str, value: &str) -> Result<(), Check> {
        if (1..=5).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(Check::new(
                field,
                format!("must be a KldB 2010 code of 1 to 5 digits such as `26212`; got `{value}`"),
            ))
        }
    }
}
