//! The offers' event types and the streams they live in.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::month::Month;

/// The prefix of every offer stream: `offer-<uuid>`.
pub const OFFER_STREAM_PREFIX: &str = "offer-";

/// The identity of an offer: the stream `offer-<uuid>` holds its events.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct OfferId(pub Uuid);

impl OfferId {
    pub fn stream_name(&self) -> String {
        format!("{OFFER_STREAM_PREFIX}{}", self.0)
    }

    /// The offer a stream holds; `None` for every other stream.
    pub fn from_stream_name(stream: &str) -> Option<OfferId> {
        stream
            .strip_prefix(OFFER_STREAM_PREFIX)
            .and_then(|rest| Uuid::parse_str(rest).ok())
            .map(OfferId)
    }
}

impl fmt::Display for OfferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{OFFER_STREAM_PREFIX}{}", self.0)
    }
}

impl FromStr for OfferId {
    type Err = String;

    /// Accepts both `offer-<uuid>` and a bare `<uuid>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OfferId::from_stream_name(text)
            .or_else(|| Uuid::parse_str(text).ok().map(OfferId))
            .ok_or_else(|| format!("`{text}` is not an offer: expected `offer-<uuid>`"))
    }
}

/// What an offer makes available. Each kind names where it is offered: course places by their
/// provider, Kita places and counselling hours in a district.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    /// Places in integration courses starting in the month, at a provider (quantity: places).
    CoursePlaces,
    /// Kita places free to be taken up in a district in the month (quantity: places).
    KitaPlaces,
    /// Counselling hours offered in a district in the month (quantity: hours).
    CounsellingHours,
}

impl OfferKind {
    pub const ALL: [OfferKind; 3] = [
        OfferKind::CoursePlaces,
        OfferKind::KitaPlaces,
        OfferKind::CounsellingHours,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OfferKind::CoursePlaces => "course_places",
            OfferKind::KitaPlaces => "kita_places",
            OfferKind::CounsellingHours => "counselling_hours",
        }
    }
}

/// An offer of capacity for one month: the first event of an offer's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityOffered {
    pub kind: OfferKind,
    /// The month the capacity is for.
    pub month: Month,
    /// The district it is offered in (required for Kita places and counselling hours; for course
    /// places, where the provider teaches, when known). A code of the districts register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// The provider offering it (required for course places, absent for Kita places). A code of
    /// the providers register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Places, or hours for counselling: at least 1.
    pub quantity: u32,
}

/// The offer's quantity from the event's date on (a course that takes more, a Kita group that
/// closes): replaces the quantity, it does not add to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityChanged {
    pub quantity: u32,
}

/// Why an offer was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalReason {
    /// The course or group does not take place.
    Cancelled,
    /// The offer was recorded by mistake; it never existed.
    RecordedInError,
    Other,
}

/// The offer no longer exists. A withdrawal `recorded_in_error` takes the offer out of every
/// month and every cut that knows of it; any other reason from the event's date on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityWithdrawn {
    pub reason: WithdrawalReason,
}

/// The name of an offer event type. All are at version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferEventType {
    CapacityOffered,
    CapacityChanged,
    CapacityWithdrawn,
}

impl OfferEventType {
    pub const ALL: [OfferEventType; 3] = [
        OfferEventType::CapacityOffered,
        OfferEventType::CapacityChanged,
        OfferEventType::CapacityWithdrawn,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            OfferEventType::CapacityOffered => "CapacityOffered",
            OfferEventType::CapacityChanged => "CapacityChanged",
            OfferEventType::CapacityWithdrawn => "CapacityWithdrawn",
        }
    }

    pub fn current_version(&self) -> u32 {
        1
    }

    pub fn from_name(name: &str) -> Option<OfferEventType> {
        OfferEventType::ALL
            .into_iter()
            .find(|event_type| event_type.name() == name)
    }

    /// The JSON Schema of the payload (`schemas/offers/<Type>.v1.schema.json`).
    pub fn schema(&self) -> Value {
        let schema = match self {
            OfferEventType::CapacityOffered => schemars::schema_for!(CapacityOffered),
            OfferEventType::CapacityChanged => schemars::schema_for!(CapacityChanged),
            OfferEventType::CapacityWithdrawn => schemars::schema_for!(CapacityWithdrawn),
        };
        serde_json::to_value(schema).unwrap_or(Value::Null)
    }
}

