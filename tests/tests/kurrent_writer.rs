//! Two processes on loopback: a writer (`journey serve --store kurrentdb://…`) whose log is a
//! third-party-protocol server, here another `journey serve --grpc-listen` process over TLS. The
//! log server is killed and restarted while the writer records; the writer recovers without
//! losing or duplicating an event, and its projections catch up through the resubscribed `$all`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use journey_tests::log_server::LogServer;
use journey_tests::{create_token, graphql_ok, record_retrying, text, Scratch, Server};
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }";
const ARRIVAL: &str =
    "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { eventId } }";
const PEOPLE: &str = "query { people(asOf: \"2024-06-01\", first: 100) { edges { node { id } } } }";

/// Registers `person` (event id `registered`) and records the arrival (event id `arrived`).
async fn arrive(writer: &Server, token: &str, person: Uuid, [registered, arrived]: [Uuid; 2]) {
    let register = json!({"input": {
        "personId": person, "eventId": registered, "occurredOn": "2023-01-10",
        "birthYear": 1990, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
    }});
    record_retrying(writer, token, REGISTER, register).await;
    let arrival = json!({"input": {
        "personId": person, "eventId": arrived, "occurredOn": "2023-01-11",
        "origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Bad",
    }});
    record_retrying(writer, token, ARRIVAL, arrival).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_rides_out_its_log_server_killed_and_restarted_mid_stream_without_loss_or_duplicate(
) {
    let mut log_server = LogServer::start();
    let connection = log_server.connection_string();
    let scratch = Scratch::new();
    let admin = create_token(&scratch, &["--role", "admin", "--name", "admin-e2e"]);
    let writer = Arc::new(Server::start(&scratch, &["--store", &connection]));

    let persons: Vec<(Uuid, [Uuid; 2])> = (0..24)
        .map(|_| (Uuid::new_v4(), [Uuid::new_v4(), Uuid::new_v4()]))
        .collect();
    let done = Arc::new(AtomicUsize::new(0));
    let recording = {
        let writer = writer.clone();
        let admin = admin.clone();
        let persons = persons.clone();
        let done = done.clone();
        tokio::spawn(async move {
            for (person, events) in persons {
                arrive(&writer, &admin, person, events).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while done.load(Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    log_server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    log_server.restart();
    recording.await.expect("the recording task");

    // The projections follow the log server again: every person, once.
    let mut seen = Vec::new();
    for _ in 0..600 {
        let data = graphql_ok(&writer, &admin, PEOPLE, json!({})).await;
        seen = data["people"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| edge["node"]["id"].as_str().expect("id").to_owned())
            .collect();
        if seen.len() >= persons.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut expected: Vec<String> = persons
        .iter()
        .map(|(person, _)| format!("person-{person}"))
        .collect();
    expected.sort();
    seen.sort();
    assert_eq!(
        seen, expected,
        "the writer's read model holds every person once"
    );

    // The log server holds each record exactly once.
    let writer = Arc::try_unwrap(writer).expect("the only handle");
    assert!(writer.terminate().success());
    let export = scratch
        .command()
        .args(["--store", &connection, "export"])
        .output()
        .expect("export");
    assert!(export.status.success(), "{}", text(&export.stderr));
    let mut stored: HashMap<String, usize> = HashMap::new();
    for line in text(&export.stdout).lines() {
        let event: Value = serde_json::from_str(line).expect("JSON");
        *stored
            .entry(event["id"].as_str().expect("id").to_owned())
            .or_default() += 1;
    }
    for (person, events) in &persons {
        for event in events {
            assert_eq!(
                stored.get(&event.to_string()),
                Some(&1),
                "event {event} of {person} is stored once"
            );
        }
    }
}
