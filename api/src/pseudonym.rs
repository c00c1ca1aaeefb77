//! Pseudonymised events for analysts.
//!
//! Stream ids, actor ids and the identifiers inside payloads that point at one person's records are
//! replaced by keyed HMAC-SHA-256 pseudonyms: stable (the same person always gets the same
//! pseudonym, so journeys can be followed), but not reversible without the key, which is derived
//! from the master key and never leaves the server. The vault is never read.
//!
//! `data` is passed through an allow-list per field ([`policy`]): what an indicator needs is kept
//! (dates, enumerations, birth year, nationality, district, course ids, which are shared by many
//! persons), per-person identifiers are pseudonymised (household, mentor, employment, training,
//! measure and consent ids), and free text is dropped (the reasons of corrections and retractions,
//! a consent's purpose). A field the list does not know is dropped, so a new payload field stays
//! hidden from analysts until someone decides otherwise.

use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use journey_core::catalogue::Agency;
use journey_core::envelope::{ActorRole, PersonId};
use journey_core::ledger::DecodedEvent;
use serde_json::{Map, Value};
use sha2::Sha256;
use uuid::Uuid;

/// What happens to one payload field in the analyst view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldPolicy {
    Keep,
    /// Replaced by a pseudonym of the given kind (the prefix of the pseudonym).
    Pseudonymise(&'static str),
    /// An event correction's replacement: filtered by its own type's policy.
    Replacement,
    Drop,
}

/// The policy of `field` in events of `event_type`.
pub fn policy(event_type: &str, field: &str) -> FieldPolicy {
    use FieldPolicy::*;
    match (event_type, field) {
        ("PersonRegistered", "birth_year" | "sex" | "nationality" | "languages") => Keep,
        ("PersonRegistered", "household_id") => Pseudonymise("h"),
        ("ArrivalRecorded", "entry_date" | "origin" | "accommodation" | "district") => Keep,
        ("AsylumDecisionIssued", "outcome") => Keep,
        ("ResidenceStatusChanged", "status" | "legal_basis" | "valid_until" | "work_permitted") => {
            Keep
        }
        ("ResidenceObligationSet", "until") => Keep,
        ("ResidenceObligationLifted", "reason") => Keep,
        ("AddressChanged", "district" | "accommodation") => Keep,
        ("MovedAway", "destination") => Keep,
        ("CourseEntitlementIssued", "kind" | "issuer") => Keep,
        ("CourseRegistered", "course_id" | "course_type" | "provider") => Keep,
        ("CourseStarted" | "CourseCompleted", "course_id") => Keep,
        ("CourseLeftEarly", "course_id" | "reason") => Keep,
        ("LanguageTestTaken", "exam" | "level" | "first_attempt") => Keep,
        ("OrientationTestTaken", "passed") => Keep,
        ("SchoolEnrolled", "school_type" | "language_class") => Keep,
        ("SchoolLeft", "certificate") => Keep,
        ("BenefitsStarted" | "BenefitsEnded", "kind") => Keep,
        ("CooperationPlanAgreed", "agency") => Keep,
        ("MeasureStarted", "measure_type") | ("MeasureEnded", "outcome") => Keep,
        ("MeasureStarted" | "MeasureEnded", "measure_id") => Pseudonymise("m"),
        ("RecognitionApplied", "occupation_code" | "regulated") => Keep,
        ("RecognitionDecided", "outcome") => Keep,
        ("TrainingStarted", "occupation_code") | ("TrainingEnded", "outcome") => Keep,
        ("TrainingStarted" | "TrainingEnded", "training_id") => Pseudonymise("t"),
        ("EmploymentStarted", "kind" | "occupation_code" | "weekly_hours") => Keep,
        ("EmploymentStarted" | "EmploymentEnded", "employment_id") => Pseudonymise("e"),
        // A base is an organisational code, like a course provider: analysts need it for reach.
        ("CounsellingContact", "agency" | "topic" | "base") => Keep,
        ("ReferralMade", "to_agency" | "topic") => Keep,
        ("MentorAssigned" | "MentoringEnded", "mentor_id") => Pseudonymise("v"),
        ("ChecklistItemCompleted", "item") => Keep,
        ("ConsentGiven", "recipients" | "form_version") => Keep,
        ("ConsentGiven" | "ConsentWithdrawn", "consent_id") => Pseudonymise("c"),
        ("EventCorrected" | "EventRetracted", "target_event_id") => Keep,
        ("EventCorrected", "replacement") => Replacement,
        ("PersonalDataErased", "reason") => Keep,
        _ => Drop,
    }
}

/// One event as analysts see it, wherever they get it (the GraphQL `events` feed, `journey export
/// --format parquet`): the envelope with the person and the actor replaced by pseudonyms, and the
/// payload filtered by [`policy`].
#[derive(Debug, Clone, PartialEq)]
pub struct AnalystView {
    pub position: u64,
    /// `p-…` for a person's stream, `s-…` for any other stream.
    pub person: String,
    pub revision: u64,
    pub event_id: Uuid,
    pub event_type: String,
    pub version: u32,
    pub occurred_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub actor_pseudonym: String,
    pub actor_agency: Option<Agency>,
    pub actor_role: ActorRole,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// Null once the person was erased.
    pub data: Option<Value>,
}

/// Makes pseudonyms with one secret key.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(..)")
    }
}

/// The hex digits kept of each HMAC: 128 bits, far beyond any collision in a city's population.
const PSEUDONYM_HEX_LEN: usize = 32;

