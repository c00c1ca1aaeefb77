//! An event log held in memory: the whole contract of [`EventLog`] (expected revisions, idempotent
//! retries, reads both ways, catch-up and live subscriptions, limits) without a disk, so that tests
//! above the log run fast and deterministically. Nothing survives the process.
//!
//! Its positions are deliberately not dense: each event's position is the byte offset it would have
//! in a transaction file (the previous offset plus the size of the previous record), as a
//! KurrentDB commit position is. Code above the log that computed `+ 1` would fail against it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{
    check_append, check_retry, AllFrom, AppendOutcome, Direction, EventLog, ExpectedRevision,
    LogError, NewEvent, Position, RecordedEvent, StoredId, StreamFrom, Subscription,
    READ_LIMIT_MAX,
};

/// Where the first event goes: not 0, because a remote engine's first position is not 0 either.
const FIRST_OFFSET: u64 = 128;
/// The fixed part of a record's size in the simulated transaction file.
const RECORD_HEADER_BYTES: u64 = 96;

/// Settings of the in-memory log.
#[derive(Debug, Clone)]
pub struct InMemoryLogConfig {
    /// How many events a subscription takes at a time.
    pub subscription_page_size: usize,
    /// How many events a subscription buffers for a slow subscriber.
    pub subscription_buffer: usize,
}

impl Default for InMemoryLogConfig {
    fn default() -> Self {
        Self {
            subscription_page_size: 256,
            subscription_buffer: 1024,
        }
    }
}

/// The event log in memory. See the module documentation.
#[derive(Debug)]
pub struct InMemoryLog {
    /// Shared with the subscriptions' tasks.
    state: Arc<Mutex<State>>,
    /// The number of events appended, and whether the log is closed: what subscriptions wait on.
    head: watch::Sender<Head>,
    config: InMemoryLogConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    events: usize,
    closed: bool,
}

#[derive(Debug)]
struct State {
    /// Every event in global order.
    events: Vec<RecordedEvent>,
    streams: HashMap<String, StreamIndex>,
    next_offset: u64,
    closed: bool,
}

/// One stream's events (indexes into `State::events`, by revision) and ids.
#[derive(Debug, Default)]
struct StreamIndex {
    events: Vec<usize>,
    ids: HashMap<Uuid, usize>,
}

impl Default for InMemoryLog {
    fn default() -> Self {
        Self::new(InMemoryLogConfig::default())
    }
}

