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

/// The whole conformance suite, each check on a fresh log server. Stream names are checked against
/// the backend's own limit: the `ledger.` prefix takes 7 of the 255 bytes journey's endpoint takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_the_kurrentdb_backend_against_a_log_server() {
    conformance::check_all(|| async { fresh_log() }).await;
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

/// How many calls of each `Streams` method the log server's audit log holds (opening entries
/// only; a streaming call also gets a closing one). The server must be stopped.
fn streams_calls(server: &mut LogServer) -> std::collections::BTreeMap<String, usize> {
    let running = server.server.take().expect("the log server runs");
    assert!(
        running.terminate().success(),
        "the log server stops cleanly"
    );
    let export = server.scratch.run(&["audit", "export"]);
    assert!(
        export.status.success(),
        "{}",
        journey_tests::text(&export.stderr)
    );
    let mut calls = std::collections::BTreeMap::new();
    for line in journey_tests::text(&export.stdout).lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("an audit entry");
        let operation = entry["operation"].as_str().unwrap_or_default();
        let closing = entry["query"]
            .as_str()
            .is_some_and(|query| query.starts_with("end of the call"));
        if let (Some(method), false) = (operation.strip_prefix("grpc Streams."), closing) {
            *calls.entry(method.to_owned()).or_default() += 1;
        }
    }
    calls
}

/// The server's answer to an append carries the stream's revision and the position of the last
/// event, which is the whole outcome of a one-event append: one call. An append of several events
/// reads them back for the others' positions: two calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_of_one_event_is_one_call_to_the_server_and_of_several_two() {
    let mut server = LogServer::start();
    let log = connect(&server);
    // An event before the ledger's, so that none of these is at position 0 (which the client also
    // reports for an answer without a position).
    let settings: ClientSettings = server.connection_string().parse().expect("settings");
    Client::new(settings)
        .expect("client")
        .append_to_stream(
            "other-application",
            &Default::default(),
            vec![kurrentdb::EventData::binary("Other", vec![1, 2, 3].into())],
        )
        .await
        .expect("an append of another client");

    let stream = format!("person-{}", Uuid::new_v4());
    let first = log
        .append(&stream, ExpectedRevision::NoStream, test_events(1))
        .await
        .expect("append");
    let second = log
        .append(&stream, ExpectedRevision::Exact(0), test_events(1))
        .await
        .expect("append");
    let several = log
        .append(&stream, ExpectedRevision::Exact(1), test_events(3))
        .await
        .expect("append");
    assert_eq!(
        (
            first.stream_revision,
            second.stream_revision,
            several.stream_revision
        ),
        (0, 1, 4)
    );
    let stored = log
        .read_stream(&stream, StreamFrom::Start, Direction::Forwards, 10)
        .await
        .expect("read");
    let positions: Vec<_> = stored.iter().map(|event| event.position).collect();
    assert_eq!(
        positions,
        vec![
            first.first_position,
            second.first_position,
            several.first_position,
            positions[3],
            several.last_position
        ],
        "the outcomes name the positions the events are read at"
    );
    assert_eq!(first.first_position, first.last_position);
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));

    let calls = streams_calls(&mut server);
    assert_eq!(
        calls.get("Append"),
        Some(&4),
        "one call per append: {calls:?}"
    );
    // The read back of the three events, and the test's own read.
    assert_eq!(calls.get("Read"), Some(&2), "{calls:?}");
}

/// A retry through another handle (another process, say) that never saw the original append is
/// answered by the server with the original revision and positions and writes nothing; only the
/// original's handle can also say that it was a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_through_a_handle_that_never_saw_the_original_gets_the_original_outcome() {
    let server = LogServer::start();
    let writer = connect(&server);
    let other = connect(&server);
    let stream = format!("person-{}", Uuid::new_v4());
    let single = test_events(1);
    let several = test_events(3);
    let original_single = writer
        .append(&stream, ExpectedRevision::NoStream, single.clone())
        .await
        .expect("append");
    let original_several = writer
        .append(&stream, ExpectedRevision::Exact(0), several.clone())
        .await
        .expect("append");

    for (events, original) in [(&single, original_single), (&several, original_several)] {
        let retry = other
            .append(&stream, ExpectedRevision::Any, events.clone())
            .await
            .expect("a retry");
        assert_eq!(retry, original, "the original outcome, not marked replayed");
        let again = writer
            .append(&stream, ExpectedRevision::Any, events.clone())
            .await
            .expect("a retry");
        assert!(again.replayed, "the original's handle knows a retry");
    }
    assert_eq!(
        other.stream_revision(&stream).await.expect("revision"),
        Some(3),
        "nothing written twice"
    );
}
