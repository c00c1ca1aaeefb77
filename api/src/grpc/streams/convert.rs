//! What a caller sees of a stored event: the one place that turns the log's events into the
//! protocol's `RecordedEvent`, per role, with the same visibility GraphQL applies.
//!
//! - Person events are catalogue events: `type`, `data` = the payload JSON as stored, the custom
//!   metadata = the envelope's other fields. An erased person's events carry no data.
//! - Admins see every event; caseworkers the persons their agency may see (`visibility::access`),
//!   coordinators only mentoring events; analysts every person event pseudonymised as in the
//!   analyst export (stream `p-…`, payload through `Pseudonymizer::data`, no hashes, which would
//!   let a guessed person id be confirmed); auditors and the replication role no person event.
//! - The replica role (a read replica following this node, `journey serve --replica-of`) sees every
//!   person, register, offer and volunteer event as an admin does, payloads opened, so that it can
//!   build the same projections; never a plain stream (nor, as for every role here, the vault).
//! - Plain streams (and their `$$` metadata streams) are for admins and the replication role only.
//! - Register events (code lists every signed-in role may read) for every role but replication.

use std::collections::HashMap;

use journey_core::envelope::{Actor, PersonId};
use journey_core::ledger::DecodedEvent;
use journey_core::log::RecordedEvent as LogEvent;
use journey_core::plain::{self, StreamKind};
use serde_json::Value;
use tonic::Status;

use crate::auth::{Principal, Role};
use crate::grpc::proto::event_store::client::{streams, StreamIdentifier, Uuid as ProtoUuid};
use crate::state::AppState;
use crate::visibility::{self, Access, PersonFacts};

use super::status;

pub type ProtoEvent = streams::read_resp::read_event::RecordedEvent;

/// 100 ns ticks since the Unix epoch, the unit of KurrentDB's `created`.
fn ticks(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp_micros().saturating_mul(10)
}

/// A uuid as the clients ask for it: the string form (the structured form when asked).
pub fn proto_uuid(id: uuid::Uuid, structured: bool) -> ProtoUuid {
    use crate::grpc::proto::event_store::client::uuid::{Structured, Value as UuidValue};
    if structured {
        let (most, least) = id.as_u64_pair();
        ProtoUuid {
            value: Some(UuidValue::Structured(Structured {
                most_significant_bits: most as i64,
                least_significant_bits: least as i64,
            })),
        }
    } else {
        ProtoUuid {
            value: Some(UuidValue::String(
                id.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer())
                    .to_owned(),
            )),
        }
    }
}

/// A uuid a client sent, in either form.
pub fn from_proto_uuid(id: Option<&ProtoUuid>) -> Result<uuid::Uuid, Status> {
    use crate::grpc::proto::event_store::client::uuid::Value as UuidValue;
    match id.and_then(|id| id.value.as_ref()) {
        Some(UuidValue::String(text)) => uuid::Uuid::parse_str(text)
            .map_err(|_| Status::invalid_argument(format!("event id `{text}` is not a uuid"))),
        Some(UuidValue::Structured(parts)) => Ok(uuid::Uuid::from_u64_pair(
            parts.most_significant_bits as u64,
            parts.least_significant_bits as u64,
        )),
        None => Err(Status::invalid_argument(
            "every proposed event needs an id (a uuid)",
        )),
    }
}

/// The events one call may see, with the visibility facts it has folded so far.
#[derive(Debug)]
pub struct Viewer {
    sight: Sight,
    /// Per person: the access decided and the stream revision it was decided at.
    access: HashMap<PersonId, (u64, Access)>,
}

/// The part of a view that reads nothing: it turns an event whose access is decided into the
/// message the caller sees. Cheap to clone (the state is one `Arc`), so that a page of events can
/// be turned into messages on a thread of its own while the call's task sends the page before.
#[derive(Debug, Clone)]
pub struct Sight {
    state: AppState,
    principal: Principal,
    structured_ids: bool,
}

