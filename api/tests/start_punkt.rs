//! Start.Punkt.SZ (issue 14), given/when/then over GraphQL: a partner of the neighbourhood base
//! (here Caritas; the housing company, Diakonie, the Red Cross, AWO and associations alike) is an
//! agency with caseworkers under consent like the others: without a consent naming it, it does not
//! see the person; with one, it sees them and records a counselling contact at the base. A base
//! that is no short code is refused naming the field, with nothing written. `base_reach` counts
//! the contact for the district the person lives in.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::json;
use support::{id, Harness};

const PERSON: &str = "query($id: ID!) { person(id: $id) { revision } }";
const REACH: &str = "{ kpi(key: \"base_reach\", asOf: \"2024-06-30\", by: [DISTRICT]) { cells { dimensions { value } measures { name value numerator denominator suppressed } } total { measures { name value numerator denominator suppressed } } } }";

#[tokio::test]
async fn a_partner_of_the_base_works_under_consent_and_its_contacts_reach_the_persons_district() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let caritas = h.caseworker(Agency::Caritas);
    let diakonie = h.caseworker(Agency::Diakonie);
    let admin = h.token(Role::Admin, None, "admin");
    let person = h.register(&jobcenter, id()).await;
    h.record(
        &jobcenter,
        "recordArrival",
        "RecordArrivalInput",
        Harness::input(
            &person,
            "2023-01-10",
            json!({"origin": "RECEPTION_CENTRE", "accommodation": "FLAT", "district": "Lebenstedt"}),
        ),
    )
    .await;

    // Given no consent naming Caritas: its caseworker does not see the person.
    h.fails(Some(&caritas), PERSON, json!({"id": person}), "FORBIDDEN")
        .await;

    // When the person consents to share with Caritas: Caritas sees them, Diakonie still does not.
    h.record(
        &jobcenter,
        "giveConsent",
        "GiveConsentInput",
        Harness::input(
            &person,
            "2023-01-11",
            json!({"consentId": "c-startpunkt", "recipients": ["CARITAS"], "purpose": "Beratung am Start.Punkt.SZ", "formVersion": "2023-1"}),
        ),
    )
    .await;
    let seen = h.ok(&caritas, PERSON, json!({"id": person})).await;
    assert_eq!(seen["person"]["revision"], 2);
    h.fails(Some(&diakonie), PERSON, json!({"id": person}), "FORBIDDEN")
        .await;

    // A base that is no short code is refused on its field, and nothing is written.
    let error = h
        .record_fails(
            &caritas,
            "recordCounsellingContact",
            "RecordCounsellingContactInput",
            Harness::input(
                &person,
                "2024-03-01",
                json!({"agency": "CARITAS", "topic": "HOUSING", "base": " "}),
            ),
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.base", "{error}");
    let unchanged = h.ok(&caritas, PERSON, json!({"id": person})).await;
    assert_eq!(unchanged["person"]["revision"], 2, "nothing was written");

    // Caritas records a contact at the base.
    h.record(
        &caritas,
        "recordCounsellingContact",
        "RecordCounsellingContactInput",
        Harness::input(
            &person,
            "2024-03-01",
            json!({"agency": "CARITAS", "topic": "HOUSING", "base": "startpunkt-sz"}),
        ),
    )
    .await;
    let timeline = h.timeline(&caritas, &person).await;
    let contact = timeline
        .iter()
        .find(|event| event["type"] == "CounsellingContact")
        .expect("the contact is recorded");
    assert_eq!(
        contact["data"],
        json!({"agency": "caritas", "topic": "housing", "base": "startpunkt-sz"})
    );

    // Then base_reach counts the person for Lebenstedt (1 of 1; an admin's answer is not
    // suppressed), and a caseworker's answer suppresses the single person.
    h.caught_up().await;
    let reach = h.ok(&admin, REACH, json!({})).await;
    assert_eq!(
        reach["kpi"]["cells"],
        json!([{"dimensions": [{"value": "Lebenstedt"}], "measures": [{"name": "rate", "value": 1.0, "numerator": 1, "denominator": 1, "suppressed": false}]}])
    );
    let suppressed = h.ok(&caritas, REACH, json!({})).await;
    assert_eq!(
        suppressed["kpi"]["total"]["measures"][0]["suppressed"], true,
        "{suppressed}"
    );
}
