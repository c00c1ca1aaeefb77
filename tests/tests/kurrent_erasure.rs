//! Crypto-shredding with the log on another machine (ADR 0004): a writer on the `kurrentdb`
//! backend, its log server a second `journey serve --grpc-listen` process. The log server only ever
//! holds ciphertext of a person's journey; after an erasure on the writer, nothing of the person's
//! personal data, and not their data key, is in the files of either process, and the writer's
//! export shows the person's events without data.

use journey_tests::log_server::LogServer;
use journey_tests::{create_token, files_containing, graphql_ok, text, Scratch, Server};
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }";
const COURSE: &str =
    "mutation($input: RegisterForCourseInput!) { registerForCourse(input: $input) { revision } }";
const ERASE: &str =
    "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision } }";

fn tag() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// `journey --store STORE ARGS` on the writer's data directory, which must succeed.
fn run(writer: &Scratch, store: &str, args: &[&str]) -> String {
    let output = writer
        .command()
        .args(["--store", store])
        .args(args)
        .output()
        .expect("run journey");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_on_the_writer_leaves_nothing_readable_in_the_log_servers_files_or_the_writers()
{
    let log_server = LogServer::start();
    let store = log_server.connection_string();
    let writer_dir = Scratch::new();
    let admin = create_token(&writer_dir, &["--role", "admin", "--name", "admin"]);
    let family = format!("Erasure{}", tag());
    let phone = format!(
        "+49151{}",
        rand::thread_rng().gen_range(10_000_000u64..99_999_999)
    );
    let course = format!("course-{}", tag());
    let provider = format!("provider-{}", tag());
    let person = format!("person-{}", Uuid::new_v4());

    let writer = Server::start(&writer_dir, &["--store", &store]);
    graphql_ok(
        &writer,
        &admin,
        REGISTER,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
            "birthYear": 1988, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
            "personalData": {"givenNames": "Zuhal", "familyName": family, "phone": phone},
        }}),
    )
    .await;
    graphql_ok(
        &writer,
        &admin,
        COURSE,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-02-01",
            "courseId": course, "courseType": "GENERAL", "provider": provider,
        }}),
    )
    .await;
    assert_eq!(writer.terminate().code(), Some(0));

    // The writer reads the journey back through the log server; the log server holds ciphertext.
    let before = run(&writer_dir, &store, &["export"]);
    assert!(
        before.contains(&course) && before.contains(&provider),
        "{before}"
    );
    let log_dir = log_server.scratch.data_dir();
    for needle in [&family, &phone, &course, &provider] {
        let found = files_containing(&log_dir, needle.as_bytes());
        assert!(
            found.is_empty(),
            "`{needle}` in clear in the log server's {found:?}"
        );
    }
    let key_hex = run(&writer_dir, &store, &["debug", "data-key", &person])
        .trim()
        .to_owned();
    let key = hex::decode(&key_hex).expect("a data key in hex");

    let writer = Server::start(&writer_dir, &["--store", &store]);
    graphql_ok(
        &writer,
        &admin,
        ERASE,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2024-01-02",
            "reason": "ART17_REQUEST",
        }}),
    )
    .await;
    assert_eq!(writer.terminate().code(), Some(0));

    let writer_data = writer_dir.data_dir();
    for dir in [&log_dir, &writer_data] {
        for needle in [
            family.as_bytes(),
            phone.as_bytes(),
            course.as_bytes(),
            provider.as_bytes(),
            &key,
            key_hex.as_bytes(),
        ] {
            let found = files_containing(dir, needle);
            assert!(
                found.is_empty(),
                "`{}` of the erased person is in {found:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    // The search sees the log server's log: the envelope, which erasure keeps, is there in clear.
    assert!(!files_containing(&log_dir, b"PersonalDataErased").is_empty());

    assert_eq!(
        run(&writer_dir, &store, &["debug", "data-key", &person]).trim(),
        "destroyed"
    );
    let mine: Vec<Value> = run(&writer_dir, &store, &["export"])
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .filter(|event| event["stream"] == person.as_str())
        .collect();
    assert_eq!(mine.len(), 3, "two journey events and the erasure");
    for event in &mine {
        if event["type"] != "PersonalDataErased" {
            assert!(event["data"].is_null(), "{event}");
        }
    }
}
