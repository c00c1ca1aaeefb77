//! Crypto-shredding over the real binary (issue 5): a person with a unique name, phone number and
//! course is registered and given a journey through the GraphQL API, then erased; more is written for
//! others, the server is restarted; then no file under the data directory holds the name, the phone
//! number, the person's payload values or their data key, `journey verify` passes, and the export
//! shows the person only as a stream id with null data.
//!
//! The data key is read before the erasure with the hidden `journey debug data-key PERSON`, which
//! opens the store (so the server is stopped for it) and prints the key in hex.

use journey_tests::{
    create_token, files_containing, files_under, graphql_ok, graphql_response, text, Scratch,
    Server,
};
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId revision } }";
const ARRIVAL: &str =
    "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { revision } }";
const COURSE: &str =
    "mutation($input: RegisterForCourseInput!) { registerForCourse(input: $input) { revision } }";
const START: &str =
    "mutation($input: StartCourseInput!) { startCourse(input: $input) { revision } }";
const ERASE: &str =
    "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision } }";

/// Registers a person with `personal` data and records an arrival and a course for them.
async fn record_journey(
    server: &Server,
    token: &str,
    person: &str,
    personal: Value,
    course: &str,
    provider: &str,
    district: &str,
) {
    graphql_ok(
        server,
        token,
        REGISTER,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
            "birthYear": 1988, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
            "personalData": personal,
        }}),
    )
    .await;
    graphql_ok(
        server,
        token,
        ARRIVAL,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-11",
            "origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": district,
        }}),
    )
    .await;
    graphql_ok(
        server,
        token,
        COURSE,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-02-01",
            "courseId": course, "courseType": "GENERAL", "provider": provider,
        }}),
    )
    .await;
    graphql_ok(
        server,
        token,
        START,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-03-01",
            "courseId": course,
        }}),
    )
    .await;
}

