//! Behaviour of the embedded sled event log, over a real store in a temporary directory.

mod support;

use journey_core::log::test_support::{test_event, test_events};
use journey_core::log::{
    AllFrom, AppendOutcome, Direction, EventLog, ExpectedRevision, LogError, NewEvent, Position,
    SledLog, SledLogConfig, StreamFrom, APPEND_EVENTS_MAX, READ_LIMIT_MAX,
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

/// Asserts that a rejected append left the log as it was.
async fn assert_nothing_written(log: &SledLog, before: u64, rejected: &[NewEvent]) {
    assert_eq!(next_position(log).await, before);
    let stored = read_everything(log).await;
    for event in rejected {
        assert!(
            stored.iter().all(|stored| stored.event.id != event.id),
            "a rejected event was stored"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Expected revision
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_stream_is_accepted_on_a_new_stream() {
    let TestLog { log, .. } = open_log();

    let outcome = log
        .append("s", ExpectedRevision::NoStream, test_events(2))
        .await
        .expect("accepted");

    assert_eq!(
        outcome,
        AppendOutcome {
            first_position: p(0),
            last_position: p(1),
            stream_revision: 1,
            replayed: false
        }
    );
}

#[tokio::test]
async fn no_stream_is_rejected_on_an_existing_stream() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 3).await;
    let events = test_events(1);

    let result = log
        .append("s", ExpectedRevision::NoStream, events.clone())
        .await;

    assert_wrong_revision(result, "s", ExpectedRevision::NoStream, Some(2));
    assert_nothing_written(&log, 3, &events).await;
}

#[tokio::test]
async fn stream_exists_is_accepted_on_an_existing_stream() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 1).await;

    let outcome = log
        .append("s", ExpectedRevision::StreamExists, test_events(1))
        .await
        .expect("accepted");

    assert_eq!(outcome.stream_revision, 1);
    assert_eq!(outcome.first_position, p(1));
}

#[tokio::test]
async fn stream_exists_is_rejected_on_a_new_stream() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "other", 1).await;
    let events = test_events(1);

    let result = log
        .append("s", ExpectedRevision::StreamExists, events.clone())
        .await;

    assert_wrong_revision(result, "s", ExpectedRevision::StreamExists, None);
    assert_nothing_written(&log, 1, &events).await;
}

#[tokio::test]
async fn exact_is_accepted_at_that_revision() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 3).await;

    let outcome = log
        .append("s", ExpectedRevision::Exact(2), test_events(2))
        .await
        .expect("accepted");

    assert_eq!(outcome.stream_revision, 4);
    assert_eq!(
        (outcome.first_position, outcome.last_position),
        (p(3), p(4))
    );
}

#[tokio::test]
async fn exact_is_rejected_at_another_revision() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 3).await;

    for expected in [0, 1, 3, 100] {
        let events = test_events(1);
        let result = log
            .append("s", ExpectedRevision::Exact(expected), events.clone())
            .await;

        assert_wrong_revision(result, "s", ExpectedRevision::Exact(expected), Some(2));
        assert_nothing_written(&log, 3, &events).await;
    }
}

#[tokio::test]
async fn exact_is_rejected_on_a_new_stream() {
    let TestLog { log, .. } = open_log();

    let result = log
        .append("s", ExpectedRevision::Exact(0), test_events(1))
        .await;

    assert_wrong_revision(result, "s", ExpectedRevision::Exact(0), None);
}

#[tokio::test]
async fn any_is_accepted_on_new_and_existing_streams() {
    let TestLog { log, .. } = open_log();

    let first = log
        .append("s", ExpectedRevision::Any, test_events(1))
        .await
        .expect("accepted on a new stream");
    let second = log
        .append("s", ExpectedRevision::Any, test_events(1))
        .await
        .expect("accepted on an existing stream");

    assert_eq!((first.stream_revision, second.stream_revision), (0, 1));
}

