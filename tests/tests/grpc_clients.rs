//! The gRPC endpoint (the KurrentDB client protocol, issue 9) through the official Rust client, the
//! `kurrentdb` crate, against the real binary over TLS with the CA it generates: connecting, server
//! features, discovery, credentials, refusals, audit, insecure mode, shutdown; and the conformance
//! ground of issue 9: plain streams appended and read both ways, a wrong expected version, a retried
//! event id, `$all` paged by position, a filtered catch-up subscription, a caseworker's catalogue
//! event seen in GraphQL, an invalid one refused with the rule's words, another agency's person
//! refused, and an analyst's `$all` without person ids or vault data.
//!
//! The Python and Node clients run the same ground in `tests/clients/` (`.ci/run`).

use std::path::PathBuf;

use journey_tests::{create_token, graphql_ok, text, Scratch, Server};
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions,
    StreamPosition, StreamState, SubscribeToAllOptions, SubscriptionEvent, SubscriptionFilter,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// A server with the gRPC endpoint on a free loopback port, and what `server.json` says about it.
struct GrpcServer {
    server: Server,
    grpc: String,
    ca_file: Option<PathBuf>,
}

fn start(scratch: &Scratch, extra_args: &[&str]) -> GrpcServer {
    // The client's TLS needs a process-wide provider when the build enables more than one (see
    // Cargo.toml); a second install in the same process is refused, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut args = vec!["--grpc-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra_args);
    let server = Server::start(scratch, &args);
    let info: Value = serde_json::from_slice(
        &std::fs::read(scratch.data_dir().join("server.json")).expect("server.json"),
    )
    .expect("server.json is JSON");
    GrpcServer {
        server,
        grpc: info["grpc_listen"]
            .as_str()
            .expect("server.json names the gRPC address")
            .to_owned(),
        ca_file: info["grpc_ca_file"].as_str().map(PathBuf::from),
    }
}

impl GrpcServer {
    fn port(&self) -> &str {
        self.grpc.rsplit(':').next().expect("a port")
    }

    /// A client of `token` over TLS, trusting only the generated CA.
    fn client(&self, host: &str, token: &str) -> Client {
        let ca = self.ca_file.as_ref().expect("a generated CA");
        let settings: ClientSettings = format!(
            "kurrentdb://anyone:{token}@{host}:{}?tls=true&tlsCaFile={}",
            self.port(),
            ca.display()
        )
        .parse()
        .expect("connection string");
        Client::new(settings).expect("client")
    }
}

