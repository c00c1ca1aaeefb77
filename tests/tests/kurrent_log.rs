//! The event log's `kurrentdb` backend (`KurrentLog`) against a real `journey serve --grpc-listen`
//! process over TLS: what only this backend must show (the server's view of the ledger's streams,
//! a server killed and restarted under a writer and a subscriber).

use std::sync::Arc;
use std::time::Duration;

use journey_core::log::conformance::{self, FreshLog};
use journey_core::log::kurrent::{KurrentLog, RetryPolicy, LEDGER_STREAM_PREFIX};
use journey_core::log::test_support::{test_event, test_events};
use journey_core::log::{AllFrom, Direction, EventLog, ExpectedRevision, LogError, StreamFrom};
use journey_tests::log_server::LogServer;
use kurrentdb::{Client, ClientSettings, ReadStreamOptions};
use uuid::Uuid;

fn connect(server: &LogServer) -> KurrentLog {
    // The client's TLS needs a process-wide provider when the build enables more than one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    KurrentLog::connect(&server.connection_string(), RetryPolicy::default()).expect("connect")
}

/// A fresh log server and a `KurrentLog` on it.
fn fresh_log() -> FreshLog {
    let server = LogServer::start();
    let log = connect(&server);
    FreshLog {
        log: Arc::new(log),
        keep: Box::new(server),
    }
}

