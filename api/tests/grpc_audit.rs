//! The audit of streaming gRPC calls, against the whole endpoint as `journey serve` runs it
//! (insecure mode on loopback, every call as admin) with the official Rust client: a read and a
//! subscription are audited when they begin and again when they end, with the final status and
//! what they did: a subscriber dropped for reading nothing ends `RESOURCE_EXHAUSTED`, one the
//! client closes `CANCELLED`, a BatchAppend call names its refused appends. A call that writes is
//! audited before it runs, so the group commit of its writes makes its opening entry durable.

mod support;

use std::time::Duration;

use journey_api::audit::AuditEntry;
use journey_api::auth::Role;
use journey_api::grpc::server::{GrpcConfig, GrpcEndpoint, GrpcTransport};
use journey_api::grpc::StreamsConfig;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadStreamOptions, StreamState,
    SubscribeToAllOptions, SubscriptionEvent,
};
use support::{eventually, Harness};
use uuid::Uuid;

async fn endpoint(h: &Harness, streams: StreamsConfig) -> Client {
    let config = GrpcConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        transport: GrpcTransport::Insecure {
            role: Some(Role::Admin),
        },
    };
    let endpoint = GrpcEndpoint::bind(&config, h.state.data_dir())
        .await
        .expect("bind")
        .with_streams_config(streams);
    let address = endpoint.address();
    let state = h.state.clone();
    tokio::spawn(async move {
        endpoint
            .serve(state, std::future::pending())
            .await
            .expect("serve");
    });
    Client::new(
        format!("kurrentdb://{address}?tls=false")
            .parse::<ClientSettings>()
            .expect("settings"),
    )
    .expect("client")
}

fn binary(bytes: &[u8]) -> EventData {
    EventData::binary("E", bytes.to_vec().into()).id(Uuid::new_v4())
}

fn entries(h: &Harness) -> Vec<AuditEntry> {
    h.state.audit.read(None, 100_000).expect("audit")
}

/// The closing entry of the call opened as `opening`, once it is written.
async fn closing_of(h: &Harness, opening: &AuditEntry) -> AuditEntry {
    let prefix = format!("end of the call audited as entry {}:", opening.seq);
    let find = || {
        entries(h).into_iter().find(|entry| {
            entry
                .query
                .as_deref()
                .is_some_and(|query| query.starts_with(&prefix))
        })
    };
    assert!(
        eventually(|| find().is_some()).await,
        "no closing entry for {opening:?}"
    );
    let closing = find().expect("closing entry");
    assert_eq!(closing.operation, opening.operation);
    assert_eq!(closing.token_id, opening.token_id);
    closing
}

