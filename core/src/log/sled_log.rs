//! The embedded sled event log.
//!
//! # Storage layout
//!
//! Everything lives in ONE sled tree named `log`, so that every group commit is a single atomic
//! [`sled::Tree::apply_batch`]. Keys carry a one-byte prefix:
//!
//! | key | value |
//! |---|---|
//! | `e` ‖ position (u64 BE) | the postcard-encoded [`StoredRecord`] (format byte first) |
//! | `s` ‖ stream bytes ‖ 0x00 ‖ revision (u64 BE) | position (u64 BE) |
//! | `i` ‖ 16 uuid bytes | position (u64 BE) |
//! | `m` | meta format byte ‖ next position (u64 BE) ‖ last global hash (32 bytes) |
//!
//! Stream names never contain NUL, so `s` ‖ stream ‖ 0x00 is a prefix of exactly one stream's keys
//! and big-endian revisions sort in revision order. The stream heads (last revision per stream) are
//! the last index key of each stream; they are loaded into memory at open by one scan of the index.
//!
//! # Group commit
//!
//! One dedicated writer thread owns every write. [`SledLog::append`] checks what it can on its own
//! (stream name, size, ids repeated within the append), then sends a request over a bounded channel
//! and waits for a oneshot reply. The writer takes one request, drains whatever else is already
//! queued (bounded by [`SledLogConfig`]; while appenders are concurrent it lingers up to
//! `group_linger` for as many as a group usually has), validates each request in order against its
//! in-memory state plus the earlier requests of the same group, builds one batch for all valid
//! requests and applies it. A second thread, the flusher, takes every applied group waiting, flushes
//! once, then publishes the new committed head and replies to every request of those groups, while
//! the writer already applies the next group. A group is acknowledged only after a flush that began
//! after its batch was applied.
//!
//! # Reads are bounded by the committed head
//!
//! Between `apply_batch` and the end of the flush, sled already shows a group's events to readers,
//! although nobody has been told that they are durable. Every read therefore only returns events
//! below the committed head (the next position published after the flush), and `stream_revision`,
//! `find_event` and `next_position` answer from the same cut. A subscriber can thus never see an
//! event whose append has not been acknowledged, and a caller whose append was acknowledged reads
//! its own write, because the head is published before the replies are sent.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::{
    AppendOutcome, Direction, EventLog, ExpectedRevision, LogError, NewEvent, PayloadEncoding,
    RecordedEvent, StreamFrom, Subscription, APPEND_EVENTS_MAX, READ_LIMIT_MAX,
};
use crate::catalogue::Agency;
use crate::chain;
use crate::envelope::{Actor, ActorRole};
use crate::store::Store;

/// The name of the sled tree that holds the log.
const TREE_NAME: &str = "log";

const EVENT_PREFIX: u8 = b'e';
const STREAM_PREFIX: u8 = b's';
const ID_PREFIX: u8 = b'i';
const META_KEY: &[u8] = b"m";

/// The format of a stored record. A new format gets a new number, and the reader decodes by number.
const RECORD_FORMAT_V1: u8 = 1;
/// The format of the meta value.
const META_FORMAT_V1: u8 = 1;

/// Settings of the embedded log. Every queue, batch and page is bounded by one of them.
#[derive(Debug, Clone)]
pub struct SledLogConfig {
    /// The most append requests one group commit takes from the queue.
    pub group_max_requests: usize,
    /// A group stops draining the queue once it holds this many events. The first request of a group
    /// is always taken, so a group holds at most this plus [`APPEND_EVENTS_MAX`] events.
    pub group_max_events: usize,
    /// How many append requests may wait for the writer; further appends wait for room.
    pub request_queue_capacity: usize,
    /// The longest a group waits for more appends while appenders are concurrent (see `Writer::run`).
    pub group_linger: std::time::Duration,
    /// How many events a subscription reads from the store at a time.
    pub subscription_page_size: usize,
    /// How many events a subscription buffers for a slow subscriber before it stops reading.
    pub subscription_buffer: usize,
}

impl Default for SledLogConfig {
    fn default() -> Self {
        Self {
            group_max_requests: 512,
            group_max_events: 16_384,
            request_queue_capacity: 1024,
            group_linger: std::time::Duration::from_micros(500),
            subscription_page_size: 256,
            subscription_buffer: 1024,
        }
    }
}

impl SledLogConfig {
    /// The same settings with every bound at least 1, because a zero bound would stall the log
    /// (and tokio channels refuse a zero capacity).
    fn sanitized(&self) -> Self {
        Self {
            group_max_requests: self.group_max_requests.max(1),
            group_max_events: self.group_max_events.max(1),
            request_queue_capacity: self.request_queue_capacity.max(1),
            group_linger: self.group_linger,
            subscription_page_size: self.subscription_page_size.clamp(1, READ_LIMIT_MAX),
            subscription_buffer: self.subscription_buffer.max(1),
        }
    }
}

/// The embedded event log over sled, with group commit. See the module documentation.
#[derive(Debug)]
pub struct SledLog {
    reader: Reader,
    db: sled::Db,
    head: watch::Receiver<Head>,
    /// `None` once the log is closed, so that later appends fail with [`LogError::Closed`].
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    config: SledLogConfig,
    stats: std::sync::Arc<WriterStats>,
}

/// Counters the writer keeps.
#[derive(Debug, Default)]
struct WriterStats {
    groups: std::sync::atomic::AtomicU64,
    events: std::sync::atomic::AtomicU64,
    prepare_ns: std::sync::atomic::AtomicU64,
    apply_ns: std::sync::atomic::AtomicU64,
    flush_ns: std::sync::atomic::AtomicU64,
}

/// Group-commit counters: `events / groups` is the average group size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// Groups written (one atomic batch and one flush each).
    pub groups: u64,
    /// Events written.
    pub events: u64,
    /// Time the writer spent checking requests and encoding records, applying batches, and flushing.
    pub prepare_ns: u64,
    pub apply_ns: u64,
    pub flush_ns: u64,
}

/// What the writer publishes after every group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    /// The committed head: every event below it is applied, flushed and acknowledged.
    next_position: u64,
    /// True once the writer has stopped; the head will not move again.
    closed: bool,
}

/// One append waiting for the writer.
#[derive(Debug)]
struct Request {
    stream: String,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<AppendOutcome, LogError>>,
}