/// An event with what [`Viewer::decide`] found out about it: the access to its person where the
/// role's access depends on the person's timeline (caseworkers and coordinators).
#[derive(Debug)]
pub struct Decided {
    recorded: LogEvent,
    person_access: Option<Access>,
}

impl Viewer {
    pub fn new(state: AppState, principal: Principal, structured_ids: bool) -> Self {
        Self {
            sight: Sight {
                state,
                principal,
                structured_ids,
            },
            access: HashMap::new(),
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.sight.principal
    }

    /// What turns decided events into messages, for a thread of its own.
    pub fn sight(&self) -> Sight {
        self.sight.clone()
    }

    /// Refuses a read of `stream` the role may not make at all (before anything is read, so the
    /// refusal says nothing about the stream's content).
    pub async fn may_read_stream(&mut self, stream: &str) -> Result<(), Status> {
        let role = self.sight.principal.role;
        match plain::classify(stream)
            .map_err(|error| Status::invalid_argument(error.to_string()))?
        {
            StreamKind::Plain | StreamKind::Metadata => match role {
                Role::Admin | Role::Replication => Ok(()),
                _ => Err(status::access_denied(format!(
                    "plain streams are for the admin and replication roles, not {role}"
                ))),
            },
            StreamKind::Register(_) | StreamKind::Offer(_) => match role {
                Role::Replication => Err(status::access_denied(
                    "the replication role reads plain streams only",
                )),
                _ => Ok(()),
            },
            StreamKind::Volunteer(_) if role == Role::Replica => Ok(()),
            StreamKind::Volunteer(_) => {
                visibility::may_manage_volunteers(role).map_err(status::access_denied)
            }
            StreamKind::System => Err(status::access_denied(format!(
                "`{stream}` is a system stream; journey has `$all` and no other"
            ))),
            StreamKind::Person(person) => match role {
                Role::Admin | Role::Replica => Ok(()),
                Role::Caseworker | Role::Coordinator => {
                    match self.access_to(person, u64::MAX).await? {
                        Access::Denied(message) => Err(status::access_denied(message)),
                        _ => Ok(()),
                    }
                }
                Role::Analyst => Err(status::access_denied(
                    "analysts see no person-level data; read `$all` for the pseudonymised events",
                )),
                Role::Auditor | Role::Replication => {
                    match visibility::access(&self.sight.principal, &PersonFacts::default()) {
                        Access::Denied(message) => Err(status::access_denied(message)),
                        _ => Ok(()),
                    }
                }
            },
        }
    }

    /// Refuses a read of `$all` by a role that sees nothing there.
    pub fn may_read_all(&self) -> Result<(), Status> {
        match self.sight.principal.role {
            Role::Auditor => Err(status::access_denied(
                "auditors see the audit log, not the events",
            )),
            _ => Ok(()),
        }
    }

    /// The access to `person`, folded again when the stream moved past what it was decided on.
    async fn access_to(&mut self, person: PersonId, revision: u64) -> Result<Access, Status> {
        if let Some((decided, access)) = self.access.get(&person) {
            if *decided >= revision {
                return Ok(access.clone());
            }
        }
        let timeline = self
            .sight
            .state
            .timeline(person)
            .await
            .map_err(|error| Status::internal(error.message))?;
        let decided = timeline.last().map_or(0, |event| event.recorded.revision);
        let access = visibility::access(
            &self.sight.principal,
            &PersonFacts::from_timeline(&timeline),
        );
        if self.access.len() > 10_000 {
            self.access.clear();
        }
        self.access.insert(person, (decided, access.clone()));
        Ok(access)
    }

    /// What the caller sees of `recorded`: `None` when it may not see it.
    pub async fn view(&mut self, recorded: LogEvent) -> Result<Option<Viewed>, Status> {
        let decided = self.decide(recorded).await?;
        self.sight.view(decided)
    }

    /// Finds out what the view of `recorded` needs to read first: the access to its person, for
    /// the roles whose access depends on the person's timeline.
    pub async fn decide(&mut self, recorded: LogEvent) -> Result<Decided, Status> {
        let depends_on_person = matches!(
            self.sight.principal.role,
            Role::Caseworker | Role::Coordinator
        );
        if !depends_on_person {
            return Ok(Decided {
                recorded,
                person_access: None,
            });
        }
        let person_access = match plain::classify(&recorded.stream) {
            Ok(StreamKind::Person(person)) => {
                Some(self.access_to(person, recorded.revision).await?)
            }
            _ => None,
        };
        Ok(Decided {
            recorded,
            person_access,
        })
    }
}

impl Sight {
    /// What the caller sees of a decided event: `None` when it may not see it.
    pub fn view(&self, decided: Decided) -> Result<Option<Viewed>, Status> {
        let Decided {
            mut recorded,
            person_access,
        } = decided;
        let role = self.principal.role;
        let kind = match plain::classify(&recorded.stream) {
            Ok(kind) => kind,
            Err(_) => return Ok(None),
        };
        match kind {
            StreamKind::Plain | StreamKind::Metadata => {
                if !matches!(role, Role::Admin | Role::Replication) {
                    return Ok(None);
                }
                let content = plain::unframe(&recorded.event.payload).ok_or_else(|| {
                    Status::data_loss(format!(
                        "the plain event at position {} cannot be read",
                        recorded.position
                    ))
                })?;
                let stream = std::mem::take(&mut recorded.stream);
                Ok(Some(self.proto(
                    &recorded,
                    stream,
                    content.json,
                    content.data,
                    content.metadata,
                )))
            }
            StreamKind::System => Ok(None),
            StreamKind::Register(_) | StreamKind::Offer(_) | StreamKind::Volunteer(_) => {
                if role == Role::Replication {
                    return Ok(None);
                }
                if matches!(kind, StreamKind::Volunteer(_))
                    && role != Role::Replica
                    && visibility::may_manage_volunteers(role).is_err()
                {
                    // In `$all` too: the register is the coordinators' and admins'.
                    return Ok(None);
                }
                let decoded = self.decode(recorded)?;
                let metadata = envelope_metadata(
                    &decoded.recorded,
                    &decoded.actor,
                    decoded.data.is_none(),
                    None,
                );
                let data = decoded.data.clone().unwrap_or(Value::Null);
                let stream = decoded.recorded.stream.clone();
                Ok(Some(self.json_proto(
                    &decoded.recorded,
                    stream,
                    &data,
                    metadata,
                )))
            }
            StreamKind::Person(person) => {
                let access = match role {
                    Role::Admin | Role::Replica => Access::Full,
                    // `decide` found it out for these roles; an event that did not pass
                    // through it is shown to nobody.
                    Role::Caseworker | Role::Coordinator => person_access.unwrap_or_else(|| {
                        Access::Denied("the access to this person was not decided".into())
                    }),
                    Role::Analyst => return self.analyst_view(person, recorded).map(Some),
                    Role::Auditor | Role::Replication => return Ok(None),
                };
                match access {
                    Access::Denied(_) => Ok(None),
                    Access::MentoringOnly
                        if !visibility::is_mentoring(&recorded.event.event_type) =>
                    {
                        Ok(None)
                    }
                    Access::Full | Access::MentoringOnly => {
                        // The payload passes as recorded: opened, not parsed and written again.
                        let payload = self
                            .state
                            .ledger
                            .open_payload(&recorded)
                            .map_err(|error| Status::internal(error.to_string()))?;
                        let actor = Actor::from_log(&recorded.event.actor).map_err(|error| {
                            Status::data_loss(format!(
                                "the event at position {}: {error}",
                                recorded.position
                            ))
                        })?;
                        let metadata =
                            envelope_metadata(&recorded, &actor, payload.is_none(), None);
                        let stream = std::mem::take(&mut recorded.stream);
                        Ok(Some(match payload {
                            Some(data) => self.proto(&recorded, stream, true, data, metadata),
                            None => self.proto(&recorded, stream, false, Vec::new(), metadata),
                        }))
                    }
                }
            }
        }
    }

