//! `promisingApplicants` over `app()` with `oneshot`: who of the joint case management sees whom
//! (the Jobcenter's persons, the Arbeitsagentur's under consent), the order and the facts, paging
//! through a cut with its `knownAt`, and bad input refused with a typed error; and the checklist's
//! `checklistOverdue`, which pages the same way.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::Harness;
use uuid::Uuid;

const LIST: &str = "query($first: Int, $after: String, $knownAt: DateTime, $district: String, $min: Int) { promisingApplicants(asOf: \"2024-06-01\", first: $first, after: $after, knownAt: $knownAt, district: $district, minIdleDays: $min) { knownAt minIdleDays edges { cursor node { personId waitingDays idleDays idleSince enteredOn age stage district facts { b1On b1Exam b1Level recognitionOn trainingCompletedOn measureCompletedOn measureId } } } pageInfo { hasNextPage endCursor } } }";

/// A person of the jobcenter, arrived on 2023-01-10 in `district`, with a B1 result on `b1_on`.
async fn qualified(h: &Harness, token: &str, district: &str, b1_on: &str) -> String {
    let person = h.register(token, Uuid::new_v4()).await;
    h.record(
        token,
        "recordArrival",
        "RecordArrivalInput",
        Harness::input(
            &person,
            "2023-01-10",
            json!({"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": district}),
        ),
    )
    .await;
    h.record(
        token,
        "recordLanguageTest",
        "RecordLanguageTestInput",
        Harness::input(
            &person,
            b1_on,
            json!({"exam": "DTZ", "level": "B1", "firstAttempt": true}),
        ),
    )
    .await;
    person
}

fn persons(data: &Value) -> Vec<String> {
    data["promisingApplicants"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("edges: {data}"))
        .iter()
        .map(|edge| edge["node"]["personId"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_joint_case_management_sees_its_persons_longest_waiting_first_with_the_facts() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let arbeitsagentur = h.caseworker(Agency::Arbeitsagentur);
    // Idle since 2023-01-10; idle more than 90 days from 2023-04-11 on.
    let early = qualified(&h, &jobcenter, "Lebenstedt", "2023-03-01").await;
    let late = qualified(&h, &jobcenter, "Bad", "2024-01-15").await;
    h.caught_up().await;

    let data = h.ok(&jobcenter, LIST, json!({})).await;
    assert_eq!(persons(&data), [early.clone(), late.clone()]);
    let first = &data["promisingApplicants"]["edges"][0]["node"];
    assert_eq!(
        first,
        &json!({
            "personId": early,
            // Entered on 2023-04-11 (idle 91 days, qualified since 2023-03-01).
            "waitingDays": 417,
            "idleDays": 508,
            "idleSince": "2023-01-10",
            "enteredOn": "2023-04-11",
            "age": 34,
            "stage": "B1",
            "district": "Lebenstedt",
            "facts": {"b1On": "2023-03-01", "b1Exam": "DTZ", "b1Level": "B1", "recognitionOn": null,
                      "trainingCompletedOn": null, "measureCompletedOn": null, "measureId": null}
        })
    );
    assert_eq!(data["promisingApplicants"]["minIdleDays"], 90);
    let second = &data["promisingApplicants"]["edges"][1]["node"];
    assert_eq!(second["enteredOn"], "2024-01-15");
    assert_eq!(second["waitingDays"], 138);

    let south = h.ok(&jobcenter, LIST, json!({"district": "Bad"})).await;
    assert_eq!(persons(&south), std::slice::from_ref(&late));
    // Idle 508 days is not more than 600.
    let longer = h.ok(&jobcenter, LIST, json!({"min": 600})).await;
    assert!(persons(&longer).is_empty(), "{longer}");

    // The Arbeitsagentur works with neither; a consent naming it opens one.
    let data = h.ok(&arbeitsagentur, LIST, json!({})).await;
    assert!(persons(&data).is_empty(), "{data}");
    h.record(
        &jobcenter,
        "giveConsent",
        "GiveConsentInput",
        Harness::input(
            &late,
            "2024-02-01",
            json!({"consentId": "c-aa", "recipients": ["ARBEITSAGENTUR"], "purpose": "joint case management", "formVersion": "1"}),
        ),
    )
    .await;
    h.caught_up().await;
    let data = h.ok(&arbeitsagentur, LIST, json!({})).await;
    assert_eq!(persons(&data), [late]);
}

#[tokio::test]
async fn pages_follow_the_order_through_one_cut_and_bad_input_is_refused() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let mut expected = Vec::new();
    for b1_on in ["2023-02-01", "2023-06-01", "2023-09-01"] {
        expected.push(qualified(&h, &jobcenter, "Lebenstedt", b1_on).await);
    }
    h.caught_up().await;
    let page = h.ok(&jobcenter, LIST, json!({"first": 2})).await;
    let known_at = page["promisingApplicants"]["knownAt"].clone();
    assert_eq!(persons(&page), expected[..2]);
    assert_eq!(page["promisingApplicants"]["pageInfo"]["hasNextPage"], true);
    let cursor = page["promisingApplicants"]["pageInfo"]["endCursor"].clone();
    let next = h
        .ok(
            &jobcenter,
            LIST,
            json!({"first": 2, "after": cursor, "knownAt": known_at}),
        )
        .await;
    assert_eq!(persons(&next), expected[2..]);
    assert_eq!(
        next["promisingApplicants"]["pageInfo"]["hasNextPage"],
        false
    );
    assert_eq!(next["promisingApplicants"]["knownAt"], known_at);

    let error = h
        .fails(
            Some(&jobcenter),
            LIST,
            json!({"after": "nobody"}),
            "VALIDATION",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("endCursor"),
        "{error}"
    );
    let stranger = Uuid::new_v4().to_string();
    let error = h
        .fails(
            Some(&jobcenter),
            LIST,
            json!({"after": stranger}),
            "VALIDATION",
        )
        .await;
    assert!(
        error["message"].as_str().unwrap_or("").contains("knownAt"),
        "{error}"
    );
    h.fails(Some(&jobcenter), LIST, json!({"first": 0}), "VALIDATION")
        .await;

    // Other agencies and roles are refused, whatever they may see elsewhere.
    for token in [
        h.caseworker(Agency::Jugendamt),
        h.token(Role::Analyst, None, "analyst"),
        h.token(Role::Coordinator, None, "coordinator"),
    ] {
        let error = h.fails(Some(&token), LIST, json!({}), "FORBIDDEN").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap_or("")
                .contains("arbeitsagentur"),
            "{error}"
        );
    }
}

