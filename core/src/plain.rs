//! Plain streams: a KurrentDB-like event store next to the ledger, in the same log.
//!
//! Every stream that is neither a person stream (`person-<uuid>`), nor an organisational stream
//! (`register-…`, `offer-<uuid>`, `volunteer-<uuid>`: `crate::organisational`), nor a system stream (`$…`) is plain: it takes events of any type with any bytes,
//! checked by no rule, sealed with no key. Plain events are part of the global order (and so of the
//! global hash chain, which `verify` checks like every other), but they are not person events: the
//! ledger decodes them to no event, so the projections pass over them.
//!
//! Deleting follows KurrentDB: a soft delete records in the stream's metadata stream `$$<stream>`
//! that the stream is truncated before its next revision (reads find nothing, an append starts it
//! again after the old last revision); a tombstone records that it is deleted for good (every later
//! append is refused). Both are events of the metadata stream, so the log stays append-only and the
//! chains stay whole.

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::chain;
use crate::envelope::{Actor, PersonId, PERSON_STREAM_PREFIX};
use crate::ledger::{Ledger, LedgerError};
use crate::log::{
    AppendOutcome, Direction, ExpectedRevision, LogError, NewEvent, PayloadEncoding, Position,
    StreamFrom,
};
use crate::offers::{OfferId, OFFER_STREAM_PREFIX};
use crate::registers::{RegisterKind, REGISTER_STREAM_PREFIX};
use crate::volunteers::{VolunteerId, VOLUNTEER_STREAM_PREFIX};

/// The prefix of a stream's metadata stream, as KurrentDB names it.
pub const METADATA_STREAM_PREFIX: &str = "$$";
/// The type of a metadata event (KurrentDB's `$metadata`).
pub const METADATA_EVENT_TYPE: &str = "$metadata";
/// The type of the metadata event that deletes a stream for good.
pub const TOMBSTONE_EVENT_TYPE: &str = "$streamDeleted";
/// The metadata field that truncates a stream before a revision (KurrentDB's `$tb`).
const TRUNCATE_BEFORE: &str = "$tb";

/// What a stream name names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamKind {
    /// `person-<uuid>`: the ledger's stream of one person.
    Person(PersonId),
    /// `register-<kind>`: one of the registers.
    Register(RegisterKind),
    /// `offer-<uuid>`: the capacity one offer records.
    Offer(OfferId),
    /// `volunteer-<uuid>`: the pseudonymous register entry of one volunteer.
    Volunteer(VolunteerId),
    /// Any other name not starting with `$`.
    Plain,
    /// `$$<plain stream>`: the metadata stream of a plain stream.
    Metadata,
    /// Any other `$` name: system streams, which this store does not have.
    System,
}

/// Why a stream name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("stream names must be 1 to 255 bytes without NUL")]
    Length,
    #[error("`{0}` starts with `person-` but is not a person stream: expected `person-<uuid>`")]
    Person(String),
    #[error(
        "`{0}` starts with `offer-`, which is reserved for the offers: expected `offer-<uuid>`"
    )]
    Offer(String),
    #[error(
        "`{0}` starts with `volunteer-`, which is reserved for the volunteer register: expected `volunteer-<uuid>`"
    )]
    Volunteer(String),
    #[error("`{0}` starts with `register-`, which is reserved for the registers ({kinds})", kinds = register_names())]
    Register(String),
}

fn register_names() -> String {
    RegisterKind::ALL
        .iter()
        .map(RegisterKind::stream_name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `stream` names.
pub fn classify(stream: &str) -> Result<StreamKind, StreamNameError> {
    if stream.is_empty() || stream.len() > 255 || stream.contains('\0') {
        return Err(StreamNameError::Length);
    }
    if stream.starts_with(PERSON_STREAM_PREFIX) {
        return PersonId::from_stream_name(stream)
            .map(StreamKind::Person)
            .map_err(|_| StreamNameError::Person(stream.to_owned()));
    }
    if stream.starts_with(OFFER_STREAM_PREFIX) {
        return OfferId::from_stream_name(stream)
            .map(StreamKind::Offer)
            .ok_or_else(|| StreamNameError::Offer(stream.to_owned()));
    }
    if stream.starts_with(VOLUNTEER_STREAM_PREFIX) {
        return VolunteerId::from_stream_name(stream)
            .map(StreamKind::Volunteer)
            .ok_or_else(|| StreamNameError::Volunteer(stream.to_owned()));
    }
    if stream.starts_with(REGISTER_STREAM_PREFIX) {
        return RegisterKind::from_stream_name(stream)
            .map(StreamKind::Register)
            .ok_or_else(|| StreamNameError::Register(stream.to_owned()));
    }
    if let Some(of) = stream.strip_prefix(METADATA_STREAM_PREFIX) {
        return Ok(match classify(of) {
            Ok(StreamKind::Plain) => StreamKind::Metadata,
            _ => StreamKind::System,
        });
    }
    if stream.starts_with('$') {
        return Ok(StreamKind::System);
    }
    Ok(StreamKind::Plain)
}

/// Whether events of `stream` are plain (not interpreted by the ledger).
pub fn is_plain(stream: &str) -> bool {
    matches!(
        classify(stream),
        Ok(StreamKind::Plain | StreamKind::Metadata)
    )
}

/// An event proposed for a plain stream, as a KurrentDB client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainProposal {
    pub id: Uuid,
    pub event_type: String,
    /// Whether the content type is `application/json` (else `application/octet-stream`).
    pub json: bool,
    pub data: Vec<u8>,
    /// The client's own metadata bytes (KurrentDB's custom metadata).
    pub metadata: Vec<u8>,
}

/// A stored plain event's content, unframed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainContent {
    pub json: bool,
    pub data: Vec<u8>,
    pub metadata: Vec<u8>,
}

