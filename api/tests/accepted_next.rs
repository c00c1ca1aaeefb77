//! `acceptedNext` over GraphQL, given/when/then: the event types the rules accept next for a
//! person follow the person's stream (a registered course offers its start, not its end; a started
//! one its completion), a coordinator and a stranger are refused, and a malformed id is refused
//! naming the argument. What the rules accept is tested in core/tests/rules.rs; this checks that
//! the API asks them about the right stream.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::{id, Harness};

const NEXT: &str =
    "query($id: ID!) { acceptedNext(personId: $id) { personId revision eventTypes } }";

/// When: `token` asks what the person's stream accepts next; then: the answer.
async fn accepted_next(h: &Harness, token: &str, person: &str) -> Value {
    h.ok(token, NEXT, json!({"id": person})).await["acceptedNext"].clone()
}

fn offers(answer: &Value, event_type: &str) -> bool {
    answer["eventTypes"]
        .as_array()
        .expect("eventTypes")
        .iter()
        .any(|offered| offered == event_type)
}

#[tokio::test]
async fn the_types_accepted_next_follow_the_stream() {
    let h = Harness::new().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let person = h.register(&jobcenter, id()).await;

    let registered = accepted_next(&h, &jobcenter, &person).await;
    assert_eq!(registered["personId"], person.as_str());
    assert_eq!(registered["revision"], 0);
    assert!(!offers(&registered, "PersonRegistered"), "{registered}");
    assert!(offers(&registered, "ArrivalRecorded"), "{registered}");
    assert!(!offers(&registered, "CourseStarted"), "{registered}");

    h.record(
        &jobcenter,
        "recordArrival",
        "RecordArrivalInput",
        Harness::input(
            &person,
            "2023-01-10",
            json!({"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Lebenstedt"}),
        ),
    )
    .await;
    h.record(
        &jobcenter,
        "registerForCourse",
        "RegisterForCourseInput",
        Harness::input(
            &person,
            "2023-02-01",
            json!({"courseId": "IK-1", "courseType": "GENERAL", "provider": "VHS"}),
        ),
    )
    .await;
    let waiting = accepted_next(&h, &jobcenter, &person).await;
    assert_eq!(waiting["revision"], 2);
    assert!(offers(&waiting, "CourseStarted"), "{waiting}");
    assert!(!offers(&waiting, "CourseCompleted"), "{waiting}");
    assert!(offers(&waiting, "MovedAway"), "{waiting}");

    h.record(
        &jobcenter,
        "startCourse",
        "StartCourseInput",
        Harness::input(&person, "2023-03-01", json!({"courseId": "IK-1"})),
    )
    .await;
    let started = accepted_next(&h, &jobcenter, &person).await;
    assert!(offers(&started, "CourseCompleted"), "{started}");
    assert!(offers(&started, "CourseLeftEarly"), "{started}");
    assert!(!offers(&started, "CourseStarted"), "{started}");
}

#[tokio::test]
async fn who_may_not_see_the_whole_person_is_refused_and_a_bad_id_names_the_argument() {
    let h = Harness::new().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let person = h.register(&jobcenter, id()).await;
    let stranger = h.caseworker(Agency::Auslaenderbehoerde);
    let coordinator = h.token(Role::Coordinator, Some(Agency::Ehrenamt), "coordinator");
    for token in [&stranger, &coordinator] {
        let error = h
            .fails(Some(token), NEXT, json!({"id": person}), "FORBIDDEN")
            .await;
        assert!(!error.to_string().contains(&person[7..]), "{error}");
    }
    let error = h
        .fails(
            Some(&jobcenter),
            NEXT,
            json!({"id": "not-a-person"}),
            "VALIDATION",
        )
        .await;
    assert!(error.to_string().contains("personId"), "{error}");
}
