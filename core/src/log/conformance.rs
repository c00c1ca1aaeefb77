//! The conformance suite of the storage seam: what every [`EventLog`] backend must do, checked
//! over `dyn EventLog` only, so that the embedded log, the in-memory log and a remote engine run
//! the same checks. A backend's test opens a fresh, empty log per check and calls [`check_all`]
//! (or single checks); a failed check panics with what the backend got wrong.
//!
//! The checks assume nothing the contract does not promise: positions are compared, never
//! computed; an id reused in another stream is not checked (the contract scopes idempotency to the
//! stream); waiting for a subscription is bounded by [`WAIT_MAX`] only so that a backend that never
//! delivers fails instead of hanging.

use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::test_support::{test_event, test_events};
use super::{
    AllFrom, AppendOutcome, Direction, EventLog, ExpectedRevision, LogError, NewEvent, Position,
    RecordedEvent, StreamFrom, Subscription, APPEND_EVENTS_MAX, STREAM_NAME_MAX,
};

/// The longest a check waits for an event it is owed by a subscription.
pub const WAIT_MAX: Duration = Duration::from_secs(60);

/// A fresh, empty log, with whatever must live as long as it (a temporary directory, a server).
pub struct FreshLog {
    pub log: Arc<dyn EventLog>,
    pub keep: Box<dyn Any + Send>,
}

impl std::fmt::Debug for FreshLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FreshLog")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl FreshLog {
    /// A log that needs nothing kept alive beside it.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self {
            log,
            keep: Box::new(()),
        }
    }
}

/// Runs every check, each on a log `open` returns fresh, and closes each log afterwards.
pub async fn check_all<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = FreshLog>,
{
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {$(
            let fresh = open().await;
            $check(fresh.log.clone()).await;
            fresh.log.close().await.expect(concat!(stringify!($check), ": the log closes"));
            drop(fresh);
        )+};
    }
    run!(
        appends_assign_revisions_and_increasing_positions,
        expected_revisions_are_checked_and_refusals_write_nothing,
        a_retry_is_idempotent_within_its_stream,
        limits_are_enforced,
        reads_go_both_ways_and_page_without_gap_or_repeat,
        concurrent_writers_conflict_and_exactly_one_wins_each_revision,
        a_subscription_catches_up_goes_live_and_resumes_after_a_reconnect,
        a_subscription_from_the_end_or_a_position_starts_there,
    );
}

fn ids(events: &[NewEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

fn recorded_ids(events: &[RecordedEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.event.id).collect()
}

async fn append(
    log: &dyn EventLog,
    stream: &str,
    expected: ExpectedRevision,
    events: &[NewEvent],
) -> Result<AppendOutcome, LogError> {
    log.append(stream, expected, events.to_vec()).await
}

/// Every event of the log, read forwards page by page (small pages, so that paging is exercised).
pub async fn read_everything(log: &dyn EventLog) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let from = AllFrom::after(events.last().map(|event| event.position));
        let page = log
            .read_all(from, Direction::Forwards, 7)
            .await
            .expect("the log reads");
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

async fn next_event(subscription: &mut Subscription, what: &str) -> RecordedEvent {
    match tokio::time::timeout(WAIT_MAX, subscription.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(error))) => panic!("{what}: the subscription failed: {error}"),
        Ok(None) => panic!("{what}: the subscription ended"),
        Err(_) => panic!("{what}: no event within {WAIT_MAX:?}"),
    }
}

fn assert_increasing(events: &[RecordedEvent], what: &str) {
    for pair in events.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "{what}: positions increase ({} then {})",
            pair[0].position,
            pair[1].position
        );
    }
}

