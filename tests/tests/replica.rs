//! Read replicas end to end (ADR 0005), real processes on loopback over TLS: a log server
//! (`journey serve --grpc-listen`), a writer whose log is on it (`--store kurrentdb://…`, serving
//! the protocol itself with `--grpc-listen`), and a replica following the writer
//! (`--replica-of kurrentdb://…`); and the two-process variant, a writer on sled and a replica.
//!
//! Shown: what the writer records appears in the replica's lists, timelines and indicators, whose
//! GraphQL answers equal the writer's byte for byte; the replica refuses writes naming the writer;
//! the log server killed and restarted mid-stream loses and duplicates nothing on either node; an
//! erasure on the writer leaves nothing of the person's data readable on the replica (its answers
//! and every file of its data directory) or in the log server's files.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use journey_tests::log_server::{server_info, LogServer};
use journey_tests::{
    create_token, files_containing, graphql_ok, graphql_response, record_retrying, text, Scratch,
    Server,
};
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }";
const ARRIVAL: &str =
    "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { eventId } }";
const COURSE: &str =
    "mutation($input: RegisterForCourseInput!) { registerForCourse(input: $input) { revision } }";
const ERASE: &str =
    "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision } }";
const PEOPLE: &str = "query { people(asOf: \"2024-06-01\", first: 500) { edges { node { id } } } }";
const TIMELINE: &str = "query($id: ID!) { person(id: $id) { id erased revision timeline { position revision eventId type version occurredOn recordedAt actor { id agency role } correlationId causationId data status prevHash hash } } }";
const ANALYST_EVENTS: &str = "query { events(first: 500) { edges { node { position person revision eventId type actor { pseudonym agency role } } } } }";
const CATALOGUE: &str = "query { kpiCatalogue { key disaggregations } }";
const KPI: &str = "query($key: String!, $by: [Dimension!]) { kpi(key: $key, asOf: \"2024-06-01\", by: $by) { key asOf knownAt countingUnit denominator by suppressionK cells { dimensions { dimension value } countingUnit value numerator denominator suppressed measures { name value numerator denominator persons suppressed } } margins { dimensions { dimension value } value numerator denominator suppressed } total { value numerator denominator suppressed measures { name value persons suppressed } } metadata { unknownBirthYearExcluded entryDateFallbacks erasedPersons } } }";

fn tag() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// A writer's gRPC endpoint as a replica's connection string, with the writer's generated CA.
fn replica_connection(writer: &Scratch, token: &str) -> String {
    let info = server_info(writer);
    format!(
        "kurrentdb://replica:{token}@{}?tls=true&tlsCaFile={}",
        info["grpc_listen"]
            .as_str()
            .expect("the writer's gRPC address"),
        info["grpc_ca_file"].as_str().expect("the writer's CA file")
    )
}

/// The raw body of a GraphQL answer: what "byte for byte" compares.
async fn body(server: &Server, token: &str, query: &str, variables: Value) -> String {
    reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body")
}

