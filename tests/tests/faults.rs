//! Crashes at the named fault points (`JOURNEY_FAULT`, binary built with the `fault-injection`
//! feature, which `cargo test --workspace` switches on through this crate's dev-dependencies), each
//! where an acknowledged state spans two writes; after the restart the data directory has converged:
//! it reads as if the interrupted operation had finished, or had never begun.

use journey_tests::{
    create_token, files_containing, graphql_ok, graphql_response, text, Scratch, Server,
};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId revision } }";
const ERASE: &str =
    "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision alreadyRecorded } }";

fn verify_passes(scratch: &Scratch) {
    let output = scratch.run(&["verify"]);
    assert!(
        output.status.success(),
        "verify: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// `journey debug data-key PERSON`: the key in hex, `destroyed` or `absent`.
fn data_key(scratch: &Scratch, person: &str) -> String {
    let output = scratch.run(&["debug", "data-key", person]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).trim().to_owned()
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|index| u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_cut_off_before_its_key_is_destroyed_is_finished_at_the_next_open() {
    const FAULT: &str = "abort-after-erasure-append";
    let scratch = Scratch::new();
    let data_dir = scratch.data_dir();
    let admin = create_token(&scratch, &["--role", "admin", "--name", "admin"]);
    let person = format!("person-{}", Uuid::new_v4());
    let family = format!("Crash{:016x}", rand::thread_rng().gen::<u64>());
    let server = Server::start(&scratch, &[]);
    graphql_ok(
        &server,
        &admin,
        REGISTER,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
            "birthYear": 1988, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
            "personalData": {"givenNames": "Zuhal", "familyName": family},
        }}),
    )
    .await;
    assert_eq!(server.terminate().code(), Some(0));
    let key_hex = data_key(&scratch, &person);
    let key = hex_bytes(&key_hex);
    assert_eq!(key.len(), 32, "{key_hex}");

    // The server dies between the durable erasure event and the destruction of the key.
    let server = Server::start_with_fault(&scratch, FAULT, &[]);
    let erasure_id = Uuid::new_v4();
    let erase = json!({"input": {
        "personId": person, "eventId": erasure_id, "occurredOn": "2024-01-02",
        "reason": "ART17_REQUEST",
    }});
    // No answer comes: the process aborts while the request is in flight.
    let _ = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(&admin)
        .json(&json!({"query": ERASE, "variables": erase}))
        .send()
        .await;
    server.wait_for_fault(&scratch, FAULT);

    // Opening the data directory again finishes the erasure: the key is gone, with its epoch.
    assert_eq!(data_key(&scratch, &person), "destroyed");
    for (what, needle) in [
        ("data key", key.clone()),
        ("data key in hex", key_hex.clone().into_bytes()),
        ("family name", family.clone().into_bytes()),
    ] {
        let found = files_containing(&data_dir, &needle);
        assert!(found.is_empty(), "the {what} is in {found:?}");
    }
    verify_passes(&scratch);

    // The client's retry is answered as recorded, and the person reads as erased.
    let server = Server::start(&scratch, &[]);
    let retried = graphql_ok(&server, &admin, ERASE, erase).await;
    assert_eq!(retried["erasePerson"]["alreadyRecorded"], true, "{retried}");
    let read = graphql_response(
        &server,
        &admin,
        "query($id: ID!) { person(id: $id) { personalData { familyName } } }",
        json!({"id": person}),
    )
    .await;
    assert!(!read.to_string().contains(&family), "{read}");
    assert_eq!(server.terminate().code(), Some(0));
    let export = scratch.export();
    let mine: Vec<_> = export
        .iter()
        .filter(|event| event["stream"] == person.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "the registration and the erasure: {mine:?}");
    assert!(mine[0]["data"].is_null(), "{}", mine[0]);
    assert_eq!(mine[1]["id"], erasure_id.to_string());
    verify_passes(&scratch);
}