async fn read_first(client: &Client, stream: &str) -> Result<(), kurrentdb::Error> {
    let mut read = client
        .read_stream(stream, &ReadStreamOptions::default())
        .await?;
    read.next().await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_connects_over_tls_with_the_generated_ca_and_learns_the_version() {
    let scratch = Scratch::new();
    let token = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    let grpc = start(&scratch, &[]);
    let ca_file = grpc.ca_file.clone().expect("server.json names the CA file");
    assert!(
        ca_file.starts_with(scratch.data_dir()),
        "the CA lives in the data directory"
    );

    for host in ["127.0.0.1", "localhost"] {
        let info = grpc
            .client(host, &token)
            .server_info()
            .await
            .expect("server features over TLS");
        assert_eq!(info.version(), (24, 10, 0), "connected by {host}");
    }

    // Discovery asks Gossip for the leader and connects to the endpoint it names.
    let ca = ca_file.display();
    let discover: ClientSettings = format!(
        "kurrentdb+discover://anyone:{token}@localhost:{}?tlsCaFile={ca}",
        grpc.port()
    )
    .parse()
    .expect("discover connection string");
    let info = Client::new(discover)
        .expect("client")
        .server_info()
        .await
        .expect("discovered the leader");
    assert_eq!(info.version(), (24, 10, 0));

    // A restart reuses the CA: a client configured with the file keeps working.
    let ca_before = std::fs::read(&ca_file).expect("ca");
    assert!(grpc.server.terminate().success());
    let again = start(&scratch, &[]);
    assert_eq!(again.ca_file.as_ref(), Some(&ca_file));
    assert_eq!(std::fs::read(&ca_file).expect("ca"), ca_before);
    again
        .client("127.0.0.1", &token)
        .server_info()
        .await
        .expect("the same CA after a restart");
    assert!(again.server.terminate().success());
    assert!(
        !scratch.data_dir().join("server.json").exists(),
        "server.json is removed on a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_revoked_tokens_are_refused_and_every_call_with_a_token_is_audited() {
    let scratch = Scratch::new();
    let admin = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    let revoked = create_token(&scratch, &["--role", "admin", "--name", "gone"]);
    let auditor = create_token(&scratch, &["--role", "auditor", "--name", "aud"]);
    let revoke = scratch.run(&["token", "revoke", "gone"]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let grpc = start(&scratch, &[]);

    let wrong = format!("jrn_{}", "0".repeat(64));
    for token in [wrong.as_str(), revoked.as_str()] {
        let refused = read_first(&grpc.client("127.0.0.1", token), "plain-1").await;
        assert!(
            matches!(refused, Err(kurrentdb::Error::AccessDenied)),
            "a bad token is refused: {refused:?}"
        );
    }

    // A service journey does not serve answers UNIMPLEMENTED, which the client reports as such.
    let client = grpc.client("127.0.0.1", &admin);
    let unserved = client
        .create_persistent_subscription("plain-1", "group", &Default::default())
        .await;
    assert!(
        matches!(unserved, Err(kurrentdb::Error::UnsupportedFeature)),
        "persistent subscriptions are not implemented: {unserved:?}"
    );

    let data = graphql_ok(
        &grpc.server,
        &auditor,
        "{ auditLog(first: 100) { edges { node { tokenName operation outcome } } } }",
        json!({}),
    )
    .await;
    let entries: Vec<&Value> = data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"])
        .collect();
    let persistent = entries
        .iter()
        .find(|entry| entry["operation"] == "grpc PersistentSubscriptions.Create")
        .expect("the unserved call is audited");
    assert_eq!(persistent["tokenName"], "grpc-admin");
    assert_eq!(persistent["outcome"], "UNIMPLEMENTED");
    assert!(
        entries.iter().all(|entry| entry["tokenName"] != "gone"),
        "a refused token leaves no entry in its name"
    );
    assert!(grpc.server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_runs_every_call_as_its_role_or_refuses_it() {
    let scratch = Scratch::new();
    let insecure = |grpc: &GrpcServer| {
        let settings: ClientSettings = format!("kurrentdb://{}?tls=false", grpc.grpc)
            .parse()
            .expect("settings");
        Client::new(settings).expect("client")
    };
    let refusing = start(&scratch, &["--grpc-insecure"]);
    assert!(refusing.ca_file.is_none(), "no TLS, no CA");
    let client = insecure(&refusing);
    client
        .server_info()
        .await
        .expect("server features answer without credentials");
    let refused = read_first(&client, "plain-1").await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "without --grpc-insecure-role every call is refused: {refused:?}"
    );
    assert!(refusing.server.terminate().success());

    let admin = start(
        &scratch,
        &["--grpc-insecure", "--grpc-insecure-role", "admin"],
    );
    insecure(&admin)
        .append_to_stream(
            "rust_plain-insecure",
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![noted("unchecked")],
        )
        .await
        .expect("every call runs as the insecure role, without credentials");
    assert!(admin.server.terminate().success());
}

#[test]
fn insecure_mode_on_a_non_loopback_address_is_refused_before_anything_starts() {
    let scratch = Scratch::new();
    let output = scratch.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--grpc-listen",
        "0.0.0.0:0",
        "--grpc-insecure",
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("0.0.0.0:0 is not a loopback address"),
        "the error says what to fix: {stderr}"
    );
    assert!(!scratch.data_dir().join("server.json").exists());
}

fn noted(n: &str) -> EventData {
    EventData::json("Noted", &json!({ "n": n }))
        .expect("json")
        .id(Uuid::new_v4())
}

fn catalogue(event_type: &str, data: Value) -> EventData {
    EventData::json(event_type, &data)
        .expect("json")
        .metadata_as_json(&json!({"version": 1, "occurred_on": "2024-03-01"}))
        .expect("metadata")
        .id(Uuid::new_v4())
}

fn person_registered() -> EventData {
    catalogue(
        "PersonRegistered",
        json!({"birth_year": 1990, "sex": "female", "nationality": "SYR", "languages": ["ar"]}),
    )
}

/// What the tests keep of a received event (the client's own type cannot be cloned).
#[derive(Debug, Clone)]
struct Seen {
    id: Uuid,
    stream: String,
    revision: u64,
    position: kurrentdb::Position,
    data: Vec<u8>,
    custom_metadata: Vec<u8>,
}

fn seen(event: &kurrentdb::ResolvedEvent) -> Seen {
    let event = event.get_original_event();
    Seen {
        id: event.id,
        stream: event.stream_id().to_owned(),
        revision: event.revision,
        position: event.position,
        data: event.data.to_vec(),
        custom_metadata: event.custom_metadata.to_vec(),
    }
}

async fn read_all_of(
    client: &Client,
    stream: &str,
    options: &ReadStreamOptions,
) -> Result<Vec<Seen>, kurrentdb::Error> {
    let mut read = client.read_stream(stream, options).await?;
    let mut events = Vec::new();
    while let Some(event) = read.next().await? {
        events.push(seen(&event));
    }
    Ok(events)
}

async fn read_all_page(client: &Client, options: &ReadAllOptions) -> Vec<Seen> {
    let mut read = client.read_all(options).await.expect("read $all");
    let mut events = Vec::new();
    while let Some(event) = read.next().await.expect("an event of $all") {
        events.push(seen(&event));
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_appends_reads_pages_and_subscribes_on_plain_streams() {
    let scratch = Scratch::new();
    let token = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    let grpc = start(&scratch, &[]);
    let admin = grpc.client("localhost", &token);
    let stream = format!("rust_plain-{}", Uuid::new_v4().simple());

    let first: Vec<EventData> = (0..3).map(|n| noted(&n.to_string())).collect();
    admin
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            first.clone(),
        )
        .await
        .expect("append to a new plain stream");
    let forwards = read_all_of(&admin, &stream, &ReadStreamOptions::default().forwards())
        .await
        .expect("read forwards");
    assert_eq!(
        forwards.iter().map(|e| e.revision).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(forwards
        .iter()
        .all(|e| e.position.commit == e.position.prepare));
    let backwards = read_all_of(
        &admin,
        &stream,
        &ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End),
    )
    .await
    .expect("read backwards");
    let forward_ids: Vec<Uuid> = forwards.iter().map(|e| e.id).collect();
    let mut backward_ids: Vec<Uuid> = backwards.iter().map(|e| e.id).collect();
    backward_ids.reverse();
    assert_eq!(backward_ids, forward_ids);

    let wrong = admin
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default().stream_state(StreamState::StreamRevision(0)),
            vec![noted("late")],
        )
        .await;
    assert!(
        matches!(wrong, Err(kurrentdb::Error::WrongExpectedVersion { .. })),
        "a wrong expected version is the client's typed error: {wrong:?}"
    );
    // The same events again, as a client retrying after a lost answer: no duplicate.
    let _ = admin
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            first,
        )
        .await;
    let after = read_all_of(&admin, &stream, &ReadStreamOptions::default())
        .await
        .expect("read again");
    assert_eq!(after.len(), 3, "a retried event id is not appended twice");

    // $all, paged by position.
    let whole = read_all_page(&admin, &ReadAllOptions::default().max_count(12)).await;
    assert!(whole.len() >= 3);
    let mut paged = read_all_page(&admin, &ReadAllOptions::default().max_count(5)).await;
    while paged.len() < whole.len() {
        let last = paged.last().expect("a page").position;
        let page: Vec<Seen> = read_all_page(
            &admin,
            &ReadAllOptions::default()
                .position(StreamPosition::Position(last))
                .max_count(6),
        )
        .await
        .into_iter()
        .filter(|e| e.position.commit != last.commit)
        .collect();
        assert!(
            !page.is_empty(),
            "a page after the last position while events remain"
        );
        paged.extend(page);
    }
    paged.truncate(whole.len());
    assert_eq!(
        paged.iter().map(|e| e.id).collect::<Vec<_>>(),
        whole.iter().map(|e| e.id).collect::<Vec<_>>(),
        "paging by position gives $all in order, without gaps or repeats"
    );

    // A catch-up subscription to $all with a filter: the past, caught-up, then a live event.
    let mut subscription = admin
        .subscribe_to_all(
            &SubscribeToAllOptions::default()
                .filter(SubscriptionFilter::on_stream_name().add_prefix(&stream)),
        )
        .await;
    let mut past = Vec::new();
    let live = noted("live");
    let mut live_sent = false;
    loop {
        match tokio::time::timeout(
            std::time::Duration::from_secs(60),
            subscription.next_subscription_event(),
        )
        .await
        .expect("the subscription delivers")
        .expect("a subscription event")
        {
            SubscriptionEvent::EventAppeared(event) => {
                let event = seen(&event);
                assert_eq!(
                    event.stream, stream,
                    "the filter lets only the stream through"
                );
                if live_sent {
                    assert_eq!(event.revision, 3, "the live event follows the past");
                    break;
                }
                past.push(event);
            }
            SubscriptionEvent::CaughtUp(_) if !live_sent => {
                assert_eq!(past.len(), 3, "the past arrives before caught-up");
                admin
                    .append_to_stream(
                        stream.as_str(),
                        &AppendToStreamOptions::default()
                            .stream_state(StreamState::StreamRevision(2)),
                        vec![live.clone()],
                    )
                    .await
                    .expect("append while subscribed");
                live_sent = true;
            }
            _ => {}
        }
    }
    assert!(grpc.server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_appends_catalogue_events_as_a_caseworker_and_analysts_see_no_personal_data(
) {
    let scratch = Scratch::new();
    let caseworker = create_token(
        &scratch,
        &[
            "--role",
            "caseworker",
            "--agency",
            "jobcenter",
            "--name",
            "cw-jc",
        ],
    );
    let other = create_token(
        &scratch,
        &[
            "--role",
            "caseworker",
            "--agency",
            "kommune",
            "--name",
            "cw-ko",
        ],
    );
    let analyst = create_token(&scratch, &["--role", "analyst", "--name", "an"]);
    let grpc = start(&scratch, &[]);
    let client = grpc.client("localhost", &caseworker);

    let person = Uuid::new_v4();
    client
        .append_to_stream(
            format!("person-{person}"),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![person_registered()],
        )
        .await
        .expect("a caseworker registers a person over gRPC");
    let data = graphql_ok(
        &grpc.server,
        &caseworker,
        "query($id: ID!) { person(id: $id) { id revision } }",
        json!({"id": person.to_string()}),
    )
    .await;
    assert_eq!(
        data["person"]["revision"], 0,
        "the person is in GraphQL: {data}"
    );

    let refused = client
        .append_to_stream(
            format!("person-{}", Uuid::new_v4()),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![catalogue(
                "ArrivalRecorded",
                json!({"origin": "abroad", "accommodation": "flat", "district": "Lebenstedt"}),
            )],
        )
        .await;
    let message = format!("{refused:?}");
    assert!(
        refused.is_err() && message.contains("PersonRegistered"),
        "an invalid event is refused with the rule's message: {message}"
    );

    let elsewhere = Uuid::new_v4();
    grpc.client("localhost", &other)
        .append_to_stream(
            format!("person-{elsewhere}"),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            vec![person_registered()],
        )
        .await
        .expect("another agency registers a person");
    let hidden = read_all_of(
        &client,
        &format!("person-{elsewhere}"),
        &ReadStreamOptions::default(),
    )
    .await;
    assert!(
        matches!(
            hidden,
            Err(kurrentdb::Error::AccessDenied | kurrentdb::Error::ResourceNotFound)
        ),
        "a person of another agency is refused: {hidden:?}"
    );

    let vault_name = format!("Vaultcheck{}", Uuid::new_v4().simple());
    let registered = graphql_ok(
        &grpc.server,
        &caseworker,
        "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }",
        json!({"input": {
            "eventId": Uuid::new_v4(), "occurredOn": "2024-03-01", "birthYear": 1985, "sex": "MALE",
            "nationality": "AFG", "languages": ["fa"],
            "personalData": {"givenNames": vault_name, "familyName": vault_name}
        }}),
    )
    .await;
    let named = registered["registerPerson"]["personId"]
        .as_str()
        .expect("person id")
        .to_owned();
    let events = read_all_page(
        &grpc.client("localhost", &analyst),
        &ReadAllOptions::default(),
    )
    .await;
    assert!(!events.is_empty(), "the analyst reads $all");
    let mut received = Vec::new();
    for event in &events {
        received.extend_from_slice(event.stream.as_bytes());
        received.extend_from_slice(&event.data);
        received.extend_from_slice(&event.custom_metadata);
    }
    let received = String::from_utf8_lossy(&received);
    for id in [person.to_string(), elsewhere.to_string(), named] {
        assert!(
            !received.contains(&id),
            "no real person id ({id}) reaches an analyst"
        );
    }
    assert!(
        !received.contains(&vault_name),
        "no vault data reaches an analyst"
    );
    assert!(grpc.server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_grpc_endpoint_with_the_http_server_while_a_subscription_is_open() {
    let scratch = Scratch::new();
    let token = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    let grpc = start(&scratch, &["--drain-timeout-ms", "20000"]);
    let admin = grpc.client("localhost", &token);
    admin
        .append_to_stream(
            "rust_plain-shutdown",
            &AppendToStreamOptions::default(),
            vec![noted("before")],
        )
        .await
        .expect("append");
    let mut subscription = admin
        .subscribe_to_all(&SubscribeToAllOptions::default())
        .await;
    loop {
        let event = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            subscription.next_subscription_event(),
        )
        .await
        .expect("the subscription delivers")
        .expect("a subscription event");
        if matches!(event, SubscriptionEvent::CaughtUp(_)) {
            break;
        }
    }
    let grpc_address = grpc.grpc.clone();
    // The open subscription ends with the shutdown instead of holding the server up.
    let status = grpc.server.terminate();
    assert!(status.success(), "a clean stop: {status}");
    assert!(
        std::net::TcpStream::connect(&grpc_address).is_err(),
        "the gRPC listener is closed"
    );
}

/// The audit entries of a stopped server's data directory, exported.
fn audit_entries(scratch: &Scratch) -> Vec<Value> {
    let output = scratch.run(&["audit", "export", "--format", "ndjson"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON entry per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_answered_over_grpc_has_its_audit_entry_on_disk_when_the_server_is_killed() {
    // Given a server and an admin's client
    let scratch = Scratch::new();
    let token = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    for round in 1..=3 {
        let mut grpc = start(&scratch, &[]);
        let client = grpc.client("127.0.0.1", &token);
        // When an append is answered and the server is killed right after the answer
        client
            .append_to_stream(
                "durable-1",
                &AppendToStreamOptions::default(),
                vec![noted(&round.to_string())],
            )
            .await
            .expect("append");
        grpc.server.child.kill().expect("SIGKILL");
        grpc.server.child.wait().expect("reap the server");
        // Then the audit log holds the entry that opened every append that was answered (written
        // before the append ran, and made durable with the append's events)
        let appends = audit_entries(&scratch)
            .into_iter()
            .filter(|entry| {
                entry["operation"] == "grpc Streams.Append" && entry["outcome"] == "begun"
            })
            .count();
        assert_eq!(
            appends, round,
            "round {round}: an answered append lost its audit entry"
        );
    }
}
