//! The event catalogue (DOMAIN.md section 3): every event type as a Rust type, its wire name and its
//! version, the upcasters that bring stored older versions up to date on read, and JSON Schema.
//!
//! The wire form of an event is `(type, version, data)`. [`decode`] is the one way in: it looks the type
//! up, upcasts `data` step by step (`v1 → v2 → …`) to the current version, deserializes it (naming the
//! field on error) and checks what serde's types cannot express. [`Event::to_data`] is the way out and
//! always writes the current version. [`decode_current_json`] reads what this build wrote (the JSON text
//! of a current version, as a projections snapshot keeps it) straight into its type, with the same
//! checks.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod legacy;
mod payloads;
pub mod schema;
mod types;
mod validate;

pub use payloads::*;
pub use types::*;
pub use validate::Check;

use payloads::Validate;

/// Implemented by every payload: its event type and current version.
pub trait EventPayload: Serialize + DeserializeOwned {
    const TYPE: EventType;
}

macro_rules! catalogue {
    ($($variant:ident = $version:literal),+ $(,)?) => {
        /// The name of an event type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            /// Every event type, in catalogue order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub fn name(&self) -> &'static str {
                match self {
                    $(EventType::$variant => stringify!($variant),)+
                }
            }

            /// The version new events of this type are written with.
            pub fn current_version(&self) -> u32 {
                match self {
                    $(EventType::$variant => $version,)+
                }
            }

            pub fn from_name(name: &str) -> Option<EventType> {
                match name {
                    $(stringify!($variant) => Some(EventType::$variant),)+
                    _ => None,
                }
            }
        }

        /// An event of the catalogue, at its current version. `Hash`, so that the projections can
        /// keep each distinct event once.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Event {
            $($variant($variant),)+
        }

        $(
            impl EventPayload for $variant {
                const TYPE: EventType = EventType::$variant;
            }

            impl From<$variant> for Event {
                fn from(payload: $variant) -> Event {
                    Event::$variant(payload)
                }
            }
        )+

        impl Event {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Event::$variant(_) => EventType::$variant,)+
                }
            }

            /// The payload as JSON, at the current version.
            pub fn to_data(&self) -> Value {
                let result = match self {
                    $(Event::$variant(payload) => serde_json::to_value(payload),)+
                };
                // Serializing these plain structs cannot fail: they hold no maps with non-string keys.
                result.unwrap_or(Value::Null)
            }

            /// The bytes of [`Event::to_data`] serialized compactly (its keys sorted), written
            /// without building the `Value` (`crate::sorted_json::to_vec_sorted`).
            pub fn to_data_bytes(&self) -> Vec<u8> {
                let bytes = match self {
                    $(Event::$variant(payload) => crate::sorted_json::to_vec_sorted(payload),)+
                };
                bytes.unwrap_or_else(|| b"null".to_vec())
            }

            fn validate(&self) -> Result<(), Check> {
                match self {
                    $(Event::$variant(payload) => payload.validate(),)+
                }
            }

            fn deserialize(event_type: EventType, data: Value) -> Result<Event, Check> {
                match event_type {
                    $(EventType::$variant => deserialize_payload::<$variant>(data).map(Event::$variant),)+
                }
            }

            fn deserialize_json(event_type: EventType, data: &[u8]) -> Result<Event, Check> {
                match event_type {
                    $(EventType::$variant => deserialize_payload_json::<$variant>(data).map(Event::$variant),)+
                }
            }
        }
    };
}

