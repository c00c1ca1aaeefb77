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

    /// Stores `recorded` as another log recorded it, at its position and revision: the copy a read
    /// replica keeps of its writer's log (`journey serve --replica-of`), so that the replica's
    /// positions, checkpoints and cursors are the writer's. Returns false for an event already held
    /// (the same id at the same position: a source that repeats itself); refuses an event that does
    /// not come after the last one held, or whose revision is not the next of its stream, because
    /// either would make the copy disagree with its source.
    pub fn mirror(&self, recorded: RecordedEvent) -> Result<bool, LogError> {
        let mut state = self.lock();
        if state.closed {
            return Err(LogError::Closed);
        }
        if let Some(last) = state.events.last() {
            if recorded.position <= last.position {
                let held = state
                    .streams
                    .get(&recorded.stream)
                    .and_then(|index| index.ids.get(&recorded.event.id))
                    .is_some_and(|&at| state.events[at].position == recorded.position);
                if held {
                    return Ok(false);
                }
                return Err(LogError::Corrupt {
                    position: recorded.position,
                    reason: format!(
                        "the source gave this event after position {}: its copy would be out of order",
                        last.position
                    ),
                });
            }
        }
        let next_revision = state
            .streams
            .get(&recorded.stream)
            .map_or(0, |index| index.events.len() as u64);
        if recorded.revision != next_revision {
            return Err(LogError::Corrupt {
                position: recorded.position,
                reason: format!(
                    "the source gave revision {} of `{}`, whose next revision is {next_revision}",
                    recorded.revision, recorded.stream
                ),
            });
        }
        let at = state.events.len();
        let index = state.streams.entry(recorded.stream.clone()).or_default();
        index.events.push(at);
        index.ids.insert(recorded.event.id, at);
        state.next_offset = state
            .next_offset
            .max(recorded.position.raw().saturating_add(RECORD_HEADER_BYTES));
        state.events.push(recorded);
        let events = state.events.len();
        // Published under the lock, so that subscribers see heads in order.
        self.head.send_modify(|head| head.events = events);
        Ok(true)
    }

    /// Rewrites the events of `stream` that are held, in place, with `rewrite` (a read replica drops
    /// the payloads of a person erased at its writer). Subscribers get what is held when they read
    /// it; events already delivered are theirs.
    pub fn rewrite_stream(&self, stream: &str, mut rewrite: impl FnMut(&mut NewEvent)) {
        let mut state = self.lock();
        let Some(index) = state.streams.get(stream) else {
            return;
        };
        let held = index.events.clone();
        for at in held {
            rewrite(&mut state.events[at].event);
        }
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

#[cfg(test)]
mod mirror_tests {
    use super::*;
    use crate::log::test_support::test_event;

    fn recorded(position: u64, stream: &str, revision: u64) -> RecordedEvent {
        RecordedEvent {
            position: Position::from_raw(position),
            stream: stream.to_owned(),
            revision,
            event: test_event(Uuid::new_v4()),
            global_link: None,
        }
    }

    #[tokio::test]
    async fn a_mirror_keeps_the_sources_positions_and_revisions_and_feeds_subscribers() {
        // Given: an empty log and a subscriber from its start.
        let log = InMemoryLog::default();
        let mut subscription = log.subscribe_all(AllFrom::Start).await.expect("subscribe");
        let first = recorded(1_000, "a", 0);
        let second = recorded(5_000, "a", 1);

        // When: two events of a source are mirrored, the first one twice.
        assert!(log.mirror(first.clone()).expect("first"));
        assert!(!log.mirror(first.clone()).expect("a repeat is ignored"));
        assert!(log.mirror(second.clone()).expect("second"));

        // Then: reads and the subscriber see them once, at the source's positions.
        let all = log
            .read_all(AllFrom::Start, Direction::Forwards, 10)
            .await
            .expect("read");
        assert_eq!(all, vec![first.clone(), second.clone()]);
        assert_eq!(
            subscription.next().await.expect("event").expect("ok"),
            first
        );
        assert_eq!(
            subscription.next().await.expect("event").expect("ok"),
            second
        );
        let after = log
            .read_all(AllFrom::Excluding(first.position), Direction::Forwards, 10)
            .await
            .expect("read after");
        assert_eq!(after, vec![second]);
    }

    #[test]
    fn a_mirror_refuses_an_event_out_of_order_or_with_a_gap_in_its_stream() {
        let log = InMemoryLog::default();
        log.mirror(recorded(1_000, "a", 0)).expect("first");
        let earlier = log.mirror(recorded(900, "b", 0));
        assert!(
            matches!(earlier, Err(LogError::Corrupt { .. })),
            "{earlier:?}"
        );
        let gap = log.mirror(recorded(2_000, "a", 2));
        assert!(matches!(gap, Err(LogError::Corrupt { .. })), "{gap:?}");
        // Nothing of either was stored.
        assert!(log
            .mirror(recorded(2_000, "a", 1))
            .expect("the next revision"));
    }

    #[tokio::test]
    async fn rewriting_a_stream_changes_what_later_reads_get() {
        let log = InMemoryLog::default();
        log.mirror(recorded(1_000, "a", 0)).expect("a");
        log.mirror(recorded(2_000, "b", 0)).expect("b");
        log.rewrite_stream("a", |event| event.payload.clear());
        let all = log
            .read_all(AllFrom::Start, Direction::Forwards, 10)
            .await
            .expect("read");
        assert!(all[0].event.payload.is_empty());
        assert!(!all[1].event.payload.is_empty());
    }
}