fn random_tag(rng: &mut impl Rng) -> String {
    format!("{:016x}", rng.gen::<u64>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_leaves_nothing_readable_under_the_data_directory() {
    let scratch = Scratch::new();
    let data_dir = scratch.data_dir();
    let admin = create_token(&scratch, &["--role", "admin", "--name", "admin"]);
    let mut rng = rand::thread_rng();
    let tag = random_tag(&mut rng);
    let given = format!("Zuhal{tag}");
    let family = format!("Erasure{}", random_tag(&mut rng));
    let phone = format!("+49151{}", rng.gen_range(10_000_000u64..99_999_999));
    let address = format!("Kattowitzer Str. {tag}");
    let course = format!("course-{}", random_tag(&mut rng));
    let provider = format!("provider-{}", random_tag(&mut rng));
    let district = format!("district-{}", random_tag(&mut rng));
    let person = format!("person-{}", Uuid::new_v4());
    let other = format!("person-{}", Uuid::new_v4());

    let server = Server::start(&scratch, &[]);
    record_journey(
        &server,
        &admin,
        &person,
        json!({
            "givenNames": given, "familyName": family, "birthDate": "1988-05-04",
            "phone": phone, "address": address,
        }),
        &course,
        &provider,
        &district,
    )
    .await;
    record_journey(
        &server,
        &admin,
        &other,
        json!({"givenNames": "Kept", "familyName": "Person"}),
        "course-kept",
        "provider-kept",
        "Lebenstedt",
    )
    .await;
    // The vault answers with the name while the person exists.
    let read = graphql_ok(
        &server,
        &admin,
        "query($id: ID!) { person(id: $id) { personalData { familyName phone } } }",
        json!({"id": person}),
    )
    .await;
    assert_eq!(
        read["person"]["personalData"]["familyName"],
        family.as_str(),
        "{read}"
    );
    assert_eq!(server.terminate().code(), Some(0));

    // Before the erasure the data is there (decrypted by the export) and the key exists.
    let before = text(&scratch.run(&["export", "--format", "ndjson"]).stdout);
    assert!(
        before.contains(&course) && before.contains(&provider),
        "the export decrypts the journey"
    );
    let output = scratch.run(&["debug", "data-key", &person]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let key_hex = text(&output.stdout).trim().to_owned();
    let key = hex_bytes(&key_hex);
    assert_eq!(key.len(), 32, "{key_hex}");
    // A projection snapshot, sealed per person, joins the files that are searched.
    let output = scratch.run(&["projections", "status"]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let server = Server::start(&scratch, &[]);
    graphql_ok(
        &server,
        &admin,
        ERASE,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2024-01-02",
            "reason": "ART17_REQUEST",
        }}),
    )
    .await;
    // Writing more, for others, after the erasure.
    for n in 0..3 {
        let newcomer = format!("person-{}", Uuid::new_v4());
        record_journey(
            &server,
            &admin,
            &newcomer,
            json!({"givenNames": format!("Later{n}"), "familyName": "Person"}),
            &format!("course-later-{n}"),
            "provider-later",
            "Fredenberg",
        )
        .await;
    }
    let read = graphql_response(
        &server,
        &admin,
        "query($id: ID!) { person(id: $id) { personalData { familyName } } }",
        json!({"id": person}),
    )
    .await;
    assert!(!read.to_string().contains(&family), "{read}");
    assert_eq!(server.terminate().code(), Some(0));
    let server = Server::start(&scratch, &[]);
    assert_eq!(server.terminate().code(), Some(0));
    let output = scratch.run(&["projections", "status"]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let searched = files_under(&data_dir);
    assert!(
        searched
            .iter()
            .any(|path| path.starts_with(data_dir.join("ledger"))),
        "{searched:?}"
    );
    assert!(
        searched
            .iter()
            .any(|path| path.starts_with(data_dir.join("projections"))),
        "{searched:?}"
    );
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("given name", given.clone().into_bytes()),
        ("family name", family.clone().into_bytes()),
        ("phone", phone.clone().into_bytes()),
        ("address", address.clone().into_bytes()),
        ("course id", course.clone().into_bytes()),
        ("provider", provider.clone().into_bytes()),
        ("district", district.clone().into_bytes()),
        ("data key", key.clone()),
        ("data key in hex", key_hex.clone().into_bytes()),
    ];
    for (what, needle) in &needles {
        let found = files_containing(&data_dir, needle);
        assert!(
            found.is_empty(),
            "the {what} of the erased person is in {found:?}"
        );
    }
    // The search itself sees the log: the envelope, which erasure keeps, is in the files in clear.
    assert!(!files_containing(&data_dir, b"PersonalDataErased").is_empty());

    let output = scratch.run(&["verify"]);
    assert!(
        output.status.success(),
        "verify: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let output = scratch.run(&["debug", "data-key", &person]);
    assert_eq!(text(&output.stdout).trim(), "destroyed");

    let export = scratch.export();
    let exported = serde_json::to_string(&export).expect("json");
    for (what, needle) in &needles[..7] {
        let needle = std::str::from_utf8(needle).expect("text");
        assert!(!exported.contains(needle), "the export holds the {what}");
    }
    let mine: Vec<&Value> = export
        .iter()
        .filter(|event| event["stream"] == person.as_str())
        .collect();
    assert_eq!(mine.len(), 5, "four journey events and the erasure");
    for event in &mine {
        if event["type"] == "PersonalDataErased" {
            assert_eq!(event["data"]["reason"], "art17_request", "{event}");
        } else {
            assert!(event["data"].is_null(), "{event}");
        }
    }
    assert!(
        exported.contains("course-kept"),
        "the kept person's journey is still readable"
    );
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|index| u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok())
        .collect()
}

const RECRUIT: &str = "mutation($input: RecruitVolunteerInput!) { recruitVolunteer(input: $input) { volunteerId revision } }";

/// Recruits a volunteer in Lebenstedt with this name and contact.
async fn recruit(server: &Server, token: &str, volunteer: &str, personal: Value) {
    graphql_ok(
        server,
        token,
        RECRUIT,
        json!({"input": {
            "volunteerId": volunteer, "eventId": Uuid::new_v4(), "occurredOn": "2023-04-01",
            "district": "Lebenstedt", "personalData": personal,
        }}),
    )
    .await;
}

/// A volunteer's erasure is a person's (issue 14): their name, phone and e-mail are in no file
/// under the data directory afterwards, nor their data key, `journey verify` passes, and the
/// register keeps the pseudonymous entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_volunteer_leaves_nothing_readable_under_the_data_directory() {
    let scratch = Scratch::new();
    let data_dir = scratch.data_dir();
    let admin = create_token(&scratch, &["--role", "admin", "--name", "admin"]);
    let mut rng = rand::thread_rng();
    let given = format!("Ehrentraud{}", random_tag(&mut rng));
    let family = format!("Freiwillig{}", random_tag(&mut rng));
    let phone = format!("+49152{}", rng.gen_range(10_000_000u64..99_999_999));
    let email = format!("helfer-{}@example.org", random_tag(&mut rng));
    let uuid = Uuid::new_v4();
    let volunteer = format!("volunteer-{uuid}");

    let server = Server::start(&scratch, &[]);
    recruit(
        &server,
        &admin,
        &volunteer,
        json!({"givenNames": given, "familyName": family, "phone": phone, "email": email}),
    )
    .await;
    recruit(
        &server,
        &admin,
        &format!("volunteer-{}", Uuid::new_v4()),
        json!({"givenNames": "Bleibt", "familyName": "Erhalten"}),
    )
    .await;
    let read = graphql_ok(
        &server,
        &admin,
        "query($id: ID!) { volunteer(id: $id) { personalData { familyName email } } }",
        json!({"id": volunteer}),
    )
    .await;
    assert_eq!(
        read["volunteer"]["personalData"]["familyName"],
        family.as_str(),
        "{read}"
    );
    assert_eq!(server.terminate().code(), Some(0));
    // The key store holds the volunteer's key under their uuid (`VolunteerId::key_owner`).
    let owner = format!("person-{uuid}");
    let output = scratch.run(&["debug", "data-key", &owner]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let key_hex = text(&output.stdout).trim().to_owned();
    let key = hex_bytes(&key_hex);
    assert_eq!(key.len(), 32, "{key_hex}");

    let server = Server::start(&scratch, &[]);
    graphql_ok(
        &server,
        &admin,
        "mutation($input: EraseVolunteerInput!) { eraseVolunteer(input: $input) { revision } }",
        json!({"input": {"volunteerId": volunteer, "occurredOn": "2024-01-02"}}),
    )
    .await;
    for n in 0..3 {
        recruit(
            &server,
            &admin,
            &format!("volunteer-{}", Uuid::new_v4()),
            json!({"givenNames": format!("Spaeter{n}"), "familyName": "Freiwillig"}),
        )
        .await;
    }
    let read = graphql_ok(
        &server,
        &admin,
        "query($id: ID!) { volunteer(id: $id) { erased recruitedOn personalData { familyName } } }",
        json!({"id": volunteer}),
    )
    .await;
    assert_eq!(
        read["volunteer"],
        json!({"erased": true, "recruitedOn": "2023-04-01", "personalData": null}),
        "the pseudonymous entry stays, the name goes"
    );
    assert_eq!(server.terminate().code(), Some(0));
    let server = Server::start(&scratch, &[]);
    assert_eq!(server.terminate().code(), Some(0));

    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("given name", given.clone().into_bytes()),
        ("family name", family.clone().into_bytes()),
        ("phone", phone.clone().into_bytes()),
        ("e-mail", email.clone().into_bytes()),
        ("data key", key.clone()),
        ("data key in hex", key_hex.clone().into_bytes()),
    ];
    for (what, needle) in &needles {
        let found = files_containing(&data_dir, needle);
        assert!(
            found.is_empty(),
            "the {what} of the erased volunteer is in {found:?}"
        );
    }
    // The search sees the log: the register entry, which erasure keeps, is in the files in clear.
    assert!(!files_containing(&data_dir, b"VolunteerErased").is_empty());
    let output = scratch.run(&["verify"]);
    assert!(
        output.status.success(),
        "verify: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let output = scratch.run(&["debug", "data-key", &owner]);
    assert_eq!(text(&output.stdout).trim(), "destroyed");
}
