//! How a ledger record travels as a KurrentDB event, both ways.
//!
//! The ledger's record is stored as it is: the event id is the KurrentDB event id (the idempotency
//! key), the event type is the type, the payload bytes (sealed ciphertext for person events) are the
//! event's data, untouched, and every other field of the envelope is the event's custom metadata, a
//! small JSON object. The server's own `created` timestamp is not used: `recorded_at` is the
//! ledger's, written above the log and chained.

use chrono::{DateTime, NaiveDate, Utc};
use kurrentdb::{EventData, ResolvedEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::names;
use crate::log::{LogActor, LogError, NewEvent, PayloadEncoding, Position, RecordedEvent};

/// The version of the metadata object below; a reader refuses one it does not know.
const METADATA_FORMAT: u32 = 1;

/// The envelope fields besides id, type and payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: u32,
    version: u32,
    occurred_on: NaiveDate,
    recorded_at: DateTime<Utc>,
    actor_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor_agency: Option<String>,
    actor_role: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causation_id: Option<Uuid>,
    encoding: PayloadEncoding,
    #[serde(with = "hex32")]
    content_digest: [u8; 32],
    #[serde(with = "hex32")]
    prev_hash: [u8; 32],
    #[serde(with = "hex32")]
    hash: [u8; 32],
}

/// The KurrentDB event that carries `event`, and its size as the server counts it against its
/// largest append (data and metadata bytes).
pub fn encode(event: &NewEvent) -> Result<(EventData, usize), LogError> {
    let envelope = Envelope {
        format: METADATA_FORMAT,
        version: event.version,
        occurred_on: event.occurred_on,
        recorded_at: event.recorded_at,
        actor_id: event.actor.id.clone(),
        actor_agency: event.actor.agency.clone(),
        actor_role: event.actor.role,
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        encoding: event.encoding,
        content_digest: event.content_digest,
        prev_hash: event.prev_hash,
        hash: event.hash,
    };
    let metadata = serde_json::to_vec(&envelope).map_err(|error| LogError::Corrupt {
        position: Position::default(),
        reason: format!(
            "the envelope of event {} cannot be encoded: {error}",
            event.id
        ),
    })?;
    let size = event.payload.len() + metadata.len();
    Ok((
        EventData::binary(event.event_type.clone(), event.payload.clone().into())
            .id(event.id)
            .metadata(metadata.into()),
        size,
    ))
}

/// The ledger record a KurrentDB event carries; `None` for an event of a stream outside the
/// ledger's (another application's stream in the same cluster).
pub fn decode(resolved: &ResolvedEvent) -> Result<Option<RecordedEvent>, LogError> {
    let recorded = resolved.get_original_event();
    let Some(stream) = names::ledger_stream(recorded.stream_id()) else {
        return Ok(None);
    };
    let position = Position::from_raw(recorded.position.commit);
    let envelope: Envelope =
        serde_json::from_slice(&recorded.custom_metadata).map_err(|error| LogError::Corrupt {
            position,
            reason: format!(
                "the metadata of event {} in `{}` is not a journey envelope: {error}",
                recorded.id,
                recorded.stream_id()
            ),
        })?;
    if envelope.format != METADATA_FORMAT {
        return Err(LogError::Corrupt {
            position,
            reason: format!(
                "event {} has envelope format {}, this build reads {METADATA_FORMAT}",
                recorded.id, envelope.format
            ),
        });
    }
    Ok(Some(RecordedEvent {
        position,
        stream: stream.to_owned(),
        revision: recorded.revision,
        event: NewEvent {
            id: recorded.id,
            event_type: recorded.event_type.clone(),
            version: envelope.version,
            occurred_on: envelope.occurred_on,
            recorded_at: envelope.recorded_at,
            actor: LogActor {
                id: envelope.actor_id,
                agency: envelope.actor_agency,
                role: envelope.actor_role,
            },
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            encoding: envelope.encoding,
            payload: recorded.data.to_vec(),
            content_digest: envelope.content_digest,
            prev_hash: envelope.prev_hash,
            hash: envelope.hash,
        },
        global_link: None,
    }))
}

/// 32 bytes as 64 hex digits.
mod hex32 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(D::Error::custom)?;
        Ok(bytes)
    }
}
