//! The Streams service of the KurrentDB protocol, served on a loopback socket (plain HTTP/2) and
//! driven with the official Rust client `kurrentdb`. Each role gets its own server whose layer
//! puts that role's `Caller` into every request, as the real authentication layer does.

// A tonic interceptor returns `tonic::Status` as its error, whatever its size.
#![allow(clippy::result_large_err)]

mod support;

use std::time::Duration;

use journey_api::auth::{Principal, Role};
use journey_api::grpc::{streams_server_with, Caller, StreamsConfig};
use journey_api::AppState;
use journey_core::catalogue::Agency;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, DeleteStreamOptions, EventData, Position,
    ReadAllOptions, ReadStreamOptions, StreamPosition, StreamState, SubscribeToAllOptions,
    SubscriptionEvent, SubscriptionFilter, TombstoneStreamOptions,
};
use serde_json::{json, Value};
use support::Harness;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A Streams server for `principal` on a fresh loopback port, and a client connected to it.
struct Endpoint {
    client: Client,
    port: u16,
    server: JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(state: &AppState, principal: Principal, config: StreamsConfig) -> Endpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let state = state.clone();
    let server = tokio::spawn(async move {
        journey_api::grpc::streams::serve_as(listener, state, principal, config)
            .await
            .expect("serve");
    });
    let settings: ClientSettings = format!("esdb://127.0.0.1:{port}?tls=false")
        .parse()
        .expect("settings");
    Endpoint {
        client: Client::new(settings).expect("client"),
        port,
        server,
    }
}

async fn as_role(h: &Harness, role: Role, agency: Option<Agency>) -> Endpoint {
    as_role_with(h, role, agency, StreamsConfig::default()).await
}

async fn as_role_with(
    h: &Harness,
    role: Role,
    agency: Option<Agency>,
    config: StreamsConfig,
) -> Endpoint {
    let token = h.token(role, agency, &format!("{role}-grpc"));
    let principal = h.state.tokens.authenticate(&token).expect("token");
    serve(&h.state, principal, config).await
}

fn binary(event_type: &str, bytes: &[u8]) -> EventData {
    EventData::binary(event_type, bytes.to_vec().into()).id(Uuid::new_v4())
}

/// Every event of a read, in order.
async fn collect(mut stream: kurrentdb::ReadStream) -> Vec<kurrentdb::RecordedEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next().await.expect("read") {
        events.push(event.event.expect("recorded event"));
    }
    events
}

async fn read_stream(
    client: &Client,
    stream: &str,
    options: &ReadStreamOptions,
) -> kurrentdb::Result<Vec<kurrentdb::RecordedEvent>> {
    let mut read = client.read_stream(stream, options).await?;
    let mut events = Vec::new();
    while let Some(event) = read.next().await? {
        events.push(event.event.expect("recorded event"));
    }
    Ok(events)
}

async fn read_all(client: &Client, options: &ReadAllOptions) -> Vec<kurrentdb::RecordedEvent> {
    collect(client.read_all(options).await.expect("read $all")).await
}

fn person_event(event_type: &str, occurred_on: &str, data: Value) -> EventData {
    EventData::json(event_type, &data)
        .expect("json")
        .metadata_as_json(&json!({"occurred_on": occurred_on}))
        .expect("metadata")
        .id(Uuid::new_v4())
}

fn registration() -> EventData {
    person_event(
        "PersonRegistered",
        "2023-01-10",
        json!({"birth_year": 1990, "sex": "male", "nationality": "IRQ", "languages": ["ar"]}),
    )
}

#[tokio::test]
async fn a_plain_stream_is_appended_and_read_back_in_both_directions() {
    let h = Harness::with_projections().await;
    let admin = as_role(&h, Role::Admin, None).await;
    let events = vec![
        binary("Ordered", b"\x00\x01 any bytes"),
        EventData::json("Shipped", &json!({"n": 2}))
            .expect("json")
            .id(Uuid::new_v4()),
        binary("Billed", b"three"),
        // A plain event may carry any type, even one of the catalogue's: it is still no erasure.
        binary("PersonalDataErased", b"not an erasure"),
    ];
    let written = admin
        .client
        .append_to_stream(
            "orders-1",
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            events,
        )
        .await
        .expect("append");
    assert_eq!(written.next_expected_version, 3);

    let forwards = read_stream(&admin.client, "orders-1", &ReadStreamOptions::default())
        .await
        .expect("read");
    let types: Vec<&str> = forwards
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["Ordered", "Shipped", "Billed", "PersonalDataErased"]
    );
    assert_eq!(forwards[0].data.as_ref(), b"\x00\x01 any bytes");
    assert!(!forwards[0].is_json);
    assert!(forwards[1].is_json);
    assert_eq!(forwards[1].revision, 1);
    assert_eq!(forwards[1].position.commit, forwards[1].position.prepare);
    // `created` is in 100 ns ticks since the epoch: the client turns it back into today.
    assert!(forwards[0].created > chrono::Utc::now() - chrono::Duration::hours(1));

    let backwards = read_stream(
        &admin.client,
        "orders-1",
        &ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(2),
    )
    .await
    .expect("read backwards");
    let revisions: Vec<u64> = backwards.iter().map(|event| event.revision).collect();
    assert_eq!(revisions, [3, 2]);

    let from_revision = read_stream(
        &admin.client,
        "orders-1",
        &ReadStreamOptions::default().position(StreamPosition::Position(1)),
    )
    .await
    .expect("read from a revision");
    assert_eq!(from_revision.len(), 3, "a read starts at its revision");

    let missing = read_stream(&admin.client, "orders-none", &ReadStreamOptions::default()).await;
    assert!(
        matches!(missing, Err(kurrentdb::Error::ResourceNotFound)),
        "{missing:?}"
    );

    // The projections pass over plain events, and the chains stay whole.
    h.caught_up().await;
    let report = journey_core::verify::verify(
        &h.context.ledger,
        journey_core::verify::VerifyOptions::default(),
        |_| {},
    )
    .await
    .expect("verify");
    assert!(report.first_problem.is_none(), "{report:?}");
}

