//! `journey registers` and the registers in `journey import` over the real binary: a log written
//! before any register has stray values that `registers check` lists with counts; mapping them
//! (recorded as events) makes the check clean without changing a recorded event; with the register
//! loaded, an import line naming an unknown district is refused with the closest known ones; an
//! export with register events imports into an empty data directory.

use journey_tests::{journey, line, text, uuid, Scratch};
use serde_json::json;

fn arrival(person: u128, id: u128, district: &str) -> Vec<serde_json::Value> {
    let mut lines = journey(uuid(person), id, 2);
    lines[1]["data"]["district"] = json!(district);
    lines
}

#[test]
fn check_lists_stray_values_with_counts_and_mappings_clear_them() {
    let scratch = Scratch::new();
    let mut lines = arrival(1, 100, "SZ-Lebenstedt");
    lines.extend(arrival(2, 200, "SZ-Lebenstedt"));
    lines.extend(arrival(3, 300, "lebenstedt"));
    lines.extend(arrival(4, 400, "Thiede"));
    lines.push(line(
        uuid(4),
        uuid(402),
        "CourseRegistered",
        "2023-03-01",
        json!({"course_id": "IK-1", "course_type": "general", "provider": "VHS"}),
    ));
    let file = scratch.write_ndjson("before.ndjson", &lines);
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let output = scratch.run(&["registers", "import", "--default"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("districts: added `Lebenstedt` (in `Nord`)"),
        "{}",
        text(&output.stdout)
    );

    let before = scratch.export();
    let output = scratch.run(&["registers", "check"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("districts\tSZ-Lebenstedt\t2 events\tclosest: Lebenstedt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("districts\tlebenstedt\t1 events\tclosest: Lebenstedt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("providers\tVHS\t1 events\tclosest: VHS Salzgitter"),
        "{stdout}"
    );
    assert!(!stdout.contains("Thiede"), "{stdout}");
    assert!(stdout.contains("3 values no register knows"), "{stdout}");

    for (register, value, code) in [
        ("districts", "SZ-Lebenstedt", "Lebenstedt"),
        ("districts", "lebenstedt", "Lebenstedt"),
        ("providers", "VHS", "VHS Salzgitter"),
    ] {
        let output = scratch.run(&[
            "registers",
            "map",
            register,
            value,
            code,
            "--reason",
            "spelling before the register",
        ]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let output = scratch.run(&["registers", "check"]);
    assert!(output.status.success(), "{}", text(&output.stdout));

    // The person events are as they were; the mappings are register events of their own.
    let after = scratch.export();
    let persons = |events: &[serde_json::Value]| -> Vec<serde_json::Value> {
        events
            .iter()
            .filter(|event| {
                event["stream"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("person-"))
            })
            .cloned()
            .collect()
    };
    assert_eq!(persons(&after), persons(&before));
    let mappings = after
        .iter()
        .filter(|event| event["type"] == "RegisterValueMapped")
        .count();
    assert_eq!(mappings, 3);
}

#[test]
fn with_the_register_loaded_an_unknown_district_is_refused_on_import() {
    let scratch = Scratch::new();
    let output = scratch.run(&["registers", "import", "--default"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let file = scratch.write_ndjson("bad.ndjson", &arrival(1, 100, "Atlantis"));
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("line 2: field `data.district`: `Atlantis` is not in the register of districts; did you mean"),
        "{stderr}"
    );
    // An import writes the lines before the first invalid one, and nothing from it on.
    let person_events: Vec<String> = scratch
        .export()
        .iter()
        .filter(|event| {
            event["stream"]
                .as_str()
                .is_some_and(|s| s.starts_with("person-"))
        })
        .map(|event| event["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(person_events, ["PersonRegistered"]);

    let output = scratch.run(&["import", "--check", file.to_str().expect("path")]);
    assert!(!output.status.success());
    assert!(
        text(&output.stdout).contains("did you mean"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn an_export_with_registers_imports_into_an_empty_directory_and_again_idempotently() {
    let source = Scratch::new();
    assert!(source
        .run(&["registers", "import", "--default"])
        .status
        .success());
    let file = source.write_ndjson("good.ndjson", &arrival(1, 100, "Gebhardshagen"));
    assert!(source
        .run(&["import", file.to_str().expect("path")])
        .status
        .success());
    let exported = source.export();
    let export_file = source.write_ndjson("export.ndjson", &exported);

    let target = Scratch::new();
    let output = target.run(&["import", export_file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = target.run(&["import", export_file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!(
            "imported 0 events ({} already recorded)",
            exported.len()
        )),
        "{}",
        text(&output.stdout)
    );
    let reimported = target.export();
    assert_eq!(reimported.len(), exported.len());
    let output = target.run(&["registers", "show", "districts"]);
    assert!(
        text(&output.stdout).contains("districts on ") && text(&output.stdout).contains("31 codes"),
        "{}",
        text(&output.stdout)
    );
    // With the registers imported first from the export, the person line was checked against them.
    let bad = target.write_ndjson("bad.ndjson", &arrival(2, 200, "Gebhardshagn"));
    let output = target.run(&["import", bad.to_str().expect("path")]);
    assert!(
        text(&output.stderr).contains("`Gebhardshagen`"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_register_file_with_a_mistake_is_refused_naming_it_and_writes_nothing() {
    let scratch = Scratch::new();
    let path = scratch.data_dir().with_file_name("registers.json");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(
        &path,
        r#"{"source": "test", "areas": [{"code": "Nord", "valid_from": "1972-01-01"}],
            "districts": [{"code": "Lebenstedt", "parent": "Nordd", "valid_from": "1974-03-01"}]}"#,
    )
    .expect("write");
    let output = scratch.run(&["registers", "import", path.to_str().expect("path")]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("districts[0]")
            && stderr.contains("parent `Nordd`")
            && stderr.contains("Nord"),
        "{stderr}"
    );
    let output = scratch.run(&["registers", "show"]);
    assert!(
        text(&output.stdout).contains("areas on "),
        "{}",
        text(&output.stdout)
    );
    assert!(
        text(&output.stdout).contains("0 codes"),
        "{}",
        text(&output.stdout)
    );
    assert!(scratch.export().is_empty(), "nothing was written");
}
