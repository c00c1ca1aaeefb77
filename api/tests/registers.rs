//! The registers through the GraphQL doors: with Salzgitter's registers imported, a typed mutation
//! and `appendEvents` naming an unknown district or provider are refused with `VALIDATION`, the
//! field, the register and the closest known values, and nothing is written.

mod support;

use journey_core::catalogue::Agency;
use journey_core::envelope::Actor;
use journey_core::log::EventLog;
use journey_core::registers::RegisterFile;
use serde_json::json;
use support::{id, Harness};
use uuid::Uuid;

async fn with_salzgitter() -> Harness {
    let h = Harness::new().await;
    h.context
        .ledger
        .import_register_file(&RegisterFile::salzgitter(), &Actor::system("test"))
        .await
        .expect("registers import");
    h
}

#[tokio::test]
async fn record_arrival_in_an_unknown_district_is_refused_with_suggestions() {
    let h = with_salzgitter().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    let head = h.context.log.next_position().await.expect("head");
    let arrival = |district: &str| {
        Harness::input(
            &person,
            "2023-01-11",
            json!({"origin": "ABROAD", "accommodation": "SHARED", "district": district}),
        )
    };
    for (district, closest) in [("lebenstedt", "Lebenstedt"), ("Atlantis", "")] {
        let error = h
            .record_fails(
                &cw,
                "recordArrival",
                "RecordArrivalInput",
                arrival(district),
                "VALIDATION",
            )
            .await;
        assert_eq!(error["extensions"]["field"], "input.district", "{error}");
        assert_eq!(error["extensions"]["register"], "districts");
        let suggestions = error["extensions"]["suggestions"]
            .as_array()
            .expect("suggestions");
        assert_eq!(suggestions.len(), 3, "{error}");
        if !closest.is_empty() {
            assert_eq!(suggestions[0], closest);
        }
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("`{district}` is not in the register of districts")),
            "{error}"
        );
    }
    assert_eq!(h.context.log.next_position().await.expect("head"), head);
    h.record(
        &cw,
        "recordArrival",
        "RecordArrivalInput",
        arrival("Lebenstedt"),
    )
    .await;
}

#[tokio::test]
async fn append_events_with_an_unknown_provider_writes_nothing_and_names_the_event() {
    let h = with_salzgitter().await;
    let cw = h.caseworker(Agency::Arbeitsagentur);
    let person = format!("person-{}", Uuid::new_v4());
    let mutation = "mutation($person: ID!, $events: [EventInput!]!) { appendEvents(personId: $person, events: $events) { written } }";
    let batch = json!([
        {"eventId": id(), "type": "PersonRegistered", "occurredOn": "2023-01-10", "data": {"birth_year": 1990, "sex": "male", "nationality": "IRQ", "languages": ["ar"]}},
        {"eventId": id(), "type": "ArrivalRecorded", "occurredOn": "2023-01-10", "data": {"origin": "abroad", "accommodation": "shared", "district": "Thiede"}},
        {"eventId": id(), "type": "CourseRegistered", "occurredOn": "2023-06-01", "data": {"course_id": "IK-1", "course_type": "general", "provider": "VHS"}}
    ]);
    let head = h.context.log.next_position().await.expect("head");
    let error = h
        .fails(
            Some(&cw),
            mutation,
            json!({"person": person, "events": batch}),
            "VALIDATION",
        )
        .await;
    assert_eq!(
        error["extensions"]["field"], "events[2].data.provider",
        "{error}"
    );
    assert_eq!(error["extensions"]["eventIndex"], 2);
    assert_eq!(error["extensions"]["register"], "providers");
    assert_eq!(
        error["extensions"]["suggestions"][0], "VHS Salzgitter",
        "{error}"
    );
    assert_eq!(h.context.log.next_position().await.expect("head"), head);
}