/// Appends get the stream's next revisions and positions after every earlier event; what was
/// acknowledged is read back as appended, in the order of the acknowledgements.
pub async fn appends_assign_revisions_and_increasing_positions(log: Arc<dyn EventLog>) {
    let log = log.as_ref();
    assert_eq!(
        log.last_position().await.expect("head"),
        None,
        "a fresh log is empty"
    );
    assert_eq!(log.stream_revision("a").await.expect("revision"), None);

    let first = test_events(2);
    let other = test_events(1);
    let more = test_events(2);
    let one = append(log, "a", ExpectedRevision::NoStream, &first)
        .await
        .expect("appends to a new stream");
    let two = append(log, "b", ExpectedRevision::Any, &other)
        .await
        .expect("appends to another stream");
    let three = append(log, "a", ExpectedRevision::Exact(1), &more)
        .await
        .expect("appends after revision 1");

    assert_eq!(
        (
            one.stream_revision,
            two.stream_revision,
            three.stream_revision
        ),
        (1, 0, 3)
    );
    assert!(!one.replayed && !two.replayed && !three.replayed);
    assert!(one.first_position < one.last_position);
    assert!(one.last_position < two.first_position);
    assert!(two.last_position < three.first_position);
    assert_eq!(
        log.last_position().await.expect("head"),
        Some(three.last_position),
        "the head is the last event's position"
    );

    let everything = read_everything(log).await;
    let appended: Vec<NewEvent> = first.iter().chain(&other).chain(&more).cloned().collect();
    assert_eq!(
        everything
            .iter()
            .map(|event| event.event.clone())
            .collect::<Vec<_>>(),
        appended,
        "the events come back as appended, in order"
    );
    assert_increasing(&everything, "read_all");
    assert_eq!(everything[0].position, one.first_position);
    assert_eq!(everything[4].position, three.last_position);

    let stream_a = log
        .read_stream("a", StreamFrom::Start, Direction::Forwards, 100)
        .await
        .expect("reads the stream");
    assert_eq!(
        stream_a
            .iter()
            .map(|event| event.revision)
            .collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(stream_a.iter().all(|event| event.stream == "a"));
    assert_eq!(recorded_ids(&stream_a), [ids(&first), ids(&more)].concat());
    assert_eq!(log.stream_revision("a").await.expect("revision"), Some(3));
    assert_eq!(log.stream_revision("b").await.expect("revision"), Some(0));

    let found = log
        .find_event("a", more[1].id)
        .await
        .expect("finds")
        .expect("the event is in its stream");
    assert_eq!((found.revision, found.position), (3, three.last_position));
    assert_eq!(
        log.find_event("a", Uuid::new_v4()).await.expect("finds"),
        None
    );

    append(log, "offer-2", ExpectedRevision::Any, &test_events(1))
        .await
        .expect("appends");
    append(log, "offer-1", ExpectedRevision::Any, &test_events(1))
        .await
        .expect("appends");
    assert_eq!(
        log.stream_names("offer-").await.expect("names"),
        vec!["offer-1".to_owned(), "offer-2".to_owned()],
        "the streams of a kind, sorted"
    );
}

/// Every kind of expected revision is checked against the stream as it is; a refused append names
/// the stream's revision and writes nothing.
pub async fn expected_revisions_are_checked_and_refusals_write_nothing(log: Arc<dyn EventLog>) {
    let log = log.as_ref();
    let refused =
        |result: Result<AppendOutcome, LogError>, actual: Option<u64>, what: &str| match result {
            Err(LogError::WrongExpectedRevision {
                stream,
                actual: found,
                ..
            }) => {
                assert_eq!(stream, "s", "{what}");
                assert_eq!(
                    found, actual,
                    "{what}: the error names the stream's revision"
                );
            }
            other => panic!("{what}: expected WrongExpectedRevision, got {other:?}"),
        };
    let mut rejected = Vec::new();
    let mut try_append = |expected| {
        let events = test_events(2);
        rejected.extend(ids(&events));
        async move { append(log, "s", expected, &events).await }
    };
    refused(
        try_append(ExpectedRevision::StreamExists).await,
        None,
        "StreamExists on no stream",
    );
    refused(
        try_append(ExpectedRevision::Exact(0)).await,
        None,
        "Exact(0) on no stream",
    );

    append(log, "s", ExpectedRevision::NoStream, &test_events(1))
        .await
        .expect("NoStream on no stream");
    refused(
        try_append(ExpectedRevision::NoStream).await,
        Some(0),
        "NoStream on a stream",
    );
    refused(
        try_append(ExpectedRevision::Exact(1)).await,
        Some(0),
        "Exact(1) at 0",
    );
    append(log, "s", ExpectedRevision::Exact(0), &test_events(1))
        .await
        .expect("Exact(0) at 0");
    append(log, "s", ExpectedRevision::StreamExists, &test_events(1))
        .await
        .expect("StreamExists on a stream");
    append(log, "s", ExpectedRevision::Any, &test_events(1))
        .await
        .expect("Any");
    refused(
        try_append(ExpectedRevision::Exact(2)).await,
        Some(3),
        "Exact(2) at 3",
    );

    let stored = read_everything(log).await;
    assert_eq!(stored.len(), 4, "only the accepted appends were written");
    let rejected: HashSet<Uuid> = rejected.into_iter().collect();
    assert!(
        stored
            .iter()
            .all(|event| !rejected.contains(&event.event.id)),
        "nothing of a refused append was stored"
    );
    assert_eq!(log.stream_revision("s").await.expect("revision"), Some(3));
}

/// Appending stored ids again with the same content returns the original outcome, whatever the
/// stream's revision is now, and writes nothing; other content under a stored id, or stored ids
/// mixed with new ones, are refused. The retries go through the log that acknowledged the
/// originals, so every backend can say that they are retries (`AppendOutcome::replayed`).
pub async fn a_retry_is_idempotent_within_its_stream(log: Arc<dyn EventLog>) {
    let log = log.as_ref();
    let events = test_events(3);
    let original = append(log, "s", ExpectedRevision::NoStream, &events)
        .await
        .expect("appends");
    append(log, "s", ExpectedRevision::Any, &test_events(2))
        .await
        .expect("appends more");
    let before = read_everything(log).await;

    let retry = append(log, "s", ExpectedRevision::NoStream, &events)
        .await
        .expect("a retry succeeds although its expected revision no longer holds");
    assert!(retry.replayed, "the retry says so");
    assert_eq!(
        AppendOutcome {
            replayed: false,
            ..retry
        },
        original,
        "the retry answers the original outcome"
    );
    let part = append(log, "s", ExpectedRevision::Any, &events[1..2])
        .await
        .expect("a retry of part of an append");
    assert!(part.replayed);
    assert_eq!(part.first_position, part.last_position);
    assert_eq!(part.stream_revision, 1);

    let mut changed = events[0].clone();
    changed.content_digest = [0xAB; 32];
    match append(log, "s", ExpectedRevision::Any, &[changed]).await {
        Err(LogError::DuplicateIdConflict { id, position }) => {
            assert_eq!((id, position), (events[0].id, original.first_position));
        }
        other => {
            panic!("other content under a stored id: expected DuplicateIdConflict, got {other:?}")
        }
    }
    let mixed = vec![events[2].clone(), test_event(Uuid::new_v4())];
    match append(log, "s", ExpectedRevision::Any, &mixed).await {
        Err(LogError::PartialDuplicate { stored, new }) => {
            assert_eq!((stored, new), (mixed[0].id, mixed[1].id));
        }
        other => panic!("stored and new ids mixed: expected PartialDuplicate, got {other:?}"),
    }
    assert_eq!(
        read_everything(log).await,
        before,
        "retries and refusals write nothing"
    );
}

/// The stateless limits: stream names (up to the backend's own limit, which is at most the
/// embedded log's), append sizes, ids twice in one append, read limits.
pub async fn limits_are_enforced(log: Arc<dyn EventLog>) {
    let log = log.as_ref();
    let name_max = log.stream_name_max();
    assert!(
        name_max <= STREAM_NAME_MAX,
        "the backend takes stream names of {name_max} bytes, more than the embedded log's {STREAM_NAME_MAX}"
    );
    for name in [
        String::new(),
        "with\0nul".to_owned(),
        "x".repeat(name_max + 1),
    ] {
        match append(log, &name, ExpectedRevision::Any, &test_events(1)).await {
            Err(LogError::InvalidStreamName { stream, max }) => {
                assert_eq!(
                    (stream, max),
                    (name, name_max),
                    "the refusal names the limit"
                )
            }
            other => panic!("stream name {name:?}: expected InvalidStreamName, got {other:?}"),
        }
    }
    append(
        log,
        &"x".repeat(name_max),
        ExpectedRevision::Any,
        &test_events(1),
    )
    .await
    .expect("a name as long as the limit");
    for count in [0, APPEND_EVENTS_MAX + 1] {
        match append(log, "s", ExpectedRevision::Any, &test_events(count)).await {
            Err(LogError::AppendSize(size)) => assert_eq!(size, count),
            other => panic!("{count} events: expected AppendSize, got {other:?}"),
        }
    }
    let twice = test_event(Uuid::new_v4());
    match append(
        log,
        "s",
        ExpectedRevision::Any,
        &[twice.clone(), twice.clone()],
    )
    .await
    {
        Err(LogError::DuplicateIdInAppend(id)) => assert_eq!(id, twice.id),
        other => panic!("an id twice: expected DuplicateIdInAppend, got {other:?}"),
    }
    assert_eq!(
        log.stream_revision("s").await.expect("revision"),
        None,
        "nothing written"
    );

    // The most events one append may carry; a backend whose appends are bounded in bytes may
    // refuse them as too large, and then takes as many as fit (the test events are all of one size).
    let (largest, count) = match append(
        log,
        "s",
        ExpectedRevision::Any,
        &test_events(APPEND_EVENTS_MAX),
    )
    .await
    {
        Ok(largest) => (largest, APPEND_EVENTS_MAX),
        Err(LogError::AppendTooLarge { bytes, max }) => {
            assert!(bytes > max, "refused as {bytes} bytes, over its {max}");
            assert_eq!(
                log.stream_revision("s").await.expect("revision"),
                None,
                "nothing of a refused append written"
            );
            let fitting = APPEND_EVENTS_MAX * max / bytes;
            let outcome = append(log, "s", ExpectedRevision::Any, &test_events(fitting))
                .await
                .unwrap_or_else(|error| panic!("{fitting} events, {max} bytes at most: {error}"));
            (outcome, fitting)
        }
        Err(error) => panic!("the largest append: {error}"),
    };
    assert_eq!(largest.stream_revision, count as u64 - 1);
    assert!(count >= 10, "room for the reads below");
    for direction in [Direction::Forwards, Direction::Backwards] {
        let from = match direction {
            Direction::Forwards => AllFrom::Start,
            Direction::Backwards => AllFrom::End,
        };
        assert_eq!(
            log.read_all(from, direction, 0).await.expect("reads").len(),
            0
        );
        assert_eq!(
            log.read_all(from, direction, 10)
                .await
                .expect("reads")
                .len(),
            10
        );
        let stream_from = match direction {
            Direction::Forwards => StreamFrom::Start,
            Direction::Backwards => StreamFrom::End,
        };
        let page = log
            .read_stream("s", stream_from, direction, 10)
            .await
            .expect("reads");
        assert_eq!(page.len(), 10, "a read returns at most its limit");
    }
}

/// Reads of the whole log and of a stream, forwards and backwards, from every kind of start; pages
/// continued from the last event read cover the log once.
pub async fn reads_go_both_ways_and_page_without_gap_or_repeat(log: Arc<dyn EventLog>) {
    let log = log.as_ref();
    for round in 0..6 {
        let stream = if round % 2 == 0 { "even" } else { "odd" };
        append(log, stream, ExpectedRevision::Any, &test_events(3))
            .await
            .expect("appends");
    }
    let all = read_everything(log).await;
    assert_eq!(all.len(), 18);
    assert_increasing(&all, "forwards");
    let positions: Vec<Position> = all.iter().map(|event| event.position).collect();
    let read = |from, direction, limit| async move {
        log.read_all(from, direction, limit)
            .await
            .expect("reads")
            .into_iter()
            .map(|event| event.position)
            .collect::<Vec<_>>()
    };
    let (p5, p6) = (positions[5], positions[6]);
    assert_eq!(
        read(AllFrom::Start, Direction::Forwards, 3).await,
        positions[..3]
    );
    assert_eq!(
        read(AllFrom::Including(p5), Direction::Forwards, 2).await,
        [p5, p6]
    );
    assert_eq!(
        read(AllFrom::Excluding(p5), Direction::Forwards, 2).await,
        positions[6..8]
    );
    assert!(read(AllFrom::End, Direction::Forwards, 5).await.is_empty());
    assert!(
        read(AllFrom::Excluding(positions[17]), Direction::Forwards, 5)
            .await
            .is_empty()
    );

    let mut reversed = positions.clone();
    reversed.reverse();
    assert_eq!(
        read(AllFrom::End, Direction::Backwards, 3).await,
        reversed[..3]
    );
    assert_eq!(
        read(AllFrom::Including(p6), Direction::Backwards, 2).await,
        [p6, p5]
    );
    assert_eq!(
        read(AllFrom::Excluding(p6), Direction::Backwards, 2).await,
        [p5, positions[4]]
    );
    assert!(read(AllFrom::Start, Direction::Backwards, 5)
        .await
        .is_empty());
    assert!(
        read(AllFrom::Excluding(positions[0]), Direction::Backwards, 5)
            .await
            .is_empty()
    );

    // Paging backwards from the end covers the log once, newest first.
    let mut backwards: Vec<Position> = Vec::new();
    loop {
        let from = backwards
            .last()
            .map_or(AllFrom::End, |last| AllFrom::Excluding(*last));
        let page = read(from, Direction::Backwards, 5).await;
        if page.is_empty() {
            break;
        }
        backwards.extend(page);
    }
    assert_eq!(backwards, reversed, "backward pages cover the log once");

    let stream = |from, direction, limit| async move {
        log.read_stream("even", from, direction, limit)
            .await
            .expect("reads the stream")
            .into_iter()
            .map(|event| event.revision)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        stream(StreamFrom::Start, Direction::Forwards, 100).await,
        (0..9).collect::<Vec<u64>>()
    );
    assert_eq!(
        stream(StreamFrom::Revision(4), Direction::Forwards, 2).await,
        [4, 5]
    );
    assert!(stream(StreamFrom::End, Direction::Forwards, 5)
        .await
        .is_empty());
    assert!(stream(StreamFrom::Revision(9), Direction::Forwards, 5)
        .await
        .is_empty());
    assert_eq!(
        stream(StreamFrom::End, Direction::Backwards, 2).await,
        [8, 7]
    );
    assert_eq!(
        stream(StreamFrom::Revision(4), Direction::Backwards, 2).await,
        [4, 3]
    );
    assert_eq!(
        stream(StreamFrom::Start, Direction::Backwards, 5).await,
        [0]
    );
    assert!(log
        .read_stream("missing", StreamFrom::Start, Direction::Forwards, 5)
        .await
        .expect("a missing stream reads")
        .is_empty());
    let even = log
        .read_stream("even", StreamFrom::Start, Direction::Forwards, 100)
        .await
        .expect("reads");
    assert!(even.iter().all(|event| event.stream == "even"));
    assert_increasing(&even, "a stream's events");
}

/// Writers racing for the same revisions of one stream: exactly one append wins each revision,
/// every other one is refused with the revision it lost to, and the stream holds exactly the
/// acknowledged appends, gap-free.
pub async fn concurrent_writers_conflict_and_exactly_one_wins_each_revision(
    log: Arc<dyn EventLog>,
) {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 12;
    append(
        log.as_ref(),
        "race",
        ExpectedRevision::NoStream,
        &test_events(1),
    )
    .await
    .expect("the stream exists");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let log = log.clone();
        tasks.spawn(async move {
            let mut won = Vec::new();
            let mut lost = 0usize;
            for _ in 0..ROUNDS {
                let current = log
                    .stream_revision("race")
                    .await
                    .expect("revision")
                    .expect("the stream exists");
                let events = test_events(2);
                match log
                    .append("race", ExpectedRevision::Exact(current), events.clone())
                    .await
                {
                    Ok(outcome) => {
                        assert_eq!(outcome.stream_revision, current + 2);
                        won.push((outcome, ids(&events)));
                    }
                    Err(LogError::WrongExpectedRevision { actual, .. }) => {
                        assert!(
                            actual.is_some_and(|actual| actual > current),
                            "a refusal names a later revision than the one expected"
                        );
                        lost += 1;
                    }
                    Err(error) => panic!("a racing append failed: {error}"),
                }
            }
            (won, lost)
        });
    }
    let mut won = Vec::new();
    let mut lost = 0;
    while let Some(result) = tasks.join_next().await {
        let (mine, refused) = result.expect("a writer");
        won.extend(mine);
        lost += refused;
    }
    assert_eq!(
        won.len() + lost,
        WRITERS * ROUNDS,
        "every append was answered"
    );
    assert!(!won.is_empty(), "some append won");
    won.sort_by_key(|(outcome, _)| outcome.stream_revision);
    for (index, (outcome, _)) in won.iter().enumerate() {
        assert_eq!(
            outcome.stream_revision,
            2 * index as u64 + 2,
            "exactly one append won each revision"
        );
    }
    let stream = log
        .read_stream("race", StreamFrom::Revision(1), Direction::Forwards, 10_000)
        .await
        .expect("reads");
    let expected: Vec<Uuid> = won.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(
        recorded_ids(&stream),
        expected,
        "the stream holds the winners, in order"
    );
    assert_eq!(read_everything(log.as_ref()).await.len(), 1 + 2 * won.len());
}

