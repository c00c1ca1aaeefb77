//! The GraphQL API over `app()` with `oneshot`: every mutation and query path, roles, errors, audit.

mod support;

use axum::http::StatusCode;
use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::{id, Harness};
use uuid::Uuid;

const PERSON_QUERY: &str = "query($id: ID!) { person(id: $id) { id revision erased timeline { type status data } consents { consentId active recipients } personalData { givenNames familyName birthDate phone address } } }";

#[tokio::test]
async fn anonymous_requests_reach_only_the_schema_and_bad_tokens_are_refused() {
    let h = Harness::new().await;
    let (status, body) = h
        .post(None, "{ __typename me { tokenId } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"data": {"__typename": "Query", "me": null}}));

    let error = h
        .fails(
            None,
            "{ person(id: \"person-0193c5a0-0000-7000-8000-000000000001\") { id } }",
            json!({}),
            "UNAUTHENTICATED",
        )
        .await;
    assert!(error["message"]
        .as_str()
        .unwrap_or_default()
        .contains("Bearer"));

    let (status, body) = h
        .post(Some("jrn_not-a-token"), "{ __typename }", json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let token = h.token(Role::Caseworker, Some(Agency::Jobcenter), "cw-17");
    let data = h.ok(&token, "{ me { name role agency } }", json!({})).await;
    assert_eq!(
        data["me"],
        json!({"name": "cw-17", "role": "CASEWORKER", "agency": "JOBCENTER"})
    );

    journey_api::auth::revoke_token(h.state.data_dir(), "cw-17", chrono::Utc::now())
        .expect("revoke");
    let (status, _) = h.post(Some(&token), "{ me { name } }", json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused at the next request"
    );
}

/// Every typed mutation of the catalogue, on one person, in an order the rules accept.
#[tokio::test]
async fn every_typed_mutation_records_its_event_and_the_timeline_shows_them() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    let p = |on: &str, fields: Value| Harness::input(&person, on, fields);
    let steps: Vec<(&str, &str, Value)> = vec![
        (
            "recordArrival",
            "RecordArrivalInput",
            p(
                "2023-01-10",
                json!({"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Lebenstedt", "entryDate": "2022-12-01"}),
            ),
        ),
        (
            "fileAsylumApplication",
            "FileAsylumApplicationInput",
            p("2023-01-12", json!({})),
        ),
        (
            "recordAsylumDecision",
            "RecordAsylumDecisionInput",
            p("2023-06-01", json!({"outcome": "REFUGEE_3"})),
        ),
        (
            "changeResidenceStatus",
            "ChangeResidenceStatusInput",
            p(
                "2023-06-10",
                json!({"status": "AUFENTHALTSERLAUBNIS", "legalBasis": "§25(2)", "validUntil": "2026-06-10", "workPermitted": true}),
            ),
        ),
        (
            "setResidenceObligation",
            "SetResidenceObligationInput",
            p("2023-06-10", json!({"until": "2026-06-10"})),
        ),
        (
            "changeAddress",
            "ChangeAddressInput",
            p(
                "2023-07-01",
                json!({"district": "Bad", "accommodation": "FLAT"}),
            ),
        ),
        (
            "issueCourseEntitlement",
            "IssueCourseEntitlementInput",
            p(
                "2023-06-15",
                json!({"kind": "ENTITLEMENT", "issuer": "BAMF"}),
            ),
        ),
        (
            "registerForCourse",
            "RegisterForCourseInput",
            p(
                "2023-07-01",
                json!({"courseId": "IK-1", "courseType": "GENERAL", "provider": "VHS"}),
            ),
        ),
        (
            "startCourse",
            "StartCourseInput",
            p("2023-08-01", json!({"courseId": "IK-1"})),
        ),
        (
            "completeCourse",
            "CompleteCourseInput",
            p("2024-02-01", json!({"courseId": "IK-1"})),
        ),
        (
            "registerForCourse",
            "RegisterForCourseInput",
            p(
                "2024-02-10",
                json!({"courseId": "BSK-2", "courseType": "JOB_B2", "provider": "VHS"}),
            ),
        ),
        (
            "startCourse",
            "StartCourseInput",
            p("2024-03-01", json!({"courseId": "BSK-2"})),
        ),
        (
            "leaveCourseEarly",
            "LeaveCourseEarlyInput",
            p(
                "2024-04-01",
                json!({"courseId": "BSK-2", "reason": "EMPLOYMENT"}),
            ),
        ),
        (
            "recordLanguageTest",
            "RecordLanguageTestInput",
            p(
                "2024-02-05",
                json!({"exam": "DTZ", "level": "B1", "firstAttempt": true}),
            ),
        ),
        (
            "recordOrientationTest",
            "RecordOrientationTestInput",
            p("2024-02-06", json!({"passed": true})),
        ),
        (
            "requestKitaPlace",
            "RequestKitaPlaceInput",
            p("2023-07-01", json!({})),
        ),
        ("startKita", "StartKitaInput", p("2023-09-01", json!({}))),
        ("endKita", "EndKitaInput", p("2024-07-31", json!({}))),
        (
            "enrolInSchool",
            "EnrolInSchoolInput",
            p(
                "2023-08-15",
                json!({"schoolType": "VOCATIONAL", "languageClass": true}),
            ),
        ),
        (
            "moveToRegularClass",
            "MoveToRegularClassInput",
            p("2024-01-15", json!({})),
        ),
        (
            "leaveSchool",
            "LeaveSchoolInput",
            p("2024-07-01", json!({"certificate": "NONE"})),
        ),
        (
            "startBenefits",
            "StartBenefitsInput",
            p("2023-06-15", json!({"kind": "SGB2"})),
        ),
        (
            "endBenefits",
            "EndBenefitsInput",
            p("2024-05-01", json!({"kind": "SGB2"})),
        ),
        (
            "agreeCooperationPlan",
            "AgreeCooperationPlanInput",
            p("2023-07-01", json!({"agency": "JOBCENTER"})),
        ),
        (
            "startMeasure",
            "StartMeasureInput",
            p(
                "2024-01-01",
                json!({"measureId": "M-1", "measureType": "ACTIVATION"}),
            ),
        ),
        (
            "endMeasure",
            "EndMeasureInput",
            p(
                "2024-03-01",
                json!({"measureId": "M-1", "outcome": "COMPLETED"}),
            ),
        ),
        (
            "applyForRecognition",
            "ApplyForRecognitionInput",
            p(
                "2024-01-10",
                json!({"occupationCode": "26212", "regulated": true}),
            ),
        ),
        (
            "decideRecognition",
            "DecideRecognitionInput",
            p("2024-04-10", json!({"outcome": "FULL"})),
        ),
        (
            "startTraining",
            "StartTrainingInput",
            p(
                "2024-05-01",
                json!({"trainingId": "T-1", "occupationCode": "26212"}),
            ),
        ),
        (
            "endTraining",
            "EndTrainingInput",
            p(
                "2024-06-01",
                json!({"trainingId": "T-1", "outcome": "ABORTED"}),
            ),
        ),
        (
            "liftResidenceObligation",
            "LiftResidenceObligationInput",
            p("2024-04-16", json!({"reason": "EMPLOYMENT"})),
        ),
        (
            "startEmployment",
            "StartEmploymentInput",
            p(
                "2024-04-15",
                json!({"employmentId": "E-1", "kind": "SOCIAL_INSURANCE_FULL", "occupationCode": "26212", "weeklyHours": 38}),
            ),
        ),
        (
            "endEmployment",
            "EndEmploymentInput",
            p("2024-09-30", json!({"employmentId": "E-1"})),
        ),
        (
            "recordCounsellingContact",
            "RecordCounsellingContactInput",
            p(
                "2024-01-05",
                json!({"agency": "JOBCENTER", "topic": "WORK"}),
            ),
        ),
        (
            "makeReferral",
            "MakeReferralInput",
            p(
                "2024-01-05",
                json!({"toAgency": "BILDUNGSBUERO", "topic": "LANGUAGE"}),
            ),
        ),
        (
            "assignMentor",
            "AssignMentorInput",
            p("2023-08-01", json!({"mentorId": "vol-1"})),
        ),
        (
            "endMentoring",
            "EndMentoringInput",
            p("2024-08-01", json!({"mentorId": "vol-1"})),
        ),
        (
            "completeChecklistItem",
            "CompleteChecklistItemInput",
            p("2023-01-15", json!({"item": "START_FOLDER"})),
        ),
        (
            "giveConsent",
            "GiveConsentInput",
            p(
                "2024-01-01",
                json!({"consentId": "c-1", "recipients": ["JUGENDAMT", "KOMMUNE"], "purpose": "family support", "formVersion": "2024-1"}),
            ),
        ),
        (
            "withdrawConsent",
            "WithdrawConsentInput",
            p("2024-06-01", json!({"consentId": "c-1"})),
        ),
    ];
    let mut revision = 0;
    let mut ids = Vec::new();
    for (field, input_type, input) in &steps {
        let receipt = h.record(&cw, field, input_type, input.clone()).await;
        revision += 1;
        assert_eq!(receipt["revision"], revision, "{field}: {receipt}");
        assert_eq!(receipt["alreadyRecorded"], false, "{field}");
        ids.push(input["eventId"].as_str().expect("id").to_owned());
    }
    // The address change (index 5) is corrected, the checklist item (index 37) retracted.
    let corrected = &ids[5];
    let retracted = &ids[37];
    h.record(&cw, "correctEvent", "CorrectEventInput", p("2024-10-01", json!({
        "targetEventId": corrected,
        "replacement": {"type": "AddressChanged", "occurredOn": "2023-07-02", "data": {"district": "Thiede", "accommodation": "flat"}},
        "reason": "wrong district"
    }))).await;
    h.record(
        &cw,
        "retractEvent",
        "RetractEventInput",
        p(
            "2024-10-01",
            json!({"targetEventId": retracted, "reason": "entered twice"}),
        ),
    )
    .await;
    h.record(
        &cw,
        "recordMoveAway",
        "RecordMoveAwayInput",
        p("2024-10-02", json!({"destination": "ABROAD"})),
    )
    .await;

    let data = h.ok(&cw, PERSON_QUERY, json!({"id": person})).await;
    let timeline = data["person"]["timeline"].as_array().expect("timeline");
    assert_eq!(timeline.len(), steps.len() + 4);
    assert_eq!(timeline[0]["type"], "PersonRegistered");
    assert_eq!(timeline[3]["data"], json!({"outcome": "refugee_3"}));
    assert_eq!(timeline[6]["status"], "CORRECTED");
    assert_eq!(timeline[38]["status"], "RETRACTED");
    assert_eq!(timeline[41]["type"], "EventCorrected");
    assert_eq!(timeline[41]["status"], "GOVERNANCE");
    assert_eq!(timeline[32]["data"]["weekly_hours"], 38);
    assert_eq!(data["person"]["revision"], steps.len() + 3);
    assert_eq!(
        data["person"]["consents"],
        json!([{"consentId": "c-1", "active": false, "recipients": ["JUGENDAMT", "KOMMUNE"]}])
    );
    assert_eq!(
        data["person"]["personalData"]["familyName"],
        "Haddad-Testfall"
    );
    assert_eq!(data["person"]["personalData"]["birthDate"], "1990-04-01");

    // Erasure: the events stay, their payloads and the vault entry are gone.
    let receipt = h
        .record(
            &cw,
            "erasePerson",
            "ErasePersonInput",
            p("2024-10-03", json!({"reason": "ART17_REQUEST"})),
        )
        .await;
    assert_eq!(receipt["revision"], steps.len() + 4);
    let data = h.ok(&cw, PERSON_QUERY, json!({"id": person})).await;
    assert_eq!(data["person"]["erased"], true);
    assert_eq!(data["person"]["personalData"], Value::Null);
    let timeline = data["person"]["timeline"].as_array().expect("timeline");
    assert!(timeline[..timeline.len() - 1]
        .iter()
        .all(|event| event["data"].is_null()));
    assert!(!data.to_string().contains("Haddad"));
}

#[tokio::test]
async fn a_retried_mutation_returns_the_original_receipt_and_writes_nothing() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    let input = Harness::input(
        &person,
        "2023-02-01",
        json!({"agency": "JOBCENTER", "topic": "LANGUAGE"}),
    );
    let first = h
        .record(
            &cw,
            "recordCounsellingContact",
            "RecordCounsellingContactInput",
            input.clone(),
        )
        .await;
    let retry = h
        .record(
            &cw,
            "recordCounsellingContact",
            "RecordCounsellingContactInput",
            input.clone(),
        )
        .await;
    assert_eq!(first["alreadyRecorded"], false);
    assert_eq!(retry["alreadyRecorded"], true);
    assert_eq!(retry["position"], first["position"]);
    assert_eq!(retry["revision"], first["revision"]);
    assert_eq!(h.timeline(&cw, &person).await.len(), 2);

    // The same id with other content is a conflict naming the field.
    let mut changed = input.clone();
    changed["topic"] = json!("WORK");
    let error = h
        .record_fails(
            &cw,
            "recordCounsellingContact",
            "RecordCounsellingContactInput",
            changed,
            "CONFLICT",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.eventId");

    // A registration without personId derives it from the event id, so its retry is idempotent too.
    let registration = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": 1985, "sex": "MALE", "nationality": "AFG", "languages": ["fa"]});
    let one = h
        .record(
            &cw,
            "registerPerson",
            "RegisterPersonInput",
            registration.clone(),
        )
        .await;
    let two = h
        .record(&cw, "registerPerson", "RegisterPersonInput", registration)
        .await;
    assert_eq!(one["personId"], two["personId"]);
    assert_eq!(two["alreadyRecorded"], true);
}

/// Registries often know no birth year for a refugee: `birthYear: "unknown"` registers the person
/// with the year recorded as unknown (never as a guessed year), a year still works as before, and
/// anything else is refused with a message that says what to give.
#[tokio::test]
async fn a_registration_takes_an_unknown_birth_year() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let registration = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": "unknown", "sex": "FEMALE", "nationality": "unknown", "languages": ["ar"]});
    let recorded = h
        .record(&cw, "registerPerson", "RegisterPersonInput", registration)
        .await;
    let person = recorded["personId"].as_str().expect("a person id");
    let timeline = h.timeline(&cw, person).await;
    assert_eq!(timeline[0]["type"], "PersonRegistered");
    assert_eq!(timeline[0]["data"]["birth_year"], "unknown");
    // Nothing before a birth year to check against: an early arrival is accepted.
    h.record(
        &cw,
        "recordArrival",
        "RecordArrivalInput",
        Harness::input(
            person,
            "1999-05-01",
            json!({"origin": "ABROAD", "accommodation": "FLAT", "district": "Lebenstedt"}),
        ),
    )
    .await;

    let known = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": 1985, "sex": "MALE", "nationality": "AFG", "languages": []});
    let recorded = h
        .record(&cw, "registerPerson", "RegisterPersonInput", known)
        .await;
    let timeline = h
        .timeline(&cw, recorded["personId"].as_str().expect("a person id"))
        .await;
    assert_eq!(timeline[0]["data"]["birth_year"], 1985);

    let query =
        "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { personId } }";
    for wrong in [json!("Unknown"), json!("1985"), json!(1985.5)] {
        let input = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": wrong, "sex": "MALE", "nationality": "AFG", "languages": []});
        let (_, body) = h.post(Some(&cw), query, json!({"input": input})).await;
        let text = body.to_string();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "VALIDATION",
            "{text}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("BirthYear") && message.contains("\"unknown\""),
            "{wrong}: the message names the field and what to give: {text}"
        );
        assert!(body["data"].is_null(), "{wrong} was registered: {text}");
    }
}