const OVERDUE: &str = "query($first: Int, $after: String, $knownAt: DateTime, $district: String) { checklistOverdue(asOf: \"2023-03-01\", first: $first, after: $after, knownAt: $knownAt, district: $district) { knownAt edges { cursor node { personId arrivedOn daysSinceArrival district overdue { step dueOn daysOverdue } } } pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn the_checklist_overdue_list_pages_by_time_since_arrival_for_visible_persons() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let jugendamt = h.caseworker(Agency::Jugendamt);
    // Both arrived on 2023-01-10 (days since arrival 50 on 2023-03-01); the second has its start
    // folder, so only its other steps due by then are overdue.
    let first = qualified(&h, &jobcenter, "Lebenstedt", "2023-01-20").await;
    let second = qualified(&h, &jobcenter, "Bad", "2023-01-20").await;
    h.record(
        &jobcenter,
        "completeChecklistItem",
        "CompleteChecklistItemInput",
        Harness::input(&second, "2023-01-15", json!({"item": "START_FOLDER"})),
    )
    .await;
    h.caught_up().await;
    let data = h.ok(&jobcenter, OVERDUE, json!({})).await;
    let edges = data["checklistOverdue"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 2, "{data}");
    let of = |person: &str| {
        edges
            .iter()
            .find(|edge| edge["node"]["personId"] == person)
            .map(|edge| edge["node"]["overdue"].clone())
            .expect("listed")
    };
    assert_eq!(
        of(&first),
        json!([
            {"step": "START_FOLDER", "dueOn": "2023-02-07", "daysOverdue": 22},
            {"step": "COUNSELLING", "dueOn": "2023-02-07", "daysOverdue": 22},
            {"step": "HEALTH_CHECK", "dueOn": "2023-02-07", "daysOverdue": 22}
        ])
    );
    assert_eq!(of(&second).as_array().map(Vec::len), Some(2));
    let bad = h.ok(&jobcenter, OVERDUE, json!({"district": "Bad"})).await;
    assert_eq!(
        bad["checklistOverdue"]["edges"][0]["node"]["personId"],
        second.as_str()
    );
    // Paging through one cut: the first page's end cursor and knownAt give the rest.
    let page = h.ok(&jobcenter, OVERDUE, json!({"first": 1})).await;
    let next = h
        .ok(
            &jobcenter,
            OVERDUE,
            json!({"first": 1, "after": page["checklistOverdue"]["pageInfo"]["endCursor"], "knownAt": page["checklistOverdue"]["knownAt"]}),
        )
        .await;
    assert_ne!(
        page["checklistOverdue"]["edges"][0]["node"]["personId"],
        next["checklistOverdue"]["edges"][0]["node"]["personId"]
    );
    assert_eq!(next["checklistOverdue"]["pageInfo"]["hasNextPage"], false);
    // Another agency without consent sees nobody; an analyst is refused.
    let data = h.ok(&jugendamt, OVERDUE, json!({})).await;
    assert_eq!(data["checklistOverdue"]["edges"], json!([]));
    let analyst = h.token(Role::Analyst, None, "analyst");
    h.fails(Some(&analyst), OVERDUE, json!({}), "FORBIDDEN")
        .await;
}