    fn analyst_view(&self, person: PersonId, recorded: LogEvent) -> Result<Viewed, Status> {
        let decoded = self.decode(recorded)?;
        let pseudonyms = &self.state.pseudonyms;
        let data = pseudonyms.event_data(&decoded);
        let metadata = envelope_metadata(
            &decoded.recorded,
            &decoded.actor,
            data.is_none(),
            Some(pseudonyms),
        );
        Ok(self.person_proto(
            &decoded,
            pseudonyms.person(&person),
            data.as_ref(),
            metadata,
        ))
    }

    fn decode(&self, recorded: LogEvent) -> Result<DecodedEvent, Status> {
        self.state
            .ledger
            .decode(recorded)
            .map_err(|error| Status::internal(error.to_string()))
    }

    /// A person event: JSON data, or no data at all once the person was erased.
    fn person_proto(
        &self,
        decoded: &DecodedEvent,
        stream: String,
        data: Option<&Value>,
        metadata: Vec<u8>,
    ) -> Viewed {
        match data {
            Some(data) => self.json_proto(&decoded.recorded, stream, data, metadata),
            None => self.proto(&decoded.recorded, stream, false, Vec::new(), metadata),
        }
    }

    fn json_proto(
        &self,
        recorded: &LogEvent,
        stream: String,
        data: &Value,
        metadata: Vec<u8>,
    ) -> Viewed {
        self.proto(
            recorded,
            stream,
            true,
            serde_json::to_vec(data).unwrap_or_default(),
            metadata,
        )
    }

