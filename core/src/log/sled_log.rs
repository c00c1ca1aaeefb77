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
//! | `x` ‖ first position of a group (u64 BE) | index format byte ‖ the postcard-encoded [`IndexRun`]s |
//! | `m` | meta format byte ‖ next position (u64 BE) ‖ last global hash (32 bytes) |
//!
//! Both `e` and `x` keys grow with the position, so a group commit appends to the right edge of the
//! B-tree only (about two leaves and the meta key), whatever streams and ids it carries. An `x` key
//! holds the index entries of the events from its position on: runs of consecutive events of one
//! stream (stream, first revision, ids); the positions are implicit, because the `x` keys tile the
//! positions without gap or overlap. It is written in the same batch as the group's events, so the
//! index and the events never disagree after a crash.
//!
//! The index is held in memory ([`Index`]: id → position, stream → positions by revision), built
//! at open by one scan of the `x` keys, and updated by the writer after every applied group. Reads
//! of streams and ids, and the writer's idempotency and revision checks, use it without touching the
//! B-tree.
//!
//! Meta format 1 kept a `s` ‖ stream ‖ 0x00 ‖ revision key and an `i` ‖ uuid key per event. Opening
//! such a store migrates it: `x` keys are written from the records, the meta format becomes 2, and
//! the old keys are removed, each step flushed, so that a crash at any point leaves a store that the
//! next open finishes migrating.
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
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::{
    check_append, check_retry, is_valid_stream_name, AllFrom, AppendOutcome, Direction, EventLog,
    ExpectedRevision, GlobalLink, LogActor, LogError, NewEvent, PayloadEncoding, Position,
    RecordedEvent, StreamFrom, Subscription, READ_LIMIT_MAX,
};
use crate::chain;
use crate::store::Store;

mod copy;
pub use copy::{LogCopyHead, LogRestore};

/// The name of the sled tree that holds the log.
const TREE_NAME: &str = "log";

const EVENT_PREFIX: u8 = b'e';
const INDEX_PREFIX: u8 = b'x';
/// The stream and id index keys of meta format 1, removed by the migration.
const LEGACY_STREAM_PREFIX: u8 = b's';
const LEGACY_ID_PREFIX: u8 = b'i';
const META_KEY: &[u8] = b"m";

/// The format of a stored record. A new format gets a new number, and the reader decodes by number.
const RECORD_FORMAT_V1: u8 = 1;
/// The meta format of the layout with an `s` and an `i` key per event (migrated at open).
const META_FORMAT_V1: u8 = 1;
/// The meta format of the layout with one `x` index key per group.
const META_FORMAT_V2: u8 = 2;
/// The format of an `x` value.
const INDEX_FORMAT_V1: u8 = 1;
/// Events per `x` key written by the migration.
const MIGRATION_CHUNK_EVENTS: usize = 4096;

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
    /// Opens the log in `store` (migrating a store of meta format 1), loads the index into memory and
    /// starts the writer thread.
    ///
    /// Open at most one `SledLog` per store at a time: the writer's in-memory state assumes that it
    /// is the only writer of the `log` tree. The index of every id and stream revision is held in
    /// memory (about 45 to 65 bytes per event), so that validating an append and finding an event
    /// by id or stream revision need no B-tree search.
    pub fn open(store: &Store, config: SledLogConfig) -> Result<SledLog, LogError> {
        let config = config.sanitized();
        let db = store.db().clone();
        let tree = db.open_tree(TREE_NAME)?;
        let (state, index) = WriterState::load(&tree, db.clone())?;
        let reader = Reader {
            tree,
            index: std::sync::Arc::new(RwLock::new(index)),
        };
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
            .map_err(|error| LogError::Storage(Box::new(error)))?;
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

    /// How many events the in-memory index holds and an estimate of its heap bytes.
    pub fn index_footprint(&self) -> (u64, u64) {
        let index = read_index(&self.reader.index);
        (index.ids.len() as u64, index.heap_bytes())
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
        check_append(stream, &events)?;

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

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        let bound = self.committed();
        if limit == 0 || bound == 0 {
            return Ok(Vec::new());
        }
        let last = bound - 1;
        // The embedded log numbers its events densely, so it alone may step from a position to the
        // next; everything above the seam asks it with `AllFrom::Excluding`.
        match direction {
            Direction::Forwards => {
                let start = match from {
                    AllFrom::Start => 0,
                    AllFrom::End => return Ok(Vec::new()),
                    AllFrom::Including(position) => position.raw(),
                    AllFrom::Excluding(position) => position.raw().saturating_add(1),
                };
                if start >= bound {
                    return Ok(Vec::new());
                }
                self.blocking_read(move |reader| reader.read_forwards(start, limit, bound))
                    .await
            }
            Direction::Backwards => {
                // A start at or beyond the head reads from the last committed event.
                let start = match from {
                    AllFrom::Start => return Ok(Vec::new()),
                    AllFrom::End => last,
                    AllFrom::Including(position) => position.raw().min(last),
                    AllFrom::Excluding(position) => match position.raw().checked_sub(1) {
                        Some(before) => before.min(last),
                        None => return Ok(Vec::new()),
                    },
                };
                self.blocking_read(move |reader| reader.read_backwards(start, limit))
                    .await
            }
        }
    }

    async fn subscribe_all(&self, from: AllFrom) -> Result<Subscription, LogError> {
        let next = match from {
            AllFrom::Start => 0,
            AllFrom::End => self.committed(),
            AllFrom::Including(position) => position.raw(),
            AllFrom::Excluding(position) => position.raw().saturating_add(1),
        };
        let (sender, receiver) = mpsc::channel(self.config.subscription_buffer);
        let task = SubscriptionTask {
            reader: self.reader.clone(),
            head: self.head.clone(),
            next,
            page_size: self.config.subscription_page_size,
            sender,
        };
        tokio::spawn(task.run());
        Ok(Subscription::new(receiver))
    }

    async fn find_event(&self, stream: &str, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        let bound = self.committed();
        match self.reader.id_position(id) {
            Some(position) if position < bound => {
                let event = self.reader.indexed_event(id, position)?;
                Ok((event.stream == stream).then_some(event))
            }
            _ => Ok(None),
        }
    }

    async fn find_event_in_any_stream(&self, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        let bound = self.committed();
        match self.reader.id_position(id) {
            Some(position) if position < bound => {
                Ok(Some(self.reader.indexed_event(id, position)?))
            }
            _ => Ok(None),
        }
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError> {
        let bound = self.committed();
        Ok(self.reader.stream_revision(stream, bound))
    }

    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, LogError> {
        let bound = self.committed();
        Ok(self.reader.stream_names(prefix, bound))
    }

    async fn last_position(&self) -> Result<Option<Position>, LogError> {
        Ok(self.committed().checked_sub(1).map(Position))
    }

    fn keeps_global_chain(&self) -> bool {
        true
    }

    async fn close(&self) -> Result<(), LogError> {
        self.stop_accepting();
        // The writer finishes the queued requests and then marks the head closed. An error here means
        // the writer is already gone, which is just as final.
        let mut head = self.head.clone();
        let _ = head.wait_for(|head| head.closed).await;
        if let Some(handle) = self.take_writer() {
            let joined = run_blocking(move || {
                handle
                    .join()
                    .map_err(|_| LogError::Storage("the event log writer thread panicked".into()))
            })
            .await;
            joined?;
        }
        let db = self.db.clone();
        run_blocking(move || db.flush().map(drop).map_err(LogError::from)).await
    }
}

/// sled's errors reach callers as the engine error behind [`LogError::Storage`], so that the contract
/// names no engine type.
impl From<sled::Error> for LogError {
    fn from(error: sled::Error) -> Self {
        LogError::Storage(Box::new(error))
    }
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

fn index_key(first_position: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = INDEX_PREFIX;
    key[1..].copy_from_slice(&first_position.to_be_bytes());
    key
}

fn meta_value(format: u8, next_position: u64, last_hash: &[u8; 32]) -> [u8; 41] {
    let mut value = [0; 41];
    value[0] = format;
    value[1..9].copy_from_slice(&next_position.to_be_bytes());
    value[9..].copy_from_slice(last_hash);
    value
}

/// Reads a big-endian u64 at `offset` of `bytes`, `None` when it is too short.
fn be_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let slice = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(slice.try_into().ok()?))
}