catalogue!(
    PersonRegistered = 2,
    ArrivalRecorded = 1,
    AsylumApplicationFiled = 1,
    AsylumDecisionIssued = 1,
    ResidenceStatusChanged = 1,
    ResidenceObligationSet = 1,
    ResidenceObligationLifted = 1,
    AddressChanged = 1,
    MovedAway = 1,
    CourseEntitlementIssued = 1,
    CourseRegistered = 1,
    CourseStarted = 1,
    CourseCompleted = 1,
    CourseLeftEarly = 1,
    LanguageTestTaken = 1,
    OrientationTestTaken = 1,
    KitaPlaceRequested = 1,
    KitaStarted = 1,
    KitaEnded = 1,
    SchoolEnrolled = 1,
    MovedToRegularClass = 1,
    SchoolLeft = 1,
    BenefitsStarted = 1,
    BenefitsEnded = 1,
    CooperationPlanAgreed = 1,
    MeasureStarted = 1,
    MeasureEnded = 1,
    RecognitionApplied = 1,
    RecognitionDecided = 1,
    TrainingStarted = 1,
    TrainingEnded = 1,
    EmploymentStarted = 2,
    EmploymentEnded = 1,
    CounsellingContact = 1,
    ReferralMade = 1,
    MentorRequested = 1,
    MentorAssigned = 1,
    MentoringEnded = 1,
    ChecklistItemCompleted = 1,
    ConsentGiven = 1,
    ConsentWithdrawn = 1,
    EventCorrected = 1,
    EventRetracted = 1,
    PersonalDataErased = 1,
);

impl EventType {
    /// Governance events are about the record rather than the person's path: consents, corrections,
    /// retractions and erasure. They are accepted after `MovedAway`, cannot be corrected, and carry
    /// no business date of the journey.
    pub fn is_governance(&self) -> bool {
        matches!(
            self,
            EventType::ConsentGiven
                | EventType::ConsentWithdrawn
                | EventType::EventCorrected
                | EventType::EventRetracted
                | EventType::PersonalDataErased
        )
    }

