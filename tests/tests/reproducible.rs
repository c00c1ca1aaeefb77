//! Bi-temporal answers that reproduce, over a real socket with the real binary (DOMAIN.md section
//! 4: "indicators for a past reporting date must be reproducible exactly").
//!
//! A live answer (no `knownAt`) reports the transaction time it covers; asking again with that
//! `knownAt` after more records (a new person and a correction) and after a restart gives the
//! identical answer. Erasure is the one exception, by design: it removes the person from past cuts
//! too, and every indicator answer counts the erased persons, over GraphQL and in `journey kpi`.

use std::time::Duration;

use journey_tests::{create_token, graphql_ok, text, Scratch, Server};
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }";
const ARRIVAL: &str =
    "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { eventId } }";
const CORRECT: &str =
    "mutation($input: CorrectEventInput!) { correctEvent(input: $input) { revision } }";
const ERASE: &str =
    "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision } }";

/// An indicator broken down by district, at the cut `$knownAt` (live without it).
const KPI: &str = "query($knownAt: DateTime) { kpi(key: \"population_present\", asOf: \"2024-06-01\", by: [DISTRICT], knownAt: $knownAt) { knownAt metadata { erasedPersons } cells { dimensions { value } value numerator } total { value } } }";
/// A read model at the cut `$knownAt` (live without it).
const PEOPLE: &str = "query($knownAt: DateTime) { people(asOf: \"2024-06-01\", first: 100, knownAt: $knownAt) { knownAt edges { node { id status { present district stage } } } } }";

/// Registers a person who arrived in `district` on 2023-01-11; returns the person id and the
/// arrival's event id.
async fn arrive(server: &Server, token: &str, district: &str) -> (String, String) {
    let person = Uuid::new_v4().to_string();
    graphql_ok(
        server,
        token,
        REGISTER,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
            "birthYear": 1988, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
        }}),
    )
    .await;
    let arrival = graphql_ok(
        server,
        token,
        ARRIVAL,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-11",
            "origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": district,
        }}),
    )
    .await;
    let arrival = arrival["recordArrival"]["eventId"]
        .as_str()
        .expect("event id")
        .to_owned();
    (person, arrival)
}