/// A run of consecutive events of one stream in an `x` value: the events at the next
/// `ids.len()` positions have revisions `first_revision`, `first_revision + 1`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IndexRun<'a> {
    stream: Cow<'a, str>,
    first_revision: u64,
    ids: Vec<[u8; 16]>,
}

/// Appends the event `id` at `revision` of `stream` to `runs`, extending the last run if it can.
fn push_run(runs: &mut Vec<IndexRun<'static>>, stream: &str, revision: u64, id: Uuid) {
    if let Some(last) = runs.last_mut() {
        if last.stream == stream && last.first_revision + last.ids.len() as u64 == revision {
            last.ids.push(id.into_bytes());
            return;
        }
    }
    runs.push(IndexRun {
        stream: Cow::Owned(stream.to_owned()),
        first_revision: revision,
        ids: vec![id.into_bytes()],
    });
}

/// The stored bytes of an `x` value.
fn encode_index_value(first_position: u64, runs: &[IndexRun<'_>]) -> Result<Vec<u8>, LogError> {
    let mut bytes = vec![INDEX_FORMAT_V1];
    postcard::to_io(runs, &mut bytes).map_err(|error| LogError::Corrupt {
        position: Position::from_raw(first_position),
        reason: format!("cannot encode the index entries: {error}"),
    })?;
    Ok(bytes)
}

/// Decodes the `x` value of the key at `first_position`.
fn decode_index_value(first_position: u64, bytes: &[u8]) -> Result<Vec<IndexRun<'_>>, LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        position: Position::from_raw(first_position),
        reason: format!("index entries: {reason}"),
    };
    match bytes.first() {
        Some(&INDEX_FORMAT_V1) => {}
        Some(other) => return Err(corrupt(format!("unknown format {other}"))),
        None => return Err(corrupt("empty value".to_owned())),
    }
    let (runs, rest) = postcard::take_from_bytes::<Vec<IndexRun<'_>>>(&bytes[1..])
        .map_err(|error| corrupt(format!("do not decode: {error}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    if runs.is_empty() {
        return Err(corrupt("no entries".to_owned()));
    }
    for run in &runs {
        if run.ids.is_empty() {
            return Err(corrupt(format!("an empty run of `{}`", run.stream)));
        }
        if !is_valid_stream_name(&run.stream) {
            return Err(corrupt(format!("invalid stream name {:?}", run.stream)));
        }
    }
    Ok(runs)
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

fn encoding_code(encoding: PayloadEncoding) -> u8 {
    match encoding {
        PayloadEncoding::Json => 0,
        PayloadEncoding::Sealed => 1,
        PayloadEncoding::Opaque => 2,
    }
}

fn encoding_from_code(code: u8) -> Option<PayloadEncoding> {
    match code {
        0 => Some(PayloadEncoding::Json),
        1 => Some(PayloadEncoding::Sealed),
        2 => Some(PayloadEncoding::Opaque),
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
        actor_agency: event.actor.agency.as_deref().map(Cow::Borrowed),
        actor_role: event.actor.role,
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
        position: Position::from_raw(position),
        reason: format!("cannot encode the record: {error}"),
    })
}

/// Decodes the record stored under the key of `key_position`, checking what the writer guaranteed.
fn decode_record(key_position: u64, bytes: &[u8]) -> Result<RecordedEvent, LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        position: Position::from_raw(key_position),
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
    let encoding = encoding_from_code(record.encoding)
        .ok_or_else(|| corrupt(format!("unknown payload encoding {}", record.encoding)))?;
    Ok(RecordedEvent {
        position: Position(record.position),
        stream: record.stream.into_owned(),
        revision: record.revision,
        event: NewEvent {
            id: Uuid::from_bytes(record.id),
            event_type: record.event_type.into_owned(),
            version: record.version,
            occurred_on,
            recorded_at,
            actor: LogActor {
                id: record.actor_id.into_owned(),
                agency: record.actor_agency.map(Cow::into_owned),
                role: record.actor_role,
            },
            correlation_id: record.correlation_id.map(Uuid::from_bytes),
            causation_id: record.causation_id.map(Uuid::from_bytes),
            encoding,
            payload: record.payload.into_owned(),
            content_digest: record.content_digest,
            prev_hash: record.prev_hash,
            hash: record.hash,
        },
        global_link: Some(GlobalLink {
            prev_hash: record.global_prev_hash,
            hash: record.global_hash,
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// The in-memory index of the whole log: what the `x` keys hold, applied and not yet committed
/// alike (readers cut it at the committed head).
#[derive(Debug, Default)]
struct Index {
    /// Event id → position.
    ids: HashMap<Uuid, u64>,
    /// Stream → the position of each revision (revision = offset).
    streams: HashMap<String, Vec<u64>>,
}

impl Index {
    fn with_capacity(events: u64) -> Self {
        Self {
            ids: HashMap::with_capacity(usize::try_from(events).unwrap_or(0)),
            streams: HashMap::new(),
        }
    }

    /// Adds the event `id` at `revision` of `stream` and at `position`, which must be the stream's
    /// next revision and a later position than its last, with an id not indexed yet.
    fn add(&mut self, id: Uuid, stream: &str, revision: u64, position: u64) -> Result<(), String> {
        let positions = match self.streams.get_mut(stream) {
            Some(positions) => positions,
            None => self.streams.entry(stream.to_owned()).or_default(),
        };
        if positions.len() as u64 != revision {
            return Err(format!(
                "`{stream}` revision {revision} does not follow {} stored revisions",
                positions.len()
            ));
        }
        if positions.last().is_some_and(|&last| last >= position) {
            return Err(format!(
                "`{stream}` revision {revision} at position {position} is not after its revision before"
            ));
        }
        match self.ids.entry(id) {
            std::collections::hash_map::Entry::Occupied(stored) => {
                return Err(format!(
                    "event id {id} at position {position} is already indexed at position {}",
                    stored.get()
                ));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(position);
            }
        }
        positions.push(position);
        Ok(())
    }

    /// The stream's last revision and its position, committed or not.
    fn head(&self, stream: &str) -> Option<StreamHead> {
        let positions = self.streams.get(stream)?;
        let position = *positions.last()?;
        Some(StreamHead {
            revision: positions.len() as u64 - 1,
            position,
        })
    }

    /// How many revisions of `stream` lie below `bound`.
    fn visible_revisions(&self, stream: &str, bound: u64) -> usize {
        self.streams.get(stream).map_or(0, |positions| {
            positions.partition_point(|&position| position < bound)
        })
    }

    /// An estimate of the heap bytes the index holds: the hash tables at their capacity (a control
    /// byte per bucket), the position vectors at theirs, and the stream names.
    fn heap_bytes(&self) -> u64 {
        let ids = self.ids.capacity() * (std::mem::size_of::<(Uuid, u64)>() + 1);
        let streams = self.streams.capacity() * (std::mem::size_of::<(String, Vec<u64>)>() + 1);
        let owned: usize = self
            .streams
            .iter()
            .map(|(name, positions)| name.capacity() + positions.capacity() * 8)
            .sum();
        (ids + streams + owned) as u64
    }
}

type SharedIndex = std::sync::Arc<RwLock<Index>>;

fn read_index(index: &SharedIndex) -> std::sync::RwLockReadGuard<'_, Index> {
    index.read().unwrap_or_else(PoisonError::into_inner)
}

/// Read access to the log tree and the index. The callers pass the committed head as `bound` where
/// it matters.
#[derive(Debug, Clone)]
struct Reader {
    tree: sled::Tree,
    index: SharedIndex,
}

impl Reader {
    /// The event at `position`, which must exist.
    fn event_at(&self, position: u64) -> Result<RecordedEvent, LogError> {
        let bytes = self
            .tree
            .get(event_key(position))?
            .ok_or_else(|| LogError::Corrupt {
                position: Position::from_raw(position),
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
                    position: Position::from_raw(expected),
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
                position: Position::from_raw(expected),
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
                    position: Position::from_raw(expected),
                    reason: "the event is missing below the committed head".to_owned(),
                });
            }
            events.push(decode_record(position, &value)?);
            expected = expected.wrapping_sub(1);
        }
        let wanted = (start + 1).min(limit as u64);
        if (events.len() as u64) < wanted {
            return Err(LogError::Corrupt {
                position: Position::from_raw(expected),
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
        // (revision, position) of the events to read, taken under the lock, read after it.
        let wanted: Vec<(u64, u64)> = {
            let index = read_index(&self.index);
            let Some(positions) = index.streams.get(stream) else {
                return Ok(Vec::new());
            };
            // Revisions and positions grow together, so the committed revisions are a prefix.
            let visible = positions.partition_point(|&position| position < bound);
            let revision = |from: u64| usize::try_from(from).unwrap_or(usize::MAX);
            let pick = |offset: usize| (offset as u64, positions[offset]);
            match direction {
                Direction::Forwards => {
                    let start = match from {
                        StreamFrom::Start => 0,
                        StreamFrom::End => usize::MAX,
                        StreamFrom::Revision(from) => revision(from),
                    };
                    (start.min(visible)..visible)
                        .take(limit)
                        .map(pick)
                        .collect()
                }
                Direction::Backwards => {
                    let Some(last) = visible.checked_sub(1) else {
                        return Ok(Vec::new());
                    };
                    let start = match from {
                        StreamFrom::Start => 0,
                        StreamFrom::End => last,
                        StreamFrom::Revision(from) => revision(from).min(last),
                    };
                    (0..=start).rev().take(limit).map(pick).collect()
                }
            }
        };
        let mut events = Vec::with_capacity(wanted.len());
        for (revision, position) in wanted {
            let event = self.event_at(position)?;
            if event.stream != stream || event.revision != revision {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(position),
                    reason: format!(
                        "the index says `{stream}`@{revision}, the record says `{}`@{}",
                        event.stream, event.revision
                    ),
                });
            }
            events.push(event);
        }
        Ok(events)
    }

    /// The last revision of `stream` among the events below `bound`.
    fn stream_revision(&self, stream: &str, bound: u64) -> Option<u64> {
        let visible = read_index(&self.index).visible_revisions(stream, bound);
        (visible as u64).checked_sub(1)
    }

    /// The streams beginning with `prefix` whose first event lies below `bound`, sorted.
    fn stream_names(&self, prefix: &str, bound: u64) -> Vec<String> {
        let index = read_index(&self.index);
        let mut names: Vec<String> = index
            .streams
            .iter()
            .filter(|(name, positions)| {
                name.starts_with(prefix) && positions.first().is_some_and(|first| *first < bound)
            })
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// The position of the event with `id`, committed or not (the caller applies the bound).
    fn id_position(&self, id: Uuid) -> Option<u64> {
        read_index(&self.index).ids.get(&id).copied()
    }

    /// The stored event at `position`, which the index says has `id`.
    fn indexed_event(&self, id: Uuid, position: u64) -> Result<RecordedEvent, LogError> {
        let event = self.event_at(position)?;
        if event.event.id != id {
            return Err(LogError::Corrupt {
                position: Position::from_raw(position),
                reason: format!("the index says {id}, the record says {}", event.event.id),
            });
        }
        Ok(event)
    }
}

/// The position in an event key.
fn key_position(key: &[u8]) -> Result<u64, LogError> {
    match (key.first(), key.len(), be_u64(key, 1)) {
        (Some(&EVENT_PREFIX), 9, Some(position)) => Ok(position),
        _ => Err(LogError::Corrupt {
            position: Position::from_raw(u64::MAX),
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
                            self.next = event.position.raw() + 1;
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
                        self.next = event.position.raw() + 1;
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

/// The writer's in-memory view of the log besides the index.
#[derive(Debug)]
struct WriterState {
    db: sled::Db,
    next_position: u64,
    last_hash: [u8; 32],
}

impl WriterState {
    /// Loads the meta value and the index (migrating a store of meta format 1), and checks them
    /// against the stored events.
    fn load(tree: &sled::Tree, db: sled::Db) -> Result<(Self, Index), LogError> {
        let (format, next_position, last_hash) = match tree.get(META_KEY)? {
            None => (None, 0, chain::GENESIS),
            Some(value) => {
                let corrupt = |reason: &str| LogError::Corrupt {
                    position: Position::from_raw(u64::MAX),
                    reason: format!("meta value: {reason}"),
                };
                if value.len() != 41 || ![META_FORMAT_V1, META_FORMAT_V2].contains(&value[0]) {
                    return Err(corrupt("unknown format"));
                }
                let next = be_u64(&value, 1).ok_or_else(|| corrupt("too short"))?;
                let mut hash = [0; 32];
                hash.copy_from_slice(&value[9..41]);
                (Some(value[0]), next, hash)
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
                        position: Position::from_raw(position),
                        reason: format!("the meta value says the last position is {last}"),
                    });
                }
                let event = decode_record(position, &value)?;
                if event.global_link.map(|link| link.hash) != Some(last_hash) {
                    return Err(LogError::Corrupt {
                        position: Position::from_raw(position),
                        reason: "the meta value's last global hash differs from the event's"
                            .to_owned(),
                    });
                }
            }
            (Some((key, _)), None) => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(key_position(&key)?),
                    reason: "events are stored but the meta value is missing".to_owned(),
                });
            }
            (None, Some(last)) => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(last),
                    reason: "the meta value counts events that are not stored".to_owned(),
                });
            }
        }

        let index = if format == Some(META_FORMAT_V1) {
            migrate_from_v1(tree, &db, next_position, &last_hash)?
        } else {
            // Old index keys left by a migration interrupted after its switch to format 2.
            if tree.scan_prefix([LEGACY_STREAM_PREFIX]).next().is_some()
                || tree.scan_prefix([LEGACY_ID_PREFIX]).next().is_some()
            {
                remove_prefix(tree, LEGACY_STREAM_PREFIX)?;
                remove_prefix(tree, LEGACY_ID_PREFIX)?;
                db.flush()?;
            }
            load_index(tree, next_position)?
        };
        let state = Self {
            db,
            next_position,
            last_hash,
        };
        Ok((state, index))
    }
}