    /// Events whose payload carries nothing about the person and is therefore stored unsealed, so that
    /// it stays readable after the person's key is destroyed.
    pub fn is_stored_plain(&self) -> bool {
        matches!(self, EventType::PersonalDataErased)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an event's wire form could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type `{0}`; the catalogue lists {known}", known = known_types())]
    UnknownType(String),
    #[error("event type `{event_type}` has no version {version}; versions 1 to {current} exist")]
    UnknownVersion {
        event_type: EventType,
        version: u32,
        current: u32,
    },
    #[error("invalid `{event_type}` payload: field `{field}`: {message}")]
    InvalidField {
        event_type: EventType,
        field: String,
        message: String,
    },
}

impl DecodeError {
    /// The field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

fn known_types() -> String {
    EventType::ALL
        .iter()
        .map(EventType::name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn deserialize_payload<T: DeserializeOwned>(data: Value) -> Result<T, Check> {
    serde_path_to_error::deserialize(data).map_err(field_check)
}

/// [`deserialize_payload`] of the payload's JSON text, read straight into its type. Tracking the
/// path to name the field costs an allocation per field read, so only a text that does not read
/// is read again with it (the same reader, so it fails again, at the same field).
fn deserialize_payload_json<T: DeserializeOwned>(data: &[u8]) -> Result<T, Check> {
    serde_json::from_slice(data).or_else(|error: serde_json::Error| {
        let mut json = serde_json::Deserializer::from_slice(data);
        let payload = serde_path_to_error::deserialize(&mut json).map_err(field_check)?;
        json.end().map_err(|_| Check::new("", error.to_string()))?;
        Ok(payload)
    })
}

/// The check of a payload that did not deserialize, naming the field (empty for the whole payload).
fn field_check<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> Check {
    let path = error.path().to_string();
    let field = if path == "." { String::new() } else { path };
    Check::new(field, error.into_inner().to_string())
}

/// Reads an event from its wire form, upcasting older versions to the current one.
pub fn decode(type_name: &str, version: u32, data: Value) -> Result<Event, DecodeError> {
    let event_type = EventType::from_name(type_name)
        .ok_or_else(|| DecodeError::UnknownType(type_name.to_owned()))?;
    let current = event_type.current_version();
    if version == 0 || version > current {
        return Err(DecodeError::UnknownVersion {
            event_type,
            version,
            current,
        });
    }
    let invalid = invalid_field(event_type);
    let mut data = data;
    for from in version..current {
        data = legacy::upcast(event_type, from, data).map_err(&invalid)?;
    }
    let event = Event::deserialize(event_type, data).map_err(&invalid)?;
    checked(event).map_err(invalid)
}

/// Reads an event of `event_type` from the JSON text of its payload at the current version,
/// straight into its type, with the checks of [`decode`]: the same event [`decode`] reads from
/// that text's value, without building the value first. For what this build wrote itself (a
/// projections snapshot keeps each event as [`Event::to_data`]'s text), so no upcasting.
pub fn decode_current_json(event_type: EventType, data: &[u8]) -> Result<Event, DecodeError> {
    let invalid = invalid_field(event_type);
    let event = Event::deserialize_json(event_type, data).map_err(&invalid)?;
    checked(event).map_err(invalid)
}

/// The error of a payload of `event_type` that fails `check`.
fn invalid_field(event_type: EventType) -> impl Fn(Check) -> DecodeError {
    move |check| DecodeError::InvalidField {
        event_type,
        field: check.field,
        message: check.message,
    }
}

/// `event` once it passes the checks serde's types cannot express.
fn checked(event: Event) -> Result<Event, Check> {
    event.validate()?;
    if let Event::EventCorrected(correction) = &event {
        check_replacement(&correction.replacement)?;
    }
    Ok(event)
}

/// Decodes the event a correction says should have been recorded instead.
pub fn decode_replacement(replacement: &Replacement) -> Result<Event, DecodeError> {
    let event_type = EventType::from_name(&replacement.event_type)
        .ok_or_else(|| DecodeError::UnknownType(replacement.event_type.clone()))?;
    decode(
        event_type.name(),
        event_type.current_version(),
        replacement.data.clone(),
    )
}

fn check_replacement(replacement: &Replacement) -> Result<(), Check> {
    let Some(event_type) = EventType::from_name(&replacement.event_type) else {
        return Err(Check::new(
            "replacement.type",
            format!(
                "unknown event type `{}`; the catalogue lists {}",
                replacement.event_type,
                known_types()
            ),
        ));
    };
    if event_type.is_governance() {
        return Err(Check::new(
            "replacement.type",
            format!("`{event_type}` is a governance event and cannot be a replacement"),
        ));
    }
    match decode_replacement(replacement) {
        Ok(_) => Ok(()),
        Err(DecodeError::InvalidField { field, message, .. }) => Err(Check::new(
            if field.is_empty() {
                "replacement.data".to_owned()
            } else {
                format!("replacement.data.{field}")
            },
            message,
        )),
        Err(other) => Err(Check::new("replacement", other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_type_round_trips_its_name() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::from_name(event_type.name()), Some(*event_type));
        }
        assert_eq!(EventType::ALL.len(), 44);
    }

    #[test]
    fn a_stored_employment_started_v1_reads_as_v2() {
        let stored_v1 = json!({"employment_id": "E-1", "kind": "social_insurance_full", "occupation_code": "26212"});
        let event = decode("EmploymentStarted", 1, stored_v1).expect("v1 decodes");
        assert_eq!(
            event,
            Event::EmploymentStarted(EmploymentStarted {
                employment_id: "E-1".into(),
                kind: EmploymentKind::SocialInsuranceFull,
                occupation_code: Some("26212".into()),
                weekly_hours: None,
            })
        );
        assert_eq!(EventType::EmploymentStarted.current_version(), 2);
    }

    #[test]
    fn a_v1_payload_with_a_v2_field_is_rejected() {
        let v1_with_hours = json!({"employment_id": "E-1", "kind": "marginal", "weekly_hours": 10});
        let error =
            decode("EmploymentStarted", 1, v1_with_hours).expect_err("v1 has no weekly_hours");
        assert!(error.to_string().contains("weekly_hours"), "{error}");
    }

    #[test]
    fn v2_round_trips() {
        let data = json!({"employment_id": "E-1", "kind": "marginal", "weekly_hours": 10});
        let event = decode("EmploymentStarted", 2, data.clone()).expect("v2 decodes");
        assert_eq!(event.to_data(), data);
    }

    #[test]
    fn a_stored_person_registered_v1_reads_as_v2_and_v2_takes_an_unknown_birth_year() {
        let stored_v1 =
            json!({"birth_year": 1990, "sex": "male", "nationality": "SYR", "languages": ["ar"]});
        let event = decode("PersonRegistered", 1, stored_v1.clone()).expect("v1 decodes");
        let Event::PersonRegistered(registered) = &event else {
            panic!("a registration: {event:?}");
        };
        assert_eq!(registered.birth_year, BirthYear::Known(1990));
        assert_eq!(
            event.to_data(),
            stored_v1,
            "a known year is written as before"
        );
        assert_eq!(EventType::PersonRegistered.current_version(), 2);

        let unknown = json!({"birth_year": "unknown", "sex": "male", "nationality": "SYR", "languages": ["ar"]});
        let event = decode("PersonRegistered", 2, unknown.clone()).expect("v2 takes unknown");
        let Event::PersonRegistered(registered) = &event else {
            panic!("a registration: {event:?}");
        };
        assert_eq!(registered.birth_year, BirthYear::Unknown);
        assert_eq!(event.to_data(), unknown);

        let error = decode("PersonRegistered", 1, unknown).expect_err("v1 knew only years");
        assert_eq!(error.field(), Some("birth_year"), "{error}");
    }

    #[test]
    fn a_birth_year_is_a_plausible_year_or_unknown() {
        let with = |birth_year: Value| json!({"birth_year": birth_year, "sex": "female", "nationality": "SYR", "languages": []});
        for wrong in [json!("1990"), json!("Unknown"), json!(null), json!(1990.5)] {
            let error = decode("PersonRegistered", 2, with(wrong.clone())).expect_err("not a year");
            assert_eq!(error.field(), Some("birth_year"), "{wrong}: {error}");
            assert!(
                error.to_string().contains("`unknown`"),
                "the message says what to give instead: {error}"
            );
        }
        let error = decode("PersonRegistered", 2, with(json!(1850))).expect_err("implausible");
        assert_eq!(error.field(), Some("birth_year"), "{error}");
        assert!(
            error.to_string().contains("between 1900 and 2100"),
            "{error}"
        );
    }

    #[test]
    fn unknown_type_and_version_are_named() {
        let error = decode("PersonTeleported", 1, json!({})).expect_err("unknown");
        assert!(matches!(error, DecodeError::UnknownType(ref name) if name == "PersonTeleported"));
        let error =
            decode("CourseStarted", 7, json!({"course_id": "c"})).expect_err("unknown version");
        assert!(matches!(
            error,
            DecodeError::UnknownVersion {
                version: 7,
                current: 1,
                ..
            }
        ));
    }

    #[test]
    fn invalid_fields_are_named_with_their_path() {
        let error = decode(
            "PersonRegistered",
            1,
            json!({"birth_year": 1990, "sex": "female", "nationality": "SYR", "languages": ["ar", "Kurdish"]}),
        )
        .expect_err("bad language");
        assert_eq!(error.field(), Some("languages[1]"));

        let error = decode(
            "PersonRegistered",
            1,
            json!({"birth_year": 1990, "sex": "alien", "nationality": "SYR", "languages": []}),
        )
        .expect_err("bad enum");
        assert_eq!(error.field(), Some("sex"));
        assert!(
            error.to_string().contains("unknown variant `alien`"),
            "{error}"
        );

        let error = decode("CourseStarted", 1, json!({"course_id": "c", "extra": 1}))
            .expect_err("unknown field");
        assert!(error.to_string().contains("extra"), "{error}");

        let error = decode("CourseStarted", 1, json!({})).expect_err("missing field");
        assert!(error.to_string().contains("course_id"), "{error}");
    }

    #[test]
    fn a_correction_must_carry_a_valid_replacement() {
        let target = uuid::Uuid::nil();
        let bad = json!({
            "target_event_id": target,
            "replacement": {"type": "CourseStarted", "occurred_on": "2024-01-02", "data": {"course": "x"}},
            "reason": "typo"
        });
        let error = decode("EventCorrected", 1, bad).expect_err("bad replacement data");
        assert!(
            error
                .field()
                .is_some_and(|field| field.starts_with("replacement.data")),
            "{error}"
        );

        let governance = json!({
            "target_event_id": target,
            "replacement": {"type": "EventRetracted", "occurred_on": "2024-01-02", "data": {}},
            "reason": "typo"
        });
        let error = decode("EventCorrected", 1, governance).expect_err("governance replacement");
        assert_eq!(error.field(), Some("replacement.type"));
    }
}