#[tokio::test]
async fn a_stale_expected_revision_is_a_conflict_with_the_current_revision() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    let mut input = Harness::input(
        &person,
        "2023-02-01",
        json!({"origin": "ABROAD", "accommodation": "FLAT", "district": "Lebenstedt"}),
    );
    input["expectedRevision"] = json!(0);
    h.record(&cw, "recordArrival", "RecordArrivalInput", input)
        .await;
    let mut stale = Harness::input(&person, "2023-02-02", json!({"item": "HEALTH_CHECK"}));
    stale["expectedRevision"] = json!(0);
    let error = h
        .record_fails(
            &cw,
            "completeChecklistItem",
            "CompleteChecklistItemInput",
            stale,
            "CONFLICT",
        )
        .await;
    assert_eq!(error["extensions"]["currentRevision"], 1);
    assert_eq!(error["extensions"]["expectedRevision"], 0);
    // Registering an existing person again is refused too (the stream exists).
    let again = json!({"personId": person, "eventId": id(), "occurredOn": "2023-01-01", "birthYear": 1985, "sex": "MALE", "nationality": "AFG", "languages": []});
    let error = h
        .record_fails(
            &cw,
            "registerPerson",
            "RegisterPersonInput",
            again,
            "CONFLICT",
        )
        .await;
    assert_eq!(error["extensions"]["currentRevision"], 1);
}