async fn readyz(server: &Server) -> Value {
    reqwest::get(server.url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("readyz JSON")
}

/// Waits until the replica's projections have applied the writer's last event and the writer's
/// own projections have too: then both answer from the same events.
async fn in_step(writer: &Server, replica: &Server) {
    let mut last = (Value::Null, Value::Null);
    for _ in 0..1200 {
        let (w, r) = (readyz(writer).await, readyz(replica).await);
        let head = &w["log"]["last_position"];
        if !head.is_null()
            && w["projections"]["checkpoint"] == *head
            && r["projections"]["checkpoint"] == *head
            && r["ready"] == true
        {
            return;
        }
        last = (w, r);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the replica did not reach the writer within 60 s: writer {} replica {}",
        last.0, last.1
    );
}

/// Every indicator of the catalogue, whole and by its first disaggregation, as the raw answers.
async fn indicators(server: &Server, token: &str, catalogue: &Value) -> Vec<String> {
    let mut answers = Vec::new();
    for definition in catalogue["kpiCatalogue"].as_array().expect("catalogue") {
        let key = &definition["key"];
        answers.push(body(server, token, KPI, json!({"key": key, "by": []})).await);
        if let Some(first) = definition["disaggregations"].get(0) {
            answers.push(body(server, token, KPI, json!({"key": key, "by": [first]})).await);
        }
    }
    answers
}

/// The replica's answers equal the writer's, byte for byte: every indicator and the list.
async fn same_answers(writer: &Server, writer_admin: &str, replica: &Server, replica_admin: &str) {
    let catalogue = graphql_ok(writer, writer_admin, CATALOGUE, json!({})).await;
    let from_writer = indicators(writer, writer_admin, &catalogue).await;
    let from_replica = indicators(replica, replica_admin, &catalogue).await;
    // A few keys of the catalogue are person-level lists, refused as indicators alike.
    let answered = from_writer
        .iter()
        .filter(|answer| !answer.contains("\"errors\""))
        .count();
    assert!(answered > 20, "the whole catalogue: {from_writer:?}");
    assert_eq!(from_replica.len(), from_writer.len());
    for (w, r) in from_writer.iter().zip(&from_replica) {
        assert_eq!(r, w, "the replica's indicator equals the writer's");
    }
    assert_eq!(
        body(replica, replica_admin, PEOPLE, json!({})).await,
        body(writer, writer_admin, PEOPLE, json!({})).await,
        "the replica's list equals the writer's"
    );
}

async fn arrive(writer: &Server, token: &str, person: Uuid) {
    let register = json!({"input": {
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
        "birthYear": 1990, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
    }});
    record_retrying(writer, token, REGISTER, register).await;
    let arrival = json!({"input": {
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-11",
        "origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Bad",
    }});
    record_retrying(writer, token, ARRIVAL, arrival).await;
}

/// Registers `person` (with `personal` data in the vault, unless null) and registers them for the
/// course `[course id, provider]`.
async fn with_course(
    writer: &Server,
    token: &str,
    person: &str,
    personal: Value,
    [course, provider]: [&str; 2],
) {
    let mut input = json!({
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
        "birthYear": 1988, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
    });
    if !personal.is_null() {
        input["personalData"] = personal;
    }
    graphql_ok(writer, token, REGISTER, json!({ "input": input })).await;
    let course = json!({"input": {
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-02-01",
        "courseId": course, "courseType": "GENERAL", "provider": provider,
    }});
    graphql_ok(writer, token, COURSE, course).await;
}

async fn erase(writer: &Server, token: &str, person: &str) {
    let erasure = json!({"input": {
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2024-01-02",
        "reason": "ART17_REQUEST",
    }});
    graphql_ok(writer, token, ERASE, erasure).await;
}

/// A mutation on the replica is refused with READ_REPLICA naming the writer, and nothing is
/// written anywhere.
async fn writes_are_refused(
    writer: &Server,
    replica: &Server,
    replica_admin: &str,
    writer_url: &str,
) {
    let before = (readyz(writer).await, readyz(replica).await);
    let person = Uuid::new_v4();
    let refused = graphql_response(
        replica,
        replica_admin,
        REGISTER,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
            "birthYear": 1990, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
        }}),
    )
    .await;
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "READ_REPLICA", "{refused}");
    assert_eq!(error["extensions"]["writer"], writer_url, "{refused}");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains(writer_url),
        "{refused}"
    );
    assert!(refused["data"].is_null(), "{refused}");
    let after = (readyz(writer).await, readyz(replica).await);
    assert_eq!(
        before.0["log"], after.0["log"],
        "nothing written at the writer"
    );
    assert_eq!(
        before.1["log"], after.1["log"],
        "nothing written at the replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_a_writer_on_a_log_server_follows_it_through_a_log_server_crash_and_an_erasure(
) {
    // Given: a log server, a writer on it with a seeded population, and a replica of the writer.
    let mut log_server = LogServer::start();
    let store = log_server.connection_string();
    let writer_dir = Scratch::new();
    let writer_admin = create_token(&writer_dir, &["--role", "admin", "--name", "admin"]);
    let replica_token = create_token(&writer_dir, &["--role", "replica", "--name", "replica-1"]);
    let seeded = writer_dir
        .command()
        .args(["--store", &store, "seed", "--people", "200", "--seed", "7"])
        .output()
        .expect("seed");
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let writer = Arc::new(Server::start(
        &writer_dir,
        &["--store", &store, "--grpc-listen", "127.0.0.1:0"],
    ));
    let writer_url = writer.url("/graphql");
    let replica_dir = Scratch::new();
    let replica_admin = create_token(&replica_dir, &["--role", "admin", "--name", "admin"]);
    let replica = Server::start(
        &replica_dir,
        &[
            "--replica-of",
            &replica_connection(&writer_dir, &replica_token),
            "--writer-url",
            &writer_url,
        ],
    );

    // Then: the replica answers every indicator and the list as the writer does, byte for byte,
    // and refuses writes.
    in_step(&writer, &replica).await;
    same_answers(&writer, &writer_admin, &replica, &replica_admin).await;
    writes_are_refused(&writer, &replica, &replica_admin, &writer_url).await;

    // When: persons are recorded through the writer while the log server is killed (SIGKILL) and
    // restarted.
    let persons: Vec<Uuid> = (0..24).map(|_| Uuid::new_v4()).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let recording = {
        let (writer, admin, persons, done) = (
            writer.clone(),
            writer_admin.clone(),
            persons.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            for person in persons {
                arrive(&writer, &admin, person).await;
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

    // Then: writer and replica recover; each person's timeline on the replica is the writer's,
    // event for event (no loss, no duplicate), and so are the indicators and the list.
    in_step(&writer, &replica).await;
    for person in &persons {
        let id = json!({"id": format!("person-{person}")});
        let on_writer = body(&writer, &writer_admin, TIMELINE, id.clone()).await;
        let on_replica = body(&replica, &replica_admin, TIMELINE, id).await;
        assert_eq!(on_replica, on_writer, "the timeline of {person}");
        let timeline: Value = serde_json::from_str(&on_writer).expect("JSON");
        assert_eq!(
            timeline["data"]["person"]["timeline"]
                .as_array()
                .map(Vec::len),
            Some(2),
            "{on_writer}"
        );
    }
    same_answers(&writer, &writer_admin, &replica, &replica_admin).await;

    // When: a person with personal data and a course is recorded, seen on the replica, and erased
    // on the writer.
    let family = format!("Replica{}", tag());
    let phone = format!(
        "+49151{}",
        rand::thread_rng().gen_range(10_000_000u64..99_999_999)
    );
    let course = format!("course-{}", tag());
    let provider = format!("provider-{}", tag());
    let person = format!("person-{}", Uuid::new_v4());
    let personal = json!({"givenNames": "Zuhal", "familyName": family, "phone": phone});
    with_course(
        &writer,
        &writer_admin,
        &person,
        personal,
        [&course, &provider],
    )
    .await;
    in_step(&writer, &replica).await;
    let before = body(&replica, &replica_admin, TIMELINE, json!({"id": person})).await;
    assert!(
        before.contains(&course) && before.contains(&provider),
        "{before}"
    );
    assert!(
        !before.contains(&family) && !before.contains(&phone),
        "no vault data: {before}"
    );
    erase(&writer, &writer_admin, &person).await;
    in_step(&writer, &replica).await;

    // Then: the replica answers the person as the writer does, without their data, and none of
    // their data is in the replica's files, while it runs or after it stopped, nor in the log
    // server's.
    let after = body(&replica, &replica_admin, TIMELINE, json!({"id": person})).await;
    assert_eq!(
        after,
        body(&writer, &writer_admin, TIMELINE, json!({"id": person})).await
    );
    let erased: Value = serde_json::from_str(&after).expect("JSON");
    assert_eq!(erased["data"]["person"]["erased"], true, "{after}");
    let needles = [&family, &phone, &course, &provider];
    for needle in needles {
        assert!(!after.contains(needle.as_str()), "`{needle}` in {after}");
    }
    same_answers(&writer, &writer_admin, &replica, &replica_admin).await;
    let replica_data = replica_dir.data_dir();
    let log_data = log_server.scratch.data_dir();
    for needle in needles {
        let found = files_containing(&replica_data, needle.as_bytes());
        assert!(
            found.is_empty(),
            "`{needle}` in the running replica's {found:?}"
        );
    }
    assert_eq!(replica.terminate().code(), Some(0));
    for needle in needles {
        for dir in [&replica_data, &log_data] {
            let found = files_containing(dir, needle.as_bytes());
            assert!(
                found.is_empty(),
                "`{needle}` of the erased person in {found:?}"
            );
        }
    }
    let writer = Arc::try_unwrap(writer).expect("the only handle");
    assert_eq!(writer.terminate().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_a_writer_on_sled_answers_as_the_writer_and_refuses_writes() {
    // Given: a writer on the embedded log serving the protocol, and a replica of it.
    let writer_dir = Scratch::new();
    let writer_admin = create_token(&writer_dir, &["--role", "admin", "--name", "admin"]);
    let replica_token = create_token(&writer_dir, &["--role", "replica", "--name", "replica-1"]);
    let writer = Server::start(&writer_dir, &["--grpc-listen", "127.0.0.1:0"]);
    let replica_dir = Scratch::new();
    let replica_admin = create_token(&replica_dir, &["--role", "admin", "--name", "admin"]);
    let replica = Server::start(
        &replica_dir,
        &[
            "--replica-of",
            &replica_connection(&writer_dir, &replica_token),
        ],
    );

    // When: persons are recorded through the writer.
    for _ in 0..5 {
        arrive(&writer, &writer_admin, Uuid::new_v4()).await;
    }

    // Then: the replica lists them and answers the indicators as the writer does; a write names
    // the writer by its gRPC address (no --writer-url given).
    in_step(&writer, &replica).await;
    let listed = graphql_ok(&replica, &replica_admin, PEOPLE, json!({})).await;
    assert_eq!(listed["people"]["edges"].as_array().map(Vec::len), Some(5));
    same_answers(&writer, &writer_admin, &replica, &replica_admin).await;
    let grpc = server_info(&writer_dir)["grpc_listen"]
        .as_str()
        .expect("gRPC address")
        .to_owned();
    writes_are_refused(
        &writer,
        &replica,
        &replica_admin,
        &format!("the writer at {grpc}"),
    )
    .await;

    // When: a person with a course is erased on the writer, and a second replica starts after.
    let course = format!("course-{}", tag());
    let person = format!("person-{}", Uuid::new_v4());
    with_course(
        &writer,
        &writer_admin,
        &person,
        Value::Null,
        [&course, "Volkshochschule"],
    )
    .await;
    erase(&writer, &writer_admin, &person).await;
    // The late replica is given the writer's pseudonym key, the first one is not.
    let late_dir = Scratch::new();
    let late_admin = create_token(&late_dir, &["--role", "admin", "--name", "admin"]);
    let key_file = late_dir.dir.path().join("pseudonym.key");
    let exported = writer_dir.run(&[
        "keys",
        "pseudonym-key",
        "--out",
        &key_file.to_string_lossy(),
    ]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let late = Server::start(
        &late_dir,
        &[
            "--replica-of",
            &replica_connection(&writer_dir, &replica_token),
            "--pseudonym-key-file",
            &key_file.to_string_lossy(),
        ],
    );

    // Then: both replicas, the one that saw the data and the one that never received it, answer
    // the erased person and every indicator as the writer does.
    let on_writer = body(&writer, &writer_admin, TIMELINE, json!({"id": person})).await;
    assert!(!on_writer.contains(&course), "{on_writer}");
    for (replica, admin) in [(&replica, &replica_admin), (&late, &late_admin)] {
        in_step(&writer, replica).await;
        assert_eq!(
            body(replica, admin, TIMELINE, json!({"id": person})).await,
            on_writer
        );
        same_answers(&writer, &writer_admin, replica, admin).await;
    }
    // And: analysts of the replica with the writer's pseudonym key follow the same pseudonyms as
    // the writer's analysts; a replica without it has pseudonyms of its own.
    let analyst = |dir: &Scratch| create_token(dir, &["--role", "analyst", "--name", "analyst"]);
    let on_writer = body(&writer, &analyst(&writer_dir), ANALYST_EVENTS, json!({})).await;
    assert!(on_writer.contains("\"p-"), "{on_writer}");
    assert_eq!(
        body(&late, &analyst(&late_dir), ANALYST_EVENTS, json!({})).await,
        on_writer
    );
    assert_ne!(
        body(&replica, &analyst(&replica_dir), ANALYST_EVENTS, json!({})).await,
        on_writer
    );
    assert_eq!(late.terminate().code(), Some(0));
    assert_eq!(replica.terminate().code(), Some(0));
    assert_eq!(writer.terminate().code(), Some(0));
}

#[test]
fn a_replica_with_a_token_of_another_role_does_not_start_and_says_which_role_it_needs() {
    let writer_dir = Scratch::new();
    let auditor = create_token(&writer_dir, &["--role", "auditor", "--name", "auditor"]);
    let writer = Server::start(&writer_dir, &["--grpc-listen", "127.0.0.1:0"]);
    let replica_dir = Scratch::new();
    let output = replica_dir
        .command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--replica-of",
            &replica_connection(&writer_dir, &auditor),
        ])
        .output()
        .expect("run journey serve");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--role replica"), "{stderr}");
    assert!(
        !stderr.contains(&auditor),
        "the token is not repeated: {stderr}"
    );
    assert!(!replica_dir.data_dir().join("server.json").exists());
    assert_eq!(writer.terminate().code(), Some(0));
}

#[test]
fn a_replica_given_a_pseudonym_key_file_that_is_not_one_does_not_start_and_says_what_to_give() {
    let writer_dir = Scratch::new();
    let replica_token = create_token(&writer_dir, &["--role", "replica", "--name", "replica-1"]);
    let writer = Server::start(&writer_dir, &["--grpc-listen", "127.0.0.1:0"]);
    let replica_dir = Scratch::new();
    let key_file = replica_dir.dir.path().join("pseudonym.key");
    std::fs::write(&key_file, "not a key\n").expect("write the file");
    let output = replica_dir
        .command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--replica-of",
            &replica_connection(&writer_dir, &replica_token),
            "--pseudonym-key-file",
            &key_file.to_string_lossy(),
        ])
        .output()
        .expect("run journey serve");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--pseudonym-key-file"), "{stderr}");
    assert!(stderr.contains("journey keys pseudonym-key"), "{stderr}");
    assert!(!replica_dir.data_dir().join("server.json").exists());
    assert_eq!(writer.terminate().code(), Some(0));
}
