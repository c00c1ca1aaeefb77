//! The one error type of the API and its mapping to GraphQL errors (`extensions.code`).
//!
//! Every error a client sees carries one of the codes of [`Code`]. Input problems also name the field
//! (as a path in the client's terms: `input.courseId`, `events[2].data.course_id`) and, in batches,
//! the event index. Internal errors are logged with a reference and returned with a generic message,
//! so no storage detail, path or key state ever reaches a client.

use std::fmt;

use async_graphql::ErrorExtensions;
use journey_core::catalogue::DecodeError;
use journey_core::ledger::LedgerError;
use journey_core::log::ExpectedRevision;
use serde_json::Value;

/// The stable error codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Validation,
    RuleViolation,
    Conflict,
    NotFound,
    Unauthenticated,
    Forbidden,
    LimitExceeded,
    /// A write sent to a read replica (`journey serve --replica-of`); `extensions.writer` names
    /// the node that takes it.
    ReadReplica,
    Internal,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::Validation,
        Code::RuleViolation,
        Code::Conflict,
        Code::NotFound,
        Code::Unauthenticated,
        Code::Forbidden,
        Code::LimitExceeded,
        Code::ReadReplica,
        Code::Internal,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Code::Validation => "VALIDATION",
            Code::RuleViolation => "RULE_VIOLATION",
            Code::Conflict => "CONFLICT",
            Code::NotFound => "NOT_FOUND",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::LimitExceeded => "LIMIT_EXCEEDED",
            Code::ReadReplica => "READ_REPLICA",
            Code::Internal => "INTERNAL",
        }
    }

    pub fn parse(code: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|known| known.as_str() == code)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error for a client: a code, a message that says what to fix, and extra `extensions`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub extensions: Vec<(&'static str, Value)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            extensions: Vec::new(),
        }
    }

    /// Adds an entry to `extensions`.
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.extensions.push((key, value.into()));
        self
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Code::Validation, message).with("field", field.into())
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            "this needs a bearer token: send `Authorization: Bearer <token>` (create one with `journey token create`)",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// A limit was hit; `limit` names it as in the server's configuration.
    pub fn limit(limit: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::LimitExceeded, message).with("limit", limit)
    }

    /// An internal failure: logged here with a reference, returned with a generic message.
    pub fn internal(error: &dyn fmt::Display) -> Self {
        let reference = uuid::Uuid::new_v4().simple().to_string();
        let reference = &reference[..12];
        tracing::error!(reference, %error, "internal error");
        Self::new(
            Code::Internal,
            format!("internal error; the server log has the details under reference {reference}"),
        )
        .with("reference", reference.to_owned())
    }

    /// The `extensions` object as the client sees it.
    pub fn extensions_json(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert("code".into(), Value::String(self.code.as_str().into()));
        for (key, value) in &self.extensions {
            map.insert((*key).to_owned(), value.clone());
        }
        map
    }
}

// `ApiError` deliberately does not implement `Display`: async-graphql converts every `Display` type
// into an error without extensions, and this conversion, which keeps the code, must be the one used.
impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message.clone()).extend_with(|_, extensions| {
            extensions.set("code", error.code.as_str());
            for (key, value) in &error.extensions {
                if let Ok(value) = async_graphql::Value::from_json(value.clone()) {
                    extensions.set(*key, value);
                }
            }
        })
    }
}

/// Where the fields of an append came from, so that error paths use the client's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldStyle {
    /// A typed mutation: `input.courseId`, `input.replacement.occurredOn`.
    TypedInput,
    /// `appendEvents`: `events[2].occurredOn`, `events[2].data.course_id` (data keeps its wire names).
    WireBatch,
}