impl Pseudonymizer {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// `kind-<hex>`: the HMAC of `kind` and `value` under the key.
    pub fn pseudonym(&self, kind: &str, value: &str) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = hex::encode(mac.finalize().into_bytes());
        format!("{kind}-{}", &digest[..PSEUDONYM_HEX_LEN])
    }

    pub fn person(&self, person: &PersonId) -> String {
        self.pseudonym("p", &person.0.to_string())
    }

    pub fn actor(&self, actor_id: &str) -> String {
        self.pseudonym("a", actor_id)
    }

    /// The analyst view of a payload of `event_type`.
    pub fn data(&self, event_type: &str, data: &Value) -> Value {
        let Value::Object(fields) = data else {
            return Value::Null;
        };
        let mut out = Map::new();
        for (field, value) in fields {
            match policy(event_type, field) {
                FieldPolicy::Keep => {
                    out.insert(field.clone(), value.clone());
                }
                FieldPolicy::Pseudonymise(kind) => {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    out.insert(field.clone(), Value::String(self.pseudonym(kind, &text)));
                }
                FieldPolicy::Replacement => {
                    out.insert(field.clone(), self.replacement(value));
                }
                FieldPolicy::Drop => {}
            }
        }
        Value::Object(out)
    }

    fn replacement(&self, replacement: &Value) -> Value {
        let event_type = replacement
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut out = Map::new();
        out.insert("type".into(), Value::String(event_type.to_owned()));
        if let Some(occurred_on) = replacement.get("occurred_on") {
            out.insert("occurred_on".into(), occurred_on.clone());
        }
        if let Some(data) = replacement.get("data") {
            out.insert("data".into(), self.data(event_type, data));
        }
        Value::Object(out)
    }

    /// The analyst view of a decoded event.
    pub fn view(&self, decoded: &DecodedEvent) -> AnalystView {
        let envelope = &decoded.recorded.event;
        let person = match PersonId::from_stream_name(&decoded.recorded.stream) {
            Ok(person) => self.person(&person),
            Err(_) => self.pseudonym("s", &decoded.recorded.stream),
        };
        AnalystView {
            position: decoded.recorded.position.raw(),
            person,
            revision: decoded.recorded.revision,
            event_id: envelope.id,
            event_type: envelope.event_type.clone(),
            version: envelope.version,
            occurred_on: envelope.occurred_on,
            recorded_at: envelope.recorded_at,
            actor_pseudonym: self.actor(&decoded.actor.id),
            actor_agency: decoded.actor.agency,
            actor_role: decoded.actor.role,
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            data: self.event_data(decoded),
        }
    }

    /// The pseudonymised payload of a stored event (`None` when the person was erased).
    pub fn event_data(&self, decoded: &DecodedEvent) -> Option<Value> {
        decoded
            .data
            .as_ref()
            .map(|data| self.data(&decoded.recorded.event.event_type, data))
    }
}

/// Whether the events of `stream` belong to the analysts' feed (GraphQL `events` and the Parquet
/// export, which must hold the same rows). The volunteer register does not: who may read it is
/// `visibility::may_manage_volunteers`, and analysts have the volunteer indicators instead.
pub fn in_analysts_feed(stream: &str) -> bool {
    journey_core::volunteers::VolunteerId::from_stream_name(stream).is_none()
}

#[cfg(test)]
mod tests {
    use journey_core::catalogue::EventType;
    use serde_json::json;

    use super::*;

    #[test]
    fn personal_and_free_text_fields_do_not_pass() {
        let pseudonyms = Pseudonymizer::new([7; 32]);
        let data = json!({
            "target_event_id": "0193c5a0-0000-7000-8000-000000000001",
            "reason": "Frau Haddad called, wrong date",
            "replacement": {"type": "MentorAssigned", "occurred_on": "2024-01-02", "data": {"mentor_id": "vol-12"}}
        });
        let out = pseudonyms.data("EventCorrected", &data);
        let text = out.to_string();
        assert!(!text.contains("Haddad"), "{text}");
        assert!(!text.contains("vol-12"), "{text}");
        assert_eq!(
            out["replacement"]["data"]["mentor_id"],
            json!(pseudonyms.pseudonym("v", "vol-12"))
        );
        assert_eq!(
            pseudonyms.data(
                "CourseStarted",
                &json!({"course_id": "IK-1", "new_field": "x"})
            ),
            json!({"course_id": "IK-1"})
        );
    }

    #[test]
    fn every_event_type_has_a_deliberate_policy_for_its_schema_fields() {
        // Every field of every current payload schema is either kept, pseudonymised or dropped on
        // purpose: the only fields dropped are the free-text ones named here.
        let dropped_on_purpose = [
            ("EventCorrected", "reason"),
            ("EventRetracted", "reason"),
            ("ConsentGiven", "purpose"),
        ];
        for file in journey_core::catalogue::schema::all() {
            let Some(event_type) = EventType::ALL.iter().find(|event_type| {
                file.file_name
                    == format!(
                        "{}.v{}.schema.json",
                        event_type.name(),
                        event_type.current_version()
                    )
            }) else {
                continue;
            };
            let schema = serde_json::to_value(&file.schema).expect("schema json");
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for field in properties.keys() {
                let dropped = policy(event_type.name(), field) == FieldPolicy::Drop;
                assert_eq!(
                    dropped,
                    dropped_on_purpose.contains(&(event_type.name(), field.as_str())),
                    "{}.{field}",
                    event_type.name()
                );
            }
        }
    }

    #[test]
    fn pseudonyms_are_stable_and_keyed() {
        let one = Pseudonymizer::new([1; 32]);
        let two = Pseudonymizer::new([2; 32]);
        assert_eq!(one.actor("cw-17"), one.actor("cw-17"));
        assert_ne!(one.actor("cw-17"), two.actor("cw-17"));
        assert!(one.actor("cw-17").starts_with("a-"));
    }
}