/// Asks `query` live until `done` holds for its data (the projections apply records in the
/// background, and a live answer does not wait for them); returns that data.
async fn live_until(
    server: &Server,
    token: &str,
    query: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..500 {
        let data = graphql_ok(server, token, query, json!({"knownAt": null})).await;
        if done(&data) {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the projections did not apply the records within 10 s");
}

/// The districts of the indicator's cells.
fn districts(data: &Value) -> Vec<String> {
    data["kpi"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|cell| {
            cell["dimensions"][0]["value"]
                .as_str()
                .expect("district")
                .to_owned()
        })
        .collect()
}

async fn at(server: &Server, token: &str, query: &str, known_at: &Value) -> Value {
    graphql_ok(server, token, query, json!({"knownAt": known_at})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_answers_known_at_reproduces_it_after_more_records_and_a_restart() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &[]);
    let admin = create_token(&scratch, &["--role", "admin", "--name", "admin-e2e"]);
    let (first, first_arrival) = arrive(&server, &admin, "Lebenstedt").await;
    arrive(&server, &admin, "Bad").await;

    let kpi = live_until(&server, &admin, KPI, |data| {
        data["kpi"]["total"]["value"] == json!(2.0)
    })
    .await;
    let people = graphql_ok(&server, &admin, PEOPLE, json!({"knownAt": null})).await;
    assert_eq!(
        people["people"]["edges"].as_array().expect("edges").len(),
        2
    );
    let kpi_known_at = kpi["kpi"]["knownAt"].clone();
    let people_known_at = people["people"]["knownAt"].clone();
    assert!(kpi_known_at.is_string() && people_known_at.is_string());

    // More records: a third person in Thiede, and the first person's arrival corrected to after
    // the reporting date (so they are not present on it any more).
    arrive(&server, &admin, "Thiede").await;
    graphql_ok(
        &server,
        &admin,
        CORRECT,
        json!({"input": {
            "personId": first, "eventId": Uuid::new_v4(), "occurredOn": "2024-10-01",
            "targetEventId": first_arrival,
            "replacement": {"type": "ArrivalRecorded", "occurredOn": "2024-07-01", "data": {
                "origin": "reception_centre", "accommodation": "shared", "district": "Lebenstedt"}},
            "reason": "arrived later than entered",
        }}),
    )
    .await;
    // Asked at once, the live answer may or may not include these yet; either way the knownAt it
    // reports must reproduce it.
    let racing = graphql_ok(&server, &admin, KPI, json!({"knownAt": null})).await;
    let live = live_until(&server, &admin, KPI, |data| {
        districts(data) == ["Bad", "Thiede"]
    })
    .await;
    assert_ne!(live, kpi, "the live answer moved on");

    assert_eq!(at(&server, &admin, KPI, &kpi_known_at).await, kpi);
    assert_eq!(at(&server, &admin, PEOPLE, &people_known_at).await, people);
    assert_eq!(
        at(&server, &admin, KPI, &racing["kpi"]["knownAt"]).await,
        racing
    );

    let status = server.terminate();
    assert!(status.success(), "{status}");
    let server = Server::start(&scratch, &[]);
    assert_eq!(
        at(&server, &admin, KPI, &kpi_known_at).await,
        kpi,
        "after a restart"
    );
    assert_eq!(
        at(&server, &admin, PEOPLE, &people_known_at).await,
        people,
        "after a restart"
    );
    let status = server.terminate();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_a_person_from_past_cuts_and_every_kpi_answer_counts_the_erased() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &[]);
    let admin = create_token(&scratch, &["--role", "admin", "--name", "admin-e2e"]);
    arrive(&server, &admin, "Lebenstedt").await;
    let (erased, _) = arrive(&server, &admin, "Bad").await;
    let before = live_until(&server, &admin, KPI, |data| {
        data["kpi"]["total"]["value"] == json!(2.0)
    })
    .await;
    assert_eq!(before["kpi"]["metadata"]["erasedPersons"], 0);
    let known_at = before["kpi"]["knownAt"].clone();

    graphql_ok(
        &server,
        &admin,
        ERASE,
        json!({"input": {
            "personId": erased, "eventId": Uuid::new_v4(), "occurredOn": "2024-01-02",
            "reason": "ART17_REQUEST",
        }}),
    )
    .await;
    live_until(&server, &admin, KPI, |data| {
        data["kpi"]["metadata"]["erasedPersons"] == 1
    })
    .await;
    // The cut from before the erasure no longer holds the erased person, and says why.
    let past = at(&server, &admin, KPI, &known_at).await;
    assert_eq!(past["kpi"]["total"]["value"], json!(1.0), "{past}");
    assert_eq!(past["kpi"]["metadata"]["erasedPersons"], 1, "{past}");
    assert_eq!(past["kpi"]["knownAt"], known_at);
    let status = server.terminate();
    assert!(status.success(), "{status}");

    // `journey kpi` reports the same count in every format.
    let kpi = |format: &str| {
        let output = scratch.run(&[
            "kpi",
            "population_present",
            "--as-of",
            "2024-06-01",
            "--k",
            "0",
            "--format",
            format,
        ]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let json: Value = serde_json::from_str(&kpi("json")).expect("json");
    assert_eq!(json["metadata"]["erased_persons"], 1, "{json}");
    assert_eq!(json["total"]["measures"][0]["value"], json!(1.0), "{json}");
    let table = kpi("table");
    assert!(table.contains("erased persons: 1"), "{table}");
    let csv = kpi("csv");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|header| header.ends_with(",erased_persons")),
        "{csv}"
    );
    assert!(lines.all(|line| line.ends_with(",1")), "{csv}");

    // A cut in the future is refused: records may still be made up to it.
    let output = scratch.run(&[
        "kpi",
        "population_present",
        "--as-of",
        "2024-06-01",
        "--known-at",
        "2999-01-01T00:00:00Z",
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("later than the ledger's now"), "{stderr}");
}
