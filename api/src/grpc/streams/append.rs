//! `Streams.Append`, and the append both it and `BatchAppend` make.
//!
//! A person stream is appended through the ledger's write path with the same checks and the same
//! words as GraphQL's `appendEvents`: the role's right to record the type, the visibility of the
//! person, the catalogue's schema, the journey rules. The event's custom metadata (JSON) carries
//! the envelope fields KurrentDB has no place for: `occurred_on` (required), and optionally
//! `version`, `correlation_id`, `causation_id`. Any other stream name not starting with `$` is a
//! plain stream (`journey_core::plain`), for the admin and replication roles.

use std::collections::HashMap;

use journey_core::catalogue;
use journey_core::envelope::PersonId;
use journey_core::ledger::{LedgerError, Proposed};
use journey_core::log::{ExpectedRevision, Position, APPEND_EVENTS_MAX};
use journey_core::plain::{self, PlainError, PlainProposal, StreamKind};
use serde_json::Value;
use tonic::Status;

use crate::auth::{Principal, Role};
use crate::error::{from_decode, from_ledger, ApiError, FieldStyle};
use crate::graphql::mutation::{
    after_append, authorize_append, count, role_may_record, vault_effect,
};
use crate::grpc::proto::event_store::client::streams::{
    append_req, append_resp, AppendReq, AppendResp,
};
use crate::state::AppState;

use super::convert::from_proto_uuid;
use super::status;

/// The largest append in bytes of data and metadata (KurrentDB's default `MaxAppendSize`).
pub const APPEND_BYTES_MAX: usize = 1024 * 1024;

/// One proposed event as a client sent it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub id: uuid::Uuid,
    pub metadata: HashMap<String, String>,
    pub custom_metadata: Vec<u8>,
    pub data: Vec<u8>,
}

impl Incoming {
    fn size(&self) -> usize {
        self.data.len() + self.custom_metadata.len()
    }

    fn event_type(&self) -> &str {
        self.metadata.get("type").map_or("", String::as_str)
    }

    fn is_json(&self) -> bool {
        self.metadata.get("content-type").map(String::as_str) == Some("application/json")
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// Written (or already written with the same content): the stream's last revision and the
    /// position of the last event.
    Written { revision: u64, position: Position },
    /// The expected revision did not hold; `current` is the stream's revision (`None`: no stream).
    WrongExpected {
        expected: ExpectedRevision,
        current: Option<u64>,
    },
}

/// Collects proposed events while keeping the limits, so an oversized append is refused before it
/// is held in memory.
#[derive(Debug, Default)]
pub struct Collector {
    pub events: Vec<Incoming>,
    bytes: usize,
}

impl Collector {
    pub fn push(&mut self, event: Incoming) -> Result<(), Status> {
        self.bytes += event.size();
        if self.bytes > APPEND_BYTES_MAX {
            return Err(status::append_too_large(APPEND_BYTES_MAX));
        }
        if self.events.len() >= APPEND_EVENTS_MAX {
            return Err(Status::invalid_argument(format!(
                "an append carries at most {APPEND_EVENTS_MAX} events; split it"
            )));
        }
        self.events.push(event);
        Ok(())
    }
}

/// Appends `events` to `stream` for `principal`.
pub async fn append(
    state: &AppState,
    principal: &Principal,
    stream: &str,
    expected: ExpectedRevision,
    events: Vec<Incoming>,
) -> Result<Outcome, Status> {
    if principal.role == Role::Replica {
        return Err(status::access_denied(
            "the replica role reads the ledger for a read replica and appends nothing; send writes to the writer's GraphQL API",
        ));
    }
    if events.is_empty() {
        return Err(Status::invalid_argument(
            "an append carries at least one event",
        ));
    }
    match plain::classify(stream).map_err(|error| Status::invalid_argument(error.to_string()))? {
        StreamKind::Person(person) => {
            append_person(state, principal, person, expected, events).await
        }
        StreamKind::Plain => append_plain(state, principal, stream, expected, events).await,
        StreamKind::Register(_) => Err(Status::invalid_argument(format!(
            "`{stream}` is a register stream; registers are written with `journey registers import`"
        ))),
        StreamKind::Offer(_) => Err(Status::invalid_argument(format!(
            "`{stream}` is an offer stream; offers are written with the recordOffer, changeOffer and withdrawOffer mutations or `journey import`"
        ))),
        StreamKind::Volunteer(_) => Err(Status::invalid_argument(format!(
            "`{stream}` is a volunteer stream; volunteers are written with the recruitVolunteer, trainVolunteer, assignMentee, supportVolunteer, appreciateVolunteer, endVolunteer and eraseVolunteer mutations, which check their rules"
        ))),
        StreamKind::Metadata | StreamKind::System => Err(status::access_denied(format!(
            "`{stream}` is a system stream; journey takes no writes to `$` streams"
        ))),
    }
}

fn invalid(index: usize, field: &str, message: impl Into<String>) -> Status {
    status::from_api(
        ApiError::validation(format!("events[{index}].{field}"), message)
            .with("eventIndex", index as u64),
    )
}

fn metadata_uuid(
    metadata: &Value,
    field: &str,
    index: usize,
) -> Result<Option<uuid::Uuid>, Status> {
    match metadata.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => uuid::Uuid::parse_str(text).map(Some).map_err(|_| {
            invalid(
                index,
                &format!("metadata.{field}"),
                format!("event {index}: field `metadata.{field}`: `{text}` is not a uuid"),
            )
        }),
        Some(other) => Err(invalid(
            index,
            &format!("metadata.{field}"),
            format!("event {index}: field `metadata.{field}`: expected a uuid string, got {other}"),
        )),
    }
}

