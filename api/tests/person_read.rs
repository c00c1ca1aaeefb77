//! The two read paths of `person` agree: visibility and revision decided on the projections'
//! journal (the fast path, when the projections hold every committed event of the person) and on
//! the ledger's decoded timeline (taken for `knownAt`, for erased persons and while the projections
//! lag). `knownAt` far in the future cuts nothing, so `person(id)` and
//! `person(id, knownAt: <future>)` must give the same answer, through the two paths.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use journey_core::envelope::PersonId;
use journey_core::synth::{self, SynthConfig};
use serde_json::{json, Value};
use support::Harness;
use uuid::Uuid;

const QUERY: &str = "query($id: ID!, $knownAt: DateTime) { person(id: $id, knownAt: $knownAt) { id revision erased timeline { eventId revision status type } consents { consentId active recipients } } }";
const FUTURE: &str = "2999-01-01T00:00:00Z";

/// `person` reads so far: (decided on the projections, decided on the ledger).
fn reads(h: &Harness) -> (u64, u64) {
    let text = h.state.metrics.render();
    let count = |source: &str| {
        let prefix = format!("journey_person_reads_total{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in the metrics"))
    };
    (count("projections"), count("ledger"))
}

/// The answer of `person(id)` and of `person(id, knownAt: <future>)`, errors included (with their
/// messages: they must agree too).
async fn both(h: &Harness, token: &str, person: &str) -> (Value, Value) {
    let (_, fast) = h
        .post(Some(token), QUERY, json!({"id": person, "knownAt": null}))
        .await;
    let (_, ledger) = h
        .post(Some(token), QUERY, json!({"id": person, "knownAt": FUTURE}))
        .await;
    (fast, ledger)
}

fn code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// A person with consents (one withdrawn), a referral and its retraction, a counselling contact and
/// a mentor: the facts visibility folds, including a correction history.
async fn scripted_person(h: &Harness, jobcenter: &str) -> String {
    let person = h.register(jobcenter, Uuid::new_v4()).await;
    let record =
        |field: &'static str, input_type: &'static str, on: &'static str, fields: Value| {
            let input = Harness::input(&person, on, fields);
            async move { h.record(jobcenter, field, input_type, input).await }
        };
    record("giveConsent", "GiveConsentInput", "2023-02-01", json!({"consentId": "c-1", "recipients": ["JUGENDAMT", "EHRENAMT"], "purpose": "Kita", "formVersion": "1"})).await;
    record("giveConsent", "GiveConsentInput", "2023-02-02", json!({"consentId": "c-2", "recipients": ["SOZIALARBEIT"], "purpose": "Beratung", "formVersion": "1"})).await;
    record(
        "withdrawConsent",
        "WithdrawConsentInput",
        "2023-03-01",
        json!({"consentId": "c-2"}),
    )
    .await;
    let referral = record(
        "makeReferral",
        "MakeReferralInput",
        "2023-03-02",
        json!({"toAgency": "BILDUNGSBUERO", "topic": "LANGUAGE"}),
    )
    .await;
    record(
        "makeReferral",
        "MakeReferralInput",
        "2023-03-03",
        json!({"toAgency": "ARBEITSAGENTUR", "topic": "LANGUAGE"}),
    )
    .await;
    record(
        "retractEvent",
        "RetractEventInput",
        "2023-03-04",
        json!({"targetEventId": referral["eventId"], "reason": "wrong agency"}),
    )
    .await;
    record(
        "assignMentor",
        "AssignMentorInput",
        "2023-03-05",
        json!({"mentorId": "m-1"}),
    )
    .await;
    person
}