impl SledLog {
    /// Opens the log in `store`, loads the stream heads into memory and starts the writer thread.
    ///
    /// Open at most one `SledLog` per store at a time: the writer's in-memory state assumes that it
    /// is the only writer of the `log` tree. Every stream head is held in memory (a few dozen bytes
    /// per stream), so that validating an append needs no read.
    pub fn open(store: &Store, config: SledLogConfig) -> Result<SledLog, LogError> {
        let config = config.sanitized();
        let db = store.db().clone();
        let tree = db.open_tree(TREE_NAME)?;
        let reader = Reader { tree: tree.clone() };
        let state = WriterState::load(&reader, db.clone())?;
        let (head_sender, head) = watch::channel(Head {
            next_position: state.next_position,
            closed: false,
        });
        let (requests, receiver) = mpsc::channel(config.request_queue_capacity);
        let stats = std::sync::Arc::new(WriterStats::default());
        let writer = Writer {
            state,
            reader: reader.clone(),
            head: std::sync::Arc::new(head_sender),
            config: config.clone(),
            stats: stats.clone(),
            failed: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        let handle = std::thread::Builder::new()
            .name("journey-log-writer".to_owned())
            .spawn(move || writer.run(receiver))
            .map_err(|error| LogError::Storage(error.into()))?;
        Ok(SledLog {
            reader,
            db,
            head,
            requests: Mutex::new(Some(requests)),
            writer: Mutex::new(Some(handle)),
            config,
            stats,
        })
    }

    /// Counters of the group commits so far (for metrics and benchmarks).
    pub fn stats(&self) -> LogStats {
        LogStats {
            groups: self.stats.groups.load(std::sync::atomic::Ordering::Relaxed),
            events: self.stats.events.load(std::sync::atomic::Ordering::Relaxed),
            prepare_ns: self
                .stats
                .prepare_ns
                .load(std::sync::atomic::Ordering::Relaxed),
            apply_ns: self
                .stats
                .apply_ns
                .load(std::sync::atomic::Ordering::Relaxed),
            flush_ns: self
                .stats
                .flush_ns
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The committed head: reads never return events at or beyond it.
    fn committed(&self) -> u64 {
        self.head.borrow().next_position
    }

    fn sender(&self) -> Result<mpsc::Sender<Request>, LogError> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(LogError::Closed)
    }

    /// Stops accepting appends. The writer finishes the queued ones and exits once no sender is left.
    fn stop_accepting(&self) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn take_writer(&self) -> Option<JoinHandle<()>> {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Runs a blocking read off the async workers, because a page may hold many events.
    async fn blocking_read<T, F>(&self, read: F) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> Result<T, LogError> + Send + 'static,
    {
        let reader = self.reader.clone();
        run_blocking(move || read(&reader)).await
    }
}

/// Runs `work` on tokio's blocking pool and passes a panic on to the caller.
async fn run_blocking<T, F>(work: F) -> Result<T, LogError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, LogError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // The blocking task was cancelled, which only happens when the runtime shuts down.
        Err(_) => Err(LogError::Closed),
    }
}

impl Drop for SledLog {
    /// Lets the writer finish the queued appends (at most `request_queue_capacity`) and waits for its
    /// thread to exit, so that the database is released when the log is gone. Async code should
    /// prefer [`EventLog::close`], which waits without blocking a runtime worker.
    fn drop(&mut self) {
        self.stop_accepting();
        if let Some(handle) = self.take_writer() {
            if handle.join().is_err() {
                tracing::error!("the event log writer thread panicked");
            }
        }
    }
}

#[async_trait]
impl EventLog for SledLog {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, LogError> {
        // These checks need no state, so they run here and spare the writer.
        check_stream_name(stream)?;
        if events.is_empty() || events.len() > APPEND_EVENTS_MAX {
            return Err(LogError::AppendSize(events.len()));
        }
        let mut ids = HashSet::with_capacity(events.len());
        for event in &events {
            if !ids.insert(event.id) {
                return Err(LogError::DuplicateIdInAppend(event.id));
            }
        }

        let sender = self.sender()?;
        let (reply, outcome) = oneshot::channel();
        let request = Request {
            stream: stream.to_owned(),
            expected,
            events,
            reply,
        };
        sender.send(request).await.map_err(|_| LogError::Closed)?;
        // Dropping our clone early lets a concurrent close() see the last sender go.
        drop(sender);
        // A dropped reply means the writer stopped before it got to this request.
        outcome.await.map_err(|_| LogError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let bound = self.committed();
        let stream = stream.to_owned();
        self.blocking_read(move |reader| reader.read_stream(&stream, from, direction, limit, bound))
            .await
    }

    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        let bound = self.committed();
        if limit == 0 || from >= bound {
            return Ok(Vec::new());
        }
        self.blocking_read(move |reader| reader.read_forwards(from, limit, bound))
            .await
    }

    async fn read_all_backwards(
        &self,
        from: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        let bound = self.committed();
        let Some(last) = bound.checked_sub(1) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A start at or beyond the head reads from the last committed event, like `None`.
        let start = from.map_or(last, |from| from.min(last));
        self.blocking_read(move |reader| reader.read_backwards(start, limit))
            .await
    }

    async fn subscribe_all(&self, from: u64) -> Result<Subscription, LogError> {
        let (sender, receiver) = mpsc::channel(self.config.subscription_buffer);
        let task = SubscriptionTask {
            reader: self.reader.clone(),
            head: self.head.clone(),
            next: from,
            page_size: self.config.subscription_page_size,
            sender,
        };
        tokio::spawn(task.run());
        Ok(Subscription::new(receiver))
    }

    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        let bound = self.committed();
        Ok(self
            .reader
            .find_event(id)?
            .filter(|event| event.position < bound))
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError> {
        let bound = self.committed();
        self.reader.stream_revision(stream, bound)
    }

    async fn next_position(&self) -> Result<u64, LogError> {
        Ok(self.committed())
    }

