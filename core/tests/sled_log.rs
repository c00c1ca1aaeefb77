//! Behaviour particular to the embedded sled event log (reopening, closing, its configuration,
//! backpressure, an id refused in another stream), over a real store in a temporary directory. The
//! contract every backend honours is checked by `log_conformance.rs`.

mod support;

use journey_core::log::test_support::{test_event, test_events};
use journey_core::log::{
    AllFrom, AppendOutcome, Direction, EventLog, ExpectedRevision, LogError, Position, SledLog,
    SledLogConfig, READ_LIMIT_MAX,
};
use uuid::Uuid;

use support::{
    assert_global_chain, ids, next_position, open_log, read_everything, reopen, TestLog,
};

/// The embedded log's position `raw` (it numbers its events densely from 0).
fn p(raw: u64) -> Position {
    Position::from_raw(raw)
}

/// Appends `count` fresh events to `stream` without a revision check.
async fn given_events(log: &SledLog, stream: &str, count: usize) -> AppendOutcome {
    log.append(stream, ExpectedRevision::Any, test_events(count))
        .await
        .expect("the given events are appended")
}

fn assert_wrong_revision(
    result: Result<AppendOutcome, LogError>,
    stream: &str,
    expected: ExpectedRevision,
    actual: Option<u64>,
) {
    match result {
        Err(LogError::WrongExpectedRevision {
            stream: reported_stream,
            expected: reported_expected,
            actual: reported_actual,
        }) => {
            assert_eq!(reported_stream, stream);
            assert_eq!(reported_expected, expected);
            assert_eq!(reported_actual, actual, "the actual revision is reported");
        }
        other => panic!("expected WrongExpectedRevision, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Expected revision
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Idempotency and duplicate ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_id_in_another_stream_is_rejected() {
    let TestLog { log, .. } = open_log();
    let stored = test_event(Uuid::new_v4());
    log.append("first", ExpectedRevision::Any, vec![stored.clone()])
        .await
        .expect("appended");

    let result = log
        .append("second", ExpectedRevision::Any, vec![stored.clone()])
        .await;

    match result {
        Err(LogError::DuplicateIdInOtherStream {
            id,
            stream,
            stored_stream,
        }) => {
            assert_eq!(id, stored.id);
            assert_eq!(stream, "second");
            assert_eq!(stored_stream, "first");
        }
        other => panic!("expected DuplicateIdInOtherStream, got {other:?}"),
    }
    assert_eq!(log.stream_revision("second").await.expect("revision"), None);
}

// ---------------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// Ten events in `s` interleaved with events of `s-other` and `t`, whose names share a prefix with
/// `s` or sort next to it. Returns the ids of `s` in revision order.
async fn given_interleaved_streams(log: &SledLog) -> Vec<Uuid> {
    let mut ids_of_s = Vec::new();
    for round in 0..5 {
        let events = test_events(2);
        ids_of_s.extend(ids(&events));
        log.append("s", ExpectedRevision::Any, events)
            .await
            .expect("appended");
        given_events(log, "s-other", 1).await;
        if round % 2 == 0 {
            given_events(log, "t", 1).await;
        }
    }
    ids_of_s
}

// ---------------------------------------------------------------------------------------------
// Durability, reopening and closing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn reopening_keeps_positions_heads_ids_and_the_global_chain() {
    let fixture = open_log();
    given_interleaved_streams(&fixture.log).await;
    let retried = test_events(2);
    let original = fixture
        .log
        .append("r", ExpectedRevision::NoStream, retried.clone())
        .await
        .expect("appended");
    let before = read_everything(&fixture.log).await;

    let fixture = reopen(fixture);
    let log = &fixture.log;

    assert_eq!(
        read_everything(log).await,
        before,
        "everything is still there"
    );
    assert_eq!(next_position(log).await, 20);
    assert_eq!(log.stream_revision("s").await.expect("revision"), Some(9));
    let replay = log
        .append("r", ExpectedRevision::Any, retried)
        .await
        .expect("the retry is still recognised");
    assert_eq!(
        replay,
        AppendOutcome {
            replayed: true,
            ..original
        }
    );
    assert_wrong_revision(
        log.append("s", ExpectedRevision::Exact(8), test_events(1))
            .await,
        "s",
        ExpectedRevision::Exact(8),
        Some(9),
    );
    let next = log
        .append("s", ExpectedRevision::Exact(9), test_events(2))
        .await
        .expect("the stream continues");
    assert_eq!((next.first_position, next.stream_revision), (p(20), 11));
    given_events(log, "brand-new", 1).await;
    let everything = read_everything(log).await;
    assert_eq!(everything.len(), 23);
    assert_global_chain(&everything);
}

#[tokio::test]
async fn close_finishes_and_later_appends_fail() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 2).await;

    log.close().await.expect("closes");
    let after = log.append("s", ExpectedRevision::Any, test_events(1)).await;
    log.close().await.expect("closing twice is fine");

    assert!(matches!(after, Err(LogError::Closed)), "{after:?}");
    assert_eq!(
        log.read_all(AllFrom::Start, Direction::Forwards, 10)
            .await
            .expect("reads still work")
            .len(),
        2
    );
    assert_eq!(next_position(&log).await, 2);
}