/// Each offer event type's schema, with its file name under `schemas/offers/`.
pub fn event_schemas() -> Vec<(String, Value)> {
    OfferEventType::ALL
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

/// An event of an offer stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferEvent {
    Offered(CapacityOffered),
    Changed(CapacityChanged),
    Withdrawn(CapacityWithdrawn),
}

impl OfferEvent {
    pub fn event_type(&self) -> OfferEventType {
        match self {
            OfferEvent::Offered(_) => OfferEventType::CapacityOffered,
            OfferEvent::Changed(_) => OfferEventType::CapacityChanged,
            OfferEvent::Withdrawn(_) => OfferEventType::CapacityWithdrawn,
        }
    }

    pub fn to_data(&self) -> Value {
        let result = match self {
            OfferEvent::Offered(payload) => serde_json::to_value(payload),
            OfferEvent::Changed(payload) => serde_json::to_value(payload),
            OfferEvent::Withdrawn(payload) => serde_json::to_value(payload),
        };
        // Plain structs of strings and numbers: serializing them cannot fail.
        result.unwrap_or(Value::Null)
    }
}

/// Reads an offer event from its type, version and payload; the error names what is wrong.
pub fn decode_offer_event(
    type_name: &str,
    version: u32,
    data: Value,
) -> Result<OfferEvent, String> {
    let event_type = OfferEventType::from_name(type_name).ok_or_else(|| {
        format!(
            "`{type_name}` is not an offer event type; they are {}",
            OfferEventType::ALL.map(|t| t.name()).join(", ")
        )
    })?;
    if version != event_type.current_version() {
        return Err(format!("`{type_name}` has only version 1, not {version}"));
    }
    let describe = |error: serde_json::Error| format!("invalid `{type_name}` payload: {error}");
    Ok(match event_type {
        OfferEventType::CapacityOffered => {
            OfferEvent::Offered(serde_json::from_value(data).map_err(describe)?)
        }
        OfferEventType::CapacityChanged => {
            OfferEvent::Changed(serde_json::from_value(data).map_err(describe)?)
        }
        OfferEventType::CapacityWithdrawn => {
            OfferEvent::Withdrawn(serde_json::from_value(data).map_err(describe)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_streams_are_recognised_and_others_are_not() {
        let offer = OfferId(Uuid::from_u128(7));
        assert_eq!(OfferId::from_stream_name(&offer.stream_name()), Some(offer));
        assert_eq!(
            OfferId::from_stream_name("person-5f0c1b8e-2d7a-4d47-9a43-7c9e6f0b1a11"),
            None
        );
        assert_eq!(OfferId::from_stream_name("offer-kita"), None);
    }

    #[test]
    fn an_offer_event_round_trips_and_a_bad_payload_names_the_field() {
        let event = OfferEvent::Offered(CapacityOffered {
            kind: OfferKind::KitaPlaces,
            month: "2025-09".parse().expect("month"),
            district: Some("Lebenstedt".into()),
            provider: None,
            quantity: 12,
        });
        let decoded =
            decode_offer_event(event.event_type().name(), 1, event.to_data()).expect("decodes");
        assert_eq!(decoded, event);
        let error = decode_offer_event(
            "CapacityOffered",
            1,
            serde_json::json!({"kind": "kita_places", "month": "2025-9", "quantity": 1}),
        )
        .unwrap_err();
        assert!(error.contains("YYYY-MM"), "{error}");
    }
}