    async fn close(&self) -> Result<(), LogError> {
        self.stop_accepting();
        // The writer finishes the queued requests and then marks the head closed. An error here means
        // the writer is already gone, which is just as final.
        let mut head = self.head.clone();
        let _ = head.wait_for(|head| head.closed).await;
        if let Some(handle) = self.take_writer() {
            let joined = run_blocking(move || {
                handle.join().map_err(|_| {
                    LogError::Storage(sled::Error::ReportableBug(
                        "the event log writer thread panicked".to_owned(),
                    ))
                })
            })
            .await;
            joined?;
        }
        let db = self.db.clone();
        run_blocking(move || db.flush().map(drop).map_err(LogError::from)).await
    }
}

/// Checks the rule stated by [`LogError::InvalidStreamName`].
fn check_stream_name(stream: &str) -> Result<(), LogError> {
    if stream.is_empty() || stream.len() > 255 || stream.contains('\0') {
        return Err(LogError::InvalidStreamName(stream.to_owned()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keys and values
// ---------------------------------------------------------------------------------------------

fn event_key(position: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = EVENT_PREFIX;
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

fn stream_prefix(stream: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.len() + 10);
    key.push(STREAM_PREFIX);
    key.extend_from_slice(stream.as_bytes());
    key.push(0);
    key
}

fn stream_key(stream: &str, revision: u64) -> Vec<u8> {
    let mut key = stream_prefix(stream);
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

fn id_key(id: Uuid) -> [u8; 17] {
    let mut key = [0; 17];
    key[0] = ID_PREFIX;
    key[1..].copy_from_slice(id.as_bytes());
    key
}

fn meta_value(next_position: u64, last_hash: &[u8; 32]) -> [u8; 41] {
    let mut value = [0; 41];
    value[0] = META_FORMAT_V1;
    value[1..9].copy_from_slice(&next_position.to_be_bytes());
    value[9..].copy_from_slice(last_hash);
    value
}

/// Reads a big-endian u64 at `offset` of `bytes`, `None` when it is too short.
fn be_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let slice = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(slice.try_into().ok()?))
}

/// A position stored as an index value (stream or id index).
/// The position is unknown when an index value is broken, so the error names `u64::MAX`.
fn decode_position(value: &[u8], context: &str) -> Result<u64, LogError> {
    match (value.len(), be_u64(value, 0)) {
        (8, Some(position)) => Ok(position),
        _ => Err(LogError::Corrupt {
            position: u64::MAX,
            reason: format!("{context}: the value is not an 8-byte position"),
        }),
    }
}

/// The record as stored under `e` ‖ position. Only primitive fields, so that the bytes do not change
/// when a Rust type gains a serde attribute; `format` comes first so that a reader can tell formats
/// apart before decoding the rest. Borrowed on the write path, owned on the read path.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRecord<'a> {
    format: u8,
    position: u64,
    stream: Cow<'a, str>,
    revision: u64,
    id: [u8; 16],
    event_type: Cow<'a, str>,
    version: u32,
    /// Days since 0001-01-01 (chrono's `num_days_from_ce`).
    occurred_on_days: i32,
    /// Microseconds since the Unix epoch: the precision of the chain's canonical envelope.
    recorded_at_micros: i64,
    actor_id: Cow<'a, str>,
    /// The agency's wire name, so that reordering the catalogue cannot change stored meaning.
    actor_agency: Option<Cow<'a, str>>,
    actor_role: u8,
    correlation_id: Option<[u8; 16]>,
    causation_id: Option<[u8; 16]>,
    encoding: u8,
    payload: Cow<'a, [u8]>,
    content_digest: [u8; 32],
    prev_hash: [u8; 32],
    hash: [u8; 32],
    global_prev_hash: [u8; 32],
    global_hash: [u8; 32],
}

fn role_code(role: ActorRole) -> u8 {
    match role {
        ActorRole::Caseworker => 0,
        ActorRole::Coordinator => 1,
        ActorRole::Analyst => 2,
        ActorRole::Auditor => 3,
        ActorRole::Admin => 4,
        ActorRole::System => 5,
    }
}

fn role_from_code(code: u8) -> Option<ActorRole> {
    Some(match code {
        0 => ActorRole::Caseworker,
        1 => ActorRole::Coordinator,
        2 => ActorRole::Analyst,
        3 => ActorRole::Auditor,
        4 => ActorRole::Admin,
        5 => ActorRole::System,
        _ => return None,
    })
}

fn encoding_code(encoding: PayloadEncoding) -> u8 {
    match encoding {
        PayloadEncoding::Json => 0,
        PayloadEncoding::Sealed => 1,
    }
}

fn encoding_from_code(code: u8) -> Option<PayloadEncoding> {
    match code {
        0 => Some(PayloadEncoding::Json),
        1 => Some(PayloadEncoding::Sealed),
        _ => None,
    }
}

/// The stored bytes of `event` at `position` / `revision` of `stream`.
fn encode_record(
    position: u64,
    stream: &str,
    revision: u64,
    event: &NewEvent,
    global_prev_hash: &[u8; 32],
    global_hash: &[u8; 32],
) -> Result<Vec<u8>, LogError> {
    let record = StoredRecord {
        format: RECORD_FORMAT_V1,
        position,
        stream: Cow::Borrowed(stream),
        revision,
        id: event.id.into_bytes(),
        event_type: Cow::Borrowed(&event.event_type),
        version: event.version,
        occurred_on_days: event.occurred_on.num_days_from_ce(),
        recorded_at_micros: event.recorded_at.timestamp_micros(),
        actor_id: Cow::Borrowed(&event.actor.id),
        actor_agency: event
            .actor
            .agency
            .map(|agency| Cow::Borrowed(agency.as_str())),
        actor_role: role_code(event.actor.role),
        correlation_id: event.correlation_id.map(Uuid::into_bytes),
        causation_id: event.causation_id.map(Uuid::into_bytes),
        encoding: encoding_code(event.encoding),
        payload: Cow::Borrowed(&event.payload),
        content_digest: event.content_digest,
        prev_hash: event.prev_hash,
        hash: event.hash,
        global_prev_hash: *global_prev_hash,
        global_hash: *global_hash,
    };
    postcard::to_allocvec(&record).map_err(|error| LogError::Corrupt {
        position,
        reason: format!("cannot encode the record: {error}"),
    })
}

/// Decodes the record stored under the key of `key_position`, checking what the writer guaranteed.
fn decode_record(key_position: u64, bytes: &[u8]) -> Result<RecordedEvent, LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        position: key_position,
        reason,
    };
    match bytes.first() {
        Some(&RECORD_FORMAT_V1) => {}
        Some(other) => return Err(corrupt(format!("unknown record format {other}"))),
        None => return Err(corrupt("empty record".to_owned())),
    }
    let (record, rest) = postcard::take_from_bytes::<StoredRecord<'_>>(bytes)
        .map_err(|error| corrupt(format!("record does not decode: {error}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!(
            "{} trailing bytes after the record",
            rest.len()
        )));
    }
    if record.position != key_position {
        return Err(corrupt(format!(
            "the record says position {}",
            record.position
        )));
    }
    let occurred_on = NaiveDate::from_num_days_from_ce_opt(record.occurred_on_days)
        .ok_or_else(|| corrupt(format!("invalid date {}", record.occurred_on_days)))?;
    let recorded_at = DateTime::from_timestamp_micros(record.recorded_at_micros)
        .ok_or_else(|| corrupt(format!("invalid timestamp {}", record.recorded_at_micros)))?;
    let agency = match record.actor_agency {
        None => None,
        Some(name) => {
            Some(Agency::parse(&name).ok_or_else(|| corrupt(format!("unknown agency `{name}`")))?)
        }
    };
    let role = role_from_code(record.actor_role)
        .ok_or_else(|| corrupt(format!("unknown actor role {}", record.actor_role)))?;
    let encoding = encoding_from_code(record.encoding)
        .ok_or_else(|| corrupt(format!("unknown payload encoding {}", record.encoding)))?;
    Ok(RecordedEvent {
        position: record.position,
        stream: record.stream.into_owned(),
        revision: record.revision,
        event: NewEvent {
            id: Uuid::from_bytes(record.id),
            event_type: record.event_type.into_owned(),
            version: record.version,
            occurred_on,
            recorded_at,
            actor: Actor {
                id: record.actor_id.into_owned(),
                agency,
                role,
            },
            correlation_id: record.correlation_id.map(Uuid::from_bytes),
            causation_id: record.causation_id.map(Uuid::from_bytes),
            encoding,
            payload: record.payload.into_owned(),
            content_digest: record.content_digest,
            prev_hash: record.prev_hash,
            hash: record.hash,
        },
        global_prev_hash: record.global_prev_hash,
        global_hash: record.global_hash,
    })
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// Read access to the log tree. The callers pass the committed head as `bound` where it matters.
#[derive(Debug, Clone)]
struct Reader {
    tree: sled::Tree,
}

impl Reader {
    /// The event at `position`, which must exist.
    fn event_at(&self, position: u64) -> Result<RecordedEvent, LogError> {
        let bytes = self
            .tree
            .get(event_key(position))?
            .ok_or_else(|| LogError::Corrupt {
                position,
                reason: "an index points at a missing event".to_owned(),
            })?;
        decode_record(position, &bytes)
    }