#[tokio::test]
async fn input_problems_name_the_field_and_the_rule() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let bad_nationality = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": 1985, "sex": "MALE", "nationality": "Syria", "languages": ["ar", "Kurdish"]});
    let error = h
        .record_fails(
            &cw,
            "registerPerson",
            "RegisterPersonInput",
            bad_nationality,
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.nationality");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("SYR"),
        "says what to fix: {error}"
    );

    let bad_language = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": 1985, "sex": "MALE", "nationality": "SYR", "languages": ["ar", "Kurdish"]});
    let error = h
        .record_fails(
            &cw,
            "registerPerson",
            "RegisterPersonInput",
            bad_language,
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.languages[1]");

    let bad_vault = json!({"eventId": id(), "occurredOn": "2023-01-01", "birthYear": 1985, "sex": "MALE", "nationality": "SYR", "languages": [], "personalData": {"givenNames": "A", "familyName": "  "}});
    let error = h
        .record_fails(
            &cw,
            "registerPerson",
            "RegisterPersonInput",
            bad_vault,
            "VALIDATION",
        )
        .await;
    assert_eq!(
        error["extensions"]["field"],
        "input.personalData.familyName"
    );

    let person = h.register(&cw, Uuid::new_v4()).await;
    let error = h
        .record_fails(
            &cw,
            "startCourse",
            "StartCourseInput",
            Harness::input(&person, "2023-03-01", json!({"courseId": "IK-9"})),
            "RULE_VIOLATION",
        )
        .await;
    assert_eq!(
        error["extensions"]["rule"],
        "course_registered_before_start"
    );
    assert_eq!(error["extensions"]["field"], "input.courseId");

    let error = h
        .record_fails(
            &cw,
            "completeChecklistItem",
            "CompleteChecklistItemInput",
            Harness::input(&person, "2999-01-01", json!({"item": "OTHER"})),
            "RULE_VIOLATION",
        )
        .await;
    assert_eq!(error["extensions"]["rule"], "occurred_on_not_in_future");
    assert_eq!(error["extensions"]["field"], "input.occurredOn");

    let error = h
        .record_fails(
            &cw,
            "startCourse",
            "StartCourseInput",
            Harness::input("person-42", "2023-03-01", json!({"courseId": "IK-9"})),
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "input.personId");

    // Unknown enum values and malformed dates never reach a resolver.
    let error = h
        .record_fails(
            &cw,
            "recordLanguageTest",
            "RecordLanguageTestInput",
            Harness::input(
                &person,
                "2023-03-01",
                json!({"exam": "TOEFL", "level": "B1", "firstAttempt": true}),
            ),
            "VALIDATION",
        )
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("TOEFL"),
        "{error}"
    );
    h.record_fails(
        &cw,
        "startCourse",
        "StartCourseInput",
        Harness::input(&person, "2023-13-01", json!({"courseId": "IK-9"})),
        "VALIDATION",
    )
    .await;

    // Nothing of it was written.
    assert_eq!(h.timeline(&cw, &person).await.len(), 1);

    let error = h
        .fails(
            Some(&cw),
            PERSON_QUERY,
            json!({"id": Uuid::new_v4().to_string()}),
            "NOT_FOUND",
        )
        .await;
    assert!(error["message"]
        .as_str()
        .unwrap_or_default()
        .contains("not in the ledger"));
}

