//! The event log: an append-only sequence of streams with a global order.
//!
//! This module is the storage seam (ARCHITECTURE.md, "The storage seam"): the contract that the
//! embedded [`SledLog`] and a remote engine such as KurrentDB both honour. The log stores records
//! whose payload and metadata it never interprets (the ledger seals payloads and encodes the actor
//! before appending). Revisions (per stream) are 0-based and gap-free. Positions (global) are
//! ordered but not dense: a remote engine's positions are byte offsets, so nobody computes "the next
//! position" with `+ 1`; a reader asks the log for the events after a position ([`AllFrom::Excluding`])
//! or for the head ([`EventLog::last_position`]). Appends are atomic and idempotent on event ids
//! within their stream: appending the same ids with the same content digest again returns the
//! original outcome; the same id with another digest is an error.

use std::fmt::{self, Debug};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

pub mod conformance;
#[cfg(feature = "kurrentdb")]
pub mod kurrent;
pub mod memory;
pub mod sled_log;

pub use memory::InMemoryLog;
pub use sled_log::{CheckpointPrefetch, LogCopyHead, LogRestore, LogStats, SledLog, SledLogConfig};

/// The largest number of events one append may carry.
pub const APPEND_EVENTS_MAX: usize = 4096;
/// The longest stream name in bytes that the embedded logs take. A backend may take less
/// ([`EventLog::stream_name_max`]), never more, so that what any backend stores fits the embedded
/// log (where backups and imports land).
pub const STREAM_NAME_MAX: usize = 255;
/// The largest page a read returns.
pub const READ_LIMIT_MAX: usize = 65_536;

/// A place in the log's global order. Positions of later events compare greater, but they are not
/// dense: the embedded log numbers its events 0, 1, 2, …, a remote engine uses byte offsets of its
/// transaction file. So a position is only compared, stored as a checkpoint and handed back to the
/// log, never incremented.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Position(u64);

impl Position {
    /// The position as the backend numbers it (a cursor of an API, a checkpoint on disk).
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The number a backend gave this position; only for storing and showing it.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Position {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

/// Where a read of the whole log, or a subscription, starts. The direction of a read decides what
/// "after" means: forwards, `Excluding(p)` starts at the first event after `p`; backwards, at the
/// last event before `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllFrom {
    /// The first event of the log (forwards); nothing backwards.
    Start,
    /// The last event of the log (backwards); nothing forwards, and only new events for a
    /// subscription.
    End,
    /// The event at this position and those beyond it in the read's direction.
    Including(Position),
    /// The events beyond this position in the read's direction (a checkpoint: "what comes after the
    /// last event I have").
    Excluding(Position),
}

impl AllFrom {
    /// Where to continue after the event at `checkpoint`, or from the start when there is none.
    pub fn after(checkpoint: Option<Position>) -> Self {
        checkpoint.map_or(AllFrom::Start, AllFrom::Excluding)
    }
}

/// What the appender expects the stream's current revision to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedRevision {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist.
    StreamExists,
    /// The stream's last revision must be exactly this.
    Exact(u64),
}

impl ExpectedRevision {
    /// Whether the expectation holds for a stream whose last revision is `current` (`None`: no
    /// stream).
    pub fn holds(self, current: Option<u64>) -> bool {
        match self {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => current.is_none(),
            ExpectedRevision::StreamExists => current.is_some(),
            ExpectedRevision::Exact(revision) => current == Some(revision),
        }
    }
}

/// How a payload is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadEncoding {
    /// Plain JSON bytes (used for events that carry nothing personal, such as `PersonalDataErased`).
    Json,
    /// `nonce ‖ ciphertext` of the JSON bytes under the person's data key (see `crypto`).
    Sealed,
    /// Bytes the ledger does not interpret: the events of plain streams (`crate::plain`), framed
    /// with their content type and metadata.
    Opaque,
}

/// Who recorded an event, as the log stores it: plain strings and a role code that the log does not
/// interpret. The envelope layer maps it to and from [`crate::envelope::Actor`] (which knows agencies
/// and roles), so that the storage format depends on no domain type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogActor {
    pub id: String,
    /// The agency's wire name, absent for system actors.
    pub agency: Option<String>,
    /// The role's stable code (see `envelope::ActorRole::code`).
    pub role: u8,
}