/// Converts `snake_case` to `camelCase`, keeping an index suffix such as `[1]`.
fn camel(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Maps a field as the ledger names it (`occurred_on`, `id`, `data.course_id`, a rule's bare
/// `course_id` or `replacement.occurred_on`) to the client's path.
pub fn client_field(style: FieldStyle, index: usize, field: &str) -> String {
    let envelope = match field {
        "occurred_on" => Some("occurredOn"),
        "id" => Some("eventId"),
        "type" => Some("type"),
        "version" => Some("version"),
        "stream" => Some("personId"),
        "correlation_id" => Some("correlationId"),
        "causation_id" => Some("causationId"),
        _ => None,
    };
    let data_path = field.strip_prefix("data.").unwrap_or(field);
    let data_path = if data_path == "data" { "" } else { data_path };
    match style {
        FieldStyle::WireBatch => {
            let prefix = format!("events[{index}]");
            match envelope {
                Some(name) => format!("{prefix}.{name}"),
                None if data_path.is_empty() => format!("{prefix}.data"),
                None => format!("{prefix}.data.{data_path}"),
            }
        }
        FieldStyle::TypedInput => {
            if let Some(name) = envelope {
                return format!("input.{name}");
            }
            if data_path.is_empty() {
                return "input".to_owned();
            }
            // Segments are camelCased up to a `data` segment: below it lies JSON in wire form.
            let mut parts = Vec::new();
            let mut raw = false;
            for segment in data_path.split('.') {
                if raw {
                    parts.push(segment.to_owned());
                } else {
                    parts.push(camel(segment));
                    raw = segment == "data";
                }
            }
            format!("input.{}", parts.join("."))
        }
    }
}

/// The error for a payload that does not decode.
pub fn from_decode(style: FieldStyle, index: usize, error: &DecodeError) -> ApiError {
    let field = match error {
        DecodeError::UnknownType(_) => "type".to_owned(),
        DecodeError::UnknownVersion { .. } => "version".to_owned(),
        DecodeError::InvalidField { field, .. } if field.is_empty() => "data".to_owned(),
        DecodeError::InvalidField { field, .. } => format!("data.{field}"),
    };
    let mut api = ApiError::validation(client_field(style, index, &field), error.to_string());
    if style == FieldStyle::WireBatch {
        api = api.with("eventIndex", index as u64);
    }
    api
}

fn describe_expected(expected: ExpectedRevision) -> Value {
    match expected {
        ExpectedRevision::Any => Value::String("any".into()),
        ExpectedRevision::NoStream => Value::String("no_stream".into()),
        ExpectedRevision::StreamExists => Value::String("stream_exists".into()),
        ExpectedRevision::Exact(revision) => Value::from(revision),
    }
}

/// Maps a ledger error; `style` decides how field paths are spelled.
pub fn from_ledger(style: FieldStyle, error: LedgerError) -> ApiError {
    let batch = style == FieldStyle::WireBatch;
    match error {
        LedgerError::Invalid {
            index,
            event_id,
            field,
            message,
        } => {
            let mut api = ApiError::new(Code::Validation, message);
            if let Some(field) = field.filter(|field| !field.is_empty()) {
                api = api.with("field", client_field(style, index, &field));
            }
            if let Some(event_id) = event_id {
                api = api.with("eventId", event_id.to_string());
            }
            if batch {
                api = api.with("eventIndex", index as u64);
            }
            api
        }
        LedgerError::UnknownCode {
            index,
            event_id,
            unknown,
        } => {
            let mut api = ApiError::new(Code::Validation, unknown.to_string())
                .with(
                    "field",
                    client_field(style, index, &format!("data.{}", unknown.field)),
                )
                .with("register", unknown.register.as_str())
                .with(
                    "suggestions",
                    Value::Array(unknown.suggestions.into_iter().map(Value::from).collect()),
                );
            if let Some(event_id) = event_id {
                api = api.with("eventId", event_id.to_string());
            }
            if batch {
                api = api.with("eventIndex", index as u64);
            }
            api
        }
        other @ (LedgerError::Register { .. } | LedgerError::RegisterFile(_)) => {
            ApiError::new(Code::Validation, other.to_string())
        }
        LedgerError::Rule(violation) => {
            let mut api = ApiError::new(Code::RuleViolation, violation.message.clone())
                .with("rule", violation.rule.code())
                .with("eventId", violation.event_id.to_string())
                .with("eventType", violation.event_type.name());
            if let Some(field) = &violation.field {
                api = api.with("field", client_field(style, violation.index, field));
            }
            if batch {
                api = api.with("eventIndex", violation.index as u64);
            }
            api
        }
        LedgerError::Volunteer(violation) => {
            let mut api = ApiError::new(Code::RuleViolation, violation.message.clone())
                .with("rule", violation.rule.code())
                .with("eventId", violation.event_id.to_string())
                .with("eventType", violation.event_type.name());
            if let Some(field) = &violation.field {
                api = api.with("field", client_field(style, violation.index, field));
            }
            if batch {
                api = api.with("eventIndex", violation.index as u64);
            }
            api
        }
        LedgerError::Offer(violation) => {
            let mut api = ApiError::new(Code::RuleViolation, violation.message.clone())
                .with("rule", violation.rule.code())
                .with("eventId", violation.event_id.to_string())
                .with("eventType", violation.event_type.name());
            if let Some(field) = &violation.field {
                api = api.with("field", client_field(style, violation.index, field));
            }
            if batch {
                api = api.with("eventIndex", violation.index as u64);
            }
            api
        }
        LedgerError::Conflict {
            person,
            expected,
            actual,
        } => ApiError::new(
            Code::Conflict,
            format!(
                "{person} is at revision {}, not at the expected revision; read it again and decide on the current state",
                actual.map_or_else(|| "none (no events)".to_owned(), |revision| revision.to_string())
            ),
        )
        .with("currentRevision", actual.map_or(Value::Null, Value::from))
        .with("expectedRevision", describe_expected(expected)),
        LedgerError::IdConflict { index, id, message } => {
            let mut api = ApiError::new(Code::Conflict, message)
                .with("eventId", id.to_string())
                .with(
                    "field",
                    client_field(style, index, "id"),
                );
            if batch {
                api = api.with("eventIndex", index as u64);
            }
            api
        }
        LedgerError::NotFound(person) => {
            ApiError::not_found(format!("{person} is not in the ledger"))
        }
        LedgerError::Erased(person) => ApiError::not_found(format!(
            "the personal data of {person} was erased; nothing more can be recorded about it"
        )),
        LedgerError::VolunteerNotFound(volunteer) => ApiError::not_found(format!(
            "{volunteer} is not in the volunteer register; record VolunteerRecruited first"
        )),
        LedgerError::VolunteerErased(volunteer) => ApiError::not_found(format!(
            "the personal data of {volunteer} was erased; nothing more can be recorded about them"
        )),
        other @ (LedgerError::Corrupt { .. } | LedgerError::Key(_) | LedgerError::Log(_)) => {
            ApiError::internal(&other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing_about_their_cause() {
        let error = ApiError::internal(&"sled: I/O error at /srv/journey/data/ledger/snap.0001");
        assert_eq!(error.code, Code::Internal);
        assert!(!error.message.contains("sled"), "{}", error.message);
        assert!(!error.message.contains("/srv"), "{}", error.message);
        let reference = error.extensions_json()["reference"].clone();
        assert!(error.message.contains(reference.as_str().unwrap_or("-")));

        let graphql = async_graphql::Error::from(error);
        let extensions = graphql.extensions.expect("extensions");
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from("INTERNAL"))
        );
    }

    #[test]
    fn ledger_failures_of_storage_are_internal_and_conflicts_carry_the_revision() {
        use journey_core::envelope::PersonId;
        use journey_core::log::LogError;
        let error = from_ledger(
            FieldStyle::TypedInput,
            LedgerError::Log(LogError::Corrupt {
                position: journey_core::log::Position::from_raw(7),
                reason: "checksum of /data/ledger".into(),
            }),
        );
        assert_eq!(error.code, Code::Internal);
        assert!(!error.message.contains("checksum"));
        let person = PersonId(uuid::Uuid::nil());
        let error = from_ledger(
            FieldStyle::TypedInput,
            LedgerError::Conflict {
                person,
                expected: ExpectedRevision::Exact(3),
                actual: None,
            },
        );
        assert_eq!(error.code, Code::Conflict);
        assert_eq!(error.extensions_json()["currentRevision"], Value::Null);
        assert_eq!(error.extensions_json()["expectedRevision"], 3);
    }

    #[test]
    fn fields_are_spelled_in_the_clients_terms() {
        use FieldStyle::*;
        assert_eq!(
            client_field(TypedInput, 0, "data.course_id"),
            "input.courseId"
        );
        assert_eq!(client_field(TypedInput, 0, "course_id"), "input.courseId");
        assert_eq!(
            client_field(TypedInput, 0, "occurred_on"),
            "input.occurredOn"
        );
        assert_eq!(
            client_field(TypedInput, 0, "data.languages[1]"),
            "input.languages[1]"
        );
        assert_eq!(
            client_field(TypedInput, 0, "replacement.occurred_on"),
            "input.replacement.occurredOn"
        );
        assert_eq!(
            client_field(TypedInput, 0, "data.replacement.data.course_id"),
            "input.replacement.data.course_id"
        );
        assert_eq!(
            client_field(WireBatch, 2, "data.course_id"),
            "events[2].data.course_id"
        );
        assert_eq!(
            client_field(WireBatch, 2, "course_id"),
            "events[2].data.course_id"
        );
        assert_eq!(
            client_field(WireBatch, 1, "occurred_on"),
            "events[1].occurredOn"
        );
        assert_eq!(client_field(WireBatch, 1, "id"), "events[1].eventId");
    }
}