    /// Up to `limit` events from `from` (inclusive) below `bound`, checking that there is no gap.
    fn read_forwards(
        &self,
        from: u64,
        limit: usize,
        bound: u64,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let mut events = Vec::with_capacity(limit.min(1024));
        if from >= bound {
            return Ok(events);
        }
        let mut expected = from;
        for item in self
            .tree
            .range(event_key(from)..event_key(bound))
            .take(limit)
        {
            let (key, value) = item?;
            let position = key_position(&key)?;
            if position != expected {
                return Err(LogError::Corrupt {
                    position: expected,
                    reason: "the event is missing below the committed head".to_owned(),
                });
            }
            events.push(decode_record(position, &value)?);
            expected += 1;
        }
        // The range must have yielded every position up to the bound or the limit.
        let wanted = bound.saturating_sub(from).min(limit as u64);
        if (events.len() as u64) < wanted {
            return Err(LogError::Corrupt {
                position: expected,
                reason: "the event is missing below the committed head".to_owned(),
            });
        }
        Ok(events)
    }

    /// Up to `limit` events from `start` (inclusive) downwards, checking that there is no gap.
    fn read_backwards(&self, start: u64, limit: usize) -> Result<Vec<RecordedEvent>, LogError> {
        let mut events = Vec::with_capacity(limit.min(1024));
        let mut expected = start;
        for item in self
            .tree
            .range(event_key(0)..=event_key(start))
            .rev()
            .take(limit)
        {
            let (key, value) = item?;
            let position = key_position(&key)?;
            if position != expected {
                return Err(LogError::Corrupt {
                    position: expected,
                    reason: "the event is missing below the committed head".to_owned(),
                });
            }
            events.push(decode_record(position, &value)?);
            expected = expected.wrapping_sub(1);
        }
        let wanted = (start + 1).min(limit as u64);
        if (events.len() as u64) < wanted {
            return Err(LogError::Corrupt {
                position: expected,
                reason: "the event is missing below the committed head".to_owned(),
            });
        }
        Ok(events)
    }

    fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
        bound: u64,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let mut events = Vec::with_capacity(limit.min(1024));
        // An invalid name cannot have been written, so it reads as an empty stream.
        if check_stream_name(stream).is_err() {
            return Ok(events);
        }
        let revision = match from {
            StreamFrom::Start => 0,
            StreamFrom::End => u64::MAX,
            StreamFrom::Revision(revision) => revision,
        };
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match direction {
                Direction::Forwards => Box::new(
                    self.tree
                        .range(stream_key(stream, revision)..=stream_key(stream, u64::MAX)),
                ),
                Direction::Backwards => Box::new(
                    self.tree
                        .range(stream_key(stream, 0)..=stream_key(stream, revision))
                        .rev(),
                ),
            };
        for entry in entries {
            if events.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            let position = decode_position(&value, "stream index")?;
            if position >= bound {
                // Revisions and positions grow together, so forwards nothing later is committed;
                // backwards the uncommitted tail comes first and is skipped.
                match direction {
                    Direction::Forwards => break,
                    Direction::Backwards => continue,
                }
            }
            let key_revision = stream_key_revision(&key, stream, position)?;
            let event = self.event_at(position)?;
            if event.stream != stream || event.revision != key_revision {
                return Err(LogError::Corrupt {
                    position,
                    reason: format!(
                        "the stream index says `{stream}`@{key_revision}, the record says `{}`@{}",
                        event.stream, event.revision
                    ),
                });
            }
            events.push(event);
        }
        Ok(events)
    }