/// A subscription from the start delivers the stored events (catch-up), then new ones as they are
/// appended (live), each once and in order, also while appends race with the catch-up; a
/// subscriber that drops its subscription and subscribes again after the last event it received
/// misses nothing and gets nothing twice.
pub async fn a_subscription_catches_up_goes_live_and_resumes_after_a_reconnect(
    log: Arc<dyn EventLog>,
) {
    for _ in 0..4 {
        append(log.as_ref(), "s", ExpectedRevision::Any, &test_events(5))
            .await
            .expect("appends");
    }
    let mut subscription = log.subscribe_all(AllFrom::Start).await.expect("subscribes");
    // Appends race with the catch-up.
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for round in 0..10 {
                let stream = if round % 2 == 0 { "s" } else { "t" };
                log.append(stream, ExpectedRevision::Any, test_events(3))
                    .await
                    .expect("appends while subscribed");
            }
        })
    };
    let mut received = Vec::new();
    for _ in 0..35 {
        received.push(next_event(&mut subscription, "catch-up and live").await);
    }
    writer.await.expect("the writer");
    drop(subscription);

    // Appended while nobody listens.
    append(log.as_ref(), "t", ExpectedRevision::Any, &test_events(4))
        .await
        .expect("appends while disconnected");
    let last = received.last().map(|event| event.position);
    let mut resumed = log
        .subscribe_all(AllFrom::after(last))
        .await
        .expect("subscribes again");
    // 20 before, 30 while subscribed, 4 while disconnected: 19 are still owed.
    for _ in 0..(20 + 30 + 4 - 35) {
        received.push(next_event(&mut resumed, "after the reconnect").await);
    }
    // And live again.
    let live = test_events(2);
    append(log.as_ref(), "u", ExpectedRevision::Any, &live)
        .await
        .expect("appends");
    for _ in 0..2 {
        received.push(next_event(&mut resumed, "live after the reconnect").await);
    }

    let stored = read_everything(log.as_ref()).await;
    let positions = |events: &[RecordedEvent]| -> Vec<Position> {
        events.iter().map(|event| event.position).collect()
    };
    assert_eq!(
        (positions(&received), recorded_ids(&received)),
        (positions(&stored), recorded_ids(&stored)),
        "the subscriber got every event once, in order, as stored"
    );
    assert!(
        received == stored,
        "the subscriber's events equal the stored ones"
    );
    assert_eq!(recorded_ids(&received[received.len() - 2..]), ids(&live));
    assert!(
        resumed.try_next().is_none(),
        "nothing beyond the log is delivered"
    );
}

