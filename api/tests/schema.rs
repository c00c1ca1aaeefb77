//! `schemas/graphql/schema.graphql` is generated from the code. This test fails when the checked-in
//! file differs from what the code generates; run it with `UPDATE_SCHEMAS=1` to rewrite it.

use std::path::PathBuf;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/graphql/schema.graphql")
}

#[test]
fn checked_in_graphql_schema_matches_the_code() {
    let path = schema_path();
    let generated = journey_api::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create schemas/graphql");
        std::fs::write(&path, &generated).expect("write schema");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/graphql/schema.graphql drifted from the code (rerun with UPDATE_SCHEMAS=1 and commit)"
    );
}

#[test]
fn the_schema_has_one_mutation_per_event_type_of_the_catalogue() {
    let sdl = journey_api::graphql::sdl();
    let mutation = sdl
        .split("type Mutation {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("a Mutation type");
    let fields = mutation
        .lines()
        .filter_map(|line| line.strip_prefix('\t'))
        .filter(|field| {
            field.starts_with(|c: char| c.is_ascii_lowercase()) && field.contains("): ")
        })
        .count();
    // Every event type has a typed mutation (registerForCourse covers CourseRegistered and so
    // on), plus appendEvents, plus one per offer event type (recordOffer, changeOffer,
    // withdrawOffer), plus one per volunteer event type (recruitVolunteer, trainVolunteer,
    // assignMentee, supportVolunteer, appreciateVolunteer, endVolunteer, eraseVolunteer).
    assert_eq!(
        fields,
        journey_core::catalogue::EventType::ALL.len()
            + 1
            + journey_core::offers::OfferEventType::ALL.len()
            + journey_core::volunteers::VolunteerEventType::ALL.len(),
        "{mutation}"
    );
}