/// Builds the index from the `x` keys, which must tile the positions below `next_position`.
fn load_index(tree: &sled::Tree, next_position: u64) -> Result<Index, LogError> {
    let mut index = Index::with_capacity(next_position);
    let mut expected = 0u64;
    for entry in tree.scan_prefix([INDEX_PREFIX]) {
        let (key, value) = entry?;
        let first = match (key.len(), be_u64(&key, 1)) {
            (9, Some(first)) => first,
            _ => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(expected),
                    reason: format!("malformed index key {key:?}"),
                })
            }
        };
        if first != expected {
            return Err(LogError::Corrupt {
                position: Position::from_raw(expected),
                reason: format!("the next index key starts at position {first}"),
            });
        }
        for run in decode_index_value(first, &value)? {
            for (offset, id) in (0u64..).zip(&run.ids) {
                if expected >= next_position {
                    return Err(LogError::Corrupt {
                        position: Position::from_raw(expected),
                        reason: format!(
                            "the index goes beyond the last event (the meta value says {next_position} events)"
                        ),
                    });
                }
                let revision =
                    run.first_revision
                        .checked_add(offset)
                        .ok_or_else(|| LogError::Corrupt {
                            position: Position::from_raw(expected),
                            reason: "an index revision overflows".to_owned(),
                        })?;
                index
                    .add(Uuid::from_bytes(*id), &run.stream, revision, expected)
                    .map_err(|reason| LogError::Corrupt {
                        position: Position::from_raw(expected),
                        reason: format!("index: {reason}"),
                    })?;
                expected += 1;
            }
        }
    }
    if expected != next_position {
        return Err(LogError::Corrupt {
            position: Position::from_raw(expected),
            reason: format!(
                "the index ends at position {expected}, the meta value says {next_position} events"
            ),
        });
    }
    Ok(index)
}

