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