#[tokio::test]
async fn a_wrong_expected_version_is_the_clients_typed_error_and_a_retried_id_writes_nothing() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    let first = binary("A", b"1");
    admin
        .client
        .append_to_stream(
            "s-1",
            &AppendToStreamOptions::default(),
            vec![first.clone()],
        )
        .await
        .expect("append");

    let refused = admin
        .client
        .append_to_stream(
            "s-1",
            &AppendToStreamOptions::default().stream_state(StreamState::StreamRevision(5)),
            vec![binary("B", b"2")],
        )
        .await;
    match refused {
        Err(kurrentdb::Error::WrongExpectedVersion { expected, current }) => {
            assert_eq!(expected, StreamState::StreamRevision(5));
            assert_eq!(current, kurrentdb::CurrentRevision::Current(0));
        }
        other => panic!("expected a wrong expected version, got {other:?}"),
    }

    // The same event id again, even with a stale expectation, answers like the first append.
    let retried = admin
        .client
        .append_to_stream(
            "s-1",
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![first],
        )
        .await
        .expect("retry");
    assert_eq!(retried.next_expected_version, 0);
    let events = read_stream(&admin.client, "s-1", &ReadStreamOptions::default())
        .await
        .expect("read");
    assert_eq!(events.len(), 1, "the retry wrote nothing");
}

#[tokio::test]
async fn all_is_paged_by_position_forwards_and_backwards() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    for stream in ["p-a", "p-b", "p-c"] {
        admin
            .client
            .append_to_stream(
                stream,
                &AppendToStreamOptions::default(),
                vec![binary("E", b"1"), binary("E", b"2")],
            )
            .await
            .expect("append");
    }
    let everything = read_all(&admin.client, &ReadAllOptions::default()).await;
    assert_eq!(everything.len(), 6);
    let mut paged = Vec::new();
    let mut options = ReadAllOptions::default().max_count(4);
    loop {
        let page = read_all(&admin.client, &options).await;
        // Reads start at the position given (inclusive): every page after the first repeats its start.
        let fresh: Vec<_> = page
            .into_iter()
            .filter(|event| {
                paged.last().is_none_or(|last: &kurrentdb::RecordedEvent| {
                    event.position.commit > last.position.commit
                })
            })
            .collect();
        let Some(last) = fresh.last() else { break };
        options = ReadAllOptions::default()
            .max_count(4)
            .position(StreamPosition::Position(last.position));
        paged.extend(fresh);
    }
    let positions: Vec<u64> = paged.iter().map(|event| event.position.commit).collect();
    let expected: Vec<u64> = everything
        .iter()
        .map(|event| event.position.commit)
        .collect();
    assert_eq!(positions, expected);

    let backwards = read_all(
        &admin.client,
        &ReadAllOptions::default()
            .backwards()
            .position(StreamPosition::End)
            .max_count(2),
    )
    .await;
    assert_eq!(
        backwards
            .iter()
            .map(|event| event.position.commit)
            .collect::<Vec<_>>(),
        [expected[5], expected[4]]
    );
    let before = read_all(
        &admin.client,
        &ReadAllOptions::default()
            .backwards()
            .position(StreamPosition::Position(Position {
                commit: expected[4],
                prepare: expected[4],
            }))
            .max_count(1),
    )
    .await;
    assert_eq!(
        before[0].position.commit, expected[3],
        "backwards from a position reads what lies before it"
    );
}

#[tokio::test]
async fn a_filtered_catch_up_subscription_gets_the_past_then_caught_up_then_live_events() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    admin
        .client
        .append_to_stream(
            "sub-1",
            &AppendToStreamOptions::default(),
            vec![
                binary("Keep", b"1"),
                binary("Skip", b"2"),
                binary("Keep", b"3"),
            ],
        )
        .await
        .expect("append");
    let mut subscription = admin
        .client
        .subscribe_to_all(
            &SubscribeToAllOptions::default()
                .filter(SubscriptionFilter::on_event_type().add_prefix("Keep")),
        )
        .await;
    let mut seen = Vec::new();
    let mut confirmed = false;
    loop {
        match subscription.next_subscription_event().await.expect("event") {
            SubscriptionEvent::Confirmed(_) => confirmed = true,
            SubscriptionEvent::EventAppeared(event) => {
                seen.push(event.get_original_event().data.to_vec())
            }
            SubscriptionEvent::CaughtUp(_) => break,
            _ => {}
        }
    }
    assert!(confirmed, "the confirmation comes first");
    assert_eq!(seen, [b"1".to_vec(), b"3".to_vec()]);

    admin
        .client
        .append_to_stream(
            "sub-1",
            &AppendToStreamOptions::default(),
            vec![binary("Skip", b"4"), binary("Keep", b"5")],
        )
        .await
        .expect("append live");
    let live = subscription.next().await.expect("live event");
    assert_eq!(live.get_original_event().data.as_ref(), b"5");

    // The Python client's default filter is a negative look-ahead; it compiles and filters.
    let mut python = admin
        .client
        .subscribe_to_all(
            &SubscribeToAllOptions::default()
                .filter(SubscriptionFilter::on_event_type().regex(r"^(?!\$|Skip).*")),
        )
        .await;
    let mut kept = Vec::new();
    while kept.len() < 3 {
        let event = python.next().await.expect("event");
        kept.push(event.get_original_event().event_type.clone());
    }
    assert_eq!(kept, ["Keep", "Keep", "Keep"]);
}