#[tokio::test]
async fn append_events_writes_a_batch_all_or_nothing_and_names_the_bad_event() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Arbeitsagentur);
    let person = format!("person-{}", Uuid::new_v4());
    let mutation = "mutation($person: ID!, $expected: Int, $events: [EventInput!]!) { appendEvents(personId: $person, expectedRevision: $expected, events: $events) { personId revision firstPosition lastPosition written alreadyRecorded } }";
    let batch = json!([
        {"eventId": id(), "type": "PersonRegistered", "occurredOn": "2023-01-10", "data": {"birth_year": 1990, "sex": "male", "nationality": "IRQ", "languages": ["ar"]}},
        {"eventId": id(), "type": "ArrivalRecorded", "occurredOn": "2023-01-10", "data": {"origin": "abroad", "accommodation": "shared", "district": "Fredenberg"}},
        {"eventId": id(), "type": "EmploymentStarted", "version": 1, "occurredOn": "2023-05-01", "data": {"employment_id": "E-7", "kind": "marginal"}}
    ]);
    let data = h
        .ok(&cw, mutation, json!({"person": person, "events": batch}))
        .await;
    assert_eq!(data["appendEvents"]["revision"], 2);
    assert_eq!(data["appendEvents"]["written"], 3);
    let retry = h
        .ok(&cw, mutation, json!({"person": person, "events": batch}))
        .await;
    assert_eq!(retry["appendEvents"]["alreadyRecorded"], 3);
    assert_eq!(retry["appendEvents"]["written"], 0);

    let bad = json!([
        {"eventId": id(), "type": "CourseRegistered", "occurredOn": "2023-06-01", "data": {"course_id": "IK-1", "course_type": "general", "provider": "VHS"}},
        {"eventId": id(), "type": "CourseStarted", "occurredOn": "2023-07-01", "data": {"course_id": "IK-1"}},
        {"eventId": id(), "type": "CourseCompleted", "occurredOn": "2023-08-01", "data": {"course": "IK-1"}}
    ]);
    let error = h
        .fails(
            Some(&cw),
            mutation,
            json!({"person": person, "events": bad}),
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["eventIndex"], 2);
    assert!(
        error["extensions"]["field"]
            .as_str()
            .unwrap_or_default()
            .starts_with("events[2].data"),
        "{error}"
    );

    let rule = json!([
        {"eventId": id(), "type": "CourseStarted", "occurredOn": "2023-07-01", "data": {"course_id": "IK-2"}}
    ]);
    let error = h
        .fails(
            Some(&cw),
            mutation,
            json!({"person": person, "events": rule}),
            "RULE_VIOLATION",
        )
        .await;
    assert_eq!(error["extensions"]["eventIndex"], 0);
    assert_eq!(error["extensions"]["field"], "events[0].data.course_id");

    let stale = json!([{"eventId": id(), "type": "KitaPlaceRequested", "occurredOn": "2023-07-01", "data": {}}]);
    let error = h
        .fails(
            Some(&cw),
            mutation,
            json!({"person": person, "expected": 0, "events": stale}),
            "CONFLICT",
        )
        .await;
    assert_eq!(error["extensions"]["currentRevision"], 2);

    let timeline = h.timeline(&cw, &person).await;
    assert_eq!(
        timeline.len(),
        3,
        "nothing of the refused batches was written"
    );
    assert_eq!(
        timeline[2]["data"],
        json!({"employment_id": "E-7", "kind": "marginal"}),
        "stored as sent (v1)"
    );
}

