//! The event log: an append-only sequence of streams with a global order.
//!
//! The log stores records whose payload it never interprets (the ledger seals payloads before
//! appending). Positions (global) and revisions (per stream) are 0-based and gap-free. Appends are
//! atomic and idempotent on event ids: appending the same ids with the same content digest again
//! returns the original outcome; the same id with another digest is an error.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::envelope::Actor;

#[cfg(feature = "kurrentdb")]
pub mod kurrent;
pub mod sled_log;

pub use sled_log::{LogCopyHead, LogRestore, LogStats, SledLog, SledLogConfig};

/// The largest number of events one append may carry.
pub const APPEND_EVENTS_MAX: usize = 4096;
/// The largest page a read returns.
pub const READ_LIMIT_MAX: usize = 65_536;

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

/// An event as handed to the log: everything but the position and the revision, which the log assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: Uuid,
    pub event_type: String,
    pub version: u32,
    pub occurred_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub actor: Actor,
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

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: u64,
    pub stream: String,
    pub revision: u64,
    pub event: NewEvent,
    /// The global hash chain of the embedded log: `SHA-256(global_prev_hash ‖ position ‖ stream hash)`.
    /// All zeros for backends without a global chain.
    pub global_prev_hash: [u8; 32],
    pub global_hash: [u8; 32],
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The position of the first event of this append.
    pub first_position: u64,
    /// The position of the last event of this append.
    pub last_position: u64,
    /// The stream's revision after the append (the revision of its last event).
    pub stream_revision: u64,
    /// True when every id was already present and the original outcome is returned.
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
    DuplicateIdConflict { id: Uuid, position: u64 },
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
    #[error("stream name must be 1 to 255 bytes without NUL, got `{0}`")]
    InvalidStreamName(String),
    #[error("the log is corrupt at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error("the data directory `{path}` is in use by another process (is `journey serve` running on it?): {source}")]
    Locked {
        path: String,
        #[source]
        source: sled::Error,
    },
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    #[error("the event log's server is unavailable: {0}")]
    Unavailable(String),
    #[error("the event log's server refused the call: {0}")]
    Backend(String),
    #[error("the event log is closed")]
    Closed,
}

fn describe_revision(revision: Option<u64>) -> String {
    match revision {
        Some(revision) => format!("revision {revision}"),
        None => "no stream".to_owned(),
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

/// The event log behind the ledger. Implemented by the embedded [`SledLog`]; the KurrentDB backend
/// implements the same contract.
#[async_trait]
pub trait EventLog: Send + Sync + Debug {
    /// Appends `events` to `stream` atomically if `expected` holds.
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

    /// Reads up to `limit` events in global order starting at position `from` (inclusive).
    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, LogError>;

    /// Reads up to `limit` events in reverse global order starting at position `from` (inclusive),
    /// or at the last event when `from` is `None`.
    async fn read_all_backwards(
        &self,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError>;

    /// Subscribes to the whole log from position `from` (inclusive): catch-up, then live.
    async fn subscribe_all(&self, from: u64) -> Result<Subscription, LogError>;

    /// The stored event with this id, if any.
    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, LogError>;

    /// The last revision of `stream`, `None` when it does not exist.
    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError>;

    /// The names of the streams that begin with `prefix` (a stream kind such as `offer-`, what
    /// EventStoreDB calls a category), sorted. For the kinds the ledger keeps few of; a reader of
    /// person streams follows `$all` instead.
    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, LogError>;

    /// The position the next appended event will get (the number of events in the log).
    async fn next_position(&self) -> Result<u64, LogError>;

    /// Flushes and stops accepting appends; waits for acknowledged appends to be durable.
    async fn close(&self) -> Result<(), LogError>;
}

/// Helpers for tests of the log and of the code above it (the ledger, projections). Not part of the
/// public contract.
#[doc(hidden)]
pub mod test_support {
    use chrono::{DateTime, NaiveDate};
    use sha2::{Digest, Sha256};
    use uuid::Uuid;

    use super::{NewEvent, PayloadEncoding};
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
            actor: Actor::system("test"),
            correlation_id: None,
            causation_id: None,
            encoding: PayloadEncoding::Json,
            payload,
            content_digest: digest(b"digest"),
            prev_hash: [0; 32],
            hash: digest(b"hash"),
        }
    }

    /// `count` events with fresh random ids.
    pub fn test_events(count: usize) -> Vec<NewEvent> {
        (0..count).map(|_| test_event(Uuid::new_v4())).collect()
    }
}