async fn append_person(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    expected: ExpectedRevision,
    events: Vec<Incoming>,
) -> Result<Outcome, Status> {
    let mut proposed = Vec::with_capacity(events.len());
    for (index, incoming) in events.iter().enumerate() {
        let event_type = incoming.event_type();
        role_may_record(principal, event_type)
            .map_err(|error| status::from_api(error.with("eventIndex", index as u64)))?;
        if !incoming.is_json() {
            return Err(invalid(
                index,
                "data",
                format!("event {index}: person events are JSON: send them with content type application/json"),
            ));
        }
        let data: Value = serde_json::from_slice(&incoming.data).map_err(|error| {
            invalid(
                index,
                "data",
                format!("event {index}: field `data`: not JSON: {error}"),
            )
        })?;
        let metadata: Value = if incoming.custom_metadata.is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&incoming.custom_metadata).map_err(|error| {
                invalid(
                    index,
                    "metadata",
                    format!("event {index}: field `metadata`: not JSON: {error}"),
                )
            })?
        };
        let occurred_on = metadata
            .get("occurred_on")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(
                    index,
                    "metadata.occurred_on",
                    format!("event {index}: field `metadata.occurred_on`: give the date the fact occurred (YYYY-MM-DD) in the event's metadata"),
                )
            })?;
        let occurred_on = chrono::NaiveDate::parse_from_str(occurred_on, "%Y-%m-%d").map_err(|_| {
            invalid(
                index,
                "metadata.occurred_on",
                format!("event {index}: field `metadata.occurred_on`: `{occurred_on}` is not a date (YYYY-MM-DD)"),
            )
        })?;
        let version = match metadata.get("version") {
            None | Some(Value::Null) => catalogue::EventType::from_name(event_type)
                .map_or(1, |event_type| event_type.current_version()),
            Some(version) => version
                .as_u64()
                .and_then(|version| u32::try_from(version).ok())
                .ok_or_else(|| {
                    invalid(index, "metadata.version", format!("event {index}: field `metadata.version`: expected a positive number, got {version}"))
                })?,
        };
        let event = catalogue::decode(event_type, version, data)
            .map_err(|error| status::from_api(from_decode(FieldStyle::WireBatch, index, &error)))?;
        proposed.push(Proposed {
            id: incoming.id,
            occurred_on,
            event,
            actor: principal.actor(),
            correlation_id: metadata_uuid(&metadata, "correlation_id", index)?,
            causation_id: metadata_uuid(&metadata, "causation_id", index)?,
        });
    }
    authorize_append(state, principal, person, &proposed)
        .await
        .map_err(status::from_api)?;
    let effect = vault_effect(&proposed);
    let receipt = match state.ledger.append(person, expected, proposed).await {
        Ok(receipt) => receipt,
        Err(LedgerError::Conflict { actual, .. }) => {
            return Ok(Outcome::WrongExpected {
                expected,
                current: actual,
            })
        }
        Err(error) => return Err(status::from_api(from_ledger(FieldStyle::WireBatch, error))),
    };
    after_append(state, person, effect, None)
        .await
        .map_err(status::from_api)?;
    count(state, &receipt);
    let position = match receipt.last_position {
        Some(position) => position,
        None => last_stored_position(state, &person.stream_name(), &events).await?,
    };
    Ok(Outcome::Written {
        revision: receipt.stream_revision,
        position,
    })
}

