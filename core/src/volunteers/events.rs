//! The volunteers' event types and the streams they live in. No event carries a name, a contact
//! or free text: the stream is pseudonymous, its identifying data is in the vault.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::envelope::PersonId;

/// The prefix of every volunteer stream: `volunteer-<uuid>`.
pub const VOLUNTEER_STREAM_PREFIX: &str = "volunteer-";

/// The pseudonymous identity of a volunteer: the stream `volunteer-<uuid>` holds their events, and
/// a mentee's `MentorAssigned.mentor_id` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct VolunteerId(pub Uuid);

impl VolunteerId {
    pub fn stream_name(&self) -> String {
        format!("{VOLUNTEER_STREAM_PREFIX}{}", self.0)
    }

    /// The volunteer a stream holds (or a mentor id names); `None` for everything else.
    pub fn from_stream_name(stream: &str) -> Option<VolunteerId> {
        stream
            .strip_prefix(VOLUNTEER_STREAM_PREFIX)
            .and_then(|rest| Uuid::parse_str(rest).ok())
            .filter(|uuid| rest_is_canonical(stream, uuid))
            .map(VolunteerId)
    }

    /// The owner of the volunteer's data key in the key store. The key store holds one key per
    /// uuid and destroys it with the same crash-safe rotation whoever owns it; volunteer and
    /// person ids are random uuids of their own, so they never share a key.
    pub fn key_owner(&self) -> PersonId {
        PersonId(self.0)
    }
}

/// Only the hyphenated lower-case form names a stream, so one volunteer has one stream name.
fn rest_is_canonical(stream: &str, uuid: &Uuid) -> bool {
    stream[VOLUNTEER_STREAM_PREFIX.len()..] == uuid.hyphenated().to_string()
}

impl fmt::Display for VolunteerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VOLUNTEER_STREAM_PREFIX}{}", self.0)
    }
}

impl FromStr for VolunteerId {
    type Err = String;

    /// Accepts both `volunteer-<uuid>` and a bare `<uuid>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        VolunteerId::from_stream_name(text)
            .or_else(|| Uuid::parse_str(text).ok().map(VolunteerId))
            .ok_or_else(|| format!("`{text}` is not a volunteer: expected `volunteer-<uuid>`"))
    }
}

/// A volunteer joined the register. The first event of a volunteer's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerRecruited {
    /// The district the volunteer works in, when known: a code of the districts register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
}

/// The volunteer completed the preparation that lets them mentor (the basic training).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerTrained {}

/// The volunteer took on a mentee: `mentoring` is the id of the `MentorAssigned` event in the
/// mentee's stream that names this volunteer (see the module documentation of
/// `journey_core::volunteers` for why the link names an event and not a person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MenteeAssigned {
    pub mentoring: Uuid,
}

/// How full-time staff supported the volunteer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SupportKind {
    /// A supervision session (individual or group).
    Supervision,
    /// A further training after the basic one.
    Training,
}

/// Full-time staff supported the volunteer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerSupported {
    pub kind: SupportKind,
}

/// How the volunteer's work was recognised.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AppreciationKind {
    /// A certificate of the volunteer's work (for applications, for example).
    Certificate,
    /// An event for volunteers (a reception, a thank-you evening).
    Event,
    /// The Lower Saxony volunteer card (Ehrenamtskarte).
    VolunteerCard,
    Other,
}

/// The volunteer's work was recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerAppreciated {
    pub kind: AppreciationKind,
}

/// Why a volunteer stopped.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No time any more (work, family).
    NoTime,
    /// Moved out of the city.
    MovedAway,
    /// Overburdened: the signal supervision exists to catch.
    Overburdened,
    Other,
}

/// The volunteer stopped volunteering. Nothing but an erasure follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerEnded {
    pub reason: EndReason,
}

/// The volunteer's personal data was erased (their data key destroyed, their vault entry gone).
/// The pseudonymous facts before it stay, as a person's erasure keeps its envelopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerErased {}