#[tokio::test]
async fn of_many_concurrent_exact_appends_exactly_one_wins() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 1).await;
    let log = std::sync::Arc::new(log);

    let mut tasks = Vec::new();
    for _ in 0..32 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append("s", ExpectedRevision::Exact(0), test_events(1))
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("the task ends") {
            Ok(outcome) => {
                winners += 1;
                assert_eq!(outcome.stream_revision, 1);
            }
            Err(error) => {
                assert_wrong_revision(Err(error), "s", ExpectedRevision::Exact(0), Some(1))
            }
        }
    }

    assert_eq!(winners, 1);
    assert_eq!(log.stream_revision("s").await.expect("revision"), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Idempotency and duplicate ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn appending_the_same_events_again_replays_the_original_outcome() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 2).await;
    let events = test_events(3);
    let original = log
        .append("s", ExpectedRevision::Exact(1), events.clone())
        .await
        .expect("appended");
    given_events(&log, "s", 2).await;
    given_events(&log, "other", 1).await;

    // The expected revision is stale by now; a retry must still get the original answer.
    let replay = log
        .append("s", ExpectedRevision::Exact(1), events.clone())
        .await
        .expect("replayed");

    assert_eq!(
        replay,
        AppendOutcome {
            replayed: true,
            ..original
        }
    );
    assert_eq!(
        original,
        AppendOutcome {
            first_position: p(2),
            last_position: p(4),
            stream_revision: 4,
            replayed: false
        }
    );
    assert_nothing_written(&log, 8, &[]).await;
}

#[tokio::test]
async fn the_same_id_with_other_content_is_a_conflict() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "s", 1).await;
    let stored = test_event(Uuid::new_v4());
    log.append("s", ExpectedRevision::Any, vec![stored.clone()])
        .await
        .expect("appended");
    let mut changed = stored.clone();
    changed.content_digest[0] ^= 1;

    let result = log.append("s", ExpectedRevision::Any, vec![changed]).await;

    match result {
        Err(LogError::DuplicateIdConflict { id, position }) => {
            assert_eq!((id, position), (stored.id, p(1)));
        }
        other => panic!("expected DuplicateIdConflict, got {other:?}"),
    }
    assert_nothing_written(&log, 2, &[]).await;
}

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

#[tokio::test]
async fn mixing_stored_and_new_ids_is_a_partial_duplicate() {
    let TestLog { log, .. } = open_log();
    let stored = test_event(Uuid::new_v4());
    log.append("s", ExpectedRevision::Any, vec![stored.clone()])
        .await
        .expect("appended");
    let new = test_event(Uuid::new_v4());

    let result = log
        .append(
            "s",
            ExpectedRevision::Any,
            vec![new.clone(), stored.clone()],
        )
        .await;

    match result {
        Err(LogError::PartialDuplicate {
            stored: stored_id,
            new: new_id,
        }) => {
            assert_eq!((stored_id, new_id), (stored.id, new.id));
        }
        other => panic!("expected PartialDuplicate, got {other:?}"),
    }
    assert_nothing_written(&log, 1, &[new]).await;
}

#[tokio::test]
async fn the_same_id_twice_in_one_append_is_rejected() {
    let TestLog { log, .. } = open_log();
    let event = test_event(Uuid::new_v4());

    let result = log
        .append(
            "s",
            ExpectedRevision::Any,
            vec![event.clone(), test_event(Uuid::new_v4()), event.clone()],
        )
        .await;

    assert!(
        matches!(result, Err(LogError::DuplicateIdInAppend(id)) if id == event.id),
        "{result:?}"
    );
    assert_nothing_written(&log, 0, &[event]).await;
}

// ---------------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_append_carries_between_one_and_the_maximum_number_of_events() {
    let TestLog { log, .. } = open_log();

    let empty = log.append("s", ExpectedRevision::Any, Vec::new()).await;
    let too_many = log
        .append(
            "s",
            ExpectedRevision::Any,
            test_events(APPEND_EVENTS_MAX + 1),
        )
        .await;
    let largest = log
        .append("s", ExpectedRevision::Any, test_events(APPEND_EVENTS_MAX))
        .await;

    assert!(matches!(empty, Err(LogError::AppendSize(0))), "{empty:?}");
    assert!(
        matches!(too_many, Err(LogError::AppendSize(n)) if n == APPEND_EVENTS_MAX + 1),
        "{too_many:?}"
    );
    let largest = largest.expect("the largest append is accepted");
    assert_eq!(largest.last_position, p(APPEND_EVENTS_MAX as u64 - 1));
}