/// An event as handed to the log: everything but the position and the revision, which the log assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub version: u32,
    pub occurred_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub actor: LogActor,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub encoding: PayloadEncoding,
    pub payload: Vec<u8>,
    /// A digest of the event's content, compared when the same id is appended again. The ledger uses a
    /// MAC keyed by the person's data key, so the digest says nothing once the key is destroyed.
    pub content_digest: [u8; 32],
    /// The stream hash chain (DOMAIN.md section 2), computed above the log by the ledger.
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// One link of the global hash chain: `hash = SHA-256(prev_hash ‖ position ‖ stream hash)`
/// (see `crate::chain::global_hash`). Only a backend that controls the global order keeps one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalLink {
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream: String,
    pub revision: u64,
    pub event: NewEvent,
    /// The event's link in the global hash chain, when the backend keeps one
    /// ([`EventLog::keeps_global_chain`]); `None` otherwise.
    pub global_link: Option<GlobalLink>,
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The position of the first event of this append.
    pub first_position: Position,
    /// The position of the last event of this append.
    pub last_position: Position,
    /// The stream's revision after the append (the revision of its last event).
    pub stream_revision: u64,
    /// True when every id was already present and the original outcome is returned. A remote
    /// backend whose server answers a retry exactly as it answered the original append (KurrentDB)
    /// can tell only when the answer names events that this log handle had seen stored
    /// (acknowledged or read) before it sent the retry; a retry of events it never saw says `false`.
    /// Either way the positions and the revision are the original ones and nothing is written twice.
    pub replayed: bool,
}

/// Where a stream read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrom {
    Start,
    End,
    Revision(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// The engine's own error behind [`LogError::Storage`] and [`LogError::Locked`], kept as a source so
/// that the contract names no engine type.
pub type EngineError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "wrong expected revision on stream `{stream}`: expected {expected:?}, the stream is at {}",
        describe_revision(*actual)
    )]
    WrongExpectedRevision {
        stream: String,
        expected: ExpectedRevision,
        /// The stream's current last revision, `None` when the stream does not exist.
        actual: Option<u64>,
    },
    #[error("event id {id} is already stored at position {position} with different content")]
    DuplicateIdConflict { id: Uuid, position: Position },
    /// Idempotency is scoped to the stream, so a backend need not look for an id in other streams;
    /// the embedded log, whose index holds every id anyway, refuses such an append with this error.
    #[error("event id {id} is already stored in stream `{stored_stream}`, not in `{stream}`")]
    DuplicateIdInOtherStream {
        id: Uuid,
        stream: String,
        stored_stream: String,
    },
    #[error("the append mixes event ids already stored ({stored}) with new ones ({new}); append the new events alone")]
    PartialDuplicate { stored: Uuid, new: Uuid },
    #[error("event id {0} appears twice in one append")]
    DuplicateIdInAppend(Uuid),
    #[error("an append must carry between 1 and {APPEND_EVENTS_MAX} events, this one carries {0}")]
    AppendSize(usize),
    /// A backend that takes appends of a bounded size (a server's largest message) refuses a
    /// larger one before anything is written.
    #[error("the append is {bytes} bytes as the log stores them, more than the {max} it takes in one append; split it into smaller appends")]
    AppendTooLarge { bytes: usize, max: usize },
    #[error("stream name must be 1 to {max} bytes without NUL, got `{stream}`")]
    InvalidStreamName {
        stream: String,
        /// The backend's limit ([`EventLog::stream_name_max`]).
        max: usize,
    },
    #[error("the log is corrupt at position {position}: {reason}")]
    Corrupt { position: Position, reason: String },
    #[error("the data directory `{path}` is in use by another process (is `journey serve` running on it?): {source}")]
    Locked {
        path: String,
        #[source]
        source: EngineError,
    },
    /// The log cannot be reached (a lost connection, a leader election): the request may or may not
    /// have taken effect, and retrying it (with the same event ids) is safe.
    #[error("the event log is unavailable ({reason}); retry later")]
    Unavailable { reason: String },
    #[error("storage error: {0}")]
    Storage(#[source] EngineError),
    #[error("the event log is closed")]
    Closed,
}

impl LogError {
    /// True when the same request may succeed if sent again: appends are idempotent on their ids,
    /// so a retry after [`LogError::Unavailable`] never records an event twice.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LogError::Unavailable { .. })
    }
}

fn describe_revision(revision: Option<u64>) -> String {
    match revision {
        Some(revision) => format!("revision {revision}"),
        None => "no stream".to_owned(),
    }
}

/// The rule stated by [`LogError::InvalidStreamName`] for the embedded logs.
pub fn is_valid_stream_name(stream: &str) -> bool {
    stream_name_fits(stream, STREAM_NAME_MAX)
}

/// The rule stated by [`LogError::InvalidStreamName`] for a backend whose limit is `max` bytes.
pub fn stream_name_fits(stream: &str, max: usize) -> bool {
    !stream.is_empty() && stream.len() <= max && !stream.contains('\0')
}

/// Checks what an append to an embedded log must satisfy before any state is looked at (see
/// [`check_append_within`]).
pub fn check_append(stream: &str, events: &[NewEvent]) -> Result<(), LogError> {
    check_append_within(stream, events, STREAM_NAME_MAX)
}