/// The name of a volunteer event type. All are at version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolunteerEventType {
    VolunteerRecruited,
    VolunteerTrained,
    MenteeAssigned,
    VolunteerSupported,
    VolunteerAppreciated,
    VolunteerEnded,
    VolunteerErased,
}

impl VolunteerEventType {
    pub const ALL: [VolunteerEventType; 7] = [
        VolunteerEventType::VolunteerRecruited,
        VolunteerEventType::VolunteerTrained,
        VolunteerEventType::MenteeAssigned,
        VolunteerEventType::VolunteerSupported,
        VolunteerEventType::VolunteerAppreciated,
        VolunteerEventType::VolunteerEnded,
        VolunteerEventType::VolunteerErased,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            VolunteerEventType::VolunteerRecruited => "VolunteerRecruited",
            VolunteerEventType::VolunteerTrained => "VolunteerTrained",
            VolunteerEventType::MenteeAssigned => "MenteeAssigned",
            VolunteerEventType::VolunteerSupported => "VolunteerSupported",
            VolunteerEventType::VolunteerAppreciated => "VolunteerAppreciated",
            VolunteerEventType::VolunteerEnded => "VolunteerEnded",
            VolunteerEventType::VolunteerErased => "VolunteerErased",
        }
    }

    pub fn current_version(&self) -> u32 {
        1
    }

    pub fn from_name(name: &str) -> Option<VolunteerEventType> {
        VolunteerEventType::ALL
            .into_iter()
            .find(|event_type| event_type.name() == name)
    }

    /// The JSON Schema of the payload (`schemas/volunteers/<Type>.v1.schema.json`).
    pub fn schema(&self) -> Value {
        let schema = match self {
            VolunteerEventType::VolunteerRecruited => schemars::schema_for!(VolunteerRecruited),
            VolunteerEventType::VolunteerTrained => schemars::schema_for!(VolunteerTrained),
            VolunteerEventType::MenteeAssigned => schemars::schema_for!(MenteeAssigned),
            VolunteerEventType::VolunteerSupported => schemars::schema_for!(VolunteerSupported),
            VolunteerEventType::VolunteerAppreciated => {
                schemars::schema_for!(VolunteerAppreciated)
            }
            VolunteerEventType::VolunteerEnded => schemars::schema_for!(VolunteerEnded),
            VolunteerEventType::VolunteerErased => schemars::schema_for!(VolunteerErased),
        };
        serde_json::to_value(schema).unwrap_or(Value::Null)
    }
}

/// Each volunteer event type's schema, with its file name under `schemas/volunteers/`.
pub fn event_schemas() -> Vec<(String, Value)> {
    VolunteerEventType::ALL
        .into_iter()
        .map(|event_type| {
            (
                format!(
                    "{}.v{}.schema.json",
                    event_type.name(),
                    event_type.current_version()
                ),
                event_type.schema(),
            )
        })
        .collect()
}

/// An event of a volunteer stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolunteerEvent {
    Recruited(VolunteerRecruited),
    Trained(VolunteerTrained),
    MenteeAssigned(MenteeAssigned),
    Supported(VolunteerSupported),
    Appreciated(VolunteerAppreciated),
    Ended(VolunteerEnded),
    Erased(VolunteerErased),
}

impl VolunteerEvent {
    pub fn event_type(&self) -> VolunteerEventType {
        match self {
            VolunteerEvent::Recruited(_) => VolunteerEventType::VolunteerRecruited,
            VolunteerEvent::Trained(_) => VolunteerEventType::VolunteerTrained,
            VolunteerEvent::MenteeAssigned(_) => VolunteerEventType::MenteeAssigned,
            VolunteerEvent::Supported(_) => VolunteerEventType::VolunteerSupported,
            VolunteerEvent::Appreciated(_) => VolunteerEventType::VolunteerAppreciated,
            VolunteerEvent::Ended(_) => VolunteerEventType::VolunteerEnded,
            VolunteerEvent::Erased(_) => VolunteerEventType::VolunteerErased,
        }
    }