#[tokio::test]
async fn a_subscription_from_a_position_starts_after_it_without_gap_or_duplicate() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    admin
        .client
        .append_to_stream(
            "gap-1",
            &AppendToStreamOptions::default(),
            (0..5).map(|n| binary("E", &[n])).collect::<Vec<_>>(),
        )
        .await
        .expect("append");
    let all = read_all(&admin.client, &ReadAllOptions::default()).await;
    let mut subscription = admin
        .client
        .subscribe_to_all(
            &SubscribeToAllOptions::default().position(StreamPosition::Position(all[1].position)),
        )
        .await;
    let writer = {
        let client = admin.client.clone();
        tokio::spawn(async move {
            for n in 5..25u8 {
                client
                    .append_to_stream(
                        "gap-1",
                        &AppendToStreamOptions::default(),
                        vec![binary("E", &[n])],
                    )
                    .await
                    .expect("append while subscribed");
            }
        })
    };
    let mut got = Vec::new();
    while got.len() < 23 {
        let event = subscription.next().await.expect("event");
        got.push(event.get_original_event().data[0]);
    }
    writer.await.expect("writer");
    assert_eq!(
        got,
        (2..25u8).collect::<Vec<_>>(),
        "exclusive start, then every event once, in order"
    );
}

#[tokio::test]
async fn delete_and_tombstone_work_on_plain_streams_and_are_refused_on_person_streams() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    admin
        .client
        .append_to_stream(
            "del-1",
            &AppendToStreamOptions::default(),
            vec![binary("E", b"1"), binary("E", b"2")],
        )
        .await
        .expect("append");
    admin
        .client
        .delete_stream("del-1", &DeleteStreamOptions::default())
        .await
        .expect("delete");
    let read = read_stream(&admin.client, "del-1", &ReadStreamOptions::default()).await;
    assert!(
        matches!(read, Err(kurrentdb::Error::ResourceNotFound)),
        "{read:?}"
    );
    // A soft-deleted stream starts again after its old last revision.
    let again = admin
        .client
        .append_to_stream(
            "del-1",
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![binary("E", b"3")],
        )
        .await
        .expect("append after delete");
    assert_eq!(again.next_expected_version, 2);
    let events = read_stream(&admin.client, "del-1", &ReadStreamOptions::default())
        .await
        .expect("read");
    assert_eq!(
        events
            .iter()
            .map(|event| event.data.to_vec())
            .collect::<Vec<_>>(),
        [b"3".to_vec()]
    );

    admin
        .client
        .tombstone_stream("del-1", &TombstoneStreamOptions::default())
        .await
        .expect("tombstone");
    let appended = admin
        .client
        .append_to_stream(
            "del-1",
            &AppendToStreamOptions::default(),
            vec![binary("E", b"4")],
        )
        .await;
    assert!(
        matches!(appended, Err(kurrentdb::Error::ResourceDeleted)),
        "{appended:?}"
    );
    let read = read_stream(&admin.client, "del-1", &ReadStreamOptions::default()).await;
    assert!(
        matches!(read, Err(kurrentdb::Error::ResourceDeleted)),
        "{read:?}"
    );

    let person = format!("person-{}", Uuid::new_v4());
    admin
        .client
        .append_to_stream(
            person.as_str(),
            &AppendToStreamOptions::default(),
            vec![registration()],
        )
        .await
        .expect("register");
    let refused = admin
        .client
        .delete_stream(person.as_str(), &DeleteStreamOptions::default())
        .await;
    match refused {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::FailedPrecondition);
            assert!(message.contains("immutable"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let report = journey_core::verify::verify(
        &h.context.ledger,
        journey_core::verify::VerifyOptions::default(),
        |_| {},
    )
    .await
    .expect("verify");
    assert!(report.first_problem.is_none(), "{report:?}");
}

#[tokio::test]
async fn a_person_append_goes_through_the_rules_with_graphqls_words() {
    let h = Harness::new().await;
    let cw_token = h.caseworker(Agency::Jobcenter);
    let caseworker = serve(
        &h.state,
        h.state.tokens.authenticate(&cw_token).expect("token"),
        StreamsConfig::default(),
    )
    .await;
    let person = Uuid::new_v4();
    let stream = format!("person-{person}");
    let written = caseworker
        .client
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![registration()],
        )
        .await
        .expect("a valid registration");
    assert_eq!(written.next_expected_version, 0);
    let timeline = h.timeline(&cw_token, &person.to_string()).await;
    assert_eq!(timeline[0]["type"], "PersonRegistered");

    // An arrival that starts a stream breaks a rule: the gRPC message is GraphQL's.
    let other = Uuid::new_v4();
    let arrival = json!({"origin": "abroad", "accommodation": "shared", "district": "Fredenberg"});
    let refused = caseworker
        .client
        .append_to_stream(
            format!("person-{other}").as_str(),
            &AppendToStreamOptions::default(),
            vec![person_event(
                "ArrivalRecorded",
                "2023-01-10",
                arrival.clone(),
            )],
        )
        .await;
    let grpc_message = match refused {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::InvalidArgument);
            message
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    };
    let mutation = "mutation($person: ID!, $events: [EventInput!]!) { appendEvents(personId: $person, events: $events) { revision } }";
    let error = h
        .fails(
            Some(&cw_token),
            mutation,
            json!({"person": format!("person-{other}"), "events": [{"eventId": Uuid::new_v4(), "type": "ArrivalRecorded", "occurredOn": "2023-01-10", "data": arrival}]}),
            "RULE_VIOLATION",
        )
        .await;
    assert_eq!(grpc_message, error["message"].as_str().expect("message"));

    // A malformed payload names the field; nothing of the refused batch is written.
    let refused = caseworker
        .client
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default(),
            vec![
                person_event("ArrivalRecorded", "2023-01-11", json!({"origin": "abroad", "accommodation": "shared", "district": "Fredenberg"})),
                person_event("EmploymentStarted", "2023-05-01", json!({"employment_id": "E-7", "kind": 17})),
            ],
        )
        .await;
    match refused {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::InvalidArgument);
            assert!(message.contains("kind"), "{message}");
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
    assert_eq!(h.timeline(&cw_token, &person.to_string()).await.len(), 1);

    // A wrong expected version on a person stream is the protocol's answer with the revision.
    let stale = caseworker
        .client
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![registration()],
        )
        .await;
    assert!(
        matches!(
            stale,
            Err(kurrentdb::Error::WrongExpectedVersion {
                current: kurrentdb::CurrentRevision::Current(0),
                ..
            })
        ),
        "{stale:?}"
    );

    // Roles that do not record through GraphQL do not append here either.
    let analyst = as_role(&h, Role::Analyst, None).await;
    let denied = analyst
        .client
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default(),
            vec![registration()],
        )
        .await;
    assert!(
        matches!(denied, Err(kurrentdb::Error::AccessDenied)),
        "{denied:?}"
    );
    let plain = caseworker
        .client
        .append_to_stream(
            "orders-9",
            &AppendToStreamOptions::default(),
            vec![binary("E", b"1")],
        )
        .await;
    assert!(
        matches!(plain, Err(kurrentdb::Error::AccessDenied)),
        "{plain:?}"
    );
}