    fn proto(
        &self,
        recorded: &LogEvent,
        stream: String,
        json: bool,
        data: Vec<u8>,
        custom_metadata: Vec<u8>,
    ) -> Viewed {
        Viewed {
            id: recorded.event.id,
            structured_id: self.structured_ids,
            stream,
            revision: recorded.revision,
            position: recorded.position.raw(),
            event_type: recorded.event.event_type.clone(),
            json,
            created: ticks(recorded.event.recorded_at),
            custom_metadata,
            data,
        }
    }
}

/// What a caller sees of one event: the fields of the protocol's `RecordedEvent`. A read writes
/// them to the wire straight (`wire::EncodedReadResp::event`); [`Viewed::proto`] is the message
/// they stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewed {
    pub id: uuid::Uuid,
    /// Whether the client asked for ids in the structured form instead of strings.
    pub structured_id: bool,
    pub stream: String,
    pub revision: u64,
    /// The commit and the prepare position, which are the same here.
    pub position: u64,
    pub event_type: String,
    /// Whether `data` is JSON (else bytes).
    pub json: bool,
    /// `created`: 100 ns ticks since the Unix epoch.
    pub created: i64,
    pub custom_metadata: Vec<u8>,
    pub data: Vec<u8>,
}

impl Viewed {
    /// The `content-type` of the system metadata.
    pub fn content_type(&self) -> &'static str {
        if self.json {
            "application/json"
        } else {
            "application/octet-stream"
        }
    }

    /// The protocol's message of the event.
    pub fn proto(&self) -> ProtoEvent {
        ProtoEvent {
            id: Some(proto_uuid(self.id, self.structured_id)),
            stream_identifier: Some(StreamIdentifier {
                stream_name: self.stream.clone().into_bytes(),
            }),
            stream_revision: self.revision,
            prepare_position: self.position,
            commit_position: self.position,
            metadata: [
                ("type".to_owned(), self.event_type.clone()),
                ("content-type".to_owned(), self.content_type().to_owned()),
                ("created".to_owned(), self.created.to_string()),
            ]
            .into_iter()
            .collect(),
            custom_metadata: self.custom_metadata.clone(),
            data: self.data.clone(),
        }
    }
}

