//! End to end over a real socket with the real binary: `journey serve`, tokens created while it runs,
//! mutations over HTTP, a `personEvents` subscription over WebSocket (graphql-transport-ws), SIGTERM,
//! restart, and the locked data directory naming the running server. The projections run in the
//! server: a `kpiChanged` subscription sees the indicator move with an append, `kpi` reads it, and
//! after a restart (from the projections' snapshot) it reads the same.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use journey_tests::{create_token, text, Scratch, Server};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

async fn graphql(server: &Server, token: &str, query: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Registers `person` through GraphQL as `token` (a caseworker's), with these given and family
/// names; answers the data of the answer.
async fn register_person(
    server: &Server,
    token: &str,
    person: &str,
    (given_names, family_name): (&str, &str),
) -> Value {
    let register = "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId revision } }";
    graphql(
        server,
        token,
        register,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
            "birthYear": 1991, "sex": "MALE", "nationality": "ERI", "languages": ["ti"],
            "personalData": {"givenNames": given_names, "familyName": family_name}
        }}),
    )
    .await
}

/// Waits until the server counts `count` live subscriptions: a subscription starts asynchronously
/// after the `subscribe` message, and an event recorded before it started would not be delivered.
async fn wait_for_subscriptions(server: &Server, count: usize) {
    let expected = format!("journey_subscriptions_active {count}\n");
    for _ in 0..500 {
        let metrics = reqwest::get(server.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if metrics.contains(&expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the subscription did not start within 10 s");
}

/// Reads WebSocket messages until one of `kind` (skipping pings and keep-alives).
async fn receive<S>(socket: &mut S, kind: &str) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` message within 10 s"))
            .expect("socket open")
            .expect("message");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).expect("json message");
            if value["type"] == kind {
                return value;
            }
            assert!(value["type"] != "error", "{value}");
        }
    }
}

/// Reads WebSocket messages until a `next` of each of `ids` arrived; returns them by id.
async fn receive_each<S>(socket: &mut S, ids: &[&str]) -> std::collections::BTreeMap<String, Value>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut found = std::collections::BTreeMap::new();
    while found.len() < ids.len() {
        let next = receive(socket, "next").await;
        let id = next["id"].as_str().unwrap_or_default().to_owned();
        assert!(ids.contains(&id.as_str()), "{next}");
        assert!(
            found.insert(id, next).is_none(),
            "a second message for one id"
        );
    }
    found
}

const KPI: &str =
    "{ kpi(key: \"population_present\", asOf: \"2023-06-01\") { total { value suppressed } } }";

/// The server's suppression threshold in this test: 1 suppresses nothing, so that one person's
/// arrival moves the indicator for a caseworker (suppression has its own tests over `app()`),
/// and the least push interval of `kpiChanged`, a second (60 s by default; the coalescing has its
/// own tests in `api/tests/kpi_push.rs`).
const SERVER_ARGS: [&str; 4] = ["--k-threshold", "1", "--kpi-push-interval", "1s"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_append_subscribe_stop_restart_and_read_again() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &SERVER_ARGS);

    // Token commands work while the server holds the store; the server sees new tokens at once.
    let caseworker = create_token(
        &scratch,
        &[
            "--role",
            "caseworker",
            "--agency",
            "jobcenter",
            "--name",
            "cw-e2e",
        ],
    );
    assert!(caseworker.starts_with("jrn_"));
    let me = graphql(
        &server,
        &caseworker,
        "{ me { name role agency } }",
        json!({}),
    )
    .await;
    assert_eq!(
        me["me"],
        json!({"name": "cw-e2e", "role": "CASEWORKER", "agency": "JOBCENTER"})
    );

    // Any other command on the locked data directory names the server and what to do.
    let stats = scratch.run(&["stats"]);
    assert!(!stats.status.success());
    let stderr = text(&stats.stderr);
    assert!(
        stderr.contains(&format!("pid {}", server.pid())),
        "{stderr}"
    );
    assert!(stderr.contains(&server.address), "{stderr}");
    assert!(stderr.contains("kill -TERM"), "{stderr}");

    let person = format!("person-{}", Uuid::new_v4());
    let receipt = register_person(&server, &caseworker, &person, ("Yonas", "E2E-Testfall")).await;
    assert_eq!(receipt["registerPerson"]["revision"], 0);

    // Subscribe over WebSocket, authenticating in connection_init as a browser would.
    let mut request = format!("ws://{}/graphql/ws", server.address)
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    assert_eq!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .map(|value| value.to_str().unwrap_or_default()),
        Some("graphql-transport-ws")
    );
    socket
        .send(Message::Text(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {caseworker}")}}).to_string().into()))
        .await
        .expect("init");
    receive(&mut socket, "connection_ack").await;
    socket
        .send(Message::Text(
            json!({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription($id: ID!) { personEvents(id: $id) { type revision data } }",
                "variables": {"id": person}
            }})
            .to_string()
            .into(),
        ))
        .await
        .expect("subscribe");
    wait_for_subscriptions(&server, 1).await;
    socket
        .send(Message::Text(
            json!({"id": "k", "type": "subscribe", "payload": {
                "query": "subscription { kpiChanged(key: \"population_present\", asOf: \"2023-06-01\") { key total { value suppressed } } }"
            }})
            .to_string()
            .into(),
        ))
        .await
        .expect("subscribe kpiChanged");
    // kpiChanged answers at once with the current result: nobody is present yet.
    let initial = receive(&mut socket, "next").await;
    assert_eq!(initial["id"], "k");
    assert_eq!(
        initial["payload"]["data"]["kpiChanged"]["total"],
        json!({"value": 0.0, "suppressed": false})
    );

    let arrival = "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { revision position } }";
    let receipt = graphql(
        &server,
        &caseworker,
        arrival,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-11",
            "origin": "ABROAD", "accommodation": "SHARED", "district": "Lebenstedt"
        }}),
    )
    .await;
    assert_eq!(receipt["recordArrival"]["revision"], 1);
    let mut updates = receive_each(&mut socket, &["1", "k"]).await;
    assert_eq!(
        updates["k"]["payload"]["data"]["kpiChanged"]["total"],
        json!({"value": 1.0, "suppressed": false}),
        "kpiChanged pushes the result after the arrival"
    );
    let next = updates.remove("1").expect("personEvents");
    assert_eq!(
        next["payload"]["data"]["personEvents"]["type"],
        "ArrivalRecorded"
    );
    assert_eq!(
        next["payload"]["data"]["personEvents"]["data"]["district"],
        "Lebenstedt"
    );

    let data = graphql(&server, &caseworker, KPI, json!({})).await;
    assert_eq!(data["kpi"]["total"]["value"], json!(1.0));
    let ready = reqwest::get(server.url("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert!(ready["projections"]["lag_events"].is_u64(), "{ready}");
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("journey_projection_lag_events "),
        "{metrics}"
    );
    assert!(
        metrics.contains("journey_projection_checkpoint 1\n"),
        "{metrics}"
    );

    // SIGTERM: a clean exit, the subscription is completed, server.json is gone, the store is free.
    let status = server.terminate();
    assert!(status.success(), "journey serve exited with {status}");
    assert!(!scratch.data_dir().join("server.json").exists());
    let verify = scratch.run(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));

    assert!(
        scratch
            .data_dir()
            .join("projections/journals.snapshot")
            .exists(),
        "the projections wrote their snapshot on SIGTERM"
    );

    // Restart: the person, the personal data, the token and the indicator are all still there.
    let server = Server::start(&scratch, &SERVER_ARGS);
    let data = graphql(&server, &caseworker, KPI, json!({})).await;
    assert_eq!(data["kpi"]["total"]["value"], json!(1.0));
    let data = graphql(
        &server,
        &caseworker,
        "query($id: ID!) { person(id: $id) { revision timeline { type } personalData { familyName } } }",
        json!({"id": person}),
    )
    .await;
    assert_eq!(data["person"]["revision"], 1);
    assert_eq!(
        data["person"]["timeline"],
        json!([{"type": "PersonRegistered"}, {"type": "ArrivalRecorded"}])
    );
    assert_eq!(data["person"]["personalData"]["familyName"], "E2E-Testfall");

    // The WebSocket also answers on /graphql itself, with the token in the upgrade request.
    let mut request = format!("ws://{}/graphql", server.address)
        .into_client_request()
        .expect("ws request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {caseworker}").parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    socket
        .send(Message::Text(
            json!({"type": "connection_init"}).to_string().into(),
        ))
        .await
        .expect("init");
    receive(&mut socket, "connection_ack").await;
    socket
        .send(Message::Text(
            json!({"id": "2", "type": "subscribe", "payload": {
                "query": "subscription($id: ID!) { personEvents(id: $id) { type } }",
                "variables": {"id": person}
            }})
            .to_string()
            .into(),
        ))
        .await
        .expect("subscribe");
    // The first subscription was completed by the restart, so this is the only one.
    wait_for_subscriptions(&server, 1).await;
    let checklist = "mutation($input: CompleteChecklistItemInput!) { completeChecklistItem(input: $input) { revision } }";
    graphql(&server, &caseworker, checklist, json!({"input": {
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-12", "item": "START_FOLDER"
    }})).await;
    let next = receive(&mut socket, "next").await;
    assert_eq!(
        next["payload"]["data"]["personEvents"]["type"],
        "ChecklistItemCompleted"
    );

    // Revoking while the server runs takes effect with the next request.
    let revoke = scratch.run(&["token", "revoke", "cw-e2e"]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let refused = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(&caseworker)
        .json(&json!({"query": "{ me { name } }"}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);

    let status = server.terminate();
    assert!(status.success(), "journey serve exited with {status}");
}

#[test]
fn a_second_server_on_the_same_data_directory_names_the_first() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &[]);
    let output = scratch.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("pid {}", server.pid())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("http://{}/graphql", server.address)),
        "{stderr}"
    );
    let tokens = scratch.run(&["token", "list"]);
    assert!(
        tokens.status.success(),
        "token commands do not need the store"
    );
    assert!(server.terminate().success());
}

/// `journey` turns transparent huge pages off for its process before it allocates much
/// (`journey_api::memory::no_transparent_huge_pages` says why); the kernel reports the switch in
/// the process's status.
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("status");
    let thp = status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(thp, Some("0"), "{status}");
    assert!(server.terminate().success());
}

/// `journey serve` ends its process right after the shutdown's flushes, without freeing its state
/// (`api/src/commands/serve.rs`): the exit must still be a clean one, with everything acknowledged
/// durable and the files written at shutdown whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_an_append_exits_0_with_the_event_and_the_snapshot_on_disk() {
    let scratch = Scratch::new();
    let seeded = scratch.run(&["seed", "--people", "40", "--seed", "11"]);
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let server = Server::start(&scratch, &SERVER_ARGS);
    let caseworker = create_token(&scratch, &["--role", "caseworker", "--agency", "jobcenter"]);
    let person = format!("person-{}", Uuid::new_v4());
    let receipt = register_person(&server, &caseworker, &person, ("Rana", "Exit-Testfall")).await;
    assert_eq!(receipt["registerPerson"]["revision"], 0);
    // The projections are a cache that may lag; once they have applied the append, the snapshot
    // the shutdown writes must hold it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready: Value = reqwest::get(server.url("/readyz"))
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        if ready["projections"]["lag_events"] == json!(0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the projections did not catch up within 30 s: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // When: SIGTERM right after the append is acknowledged and applied.
    let status = server.terminate();

    // Then: a clean exit; the appended event and every chain are there; the projections' snapshot
    // written at shutdown loads whole and holds the append (no lag at start); the personal data (in
    // the vault, another tree of the store) reads back after a restart.
    assert_eq!(status.code(), Some(0), "journey serve exited with {status}");
    assert!(!scratch.data_dir().join("server.json").exists());
    let shown = scratch.run(&["show", &person]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    assert!(shown.contains("PersonRegistered"), "{shown}");
    let verify = scratch.run(&["verify"]);
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    let projections = scratch.run(&["projections", "status"]);
    assert!(
        projections.status.success(),
        "{}",
        text(&projections.stderr)
    );
    let projections = text(&projections.stdout);
    let line = |name: &str| {
        projections
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` in {projections}"))
            .split_whitespace()
            .nth(if name == "loaded checkpoint" { 2 } else { 1 })
            .map(str::to_owned)
    };
    assert_eq!(
        line("loaded checkpoint"),
        line("head"),
        "the snapshot of the shutdown holds every event: {projections}"
    );
    assert!(
        projections.contains("(lag 0 events at start)"),
        "{projections}"
    );
    let server = Server::start(&scratch, &SERVER_ARGS);
    let data = graphql(
        &server,
        &caseworker,
        "query($id: ID!) { person(id: $id) { revision personalData { familyName } } }",
        json!({"id": person}),
    )
    .await;
    assert_eq!(data["person"]["revision"], 0);
    assert_eq!(
        data["person"]["personalData"]["familyName"],
        "Exit-Testfall"
    );
    assert_eq!(server.terminate().code(), Some(0));
}