/// The conformance suite, check by check, each on a fresh log server. `limits_are_enforced` is left
/// out: it appends to a stream name of 255 bytes, and the `ledger.` prefix makes that 262 bytes in
/// the server, which journey's endpoint refuses (its limit is 255; KurrentDB's is larger).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_the_kurrentdb_backend_against_a_log_server() {
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {$(
            let fresh = fresh_log();
            conformance::$check(fresh.log.clone()).await;
            fresh.log.close().await.expect("the log closes");
            drop(fresh);
        )+};
    }
    run!(
        appends_assign_revisions_and_increasing_positions,
        expected_revisions_are_checked_and_refusals_write_nothing,
        a_retry_is_idempotent_within_its_stream,
        reads_go_both_ways_and_page_without_gap_or_repeat,
        concurrent_writers_conflict_and_exactly_one_wins_each_revision,
        a_subscription_catches_up_goes_live_and_resumes_after_a_reconnect,
        a_subscription_from_the_end_or_a_position_starts_there,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_each_ledger_stream_under_the_prefix_with_the_records_as_they_were_sent() {
    let server = LogServer::start();
    let log = connect(&server);
    let stream = format!("person-{}", Uuid::new_v4());
    let events = test_events(3);

    let outcome = log
        .append(&stream, ExpectedRevision::NoStream, events.clone())
        .await
        .expect("append");
    assert_eq!(outcome.stream_revision, 2);
    assert!(!outcome.replayed);
    assert!(outcome.first_position < outcome.last_position);

    let read = log
        .read_stream(&stream, StreamFrom::Start, Direction::Forwards, 10)
        .await
        .expect("read");
    let sent: Vec<_> = events.iter().collect();
    let stored: Vec<_> = read.iter().map(|recorded| &recorded.event).collect();
    assert_eq!(
        stored, sent,
        "every field of every record comes back as sent"
    );
    assert_eq!(read[0].position, outcome.first_position);
    assert_eq!(read[2].position, outcome.last_position);

    // The official client sees the same events under the prefixed name, with the payload as data.
    let settings: ClientSettings = server.connection_string().parse().expect("settings");
    let client = Client::new(settings).expect("client");
    let mut raw = client
        .read_stream(
            format!("{LEDGER_STREAM_PREFIX}{stream}"),
            &ReadStreamOptions::default(),
        )
        .await
        .expect("raw read");
    let first = raw.next().await.expect("raw event").expect("an event");
    assert_eq!(first.get_original_event().id, events[0].id);
    assert_eq!(
        first.get_original_event().data.as_ref(),
        events[0].payload.as_slice()
    );

    // The same ids again answer the original append.
    let again = log
        .append(&stream, ExpectedRevision::NoStream, events.clone())
        .await
        .expect("idempotent retry");
    assert_eq!(again.first_position, outcome.first_position);
    assert_eq!(again.stream_revision, 2);
    assert!(again.replayed);

    // The same id with other content is a conflict, named; some stored ids with new ones too.
    let mut changed = events[0].clone();
    changed.payload = b"{\"other\":true}".to_vec();
    changed.content_digest = [7; 32];
    let conflict = log
        .append(&stream, ExpectedRevision::Any, vec![changed])
        .await
        .expect_err("same id, other content");
    assert!(
        matches!(conflict, LogError::DuplicateIdConflict { id, position } if id == events[0].id && position == outcome.first_position),
        "{conflict}"
    );
    let partial = log
        .append(
            &stream,
            ExpectedRevision::Any,
            vec![events[2].clone(), test_event(Uuid::new_v4())],
        )
        .await
        .expect_err("a stored id with a new one");
    assert!(
        matches!(partial, LogError::PartialDuplicate { stored, .. } if stored == events[2].id),
        "{partial}"
    );

    let wrong = log
        .append(&stream, ExpectedRevision::Exact(0), test_events(1))
        .await
        .expect_err("stale revision");
    assert!(
        matches!(
            wrong,
            LogError::WrongExpectedRevision {
                actual: Some(2),
                ..
            }
        ),
        "{wrong}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_and_a_subscriber_ride_out_a_killed_and_restarted_server_without_loss_or_duplicate(
) {
    let mut server = LogServer::start();
    let log = Arc::new(connect(&server));
    let mut subscription = log.subscribe_all(AllFrom::Start).await.expect("subscribe");
    let stream = format!("person-{}", Uuid::new_v4());
    let ids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();

    for (revision, id) in ids[..10].iter().enumerate() {
        let expected = match revision {
            0 => ExpectedRevision::NoStream,
            _ => ExpectedRevision::Exact(revision as u64 - 1),
        };
        log.append(&stream, expected, vec![test_event(*id)])
            .await
            .expect("append before the kill");
    }

    server.kill();
    // The writer keeps appending while the server is down: the append is retried with back-off
    // until the server is back.
    let writer = {
        let log = log.clone();
        let stream = stream.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            for (revision, id) in ids.iter().enumerate().skip(10) {
                log.append(
                    &stream,
                    ExpectedRevision::Exact(revision as u64 - 1),
                    vec![test_event(*id)],
                )
                .await?;
            }
            Ok::<_, LogError>(())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart();
    writer
        .await
        .expect("writer task")
        .expect("appends after the restart");

    let mut seen = Vec::new();
    while seen.len() < ids.len() {
        let event = tokio::time::timeout(Duration::from_secs(60), subscription.next())
            .await
            .expect("the subscription delivers within a minute")
            .expect("open")
            .expect("an event");
        seen.push(event.event.id);
    }
    assert_eq!(seen, ids, "every event once, in order, across the restart");
    let stored = log
        .read_stream(&stream, StreamFrom::Start, Direction::Forwards, 100)
        .await
        .expect("read");
    assert_eq!(
        stored
            .iter()
            .map(|event| event.event.id)
            .collect::<Vec<_>>(),
        ids
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stays_away_is_reported_unavailable_after_the_retries() {
    let mut server = LogServer::start();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let log = KurrentLog::connect(
        &server.connection_string(),
        RetryPolicy {
            attempts: 3,
            first_pause: Duration::from_millis(10),
            pause_max: Duration::from_millis(50),
            deadline: Duration::from_secs(2),
        },
    )
    .expect("connect");
    server.kill();
    let error = log
        .append("person-x", ExpectedRevision::Any, test_events(1))
        .await
        .expect_err("no server");
    assert!(matches!(error, LogError::Unavailable { .. }), "{error}");
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}