/// The framing version of a plain payload.
const FRAME_VERSION: u8 = 1;

/// `version ‖ flags ‖ metadata length (u32, big endian) ‖ metadata ‖ data`.
fn frame(proposal: &PlainProposal) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(6 + proposal.metadata.len() + proposal.data.len());
    bytes.push(FRAME_VERSION);
    bytes.push(u8::from(proposal.json));
    bytes.extend_from_slice(&(proposal.metadata.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&proposal.metadata);
    bytes.extend_from_slice(&proposal.data);
    bytes
}

/// The content of a stored plain payload; `None` when the bytes are not a frame this code wrote.
pub fn unframe(payload: &[u8]) -> Option<PlainContent> {
    let (&version, rest) = payload.split_first()?;
    let (&flags, rest) = rest.split_first()?;
    if version != FRAME_VERSION || flags > 1 || rest.len() < 4 {
        return None;
    }
    let (length, rest) = rest.split_at(4);
    let length = u32::from_be_bytes(length.try_into().ok()?) as usize;
    if rest.len() < length {
        return None;
    }
    let (metadata, data) = rest.split_at(length);
    Some(PlainContent {
        json: flags == 1,
        data: data.to_vec(),
        metadata: metadata.to_vec(),
    })
}

/// Whether a plain stream was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Not deleted; `truncate_before` hides the revisions before it (0 when nothing is hidden).
    Live { truncate_before: u64 },
    /// Deleted for good.
    Tombstoned,
}

