//! Earlier versions of event payloads and the upcasters that bring them to the next version.
//!
//! An upcaster is a pure function on the JSON payload, applied on every read (also during replays), so
//! stored events are never rewritten. To add version N+1 of a type: keep the version-N struct here (it
//! still generates its JSON Schema), bump the version in the catalogue, and add the `N → N+1` step.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use uuid::Uuid;

use super::types::{EmploymentKind, Sex};
use super::validate::Check;
use super::EventType;

/// `EmploymentStarted` version 1, before `weekly_hours`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmploymentStartedV1 {
    pub employment_id: String,
    pub kind: EmploymentKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation_code: Option<String>,
}

// `PersonRegistered` version 1, when a birth year had to be a year. The doc comments are the
// version-1 schema's descriptions, so they stay as they were.
/// A person enters the ledger. Names, birth date, phone and address go to the vault, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonRegisteredV1 {
    pub birth_year: i32,
    pub sex: Sex,
    /// ISO 3166-1 alpha-3, or `unknown`.
    pub nationality: String,
    /// ISO 639-1 codes.
    pub languages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household_id: Option<Uuid>,
}

/// Upcasts `data` of `event_type` from version `from` to `from + 1`.
pub(super) fn upcast(event_type: EventType, from: u32, data: Value) -> Result<Value, Check> {
    match (event_type, from) {
        (EventType::EmploymentStarted, 1) => {
            // Read through the v1 type so that a v1 payload carrying v2 fields is rejected, not guessed at.
            let v1: EmploymentStartedV1 =
                serde_path_to_error::deserialize(data).map_err(|error| {
                    Check::new(error.path().to_string(), error.into_inner().to_string())
                })?;
            let mut object = serde_json::Map::new();
            object.insert("employment_id".into(), Value::String(v1.employment_id));
            object.insert("kind".into(), Value::String(v1.kind.as_str().to_owned()));
            if let Some(code) = v1.occupation_code {
                object.insert("occupation_code".into(), Value::String(code));
            }
            // weekly_hours stays absent: version 1 did not know it.
            Ok(Value::Object(object))
        }
        (EventType::PersonRegistered, 1) => {
            // A version-1 year is a version-2 year as it stands. Reading through the v1 type
            // still rejects a v1 payload that says `unknown`, which version 1 did not allow.
            let v1: PersonRegisteredV1 =
                serde_path_to_error::deserialize(data).map_err(|error| {
                    Check::new(error.path().to_string(), error.into_inner().to_string())
                })?;
            serde_json::to_value(v1).map_err(|error| Check::new("", error.to_string()))
        }
        // Every other type is at version 1: `decode` never asks for a step it does not have.
        _ => Ok(data),
    }
}