    /// The last revision of `stream` among the events below `bound`.
    fn stream_revision(&self, stream: &str, bound: u64) -> Result<Option<u64>, LogError> {
        if check_stream_name(stream).is_err() {
            return Ok(None);
        }
        // The uncommitted tail of a stream is at most one group, so this skips only a few entries.
        for entry in self.tree.scan_prefix(stream_prefix(stream)).rev() {
            let (key, value) = entry?;
            let position = decode_position(&value, "stream index")?;
            if position < bound {
                let revision = stream_key_revision(&key, stream, position)?;
                return Ok(Some(revision));
            }
        }
        Ok(None)
    }

    /// The stored event with `id`, committed or not (the caller applies the bound).
    fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        let Some(value) = self.tree.get(id_key(id))? else {
            return Ok(None);
        };
        let position = decode_position(&value, "id index")?;
        let event = self.event_at(position)?;
        if event.event.id != id {
            return Err(LogError::Corrupt {
                position,
                reason: format!("the id index says {id}, the record says {}", event.event.id),
            });
        }
        Ok(Some(event))
    }
}

/// The revision in a stream index key of `stream`, whose value said `position`.
fn stream_key_revision(key: &[u8], stream: &str, position: u64) -> Result<u64, LogError> {
    let prefix_len = stream.len() + 2;
    match be_u64(key, prefix_len) {
        Some(revision) if key.len() == prefix_len + 8 => Ok(revision),
        _ => Err(LogError::Corrupt {
            position,
            reason: format!("malformed stream index key {key:?} of `{stream}`"),
        }),
    }
}

