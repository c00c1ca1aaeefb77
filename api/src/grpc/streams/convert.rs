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
use serde_json::{json, Value};
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
            value: Some(UuidValue::String(id.to_string())),
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
    state: AppState,
    principal: Principal,
    structured_ids: bool,
    /// Per person: the access decided and the stream revision it was decided at.
    access: HashMap<PersonId, (u64, Access)>,
}

impl Viewer {
    pub fn new(state: AppState, principal: Principal, structured_ids: bool) -> Self {
        Self {
            state,
            principal,
            structured_ids,
            access: HashMap::new(),
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Refuses a read of `stream` the role may not make at all (before anything is read, so the
    /// refusal says nothing about the stream's content).
    pub async fn may_read_stream(&mut self, stream: &str) -> Result<(), Status> {
        let role = self.principal.role;
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
                    match visibility::access(&self.principal, &PersonFacts::default()) {
                        Access::Denied(message) => Err(status::access_denied(message)),
                        _ => Ok(()),
                    }
                }
            },
        }
    }

    /// Refuses a read of `$all` by a role that sees nothing there.
    pub fn may_read_all(&self) -> Result<(), Status> {
        match self.principal.role {
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
            .state
            .timeline(person)
            .await
            .map_err(|error| Status::internal(error.message))?;
        let decided = timeline.last().map_or(0, |event| event.recorded.revision);
        let access = visibility::access(&self.principal, &PersonFacts::from_timeline(&timeline));
        if self.access.len() > 10_000 {
            self.access.clear();
        }
        self.access.insert(person, (decided, access.clone()));
        Ok(access)
    }

    /// What the caller sees of `recorded`: `None` when it may not see it.
    pub async fn view(&mut self, recorded: LogEvent) -> Result<Option<ProtoEvent>, Status> {
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
                let stream = recorded.stream.clone();
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
                    &metadata,
                )))
            }
            StreamKind::Person(person) => {
                let access = match role {
                    Role::Admin | Role::Replica => Access::Full,
                    Role::Caseworker | Role::Coordinator => {
                        self.access_to(person, recorded.revision).await?
                    }
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
                        let metadata = serde_json::to_vec(&metadata).unwrap_or_default();
                        let stream = recorded.stream.clone();
                        Ok(Some(match payload {
                            Some(data) => self.proto(&recorded, stream, true, data, metadata),
                            None => self.proto(&recorded, stream, false, Vec::new(), metadata),
                        }))
                    }
                }
            }
        }
    }

    fn analyst_view(&self, person: PersonId, recorded: LogEvent) -> Result<ProtoEvent, Status> {
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
            &metadata,
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
        metadata: &Value,
    ) -> ProtoEvent {
        match data {
            Some(data) => self.json_proto(&decoded.recorded, stream, data, metadata),
            None => self.proto(
                &decoded.recorded,
                stream,
                false,
                Vec::new(),
                serde_json::to_vec(metadata).unwrap_or_default(),
            ),
        }
    }

    fn json_proto(
        &self,
        recorded: &LogEvent,
        stream: String,
        data: &Value,
        metadata: &Value,
    ) -> ProtoEvent {
        self.proto(
            recorded,
            stream,
            true,
            serde_json::to_vec(data).unwrap_or_default(),
            serde_json::to_vec(metadata).unwrap_or_default(),
        )
    }

    fn proto(
        &self,
        recorded: &LogEvent,
        stream: String,
        json: bool,
        data: Vec<u8>,
        custom_metadata: Vec<u8>,
    ) -> ProtoEvent {
        let content_type = if json {
            "application/json"
        } else {
            "application/octet-stream"
        };
        ProtoEvent {
            id: Some(proto_uuid(recorded.event.id, self.structured_ids)),
            stream_identifier: Some(StreamIdentifier {
                stream_name: stream.into_bytes(),
            }),
            stream_revision: recorded.revision,
            prepare_position: recorded.position.raw(),
            commit_position: recorded.position.raw(),
            metadata: [
                ("type".to_owned(), recorded.event.event_type.clone()),
                ("content-type".to_owned(), content_type.to_owned()),
                (
                    "created".to_owned(),
                    ticks(recorded.event.recorded_at).to_string(),
                ),
            ]
            .into_iter()
            .collect(),
            custom_metadata,
            data,
        }
    }
}

/// The envelope's fields besides type and payload, as the custom metadata of a ledger event. With
/// pseudonyms (the analyst view) the actor is pseudonymised and the hashes are left out.
fn envelope_metadata(
    recorded: &LogEvent,
    actor: &Actor,
    erased: bool,
    pseudonyms: Option<&crate::pseudonym::Pseudonymizer>,
) -> Value {
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
    metadata
}
