//! Backups and restores over the real binary (issue 15): a backup taken by a running server under
//! concurrent appends restores into a store that verifies and answers like the original at the
//! backup's position; a damaged backup is refused with nothing written; a person erased after the
//! backup stays erased after the restore.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use journey_tests::{
    create_token, files_containing, graphql_ok, graphql_response, journey_bin, text, Scratch,
    Server,
};
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId revision } }";
const FAMILY_NAME: &str = "query($id: ID!) { person(id: $id) { personalData { familyName } } }";
const ERASE: &str =
    "mutation($input: ErasePersonInput!) { erasePerson(input: $input) { revision } }";

/// The KPI questions compared between stores: (indicator, breakdown).
const KPI_QUESTIONS: &[(&str, &str)] = &[
    ("population_present", "district"),
    ("course_participation_rate", "sex"),
    ("employment_rate", ""),
];

fn register_input(person: &str, given: &str, family: &str) -> Value {
    json!({"input": {
        "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2024-03-10",
        "birthYear": 1990, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
        "personalData": {"givenNames": given, "familyName": family, "phone": "+4915100000000"},
    }})
}

/// `journey ARGS` on `data_dir` with the master key of `key_owner` (the store the backup was taken
/// from, whose data directory generated the key).
fn run_with_key(data_dir: &Path, key_owner: &Scratch, args: &[&str]) -> std::process::Output {
    on_data_dir(data_dir)
        .arg("--master-key-file")
        .arg(master_key(key_owner))
        .args(args)
        .output()
        .expect("run journey")
}

/// A `journey` command on `data_dir`, with no master key configured from the environment.
fn on_data_dir(data_dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(journey_bin());
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("JOURNEY_MASTER_KEY")
        .env_remove("JOURNEY_MASTER_KEY_FILE")
        .env_remove("JOURNEY_ERASURE_REGISTER")
        .env_remove("JOURNEY_DATA_DIR")
        .env("RUST_LOG", "error");
    command
}

fn master_key(scratch: &Scratch) -> PathBuf {
    scratch.data_dir().join("master.key")
}