#[tokio::test]
async fn invalid_stream_names_are_rejected() {
    let TestLog { log, .. } = open_log();
    let too_long = "x".repeat(256);

    for name in ["", too_long.as_str(), "a\0b"] {
        let result = log
            .append(name, ExpectedRevision::Any, test_events(1))
            .await;
        assert!(
            matches!(&result, Err(LogError::InvalidStreamName(reported)) if reported == name),
            "{result:?}"
        );
    }
    let longest = "x".repeat(255);
    log.append(&longest, ExpectedRevision::Any, test_events(1))
        .await
        .expect("255 bytes are allowed");
    assert_eq!(next_position(&log).await, 1);
}

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

fn revisions(events: &[journey_core::log::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.revision).collect()
}

#[tokio::test]
async fn read_stream_forwards_from_the_start() {
    let TestLog { log, .. } = open_log();
    let ids_of_s = given_interleaved_streams(&log).await;

    let events = log
        .read_stream("s", StreamFrom::Start, Direction::Forwards, 100)
        .await
        .expect("read");

    assert_eq!(revisions(&events), (0..10).collect::<Vec<_>>());
    assert_eq!(
        events
            .iter()
            .map(|event| event.event.id)
            .collect::<Vec<_>>(),
        ids_of_s
    );
    assert!(events.iter().all(|event| event.stream == "s"));
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
}

#[tokio::test]
async fn read_stream_backwards_from_the_end() {
    let TestLog { log, .. } = open_log();
    given_interleaved_streams(&log).await;

    let events = log
        .read_stream("s", StreamFrom::End, Direction::Backwards, 4)
        .await
        .expect("read");

    assert_eq!(revisions(&events), vec![9, 8, 7, 6]);
}

#[tokio::test]
async fn read_stream_from_a_revision_in_both_directions() {
    let TestLog { log, .. } = open_log();
    given_interleaved_streams(&log).await;

    let forwards = log
        .read_stream("s", StreamFrom::Revision(3), Direction::Forwards, 3)
        .await
        .expect("read");
    let backwards = log
        .read_stream("s", StreamFrom::Revision(3), Direction::Backwards, 10)
        .await
        .expect("read");

    assert_eq!(revisions(&forwards), vec![3, 4, 5]);
    assert_eq!(revisions(&backwards), vec![3, 2, 1, 0]);
}

#[tokio::test]
async fn read_stream_limits_and_edges() {
    let TestLog { log, .. } = open_log();
    given_interleaved_streams(&log).await;

    let read = |from, direction, limit| log.read_stream("s", from, direction, limit);
    let nothing = read(StreamFrom::Start, Direction::Forwards, 0)
        .await
        .expect("read");
    let huge_limit = read(StreamFrom::Start, Direction::Forwards, usize::MAX)
        .await
        .expect("read");
    let forwards_from_end = read(StreamFrom::End, Direction::Forwards, 10)
        .await
        .expect("read");
    let backwards_from_start = read(StreamFrom::Start, Direction::Backwards, 10)
        .await
        .expect("read");
    let past_the_end = read(StreamFrom::Revision(10), Direction::Forwards, 10)
        .await
        .expect("read");
    let missing = log
        .read_stream("nobody", StreamFrom::Start, Direction::Forwards, 10)
        .await
        .expect("read");

    assert!(nothing.is_empty());
    assert_eq!(huge_limit.len(), 10);
    assert!(forwards_from_end.is_empty());
    assert_eq!(revisions(&backwards_from_start), vec![0]);
    assert!(past_the_end.is_empty());
    assert!(missing.is_empty(), "a missing stream reads as empty");
}