/// Removes every key of `tree` that starts with `prefix`, in batches.
fn remove_prefix(tree: &sled::Tree, prefix: u8) -> Result<(), LogError> {
    const KEYS_PER_BATCH: usize = 16_384;
    loop {
        let mut batch = sled::Batch::default();
        let mut keys = 0;
        for entry in tree.scan_prefix([prefix]).keys().take(KEYS_PER_BATCH) {
            batch.remove(entry?);
            keys += 1;
        }
        if keys == 0 {
            return Ok(());
        }
        tree.apply_batch(batch)?;
    }
}

/// Migrates a store of meta format 1 (an `s` and an `i` key per event) to format 2 and returns its
/// index. The `x` keys are built from the records themselves (the authority), one per
/// [`MIGRATION_CHUNK_EVENTS`] events; then the meta format switches, then the old keys go, each step
/// flushed. A crash before the switch leaves a format-1 store whose `x` keys the next open discards
/// and writes again; a crash after it leaves old keys that the next open removes.
fn migrate_from_v1(
    tree: &sled::Tree,
    db: &sled::Db,
    next_position: u64,
    last_hash: &[u8; 32],
) -> Result<Index, LogError> {
    const CHUNKS_PER_BATCH: usize = 16;
    let started = std::time::Instant::now();
    tracing::info!(
        events = next_position,
        "migrating the event log to one index key per group"
    );
    remove_prefix(tree, INDEX_PREFIX)?;
    let mut index = Index::with_capacity(next_position);
    let mut batch = sled::Batch::default();
    let mut chunks_in_batch = 0;
    let mut runs = Vec::new();
    let mut chunk_first = 0u64;
    let mut position = 0u64;
    for item in tree.range(event_key(0)..event_key(next_position)) {
        let (key, value) = item?;
        let key_position = key_position(&key)?;
        if key_position != position {
            return Err(LogError::Corrupt {
                position: Position::from_raw(position),
                reason: "the event is missing below the committed head".to_owned(),
            });
        }
        let event = decode_record(position, &value)?;
        index
            .add(event.event.id, &event.stream, event.revision, position)
            .map_err(|reason| LogError::Corrupt {
                position: Position::from_raw(position),
                reason: format!("migration: {reason}"),
            })?;
        push_run(&mut runs, &event.stream, event.revision, event.event.id);
        position += 1;
        if position - chunk_first == MIGRATION_CHUNK_EVENTS as u64 || position == next_position {
            batch.insert(
                &index_key(chunk_first)[..],
                encode_index_value(chunk_first, &runs)?,
            );
            runs.clear();
            chunk_first = position;
            chunks_in_batch += 1;
            if chunks_in_batch == CHUNKS_PER_BATCH {
                tree.apply_batch(std::mem::take(&mut batch))?;
                chunks_in_batch = 0;
            }
        }
    }
    if position != next_position {
        return Err(LogError::Corrupt {
            position: Position::from_raw(position),
            reason: "the event is missing below the committed head".to_owned(),
        });
    }
    tree.apply_batch(batch)?;
    db.flush()?;
    tree.insert(
        META_KEY,
        &meta_value(META_FORMAT_V2, next_position, last_hash)[..],
    )?;
    db.flush()?;
    remove_prefix(tree, LEGACY_STREAM_PREFIX)?;
    remove_prefix(tree, LEGACY_ID_PREFIX)?;
    db.flush()?;
    tracing::info!(
        events = next_position,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the event log is migrated"
    );
    Ok(index)
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
                            Ok(_) => Err(LogError::from(error.clone())),
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
    /// The group's index entries, in position order from the group's first position.
    runs: Vec<IndexRun<'static>>,
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
            runs: Vec::new(),
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
            let first_position = self.state.next_position;
            match encode_index_value(first_position, &group.runs) {
                Ok(value) => group.batch.insert(&index_key(first_position)[..], value),
                Err(error) => {
                    for (reply, _) in replies {
                        let _ = reply.send(Err(LogError::Closed));
                    }
                    return Err(error);
                }
            }
            group.batch.insert(
                META_KEY,
                &meta_value(META_FORMAT_V2, group.next_position, &group.last_hash)[..],
            );
            if let Err(error) = self.reader.tree.apply_batch(group.batch) {
                for (reply, result) in replies {
                    // Rejections stay as they are; everything else shares the storage error,
                    // including replays, which may point into the failed batch.
                    let result = match result {
                        Err(rejection) => Err(rejection),
                        Ok(_) => Err(LogError::from(error.clone())),
                    };
                    let _ = reply.send(result);
                }
                return Err(LogError::from(error));
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
            // Readers cut the index at the committed head, which moves only after the flush.
            let mut index = self
                .reader
                .index
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let mut position = first_position;
            for run in &group.runs {
                for (revision, id) in (run.first_revision..).zip(&run.ids) {
                    if let Err(reason) =
                        index.add(Uuid::from_bytes(*id), &run.stream, revision, position)
                    {
                        // The group was validated against the index, so this is a bug.
                        tracing::error!(position, %reason, "the index refuses a validated event");
                    }
                    position += 1;
                }
            }
            drop(index);
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

    /// What is known about `id`: first the current group, then the index (and the stored record,
    /// for a retry only).
    fn lookup_id(
        &self,
        id: Uuid,
        group: &Group,
        index: &Index,
    ) -> Result<Option<StoredId>, LogError> {
        if let Some(stored) = group.ids.get(&id) {
            return Ok(Some(stored.clone()));
        }
        let Some(&position) = index.ids.get(&id) else {
            return Ok(None);
        };
        let event = self.reader.indexed_event(id, position)?;
        Ok(Some(StoredId {
            stream: event.stream,
            revision: event.revision,
            position: event.position.raw(),
            content_digest: event.event.content_digest,
        }))
    }

    /// Validates `request` against the state plus the group so far and, if it holds, adds its writes
    /// to the group. A rejected request leaves the group untouched.
    fn prepare(&self, request: &Request, group: &mut Group) -> Result<AppendOutcome, LogError> {
        let stream = request.stream.as_str();
        let index = read_index(&self.reader.index);

        // Idempotency first (the contract's rule). The index knows every id, so an id stored in
        // another stream is refused as well, for free.
        let replay = check_retry(&request.events, |id| {
            match self.lookup_id(id, group, &index)? {
                Some(found) if found.stream != stream => Err(LogError::DuplicateIdInOtherStream {
                    id,
                    stream: stream.to_owned(),
                    stored_stream: found.stream,
                }),
                Some(found) => Ok(Some(super::StoredId {
                    position: Position(found.position),
                    revision: found.revision,
                    content_digest: found.content_digest,
                })),
                None => Ok(None),
            }
        })?;
        if let Some(outcome) = replay {
            return Ok(outcome);
        }

        let current = group
            .heads
            .get(stream)
            .copied()
            .or_else(|| index.head(stream))
            .map(|head| head.revision);
        drop(index);
        if !request.expected.holds(current) {
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
            push_run(&mut group.runs, stream, revision, event.id);
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
            first_position: Position(first_position),
            last_position: Position(last.position),
            stream_revision: last.revision,
            replayed: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::log::test_support::test_event;
    use crate::store::StoreConfig;

    fn rich_event() -> NewEvent {
        let mut event = test_event(Uuid::new_v4());
        event.actor = LogActor {
            id: "cw-17".to_owned(),
            agency: Some("jobcenter".to_owned()),
            role: 0,
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
                position: Position(42),
                stream: "person-x".to_owned(),
                revision: 3,
                event,
                global_link: Some(GlobalLink {
                    prev_hash: [1; 32],
                    hash: [2; 32],
                }),
            }
        );
    }

    #[test]
    fn a_record_under_another_position_is_corrupt() {
        let bytes = encode_record(42, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");

        let error = decode_record(43, &bytes).expect_err("the key and the record disagree");

        assert!(
            matches!(error, LogError::Corrupt { position: Position(43), ref reason } if reason.contains("42")),
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
                matches!(
                    error,
                    LogError::Corrupt {
                        position: Position(0),
                        ..
                    }
                ),
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

        let error = log
            .read_all(AllFrom::Start, Direction::Forwards, 10)
            .await
            .expect_err("the damage is seen");

        assert!(
            matches!(
                error,
                LogError::Corrupt {
                    position: Position(0),
                    ..
                }
            ),
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

        let forwards = log
            .read_all(AllFrom::Start, Direction::Forwards, 10)
            .await
            .expect_err("the gap is seen");
        let backwards = log
            .read_all(AllFrom::End, Direction::Backwards, 10)
            .await
            .expect_err("the gap is seen");

        assert!(
            matches!(
                forwards,
                LogError::Corrupt {
                    position: Position(1),
                    ..
                }
            ),
            "{forwards}"
        );
        assert!(
            matches!(
                backwards,
                LogError::Corrupt {
                    position: Position(1),
                    ..
                }
            ),
            "{backwards}"
        );
    }

    /// A store with two streams written through the log, which is then closed.
    async fn given_a_closed_log(events: usize) -> (tempfile::TempDir, Store, Vec<Uuid>) {
        let (dir, store) = small_store();
        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
        let mut ids = Vec::new();
        for n in 0..events {
            let id = Uuid::new_v4();
            let stream = if n % 2 == 0 { "a" } else { "b" };
            log.append(stream, ExpectedRevision::Any, vec![test_event(id)])
                .await
                .expect("appends");
            ids.push(id);
        }
        log.close().await.expect("closes");
        drop(log);
        (dir, store, ids)
    }

    fn runs_value(runs: &[IndexRun<'_>]) -> Vec<u8> {
        encode_index_value(0, runs).expect("encodes")
    }

    fn run<'a>(stream: &'a str, first_revision: u64, ids: &[Uuid]) -> IndexRun<'a> {
        IndexRun {
            stream: Cow::Borrowed(stream),
            first_revision,
            ids: ids.iter().map(|id| id.into_bytes()).collect(),
        }
    }

    #[tokio::test]
    async fn malformed_or_inconsistent_index_keys_refuse_to_open_not_panic() {
        let fresh = Uuid::new_v4;
        // Each damage replaces every `x` key of a 4-event log (a@0, b@0, a@1, b@1) with these.
        type Keys = Vec<(Vec<u8>, Vec<u8>)>;
        let damages: Vec<(&str, Keys)> = {
            let [a0, b0, a1, b1] = [fresh(), fresh(), fresh(), fresh()];
            let whole = |runs: &[IndexRun<'_>]| vec![(index_key(0).to_vec(), runs_value(runs))];
            vec![
                (
                    "short key",
                    vec![(vec![INDEX_PREFIX, 0], runs_value(&[run("a", 0, &[a0])]))],
                ),
                ("unknown format", vec![(index_key(0).to_vec(), vec![9, 0])]),
                (
                    "garbage",
                    vec![(index_key(0).to_vec(), vec![INDEX_FORMAT_V1, 0xff, 0xff])],
                ),
                ("empty value", vec![(index_key(0).to_vec(), Vec::new())]),
                (
                    "trailing bytes",
                    vec![(index_key(0).to_vec(), {
                        let mut value = runs_value(&[run("a", 0, &[a0])]);
                        value.push(0);
                        value
                    })],
                ),
                ("empty run", whole(&[run("a", 0, &[])])),
                ("invalid stream", whole(&[run("", 0, &[a0, b0, a1, b1])])),
                (
                    "too few entries",
                    whole(&[run("a", 0, &[a0]), run("b", 0, &[b0])]),
                ),
                (
                    "too many entries",
                    whole(&[run("a", 0, &[a0, a1]), run("b", 0, &[b0, b1, fresh()])]),
                ),
                (
                    "revision gap",
                    whole(&[
                        run("a", 0, &[a0]),
                        run("b", 0, &[b0]),
                        run("a", 2, &[a1]),
                        run("b", 1, &[b1]),
                    ]),
                ),
                (
                    "duplicate id",
                    whole(&[
                        run("a", 0, &[a0]),
                        run("b", 0, &[b0]),
                        run("a", 1, &[a1]),
                        run("b", 1, &[a0]),
                    ]),
                ),
                (
                    "overlapping keys",
                    vec![
                        (
                            index_key(0).to_vec(),
                            runs_value(&[run("a", 0, &[a0]), run("b", 0, &[b0])]),
                        ),
                        (
                            index_key(1).to_vec(),
                            runs_value(&[run("a", 1, &[a1]), run("b", 1, &[b1])]),
                        ),
                    ],
                ),
                (
                    "a gap between keys",
                    vec![
                        (index_key(0).to_vec(), runs_value(&[run("a", 0, &[a0])])),
                        (
                            index_key(2).to_vec(),
                            runs_value(&[run("a", 1, &[a1]), run("b", 0, &[b1])]),
                        ),
                    ],
                ),
                ("no index", Vec::new()),
            ]
        };
        for (name, keys) in damages {
            let (_dir, store, _) = given_a_closed_log(4).await;
            let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
            remove_prefix(&tree, INDEX_PREFIX).expect("removes");
            for (key, value) in keys {
                tree.insert(key, value).expect("inserts");
            }

            let error = SledLog::open(&store, SledLogConfig::default())
                .expect_err(&format!("{name}: the damage is seen at open"));

            assert!(matches!(error, LogError::Corrupt { .. }), "{name}: {error}");
        }
    }

    #[tokio::test]
    async fn an_index_that_disagrees_with_the_records_is_corrupt_on_read() {
        let (_dir, store, ids) = given_a_closed_log(2).await;
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        remove_prefix(&tree, INDEX_PREFIX).expect("removes");
        // Self-consistent, but the records say a@0 and b@0, and the ids the other way round.
        let runs = [run("b", 0, &[ids[1]]), run("a", 0, &[ids[0]])];
        tree.insert(index_key(0), runs_value(&runs))
            .expect("inserts");
        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");

        let read = log
            .read_stream("a", StreamFrom::Start, Direction::Forwards, 10)
            .await
            .expect_err("the damage is seen");
        let found = log
            .find_event("a", ids[0])
            .await
            .expect_err("the damage is seen");

        assert!(
            matches!(
                read,
                LogError::Corrupt {
                    position: Position(1),
                    ..
                }
            ),
            "{read}"
        );
        assert!(
            matches!(
                found,
                LogError::Corrupt {
                    position: Position(1),
                    ..
                }
            ),
            "{found}"
        );
    }

    #[tokio::test]
    async fn a_group_writes_one_index_key_and_no_key_per_id_or_revision() {
        let (_dir, store, _) = given_a_closed_log(3).await;
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");

        let prefixes: HashSet<u8> = tree
            .iter()
            .keys()
            .map(|key| key.expect("a key")[0])
            .collect();
        let index_keys: Vec<sled::IVec> = tree
            .scan_prefix([INDEX_PREFIX])
            .keys()
            .map(|key| key.expect("a key"))
            .collect();

        assert_eq!(
            prefixes,
            HashSet::from([EVENT_PREFIX, INDEX_PREFIX, META_KEY[0]])
        );
        // Three sequential appends: three groups of one event each.
        assert_eq!(
            index_keys,
            [index_key(0), index_key(1), index_key(2)].map(|key| sled::IVec::from(&key[..]))
        );
        assert_eq!(
            tree.get(META_KEY).expect("reads").expect("meta")[0],
            META_FORMAT_V2
        );
    }

    /// Writes a log of meta format 1 (an `s` and an `i` key per event) with raw sled writes: events
    /// alternate between streams `a`, `b` and `c`. Returns the events in position order.
    fn given_a_format_1_log(store: &Store, count: u64) -> Vec<(String, u64, NewEvent)> {
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        let mut revisions: HashMap<String, u64> = HashMap::new();
        let mut prev = chain::GENESIS;
        let mut events = Vec::new();
        let mut batch = sled::Batch::default();
        for position in 0..count {
            let stream = ["a", "b", "c"][(position % 3) as usize].to_owned();
            let revision = revisions.entry(stream.clone()).or_default();
            let event = test_event(Uuid::new_v4());
            let hash = chain::global_hash(&prev, position, &event.hash);
            let bytes =
                encode_record(position, &stream, *revision, &event, &prev, &hash).expect("encodes");
            batch.insert(&event_key(position)[..], bytes);
            let mut stream_key = vec![LEGACY_STREAM_PREFIX];
            stream_key.extend_from_slice(stream.as_bytes());
            stream_key.push(0);
            stream_key.extend_from_slice(&revision.to_be_bytes());
            batch.insert(stream_key, &position.to_be_bytes()[..]);
            let mut id_key = vec![LEGACY_ID_PREFIX];
            id_key.extend_from_slice(event.id.as_bytes());
            batch.insert(id_key, &position.to_be_bytes()[..]);
            events.push((stream, *revision, event));
            *revision += 1;
            prev = hash;
        }
        batch.insert(META_KEY, &meta_value(META_FORMAT_V1, count, &prev)[..]);
        tree.apply_batch(batch).expect("writes");
        events
    }

    /// Checks that `log` holds exactly `events` (from [`given_a_format_1_log`]) and keeps working.
    async fn assert_migrated(store: &Store, log: &SledLog, events: &[(String, u64, NewEvent)]) {
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        assert_eq!(
            tree.get(META_KEY).expect("reads").expect("meta")[0],
            META_FORMAT_V2
        );
        assert!(
            tree.scan_prefix([LEGACY_STREAM_PREFIX]).next().is_none(),
            "no `s` keys left"
        );
        assert!(
            tree.scan_prefix([LEGACY_ID_PREFIX]).next().is_none(),
            "no `i` keys left"
        );
        let count = events.len() as u64;
        assert_eq!(
            log.last_position().await.expect("reads"),
            count.checked_sub(1).map(Position)
        );
        for stream in ["a", "b", "c"] {
            let expected: Vec<(u64, Uuid)> = events
                .iter()
                .filter(|(name, _, _)| name == stream)
                .map(|(_, revision, event)| (*revision, event.id))
                .collect();
            let read = log
                .read_stream(
                    stream,
                    StreamFrom::Start,
                    Direction::Forwards,
                    READ_LIMIT_MAX,
                )
                .await
                .expect("reads");
            let read: Vec<(u64, Uuid)> = read.iter().map(|e| (e.revision, e.event.id)).collect();
            assert_eq!(read, expected, "stream {stream}");
            assert_eq!(
                log.stream_revision(stream).await.expect("reads"),
                expected.last().map(|(revision, _)| *revision)
            );
        }
        for (position, (stream, revision, event)) in (0u64..).zip(events).step_by(997) {
            let found = log
                .find_event(stream, event.id)
                .await
                .expect("reads")
                .expect("found");
            assert_eq!(
                (found.position, &found.stream, found.revision),
                (Position(position), stream, *revision)
            );
            // A retry replays the original outcome; other content is a conflict.
            let outcome = log
                .append(stream, ExpectedRevision::Any, vec![event.clone()])
                .await
                .expect("replays");
            assert!(
                outcome.replayed && outcome.first_position == Position(position),
                "{outcome:?}"
            );
            let mut other = event.clone();
            other.content_digest = [9; 32];
            let conflict = log
                .append(stream, ExpectedRevision::Any, vec![other])
                .await
                .expect_err("conflicts");
            assert!(
                matches!(conflict, LogError::DuplicateIdConflict { .. }),
                "{conflict}"
            );
        }
        let last_a = events.iter().filter(|(name, _, _)| name == "a").count() as u64 - 1;
        let outcome = log
            .append(
                "a",
                ExpectedRevision::Exact(last_a),
                vec![test_event(Uuid::new_v4())],
            )
            .await
            .expect("appends after the migration");
        assert_eq!(
            (outcome.first_position, outcome.stream_revision),
            (Position(count), last_a + 1)
        );
        let all = log
            .read_all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
            .await
            .expect("reads");
        let mut prev = chain::GENESIS;
        for event in &all {
            let link = event
                .global_link
                .expect("the embedded log keeps the global chain");
            assert_eq!(link.prev_hash, prev, "the global chain goes on");
            prev = link.hash;
        }
    }

    #[tokio::test]
    async fn a_store_of_meta_format_1_is_migrated_at_open() {
        let (_dir, store) = small_store();
        // More than two migration chunks.
        let events = given_a_format_1_log(&store, 2 * MIGRATION_CHUNK_EVENTS as u64 + 10);

        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens and migrates");

        assert_migrated(&store, &log, &events).await;
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        let chunks: Vec<sled::IVec> = tree
            .scan_prefix([INDEX_PREFIX])
            .keys()
            .take(3)
            .map(|key| key.expect("a key"))
            .collect();
        let chunk = MIGRATION_CHUNK_EVENTS as u64;
        assert_eq!(
            chunks,
            [0, chunk, 2 * chunk].map(|first| sled::IVec::from(&index_key(first)[..]))
        );
        log.close().await.expect("closes");
        drop(log);
        let reopened = SledLog::open(&store, SledLogConfig::default()).expect("reopens");
        assert_eq!(
            reopened.last_position().await.expect("reads"),
            Some(Position(events.len() as u64))
        );
    }

    #[tokio::test]
    async fn an_interrupted_migration_is_finished_at_the_next_open() {
        // Interrupted before the switch: stray `x` keys in a store of format 1.
        let (_dir, store) = small_store();
        let events = given_a_format_1_log(&store, 50);
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        tree.insert(index_key(0), &b"half-written"[..])
            .expect("inserts");
        tree.insert(
            index_key(4096),
            runs_value(&[run("z", 0, &[Uuid::new_v4()])]),
        )
        .expect("inserts");

        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens and migrates");

        assert_migrated(&store, &log, &events).await;
        drop(log);

        // Interrupted after the switch: old keys left in a store of format 2.
        let (_dir, store) = small_store();
        let events = given_a_format_1_log(&store, 50);
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        let old_keys: Vec<(sled::IVec, sled::IVec)> = tree
            .iter()
            .filter_map(Result::ok)
            .filter(|(key, _)| [LEGACY_STREAM_PREFIX, LEGACY_ID_PREFIX].contains(&key[0]))
            .collect();
        drop(SledLog::open(&store, SledLogConfig::default()).expect("opens and migrates"));
        for (key, value) in old_keys.into_iter().step_by(3) {
            tree.insert(key, value).expect("inserts");
        }

        let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");

        assert_migrated(&store, &log, &events).await;
    }

    #[test]
    fn events_without_a_meta_value_refuse_to_open() {
        let (_dir, store) = small_store();
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        let bytes = encode_record(0, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");
        tree.insert(event_key(0), bytes).expect("inserts");

        let error = SledLog::open(&store, SledLogConfig::default()).expect_err("inconsistent");

        assert!(
            matches!(
                error,
                LogError::Corrupt {
                    position: Position(0),
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn keys_sort_by_position() {
        assert!(event_key(255) < event_key(256));
        assert!(index_key(255) < index_key(256));
        // Each kind of key sorts apart from the others, events first.
        assert!(&event_key(u64::MAX)[..] < META_KEY);
        assert!(META_KEY < &index_key(0)[..]);
    }
}