/// The envelope's fields besides type and payload, as the custom metadata of a ledger event (JSON
/// bytes). With pseudonyms (the analyst view) the actor is pseudonymised and the hashes are left
/// out.
///
/// Written straight from the event, without building a `serde_json::Value` first: the fields come
/// in the order a JSON object of them always had (sorted by name, as `serde_json`'s map sorts
/// them), so the bytes are the same as before (`tests::metadata_is_byte_for_byte_the_value_path`).
fn envelope_metadata(
    recorded: &LogEvent,
    actor: &Actor,
    erased: bool,
    pseudonyms: Option<&crate::pseudonym::Pseudonymizer>,
) -> Vec<u8> {
    let event = &recorded.event;
    let (actor, prev_hash, hash) = match pseudonyms {
        Some(pseudonyms) => (
            MetadataActor::Pseudonymised {
                agency: actor.agency.as_ref(),
                pseudonym: pseudonyms.actor(&actor.id),
                role: &actor.role,
            },
            None,
            None,
        ),
        None => (
            MetadataActor::Recorded {
                agency: actor.agency.as_ref(),
                id: &actor.id,
                role: &actor.role,
            },
            Some(Hex(&event.prev_hash)),
            Some(Hex(&event.hash)),
        ),
    };
    let metadata = EnvelopeMetadata {
        actor,
        causation_id: event.causation_id,
        correlation_id: event.correlation_id,
        erased: erased.then_some(true),
        hash,
        occurred_on: event.occurred_on,
        prev_hash,
        recorded_at: event.recorded_at,
        version: event.version,
    };
    // Room for the usual size of the object, so the writer does not grow its buffer field by field.
    let mut bytes = Vec::with_capacity(384);
    serde_json::to_writer(&mut bytes, &metadata).unwrap_or_default();
    bytes
}

/// The custom metadata of a ledger event; fields in the order of their names (see
/// [`envelope_metadata`]).
#[derive(serde::Serialize)]
struct EnvelopeMetadata<'a> {
    actor: MetadataActor<'a>,
    causation_id: Option<uuid::Uuid>,
    correlation_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    erased: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<Hex<'a>>,
    occurred_on: chrono::NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_hash: Option<Hex<'a>>,
    recorded_at: chrono::DateTime<chrono::Utc>,
    version: u32,
}

/// The actor in the custom metadata: as recorded (the agency left out when there is none, as
/// [`Actor`] writes itself), or pseudonymised for analysts (the agency `null` when there is none).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum MetadataActor<'a> {
    Recorded {
        #[serde(skip_serializing_if = "Option::is_none")]
        agency: Option<&'a journey_core::catalogue::Agency>,
        id: &'a str,
        role: &'a journey_core::envelope::ActorRole,
    },
    Pseudonymised {
        agency: Option<&'a journey_core::catalogue::Agency>,
        pseudonym: String,
        role: &'a journey_core::envelope::ActorRole,
    },
}

/// A hash as lower-case hex, written without an intermediate string.
struct Hex<'a>(&'a [u8; 32]);