#[tokio::test]
async fn appends_queued_before_close_are_written() {
    let TestLog { log, .. } = open_log();
    let log = std::sync::Arc::new(log);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append("s", ExpectedRevision::Any, test_events(1)).await
        }));
    }
    // Let some of the appends reach the queue before the log closes.
    tokio::task::yield_now().await;

    log.close().await.expect("closes");

    let mut acknowledged = 0;
    for task in tasks {
        match task.await.expect("the task ends") {
            Ok(_) => acknowledged += 1,
            Err(LogError::Closed) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(
        next_position(&log).await,
        acknowledged,
        "exactly the acknowledged appends were written"
    );
}

#[tokio::test]
async fn a_small_configuration_still_commits_everything() {
    let config = SledLogConfig {
        group_max_requests: 1,
        group_max_events: 1,
        request_queue_capacity: 1,
        group_linger: std::time::Duration::ZERO,
        subscription_page_size: 1,
        subscription_buffer: 1,
        ..SledLogConfig::default()
    };
    let TestLog { log, .. } = support::open_log_with(config);
    let log = std::sync::Arc::new(log);

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append("s", ExpectedRevision::Any, test_events(3)).await
        }));
    }
    for task in tasks {
        task.await.expect("the task ends").expect("appended");
    }

    let everything = read_everything(&log).await;
    assert_eq!(everything.len(), 24);
    assert_global_chain(&everything);
    assert_eq!(
        log.read_all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
            .await
            .expect("read")
            .len(),
        24
    );
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

