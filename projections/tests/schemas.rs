//! `schemas/kpis.json` is generated from the catalogue in the code. This test fails when the
//! checked-in file differs from what the code generates; run it with `UPDATE_SCHEMAS=1` to rewrite
//! it (`UPDATE_SCHEMAS=1 cargo test -p journey-projections --test schemas`).

use std::path::PathBuf;

use journey_projections::kpi::catalogue;

fn catalogue_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/kpis.json")
}

#[test]
fn checked_in_kpi_catalogue_matches_the_code() {
    let path = catalogue_file();
    let generated = catalogue::render();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).expect("write schemas/kpis.json");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/kpis.json drifted from the code (rerun with UPDATE_SCHEMAS=1 and commit)"
    );
}

#[test]
fn the_catalogue_file_lists_every_indicator_with_its_contract() {
    let document: serde_json::Value =
        serde_json::from_str(&catalogue::render()).expect("valid JSON");
    let kpis = document["kpis"].as_array().expect("a list of indicators");
    let keys: Vec<&str> = kpis
        .iter()
        .map(|kpi| kpi["key"].as_str().expect("a key"))
        .collect();
    assert_eq!(
        keys,
        [
            "population_present",
            "course_waiting_days",
            "course_access_days",
            "course_participation_rate",
            "course_completion_rate",
            "dtz_b1_rate",
            "employment_rate",
            "employment_by_years_since_arrival",
            "employment_by_years_since_entry",
            "sgb2_integration_rate",
            "idle_days",
            "idle_list",
            "kita_rate",
            "school_rate",
            "recognition_outcomes",
            "mentoring_coverage",
            "chain_funnel",
            // Issue 14, from person events.
            "promising_applicants",
            "orientation_test_pass_rate",
            "school_leaving_certificates",
            "school_to_training_transition",
            "training_outcomes",
            "measure_outcomes",
            "course_reentry",
            "dtz_by_course_type",
            "checklist_completion",
            "unmet_demand",
            "demand_forecast",
            // Issue 14: the neighbourhood base.
            "base_reach",
            // Issue 14, volunteers.
            "active_volunteers",
            "mentees_per_volunteer",
            "mentor_request_days",
            "volunteer_retention",
        ]
    );
    for kpi in kpis {
        for field in [
            "title",
            "definition",
            "unit",
            "counting_unit",
            "denominator",
            "disclosure_count",
            "measures",
            "disaggregations",
            "person_level",
        ] {
            assert!(!kpi[field].is_null(), "{} lacks {field}", kpi["key"]);
        }
    }
    assert_eq!(
        document["dimensions"][7]["values"][11],
        serde_json::json!("none"),
        "protection_status lists `none` after its statuses"
    );
}

/// Every indicator has its title, definition and denominator in German as well (the council report
/// prints both languages), and the German text is a translation, not the English copied.
#[test]
fn every_indicator_has_its_german_text() {
    let document: serde_json::Value =
        serde_json::from_str(&catalogue::render()).expect("valid JSON");
    for kpi in document["kpis"].as_array().expect("a list of indicators") {
        let key = kpi["key"].as_str().expect("a key");
        for (german, english) in [
            ("title_de", "title"),
            ("definition_de", "definition"),
            ("denominator_de", "denominator"),
        ] {
            let text = kpi[german].as_str().unwrap_or_default();
            assert!(
                !text.is_empty(),
                "{key} has no {german}: add it to projections/src/kpi/german.rs"
            );
            assert_ne!(
                Some(text),
                kpi[english].as_str(),
                "{key}: {german} is the English text"
            );
        }
    }
    assert_eq!(journey_projections::kpi::german("no_such_indicator"), None);
}
