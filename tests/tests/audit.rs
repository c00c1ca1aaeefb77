//! The audit CLI over the real binary: `journey audit export | verify | prune` on the data directory
//! of a stopped server, the lock message while it runs, tampering through sled directly, and a prune
//! that keeps the chain verifiable.

use journey_tests::{create_token, text, Scratch, Server};
use serde_json::{json, Value};
use uuid::Uuid;

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId revision } }";
const PERSON: &str = "query($id: ID!) { person(id: $id) { id } }";

async fn graphql_ok(server: &Server, token: &str, query: &str, variables: Value) {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .header("X-Journey-Reason", "audit test")
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
}

/// Runs a server that registers and reads two persons (each audited), then stops it.
async fn scratch_with_audit_entries() -> Scratch {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, &[]);
    let token = create_token(
        &scratch,
        &[
            "--role",
            "caseworker",
            "--agency",
            "jobcenter",
            "--name",
            "cw-audit",
        ],
    );
    for _ in 0..2 {
        let person = format!("person-{}", Uuid::new_v4());
        graphql_ok(
            &server,
            &token,
            REGISTER,
            json!({"input": {
                "personId": person, "eventId": Uuid::new_v4(), "occurredOn": "2023-01-10",
                "birthYear": 1988, "sex": "FEMALE", "nationality": "SYR", "languages": ["ar"],
            }}),
        )
        .await;
        graphql_ok(&server, &token, PERSON, json!({"id": person})).await;
    }

    // While the server holds the data directory, the audit commands explain the lock.
    let locked = scratch.run(&["audit", "export"]);
    assert!(!locked.status.success());
    let stderr = text(&locked.stderr);
    assert!(
        stderr.contains(&format!("pid {}", server.pid())),
        "{stderr}"
    );

    assert!(server.terminate().success());
    scratch
}

fn export(scratch: &Scratch, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "export", "--format", "ndjson"];
    args.extend_from_slice(extra);
    let output = scratch.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON entry per line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_tamper_and_prune() {
    let scratch = scratch_with_audit_entries().await;

    // Export: every entry once, in order, each linked to the one before.
    let entries = export(&scratch, &[]);
    assert!(entries.len() >= 4, "{entries:?}");
    for (index, entry) in entries.iter().enumerate() {
        assert_eq!(entry["seq"], json!(index), "{entry}");
        if index > 0 {
            assert_eq!(entry["prev_hash"], entries[index - 1]["hash"]);
        }
    }
    let operations: Vec<&str> = entries
        .iter()
        .filter_map(|entry| entry["operation"].as_str())
        .collect();
    assert!(operations.contains(&"registerPerson"), "{operations:?}");
    assert!(operations.contains(&"person"), "{operations:?}");
    let reasons = entries
        .iter()
        .filter(|entry| entry["reason"] == "audit test")
        .count();
    assert!(reasons >= 2, "{entries:?}");
    // `--from` starts at that sequence number, and the lines are the same.
    let tail = export(&scratch, &["--from", "2"]);
    assert_eq!(tail.as_slice(), &entries[2..]);

    let verified = scratch.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
    assert!(text(&verified.stdout).contains(&format!("ok: {} audit entries", entries.len())));

    // Prune everything older than now (0 years): the chain then starts at the anchor and verifies.
    let pruned = scratch.run(&["audit", "prune", "--older-than-years", "0"]);
    assert!(pruned.status.success(), "{}", text(&pruned.stderr));
    assert!(
        text(&pruned.stdout).contains(&format!("pruned {} audit entries", entries.len())),
        "{}",
        text(&pruned.stdout)
    );
    let left = export(&scratch, &[]);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["operation"], "auditPrune");
    assert_eq!(left[0]["seq"], json!(entries.len()));
    assert_eq!(left[0]["prev_hash"], entries[entries.len() - 1]["hash"]);
    let verified = scratch.run(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified.stdout));
    assert!(text(&verified.stdout).contains("prune anchor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_entry_with_a_changed_byte() {
    let scratch = scratch_with_audit_entries().await;
    let entries = export(&scratch, &[]);
    let target = 2u64;
    assert!(entries.len() > 3);
    {
        let db = sled::open(scratch.data_dir().join("ledger")).expect("open sled directly");
        let tree = db.open_tree("audit").expect("audit tree");
        let key = target.to_be_bytes();
        let mut value = tree.get(key).expect("read").expect("entry").to_vec();
        // A byte of the outcome (`ok` becomes `nk`): still valid JSON, so only the hash can tell.
        let needle = br#""outcome":"ok""#;
        let at = value
            .windows(needle.len())
            .position(|window| window == needle)
            .expect("the entry records its outcome")
            + needle.len()
            - 3;
        value[at] ^= 0x01;
        tree.insert(key, value).expect("write");
        db.flush().expect("flush");
    }
    let verified = scratch.run(&["audit", "verify"]);
    assert!(!verified.status.success());
    let stdout = text(&verified.stdout);
    assert!(
        stdout.contains(&format!("BROKEN at audit entry {target}")),
        "{stdout}"
    );
    // A broken chain is not pruned, which would hide the break.
    let pruned = scratch.run(&["audit", "prune", "--older-than-years", "0"]);
    assert!(!pruned.status.success());
    assert!(
        text(&pruned.stderr).contains("broken"),
        "{}",
        text(&pruned.stderr)
    );
}