#[tokio::test]
async fn reads_show_each_role_what_graphql_shows_it() {
    let h = Harness::new().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    // `register` answers the stream name, `person-<uuid>`.
    let person = h.register(&jobcenter, Uuid::new_v4()).await;
    let stream = person.clone();
    let admin = as_role(&h, Role::Admin, None).await;
    admin
        .client
        .append_to_stream(
            "plain-1",
            &AppendToStreamOptions::default(),
            vec![binary("E", b"secret bytes")],
        )
        .await
        .expect("plain append");

    // The caseworker of the agency sees the person's events as catalogue events.
    let own = serve(
        &h.state,
        h.state.tokens.authenticate(&jobcenter).expect("token"),
        StreamsConfig::default(),
    )
    .await;
    let events = read_stream(&own.client, &stream, &ReadStreamOptions::default())
        .await
        .expect("own read");
    assert_eq!(events[0].event_type, "PersonRegistered");
    let data: Value = serde_json::from_slice(&events[0].data).expect("json data");
    assert_eq!(data["nationality"], "SYR");
    let metadata: Value =
        serde_json::from_slice(&events[0].custom_metadata).expect("json metadata");
    assert_eq!(metadata["occurred_on"], "2023-01-10");
    assert!(metadata["hash"].is_string());
    assert_eq!(events[0].id.to_string().len(), 36);
    let own_all = read_all(&own.client, &ReadAllOptions::default()).await;
    assert_eq!(own_all.len(), 1, "the plain stream is not for caseworkers");

    // Another agency's caseworker is refused the stream and sees none of it in $all.
    let other_token = h.caseworker(Agency::Jugendamt);
    let other = serve(
        &h.state,
        h.state.tokens.authenticate(&other_token).expect("token"),
        StreamsConfig::default(),
    )
    .await;
    let refused = read_stream(&other.client, &stream, &ReadStreamOptions::default()).await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "{refused:?}"
    );
    assert!(read_all(&other.client, &ReadAllOptions::default())
        .await
        .is_empty());

    // The analyst sees pseudonymised events only, and no plain stream.
    let analyst = as_role(&h, Role::Analyst, None).await;
    let refused = read_stream(&analyst.client, &stream, &ReadStreamOptions::default()).await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "{refused:?}"
    );
    let seen = read_all(&analyst.client, &ReadAllOptions::default()).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].stream_id(),
        h.state
            .pseudonyms
            .person(&person.parse().expect("person id"))
    );
    let everything = format!(
        "{} {} {}",
        seen[0].stream_id(),
        String::from_utf8_lossy(&seen[0].data),
        String::from_utf8_lossy(&seen[0].custom_metadata)
    );
    for personal in [
        person.trim_start_matches("person-"),
        "cw-jobcenter",
        "Haddad",
    ] {
        assert!(
            !everything.contains(personal),
            "`{personal}` in {everything}"
        );
    }

    // Replication sees plain streams only; the auditor no events at all.
    let replication = as_role(&h, Role::Replication, None).await;
    let seen = read_all(&replication.client, &ReadAllOptions::default()).await;
    assert_eq!(
        seen.iter()
            .map(|event| event.stream_id())
            .collect::<Vec<_>>(),
        ["plain-1"]
    );
    let refused = read_stream(&replication.client, &stream, &ReadStreamOptions::default()).await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "{refused:?}"
    );
    let auditor = as_role(&h, Role::Auditor, None).await;
    let refused = auditor.client.read_all(&ReadAllOptions::default()).await;
    let refused = match refused {
        Ok(stream) => {
            let mut stream = stream;
            stream.next().await.map(|_| ())
        }
        Err(error) => Err(error),
    };
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn volunteer_streams_are_for_coordinators_and_admins_and_written_only_through_graphql() {
    // Given: a volunteer recruited by a coordinator through GraphQL, with a name in the vault.
    let h = Harness::new().await;
    let coordinator = h.token(Role::Coordinator, None, "coordinator-graphql");
    let recruited = h
        .ok(
            &coordinator,
            "mutation($input: RecruitVolunteerInput!) { recruitVolunteer(input: $input) { volunteerId } }",
            json!({"input": {"eventId": Uuid::new_v4(), "occurredOn": "2024-01-02", "district": "Lebenstedt",
                "personalData": {"givenNames": "Grete", "familyName": "Ehrenamtlich"}}}),
        )
        .await;
    let id = recruited["recruitVolunteer"]["volunteerId"]
        .as_str()
        .expect("volunteer id");
    let stream = if id.starts_with("volunteer-") {
        id.to_owned()
    } else {
        format!("volunteer-{id}")
    };

    // When/then: a coordinator reads the register's facts, never the vault's name.
    let coordinating = as_role(&h, Role::Coordinator, None).await;
    let events = read_stream(&coordinating.client, &stream, &ReadStreamOptions::default())
        .await
        .expect("coordinator read");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "VolunteerRecruited");
    let data = String::from_utf8_lossy(&events[0].data).into_owned();
    assert!(data.contains("Lebenstedt"), "{data}");
    assert!(
        !data.contains("Grete") && !data.contains("Ehrenamtlich"),
        "{data}"
    );

    // A caseworker and an analyst are refused the stream and find none of it in $all.
    let jobcenter = as_role(&h, Role::Caseworker, Some(Agency::Jobcenter)).await;
    let analyst = as_role(&h, Role::Analyst, None).await;
    for (who, endpoint) in [("caseworker", &jobcenter), ("analyst", &analyst)] {
        let refused = read_stream(&endpoint.client, &stream, &ReadStreamOptions::default()).await;
        assert!(
            matches!(refused, Err(kurrentdb::Error::AccessDenied)),
            "{who}: {refused:?}"
        );
        let all = read_all(&endpoint.client, &ReadAllOptions::default()).await;
        assert!(
            all.iter()
                .all(|event| !event.stream_id().starts_with("volunteer-")),
            "{who} sees no volunteer stream in $all"
        );
    }

    // Nobody appends to a volunteer stream over the protocol, not even an admin: the mutations
    // check the register's rules. Nothing is written.
    let admin = as_role(&h, Role::Admin, None).await;
    let appended = admin
        .client
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default(),
            vec![binary("VolunteerEnded", b"{}")],
        )
        .await;
    match appended {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::InvalidArgument);
            assert!(message.contains("endVolunteer"), "{message}");
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
    let after = read_stream(&admin.client, &stream, &ReadStreamOptions::default())
        .await
        .expect("admin read");
    assert_eq!(after.len(), 1, "nothing written");
}