/// The opening entries of `operation` calls, oldest first.
fn openings(h: &Harness, operation: &str) -> Vec<AuditEntry> {
    entries(h)
        .into_iter()
        .filter(|entry| entry.operation == operation && entry.query.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_ends_ok_with_the_events_sent_and_a_closed_subscription_ends_cancelled() {
    let h = Harness::new().await;
    let client = endpoint(&h, StreamsConfig::default()).await;
    client
        .append_to_stream(
            "plain-1",
            &AppendToStreamOptions::default(),
            vec![binary(b"1"), binary(b"2"), binary(b"3")],
        )
        .await
        .expect("append");
    let mut read = client
        .read_stream("plain-1", &ReadStreamOptions::default())
        .await
        .expect("read");
    while read.next().await.expect("read").is_some() {}

    let opening = openings(&h, "grpc Streams.Read").remove(0);
    assert_eq!(opening.outcome, "ok");
    let closing = closing_of(&h, &opening).await;
    assert_eq!(closing.outcome, "ok");
    assert!(
        closing
            .query
            .as_deref()
            .is_some_and(|query| query.ends_with(": 3 events sent")),
        "{closing:?}"
    );
    // A call that writes is audited before it runs (`begun`), and again with its outcome.
    let appends = openings(&h, "grpc Streams.Append");
    assert_eq!(appends.len(), 1);
    assert_eq!(appends[0].outcome, "begun");
    let closing = closing_of(&h, &appends[0]).await;
    assert_eq!(closing.outcome, "ok");
    assert!(
        closing
            .query
            .as_deref()
            .is_some_and(|query| query.ends_with(": 1 appends written, 0 refused")),
        "{closing:?}"
    );

    // A subscription the client closes ends CANCELLED.
    let mut subscription = client
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    assert!(matches!(
        subscription.next_subscription_event().await,
        Ok(SubscriptionEvent::Confirmed(_))
    ));
    drop(subscription);
    let opening = openings(&h, "grpc Streams.Read").remove(1);
    let closing = closing_of(&h, &opening).await;
    assert_eq!(closing.outcome, "CANCELLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_dropped_for_reading_nothing_ends_resource_exhausted_in_the_audit_log() {
    let h = Harness::new().await;
    let client = endpoint(
        &h,
        StreamsConfig {
            subscriptions_max: 4,
            subscriber_stall: Duration::from_millis(200),
        },
    )
    .await;
    let mut stalled = client
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    assert!(matches!(
        stalled.next_subscription_event().await,
        Ok(SubscriptionEvent::Confirmed(_))
    ));
    // The subscriber reads nothing while far more events than fit any buffer arrive.
    let payload = vec![7u8; 60_000];
    for _ in 0..40 {
        client
            .append_to_stream(
                "flood-1",
                &AppendToStreamOptions::default(),
                (0..16).map(|_| binary(&payload)).collect::<Vec<_>>(),
            )
            .await
            .expect("append");
    }
    let mut ended = Ok(());
    for _ in 0..10_000 {
        if let Err(error) = stalled.next_subscription_event().await {
            ended = Err(error);
            break;
        }
    }
    assert!(
        matches!(
            &ended,
            Err(kurrentdb::Error::Grpc {
                code: tonic::Code::ResourceExhausted,
                ..
            })
        ),
        "{ended:?}"
    );

    let opening = openings(&h, "grpc Streams.Read").remove(0);
    assert_eq!(opening.outcome, "ok", "it began well");
    let closing = closing_of(&h, &opening).await;
    assert_eq!(closing.outcome, "RESOURCE_EXHAUSTED");
    assert!(
        closing
            .query
            .as_deref()
            .is_some_and(|query| query.contains("events sent")),
        "{closing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_append_call_names_its_written_and_refused_appends_when_it_ends() {
    let h = Harness::new().await;
    let client = endpoint(&h, StreamsConfig::default()).await;
    let batch = client
        .batch_append(&kurrentdb::BatchAppendOptions::default())
        .await
        .expect("batch append session");
    batch
        .append_to_stream("batch-1", StreamState::NoStream, vec![binary(b"1")])
        .await
        .expect("first append");
    let refused = batch
        .append_to_stream(
            "batch-1",
            StreamState::StreamRevision(7),
            vec![binary(b"2")],
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    drop(batch);

    let opening = openings(&h, "grpc Streams.BatchAppend").remove(0);
    assert_eq!(opening.outcome, "begun");
    let closing = closing_of(&h, &opening).await;
    assert!(
        closing.query.as_deref().is_some_and(
            |query| query.ends_with(": 1 appends written, 1 refused (FAILED_PRECONDITION 1)")
        ),
        "{closing:?}"
    );
    // The client ended the call: by closing its side (ok) or by resetting the stream (CANCELLED).
    assert!(
        ["ok", "CANCELLED"].contains(&closing.outcome.as_str()),
        "{closing:?}"
    );
}

/// Appends one event of `bytes` to `stream`, whatever its revision.
async fn append_one(
    client: &Client,
    stream: &str,
    bytes: &[u8],
) -> kurrentdb::Result<kurrentdb::WriteResult> {
    client
        .append_to_stream(
            stream,
            &AppendToStreamOptions::default(),
            vec![binary(bytes)],
        )
        .await
}

/// The store's flushes since `before`.
fn flushes_since(h: &Harness, before: u64) -> u64 {
    h.state.store.flushes_finished() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_is_audited_before_it_runs_and_its_group_commit_makes_the_entry_durable() {
    let h = Harness::new().await;
    let client = endpoint(&h, StreamsConfig::default()).await;
    // Given a connected client and a stream that exists
    append_one(&client, "plain-1", b"1")
        .await
        .expect("first append");
    let before = h.state.store.flushes_finished();
    // When one more event is appended
    append_one(&client, "plain-1", b"2")
        .await
        .expect("second append");
    // Then one flush, the log's group commit, made the event and the call's opening entry
    // durable: the opening was written before the append was handed to the log
    assert_eq!(flushes_since(&h, before), 1);
    let appends = openings(&h, "grpc Streams.Append");
    assert_eq!(appends.len(), 2);
    assert_eq!(appends[1].outcome, "begun");
    assert_eq!(closing_of(&h, &appends[1]).await.outcome, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_call_is_audited_begun_then_refused_and_both_entries_are_durable() {
    let h = Harness::new().await;
    let client = endpoint(&h, StreamsConfig::default()).await;
    append_one(&client, "plain-1", b"1").await.expect("append");
    let before = h.state.store.flushes_finished();
    // When an append to a system stream is refused (nothing is written, no group commit runs)
    let refused = append_one(&client, "$system-1", b"2").await;
    assert!(refused.is_err(), "{refused:?}");
    // Then the call was audited as begun, and as refused, and one flush of its own made both
    // durable before the refusal went out
    let appends = openings(&h, "grpc Streams.Append");
    assert_eq!(appends.len(), 2);
    assert_eq!(appends[1].outcome, "begun");
    assert_eq!(
        closing_of(&h, &appends[1]).await.outcome,
        "PERMISSION_DENIED"
    );
    assert_eq!(flushes_since(&h, before), 1);
}
