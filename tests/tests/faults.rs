//! Crashes at the named fault points (`JOURNEY_FAULT`, binary built with the `fault-injection`
//! feature, which `cargo test --workspace` switches on through this crate's dev-dependencies), each
//! where an acknowledged state spans two writes; after the restart the data directory has converged:
//! it reads as if the interrupted operation had finished, or had never begun.

use std::path::Path;

use journey_tests::{
    create_token, files_containing, graphql_ok, graphql_response, journey, line, text, uuid,
    Scratch, Server,
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

    // Opening the data directory again finishes the erasure: the key is gone, with its epoch, and
    // the person is in the erasure register, so no restore of an older backup brings them back.
    assert_eq!(data_key(&scratch, &person), "destroyed");
    let register = std::fs::read_to_string(data_dir.join("master.key.erasures"))
        .expect("the erasure register");
    assert_eq!(register.lines().collect::<Vec<_>>(), [person.as_str()]);
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

/// Imports `lines` (written to `name` in the scratch directory).
fn import(scratch: &Scratch, name: &str, lines: &[serde_json::Value]) -> std::process::Output {
    let file = scratch.write_ndjson(name, lines);
    scratch.run(&["import", file.to_str().expect("path")])
}

/// The numbers of the epoch key files under `<data-dir>/keys`.
fn epoch_files(data_dir: &Path) -> Vec<u64> {
    let mut numbers: Vec<u64> = std::fs::read_dir(data_dir.join("keys"))
        .expect("keys dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .map(|name| {
            name.strip_prefix("epoch-")
                .and_then(|rest| rest.strip_suffix(".key"))
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("an unexpected file in keys/: {name}"))
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Every exported event of `person`.
fn exported_of(scratch: &Scratch, person: uuid::Uuid) -> Vec<serde_json::Value> {
    let stream = format!("person-{person}");
    scratch
        .export()
        .into_iter()
        .filter(|event| event["stream"] == stream.as_str())
        .collect()
}

#[test]
fn a_data_key_created_without_its_first_event_is_taken_by_the_retried_append() {
    const FAULT: &str = "abort-after-key-creation";
    let scratch = Scratch::new();
    let person = uuid(1);
    let lines = journey(person, 10, 3);
    let file = scratch.write_ndjson("journey.ndjson", &lines);
    scratch.run_to_fault(FAULT, &["import", file.to_str().expect("path")]);

    // The key is durable (the fault point flushes it first), the events are not there.
    verify_passes(&scratch);
    let orphan = data_key(&scratch, &format!("person-{person}"));
    assert_eq!(orphan.len(), 64, "{orphan}");
    assert!(exported_of(&scratch, person).is_empty());

    // The retried import uses that key; the events read back decrypted.
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(data_key(&scratch, &format!("person-{person}")), orphan);
    let events = exported_of(&scratch, person);
    assert_eq!(events.len(), 3);
    assert!(
        events.iter().all(|event| !event["data"].is_null()),
        "{events:?}"
    );
    verify_passes(&scratch);
}

#[test]
fn an_erasure_cut_off_in_its_epoch_rotation_ends_with_one_new_epoch_and_the_key_destroyed() {
    for fault in ["abort-after-epoch-file", "abort-after-epoch-switch"] {
        let scratch = Scratch::new();
        let data_dir = scratch.data_dir();
        let (erased, kept) = (uuid(1), uuid(2));
        let mut lines = journey(erased, 10, 3);
        lines.extend(journey(kept, 20, 3));
        let output = import(&scratch, "journeys.ndjson", &lines);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(epoch_files(&data_dir), vec![1]);

        let erasure = line(
            erased,
            uuid(13),
            "PersonalDataErased",
            "2024-01-02",
            json!({"reason": "art17_request"}),
        );
        let file = scratch.write_ndjson("erasure.ndjson", &[erasure]);
        scratch.run_to_fault(fault, &["import", file.to_str().expect("path")]);
        // Cut off with the next epoch's file written: two files on disk until the next open.
        assert_eq!(epoch_files(&data_dir), vec![1, 2], "{fault}");

        assert_eq!(
            data_key(&scratch, &format!("person-{erased}")),
            "destroyed",
            "{fault}"
        );
        // Epoch 1, which opens every copy of the erased key that sled may still hold, is gone.
        assert_eq!(epoch_files(&data_dir), vec![2], "{fault}");
        let kept_events = exported_of(&scratch, kept);
        assert!(
            kept_events.iter().all(|event| !event["data"].is_null()),
            "{fault}: {kept_events:?}"
        );
        let erased_events = exported_of(&scratch, erased);
        assert_eq!(erased_events.len(), 4, "{fault}");
        assert!(erased_events[..3]
            .iter()
            .all(|event| event["data"].is_null()));
        verify_passes(&scratch);
    }
}

#[test]
fn an_epoch_rotation_cut_off_after_its_switch_deletes_the_old_epoch_at_the_next_open() {
    const FAULT: &str = "abort-after-epoch-switch";
    let scratch = Scratch::new();
    let data_dir = scratch.data_dir();
    let output = import(&scratch, "journey.ndjson", &journey(uuid(1), 10, 3));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let key = data_key(&scratch, &format!("person-{}", uuid(1)));
    scratch.run_to_fault(FAULT, &["keys", "rotate-epoch"]);
    assert_eq!(epoch_files(&data_dir), vec![1, 2]);

    verify_passes(&scratch);
    assert_eq!(epoch_files(&data_dir), vec![2]);
    assert_eq!(data_key(&scratch, &format!("person-{}", uuid(1))), key);
    let events = exported_of(&scratch, uuid(1));
    assert!(
        events.iter().all(|event| !event["data"].is_null()),
        "{events:?}"
    );
}

/// The `digest` line of `journey projections status|rebuild`.
fn projections_digest(output: &std::process::Output) -> String {
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("digest"))
        .map(|digest| digest.trim().to_owned())
        .unwrap_or_else(|| panic!("no digest in {stdout}"))
}

#[test]
fn a_projection_snapshot_cut_off_before_its_rename_leaves_the_previous_one_and_nothing_else() {
    const FAULT: &str = "abort-before-snapshot-rename";
    let scratch = Scratch::new();
    let projections = scratch.data_dir().join("projections");
    let output = import(&scratch, "first.ndjson", &journey(uuid(1), 10, 4));
    assert!(output.status.success(), "{}", text(&output.stderr));
    projections_digest(&scratch.run(&["projections", "status"]));
    let previous = std::fs::read(projections.join("journals.snapshot")).expect("a snapshot");
    let output = import(&scratch, "second.ndjson", &journey(uuid(2), 20, 4));
    assert!(output.status.success(), "{}", text(&output.stderr));

    // The snapshot of the later state is written and synced, but not renamed.
    scratch.run_to_fault(FAULT, &["projections", "status"]);
    assert_eq!(
        std::fs::read(projections.join("journals.snapshot")).expect("the snapshot"),
        previous,
        "the previous snapshot is untouched"
    );
    assert!(projections.join("journals.tmp").exists());

    // The restart loads the previous snapshot, replays the rest and deletes the leftover: the state
    // is the one a rebuild from position 0 reaches.
    let resumed = projections_digest(&scratch.run(&["projections", "status"]));
    let names: Vec<String> = std::fs::read_dir(&projections)
        .expect("projections dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    assert_eq!(names, vec!["journals.snapshot".to_owned()]);
    let rebuilt = projections_digest(&scratch.run(&["projections", "rebuild"]));
    assert_eq!(resumed, rebuilt);
}

/// The audit entries, exported.
fn audit_entries(scratch: &Scratch) -> Vec<serde_json::Value> {
    let output = scratch.run(&["audit", "export", "--format", "ndjson"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON entry per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_prune_cut_off_before_its_removal_is_finished_and_recorded_once_at_the_next_open()
{
    for fault in ["abort-after-audit-anchor", "abort-after-audit-prune-entry"] {
        let scratch = Scratch::new();
        let admin = create_token(&scratch, &["--role", "admin", "--name", "admin"]);
        let server = Server::start(&scratch, &[]);
        for _ in 0..2 {
            graphql_ok(
                &server,
                &admin,
                REGISTER,
                json!({"input": {
                    "personId": format!("person-{}", Uuid::new_v4()), "eventId": Uuid::new_v4(),
                    "occurredOn": "2023-01-10", "birthYear": 1988, "sex": "FEMALE",
                    "nationality": "SYR", "languages": ["ar"],
                }}),
            )
            .await;
        }
        assert_eq!(server.terminate().code(), Some(0));
        let before = audit_entries(&scratch);
        assert!(before.len() >= 2, "{before:?}");

        // Every entry is older than "0 years ago"; the prune stops before removing them.
        scratch.run_to_fault(fault, &["audit", "prune", "--older-than-years", "0"]);

        // Opening the audit log removes them and leaves exactly one record of the prune.
        let after = audit_entries(&scratch);
        let operations: Vec<&str> = after
            .iter()
            .map(|entry| entry["operation"].as_str().expect("operation"))
            .collect();
        assert_eq!(operations, ["auditPrune"], "{fault}: {after:?}");
        assert_eq!(after[0]["seq"], before.len() as u64, "{fault}");
        let verified = scratch.run(&["audit", "verify"]);
        assert!(
            verified.status.success(),
            "{fault}: {}",
            text(&verified.stdout)
        );
        assert!(text(&verified.stdout).contains(&format!("after entry {}", before.len() - 1)));
        // A later open changes nothing.
        assert_eq!(audit_entries(&scratch), after, "{fault}");
    }
}

/// The soft limit on core file size in a `/proc/PID/limits` text.
#[cfg(target_os = "linux")]
fn core_file_limit(limits: &str) -> String {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max core file size"))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no core file size in {limits}"))
}

/// Given a `journey` armed with a fault point (it will abort there on purpose), when it runs, then
/// its core file size limit is 0, so the crash tests' aborts write no core file (CI turns core
/// files on to get the stacks of a test binary that crashes, `.ci/run`); unarmed, it keeps the
/// limit it was started with.
#[cfg(target_os = "linux")]
#[test]
fn a_process_armed_with_a_fault_point_writes_no_core_file() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    // Children inherit this process's limit: make it one an armed child must lower (a few KiB, so
    // that no other test's child could write more than that), unless the hard limit is 0.
    let (soft, hard) = getrlimit(Resource::RLIMIT_CORE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_CORE, hard.min(4096), hard).expect("setrlimit");
    let scratch = Scratch::new();
    let armed = Server::start_with_fault(&scratch, "abort-after-key-creation", &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", armed.pid())).expect("limits");
    assert_eq!(core_file_limit(&limits), "0", "{limits}");
    assert!(armed.terminate().success());

    let ours = std::fs::read_to_string("/proc/self/limits").expect("limits");
    let unarmed = Server::start(&scratch, &[]);
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", unarmed.pid())).expect("limits");
    assert_eq!(core_file_limit(&limits), core_file_limit(&ours), "{limits}");
    assert!(unarmed.terminate().success());
    setrlimit(Resource::RLIMIT_CORE, soft, hard).expect("setrlimit");
}