#[tokio::test]
async fn after_erasure_no_read_or_subscription_returns_the_persons_data() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    h.record(
        &cw,
        "erasePerson",
        "ErasePersonInput",
        Harness::input(&person, "2024-10-03", json!({"reason": "ART17_REQUEST"})),
    )
    .await;
    let stream = person.clone();
    let admin = as_role(&h, Role::Admin, None).await;
    let analyst = as_role(&h, Role::Analyst, None).await;
    let events = read_stream(&admin.client, &stream, &ReadStreamOptions::default())
        .await
        .expect("read");
    assert_eq!(events.len(), 2);
    assert!(
        events[0].data.is_empty(),
        "the erased registration carries no payload"
    );
    let mut received = Vec::new();
    for client in [&admin.client, &analyst.client] {
        received.extend(read_all(client, &ReadAllOptions::default()).await);
        let mut subscription = client
            .subscribe_to_all(&SubscribeToAllOptions::default())
            .await;
        loop {
            match subscription.next_subscription_event().await.expect("event") {
                SubscriptionEvent::EventAppeared(event) => {
                    received.push(event.event.expect("recorded event"))
                }
                SubscriptionEvent::CaughtUp(_) => break,
                _ => {}
            }
        }
    }
    assert_eq!(received.len(), 8);
    for event in &received {
        let text = format!(
            "{} {}",
            String::from_utf8_lossy(&event.data),
            String::from_utf8_lossy(&event.custom_metadata)
        );
        for personal in ["SYR", "1990", "Haddad", "Amina", "\"ar\""] {
            assert!(!text.contains(personal), "`{personal}` in {text}");
        }
    }
}