#[tokio::test]
async fn the_projections_and_the_ledger_give_the_same_person_answers_for_every_role() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let mut persons = vec![scripted_person(&h, &jobcenter).await];
    // A person with a withdrawn consent only, and an erased person (always the ledger path).
    let jugendamt = h.caseworker(Agency::Jugendamt);
    let withdrawn = h.register(&jugendamt, Uuid::new_v4()).await;
    h.record(&jugendamt, "giveConsent", "GiveConsentInput", Harness::input(&withdrawn, "2023-02-01", json!({"consentId": "c-9", "recipients": ["JOBCENTER"], "purpose": "Arbeit", "formVersion": "1"}))).await;
    h.record(
        &jugendamt,
        "withdrawConsent",
        "WithdrawConsentInput",
        Harness::input(&withdrawn, "2023-02-02", json!({"consentId": "c-9"})),
    )
    .await;
    persons.push(withdrawn);
    let erased = h.register(&jobcenter, Uuid::new_v4()).await;
    h.record(
        &jobcenter,
        "erasePerson",
        "ErasePersonInput",
        Harness::input(&erased, "2023-02-03", json!({"reason": "ART17_REQUEST"})),
    )
    .await;
    // A synthetic population: realistic histories with corrections, retractions, referrals and
    // plans recorded by many agencies.
    let config = SynthConfig::new(40, 11, h.context.ledger.clock().today());
    synth::seed(&h.context.ledger, &config, |_| {})
        .await
        .expect("seed");
    h.caught_up().await;
    let synthetic: Vec<PersonId> = h
        .state
        .projections
        .as_ref()
        .expect("projections")
        .read(|state| state.journals.keys().copied().collect());
    persons.extend(synthetic.iter().map(ToString::to_string));
    persons.sort();
    persons.dedup();
    persons.retain(|person| *person != erased);
    assert!(persons.len() > 40, "{}", persons.len());

    let mut tokens = vec![
        h.token(Role::Admin, None, "admin"),
        h.token(Role::Coordinator, None, "coordinator"),
        h.token(Role::Analyst, None, "analyst"),
    ];
    tokens.extend(
        Agency::ALL
            .iter()
            .map(|agency| h.token(Role::Caseworker, Some(*agency), &format!("reader-{agency}"))),
    );

    let before = reads(&h);
    let mut answered = 0u64;
    let mut refused = 0u64;
    for person in persons
        .iter()
        .chain([&erased, &format!("person-{}", Uuid::new_v4())])
    {
        for token in &tokens {
            let (fast, ledger) = both(&h, token, person).await;
            assert_eq!(fast, ledger, "{person}");
            match code(&fast) {
                None => answered += 1,
                Some("FORBIDDEN" | "NOT_FOUND") => refused += 1,
                Some(other) => panic!("unexpected {other}: {fast}"),
            }
        }
    }
    assert!(answered > 100 && refused > 100, "{answered} {refused}");
    // Every read but the analysts' (refused before anything is read) took one path; without
    // `knownAt` only the erased person's went to the ledger.
    let after = reads(&h);
    let per_path = (persons.len() as u64 + 2) * (tokens.len() as u64 - 1);
    let erased_reads = tokens.len() as u64 - 1;
    assert_eq!(after.0 - before.0, per_path - erased_reads);
    assert_eq!(after.1 - before.1, per_path + erased_reads);
}

#[tokio::test]
async fn a_consent_given_or_withdrawn_is_reflected_by_the_next_read_while_the_projections_lag() {
    let h = Harness::with_projections().await;
    let projections = h.state.projections.as_ref().expect("projections");
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let jugendamt = h.caseworker(Agency::Jugendamt);
    let person = h.register(&jobcenter, Uuid::new_v4()).await;
    let other = h.register(&jobcenter, Uuid::new_v4()).await;
    h.caught_up().await;
    let query = "query($id: ID!) { person(id: $id) { id revision } }";

    let start = reads(&h);
    h.fails(Some(&jugendamt), query, json!({"id": person}), "FORBIDDEN")
        .await;
    assert_eq!(reads(&h), (start.0 + 1, start.1), "caught up: projections");

    // The projections stop applying: the consent is committed, but not in the journal yet.
    let paused = projections.pause().await;
    let consent = Harness::input(
        &person,
        "2023-02-01",
        json!({"consentId": "c-1", "recipients": ["JUGENDAMT"], "purpose": "Kita", "formVersion": "1"}),
    );
    let receipt = h
        .record(&jobcenter, "giveConsent", "GiveConsentInput", consent)
        .await;
    let data = h.ok(&jugendamt, query, json!({"id": person})).await;
    assert_eq!(data["person"]["revision"], receipt["revision"]);
    assert_eq!(reads(&h), (start.0 + 1, start.1 + 1), "lagging: the ledger");
    // Another person, whose stream the journal holds through its head, is still read from the
    // projections while they lag.
    let data = h.ok(&jobcenter, query, json!({"id": other})).await;
    assert_eq!(data["person"]["revision"], 0);
    assert_eq!(reads(&h), (start.0 + 2, start.1 + 1));
    drop(paused);
    h.caught_up().await;
    let data = h.ok(&jugendamt, query, json!({"id": person})).await;
    assert_eq!(data["person"]["revision"], receipt["revision"]);
    assert_eq!(reads(&h), (start.0 + 3, start.1 + 1));

    // The withdrawal takes effect for the very next read, lagging or not.
    let paused = projections.pause().await;
    h.record(
        &jobcenter,
        "withdrawConsent",
        "WithdrawConsentInput",
        Harness::input(&person, "2023-03-01", json!({"consentId": "c-1"})),
    )
    .await;
    h.fails(Some(&jugendamt), query, json!({"id": person}), "FORBIDDEN")
        .await;
    assert_eq!(reads(&h), (start.0 + 3, start.1 + 2));
    drop(paused);
    h.caught_up().await;
    h.fails(Some(&jugendamt), query, json!({"id": person}), "FORBIDDEN")
        .await;
    assert_eq!(reads(&h), (start.0 + 4, start.1 + 2));
}