#[tokio::test]
async fn a_caseworker_sees_only_whom_their_agency_works_with_or_holds_an_active_consent_for() {
    let h = Harness::new().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let jugendamt = h.caseworker(Agency::Jugendamt);
    let bildung = h.caseworker(Agency::Bildungsbuero);
    let person = h.register(&jobcenter, Uuid::new_v4()).await;

    h.fails(
        Some(&jugendamt),
        PERSON_QUERY,
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;
    h.record_fails(
        &jugendamt,
        "requestKitaPlace",
        "RequestKitaPlaceInput",
        Harness::input(&person, "2023-02-01", json!({})),
        "FORBIDDEN",
    )
    .await;

    h.record(&jobcenter, "giveConsent", "GiveConsentInput", Harness::input(&person, "2023-02-01", json!({"consentId": "c-7", "recipients": ["JUGENDAMT"], "purpose": "Kita", "formVersion": "1"}))).await;
    let data = h.ok(&jugendamt, PERSON_QUERY, json!({"id": person})).await;
    assert_eq!(data["person"]["personalData"]["givenNames"], "Amina");

    h.record(
        &jobcenter,
        "withdrawConsent",
        "WithdrawConsentInput",
        Harness::input(&person, "2023-03-01", json!({"consentId": "c-7"})),
    )
    .await;
    h.fails(
        Some(&jugendamt),
        PERSON_QUERY,
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;

    // A referral makes the named agency one that works with the person.
    h.fails(
        Some(&bildung),
        PERSON_QUERY,
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;
    h.record(
        &jobcenter,
        "makeReferral",
        "MakeReferralInput",
        Harness::input(
            &person,
            "2023-03-02",
            json!({"toAgency": "BILDUNGSBUERO", "topic": "LANGUAGE"}),
        ),
    )
    .await;
    h.ok(&bildung, PERSON_QUERY, json!({"id": person})).await;

    // Erasure is for agencies that work with the person, not for consent holders.
    h.record(&jobcenter, "giveConsent", "GiveConsentInput", Harness::input(&person, "2023-04-01", json!({"consentId": "c-8", "recipients": ["JUGENDAMT"], "purpose": "Kita", "formVersion": "1"}))).await;
    h.record_fails(
        &jugendamt,
        "erasePerson",
        "ErasePersonInput",
        Harness::input(&person, "2023-04-02", json!({"reason": "ART17_REQUEST"})),
        "FORBIDDEN",
    )
    .await;
}

#[tokio::test]
async fn known_at_cuts_the_timeline_at_a_transaction_time() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    h.record(
        &cw,
        "recordArrival",
        "RecordArrivalInput",
        Harness::input(
            &person,
            "2023-01-10",
            json!({"origin": "ABROAD", "accommodation": "FLAT", "district": "Bad"}),
        ),
    )
    .await;
    let data = h
        .ok(
            &cw,
            "query($id: ID!) { person(id: $id) { timeline { recordedAt } } }",
            json!({"id": person}),
        )
        .await;
    let first_recorded = data["person"]["timeline"][0]["recordedAt"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    h.record(
        &cw,
        "completeChecklistItem",
        "CompleteChecklistItemInput",
        Harness::input(&person, "2023-01-11", json!({"item": "HEALTH_CHECK"})),
    )
    .await;
    let data = h
        .ok(&cw, "query($id: ID!, $at: DateTime) { person(id: $id, knownAt: $at) { revision timeline { type } } }", json!({"id": person, "at": first_recorded}))
        .await;
    let types: Vec<&str> = data["person"]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    assert!(
        types.len() < 3 && types[0] == "PersonRegistered",
        "{types:?}"
    );
    assert_eq!(data["person"]["revision"], types.len() - 1);
    h.fails(
        Some(&cw),
        "query($id: ID!) { person(id: $id, knownAt: \"2000-01-01T00:00:00Z\") { id } }",
        json!({"id": person}),
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_coordinator_sees_and_records_mentoring_facts_only() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let coordinator = h.token(Role::Coordinator, Some(Agency::Ehrenamt), "coord-1");
    let person = h.register(&cw, Uuid::new_v4()).await;
    h.record(&cw, "giveConsent", "GiveConsentInput", Harness::input(&person, "2023-02-01", json!({"consentId": "c-1", "recipients": ["EHRENAMT"], "purpose": "mentoring", "formVersion": "1"}))).await;
    h.record(
        &coordinator,
        "assignMentor",
        "AssignMentorInput",
        Harness::input(&person, "2023-02-02", json!({"mentorId": "vol-9"})),
    )
    .await;
    h.record_fails(
        &coordinator,
        "requestKitaPlace",
        "RequestKitaPlaceInput",
        Harness::input(&person, "2023-02-02", json!({})),
        "FORBIDDEN",
    )
    .await;
    h.record_fails(
        &coordinator,
        "assignMentor",
        "AssignMentorInput",
        Harness::input(
            &format!("person-{}", Uuid::new_v4()),
            "2023-02-02",
            json!({"mentorId": "vol-9"}),
        ),
        "NOT_FOUND",
    )
    .await;

    let data = h
        .ok(
            &coordinator,
            "query($id: ID!) { person(id: $id) { id revision timeline { type data } } }",
            json!({"id": person}),
        )
        .await;
    assert_eq!(data["person"]["revision"], Value::Null);
    assert_eq!(
        data["person"]["timeline"],
        json!([{"type": "MentorAssigned", "data": {"mentor_id": "vol-9"}}])
    );
    let (_, body) = h
        .post(
            Some(&coordinator),
            "query($id: ID!) { person(id: $id) { personalData { givenNames } } }",
            json!({"id": person}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert!(!body.to_string().contains("Amina"));
    let (_, body) = h
        .post(
            Some(&coordinator),
            "query($id: ID!) { person(id: $id) { consents { purpose } } }",
            json!({"id": person}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert!(!body.to_string().contains("mentoring\""));
}

#[tokio::test]
async fn an_analyst_gets_pseudonymised_events_and_never_a_personal_field() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let analyst = h.token(Role::Analyst, None, "analyst-1");
    let person_uuid = Uuid::new_v4();
    let person = h.register(&cw, person_uuid).await;
    let secret_reason = "Frau Haddad rief an";
    h.record(&cw, "giveConsent", "GiveConsentInput", Harness::input(&person, "2023-02-01", json!({"consentId": "consent-secret-1", "recipients": ["JUGENDAMT"], "purpose": "Familienhilfe Haddad", "formVersion": "1"}))).await;
    let checklist = Harness::input(&person, "2023-02-01", json!({"item": "HEALTH_CHECK"}));
    let checklist_id = checklist["eventId"].clone();
    h.record(
        &cw,
        "completeChecklistItem",
        "CompleteChecklistItemInput",
        checklist,
    )
    .await;
    h.record(
        &cw,
        "retractEvent",
        "RetractEventInput",
        Harness::input(
            &person,
            "2023-02-02",
            json!({"targetEventId": checklist_id, "reason": secret_reason}),
        ),
    )
    .await;
    h.record(
        &cw,
        "assignMentor",
        "AssignMentorInput",
        Harness::input(&person, "2023-02-02", json!({"mentorId": "vol-secret-3"})),
    )
    .await;

    h.fails(
        Some(&analyst),
        PERSON_QUERY,
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;
    let query = "query($after: String, $first: Int) { events(after: $after, first: $first) { edges { cursor node { position person revision type occurredOn actor { pseudonym agency role } data } } pageInfo { hasNextPage endCursor } } }";
    let page = h.ok(&analyst, query, json!({"first": 3})).await;
    assert_eq!(page["events"]["pageInfo"]["hasNextPage"], true);
    let rest = h
        .ok(
            &analyst,
            query,
            json!({"after": page["events"]["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(rest["events"]["pageInfo"]["hasNextPage"], false);
    let edges: Vec<Value> = page["events"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(rest["events"]["edges"].as_array().into_iter().flatten())
        .cloned()
        .collect();
    assert_eq!(edges.len(), 5);
    let text = Value::Array(edges.clone()).to_string();
    for secret in [
        person_uuid.to_string().as_str(),
        "cw-jobcenter",
        "Haddad",
        "Amina",
        "5341",
        secret_reason,
        "vol-secret-3",
        "consent-secret-1",
        "Familienhilfe",
    ] {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked to the analyst: {text}"
        );
    }
    let pseudonym = edges[0]["node"]["person"].as_str().expect("pseudonym");
    assert!(pseudonym.starts_with("p-"));
    assert!(
        edges.iter().all(|edge| edge["node"]["person"] == pseudonym),
        "stable per person"
    );
    assert_eq!(
        edges[0]["node"]["data"],
        json!({"birth_year": 1990, "languages": ["ar", "ku"], "nationality": "SYR", "sex": "female"})
    );
    assert_eq!(edges[1]["node"]["data"]["recipients"], json!(["jugendamt"]));

    // Others do not get the feed; the page size is limited.
    h.fails(Some(&cw), query, json!({}), "FORBIDDEN").await;
    let error = h
        .fails(
            Some(&analyst),
            query,
            json!({"first": 100000}),
            "LIMIT_EXCEEDED",
        )
        .await;
    assert_eq!(error["extensions"]["limit"], "pageSizeMax");
    h.fails(
        Some(&analyst),
        query,
        json!({"after": "yesterday"}),
        "VALIDATION",
    )
    .await;
}

#[tokio::test]
async fn every_person_read_and_mutation_is_audited_in_a_chain_that_auditors_read() {
    let h = Harness::new().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let other = h.caseworker(Agency::Jugendamt);
    let auditor = h.token(Role::Auditor, None, "dpo");
    let person = h.register(&cw, Uuid::new_v4()).await;
    let (status, _) = h
        .post_with(
            Some(&cw),
            PERSON_QUERY,
            json!({"id": person}),
            &[("x-journey-reason", "Beratungstermin 12.3.")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.fails(
        Some(&other),
        PERSON_QUERY,
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;
    h.fails(
        Some(&auditor),
        PERSON_QUERY,
        json!({"id": person}),
        "FORBIDDEN",
    )
    .await;
    h.fails(
        Some(&cw),
        "{ auditLog { edges { cursor } } }",
        json!({}),
        "FORBIDDEN",
    )
    .await;

    let query = "{ auditLog(first: 50) { edges { cursor node { seq tokenName role agency operation personId reason outcome prevHash hash hashValid } } pageInfo { hasNextPage } } }";
    let data = h.ok(&auditor, query, json!({})).await;
    let entries: Vec<Value> = data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|entry| {
            (
                entry["operation"].as_str().unwrap_or_default().to_owned(),
                entry["tokenName"].as_str().unwrap_or_default().to_owned(),
                entry["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expect = |operation: &str, name: &str, outcome: &str| {
        assert!(
            summary.contains(&(operation.to_owned(), name.to_owned(), outcome.to_owned())),
            "missing {operation} by {name} ({outcome}) in {summary:?}"
        );
    };
    expect("registerPerson", "cw-jobcenter", "ok");
    expect("person", "cw-jobcenter", "ok");
    expect("person.personalData", "cw-jobcenter", "ok");
    expect("person", "cw-jugendamt", "FORBIDDEN");
    expect("person", "dpo", "FORBIDDEN");
    expect("auditLog", "cw-jobcenter", "FORBIDDEN");
    let read = entries
        .iter()
        .find(|entry| entry["operation"] == "person" && entry["outcome"] == "ok")
        .expect("read entry");
    assert_eq!(read["reason"], "Beratungstermin 12.3.");
    assert_eq!(read["personId"], person.as_str());
    assert_eq!(read["agency"], "jobcenter");
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prevHash"], pair[0]["hash"], "chained");
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|seq| seq + 1)
        );
    }
    assert!(entries.iter().all(|entry| entry["hashValid"] == true));
    let verified = h.state.audit.verify().expect("verify").expect("intact");
    assert!(verified as usize >= entries.len());

    let (status, body) = h
        .post_with(
            Some(&cw),
            "{ me { name } }",
            json!({}),
            &[("x-journey-reason", &"x".repeat(600))],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["extensions"]["field"], "X-Journey-Reason");
}

#[tokio::test]
async fn a_coordinators_mentoring_does_not_open_the_person_to_their_agency() {
    let h = Harness::with_projections().await;
    let cw = h.caseworker(Agency::Jobcenter);
    let coordinator = h.token(Role::Coordinator, Some(Agency::Ehrenamt), "coord-1");
    let ehrenamt = h.caseworker(Agency::Ehrenamt);
    let person = h.register(&cw, Uuid::new_v4()).await;
    h.record(
        &coordinator,
        "assignMentor",
        "AssignMentorInput",
        Harness::input(&person, "2023-02-02", json!({"mentorId": "vol-9"})),
    )
    .await;
    let error = h
        .fails(
            Some(&ehrenamt),
            PERSON_QUERY,
            json!({"id": person}),
            "FORBIDDEN",
        )
        .await;
    assert!(!error.to_string().contains("Amina"));
    h.record_fails(
        &ehrenamt,
        "endMentoring",
        "EndMentoringInput",
        Harness::input(&person, "2023-03-01", json!({"mentorId": "vol-9"})),
        "FORBIDDEN",
    )
    .await;
    h.caught_up().await;
    let data = h
        .ok(
            &ehrenamt,
            "{ people(filter: {includeAbsent: true}) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["people"]["edges"], json!([]));
}