fn succeeded(output: &std::process::Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

async fn metrics(server: &Server) -> String {
    reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("manifest JSON")
}

fn export(data_dir: &Path, key_owner: &Scratch) -> Vec<Value> {
    let output = run_with_key(data_dir, key_owner, &["export", "--format", "ndjson"]);
    succeeded(&output, "export")
        .lines()
        .map(|line| serde_json::from_str(line).expect("export line"))
        .collect()
}

fn kpis(data_dir: &Path, key_owner: &Scratch) -> Vec<Value> {
    KPI_QUESTIONS
        .iter()
        .map(|(key, by)| {
            let mut args = vec![
                "kpi",
                key,
                "--as-of",
                "2025-06-30",
                "--format",
                "json",
                "--k",
                "0",
            ];
            if !by.is_empty() {
                args.extend(["--by", by]);
            }
            let output = run_with_key(data_dir, key_owner, &args);
            let mut answer: Value =
                serde_json::from_str(&succeeded(&output, key)).expect("kpi JSON");
            // The cut an answer reports is the latest transaction time it holds, which the
            // independent copy (imported now) cannot share; every figure must be the same.
            answer
                .as_object_mut()
                .expect("an answer object")
                .remove("known_at");
            answer
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_concurrent_appends_restores_into_a_store_that_verifies_and_answers_alike() {
    let original = Scratch::new();
    succeeded(
        &original.run(&["seed", "--people", "120", "--seed", "15"]),
        "seed",
    );
    let admin = create_token(&original, &["--role", "admin", "--name", "admin"]);
    let server = Arc::new(Server::start(&original, &[]));

    // Two clients append as fast as the server takes them until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let mut appenders = Vec::new();
    for client in 0..2 {
        let (server, admin, stop, appended) = (
            server.clone(),
            admin.clone(),
            stop.clone(),
            appended.clone(),
        );
        appenders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let person = format!("person-{}", Uuid::new_v4());
                let input = register_input(&person, &format!("Conc{client}x{n}"), "Appender");
                graphql_ok(&server, &admin, REGISTER, input).await;
                appended.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    let wait_for = |count: u64| {
        let appended = appended.clone();
        async move {
            while appended.load(Ordering::Relaxed) < count {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    };
    wait_for(10).await;
    let backup_dir = original.dir.path().join("backup");
    let backup_args: Vec<String> = vec![
        "backup".into(),
        "--out".into(),
        backup_dir.display().to_string(),
        "--token".into(),
        admin.clone(),
    ];
    let mut command = original.command();
    command.args(&backup_args);
    let output = tokio::task::spawn_blocking(move || command.output().expect("backup"))
        .await
        .expect("join");
    succeeded(&output, "backup through the running server");
    let during = appended.load(Ordering::Relaxed);
    wait_for(during + 10).await;
    stop.store(true, Ordering::Relaxed);
    for appender in appenders {
        appender.await.expect("appender");
    }
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains("journey_backup_last_age_seconds")
            && metrics.contains("journey_backup_last_size_bytes"),
        "{metrics}"
    );
    let server = Arc::into_inner(server).expect("the appenders are done");
    assert_eq!(server.terminate().code(), Some(0));

    let manifest = manifest(&backup_dir);
    let position = manifest["log"]["next_position"].as_u64().expect("position") as usize;
    let original_events = export(&original.data_dir(), &original);
    assert!(
        position < original_events.len(),
        "appends went on after the backup: {position} of {}",
        original_events.len()
    );

    let restored = Scratch::new();
    let output = run_with_key(
        &restored.data_dir(),
        &original,
        &["restore", "--from", &backup_dir.display().to_string()],
    );
    succeeded(&output, "restore");
    succeeded(
        &run_with_key(&restored.data_dir(), &original, &["verify"]),
        "verify of the restored store",
    );
    // The restored log is the original's first `position` events, byte for byte once decoded.
    let restored_events = export(&restored.data_dir(), &original);
    assert_eq!(restored_events.len(), position);
    assert_eq!(restored_events[..], original_events[..position]);

    // The original's answers at the backup's position, computed independently: its first
    // `position` events imported into a fresh store.
    let replayed = Scratch::new();
    let prefix = replayed.write_ndjson("prefix.ndjson", &original_events[..position]);
    succeeded(
        &replayed.run(&["import", &prefix.display().to_string()]),
        "import of the prefix",
    );
    let expected = kpis(&replayed.data_dir(), &replayed);
    let answered = kpis(&restored.data_dir(), &original);
    assert_eq!(answered, expected);
    assert!(
        expected[0].to_string().contains("\"value\""),
        "the indicators answer something: {}",
        expected[0]
    );
}

/// A seeded store, stopped, backed up by `journey backup` itself.
fn seeded_backup() -> (Scratch, PathBuf) {
    let original = Scratch::new();
    succeeded(
        &original.run(&["seed", "--people", "30", "--seed", "3"]),
        "seed",
    );
    let backup_dir = original.dir.path().join("backup");
    succeeded(
        &original.run(&["backup", "--out", &backup_dir.display().to_string()]),
        "backup",
    );
    (original, backup_dir)
}

#[test]
fn a_backup_with_one_flipped_byte_is_refused_with_nothing_written() {
    let (original, backup_dir) = seeded_backup();
    let log = backup_dir.join("log.entries");
    let mut bytes = std::fs::read(&log).expect("log entries");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&log, bytes).expect("flip");

    let parent = original.dir.path().join("restores");
    std::fs::create_dir(&parent).expect("parent");
    let target = parent.join("new");
    let output = run_with_key(
        &target,
        &original,
        &["restore", "--from", &backup_dir.display().to_string()],
    );
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("log.entries") && stderr.contains("SHA-256"),
        "the error names the file and what is wrong: {stderr}"
    );
    assert!(!target.exists(), "the target was written");
    let left: Vec<_> = std::fs::read_dir(&parent).expect("parent").collect();
    assert!(left.is_empty(), "a restore refused left {left:?}");
}

#[test]
fn a_restore_into_a_non_empty_directory_or_without_the_master_key_is_refused() {
    let (original, backup_dir) = seeded_backup();
    let from = backup_dir.display().to_string();
    let occupied = original.dir.path().join("occupied");
    std::fs::create_dir(&occupied).expect("dir");
    std::fs::write(occupied.join("keep.txt"), "mine").expect("file");
    let output = run_with_key(&occupied, &original, &["restore", "--from", &from]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("is not empty"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&occupied).expect("dir").count(),
        1,
        "nothing was added"
    );

    let target = original.dir.path().join("keyless");
    let output = on_data_dir(&target)
        .args(["restore", "--from", &from])
        .output()
        .expect("restore");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--master-key-file"),
        "{}",
        text(&output.stderr)
    );
    assert!(!target.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_erased_after_the_backup_stays_erased_after_the_restore() {
    let original = Scratch::new();
    let admin = create_token(&original, &["--role", "admin", "--name", "admin"]);
    let tag = format!("{:016x}", rand::random::<u64>());
    let (given, family) = (format!("Restored{tag}"), format!("Erased{tag}"));
    let person = format!("person-{}", Uuid::new_v4());
    let other = format!("person-{}", Uuid::new_v4());

    let server = Server::start(&original, &[]);
    graphql_ok(
        &server,
        &admin,
        REGISTER,
        register_input(&person, &given, &family),
    )
    .await;
    graphql_ok(
        &server,
        &admin,
        REGISTER,
        register_input(&other, "Kept", "Person"),
    )
    .await;
    assert_eq!(server.terminate().code(), Some(0));
    let output = original.run(&["debug", "data-key", &person]);
    let key_hex = succeeded(&output, "data key").trim().to_owned();
    let key: Vec<u8> = (0..key_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).expect("hex"))
        .collect();
    assert_eq!(key.len(), 32);

    // The backup holds the person, and so does a plain copy of the directory; then they are
    // erased, through the server.
    let backup_dir = original.dir.path().join("backup");
    succeeded(
        &original.run(&["backup", "--out", &backup_dir.display().to_string()]),
        "backup",
    );
    let copied = original.dir.path().join("copied");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(original.data_dir())
        .arg(&copied)
        .status()
        .expect("cp");
    assert!(status.success());
    std::fs::remove_file(copied.join("master.key.erasures")).ok();
    let server = Server::start(&original, &[]);
    graphql_ok(
        &server,
        &admin,
        ERASE,
        json!({"input": {
            "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2024-05-02",
            "reason": "ART17_REQUEST",
        }}),
    )
    .await;
    assert_eq!(server.terminate().code(), Some(0));
    let register = std::fs::read_to_string(original.data_dir().join("master.key.erasures"))
        .expect("the erasure register");
    assert!(register.contains(&person), "{register}");

    // A directory copied back from before the erasure is corrected when it is opened.
    let output = run_with_key(&copied, &original, &["debug", "data-key", &person]);
    assert_eq!(
        succeeded(&output, "data key of the copy").trim(),
        "destroyed"
    );
    succeeded(
        &run_with_key(&copied, &original, &["verify"]),
        "verify of the copy",
    );

    let restored = Scratch::new();
    let output = run_with_key(
        &restored.data_dir(),
        &original,
        &["restore", "--from", &backup_dir.display().to_string()],
    );
    let said = succeeded(&output, "restore");
    assert!(
        said.contains("1 person(s) erased after the backup"),
        "{said}"
    );

    let data_dir = restored.data_dir();
    for (what, needle) in [
        ("given name", given.as_bytes().to_vec()),
        ("family name", family.as_bytes().to_vec()),
        ("data key", key.clone()),
        ("data key in hex", key_hex.as_bytes().to_vec()),
    ] {
        let found = files_containing(&data_dir, &needle);
        assert!(found.is_empty(), "the {what} is in {found:?}");
    }
    // The kept person's name is sealed in the vault, so the search above could not have found
    // plaintext anyway; the data key is what matters, and the kept person's key is still there.
    succeeded(
        &run_with_key(&data_dir, &original, &["verify"]),
        "verify of the restored store",
    );
    let output = run_with_key(&data_dir, &original, &["debug", "data-key", &person]);
    assert_eq!(succeeded(&output, "data key").trim(), "destroyed");
    let output = run_with_key(&data_dir, &original, &["debug", "data-key", &other]);
    assert_eq!(succeeded(&output, "data key").trim().len(), 64);

    // Read through the API of a server on the restored directory (the admin token came along).
    let key_file = master_key(&original).display().to_string();
    let server = Server::start(&restored, &["--master-key-file", &key_file]);
    let read = graphql_response(&server, &admin, FAMILY_NAME, json!({"id": person})).await;
    assert!(!read.to_string().contains(&family), "{read}");
    let kept = graphql_ok(&server, &admin, FAMILY_NAME, json!({"id": other})).await;
    assert_eq!(kept["person"]["personalData"]["familyName"], "Person");
    assert_eq!(server.terminate().code(), Some(0));
    let exported = export(&data_dir, &original);
    let mine: Vec<&Value> = exported
        .iter()
        .filter(|event| event["stream"] == person.as_str())
        .collect();
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|event| event["data"].is_null()), "{mine:?}");
}

/// The complete scheduled backups in `dir` (named `backup-…`, with a manifest), oldest first. A
/// backup being written is a hidden `.backup-….partial-PID` directory that holds its manifest a
/// moment before it is renamed: counted as a backup, it once ended the wait one backup early.
fn scheduled_backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with("backup-"))
                })
                .filter(|path| path.join("manifest.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest_and_each_restores() {
    let original = Scratch::new();
    succeeded(
        &original.run(&["seed", "--people", "20", "--seed", "4"]),
        "seed",
    );
    let backups = original.dir.path().join("scheduled");
    let dir = backups.display().to_string();
    let server = Server::start(
        &original,
        &[
            "--backup-every",
            "1s",
            "--backup-dir",
            &dir,
            "--backup-keep",
            "2",
        ],
    );
    // Wait for the third backup: by then the first was pruned (at most 60 s, a bound, not a
    // measurement).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut newest_seen = Vec::new();
    while newest_seen.len() < 3 {
        for backup in scheduled_backups(&backups) {
            if !newest_seen.contains(&backup) {
                newest_seen.push(backup);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "three scheduled backups within 60 s: {newest_seen:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains("journey_backup_last_size_bytes"),
        "{metrics}"
    );
    assert_eq!(server.terminate().code(), Some(0));
    let kept = scheduled_backups(&backups);
    assert!(kept.len() <= 2, "--backup-keep 2 keeps {kept:?}");
    assert!(!kept.contains(&newest_seen[0]), "the oldest was pruned");
    let newest = kept.last().expect("a backup");
    let restored = Scratch::new();
    succeeded(
        &run_with_key(
            &restored.data_dir(),
            &original,
            &["restore", "--from", &newest.display().to_string()],
        ),
        "restore of a scheduled backup",
    );
}