/// Checks what an append must satisfy before any state is looked at: a stream name of 1 to
/// `name_max` bytes without NUL (the backend's [`EventLog::stream_name_max`]), 1 to
/// [`APPEND_EVENTS_MAX`] events, no id twice. Every backend calls it first.
pub fn check_append_within(
    stream: &str,
    events: &[NewEvent],
    name_max: usize,
) -> Result<(), LogError> {
    if !stream_name_fits(stream, name_max) {
        return Err(LogError::InvalidStreamName {
            stream: stream.to_owned(),
            max: name_max,
        });
    }
    if events.is_empty() || events.len() > APPEND_EVENTS_MAX {
        return Err(LogError::AppendSize(events.len()));
    }
    let mut ids = std::collections::HashSet::with_capacity(events.len());
    for event in events {
        if !ids.insert(event.id) {
            return Err(LogError::DuplicateIdInAppend(event.id));
        }
    }
    Ok(())
}

/// An event id already stored in the appended stream, as the idempotency check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredId {
    pub position: Position,
    pub revision: u64,
    pub content_digest: [u8; 32],
}

/// The idempotency rule, checked before the expected revision (a retry of a stored append answers
/// the same whatever the stream's revision is now): `lookup` finds an id among the events of the
/// appended stream. Every id stored with the same digest: the original outcome (`Some`). No id
/// stored: `None`, a new append. Anything between is refused.
pub fn check_retry(
    events: &[NewEvent],
    mut lookup: impl FnMut(Uuid) -> Result<Option<StoredId>, LogError>,
) -> Result<Option<AppendOutcome>, LogError> {
    let mut stored: Vec<StoredId> = Vec::new();
    let mut first_stored = None;
    let mut first_new = None;
    for event in events {
        match lookup(event.id)? {
            Some(found) => {
                if found.content_digest != event.content_digest {
                    return Err(LogError::DuplicateIdConflict {
                        id: event.id,
                        position: found.position,
                    });
                }
                first_stored.get_or_insert(event.id);
                stored.push(found);
            }
            None => {
                first_new.get_or_insert(event.id);
            }
        }
    }
    match (first_stored, first_new) {
        (Some(stored), Some(new)) => Err(LogError::PartialDuplicate { stored, new }),
        (Some(_), None) => {
            let first = stored.iter().map(|found| found.position).min();
            let last = stored.iter().max_by_key(|found| found.position);
            Ok(first.zip(last).map(|(first, last)| AppendOutcome {
                first_position: first,
                last_position: last.position,
                stream_revision: last.revision,
                replayed: true,
            }))
        }
        (None, _) => Ok(None),
    }
}

/// A live subscription to the whole log: first every stored event from the requested position
/// (catch-up), then every new event as it is committed, each exactly once and in order.
#[derive(Debug)]
pub struct Subscription {
    receiver: mpsc::Receiver<Result<RecordedEvent, LogError>>,
}

impl Subscription {
    pub fn new(receiver: mpsc::Receiver<Result<RecordedEvent, LogError>>) -> Self {
        Self { receiver }
    }

    /// The next event; `None` when the log was closed.
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, LogError>> {
        self.receiver.recv().await
    }

    /// The next event if one is already buffered, without waiting.
    pub fn try_next(&mut self) -> Option<Result<RecordedEvent, LogError>> {
        self.receiver.try_recv().ok()
    }
}

/// The event log behind the ledger. Implemented by the embedded [`SledLog`]; a remote engine
/// (KurrentDB) implements the same contract. What a backend must guarantee is stated here and
/// checked by one conformance suite over `dyn EventLog`.
#[async_trait]
pub trait EventLog: Send + Sync + Debug {
    /// Appends `events` to `stream` atomically if `expected` holds. Appending ids already stored in
    /// `stream` with the same content digests returns the original outcome (see
    /// [`AppendOutcome::replayed`]); the acknowledged events are durable and visible to every later
    /// read.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, LogError>;

    /// Reads up to `limit` events of `stream` starting at `from` in `direction`.
    /// A stream that does not exist reads as empty.
    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError>;

    /// Reads up to `limit` events of the whole log in global order (or its reverse) from `from`.
    /// To page on, pass `AllFrom::Excluding` of the last event read.
    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError>;

    /// Subscribes to the whole log from `from` (forwards): catch-up, then live, each event once.
    /// A subscriber that lost its subscription resubscribes with `AllFrom::Excluding` of the last
    /// event it received and misses nothing.
    async fn subscribe_all(&self, from: AllFrom) -> Result<Subscription, LogError>;

    /// The event with this id in `stream`, if any (idempotency is scoped to the stream).
    async fn find_event(&self, stream: &str, id: Uuid) -> Result<Option<RecordedEvent>, LogError>;

