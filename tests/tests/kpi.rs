//! `journey kpi` over the real binary applies the same disclosure control as the API: a share
//! that says something about every person in the cell is suppressed, however many they are.

use journey_tests::{journey, text, uuid, Scratch};
use serde_json::Value;

/// The total `rate` of `journey kpi employment_rate` with `--k K`.
fn employment_total(scratch: &Scratch, k: &str) -> Value {
    let output = scratch.run(&[
        "kpi",
        "employment_rate",
        "--as-of",
        "2024-06-01",
        "--format",
        "json",
        "--k",
        k,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).expect("json");
    result["total"]["measures"]
        .as_array()
        .expect("measures")
        .iter()
        .find(|measure| measure["name"] == "rate")
        .expect("rate")
        .clone()
}

#[test]
fn none_of_twelve_employed_is_suppressed_by_the_cli() {
    // Given twelve working-age persons present in Lebenstedt, none of them employed.
    let scratch = Scratch::new();
    let mut lines = Vec::new();
    for person in 0..12u128 {
        lines.extend(journey(uuid(2_000_000 + person), person * 1_000, 2));
    }
    let file = scratch.write_ndjson("twelve.ndjson", &lines);
    let import = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    // When the employment rate is asked for without suppression, it is 0 of 12.
    let open = employment_total(&scratch, "0");
    assert_eq!(
        (
            &open["numerator"],
            &open["denominator"],
            &open["suppressed"]
        ),
        (&Value::from(0), &Value::from(12), &Value::from(false))
    );
    // Then with k = 3 it is suppressed: 12 persons are above k, but "0 of 12" says of each of
    // them that they have no job.
    let suppressed = employment_total(&scratch, "3");
    assert_eq!(suppressed["suppressed"], true, "{suppressed}");
    for field in ["value", "numerator", "denominator", "persons"] {
        assert!(suppressed[field].is_null(), "{field}: {suppressed}");
    }
}

/// The total measures of `journey kpi promising_applicants` with `--k K`, as JSON.
fn promising_total(scratch: &Scratch, k: &str) -> Value {
    let output = scratch.run(&[
        "kpi",
        "promising_applicants",
        "--as-of",
        "2024-06-01",
        "--format",
        "json",
        "--k",
        k,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).expect("json");
    result["total"]["measures"].clone()
}

#[test]
fn the_cli_answers_promising_applicants_with_disclosure_control() {
    // Given four persons idle since arriving on 2023-01-10, each with a B1 result on 2023-03-01:
    // on the list from 2023-04-11, inside the conversion window of D = 2024-06-01, none placed.
    let scratch = Scratch::new();
    let mut lines = Vec::new();
    for person in 0..4u128 {
        let id = uuid(3_000_000 + person);
        lines.extend(journey(id, person * 1_000, 2));
        lines.push(journey_tests::line(
            id,
            uuid(person * 1_000 + 500),
            "LanguageTestTaken",
            "2023-03-01",
            serde_json::json!({"exam": "dtz", "level": "b1", "first_attempt": true}),
        ));
    }
    let file = scratch.write_ndjson("four.ndjson", &lines);
    let import = scratch.run(&["import", file.to_str().expect("path")]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    // When asked without suppression: four on the list, none of the four entrants placed.
    let open = promising_total(&scratch, "0");
    assert_eq!(open[0]["name"], "persons");
    assert_eq!(open[0]["value"], 4.0);
    assert_eq!(open[1]["name"], "share_placed_within_6_months");
    assert_eq!(
        (&open[1]["numerator"], &open[1]["denominator"]),
        (&Value::from(0), &Value::from(4))
    );
    // Then with k = 3 the stock stands and "none of four placed" is suppressed.
    let suppressed = promising_total(&scratch, "3");
    assert_eq!(suppressed[0]["value"], 4.0);
    assert_eq!(suppressed[1]["suppressed"], true, "{suppressed}");
    assert!(suppressed[1]["value"].is_null());
}