impl InMemoryLog {
    pub fn new(config: InMemoryLogConfig) -> Self {
        let (head, _) = watch::channel(Head {
            events: 0,
            closed: false,
        });
        Self {
            state: Arc::new(Mutex::new(State {
                events: Vec::new(),
                streams: HashMap::new(),
                next_offset: FIRST_OFFSET,
                closed: false,
            })),
            head,
            config: InMemoryLogConfig {
                subscription_page_size: config.subscription_page_size.clamp(1, READ_LIMIT_MAX),
                subscription_buffer: config.subscription_buffer.max(1),
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// The index of the first event at or after `position`.
    fn index_at(&self, position: Position) -> usize {
        self.events
            .partition_point(|event| event.position < position)
    }

    /// The index a forward read or a subscription from `from` starts at.
    fn forward_start(&self, from: AllFrom) -> usize {
        match from {
            AllFrom::Start => 0,
            AllFrom::End => self.events.len(),
            AllFrom::Including(position) => self.index_at(position),
            AllFrom::Excluding(position) => self
                .events
                .partition_point(|event| event.position <= position),
        }
    }

    fn append(
        &mut self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, LogError> {
        if self.closed {
            return Err(LogError::Closed);
        }
        let index = self.streams.get(stream);
        let replay = check_retry(&events, |id| {
            Ok(index.and_then(|index| index.ids.get(&id)).map(|&at| {
                let stored = &self.events[at];
                StoredId {
                    position: stored.position,
                    revision: stored.revision,
                    content_digest: stored.event.content_digest,
                }
            }))
        })?;
        if let Some(outcome) = replay {
            return Ok(outcome);
        }
        let current = index
            .and_then(|index| index.events.len().checked_sub(1))
            .map(|last| last as u64);
        if !expected.holds(current) {
            return Err(LogError::WrongExpectedRevision {
                stream: stream.to_owned(),
                expected,
                actual: current,
            });
        }
        let first_revision = current.map_or(0, |revision| revision + 1);
        let mut outcome = None;
        let index = self.streams.entry(stream.to_owned()).or_default();
        for (revision, event) in (first_revision..).zip(events) {
            let position = Position::from_raw(self.next_offset);
            self.next_offset += RECORD_HEADER_BYTES
                + (stream.len() + event.event_type.len() + event.payload.len()) as u64;
            let at = self.events.len();
            index.events.push(at);
            index.ids.insert(event.id, at);
            self.events.push(RecordedEvent {
                position,
                stream: stream.to_owned(),
                revision,
                event,
                global_link: None,
            });
            let first = outcome.map_or(position, |outcome: AppendOutcome| outcome.first_position);
            outcome = Some(AppendOutcome {
                first_position: first,
                last_position: position,
                stream_revision: revision,
                replayed: false,
            });
        }
        outcome.ok_or(LogError::AppendSize(0))
    }
}

#[async_trait]
impl EventLog for InMemoryLog {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, LogError> {
        check_append(stream, &events)?;
        let outcome = {
            let mut state = self.lock();
            let outcome = state.append(stream, expected, events)?;
            let events = state.events.len();
            // Published under the lock, so that subscribers see heads in order.
            self.head.send_modify(|head| head.events = events);
            outcome
        };
        Ok(outcome)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        let state = self.lock();
        let Some(index) = state.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let count = index.events.len();
        let revision = |from: u64| usize::try_from(from).unwrap_or(usize::MAX);
        let picked: Vec<usize> = match direction {
            Direction::Forwards => {
                let start = match from {
                    StreamFrom::Start => 0,
                    StreamFrom::End => count,
                    StreamFrom::Revision(from) => revision(from).min(count),
                };
                index.events[start..].iter().take(limit).copied().collect()
            }
            Direction::Backwards => {
                let Some(last) = count.checked_sub(1) else {
                    return Ok(Vec::new());
                };
                let start = match from {
                    StreamFrom::Start => 0,
                    StreamFrom::End => last,
                    StreamFrom::Revision(from) => revision(from).min(last),
                };
                index.events[..=start]
                    .iter()
                    .rev()
                    .take(limit)
                    .copied()
                    .collect()
            }
        };
        Ok(picked
            .into_iter()
            .map(|at| state.events[at].clone())
            .collect())
    }

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        let state = self.lock();
        let events = &state.events;
        Ok(match direction {
            Direction::Forwards => {
                let start = state.forward_start(from);
                events[start..].iter().take(limit).cloned().collect()
            }
            Direction::Backwards => {
                // The events before `end` (an index), newest first.
                let end = match from {
                    AllFrom::Start => 0,
                    AllFrom::End => events.len(),
                    AllFrom::Including(position) => {
                        events.partition_point(|event| event.position <= position)
                    }
                    AllFrom::Excluding(position) => state.index_at(position),
                };
                events[..end].iter().rev().take(limit).cloned().collect()
            }
        })
    }

    async fn subscribe_all(&self, from: AllFrom) -> Result<Subscription, LogError> {
        let next = self.lock().forward_start(from);
        let (sender, receiver) = mpsc::channel(self.config.subscription_buffer);
        let task = SubscriptionTask {
            state: self.state.clone(),
            head: self.head.subscribe(),
            next,
            page_size: self.config.subscription_page_size,
            sender,
        };
        tokio::spawn(task.run());
        Ok(Subscription::new(receiver))
    }

    async fn find_event(&self, stream: &str, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        let state = self.lock();
        Ok(state
            .streams
            .get(stream)
            .and_then(|index| index.ids.get(&id))
            .map(|&at| state.events[at].clone()))
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError> {
        Ok(self
            .lock()
            .streams
            .get(stream)
            .and_then(|index| index.events.len().checked_sub(1))
            .map(|last| last as u64))
    }

    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, LogError> {
        let mut names: Vec<String> = self
            .lock()
            .streams
            .keys()
            .filter(|name| name.starts_with(prefix))
            .cloned()
            .collect();
        names.sort();
        Ok(names)
    }

    async fn last_position(&self) -> Result<Option<Position>, LogError> {
        Ok(self.lock().events.last().map(|event| event.position))
    }

    async fn close(&self) -> Result<(), LogError> {
        self.lock().closed = true;
        self.head.send_modify(|head| head.closed = true);
        Ok(())
    }
}

/// Feeds one subscription: the events from `next` on, page by page, then each new one as the head
/// moves, until the log is closed (after the last event) or the subscriber is gone.
struct SubscriptionTask {
    state: Arc<Mutex<State>>,
    head: watch::Receiver<Head>,
    /// The index of the next event to deliver.
    next: usize,
    page_size: usize,
    sender: mpsc::Sender<Result<RecordedEvent, LogError>>,
}

impl SubscriptionTask {
    async fn run(mut self) {
        loop {
            let head = *self.head.borrow_and_update();
            if !self.deliver_to(head.events).await || head.closed {
                return;
            }
            tokio::select! {
                changed = self.head.changed() => {
                    if changed.is_err() {
                        // The log is gone: deliver what it held and end.
                        let events = lock(&self.state).events.len();
                        self.deliver_to(events).await;
                        return;
                    }
                }
                () = self.sender.closed() => return,
            }
        }
    }

    /// Delivers the events below index `bound`; false when the subscriber is gone.
    async fn deliver_to(&mut self, bound: usize) -> bool {
        while self.next < bound {
            let page: Vec<RecordedEvent> = {
                let state = lock(&self.state);
                let end = bound
                    .min(self.next + self.page_size)
                    .min(state.events.len());
                state.events[self.next..end].to_vec()
            };
            if page.is_empty() {
                return true;
            }
            for event in page {
                self.next += 1;
                // The bounded channel waits here for a slow subscriber (backpressure).
                if self.sender.send(Ok(event)).await.is_err() {
                    return false;
                }
            }
        }
        true
    }
}