#[tokio::test]
async fn read_all_in_global_order() {
    let TestLog { log, .. } = open_log();
    given_interleaved_streams(&log).await;
    let total = next_position(&log).await;

    let everything = log
        .read_all(AllFrom::Start, Direction::Forwards, 1000)
        .await
        .expect("read");
    let middle = log
        .read_all(AllFrom::Including(p(5)), Direction::Forwards, 4)
        .await
        .expect("read");
    let beyond = log
        .read_all(AllFrom::Including(p(total)), Direction::Forwards, 10)
        .await
        .expect("read");

    assert_eq!(total, 18);
    assert_eq!(
        everything
            .iter()
            .map(|e| e.position.raw())
            .collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    assert_eq!(
        middle.iter().map(|e| e.position.raw()).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
    assert!(beyond.is_empty());
    assert!(log
        .read_all(AllFrom::Start, Direction::Forwards, 0)
        .await
        .expect("read")
        .is_empty());
}

#[tokio::test]
async fn read_all_backwards_from_the_end_and_from_a_position() {
    let TestLog { log, .. } = open_log();
    given_interleaved_streams(&log).await;

    let from_end = log
        .read_all(AllFrom::End, Direction::Backwards, 3)
        .await
        .expect("read");
    let from_middle = log
        .read_all(AllFrom::Including(p(4)), Direction::Backwards, 10)
        .await
        .expect("read");
    let from_beyond = log
        .read_all(AllFrom::Including(p(1000)), Direction::Backwards, 2)
        .await
        .expect("read");

    let positions = |events: &[journey_core::log::RecordedEvent]| {
        events.iter().map(|e| e.position.raw()).collect::<Vec<_>>()
    };
    assert_eq!(positions(&from_end), vec![17, 16, 15]);
    assert_eq!(positions(&from_middle), vec![4, 3, 2, 1, 0]);
    assert_eq!(positions(&from_beyond), vec![17, 16]);
}

#[tokio::test]
async fn an_empty_log_reads_as_empty() {
    let TestLog { log, .. } = open_log();

    assert!(log
        .read_all(AllFrom::Start, Direction::Forwards, 10)
        .await
        .expect("read")
        .is_empty());
    assert!(log
        .read_all(AllFrom::End, Direction::Backwards, 10)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(next_position(&log).await, 0);
    assert_eq!(log.stream_revision("s").await.expect("revision"), None);
}

#[tokio::test]
async fn find_event_and_stream_revision() {
    let TestLog { log, .. } = open_log();
    given_events(&log, "a", 2).await;
    let event = test_event(Uuid::new_v4());
    log.append("b", ExpectedRevision::NoStream, vec![event.clone()])
        .await
        .expect("appended");
    given_events(&log, "a", 1).await;

    let found = log
        .find_event("b", event.id)
        .await
        .expect("find")
        .expect("found");

    assert_eq!(
        found.event, event,
        "the stored event equals the appended one"
    );
    assert_eq!((found.stream.as_str(), found.revision), ("b", 0));
    assert_eq!(found.position, p(2));
    assert_eq!(
        log.find_event("b", Uuid::new_v4()).await.expect("find"),
        None
    );
    assert_eq!(
        log.find_event("a", event.id).await.expect("find"),
        None,
        "an id is looked up in its stream"
    );
    assert_eq!(log.stream_revision("a").await.expect("revision"), Some(2));
    assert_eq!(log.stream_revision("b").await.expect("revision"), Some(0));
    assert_eq!(log.stream_revision("c").await.expect("revision"), None);
    assert_eq!(next_position(&log).await, 4);
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
    assert_eq!(next_position(&log).await, 20);
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

/// Spawns `writers` tasks that each append `appends` times 1 to 3 events to their own stream.
fn spawn_writers(
    log: &std::sync::Arc<SledLog>,
    writers: usize,
    appends: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|writer| {
            let log = log.clone();
            tokio::spawn(async move {
                for append in 0..appends {
                    let count = 1 + (writer + append) % 3;
                    log.append(
                        &format!("writer-{writer}"),
                        ExpectedRevision::Any,
                        test_events(count),
                    )
                    .await
                    .expect("the writer appends");
                }
            })
        })
        .collect()
}

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

fn small_subscription_config() -> SledLogConfig {
    // Small pages and buffers make catch-up take many pages and the subscriber push back.
    SledLogConfig {
        subscription_page_size: 7,
        subscription_buffer: 3,
        ..SledLogConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_from_zero_sees_every_event_once_in_order_while_writers_append() {
    let TestLog { log, .. } = support::open_log_with(small_subscription_config());
    let log = std::sync::Arc::new(log);
    given_events(&log, "history", 40).await;

    let subscription = log
        .subscribe_all(AllFrom::Including(p(0)))
        .await
        .expect("subscribes");
    let subscriber = spawn_subscriber(&log, subscription);
    for writer in spawn_writers(&log, 16, 6) {
        writer.await.expect("the writer ends");
    }
    log.close().await.expect("closes");
    let received = subscriber.await.expect("the subscription ends after close");

    let everything = read_everything(&log).await;
    assert_eq!(everything.len(), 40 + 16 * 12);
    assert_eq!(received, everything, "every event exactly once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_from_the_middle_starts_exactly_there() {
    let TestLog { log, .. } = support::open_log_with(small_subscription_config());
    let log = std::sync::Arc::new(log);
    for _ in 0..10 {
        given_events(&log, "history", 5).await;
    }

    let subscription = log
        .subscribe_all(AllFrom::Including(p(20)))
        .await
        .expect("subscribes");
    let subscriber = spawn_subscriber(&log, subscription);
    for writer in spawn_writers(&log, 8, 5) {
        writer.await.expect("the writer ends");
    }
    log.close().await.expect("closes");
    let received = subscriber.await.expect("the subscription ends after close");

    let everything = read_everything(&log).await;
    assert_eq!(received.as_slice(), &everything[20..]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_exact_appenders_win_each_revision_exactly_once() {
    let TestLog { log, .. } = open_log();
    let log = std::sync::Arc::new(log);
    let (writers, wins_each) = (16, 4);

    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut won = Vec::new();
                while won.len() < wins_each {
                    let expected = match log.stream_revision("s").await.expect("revision") {
                        Some(revision) => ExpectedRevision::Exact(revision),
                        None => ExpectedRevision::NoStream,
                    };
                    match log.append("s", expected, test_events(1)).await {
                        Ok(outcome) => won.push((expected, outcome.stream_revision)),
                        Err(LogError::WrongExpectedRevision { actual, .. }) => {
                            // Someone else won this revision, so the stream must have moved on.
                            let seen = match expected {
                                ExpectedRevision::Exact(revision) => Some(revision),
                                _ => None,
                            };
                            assert!(actual > seen, "{actual:?} after {seen:?}");
                        }
                        Err(other) => panic!("unexpected error {other}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut wins = Vec::new();
    for task in tasks {
        wins.extend(task.await.expect("the task ends"));
    }

    wins.sort_by_key(|(_, revision)| *revision);
    let total = (writers * wins_each) as u64;
    assert_eq!(
        wins.iter()
            .map(|(_, revision)| *revision)
            .collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>(),
        "each revision was won exactly once"
    );
    for (expected, revision) in wins {
        let before = revision.checked_sub(1);
        let expected_before = match expected {
            ExpectedRevision::Exact(seen) => Some(seen),
            _ => None,
        };
        assert_eq!(
            expected_before, before,
            "the winner expected the revision before"
        );
    }
    let everything = read_everything(&log).await;
    assert_global_chain(&everything);
}

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
        let before = next_position(&log).await;
        let results = if twin {
            let (first, second) = tokio::join!(
                log.append(stream, expected, events.clone()),
                log.append(stream, expected, events)
            );
            vec![first, second]
        } else {
            vec![log.append(stream, expected, events).await]
        };
        let after = next_position(&log).await;
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