#[tokio::test]
async fn subscriptions_are_bounded_and_a_subscriber_that_never_reads_is_dropped() {
    let h = Harness::new().await;
    let config = StreamsConfig {
        subscriptions_max: 1,
        subscriber_stall: Duration::from_millis(200),
    };
    let admin = as_role_with(&h, Role::Admin, None, config).await;
    let mut first = admin
        .client
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    assert!(matches!(
        first.next_subscription_event().await,
        Ok(SubscriptionEvent::Confirmed(_))
    ));
    let mut second = admin
        .client
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    let refused = second.next_subscription_event().await;
    assert!(
        matches!(
            &refused,
            Err(kurrentdb::Error::Grpc {
                code: tonic::Code::ResourceExhausted,
                ..
            })
        ),
        "{refused:?}"
    );

    // The first subscriber now reads nothing while far more events than fit any buffer arrive.
    let payload = vec![7u8; 60_000];
    for _ in 0..40 {
        admin
            .client
            .append_to_stream(
                "flood-1",
                &AppendToStreamOptions::default(),
                (0..16).map(|_| binary("E", &payload)).collect::<Vec<_>>(),
            )
            .await
            .expect("the server answers others while a subscriber stalls");
    }
    let mut outcome = Ok(());
    for _ in 0..10_000 {
        match first.next_subscription_event().await {
            Ok(_) => continue,
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    assert!(
        matches!(
            &outcome,
            Err(kurrentdb::Error::Grpc {
                code: tonic::Code::ResourceExhausted,
                ..
            })
        ),
        "{outcome:?}"
    );
    // Nothing was lost: every event is in the log.
    let events = read_stream(&admin.client, "flood-1", &ReadStreamOptions::default())
        .await
        .expect("read");
    assert_eq!(events.len(), 640);
}

/// The client sends BatchAppend only to a server that announces it; the transport's
/// ServerFeatures service is not part of these tests, so a minimal one announces it here.
#[derive(Debug, Clone, Copy)]
struct AnnounceBatchAppend;

#[tonic::async_trait]
impl journey_api::grpc::proto::event_store::client::server_features::server_features_server::ServerFeatures
    for AnnounceBatchAppend
{
    async fn get_supported_methods(
        &self,
        _request: tonic::Request<()>,
    ) -> Result<
        tonic::Response<journey_api::grpc::proto::event_store::client::server_features::SupportedMethods>,
        tonic::Status,
    > {
        use journey_api::grpc::proto::event_store::client::server_features::{
            SupportedMethod, SupportedMethods,
        };
        Ok(tonic::Response::new(SupportedMethods {
            methods: vec![SupportedMethod {
                method_name: "batchappend".into(),
                service_name: "event_store.client.streams.streams".into(),
                features: Vec::new(),
            }],
            event_store_server_version: "24.10.0".into(),
        }))
    }
}

async fn serve_with_batch_append(h: &Harness, principal: Principal) -> Endpoint {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(socket, _)| socket);
        Some((accepted, listener))
    });
    let service = streams_server_with(h.state.clone(), StreamsConfig::default());
    let features = journey_api::grpc::proto::event_store::client::server_features::server_features_server::ServerFeaturesServer::new(AnnounceBatchAppend);
    let layer = tonic::service::InterceptorLayer::new(move |mut request: tonic::Request<()>| {
        request.extensions_mut().insert(Caller {
            principal: principal.clone(),
        });
        Ok(request)
    });
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(service)
            .add_service(features)
            .serve_with_incoming(incoming)
            .await
            .expect("serve");
    });
    let settings: ClientSettings = format!("esdb://127.0.0.1:{port}?tls=false")
        .parse()
        .expect("settings");
    Endpoint {
        client: Client::new(settings).expect("client"),
        port,
        server,
    }
}

#[tokio::test]
async fn batch_append_answers_each_append_and_reports_a_wrong_expected_version() {
    let h = Harness::new().await;
    let token = h.token(Role::Replication, None, "replica");
    let endpoint =
        serve_with_batch_append(&h, h.state.tokens.authenticate(&token).expect("token")).await;
    let batch = endpoint
        .client
        .batch_append(&kurrentdb::BatchAppendOptions::default())
        .await
        .expect("batch append session");
    let written = batch
        .append_to_stream(
            "batch-1",
            StreamState::NoStream,
            vec![binary("E", b"1"), binary("E", b"2")],
        )
        .await
        .expect("first batch");
    assert_eq!(written.current_revision(), Some(1));
    assert_eq!(written.stream_name(), "batch-1");
    let refused = batch
        .append_to_stream(
            "batch-1",
            StreamState::StreamRevision(7),
            vec![binary("E", b"3")],
        )
        .await;
    match refused {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::FailedPrecondition);
            assert!(message.contains("WrongExpectedVersion"), "{message}");
        }
        other => panic!("expected a wrong expected version, got {other:?}"),
    }
    // The Rust client ends its session at the first refusal; a new one continues the stream.
    let batch = endpoint
        .client
        .batch_append(&kurrentdb::BatchAppendOptions::default())
        .await
        .expect("second session");
    let written = batch
        .append_to_stream(
            "batch-1",
            StreamState::StreamRevision(1),
            vec![binary("E", b"3")],
        )
        .await
        .expect("third batch");
    assert_eq!(written.current_revision(), Some(2));
    let events = read_stream(&endpoint.client, "batch-1", &ReadStreamOptions::default())
        .await
        .expect("read");
    assert_eq!(events.len(), 3);
}