/// The position of an append that was already stored (a retry): the latest of its events'.
async fn last_stored_position(
    state: &AppState,
    stream: &str,
    events: &[Incoming],
) -> Result<Position, Status> {
    let mut position = Position::default();
    for event in events {
        if let Some(stored) = state
            .log
            .find_event(stream, event.id)
            .await
            .map_err(|error| Status::internal(error.to_string()))?
        {
            position = position.max(stored.position);
        }
    }
    Ok(position)
}

async fn append_plain(
    state: &AppState,
    principal: &Principal,
    stream: &str,
    expected: ExpectedRevision,
    events: Vec<Incoming>,
) -> Result<Outcome, Status> {
    if !matches!(principal.role, Role::Admin | Role::Replication) {
        return Err(status::access_denied(format!(
            "plain streams are for the admin and replication roles, not {}",
            principal.role
        )));
    }
    let proposed = events
        .into_iter()
        .map(|incoming| PlainProposal {
            id: incoming.id,
            event_type: incoming.event_type().to_owned(),
            json: incoming.is_json(),
            data: incoming.data,
            metadata: incoming.custom_metadata,
        })
        .collect();
    match state
        .ledger
        .append_plain(stream, expected, proposed, &principal.actor())
        .await
    {
        Ok(receipt) => Ok(Outcome::Written {
            revision: receipt.stream_revision,
            position: receipt.position,
        }),
        Err(error) => plain_failure(stream, error),
    }
}

/// The answer to a refused plain append or delete.
pub fn plain_failure(stream: &str, error: PlainError) -> Result<Outcome, Status> {
    match error {
        PlainError::WrongExpectedRevision {
            expected, actual, ..
        } => Ok(Outcome::WrongExpected {
            expected,
            current: actual,
        }),
        PlainError::Deleted(_) => Err(status::stream_deleted(stream)),
        PlainError::Name(_) | PlainError::NotPlain(_) | PlainError::Invalid { .. } => {
            Err(Status::invalid_argument(error.to_string()))
        }
        PlainError::Ledger(error) => Err(Status::internal(error.to_string())),
    }
}

