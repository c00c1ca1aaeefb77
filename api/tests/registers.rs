//! The registers through the GraphQL doors: with Salzgitter's registers imported, a typed mutation
//! and `appendEvents` naming an unknown district or provider are refused with `VALIDATION`, the
//! field, the register and the closest known values, and nothing is written.

mod support;

use journey_core::catalogue::Agency;
use journey_core::envelope::Actor;
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
    let head = h.context.log.last_position().await.expect("head");
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
    assert_eq!(h.context.log.last_position().await.expect("head"), head);
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
    let head = h.context.log.last_position().await.expect("head");
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
    assert_eq!(h.context.log.last_position().await.expect("head"), head);
}

/// Given Salzgitter's registers and Thiede renamed to "Salzgitter-Thiede" on 2025-01-01, when
/// anyone signed in asks `registers(validOn:)`, then the districts of that day come back with their
/// areas: Thiede before the rename, its successor after, and every entry without `validOn`.
#[tokio::test]
async fn the_registers_query_lists_the_codes_valid_on_a_day() {
    use journey_core::registers::{
        RegisterEntryAdded, RegisterEntryRetired, RegisterEvent, RegisterKind, RegisterProposal,
    };
    let h = with_salzgitter().await;
    let on = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date");
    let thiede_area = {
        let registers = h.context.ledger.registers().await.expect("registers");
        registers
            .register(RegisterKind::Districts)
            .entry("Thiede")
            .and_then(|entry| entry.parent.clone())
            .expect("Thiede has an area")
    };
    h.context
        .ledger
        .append_register_events(
            vec![
                RegisterProposal {
                    id: id(),
                    register: RegisterKind::Districts,
                    occurred_on: on("2025-01-01"),
                    event: RegisterEvent::EntryAdded(RegisterEntryAdded {
                        code: "Salzgitter-Thiede".into(),
                        name: None,
                        parent: Some(thiede_area.clone()),
                    }),
                },
                RegisterProposal {
                    id: id(),
                    register: RegisterKind::Districts,
                    occurred_on: on("2025-01-01"),
                    event: RegisterEvent::EntryRetired(RegisterEntryRetired {
                        code: "Thiede".into(),
                        successors: vec!["Salzgitter-Thiede".into()],
                    }),
                },
            ],
            &Actor::system("test"),
        )
        .await
        .expect("rename");
    let analyst = h.token(journey_api::auth::Role::Analyst, None, "analyst-registers");
    let districts = |valid_on: Option<&str>| {
        let h = &h;
        let analyst = analyst.clone();
        let valid_on = valid_on.map(str::to_owned);
        async move {
            let (_, body) = h
                .post(
                    Some(&analyst),
                    "query($on: Date) { registers(kind: DISTRICTS, validOn: $on) { kind entries { code parent validFrom validUntil successors } } }",
                    json!({ "on": valid_on }),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
            let registers = body["data"]["registers"]
                .as_array()
                .expect("registers")
                .clone();
            assert_eq!(registers.len(), 1, "only the districts: {body}");
            assert_eq!(registers[0]["kind"], "DISTRICTS");
            registers[0]["entries"].as_array().expect("entries").clone()
        }
    };
    let codes = |entries: &[serde_json::Value]| -> Vec<String> {
        entries
            .iter()
            .map(|entry| entry["code"].as_str().expect("code").to_owned())
            .collect()
    };

    let before = districts(Some("2024-12-31")).await;
    assert_eq!(before.len(), 31, "Salzgitter's 31 Stadtteile");
    assert!(codes(&before).contains(&"Thiede".to_owned()));
    assert!(!codes(&before).contains(&"Salzgitter-Thiede".to_owned()));
    let thiede = before
        .iter()
        .find(|entry| entry["code"] == "Thiede")
        .expect("Thiede");
    assert_eq!(thiede["parent"], thiede_area.as_str());

    let after = districts(Some("2025-01-01")).await;
    assert_eq!(after.len(), 31, "a rename keeps the count");
    assert!(!codes(&after).contains(&"Thiede".to_owned()));
    assert!(codes(&after).contains(&"Salzgitter-Thiede".to_owned()));

    let every = districts(None).await;
    assert_eq!(every.len(), 32, "every entry ever added");
    let retired = every
        .iter()
        .find(|entry| entry["code"] == "Thiede")
        .expect("Thiede");
    assert_eq!(retired["validUntil"], "2025-01-01");
    assert_eq!(retired["successors"], json!(["Salzgitter-Thiede"]));
}

/// Without a token the registers are refused like every other field.
#[tokio::test]
async fn the_registers_query_needs_a_token() {
    let h = with_salzgitter().await;
    let (_, body) = h.post(None, "{ registers { kind } }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
}
