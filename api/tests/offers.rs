//! Offers over GraphQL: a coordinator records, changes and withdraws offers; bad input is a typed
//! error naming the field with nothing written; `offers` answers at a past `knownAt` as known
//! then; and `kpi(key: "unmet_demand")` sets the persons waiting against the places offered,
//! with the persons suppressed for a coordinator and the places not.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::{id, Harness};

const RECORD: &str = "mutation($input: RecordOfferInput!) { recordOffer(input: $input) { offerId revision alreadyRecorded } }";
const CHANGE: &str =
    "mutation($input: ChangeOfferInput!) { changeOffer(input: $input) { offerId revision } }";
const WITHDRAW: &str =
    "mutation($input: WithdrawOfferInput!) { withdrawOffer(input: $input) { offerId revision } }";
const OFFERS: &str = "query($knownAt: DateTime) { offers(month: \"2024-09\", asOf: \"2024-08-31\", knownAt: $knownAt) { knownAt offers { kind district provider quantity } } }";

fn kita(district: &str, quantity: i64) -> Value {
    json!({"eventId": id(), "occurredOn": "2024-05-02", "kind": "KITA_PLACES", "month": "2024-09", "district": district, "quantity": quantity})
}

#[tokio::test]
async fn a_coordinator_records_offers_and_unmet_demand_sets_them_against_persons_waiting() {
    let h = Harness::with_projections().await;
    let coordinator = h.token(Role::Coordinator, Some(Agency::Kommune), "planner");
    let admin = h.token(Role::Admin, None, "admin");
    let caseworker = h.caseworker(Agency::Jugendamt);

    // Bad input: typed errors naming the field, nothing written.
    let head = h.state.log.last_position().await.expect("head");
    let mut bad_month = kita("Lebenstedt", 5);
    bad_month["month"] = json!("2024-9");
    let error = h
        .fails(
            Some(&coordinator),
            RECORD,
            json!({"input": bad_month}),
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.month", "{error}");
    let error = h
        .fails(
            Some(&coordinator),
            RECORD,
            json!({"input": kita("Lebenstedt", -1)}),
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.quantity", "{error}");
    let mut no_district = kita("Lebenstedt", 5);
    no_district
        .as_object_mut()
        .expect("object")
        .remove("district");
    let error = h
        .fails(
            Some(&coordinator),
            RECORD,
            json!({"input": no_district}),
            "RULE_VIOLATION",
        )
        .await;
    assert_eq!(
        error["extensions"]["rule"], "offer_fields_of_kind",
        "{error}"
    );
    assert_eq!(error["extensions"]["field"], "input.district", "{error}");
    h.fails(
        Some(&caseworker),
        RECORD,
        json!({"input": kita("Lebenstedt", 5)}),
        "FORBIDDEN",
    )
    .await;
    assert_eq!(
        h.state.log.last_position().await.expect("head"),
        head,
        "nothing written"
    );

    // Two offers for September in Lebenstedt; one is cut from 4 to 1 place, one in Thiede withdrawn.
    let first = h
        .ok(
            &coordinator,
            RECORD,
            json!({"input": kita("Lebenstedt", 2)}),
        )
        .await;
    let second = h
        .ok(
            &coordinator,
            RECORD,
            json!({"input": kita("Lebenstedt", 4)}),
        )
        .await;
    let offer = second["recordOffer"]["offerId"]
        .as_str()
        .expect("offer id")
        .to_owned();
    assert!(offer.starts_with("offer-"));
    assert_ne!(
        first["recordOffer"]["offerId"],
        second["recordOffer"]["offerId"]
    );
    h.caught_up().await;
    let before_change = h
        .state
        .projections()
        .expect("projections")
        .read(|state| state.recorded_through)
        .expect("a time");
    h.ok(&admin, CHANGE, json!({"input": {"eventId": id(), "offerId": offer, "occurredOn": "2024-06-01", "quantity": 1}})).await;
    let thiede = h
        .ok(&coordinator, RECORD, json!({"input": kita("Thiede", 9)}))
        .await;
    h.ok(&coordinator, WITHDRAW, json!({"input": {"eventId": id(), "offerId": thiede["recordOffer"]["offerId"], "occurredOn": "2024-06-02", "reason": "CANCELLED"}})).await;

    // Three children wait for a Kita place in Lebenstedt.
    for _ in 0..3 {
        let person = h.register(&caseworker, uuid::Uuid::new_v4()).await;
        h.record(
            &caseworker,
            "recordArrival",
            "RecordArrivalInput",
            Harness::input(
                &person,
                "2024-01-10",
                json!({"origin": "ABROAD", "accommodation": "FLAT", "district": "Lebenstedt"}),
            ),
        )
        .await;
        h.record(
            &caseworker,
            "requestKitaPlace",
            "RequestKitaPlaceInput",
            Harness::input(&person, "2024-03-01", json!({})),
        )
        .await;
    }
    h.caught_up().await;

    // The offers' order among equals is their ids': compare the quantities as a set.
    let quantities = |data: &Value| -> Vec<u64> {
        let offers = data["offers"]["offers"].as_array().expect("offers");
        assert!(
            offers
                .iter()
                .all(|offer| offer["district"] == "Lebenstedt" && offer["kind"] == "KITA_PLACES"),
            "{data}"
        );
        let mut quantities: Vec<u64> = offers
            .iter()
            .map(|offer| offer["quantity"].as_u64().expect("a quantity"))
            .collect();
        quantities.sort_unstable();
        quantities
    };
    let now = h.ok(&caseworker, OFFERS, json!({})).await;
    assert_eq!(
        quantities(&now),
        [1, 2],
        "the change applied, Thiede withdrawn"
    );
    let then = h
        .ok(
            &caseworker,
            OFFERS,
            json!({"knownAt": before_change.to_rfc3339()}),
        )
        .await;
    assert_eq!(quantities(&then), [2, 4], "as known before the change");

    let kpi = "{ kpi(key: \"unmet_demand\", asOf: \"2024-09-15\") { cells { dimensions { value } measures { name value suppressed } } } }";
    let measures = |data: &Value| -> Vec<(String, Value)> {
        data["kpi"]["cells"][0]["measures"]
            .as_array()
            .expect("measures")
            .iter()
            .filter(|measure| {
                measure["name"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("kita"))
            })
            .map(|measure| {
                (
                    measure["name"].as_str().expect("name").to_owned(),
                    if measure["suppressed"] == true {
                        json!("*")
                    } else {
                        measure["value"].clone()
                    },
                )
            })
            .collect()
    };
    let admin_view = h.ok(&admin, kpi, json!({})).await;
    assert_eq!(
        admin_view["kpi"]["cells"][0]["dimensions"][0]["value"],
        "Lebenstedt"
    );
    assert_eq!(
        measures(&admin_view),
        [
            ("kita_requests_open".to_owned(), json!(3.0)),
            ("kita_places".to_owned(), json!(3.0)),
            ("kita_places_missing".to_owned(), json!(0.0))
        ]
    );
    // Two waiting, suppressed for the coordinator; the places stay published.
    let fourth = h.register(&caseworker, uuid::Uuid::new_v4()).await;
    h.record(
        &caseworker,
        "recordArrival",
        "RecordArrivalInput",
        Harness::input(
            &fourth,
            "2024-01-10",
            json!({"origin": "ABROAD", "accommodation": "FLAT", "district": "Thiede"}),
        ),
    )
    .await;
    h.record(
        &caseworker,
        "requestKitaPlace",
        "RequestKitaPlaceInput",
        Harness::input(&fourth, "2024-03-01", json!({})),
    )
    .await;
    h.caught_up().await;
    let coordinator_view = h.ok(&coordinator, kpi, json!({})).await;
    let thiede_cell = coordinator_view["kpi"]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|cell| cell["dimensions"][0]["value"] == "Thiede")
        .expect("a Thiede cell");
    let thiede: Vec<(String, Value)> = measures(&json!({"kpi": {"cells": [thiede_cell]}}));
    assert_eq!(
        thiede,
        [
            ("kita_requests_open".to_owned(), json!("*")),
            ("kita_places".to_owned(), json!(0.0)),
            ("kita_places_missing".to_owned(), json!("*"))
        ]
    );
}
