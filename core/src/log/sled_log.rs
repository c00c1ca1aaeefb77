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
//! | `n` ‖ stream number (u32 BE) | the stream's name (the name table of format-3 and -4 records) |
//! | `d` ‖ entry number (u32 BE) | `t` ‖ an event type's name, or `a` ‖ a postcard actor (the dictionary of format-4 records) |
//! | `m` | meta format byte ‖ next position (u64 BE) ‖ last global hash (32 bytes) |
//!
//! A record of format 2 does not store its global link's `prev_hash`: it
//! is the `global_hash` of the record at the position before, so a read takes it from the record
//! it read just before, and a read that starts at a record takes it from one extra read of the
//! position before. A record of format 3 is format 2 with the stream named by its number in the
//! name table: `n` keys, numbered densely from 0 in the order the writer first wrote a format-3 or
//! format-4 record of the stream, each written in the same batch as that record, so a crash never
//! leaves a record whose name is missing. A record of format 4 (what the writer writes now) is
//! format 3 with the event type and the actor (id, agency, role) named by their numbers in the
//! dictionary: `d` keys, one numbering for both kinds, each written in the same batch as the first
//! record that uses it. Both tables are held in memory (`sled_log/tables.rs`: number → entry for the
//! readers, entry → number for the writer), loaded at open. Records of formats 1 to 3 stay
//! readable as they are; the reader decodes by the format byte, so one store may hold all four.
//!
//! Both `e` and `x` keys grow with the position, so a group commit appends to the right edge of the
//! B-tree only (about two leaves and the meta key), whatever streams and ids it carries. An `x` key
//! holds the index entries of the events from its position on: runs of consecutive events of one
//! stream (stream, first revision, ids); the positions are implicit, because the `x` keys tile the
//! positions without gap or overlap. It is written in the same batch as the group's events, so the
//! index and the events never disagree after a crash.
//!
//! The index is held in memory ([`Index`]: id → position, stream → positions by revision), and
//! updated by the writer after every applied group. Reads of streams and ids, and the writer's
//! idempotency and revision checks, use it without touching the B-tree. At open, its base of sorted
//! arrays comes from the index checkpoint, a file beside sled's (`sled_log/checkpoint.rs`, written
//! when the log closes), when it is whole, consistent and of this log; the `x` keys after the
//! checkpoint's position are scanned into it. Without a usable checkpoint every `x` key is scanned.
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
use std::sync::{Arc, Mutex, PoisonError, RwLock};
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
use crate::store::{FlushTicket, Store};

mod checkpoint;
#[cfg(test)]
mod checkpoint_tests;
mod copy;
mod flusher;
#[cfg(test)]
mod format_tests;
mod index;
mod layout;
mod migration;
mod open;
mod reader;
mod subscription;
mod tables;
#[cfg(test)]
mod tests;
mod writer;

pub use checkpoint::CheckpointPrefetch;
pub use copy::{LogCopyHead, LogRestore};
// The files of this module are one concern each of one backend: they share its private items.
use checkpoint::*;
use flusher::*;
use index::*;
use layout::*;
use migration::*;
use open::*;
use reader::*;
use subscription::*;
use tables::*;
use writer::*;

/// The default of [`SledLogConfig::index_checkpoint_min_events`]: a scan of this many `x` entries
/// at open takes tens of milliseconds, a checkpoint at a million persons a few seconds to write.
pub const INDEX_CHECKPOINT_MIN_EVENTS: u64 = 65_536;

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
    /// Closing the log writes the index checkpoint (`sled_log/checkpoint.rs`) when at least this
    /// many events were added since the one it opened with (or since the first event, without
    /// one), so that the next open scans only the `x` keys after it. At least 1.
    pub index_checkpoint_min_events: u64,
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
            index_checkpoint_min_events: INDEX_CHECKPOINT_MIN_EVENTS,
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
            index_checkpoint_min_events: self.index_checkpoint_min_events.max(1),
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
    /// memory (about 34 bytes per event loaded from the index checkpoint, 45 to 65 per event
    /// scanned or appended after it), so that validating an append and finding an event by id or
    /// stream revision need no B-tree search.
    pub fn open(store: &Store, config: SledLogConfig) -> Result<SledLog, LogError> {
        Self::open_prefetched(store, config, None)
    }

    /// Starts reading the index checkpoint of the store in `data_dir` on a thread of its own, to be
    /// called before [`Store::open`] so that the read overlaps sled's open; hand the result to
    /// [`SledLog::open_prefetched`]. `None` when no thread could be started (the open then reads
    /// the file itself).
    pub fn prefetch_checkpoint(data_dir: &std::path::Path) -> Option<CheckpointPrefetch> {
        CheckpointPrefetch::start(data_dir)
    }

    /// [`SledLog::open`] with the index checkpoint as `prefetched` read it (when it read this
    /// store's; otherwise the file is read here), checked exactly as a file read here.
    pub fn open_prefetched(
        store: &Store,
        config: SledLogConfig,
        prefetched: Option<CheckpointPrefetch>,
    ) -> Result<SledLog, LogError> {
        let config = config.sanitized();
        let db = store.db().clone();
        let tree = db.open_tree(TREE_NAME)?;
        let (state, index, tables) = WriterState::load(
            &tree,
            db.clone(),
            &checkpoint_path(store.path()),
            prefetched,
        )?;
        let reader = Reader {
            tree,
            index: std::sync::Arc::new(RwLock::new(index)),
            tables: std::sync::Arc::new(RwLock::new(tables)),
        };
        let (head_sender, head) = watch::channel(Head {
            next_position: state.next_position,
            closed: false,
        });
        let (requests, receiver) = mpsc::channel(config.request_queue_capacity);
        let stats = std::sync::Arc::new(WriterStats::default());
        let writer = Writer {
            state,
            store: store.clone(),
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

    /// How many events the in-memory index holds and an estimate of its heap bytes, with the
    /// tables' (the name table and the dictionary for the readers, and the writer's maps of the
    /// same to their numbers).
    pub fn index_footprint(&self) -> (u64, u64) {
        let index = read_index(&self.reader.index);
        let tables = self
            .reader
            .tables
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (index.events(), index.heap_bytes() + tables.heap_bytes())
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
        // Which events answer is known from memory; a stream with none (a new person's, the
        // metadata of a plain stream never given any) answers without a trip to the blocking pool.
        let wanted = self
            .reader
            .stream_wanted(stream, from, direction, limit, bound);
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let stream = stream.to_owned();
        self.blocking_read(move |reader| reader.read_wanted(&stream, wanted))
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