#[tokio::test]
async fn an_oversized_append_is_refused_with_the_limit_and_writes_nothing() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    let big = vec![1u8; 700 * 1024];
    let refused = admin
        .client
        .append_to_stream(
            "big-1",
            &AppendToStreamOptions::default(),
            vec![binary("E", &big), binary("E", &big)],
        )
        .await;
    match refused {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::InvalidArgument);
            assert!(
                message.contains("Maximum Append Size of 1048576"),
                "{message}"
            );
        }
        other => panic!("expected the append-size refusal, got {other:?}"),
    }
    let read = read_stream(&admin.client, "big-1", &ReadStreamOptions::default()).await;
    assert!(
        matches!(read, Err(kurrentdb::Error::ResourceNotFound)),
        "{read:?}"
    );
    // One at a time they fit.
    admin
        .client
        .append_to_stream(
            "big-1",
            &AppendToStreamOptions::default(),
            vec![binary("E", &big)],
        )
        .await
        .expect("one event under the limit");
}

#[tokio::test]
async fn many_tiny_appends_from_concurrent_clients_are_all_stored_once() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let client = admin.client.clone();
            tokio::spawn(async move {
                for n in 0..250u32 {
                    client
                        .append_to_stream(
                            format!("tiny-{}", n % 4).as_str(),
                            &AppendToStreamOptions::default(),
                            vec![binary("T", &[writer, (n % 256) as u8])],
                        )
                        .await
                        .expect("tiny append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let everything = read_all(&admin.client, &ReadAllOptions::default()).await;
    assert_eq!(everything.len(), 16 * 250);
    let report = journey_core::verify::verify(
        &h.context.ledger,
        journey_core::verify::VerifyOptions::default(),
        |_| {},
    )
    .await
    .expect("verify");
    assert!(report.first_problem.is_none(), "{report:?}");
}

#[tokio::test]
async fn an_append_of_more_events_than_the_limit_is_refused_and_writes_nothing() {
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    let events: Vec<EventData> = (0..=journey_core::log::APPEND_EVENTS_MAX)
        .map(|_| binary("T", b"."))
        .collect();
    let refused = admin
        .client
        .append_to_stream("many-1", &AppendToStreamOptions::default(), events)
        .await;
    match refused {
        Err(kurrentdb::Error::Grpc { code, message }) => {
            assert_eq!(code, tonic::Code::InvalidArgument);
            assert!(message.contains("at most 4096 events"), "{message}");
        }
        other => panic!("expected the event-count refusal, got {other:?}"),
    }
    let read = read_stream(&admin.client, "many-1", &ReadStreamOptions::default()).await;
    assert!(
        matches!(read, Err(kurrentdb::Error::ResourceNotFound)),
        "{read:?}"
    );
}

/// One raw gRPC call over HTTP/2 with `body` as the request's bytes (length-prefixed frames or not),
/// as a broken or hostile client sends it; answers the call's `grpc-status`.
async fn raw_call(port: u16, method: &str, body: Vec<u8>) -> Option<String> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;
    let client = HttpClient::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::post(format!(
        "http://127.0.0.1:{port}/event_store.client.streams.Streams/{method}"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(Full::new(bytes::Bytes::from(body)))
    .expect("request");
    let response = client.request(request).await.expect("an HTTP/2 answer");
    let in_headers = response
        .headers()
        .get("grpc-status")
        .map(|value| value.to_str().expect("ascii").to_owned());
    let collected = response.into_body().collect().await.expect("body");
    in_headers.or_else(|| {
        collected
            .trailers()
            .and_then(|trailers| trailers.get("grpc-status"))
            .map(|value| value.to_str().expect("ascii").to_owned())
    })
}

fn frame(compressed: u8, declared_length: u32, message: &[u8]) -> Vec<u8> {
    let mut frame = vec![compressed];
    frame.extend_from_slice(&declared_length.to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

#[tokio::test]
async fn malformed_protobuf_is_refused_and_the_server_keeps_serving_and_loses_nothing() {
    // Given an admin's endpoint with one plain stream of three events.
    let h = Harness::new().await;
    let admin = as_role(&h, Role::Admin, None).await;
    let events: Vec<EventData> = (0..3).map(|n| binary("E", &[n])).collect();
    admin
        .client
        .append_to_stream("kept-1", &AppendToStreamOptions::default(), events)
        .await
        .expect("append");
    let head_before = h.state.ledger.log().last_position().await.expect("head");

    // When broken clients send garbage to every method that takes a message.
    let garbage = [0xff_u8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x07];
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        // Bytes that are no protobuf message (a varint that never ends, wire type 7).
        (
            "frame with an invalid message",
            frame(0, garbage.len() as u32, &garbage),
        ),
        // A frame that declares more bytes than it carries, then ends.
        ("truncated frame", frame(0, 100, &garbage[..3])),
        // The compressed flag without a `grpc-encoding`.
        (
            "compressed flag without encoding",
            frame(1, garbage.len() as u32, &garbage),
        ),
        // A frame declaring 4 GiB.
        ("frame declaring 4 GiB", frame(0, u32::MAX, &garbage)),
        // Not even a frame header.
        ("no frame header", vec![0x00, 0x01]),
    ];
    for method in ["Read", "Append", "BatchAppend", "Delete", "Tombstone"] {
        for (what, body) in &hostile {
            let status = raw_call(admin.port, method, body.clone()).await;
            // Then each call gets a gRPC error status, never OK and never a dropped connection.
            let status = status.unwrap_or_else(|| panic!("{method}, {what}: no grpc-status"));
            assert_ne!(status, "0", "{method}, {what}: answered OK");
        }
    }

    // Then the server still serves, and nothing was written or lost.
    assert_eq!(
        h.state.ledger.log().last_position().await.expect("head"),
        head_before
    );
    let read = read_stream(&admin.client, "kept-1", &ReadStreamOptions::default())
        .await
        .expect("the stream is still there");
    assert_eq!(read.len(), 3);
}

#[tokio::test]
async fn the_replica_role_reads_payloads_without_vault_data_and_appends_nothing() {
    // Given: a person registered with personal data, a volunteer with a name in the vault, and a
    // plain stream.
    let h = Harness::new().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let person = h.register(&jobcenter, Uuid::new_v4()).await;
    let coordinator = h.token(Role::Coordinator, None, "coordinator-graphql");
    h.ok(
        &coordinator,
        "mutation($input: RecruitVolunteerInput!) { recruitVolunteer(input: $input) { volunteerId } }",
        json!({"input": {"eventId": Uuid::new_v4(), "occurredOn": "2024-01-02", "district": "Lebenstedt",
            "personalData": {"givenNames": "Grete", "familyName": "Ehrenamtlich"}}}),
    )
    .await;
    let admin = as_role(&h, Role::Admin, None).await;
    admin
        .client
        .append_to_stream(
            "plain-1",
            &AppendToStreamOptions::default(),
            vec![binary("E", b"secret bytes")],
        )
        .await
        .expect("plain append");

    // When: the replica role reads `$all` and the person's stream.
    let replica = as_role(&h, Role::Replica, None).await;
    let seen = read_all(&replica.client, &ReadAllOptions::default()).await;
    let own = read_stream(&replica.client, &person, &ReadStreamOptions::default())
        .await
        .expect("a replica reads person streams");

    // Then: it gets the person and volunteer events with their payloads, as an admin reads them,
    // and no plain stream.
    let admin_seen = read_all(&admin.client, &ReadAllOptions::default()).await;
    let without_plain: Vec<_> = admin_seen
        .iter()
        .filter(|event| event.stream_id() != "plain-1")
        .map(|event| (event.stream_id().to_owned(), event.data.clone()))
        .collect();
    assert_eq!(
        seen.iter()
            .map(|event| (event.stream_id().to_owned(), event.data.clone()))
            .collect::<Vec<_>>(),
        without_plain
    );
    assert!(seen
        .iter()
        .any(|event| event.stream_id().starts_with("volunteer-")));
    assert_eq!(own.len(), 1);
    let data: Value = serde_json::from_slice(&own[0].data).expect("json data");
    assert_eq!(data["nationality"], "SYR");
    // No vault data: neither the person's nor the volunteer's name, phone or address.
    let everything: String = seen
        .iter()
        .map(|event| {
            format!(
                "{} {}",
                String::from_utf8_lossy(&event.data),
                String::from_utf8_lossy(&event.custom_metadata)
            )
        })
        .collect();
    for personal in [
        "Haddad",
        "Amina",
        "555 0199",
        "Berliner",
        "Grete",
        "Ehrenamtlich",
    ] {
        assert!(
            !everything.contains(personal),
            "`{personal}` in {everything}"
        );
    }
    let refused = read_stream(&replica.client, "plain-1", &ReadStreamOptions::default()).await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "{refused:?}"
    );

    // And: it appends nothing, to a person stream or a plain one; nothing is written.
    let before = read_all(&admin.client, &ReadAllOptions::default())
        .await
        .len();
    for stream in [person.as_str(), "plain-1"] {
        let denied = replica
            .client
            .append_to_stream(
                stream,
                &AppendToStreamOptions::default(),
                vec![registration()],
            )
            .await;
        assert!(
            matches!(denied, Err(kurrentdb::Error::AccessDenied)),
            "{stream}: {denied:?}"
        );
    }
    assert_eq!(
        read_all(&admin.client, &ReadAllOptions::default())
            .await
            .len(),
        before
    );

    // And: in GraphQL, the replica token reads no person.
    let token = h.token(Role::Replica, None, "replica-graphql");
    h.fails(
        Some(&token),
        "query($id: ID!) { person(id: $id) { id } }",
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;
}
