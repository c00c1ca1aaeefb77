//! `journey import` over the real binary: good files, bad lines, `--check`, and re-running an import.

use journey_tests::{journey, line, text, uuid, Scratch};
use serde_json::json;

fn ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| event["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Event ids per stream, in order.
fn by_stream(events: &[serde_json::Value]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut streams = std::collections::BTreeMap::<String, Vec<String>>::new();
    for event in events {
        streams
            .entry(event["stream"].as_str().expect("stream").to_owned())
            .or_default()
            .push(event["id"].as_str().expect("id").to_owned());
    }
    streams
}

#[test]
fn an_import_round_trips_through_export_and_is_idempotent() {
    let scratch = Scratch::new();
    let mut lines = journey(uuid(1), 100, 5);
    lines.extend(journey(uuid(2), 200, 4));
    let file = scratch.write_ndjson("in.ndjson", &lines);
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("imported 9 events"),
        "{}",
        text(&output.stdout)
    );

    let exported = scratch.export();
    // Each person's events keep the file's order; persons are written in parallel, so the global
    // interleaving of different persons follows commit order.
    assert_eq!(by_stream(&exported), by_stream(&lines));
    for (position, event) in exported.iter().enumerate() {
        assert_eq!(event["position"], json!(position));
        let original = lines
            .iter()
            .find(|line| line["id"] == event["id"])
            .expect("imported line");
        assert_eq!(event["data"], original["data"]);
        assert!(event["hash"].as_str().is_some_and(|hash| hash.len() == 64));
        assert!(event["recorded_at"].is_string());
    }

    // The same file again writes nothing new.
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("imported 0 events (9 already recorded)"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(scratch.export().len(), 9);

    // The export itself imports into a fresh ledger (ledger-assigned fields are ignored).
    let other = Scratch::new();
    let export_file = other.write_ndjson("export.ndjson", &exported);
    let output = other.run(&["import", export_file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(by_stream(&other.export()), by_stream(&lines));
    assert!(other.run(&["verify"]).status.success());
}

/// Each bad line: the import stops there with a non-zero exit, names the line and the problem,
/// writes everything before it and nothing from it on; fixing the line and re-running completes it.
#[test]
fn a_bad_line_stops_the_import_and_a_fixed_rerun_completes_it() {
    let person = uuid(10);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed JSON",
            "{\"stream\": \"person-".to_owned(),
            "line 3: not a valid event line",
        ),
        (
            "unknown event type",
            line(
                person,
                uuid(902),
                "PersonTeleported",
                "2023-02-01",
                json!({}),
            )
            .to_string(),
            "unknown event type `PersonTeleported`",
        ),
        (
            "schema-invalid payload",
            line(
                person,
                uuid(902),
                "CounsellingContact",
                "2023-02-01",
                json!({"agency": "jobcenter", "topic": "gossip"}),
            )
            .to_string(),
            "field `data.topic`",
        ),
        (
            "rule violation",
            line(
                person,
                uuid(902),
                "CourseStarted",
                "2023-02-01",
                json!({"course_id": "IK-1"}),
            )
            .to_string(),
            "rule course_registered_before_start",
        ),
        (
            "duplicate id with different content",
            line(
                person,
                uuid(900),
                "CounsellingContact",
                "2023-02-01",
                json!({"agency": "jobcenter", "topic": "work"}),
            )
            .to_string(),
            "different content",
        ),
    ];
    for (case, bad_line, expected) in cases {
        let scratch = Scratch::new();
        let good = journey(person, 900, 2);
        let after = line(
            person,
            uuid(903),
            "CounsellingContact",
            "2023-03-01",
            json!({"agency": "jobcenter", "topic": "work"}),
        );
        let mut file_text: String = good.iter().map(|line| format!("{line}\n")).collect();
        file_text.push_str(&bad_line);
        file_text.push('\n');
        file_text.push_str(&format!("{after}\n"));
        let path = scratch.dir.path().join("in.ndjson");
        std::fs::write(&path, &file_text).expect("write");

        let output = scratch.run(&["import", path.to_str().expect("path")]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{case}: import must fail");
        assert!(
            stderr.contains("line 3"),
            "{case}: names the line: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{case}: names the problem `{expected}`: {stderr}"
        );
        assert_eq!(
            ids(&scratch.export()),
            ids(&good),
            "{case}: exactly the lines before the bad one"
        );

        // Fix the line (replace it by a valid one) and run the same import again.
        let fixed = line(
            person,
            uuid(902),
            "CounsellingContact",
            "2023-02-01",
            json!({"agency": "jobcenter", "topic": "health"}),
        );
        let file_text = file_text.replace(&bad_line, &fixed.to_string());
        std::fs::write(&path, &file_text).expect("write");
        let output = scratch.run(&["import", path.to_str().expect("path")]);
        assert!(output.status.success(), "{case}: {}", text(&output.stderr));
        let mut expected_ids = ids(&good);
        expected_ids.push(uuid(902).to_string());
        expected_ids.push(uuid(903).to_string());
        assert_eq!(
            ids(&scratch.export()),
            expected_ids,
            "{case}: completed without duplicates"
        );
    }
}

#[test]
fn check_reports_every_invalid_line_and_writes_nothing() {
    let scratch = Scratch::new();
    let person = uuid(20);
    let mut lines = journey(person, 300, 3);
    lines.push(line(
        person,
        uuid(303),
        "CourseStarted",
        "2023-02-01",
        json!({"course_id": "IK-9"}),
    ));
    lines.push(line(
        person,
        uuid(304),
        "CounsellingContact",
        "2023-02-01",
        json!({"agency": "mars", "topic": "work"}),
    ));
    lines.push(line(
        person,
        uuid(305),
        "CounsellingContact",
        "2999-01-01",
        json!({"agency": "jobcenter", "topic": "work"}),
    ));
    lines.push(line(
        person,
        uuid(306),
        "CounsellingContact",
        "2023-02-02",
        json!({"agency": "jobcenter", "topic": "work"}),
    ));
    let file = scratch.write_ndjson("in.ndjson", &lines);
    let output = scratch.run(&["import", "--check", file.to_str().expect("path")]);
    let stdout = text(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("line 4: rule course_registered_before_start"),
        "{stdout}"
    );
    assert!(stdout.contains("line 5: field `data.agency`"), "{stdout}");
    assert!(
        stdout.contains("line 6: rule occurred_on_not_in_future"),
        "{stdout}"
    );
    assert!(!stdout.contains("line 7"), "{stdout}");
    assert!(
        stdout.contains("checked 7 lines: 4 valid, 3 invalid"),
        "{stdout}"
    );
    assert!(scratch.export().is_empty(), "--check writes nothing");
}