/// Collects a subscription until it ends, checking that every event was committed when it arrived.
fn spawn_subscriber(
    log: &std::sync::Arc<SledLog>,
    mut subscription: journey_core::log::Subscription,
) -> tokio::task::JoinHandle<Vec<journey_core::log::RecordedEvent>> {
    let log = log.clone();
    tokio::spawn(async move {
        let mut received = Vec::new();
        while let Some(event) = subscription.next().await {
            let event = event.expect("the subscription delivers events");
            assert!(
                next_position(&log).await > event.position.raw(),
                "a subscriber only sees committed events"
            );
            received.push(event);
        }
        received
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_beyond_the_head_waits_for_its_position() {
    let TestLog { log, .. } = open_log();
    let log = std::sync::Arc::new(log);
    given_events(&log, "s", 3).await;

    let subscription = log
        .subscribe_all(AllFrom::Including(p(5)))
        .await
        .expect("subscribes");
    let subscriber = spawn_subscriber(&log, subscription);
    given_events(&log, "s", 1).await;
    given_events(&log, "s", 4).await;
    log.close().await.expect("closes");
    let received = subscriber.await.expect("the subscription ends after close");

    let positions: Vec<u64> = received.iter().map(|event| event.position.raw()).collect();
    assert_eq!(positions, vec![5, 6, 7]);
}

#[tokio::test]
async fn a_subscription_to_a_closed_log_delivers_the_history_and_ends() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 3).await;
    log.close().await.expect("closes");

    let mut subscription = log
        .subscribe_all(AllFrom::Including(p(1)))
        .await
        .expect("subscribes");

    let mut positions = Vec::new();
    while let Some(event) = subscription.next().await {
        positions.push(event.expect("an event").position);
    }
    assert_eq!(positions, vec![p(1), p(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscriber_does_not_hold_up_the_log() {
    let config = SledLogConfig {
        subscription_buffer: 1,
        ..SledLogConfig::default()
    };
    let TestLog { log, .. } = support::open_log_with(config);
    given_events(&log, "s", 10).await;
    let mut subscription = log
        .subscribe_all(AllFrom::Including(p(0)))
        .await
        .expect("subscribes");
    subscription.next().await.expect("one event").expect("ok");

    drop(subscription);
    for _ in 0..5 {
        given_events(&log, "s", 2).await;
    }

    log.close().await.expect("closes");
    assert_eq!(next_position(&log).await, 20);
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

mod properties {
    //! Many concurrent writers with random batches and random expectations; afterwards the log must
    //! account for every acknowledged and every rejected append.

    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use journey_core::log::test_support::test_events;
    use journey_core::log::{
        AppendOutcome, EventLog, ExpectedRevision, LogError, RecordedEvent, SledLog,
    };

    use super::support::next_position;
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::support::{assert_global_chain, ids, open_log, read_everything, TestLog};

    #[derive(Debug, Clone, Copy)]
    enum Expect {
        Any,
        NoStream,
        StreamExists,
        /// `Exact` of the revision just read (racy on purpose), or `NoStream` if there is none.
        ExactSeen,
        /// `Exact` of a guess, mostly wrong.
        ExactGuess(u64),
    }

    #[derive(Debug, Clone)]
    struct Op {
        stream: usize,
        batch: usize,
        expect: Expect,
        /// Send the same append twice at once, like a client retrying a slow request.
        twin: bool,
        /// Retry the append after it was acknowledged.
        retry: bool,
    }

    #[derive(Debug)]
    struct Attempt {
        stream: String,
        expected: ExpectedRevision,
        ids: Vec<Uuid>,
        result: Result<AppendOutcome, LogError>,
        /// The committed head before the append was sent and after its reply arrived.
        before: u64,
        after: u64,
    }

    fn expect_strategy() -> impl Strategy<Value = Expect> {
        prop_oneof![
            2 => Just(Expect::Any),
            1 => Just(Expect::NoStream),
            1 => Just(Expect::StreamExists),
            3 => Just(Expect::ExactSeen),
            1 => (0u64..6).prop_map(Expect::ExactGuess),
        ]
    }

    fn op_strategy(streams: usize) -> impl Strategy<Value = Op> {
        (
            0..streams,
            1usize..=4,
            expect_strategy(),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.15),
        )
            .prop_map(|(stream, batch, expect, twin, retry)| Op {
                stream,
                batch,
                expect,
                twin,
                retry,
            })
    }

    /// Per writer a list of operations on `streams` streams.
    fn plan(
        streams: usize,
        writers: std::ops::RangeInclusive<usize>,
    ) -> impl Strategy<Value = Vec<Vec<Op>>> {
        prop::collection::vec(prop::collection::vec(op_strategy(streams), 1..=4), writers)
    }

    async fn attempt(
        log: &SledLog,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<journey_core::log::NewEvent>,
        twin: bool,
    ) -> Vec<Attempt> {
        let ids = ids(&events);
        let before = next_position(log).await;
        let results = if twin {
            let (first, second) = tokio::join!(
                log.append(stream, expected, events.clone()),
                log.append(stream, expected, events)
            );
            vec![first, second]
        } else {
            vec![log.append(stream, expected, events).await]
        };
        let after = next_position(log).await;
        results
            .into_iter()
            .map(|result| Attempt {
                stream: stream.to_owned(),
                expected,
                ids: ids.clone(),
                result,
                before,
                after,
            })
            .collect()
    }

    async fn run_writer(log: Arc<SledLog>, ops: Vec<Op>) -> Vec<Attempt> {
        let mut attempts = Vec::new();
        for op in ops {
            let stream = format!("stream-{}", op.stream);
            let expected = match op.expect {
                Expect::Any => ExpectedRevision::Any,
                Expect::NoStream => ExpectedRevision::NoStream,
                Expect::StreamExists => ExpectedRevision::StreamExists,
                Expect::ExactGuess(guess) => ExpectedRevision::Exact(guess),
                Expect::ExactSeen => match log.stream_revision(&stream).await.expect("revision") {
                    Some(revision) => ExpectedRevision::Exact(revision),
                    None => ExpectedRevision::NoStream,
                },
            };
            let events = test_events(op.batch);
            let made = attempt(&log, &stream, expected, events.clone(), op.twin).await;
            let acknowledged = made.iter().any(|made| made.result.is_ok());
            attempts.extend(made);
            if op.retry && acknowledged {
                attempts.extend(attempt(&log, &stream, ExpectedRevision::Any, events, false).await);
            }
        }
        attempts
    }

    /// Runs the plan with one task per writer on a multi-thread runtime and checks the outcome.
    fn run_plan(plan: Vec<Vec<Op>>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a runtime");
        let TestLog { log, .. } = open_log();
        let log = Arc::new(log);
        let (attempts, events) = runtime.block_on(async {
            let tasks: Vec<_> = plan
                .into_iter()
                .map(|ops| tokio::spawn(run_writer(log.clone(), ops)))
                .collect();
            let mut attempts = Vec::new();
            for task in tasks {
                attempts.extend(task.await.expect("the writer ends"));
            }
            (attempts, read_everything(&log).await)
        });
        check(&attempts, &events);
    }

    fn holds(expected: ExpectedRevision, actual: Option<u64>) -> bool {
        match expected {
            ExpectedRevision::Any => true,
            ExpectedRevision::NoStream => actual.is_none(),
            ExpectedRevision::StreamExists => actual.is_some(),
            ExpectedRevision::Exact(revision) => actual == Some(revision),
        }
    }

    /// Every stream's (position, revision) pairs in log order.
    struct History<'a>(HashMap<&'a str, Vec<(u64, u64)>>);

    impl History<'_> {
        /// The stream's last revision among the events below `position`.
        fn revision_before(&self, stream: &str, position: u64) -> Option<u64> {
            let entries = self.0.get(stream)?;
            let count = entries.partition_point(|(at, _)| *at < position);
            count.checked_sub(1).map(|index| entries[index].1)
        }
    }

    fn check(attempts: &[Attempt], events: &[RecordedEvent]) {
        assert_global_chain(events);

        // No event id is stored twice.
        let mut stored_ids = HashSet::new();
        for event in events {
            assert!(
                stored_ids.insert(event.event.id),
                "id {} stored twice",
                event.event.id
            );
        }

        // Revisions are contiguous per stream, in position order.
        let mut history = History(HashMap::new());
        for event in events {
            let entries = history.0.entry(event.stream.as_str()).or_default();
            assert_eq!(
                event.revision,
                entries.len() as u64,
                "revision gap in {}",
                event.stream
            );
            entries.push((event.position.raw(), event.revision));
        }

        // Attempts carrying the same ids (twins and retries) are judged together.
        let mut by_ids: HashMap<&[Uuid], Vec<&Attempt>> = HashMap::new();
        for attempt in attempts {
            by_ids
                .entry(attempt.ids.as_slice())
                .or_default()
                .push(attempt);
        }
        let mut written = 0;
        for (ids, same) in &by_ids {
            let acknowledged: Vec<&AppendOutcome> = same
                .iter()
                .filter_map(|attempt| attempt.result.as_ref().ok())
                .collect();
            let originals: Vec<&&AppendOutcome> = acknowledged
                .iter()
                .filter(|outcome| !outcome.replayed)
                .collect();
            if acknowledged.is_empty() {
                for id in *ids {
                    assert!(!stored_ids.contains(id), "rejected id {id} was stored");
                }
                continue;
            }
            assert_eq!(
                originals.len(),
                1,
                "one write per set of ids, the rest replays"
            );
            let original = **originals[0];
            for outcome in &acknowledged {
                assert_eq!(
                    AppendOutcome {
                        replayed: false,
                        ..**outcome
                    },
                    original,
                    "a replay answers the original outcome"
                );
            }
            // The append's events are contiguous, in order, in its stream, ending at its revision.
            let count = ids.len() as u64;
            let (first, last) = (original.first_position.raw(), original.last_position.raw());
            assert_eq!(last - first + 1, count);
            for (offset, id) in (0u64..).zip(ids.iter()) {
                let event = &events[(first + offset) as usize];
                assert_eq!(event.event.id, *id);
                assert_eq!(event.stream, same[0].stream);
                assert_eq!(
                    event.revision,
                    original.stream_revision + 1 - count + offset
                );
            }
            written += ids.len();
        }
        assert_eq!(
            written,
            events.len(),
            "nothing but acknowledged appends was written"
        );

        // Every decision about the expected revision was right at the time it was made.
        let mut exact_winners: HashMap<(&str, u64), usize> = HashMap::new();
        for attempt in attempts {
            match &attempt.result {
                Ok(outcome) if !outcome.replayed => {
                    assert!(
                        attempt.before <= outcome.first_position.raw()
                            && outcome.first_position.raw() < attempt.after,
                        "written while the append was in flight"
                    );
                    let prior =
                        history.revision_before(&attempt.stream, outcome.first_position.raw());
                    assert!(
                        holds(attempt.expected, prior),
                        "{:?} accepted with the stream at {prior:?}",
                        attempt.expected
                    );
                    if let ExpectedRevision::Exact(revision) = attempt.expected {
                        *exact_winners
                            .entry((&attempt.stream, revision))
                            .or_default() += 1;
                    }
                }
                Ok(_) => {}
                Err(LogError::WrongExpectedRevision {
                    stream,
                    expected,
                    actual,
                }) => {
                    assert_eq!((stream, *expected), (&attempt.stream, attempt.expected));
                    assert!(
                        !holds(*expected, *actual),
                        "{expected:?} rejected at {actual:?}"
                    );
                    assert!(
                        (attempt.before..=attempt.after)
                            .any(|position| history.revision_before(stream, position) == *actual),
                        "{expected:?} rejected with actual {actual:?}, which the stream did not \
                         have while the append was in flight"
                    );
                }
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        for ((stream, revision), winners) in exact_winners {
            assert_eq!(
                winners, 1,
                "Exact({revision}) on {stream} won {winners} times"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 10,
            // Every case does real fsyncs; a long shrink would take minutes.
            max_shrink_iters: 16,
            ..ProptestConfig::default()
        })]

        #[test]
        fn many_writers_on_one_stream(plan in plan(1, 16..=48)) {
            run_plan(plan);
        }

        #[test]
        fn many_writers_on_many_streams(plan in (2usize..=12).prop_flat_map(|streams| plan(streams, 16..=64))) {
            run_plan(plan);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Durability: the log's group commit is the store's
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_append_is_made_durable_by_a_flush_of_the_stores_group_commit() {
    // Given a write of another user of the store (the audit log, the key store), not yet flushed.
    let TestLog { log, store, .. } = open_log();
    store
        .db()
        .insert("another tree's write", "value")
        .expect("insert");
    let other_write = store.ticket();
    let flushes_before = store.flushes_finished();
    // When the log appends and acknowledges.
    given_events(&log, "stream-a", 2).await;
    // Then its flush ran through the store's group commit, and it began after the other write, so
    // that write is durable too and needs no flush of its own.
    assert!(store.flushes_finished() > flushes_before);
    assert!(store.covers(other_write));
    let flushes_after_append = store.flushes_finished();
    store.flush_after(other_write).expect("flush");
    assert_eq!(store.flushes_finished(), flushes_after_append);
}