/// A subscription from the end gets only what is appended after it; one from a position gets the
/// events from there (`Including`) or after it (`Excluding`).
pub async fn a_subscription_from_the_end_or_a_position_starts_there(log: Arc<dyn EventLog>) {
    append(log.as_ref(), "s", ExpectedRevision::Any, &test_events(6))
        .await
        .expect("appends");
    let stored = read_everything(log.as_ref()).await;
    let mut from_end = log.subscribe_all(AllFrom::End).await.expect("subscribes");
    let mut including = log
        .subscribe_all(AllFrom::Including(stored[3].position))
        .await
        .expect("subscribes");
    let mut excluding = log
        .subscribe_all(AllFrom::Excluding(stored[3].position))
        .await
        .expect("subscribes");
    let new = test_events(2);
    append(log.as_ref(), "s", ExpectedRevision::Any, &new)
        .await
        .expect("appends");

    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(next_event(&mut from_end, "from the end").await.event.id);
    }
    assert_eq!(got, ids(&new), "from the end: only the new events");
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next_event(&mut including, "including").await.event.id);
    }
    assert_eq!(got, [recorded_ids(&stored[3..]), ids(&new)].concat());
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next_event(&mut excluding, "excluding").await.event.id);
    }
    assert_eq!(got, [recorded_ids(&stored[4..]), ids(&new)].concat());
}