impl serde::Serialize for Hex<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.0, &mut text).map_err(serde::ser::Error::custom)?;
        // Hex digits are ASCII, so the slice is UTF-8.
        serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use journey_core::catalogue::Agency;
    use journey_core::envelope::ActorRole;
    use journey_core::log::{NewEvent, PayloadEncoding, Position};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::pseudonym::Pseudonymizer;

    /// The custom metadata as it was written before it skipped `serde_json::Value`: the reference
    /// the direct writer must match byte for byte.
    fn metadata_through_value(
        recorded: &LogEvent,
        actor: &Actor,
        erased: bool,
        pseudonyms: Option<&Pseudonymizer>,
    ) -> Vec<u8> {
        let event = &recorded.event;
        let mut metadata = json!({
            "version": event.version,
            "occurred_on": event.occurred_on,
            "recorded_at": event.recorded_at,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
        });
        match pseudonyms {
            Some(pseudonyms) => {
                metadata["actor"] = json!({
                    "pseudonym": pseudonyms.actor(&actor.id),
                    "agency": actor.agency,
                    "role": actor.role,
                });
            }
            None => {
                metadata["actor"] = json!(actor);
                metadata["prev_hash"] = json!(hex::encode(event.prev_hash));
                metadata["hash"] = json!(hex::encode(event.hash));
            }
        }
        if erased {
            metadata["erased"] = json!(true);
        }
        serde_json::to_vec(&metadata).expect("metadata")
    }

    const ROLES: [ActorRole; 6] = [
        ActorRole::Caseworker,
        ActorRole::Coordinator,
        ActorRole::Analyst,
        ActorRole::Auditor,
        ActorRole::Admin,
        ActorRole::System,
    ];

    #[allow(clippy::too_many_arguments)]
    fn event(
        actor: &Actor,
        version: u32,
        day: u32,
        micros: i64,
        correlation: Option<u128>,
        causation: Option<u128>,
        prev_hash: [u8; 32],
        hash: [u8; 32],
    ) -> LogEvent {
        LogEvent {
            position: Position::from_raw(7),
            stream: format!("person-{}", uuid::Uuid::from_u128(1)),
            revision: 3,
            event: NewEvent {
                id: uuid::Uuid::from_u128(2),
                event_type: "PersonRegistered".into(),
                version,
                occurred_on: NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")
                    + chrono::Days::new(u64::from(day)),
                recorded_at: Utc.timestamp_micros(micros).single().expect("a time"),
                actor: actor.to_log(),
                correlation_id: correlation.map(uuid::Uuid::from_u128),
                causation_id: causation.map(uuid::Uuid::from_u128),
                encoding: PayloadEncoding::Sealed,
                payload: Vec::new(),
                content_digest: [0; 32],
                prev_hash,
                hash,
            },
            global_link: None,
        }
    }

    proptest! {
        /// Every shape of envelope (with and without agency, ids, erasure; as recorded for
        /// admins, caseworkers, coordinators and replicas, pseudonymised for analysts) gives the
        /// bytes the `Value` path gave.
        #[test]
        fn metadata_is_byte_for_byte_the_value_path(
            id in "[a-z0-9 \"\\\\é-]{0,12}",
            agency in proptest::option::of(0..Agency::ALL.len()),
            role in 0..ROLES.len(),
            version in 1u32..5,
            day in 0u32..3000,
            micros in 1_500_000_000_000_000i64..1_900_000_000_000_000,
            correlation in proptest::option::of(any::<u128>()),
            causation in proptest::option::of(any::<u128>()),
            prev_hash in any::<[u8; 32]>(),
            hash in any::<[u8; 32]>(),
            erased in any::<bool>(),
            pseudonymised in any::<bool>(),
        ) {
            let actor = Actor {
                id,
                agency: agency.map(|index| Agency::ALL[index]),
                role: ROLES[role],
            };
            let recorded =
                event(&actor, version, day, micros, correlation, causation, prev_hash, hash);
            let pseudonyms = Pseudonymizer::new([9; 32]);
            let pseudonyms = pseudonymised.then_some(&pseudonyms);
            prop_assert_eq!(
                String::from_utf8(envelope_metadata(&recorded, &actor, erased, pseudonyms))
                    .expect("UTF-8"),
                String::from_utf8(metadata_through_value(&recorded, &actor, erased, pseudonyms))
                    .expect("UTF-8")
            );
        }
    }
}