/// The position in an event key.
fn key_position(key: &[u8]) -> Result<u64, LogError> {
    match (key.first(), key.len(), be_u64(key, 1)) {
        (Some(&EVENT_PREFIX), 9, Some(position)) => Ok(position),
        _ => Err(LogError::Corrupt {
            position: u64::MAX,
            reason: format!("unexpected key {key:?} among the events"),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

/// Feeds one subscription: reads pages by position from the store up to the committed head, then
/// waits for the head to move. Reading by position (never from the write path) is what makes the
/// switch from catch-up to live free of gaps and duplicates.
#[derive(Debug)]
struct SubscriptionTask {
    reader: Reader,
    head: watch::Receiver<Head>,
    /// The next position to deliver.
    next: u64,
    page_size: usize,
    sender: mpsc::Sender<Result<RecordedEvent, LogError>>,
}

impl SubscriptionTask {
    async fn run(mut self) {
        loop {
            let head = *self.head.borrow_and_update();
            while self.next < head.next_position {
                let reader = self.reader.clone();
                let (from, limit, bound) = (self.next, self.page_size, head.next_position);
                let page = run_blocking(move || reader.read_forwards(from, limit, bound)).await;
                match page {
                    Ok(events) => {
                        for event in events {
                            self.next = event.position + 1;
                            // The bounded channel waits here for a slow subscriber (backpressure).
                            if self.sender.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        let _ = self.sender.send(Err(error)).await;
                        return;
                    }
                }
            }
            if head.closed {
                return;
            }
            tokio::select! {
                changed = self.head.changed() => {
                    if changed.is_err() {
                        // The writer is gone without marking the head closed (it panicked); deliver
                        // what was committed and end.
                        let last = self.head.borrow().next_position;
                        self.drain_to(last).await;
                        return;
                    }
                }
                () = self.sender.closed() => return,
            }
        }
    }

    /// Delivers the events below `bound` that are still due.
    async fn drain_to(&mut self, bound: u64) {
        while self.next < bound {
            let reader = self.reader.clone();
            let (from, limit) = (self.next, self.page_size);
            match run_blocking(move || reader.read_forwards(from, limit, bound)).await {
                Ok(events) => {
                    for event in events {
                        self.next = event.position + 1;
                        if self.sender.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) => {
                    let _ = self.sender.send(Err(error)).await;
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StreamHead {
    revision: u64,
    position: u64,
}

/// What the writer knows about a stored (or group-pending) id, enough to answer a retry.
#[derive(Debug, Clone)]
struct StoredId {
    stream: String,
    revision: u64,
    position: u64,
    content_digest: [u8; 32],
}

/// The writer's in-memory view of the log: everything validation needs without reading sled.
#[derive(Debug)]
struct WriterState {
    db: sled::Db,
    heads: HashMap<String, StreamHead>,
    next_position: u64,
    last_hash: [u8; 32],
}

impl WriterState {
    /// Loads the meta value and every stream head, and checks them against the stored events.
    fn load(reader: &Reader, db: sled::Db) -> Result<Self, LogError> {
        let tree = &reader.tree;
        let (next_position, last_hash) = match tree.get(META_KEY)? {
            None => (0, chain::GENESIS),
            Some(value) => {
                let corrupt = |reason: &str| LogError::Corrupt {
                    position: u64::MAX,
                    reason: format!("meta value: {reason}"),
                };
                if value.len() != 41 || value[0] != META_FORMAT_V1 {
                    return Err(corrupt("unknown format"));
                }
                let next = be_u64(&value, 1).ok_or_else(|| corrupt("too short"))?;
                let mut hash = [0; 32];
                hash.copy_from_slice(&value[9..41]);
                (next, hash)
            }
        };

        // The last stored event must be the one just below the recorded next position, and carry the
        // recorded last hash; otherwise the meta value and the events disagree.
        let last_event = tree
            .range(event_key(0)..=event_key(u64::MAX))
            .next_back()
            .transpose()?;
        match (last_event, next_position.checked_sub(1)) {
            (None, None) => {}
            (Some((key, value)), Some(last)) => {
                let position = key_position(&key)?;
                if position != last {
                    return Err(LogError::Corrupt {
                        position,
                        reason: format!("the meta value says the last position is {last}"),
                    });
                }
                let event = decode_record(position, &value)?;
                if event.global_hash != last_hash {
                    return Err(LogError::Corrupt {
                        position,
                        reason: "the meta value's last global hash differs from the event's"
                            .to_owned(),
                    });
                }
            }
            (Some((key, _)), None) => {
                return Err(LogError::Corrupt {
                    position: key_position(&key)?,
                    reason: "events are stored but the meta value is missing".to_owned(),
                });
            }
            (None, Some(last)) => {
                return Err(LogError::Corrupt {
                    position: last,
                    reason: "the meta value counts events that are not stored".to_owned(),
                });
            }
        }

        // Stream heads are the last stream-index key of each stream: keys sort by stream, then by
        // revision, so one scan of the index finds them all. (Keeping a head key per stream instead
        // would cost one more insert per group and stream on the hot write path.)
        let mut heads = HashMap::new();
        for entry in tree.scan_prefix([STREAM_PREFIX]) {
            let (key, value) = entry?;
            let position = decode_position(&value, "stream index")?;
            if key.len() < 1 + 1 + 8 || key[key.len() - 9] != 0 {
                return Err(LogError::Corrupt {
                    position,
                    reason: "a stream index key is malformed".to_owned(),
                });
            }
            let stream =
                std::str::from_utf8(&key[1..key.len() - 9]).map_err(|_| LogError::Corrupt {
                    position,
                    reason: "a stream name is not UTF-8".to_owned(),
                })?;
            let revision = be_u64(&key, key.len() - 8).ok_or_else(|| LogError::Corrupt {
                position,
                reason: "a stream index key is malformed".to_owned(),
            })?;
            if position >= next_position {
                return Err(LogError::Corrupt {
                    position,
                    reason: format!("the index of `{stream}` points beyond the last event"),
                });
            }
            match heads.get_mut(stream) {
                Some(head) => *head = StreamHead { revision, position },
                None => {
                    heads.insert(stream.to_owned(), StreamHead { revision, position });
                }
            }
        }
        Ok(Self {
            db,
            heads,
            next_position,
            last_hash,
        })
    }
}

/// The writer thread's state.
#[derive(Debug)]
struct Writer {
    state: WriterState,
    reader: Reader,
    head: std::sync::Arc<watch::Sender<Head>>,
    config: SledLogConfig,
    stats: std::sync::Arc<WriterStats>,
    /// Set by the flusher when a flush failed: the writer then stops.
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How many applied groups may wait for the flusher before the writer waits too.
const FLUSH_QUEUE_GROUPS: usize = 2;

type Reply = oneshot::Sender<Result<AppendOutcome, LogError>>;

/// A group that is applied and waits to be flushed and acknowledged.
struct Pending {
    replies: Vec<(Reply, Result<AppendOutcome, LogError>)>,
    /// The committed head once this group is durable; `None` when the group wrote nothing.
    next_position: Option<u64>,
}

/// The flusher: takes every applied group waiting, flushes once, publishes the new committed head,
/// then acknowledges them. On a storage error it fails them and marks the log failed.
fn flush_loop(
    db: sled::Db,
    head: std::sync::Arc<watch::Sender<Head>>,
    stats: std::sync::Arc<WriterStats>,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    from_writer: std::sync::mpsc::Receiver<Pending>,
) {
    while let Ok(first) = from_writer.recv() {
        let mut groups = vec![first];
        while let Ok(next) = from_writer.try_recv() {
            groups.push(next);
        }
        let next_position = groups.iter().filter_map(|group| group.next_position).max();
        if failed.load(std::sync::atomic::Ordering::Acquire) {
            // An earlier flush failed: what sled holds is unknown, so nothing is acknowledged any
            // more (a replay may point into a group that never became durable); rejections stay.
            for group in groups {
                for (reply, result) in group.replies {
                    let result = match result {
                        Ok(_) => Err(LogError::Closed),
                        rejection => rejection,
                    };
                    let _ = reply.send(result);
                }
            }
            continue;
        }
        let flushed = if next_position.is_some() {
            let started = std::time::Instant::now();
            let result = db.flush().map(drop);
            stats.flush_ns.fetch_add(
                started.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            result
        } else {
            Ok(())
        };
        match flushed {
            Ok(()) => {
                if let Some(next_position) = next_position {
                    // Publishing before replying means an acknowledged writer reads its own events.
                    head.send_modify(|head| head.next_position = next_position);
                }
                for group in groups {
                    for (reply, result) in group.replies {
                        // The appender may have gone away; the write stands regardless.
                        let _ = reply.send(result);
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "the event log stops after a failed flush");
                failed.store(true, std::sync::atomic::Ordering::Release);
                for group in groups {
                    for (reply, result) in group.replies {
                        let result = match result {
                            Err(rejection) => Err(rejection),
                            Ok(_) => Err(LogError::Storage(error.clone())),
                        };
                        let _ = reply.send(result);
                    }
                }
            }
        }
    }
}

/// The changes a group makes, kept apart from [`WriterState`] until the group is durable.
#[derive(Debug)]
struct Group {
    batch: sled::Batch,
    heads: HashMap<String, StreamHead>,
    ids: HashMap<Uuid, StoredId>,
    next_position: u64,
    last_hash: [u8; 32],
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<Request>) {
        // Groups are flushed by a second thread, so the writer checks and applies the next group
        // while the previous one is being flushed. A group is acknowledged only after a flush that
        // began after its batch was applied.
        let (to_flusher, from_writer) =
            std::sync::mpsc::sync_channel::<Pending>(FLUSH_QUEUE_GROUPS);
        let flusher = {
            let db = self.state.db.clone();
            let head = self.head.clone();
            let stats = self.stats.clone();
            let failed = self.failed.clone();
            std::thread::Builder::new()
                .name("journey-log-flush".to_owned())
                .spawn(move || flush_loop(db, head, stats, failed, from_writer))
        };
        let flusher = match flusher {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(%error, "cannot start the flush thread; the event log stays closed");
                self.head.send_modify(|head| head.closed = true);
                return;
            }
        };
        // How many requests a group usually gathers (an exponential moving average). While appenders
        // are concurrent, the writer lingers briefly for that many, because one flush for many
        // appends is the whole point of group commit; a lone appender never waits.
        let mut usual_group_requests = 1.0f64;
        while let Some(first) = receiver.blocking_recv() {
            let mut events = first.events.len();
            let mut requests = vec![first];
            let linger_until = std::time::Instant::now() + self.config.group_linger;
            while requests.len() < self.config.group_max_requests
                && events < self.config.group_max_events
            {
                match receiver.try_recv() {
                    Ok(request) => {
                        events += request.events.len();
                        requests.push(request);
                    }
                    Err(mpsc::error::TryRecvError::Empty)
                        if (requests.len() as f64) < usual_group_requests * 0.8
                            && std::time::Instant::now() < linger_until =>
                    {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                    Err(_) => break,
                }
            }
            usual_group_requests = 0.8 * usual_group_requests + 0.2 * requests.len() as f64;
            if self.failed.load(std::sync::atomic::Ordering::Acquire) {
                for request in requests {
                    let _ = request.reply.send(Err(LogError::Closed));
                }
                break;
            }
            if let Err(error) = self.commit(requests, &to_flusher) {
                // The store failed to apply or flush a group. What sled holds now is unknown to this
                // process, so the writer stops; reopening recovers the last consistent state.
                tracing::error!(%error, "the event log writer stops after a storage error");
                break;
            }
        }
        // Dropping the receiver fails the requests still queued (after a storage error) with
        // `Closed`; after a close the queue is already empty.
        drop(receiver);
        // The flusher acknowledges what is still pending, then ends.
        drop(to_flusher);
        if flusher.join().is_err() {
            tracing::error!("the event log flush thread panicked");
        }
        if let Err(error) = self.state.db.flush() {
            tracing::error!(%error, "the final flush of the event log failed");
        }
        self.head.send_modify(|head| head.closed = true);
    }

    /// Validates and applies one group, then hands it to the flusher, which acknowledges it once it
    /// is durable. An error means the store failed; every request of the group has been told so.
    fn commit(
        &mut self,
        requests: Vec<Request>,
        to_flusher: &std::sync::mpsc::SyncSender<Pending>,
    ) -> Result<(), LogError> {
        let mut group = Group {
            batch: sled::Batch::default(),
            heads: HashMap::new(),
            ids: HashMap::new(),
            next_position: self.state.next_position,
            last_hash: self.state.last_hash,
        };
        let started = std::time::Instant::now();
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            let result = self.prepare(&request, &mut group);
            replies.push((request.reply, result));
        }
        let prepared = std::time::Instant::now();
        let writes = group.next_position != self.state.next_position;
        if writes {
            group.batch.insert(
                META_KEY,
                &meta_value(group.next_position, &group.last_hash)[..],
            );
            if let Err(error) = self.reader.tree.apply_batch(group.batch) {
                for (reply, result) in replies {
                    // Rejections stay as they are; everything else shares the storage error,
                    // including replays, which may point into the failed batch.
                    let result = match result {
                        Err(rejection) => Err(rejection),
                        Ok(_) => Err(LogError::Storage(error.clone())),
                    };
                    let _ = reply.send(result);
                }
                return Err(LogError::Storage(error));
            }
            let nanos = |from: std::time::Instant, to: std::time::Instant| {
                to.saturating_duration_since(from).as_nanos() as u64
            };
            let applied = std::time::Instant::now();
            self.stats.prepare_ns.fetch_add(
                nanos(started, prepared),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.stats.apply_ns.fetch_add(
                nanos(prepared, applied),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.stats
                .groups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.stats.events.fetch_add(
                group.next_position - self.state.next_position,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.state.heads.extend(group.heads);
            self.state.next_position = group.next_position;
            self.state.last_hash = group.last_hash;
        }
        // Every reply goes through the flusher, also rejections and replays: a replay may point into
        // a group that is applied but not yet durable, and replies keep their order that way.
        let pending = Pending {
            replies,
            next_position: writes.then_some(self.state.next_position),
        };
        to_flusher.send(pending).map_err(|_| LogError::Closed)
    }

    /// What is known about `id`: first the current group, then the store.
    fn lookup_id(&self, id: Uuid, group: &Group) -> Result<Option<StoredId>, LogError> {
        if let Some(stored) = group.ids.get(&id) {
            return Ok(Some(stored.clone()));
        }
        Ok(self.reader.find_event(id)?.map(|event| StoredId {
            stream: event.stream,
            revision: event.revision,
            position: event.position,
            content_digest: event.event.content_digest,
        }))
    }

    /// Validates `request` against the state plus the group so far and, if it holds, adds its writes
    /// to the group. A rejected request leaves the group untouched.
    fn prepare(&self, request: &Request, group: &mut Group) -> Result<AppendOutcome, LogError> {
        let stream = request.stream.as_str();

        // Idempotency first: a retry of a stored append answers the same whatever the stream's
        // revision is now.
        let mut stored: Vec<(Uuid, StoredId)> = Vec::new();
        let mut first_new = None;
        for event in &request.events {
            match self.lookup_id(event.id, group)? {
                Some(found) => {
                    if found.stream != stream {
                        return Err(LogError::DuplicateIdInOtherStream {
                            id: event.id,
                            stream: stream.to_owned(),
                            stored_stream: found.stream,
                        });
                    }
                    if found.content_digest != event.content_digest {
                        return Err(LogError::DuplicateIdConflict {
                            id: event.id,
                            position: found.position,
                        });
                    }
                    stored.push((event.id, found));
                }
                None => {
                    first_new.get_or_insert(event.id);
                }
            }
        }
        match (stored.first(), first_new) {
            (Some((stored_id, _)), Some(new)) => {
                return Err(LogError::PartialDuplicate {
                    stored: *stored_id,
                    new,
                });
            }
            (Some(_), None) => return Ok(replay_outcome(&stored)),
            (None, _) => {}
        }

        let current = group
            .heads
            .get(stream)
            .or_else(|| self.state.heads.get(stream))
            .map(|head| head.revision);
        let accepted = match request.expected {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => current.is_none(),
            ExpectedRevision::StreamExists => current.is_some(),
            ExpectedRevision::Exact(revision) => current == Some(revision),
        };
        if !accepted {
            return Err(LogError::WrongExpectedRevision {
                stream: stream.to_owned(),
                expected: request.expected,
                actual: current,
            });
        }

        // Encode everything before touching the group, so that a failure leaves it unchanged.
        let first_position = group.next_position;
        let first_revision = current.map_or(0, |revision| revision + 1);
        let mut prev = group.last_hash;
        let mut records = Vec::with_capacity(request.events.len());
        for (offset, event) in (0u64..).zip(&request.events) {
            let position = first_position + offset;
            let revision = first_revision + offset;
            let hash = chain::global_hash(&prev, position, &event.hash);
            let bytes = encode_record(position, stream, revision, event, &prev, &hash)?;
            records.push((position, revision, bytes));
            prev = hash;
        }

        let mut last = StreamHead {
            revision: first_revision,
            position: first_position,
        };
        for ((position, revision, bytes), event) in records.into_iter().zip(&request.events) {
            group.batch.insert(&event_key(position)[..], bytes);
            group
                .batch
                .insert(stream_key(stream, revision), &position.to_be_bytes()[..]);
            group
                .batch
                .insert(&id_key(event.id)[..], &position.to_be_bytes()[..]);
            group.ids.insert(
                event.id,
                StoredId {
                    stream: stream.to_owned(),
                    revision,
                    position,
                    content_digest: event.content_digest,
                },
            );
            last = StreamHead { revision, position };
        }
        group.heads.insert(stream.to_owned(), last);
        group.next_position = last.position + 1;
        group.last_hash = prev;

        Ok(AppendOutcome {
            first_position,
            last_position: last.position,
            stream_revision: last.revision,
            replayed: false,
        })
    }
}

/// The outcome of the original append, rebuilt from its stored events.
fn replay_outcome(stored: &[(Uuid, StoredId)]) -> AppendOutcome {
    let first_position = stored
        .iter()
        .map(|(_, found)| found.position)
        .min()
        .unwrap_or_default();
    let last = stored
        .iter()
        .map(|(_, found)| found)
        .max_by_key(|found| found.position);
    AppendOutcome {
        first_position,
        last_position: last.map_or(first_position, |found| found.position),
        stream_revision: last.map_or(0, |found| found.revision),
        replayed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_support::test_event;
    use crate::store::StoreConfig;

    fn rich_event() -> NewEvent {
        let mut event = test_event(Uuid::new_v4());
        event.actor = Actor {
            id: "cw-17".to_owned(),
            agency: Some(Agency::Jobcenter),
            role: ActorRole::Caseworker,
        };
        event.correlation_id = Some(Uuid::new_v4());
        event.causation_id = Some(Uuid::new_v4());
        event.encoding = PayloadEncoding::Sealed;
        event.payload = (0..=255).collect();
        event.prev_hash = [7; 32];
        event
    }

    fn small_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = StoreConfig {
            cache_capacity_bytes: 8 * 1024 * 1024,
        };
        let store = Store::open(dir.path(), &config).expect("the store opens");
        (dir, store)
    }

    #[test]
    fn a_record_round_trips_with_every_field() {
        let event = rich_event();
        let bytes = encode_record(42, "person-x", 3, &event, &[1; 32], &[2; 32]).expect("encodes");
        assert_eq!(bytes[0], RECORD_FORMAT_V1, "the format byte comes first");

        let recorded = decode_record(42, &bytes).expect("decodes");

        assert_eq!(
            recorded,
            RecordedEvent {
                position: 42,
                stream: "person-x".to_owned(),
                revision: 3,
                event,
                global_prev_hash: [1; 32],
                global_hash: [2; 32],
            }
        );
    }

    #[test]
    fn a_record_under_another_position_is_corrupt() {
        let bytes = encode_record(42, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");

        let error = decode_record(43, &bytes).expect_err("the key and the record disagree");

        assert!(
            matches!(error, LogError::Corrupt { position: 43, ref reason } if reason.contains("42")),
            "{error}"
        );
    }

    #[test]
    fn unknown_formats_truncation_and_trailing_bytes_are_corrupt() {
        let bytes = encode_record(0, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");
        let mut unknown_format = bytes.clone();
        unknown_format[0] = 99;
        let truncated = &bytes[..bytes.len() - 1];
        let mut trailing = bytes.clone();
        trailing.push(0);

        for broken in [&unknown_format[..], truncated, &trailing[..], &[][..]] {
            let error = decode_record(0, broken).expect_err("broken bytes do not decode");
            assert!(
                matches!(error, LogError::Corrupt { position: 0, .. }),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn a_damaged_event_is_reported_as_corrupt_on_read() {
        let (_dir, store) = small_store();
        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
        log.append("s", ExpectedRevision::Any, vec![test_event(Uuid::new_v4())])
            .await
            .expect("appends");
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        tree.insert(event_key(0), &b"\x01garbage"[..])
            .expect("overwrites");

        let error = log.read_all(0, 10).await.expect_err("the damage is seen");

        assert!(
            matches!(error, LogError::Corrupt { position: 0, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_missing_event_below_the_head_is_reported_as_corrupt() {
        let (_dir, store) = small_store();
        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
        for _ in 0..3 {
            log.append("s", ExpectedRevision::Any, vec![test_event(Uuid::new_v4())])
                .await
                .expect("appends");
        }
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        tree.remove(event_key(1)).expect("removes");

        let forwards = log.read_all(0, 10).await.expect_err("the gap is seen");
        let backwards = log
            .read_all_backwards(None, 10)
            .await
            .expect_err("the gap is seen");

        assert!(
            matches!(forwards, LogError::Corrupt { position: 1, .. }),
            "{forwards}"
        );
        assert!(
            matches!(backwards, LogError::Corrupt { position: 1, .. }),
            "{backwards}"
        );
    }

    #[tokio::test]
    async fn a_malformed_stream_index_key_is_corrupt_not_a_panic() {
        let (_dir, store) = small_store();
        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
        log.append("s", ExpectedRevision::Any, vec![test_event(Uuid::new_v4())])
            .await
            .expect("appends");
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        let mut short_key = stream_prefix("s");
        short_key.push(1);
        tree.insert(short_key, &0u64.to_be_bytes()[..])
            .expect("inserts");

        let revision = log
            .stream_revision("s")
            .await
            .expect_err("the damage is seen");
        let read = log
            .read_stream("s", StreamFrom::Start, Direction::Forwards, 10)
            .await
            .expect_err("the damage is seen");

        assert!(matches!(revision, LogError::Corrupt { .. }), "{revision}");
        assert!(matches!(read, LogError::Corrupt { .. }), "{read}");
    }

    #[test]
    fn events_without_a_meta_value_refuse_to_open() {
        let (_dir, store) = small_store();
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        let bytes = encode_record(0, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");
        tree.insert(event_key(0), bytes).expect("inserts");

        let error = SledLog::open(&store, SledLogConfig::default()).expect_err("inconsistent");

        assert!(
            matches!(error, LogError::Corrupt { position: 0, .. }),
            "{error}"
        );
    }

    #[test]
    fn keys_sort_by_position_and_revision() {
        assert!(event_key(255) < event_key(256));
        assert!(stream_key("a", 255) < stream_key("a", 256));
        // The NUL separator keeps `a` apart from `ab`: every key of `a` sorts before `ab`'s.
        assert!(stream_key("a", u64::MAX) < stream_key("ab", 0));
        assert!(!stream_key("ab", 0).starts_with(&stream_prefix("a")));
    }
}
