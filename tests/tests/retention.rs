//! `journey retention run` over the real binary: a dry run lists and changes nothing; a run erases
//! exactly the expired persons with reason `retention_expired`; a second run erases nobody.

use journey_tests::{line, text, uuid, Scratch};
use serde_json::json;

#[test]
fn retention_run_erases_only_closed_cases_past_the_period() {
    let scratch = Scratch::new();
    let (old, recent) = (uuid(1), uuid(2));
    let recent_day = (chrono::Utc::now().date_naive() - chrono::Duration::days(30)).to_string();
    let registered = |person, id, on: &str| {
        line(
            person,
            uuid(id),
            "PersonRegistered",
            on,
            json!({"birth_year": 1990, "sex": "female", "nationality": "SYR", "languages": ["ar"]}),
        )
    };
    let counselling = |person, id, on: &str| {
        line(
            person,
            uuid(id),
            "CounsellingContact",
            on,
            json!({"agency": "jobcenter", "topic": "language"}),
        )
    };
    let file = scratch.write_ndjson(
        "events.ndjson",
        &[
            registered(old, 10, "2015-01-10"),
            counselling(old, 11, "2016-03-01"),
            registered(recent, 20, "2015-01-10"),
            counselling(recent, 21, &recent_day),
        ],
    );
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let output = scratch.run(&["retention", "run", "--after-years", "3", "--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "would erase person-{old} retention_expired (no event since 2016-03-01"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains(&recent.to_string()), "{stdout}");
    assert_eq!(scratch.export().len(), 4, "a dry run writes nothing");

    let output = scratch.run(&["retention", "run", "--after-years", "3"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("erased person-{old} retention_expired")),
        "{stdout}"
    );
    assert!(stdout.contains("erased 1 persons"), "{stdout}");
    let export = scratch.export();
    let erasure = export.last().expect("events");
    assert_eq!(erasure["type"], "PersonalDataErased");
    assert_eq!(erasure["stream"], format!("person-{old}"));
    assert_eq!(erasure["data"]["reason"], "retention_expired");
    assert_eq!(erasure["actor"]["role"], "system");
    for event in export
        .iter()
        .filter(|event| event["stream"] == format!("person-{old}"))
    {
        if event["type"] != "PersonalDataErased" {
            assert!(event["data"].is_null(), "{event}");
        }
    }
    assert!(export
        .iter()
        .any(|event| event["stream"] == format!("person-{recent}") && !event["data"].is_null()));

    // A second run finds nobody left: the erased person is not erased again.
    let output = scratch.run(&["retention", "run", "--after-years", "3"]);
    assert!(
        text(&output.stdout).contains("erased 0 persons"),
        "{}",
        text(&output.stdout)
    );
    let output = scratch.run(&["verify"]);
    assert!(output.status.success(), "{}", text(&output.stdout));
}