    pub fn to_data(&self) -> Value {
        let result = match self {
            VolunteerEvent::Recruited(payload) => serde_json::to_value(payload),
            VolunteerEvent::Trained(payload) => serde_json::to_value(payload),
            VolunteerEvent::MenteeAssigned(payload) => serde_json::to_value(payload),
            VolunteerEvent::Supported(payload) => serde_json::to_value(payload),
            VolunteerEvent::Appreciated(payload) => serde_json::to_value(payload),
            VolunteerEvent::Ended(payload) => serde_json::to_value(payload),
            VolunteerEvent::Erased(payload) => serde_json::to_value(payload),
        };
        // Plain structs of strings and enums: serializing them cannot fail.
        result.unwrap_or(Value::Null)
    }
}

/// Reads a volunteer event from its type, version and payload; the error names what is wrong.
pub fn decode_volunteer_event(
    type_name: &str,
    version: u32,
    data: Value,
) -> Result<VolunteerEvent, String> {
    let event_type = VolunteerEventType::from_name(type_name).ok_or_else(|| {
        format!(
            "`{type_name}` is not a volunteer event type; they are {}",
            VolunteerEventType::ALL.map(|t| t.name()).join(", ")
        )
    })?;
    if version != event_type.current_version() {
        return Err(format!("`{type_name}` has only version 1, not {version}"));
    }
    let describe = |error: serde_json::Error| format!("invalid `{type_name}` payload: {error}");
    Ok(match event_type {
        VolunteerEventType::VolunteerRecruited => {
            VolunteerEvent::Recruited(serde_json::from_value(data).map_err(describe)?)
        }
        VolunteerEventType::VolunteerTrained => {
            VolunteerEvent::Trained(serde_json::from_value(data).map_err(describe)?)
        }
        VolunteerEventType::MenteeAssigned => {
            VolunteerEvent::MenteeAssigned(serde_json::from_value(data).map_err(describe)?)
        }
        VolunteerEventType::VolunteerSupported => {
            VolunteerEvent::Supported(serde_json::from_value(data).map_err(describe)?)
        }
        VolunteerEventType::VolunteerAppreciated => {
            VolunteerEvent::Appreciated(serde_json::from_value(data).map_err(describe)?)
        }
        VolunteerEventType::VolunteerEnded => {
            VolunteerEvent::Ended(serde_json::from_value(data).map_err(describe)?)
        }
        VolunteerEventType::VolunteerErased => {
            VolunteerEvent::Erased(serde_json::from_value(data).map_err(describe)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volunteer_streams_are_recognised_and_others_are_not() {
        let volunteer = VolunteerId(Uuid::from_u128(7));
        assert_eq!(
            VolunteerId::from_stream_name(&volunteer.stream_name()),
            Some(volunteer)
        );
        assert_eq!(VolunteerId::from_stream_name("volunteer-anna"), None);
        assert_eq!(
            VolunteerId::from_stream_name("volunteer-00000000000000000000000000000007"),
            None,
            "only the hyphenated form names the stream"
        );
        assert_eq!(
            VolunteerId::from_stream_name("person-00000000-0000-0000-0000-000000000007"),
            None
        );
    }

    #[test]
    fn a_volunteer_event_round_trips_and_a_bad_payload_names_the_field() {
        let event = VolunteerEvent::Supported(VolunteerSupported {
            kind: SupportKind::Supervision,
        });
        let decoded =
            decode_volunteer_event(event.event_type().name(), 1, event.to_data()).expect("decodes");
        assert_eq!(decoded, event);
        let error =
            decode_volunteer_event("VolunteerRecruited", 1, serde_json::json!({"name": "Anna"}))
                .unwrap_err();
        assert!(error.contains("unknown field `name`"), "{error}");
    }
}
