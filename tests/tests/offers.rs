//! Offers in `journey import` and `journey export` over the real binary: offer lines are
//! appended through the offer rules and the registers, a bad one is refused with its line, its
//! rule and what to fix (nothing from it on written), `--check` reports it without writing, and
//! an export with offer streams imports into an empty data directory as the same events.

use journey_tests::{text, uuid, Scratch};
use serde_json::{json, Value};

fn offer_line(offer: u128, id: u128, event_type: &str, on: &str, data: Value) -> Value {
    json!({
        "stream": format!("offer-{}", uuid(offer)),
        "id": uuid(id),
        "type": event_type,
        "version": 1,
        "occurred_on": on,
        "actor": {"id": "co-1", "agency": "kommune", "role": "coordinator"},
        "data": data,
    })
}

fn kita(district: &str, quantity: u32) -> Value {
    json!({"kind": "kita_places", "month": "2024-09", "district": district, "quantity": quantity})
}

#[test]
fn offer_lines_import_through_their_rules_and_round_trip_through_an_export() {
    let scratch = Scratch::new();
    let output = scratch.run(&["registers", "import", "--default"]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let good = [
        offer_line(
            1,
            10,
            "CapacityOffered",
            "2024-05-02",
            kita("Lebenstedt", 12),
        ),
        offer_line(
            1,
            11,
            "CapacityChanged",
            "2024-05-20",
            json!({"quantity": 14}),
        ),
        offer_line(
            2,
            20,
            "CapacityOffered",
            "2024-05-02",
            json!({"kind": "course_places", "month": "2024-10", "provider": "VHS Salzgitter", "quantity": 25}),
        ),
    ];
    let bad = [
        offer_line(3, 30, "CapacityOffered", "2024-05-02", kita("Lebenstet", 8)),
        offer_line(
            1,
            12,
            "CapacityOffered",
            "2024-05-21",
            kita("Lebenstedt", 3),
        ),
    ];

    // --check: the second offer of stream 1 breaks the rule; nothing is written.
    let all: Vec<Value> = good.iter().chain(bad[1..].iter()).cloned().collect();
    let file = scratch.write_ndjson("check.ndjson", &all);
    let before = scratch.export().len();
    let output = scratch.run(&["import", "--check", file.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("line 4: rule offer_stream_starts_with_offer"),
        "{stdout}"
    );
    assert_eq!(scratch.export().len(), before, "--check writes nothing");

    // The good lines, then an unknown district: refused naming the line and the closest code.
    let lines: Vec<Value> = good.iter().chain(bad[..1].iter()).cloned().collect();
    let file = scratch.write_ndjson("offers.ndjson", &lines);
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("line 4: field `data.district`"), "{stderr}");
    assert!(stderr.contains("Lebenstedt"), "{stderr}");
    let exported = scratch.export();
    let offers: Vec<&Value> = exported
        .iter()
        .filter(|event| {
            event["stream"]
                .as_str()
                .is_some_and(|s| s.starts_with("offer-"))
        })
        .collect();
    assert_eq!(offers.len(), 3, "the three good lines, not the refused one");
    assert_eq!(
        offers[1]["data"],
        json!({"quantity": 14}),
        "plain data in the export"
    );
    assert_eq!(offers[1]["prev_hash"], offers[0]["hash"], "chained");

    // The same file again: nothing new before the refused line.
    let output = scratch.run(&["import", file.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("0 events written, 3 already recorded"),
        "{}",
        text(&output.stderr)
    );

    // The export imports into an empty data directory as the same events.
    let other = Scratch::new();
    let file = other.write_ndjson("export.ndjson", &exported);
    let output = other.run(&["import", file.to_str().expect("path")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let again = other.export();
    let strip = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|event| {
                event["stream"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("offer-"))
            })
            .map(|event| {
                json!([
                    event["stream"],
                    event["id"],
                    event["type"],
                    event["occurred_on"],
                    event["data"]
                ])
            })
            .collect()
    };
    assert_eq!(strip(&again), strip(&exported));
}