/// Answers an `Append` call: the options first, then the proposed events.
pub async fn append_call(
    state: &AppState,
    principal: &Principal,
    mut requests: tonic::Streaming<AppendReq>,
) -> Result<AppendResp, Status> {
    let options = match requests.message().await? {
        Some(AppendReq {
            content: Some(append_req::Content::Options(options)),
        }) => options,
        _ => {
            return Err(Status::invalid_argument(
                "an append starts with its options (the stream and the expected revision)",
            ))
        }
    };
    let stream = String::from_utf8(
        options
            .stream_identifier
            .map(|identifier| identifier.stream_name)
            .unwrap_or_default(),
    )
    .map_err(|_| Status::invalid_argument("the stream name is not UTF-8"))?;
    let expected = match options.expected_stream_revision {
        Some(append_req::options::ExpectedStreamRevision::Revision(revision)) => {
            ExpectedRevision::Exact(revision)
        }
        Some(append_req::options::ExpectedStreamRevision::NoStream(_)) => {
            ExpectedRevision::NoStream
        }
        Some(append_req::options::ExpectedStreamRevision::StreamExists(_)) => {
            ExpectedRevision::StreamExists
        }
        Some(append_req::options::ExpectedStreamRevision::Any(_)) | None => ExpectedRevision::Any,
    };
    let mut collector = Collector::default();
    while let Some(request) = requests.message().await? {
        match request.content {
            Some(append_req::Content::ProposedMessage(message)) => collector.push(Incoming {
                id: from_proto_uuid(message.id.as_ref())?,
                metadata: message.metadata,
                custom_metadata: message.custom_metadata,
                data: message.data,
            })?,
            _ => {
                return Err(Status::invalid_argument(
                    "an append sends its options once, then proposed events only",
                ))
            }
        }
    }
    let outcome = append(state, principal, &stream, expected, collector.events).await?;
    Ok(append_response(outcome))
}

/// The code an append answered with `response` was refused with, as a BatchAppend's refusal
/// carries it: `None` when it was written.
pub fn refusal(response: &AppendResp) -> Option<tonic::Code> {
    match response.result {
        Some(append_resp::Result::WrongExpectedVersion(_)) => Some(tonic::Code::FailedPrecondition),
        _ => None,
    }
}

fn append_response(outcome: Outcome) -> AppendResp {
    use append_resp::wrong_expected_version::{
        CurrentRevisionOption, CurrentRevisionOption2060, ExpectedRevisionOption,
        ExpectedRevisionOption2060,
    };
    let result = match outcome {
        Outcome::Written { revision, position } => {
            append_resp::Result::Success(append_resp::Success {
                current_revision_option: Some(
                    append_resp::success::CurrentRevisionOption::CurrentRevision(revision),
                ),
                position_option: Some(append_resp::success::PositionOption::Position(
                    append_resp::Position {
                        commit_position: position.raw(),
                        prepare_position: position.raw(),
                    },
                )),
            })
        }
        Outcome::WrongExpected { expected, current } => {
            append_resp::Result::WrongExpectedVersion(append_resp::WrongExpectedVersion {
                current_revision_option_20_6_0: Some(match current {
                    Some(revision) => CurrentRevisionOption2060::CurrentRevision2060(revision),
                    None => CurrentRevisionOption2060::NoStream2060(()),
                }),
                expected_revision_option_20_6_0: Some(match expected {
                    ExpectedRevision::Exact(revision) => {
                        ExpectedRevisionOption2060::ExpectedRevision2060(revision)
                    }
                    ExpectedRevision::StreamExists => {
                        ExpectedRevisionOption2060::StreamExists2060(())
                    }
                    ExpectedRevision::Any | ExpectedRevision::NoStream => {
                        ExpectedRevisionOption2060::Any2060(())
                    }
                }),
                current_revision_option: Some(match current {
                    Some(revision) => CurrentRevisionOption::CurrentRevision(revision),
                    None => CurrentRevisionOption::CurrentNoStream(()),
                }),
                expected_revision_option: Some(match expected {
                    ExpectedRevision::Exact(revision) => {
                        ExpectedRevisionOption::ExpectedRevision(revision)
                    }
                    ExpectedRevision::Any => ExpectedRevisionOption::ExpectedAny(()),
                    ExpectedRevision::StreamExists => {
                        ExpectedRevisionOption::ExpectedStreamExists(())
                    }
                    ExpectedRevision::NoStream => ExpectedRevisionOption::ExpectedNoStream(()),
                }),
            })
        }
    };
    AppendResp {
        result: Some(result),
    }
}
