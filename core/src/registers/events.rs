//! The registers' event types and the streams they live in.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The prefix of every register stream: `register-<name>`.
pub const REGISTER_STREAM_PREFIX: &str = "register-";

/// A register of an installation. Each has its own stream.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RegisterKind {
    /// The areas districts belong to (Salzgitter's Ortschaften).
    Areas,
    /// The districts a person lives in (Salzgitter's Stadtteile); each has an area as its parent.
    Districts,
    /// The providers of courses (`CourseRegistered.provider`).
    Providers,
}

impl RegisterKind {
    /// Every register, parents before children (the order an import writes them in).
    pub const ALL: [RegisterKind; 3] = [
        RegisterKind::Areas,
        RegisterKind::Districts,
        RegisterKind::Providers,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RegisterKind::Areas => "areas",
            RegisterKind::Districts => "districts",
            RegisterKind::Providers => "providers",
        }
    }

    /// The register whose codes this register's entries name as their parent.
    pub fn parent(&self) -> Option<RegisterKind> {
        match self {
            RegisterKind::Districts => Some(RegisterKind::Areas),
            RegisterKind::Areas | RegisterKind::Providers => None,
        }
    }

    pub fn stream_name(&self) -> String {
        format!("{REGISTER_STREAM_PREFIX}{}", self.as_str())
    }

    /// The register a stream holds; `None` for every other stream (person streams included).
    pub fn from_stream_name(stream: &str) -> Option<RegisterKind> {
        stream
            .strip_prefix(REGISTER_STREAM_PREFIX)
            .and_then(|name| name.parse().ok())
    }
}

impl fmt::Display for RegisterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RegisterKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        RegisterKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown register `{name}`; the registers are {}",
                    RegisterKind::ALL.map(|kind| kind.as_str()).join(", ")
                )
            })
    }
}

/// The name of a register event type. All are at version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterEventType {
    RegisterEntryAdded,
    RegisterEntryRetired,
    RegisterValueMapped,
}

impl RegisterEventType {
    pub const ALL: [RegisterEventType; 3] = [
        RegisterEventType::RegisterEntryAdded,
        RegisterEventType::RegisterEntryRetired,
        RegisterEventType::RegisterValueMapped,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            RegisterEventType::RegisterEntryAdded => "RegisterEntryAdded",
            RegisterEventType::RegisterEntryRetired => "RegisterEntryRetired",
            RegisterEventType::RegisterValueMapped => "RegisterValueMapped",
        }
    }

    pub fn current_version(&self) -> u32 {
        1
    }

    pub fn from_name(name: &str) -> Option<RegisterEventType> {
        RegisterEventType::ALL
            .into_iter()
            .find(|event_type| event_type.name() == name)
    }

    /// The JSON Schema of the payload (`schemas/registers/<Type>.v1.schema.json`).
    pub fn schema(&self) -> Value {
        let schema = match self {
            RegisterEventType::RegisterEntryAdded => schemars::schema_for!(RegisterEntryAdded),
            RegisterEventType::RegisterEntryRetired => schemars::schema_for!(RegisterEntryRetired),
            RegisterEventType::RegisterValueMapped => schemars::schema_for!(RegisterValueMapped),
        };
        serde_json::to_value(schema).unwrap_or(Value::Null)
    }
}

/// A code becomes valid on the event's `occurred_on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterEntryAdded {
    /// The value recorded in events, exactly as written (for example `Lebenstedt`).
    pub code: String,
    /// A longer display name, when it differs from the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The code of the parent entry in the parent register (a district's area).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A code stops being valid on the event's `occurred_on` (it is valid up to the day before).
/// Its successors take over its records when a breakdown asks for today's codes: one successor
/// is a rename or (several codes retired into one) a merge; several successors are a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterEntryRetired {
    pub code: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successors: Vec<String>,
}

/// A value found in recorded events that no register knows (a typo, an old spelling) stands for
/// this code from now on, in every breakdown. The recorded events are not changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterValueMapped {
    pub value: String,
    pub code: String,
    /// Why (for the audit), for example "spelling used by the 2016 import".
    pub reason: String,
}

/// An event of a register stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterEvent {
    EntryAdded(RegisterEntryAdded),
    EntryRetired(RegisterEntryRetired),
    ValueMapped(RegisterValueMapped),
}

impl RegisterEvent {
    pub fn event_type(&self) -> RegisterEventType {
        match self {
            RegisterEvent::EntryAdded(_) => RegisterEventType::RegisterEntryAdded,
            RegisterEvent::EntryRetired(_) => RegisterEventType::RegisterEntryRetired,
            RegisterEvent::ValueMapped(_) => RegisterEventType::RegisterValueMapped,
        }
    }

    pub fn to_data(&self) -> Value {
        let result = match self {
            RegisterEvent::EntryAdded(payload) => serde_json::to_value(payload),
            RegisterEvent::EntryRetired(payload) => serde_json::to_value(payload),
            RegisterEvent::ValueMapped(payload) => serde_json::to_value(payload),
        };
        // Plain structs of strings: serializing them cannot fail.
        result.unwrap_or(Value::Null)
    }
}

/// Reads a register event from its type, version and payload; the error names what is wrong.
pub fn decode_register_event(
    type_name: &str,
    version: u32,
    data: Value,
) -> Result<RegisterEvent, String> {
    let event_type = RegisterEventType::from_name(type_name).ok_or_else(|| {
        format!(
            "`{type_name}` is not a register event type; they are {}",
            RegisterEventType::ALL.map(|t| t.name()).join(", ")
        )
    })?;
    if version != event_type.current_version() {
        return Err(format!("`{type_name}` has only version 1, not {version}"));
    }
    let describe = |error: serde_json::Error| format!("invalid `{type_name}` payload: {error}");
    Ok(match event_type {
        RegisterEventType::RegisterEntryAdded => {
            RegisterEvent::EntryAdded(serde_json::from_value(data).map_err(describe)?)
        }
        RegisterEventType::RegisterEntryRetired => {
            RegisterEvent::EntryRetired(serde_json::from_value(data).map_err(describe)?)
        }
        RegisterEventType::RegisterValueMapped => {
            RegisterEvent::ValueMapped(serde_json::from_value(data).map_err(describe)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_streams_are_recognised_and_person_streams_are_not() {
        for kind in RegisterKind::ALL {
            assert_eq!(
                RegisterKind::from_stream_name(&kind.stream_name()),
                Some(kind)
            );
        }
        assert_eq!(
            RegisterKind::from_stream_name("person-5f0c1b8e-2d7a-4d47-9a43-7c9e6f0b1a11"),
            None
        );
        assert_eq!(RegisterKind::from_stream_name("register-planets"), None);
    }

    #[test]
    fn a_register_event_round_trips_through_its_payload() {
        let event = RegisterEvent::EntryRetired(RegisterEntryRetired {
            code: "Alt".into(),
            successors: vec!["Neu".into()],
        });
        let decoded =
            decode_register_event(event.event_type().name(), 1, event.to_data()).expect("decodes");
        assert_eq!(decoded, event);
        assert!(
            decode_register_event("RegisterEntryAdded", 1, serde_json::json!({"cod": "x"}))
                .unwrap_err()
                .contains("unknown field")
        );
    }
}
