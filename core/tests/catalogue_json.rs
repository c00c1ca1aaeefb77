//! `catalogue::decode_current_json`, the catalogue's read of an event's JSON text at the current
//! version straight into its type (what a projections snapshot holds): every event reads back as
//! the one written, the same as `catalogue::decode` reads from the text's value, and a payload
//! that does not read fails the same way, naming the same field.

use std::collections::BTreeSet;

use journey_core::catalogue::{self, DecodeError, Event, EventType, PersonalDataErased};
use journey_core::synth::{generate, SynthConfig};
use proptest::prelude::*;

/// The JSON text of `event`'s payload as the snapshot writes it.
fn text(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&event.to_data()).expect("a payload serializes")
}

/// `decode` of the value of `text`, as the snapshot read it before.
fn through_value(event_type: EventType, text: &[u8]) -> Result<Event, DecodeError> {
    let value: serde_json::Value = serde_json::from_slice(text).expect("JSON text");
    catalogue::decode(event_type.name(), event_type.current_version(), value)
}

#[test]
fn every_event_of_a_population_reads_back_as_written() {
    let mut events: Vec<Event> = generate(&SynthConfig {
        people: 3_000,
        ..SynthConfig::default()
    })
    .into_iter()
    .map(|synth| synth.event)
    .collect();
    // The generator records no erasure: its one governance event the log writes itself.
    events.push(Event::PersonalDataErased(PersonalDataErased {
        reason: catalogue::ErasureReason::Art17Request,
    }));
    let mut types = BTreeSet::new();
    for event in &events {
        let event_type = event.event_type();
        types.insert(event_type.name());
        let text = text(event);

        let read = catalogue::decode_current_json(event_type, &text).expect("decodes");

        assert_eq!(&read, event);
        assert_eq!(Ok(read), through_value(event_type, &text));
    }
    let missing: Vec<_> = EventType::ALL
        .iter()
        .map(EventType::name)
        .filter(|name| !types.contains(name))
        .collect();
    assert!(missing.is_empty(), "no event of {missing:?} was read");
}

#[test]
fn a_payload_with_an_unknown_field_fails_naming_it_as_decode_does() {
    let text = br#"{"employment_id":"E-1","kind":"social_insurance_full","occupation_code":"26212","wage":1}"#;

    let error = catalogue::decode_current_json(EventType::EmploymentStarted, text)
        .expect_err("an unknown field");

    assert_eq!(error.field(), Some("wage"));
    let valued = through_value(EventType::EmploymentStarted, text).expect_err("an unknown field");
    assert_eq!(error.field(), valued.field());
}

#[test]
fn a_payload_followed_by_more_text_is_refused() {
    let text = br#"{"consent_id":"C-1"} {}"#;

    let error = catalogue::decode_current_json(EventType::ConsentWithdrawn, text)
        .expect_err("trailing text");

    assert!(matches!(error, DecodeError::InvalidField { .. }), "{error}");
}

proptest! {
    /// Whatever the text, the direct read and the read through the value agree: the same event,
    /// or an error about the same field (the messages may word the position differently).
    #[test]
    fn the_direct_read_agrees_with_the_read_through_the_value(
        event_type in proptest::sample::select(EventType::ALL.to_vec()),
        fields in proptest::collection::btree_map(
            proptest::sample::select(vec![
                "employment_id", "kind", "occupation_code", "consent_id", "reason", "district",
                "origin", "accommodation", "entry_date", "outcome", "status", "level", "exam",
            ]),
            proptest::sample::select(vec![
                serde_json::json!("E-1"), serde_json::json!("social_insurance_full"),
                serde_json::json!("26212"), serde_json::json!(1), serde_json::json!(null),
                serde_json::json!("2024-05-01"), serde_json::json!("art17_request"),
                serde_json::json!("SZ-Lebenstedt"), serde_json::json!(["x"]),
            ]),
            0..5,
        ),
    ) {
        let text = serde_json::to_vec(&fields).expect("a map serializes");

        let direct = catalogue::decode_current_json(event_type, &text);
        let valued = through_value(event_type, &text);

        match (direct, valued) {
            (Ok(direct), Ok(valued)) => prop_assert_eq!(direct, valued),
            (Err(direct), Err(valued)) => prop_assert_eq!(direct.field(), valued.field()),
            (direct, valued) => prop_assert!(false, "direct {:?}, through the value {:?}", direct, valued),
        }
    }
}