    /// The event with this id in whichever stream holds it. Idempotency never needs this (it is
    /// scoped to the stream); a link that names only an event id does (a volunteer's
    /// `MenteeAssigned` names the mentee's `MentorAssigned`, never the person). The default reads
    /// `$all` backwards page by page, so it costs a scan of the log on a backend without a global
    /// id index; sled answers from its index.
    async fn find_event_in_any_stream(&self, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        let mut from = AllFrom::End;
        loop {
            let page = self.read_all(from, Direction::Backwards, 1024).await?;
            let Some(last) = page.last() else {
                return Ok(None);
            };
            from = AllFrom::Excluding(last.position);
            if let Some(found) = page.into_iter().find(|event| event.event.id == id) {
                return Ok(Some(found));
            }
        }
    }

    /// The last revision of `stream`, `None` when it does not exist.
    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError>;

    /// The names of the streams that begin with `prefix` (a stream kind such as `offer-`, what
    /// EventStoreDB calls a category), sorted. For the kinds the ledger keeps few of; a reader of
    /// person streams follows `$all` instead.
    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, LogError>;

    /// The head: the position of the last event of the log, `None` when the log is empty. A reader
    /// whose checkpoint is at or beyond it has caught up.
    async fn last_position(&self) -> Result<Option<Position>, LogError>;

    /// The longest stream name in bytes this backend takes, at most [`STREAM_NAME_MAX`]; a longer
    /// one is refused with [`LogError::InvalidStreamName`] naming this limit.
    fn stream_name_max(&self) -> usize {
        STREAM_NAME_MAX
    }

    /// True when the backend controls the global order and keeps the global hash chain: then every
    /// recorded event carries its [`GlobalLink`] and `verify` checks the chain.
    fn keeps_global_chain(&self) -> bool {
        false
    }

    /// Flushes and stops accepting appends; waits for acknowledged appends to be durable.
    async fn close(&self) -> Result<(), LogError>;
}

/// How many events the log holds after `checkpoint` (all of them for `None`), counted by reading,
/// because positions are not dense; at most `max`, so that asking a far-behind reader costs one page.
pub async fn events_after(
    log: &dyn EventLog,
    checkpoint: Option<Position>,
    max: usize,
) -> Result<u64, LogError> {
    if max == 0 {
        return Ok(0);
    }
    if let (Some(checkpoint), Some(head)) = (checkpoint, log.last_position().await?) {
        if checkpoint >= head {
            return Ok(0);
        }
    }
    let page = log
        .read_all(AllFrom::after(checkpoint), Direction::Forwards, max)
        .await?;
    Ok(page.len() as u64)
}

/// Helpers for tests of the log and of the code above it (the ledger, projections). Not part of the
/// public contract.
#[doc(hidden)]
pub mod test_support {
    use chrono::{DateTime, NaiveDate};
    use sha2::{Digest, Sha256};
    use uuid::Uuid;

    use super::{AllFrom, Direction, EventLog, NewEvent, PayloadEncoding, READ_LIMIT_MAX};
    use crate::envelope::Actor;

    /// A plain event whose content, digest and hash follow from `id` alone, so that appending the same
    /// id again is a faithful retry. The timestamp has whole microseconds, the precision the log keeps.
    pub fn test_event(id: Uuid) -> NewEvent {
        let payload = format!("{{\"test\":\"{id}\"}}").into_bytes();
        let digest = |label: &[u8]| -> [u8; 32] {
            let mut hasher = Sha256::new();
            hasher.update(label);
            hasher.update(id.as_bytes());
            hasher.finalize().into()
        };
        NewEvent {
            id,
            event_type: "TestEvent".to_owned(),
            version: 1,
            occurred_on: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default(),
            recorded_at: DateTime::from_timestamp_micros(1_709_284_380_123_456).unwrap_or_default(),
            actor: Actor::system("test").to_log(),
            correlation_id: None,
            causation_id: None,
            encoding: PayloadEncoding::Json,
            payload,
            content_digest: digest(b"digest"),
            prev_hash: [0; 32],
            hash: digest(b"hash"),
        }
    }

    /// How many events the log holds, counted by reading it (positions are not dense).
    pub async fn count_events(log: &dyn EventLog) -> usize {
        let mut count = 0;
        let mut from = AllFrom::Start;
        loop {
            let page = log
                .read_all(from, Direction::Forwards, READ_LIMIT_MAX)
                .await
                .expect("the log reads");
            let Some(last) = page.last() else {
                return count;
            };
            from = AllFrom::Excluding(last.position);
            count += page.len();
        }
    }

    /// `count` events with fresh random ids.
    pub fn test_events(count: usize) -> Vec<NewEvent> {
        (0..count).map(|_| test_event(Uuid::new_v4())).collect()
    }
}