/// Why a plain append or delete was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlainError {
    #[error(transparent)]
    Name(#[from] StreamNameError),
    #[error("`{0}` is not a plain stream: person and register streams are written through the ledger, and `$` streams are the store's own")]
    NotPlain(String),
    #[error("event {index} ({id}): {message}")]
    Invalid {
        index: usize,
        id: Uuid,
        message: String,
    },
    #[error("the stream `{0}` is deleted")]
    Deleted(String),
    #[error("wrong expected revision on `{stream}`: expected {expected:?}, the stream is at {}", actual.map_or_else(|| "no stream".to_owned(), |revision| format!("revision {revision}")))]
    WrongExpectedRevision {
        stream: String,
        expected: ExpectedRevision,
        /// The visible last revision; `None` when the stream does not exist or is deleted.
        actual: Option<u64>,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<LogError> for PlainError {
    fn from(error: LogError) -> Self {
        PlainError::Ledger(LedgerError::Log(error))
    }
}

/// What a plain append (or delete) wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainReceipt {
    /// The stream's last revision after the append.
    pub stream_revision: u64,
    /// The position of the last event written (or of the original one, for a retry).
    pub position: Position,
}

/// The stored state of a plain stream: its last stored revision with that event's hash, and its
/// deletion.
#[derive(Debug, Clone, Copy)]
struct PlainHead {
    last: Option<(u64, [u8; 32])>,
    deletion: Deletion,
}

impl PlainHead {
    /// The revision clients see: `None` for a stream without events or soft-deleted.
    fn visible(&self) -> Option<u64> {
        match (self.last, self.deletion) {
            (Some((revision, _)), Deletion::Live { truncate_before })
                if revision >= truncate_before =>
            {
                Some(revision)
            }
            _ => None,
        }
    }
}

impl Ledger {
    /// Whether the plain `stream` was deleted, from the last event of its metadata stream.
    pub async fn plain_deletion(&self, stream: &str) -> Result<Deletion, LedgerError> {
        let meta = format!("{METADATA_STREAM_PREFIX}{stream}");
        let last = self
            .log()
            .read_stream(&meta, StreamFrom::End, Direction::Backwards, 1)
            .await?;
        let Some(last) = last.first() else {
            return Ok(Deletion::Live { truncate_before: 0 });
        };
        if last.event.event_type == TOMBSTONE_EVENT_TYPE {
            return Ok(Deletion::Tombstoned);
        }
        let truncate_before = unframe(&last.event.payload)
            .and_then(|content| serde_json::from_slice::<serde_json::Value>(&content.data).ok())
            .and_then(|metadata| {
                metadata
                    .get(TRUNCATE_BEFORE)
                    .and_then(serde_json::Value::as_u64)
            })
            .unwrap_or(0);
        Ok(Deletion::Live { truncate_before })
    }

    async fn plain_head(&self, stream: &str) -> Result<PlainHead, LedgerError> {
        let last = self
            .log()
            .read_stream(stream, StreamFrom::End, Direction::Backwards, 1)
            .await?;
        Ok(PlainHead {
            last: last.first().map(|event| (event.revision, event.event.hash)),
            deletion: self.plain_deletion(stream).await?,
        })
    }

    /// Appends `proposed` to the plain `stream` if `expected` holds for what clients see of it (a
    /// soft-deleted stream counts as absent). Ids already stored with the same content answer the
    /// original append, whatever the expectation (KurrentDB's idempotent retry).
    pub async fn append_plain(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        proposed: Vec<PlainProposal>,
        actor: &Actor,
    ) -> Result<PlainReceipt, PlainError> {
        if classify(stream)? != StreamKind::Plain {
            return Err(PlainError::NotPlain(stream.to_owned()));
        }
        self.append_plain_unchecked(stream, expected, proposed, actor)
            .await
    }

    async fn append_plain_unchecked(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        proposed: Vec<PlainProposal>,
        actor: &Actor,
    ) -> Result<PlainReceipt, PlainError> {
        for (index, event) in proposed.iter().enumerate() {
            if event.event_type.is_empty() {
                return Err(PlainError::Invalid {
                    index,
                    id: event.id,
                    message: "the event type is empty; give every event a type".into(),
                });
            }
        }
        // Appends to one plain stream are serialized so that the head read here is the one the log
        // appends to; the log still checks the exact revision, so another process writing is
        // detected. Appends to other streams go on meanwhile and share the log's group commits.
        let _writer = self.plain_writer(stream).lock().await;
        let head = self.plain_head(stream).await?;
        if head.deletion == Deletion::Tombstoned {
            return Err(PlainError::Deleted(stream.to_owned()));
        }
        let visible = head.visible();
        if !expected.holds(visible) {
            // A retry of an append that was stored answers as the original did.
            let stored = match proposed.first() {
                Some(first) => self.log().find_event(stream, first.id).await?.is_some(),
                None => false,
            };
            if !stored {
                return Err(PlainError::WrongExpectedRevision {
                    stream: stream.to_owned(),
                    expected,
                    actual: visible,
                });
            }
        }
        let stamp = self.in_flight().stamp(self.clock().as_ref());
        let outcome = self
            .log()
            .append(
                stream,
                head.last
                    .map_or(ExpectedRevision::NoStream, |(revision, _)| {
                        ExpectedRevision::Exact(revision)
                    }),
                plain_events(stream, &proposed, head.last, stamp.recorded_at, actor),
            )
            .await;
        drop(stamp);
        let outcome: AppendOutcome = outcome.map_err(|error| match error {
            LogError::DuplicateIdConflict { id, position } => PlainError::Invalid {
                index: proposed.iter().position(|event| event.id == id).unwrap_or(0),
                id,
                message: format!("this event id is already stored (position {position}) with different content; use a new id for a new event"),
            },
            LogError::DuplicateIdInOtherStream { id, stored_stream, .. } => PlainError::Invalid {
                index: proposed.iter().position(|event| event.id == id).unwrap_or(0),
                id,
                message: format!("this event id is already stored in the stream `{stored_stream}`; use a new id"),
            },
            LogError::DuplicateIdInAppend(id) => PlainError::Invalid {
                index: proposed.iter().position(|event| event.id == id).unwrap_or(0),
                id,
                message: "this id appears twice in one append; every event needs its own id".into(),
            },
            other => other.into(),
        })?;
        Ok(PlainReceipt {
            stream_revision: outcome.stream_revision,
            position: outcome.last_position,
        })
    }

    /// Soft-deletes the plain `stream` (KurrentDB's delete): reads find nothing, a later append
    /// starts it again after its old last revision.
    pub async fn delete_plain(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        actor: &Actor,
    ) -> Result<PlainReceipt, PlainError> {
        self.mark_deleted(stream, expected, actor, false).await
    }

    /// Deletes the plain `stream` for good (KurrentDB's tombstone).
    pub async fn tombstone_plain(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        actor: &Actor,
    ) -> Result<PlainReceipt, PlainError> {
        self.mark_deleted(stream, expected, actor, true).await
    }

    async fn mark_deleted(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        actor: &Actor,
        tombstone: bool,
    ) -> Result<PlainReceipt, PlainError> {
        if classify(stream)? != StreamKind::Plain {
            return Err(PlainError::NotPlain(stream.to_owned()));
        }
        let head = self.plain_head(stream).await?;
        if head.deletion == Deletion::Tombstoned {
            return Err(PlainError::Deleted(stream.to_owned()));
        }
        if !expected.holds(head.visible()) {
            return Err(PlainError::WrongExpectedRevision {
                stream: stream.to_owned(),
                expected,
                actual: head.visible(),
            });
        }
        let truncate_before = head.last.map_or(0, |(revision, _)| revision + 1);
        let proposal = PlainProposal {
            id: self.new_event_id(),
            event_type: if tombstone {
                TOMBSTONE_EVENT_TYPE
            } else {
                METADATA_EVENT_TYPE
            }
            .to_owned(),
            json: true,
            data: serde_json::to_vec(&json!({ TRUNCATE_BEFORE: truncate_before }))
                .unwrap_or_default(),
            metadata: Vec::new(),
        };
        let meta = format!("{METADATA_STREAM_PREFIX}{stream}");
        self.append_plain_unchecked(&meta, ExpectedRevision::Any, vec![proposal], actor)
            .await
    }
}

/// The log events of a plain append, chained onto the stream's last event.
fn plain_events(
    stream: &str,
    proposed: &[PlainProposal],
    last: Option<(u64, [u8; 32])>,
    recorded_at: DateTime<Utc>,
    actor: &Actor,
) -> Vec<NewEvent> {
    let mut prev_hash = last.map_or(chain::GENESIS, |(_, hash)| hash);
    let first_revision = last.map_or(0, |(revision, _)| revision + 1);
    let mut events = Vec::with_capacity(proposed.len());
    for (revision, proposal) in (first_revision..).zip(proposed) {
        let payload = frame(proposal);
        let mut digest = Sha256::new();
        digest.update(b"plain\0");
        digest.update(stream.as_bytes());
        digest.update([0]);
        digest.update(proposal.event_type.as_bytes());
        digest.update([0]);
        digest.update(&payload);
        let mut event = NewEvent {
            id: proposal.id,
            event_type: proposal.event_type.clone(),
            version: 1,
            occurred_on: recorded_at.date_naive(),
            recorded_at,
            actor: actor.to_log(),
            correlation_id: None,
            causation_id: None,
            encoding: PayloadEncoding::Opaque,
            payload,
            content_digest: digest.finalize().into(),
            prev_hash,
            hash: [0; 32],
        };
        event.hash = chain::stream_hash(&prev_hash, stream, revision, &event);
        prev_hash = event.hash;
        events.push(event);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_once() {
        let person = Uuid::new_v4();
        assert_eq!(
            classify(&format!("person-{person}")),
            Ok(StreamKind::Person(PersonId(person)))
        );
        assert!(matches!(
            classify("person-42"),
            Err(StreamNameError::Person(_))
        ));
        assert!(matches!(
            classify("register-planets"),
            Err(StreamNameError::Register(_))
        ));
        assert_eq!(classify("orders-1"), Ok(StreamKind::Plain));
        assert_eq!(classify("$$orders-1"), Ok(StreamKind::Metadata));
        assert_eq!(classify("$$person-1"), Ok(StreamKind::System));
        assert_eq!(classify("$all"), Ok(StreamKind::System));
        assert_eq!(classify(""), Err(StreamNameError::Length));
    }

    #[test]
    fn a_frame_gives_back_what_was_framed() {
        let proposal = PlainProposal {
            id: Uuid::new_v4(),
            event_type: "t".into(),
            json: false,
            data: vec![0, 1, 2, 255],
            metadata: b"{\"m\":1}".to_vec(),
        };
        assert_eq!(
            unframe(&frame(&proposal)),
            Some(PlainContent {
                json: false,
                data: proposal.data.clone(),
                metadata: proposal.metadata.clone()
            })
        );
        assert_eq!(unframe(&[9, 0, 0, 0, 0, 0]), None);
        assert_eq!(unframe(&[1, 0, 0, 0, 0, 9, 1]), None);
    }
}
