//! The projection-backed queries over `app()` with `oneshot`: person status, people, caseload,
//! course waiting list, idle list, kpi (with suppression), the catalogue and the chain funnel, for
//! each role.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::Harness;
use uuid::Uuid;

/// Registers a person with an arrival in `district`; returns the person id.
async fn arrive(h: &Harness, token: &str, district: &str) -> String {
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
    person
}

struct World {
    h: Harness,
    jobcenter: String,
    jugendamt: String,
    admin: String,
    analyst: String,
    coordinator: String,
    auditor: String,
    /// Four persons of the jobcenter in Lebenstedt.
    jobcenter_persons: Vec<String>,
    /// One person of the Jugendamt in Bad.
    jugendamt_person: String,
}

async fn world() -> World {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let jugendamt = h.caseworker(Agency::Jugendamt);
    let admin = h.token(Role::Admin, None, "admin");
    let analyst = h.token(Role::Analyst, None, "analyst");
    let coordinator = h.token(Role::Coordinator, None, "coordinator");
    let auditor = h.token(Role::Auditor, None, "auditor");
    let mut jobcenter_persons = Vec::new();
    for _ in 0..4 {
        jobcenter_persons.push(arrive(&h, &jobcenter, "Lebenstedt").await);
    }
    let jugendamt_person = arrive(&h, &jugendamt, "Bad").await;
    h.record(
        &jobcenter,
        "registerForCourse",
        "RegisterForCourseInput",
        Harness::input(
            &jobcenter_persons[0],
            "2024-03-01",
            json!({"courseId": "IK-7", "courseType": "GENERAL", "provider": "VHS"}),
        ),
    )
    .await;
    h.caught_up().await;
    World {
        h,
        jobcenter,
        jugendamt,
        admin,
        analyst,
        coordinator,
        auditor,
        jobcenter_persons,
        jugendamt_person,
    }
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item[field].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

const PEOPLE: &str = "query($first: Int, $after: String, $filter: PeopleFilter) { people(asOf: \"2024-06-01\", first: $first, after: $after, filter: $filter) { edges { cursor node { id status { stage district present } } } pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn people_lists_only_persons_visible_to_the_caseworker_and_pages_by_cursor() {
    let w = world().await;
    let data = w.h.ok(&w.jobcenter, PEOPLE, json!({})).await;
    let nodes: Vec<Value> = data["people"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert_eq!(
        ids(&Value::Array(nodes.clone()), "id"),
        sorted(w.jobcenter_persons.clone())
    );
    assert!(nodes.iter().all(|node| node["status"]
        == json!({"stage": "ARRIVAL", "district": "Lebenstedt", "present": true})));

    let data = w.h.ok(&w.jugendamt, PEOPLE, json!({})).await;
    let edges = data["people"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{data}");
    assert_eq!(edges[0]["node"]["id"], w.jugendamt_person.as_str());

    // The admin sees all five; pages of two, continued by the cursor, cover them exactly once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data =
            w.h.ok(&w.admin, PEOPLE, json!({"first": 2, "after": after}))
                .await;
        let page = &data["people"];
        for edge in page["edges"].as_array().expect("edges") {
            seen.push(edge["node"]["id"].as_str().expect("id").to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let mut all = w.jobcenter_persons.clone();
    all.push(w.jugendamt_person.clone());
    assert_eq!(sorted(seen), sorted(all));

    // Filters: district and course status.
    let data =
        w.h.ok(&w.admin, PEOPLE, json!({"filter": {"district": "Bad"}}))
            .await;
    assert_eq!(data["people"]["edges"].as_array().expect("edges").len(), 1);
    let data =
        w.h.ok(
            &w.admin,
            PEOPLE,
            json!({"filter": {"courseStatus": "WAITING"}}),
        )
        .await;
    let edges = data["people"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["id"], w.jobcenter_persons[0].as_str());

    for token in [&w.analyst, &w.coordinator, &w.auditor] {
        w.h.fails(Some(token), PEOPLE, json!({}), "FORBIDDEN").await;
    }
    w.h.fails(None, PEOPLE, json!({}), "UNAUTHENTICATED").await;
    w.h.fails(
        Some(&w.admin),
        PEOPLE,
        json!({"after": "nonsense"}),
        "VALIDATION",
    )
    .await;
}

#[tokio::test]
async fn the_idle_list_shows_a_caseworker_only_the_persons_of_their_agency() {
    let w = world().await;
    let query =
        "{ idleList(minDays: 30, asOf: \"2024-06-01\") { personId idleDays stage district } }";
    let data = w.h.ok(&w.jobcenter, query, json!({})).await;
    let list = &data["idleList"];
    // The person waiting for a course is idle too: waiting is not an activity.
    assert_eq!(ids(list, "personId"), sorted(w.jobcenter_persons.clone()));
    assert!(!ids(list, "personId").contains(&w.jugendamt_person));
    assert!(list
        .as_array()
        .expect("list")
        .iter()
        .all(|entry| entry["idleDays"].as_i64().unwrap_or(0) > 30));

    let data = w.h.ok(&w.jugendamt, query, json!({})).await;
    assert_eq!(
        ids(&data["idleList"], "personId"),
        vec![w.jugendamt_person.clone()]
    );
    let data = w.h.ok(&w.admin, query, json!({})).await;
    assert_eq!(data["idleList"].as_array().expect("list").len(), 5);
    for token in [&w.analyst, &w.coordinator, &w.auditor] {
        w.h.fails(Some(token), query, json!({}), "FORBIDDEN").await;
    }
}

#[tokio::test]
async fn caseloads_and_the_waiting_list_follow_the_agency() {
    let w = world().await;
    let query = "{ caseload(asOf: \"2024-06-01\") { agency personCount persons caseworkers { caseworkerId personCount } } }";
    let data = w.h.ok(&w.jobcenter, query, json!({})).await;
    let loads = data["caseload"].as_array().expect("caseloads");
    assert_eq!(loads.len(), 1, "{data}");
    assert_eq!(loads[0]["agency"], "JOBCENTER");
    assert_eq!(loads[0]["personCount"], 4);
    assert_eq!(loads[0]["caseworkers"].as_array().expect("cw").len(), 1);
    let data = w.h.ok(&w.admin, query, json!({})).await;
    let agencies: Vec<&Value> = data["caseload"]
        .as_array()
        .expect("caseloads")
        .iter()
        .map(|load| &load["agency"])
        .collect();
    assert_eq!(agencies, vec!["JOBCENTER", "JUGENDAMT"]);
    w.h.fails(Some(&w.analyst), query, json!({}), "FORBIDDEN")
        .await;

    let query =
        "{ courseWaitingList(asOf: \"2024-06-01\") { personId courseId courseType daysWaiting } }";
    let data = w.h.ok(&w.jobcenter, query, json!({})).await;
    assert_eq!(
        data["courseWaitingList"],
        json!([{"personId": w.jobcenter_persons[0], "courseId": "IK-7", "courseType": "GENERAL", "daysWaiting": 92}])
    );
    let data = w.h.ok(&w.jugendamt, query, json!({})).await;
    assert_eq!(data["courseWaitingList"], json!([]));
    w.h.fails(Some(&w.coordinator), query, json!({}), "FORBIDDEN")
        .await;
}

#[tokio::test]
async fn person_status_comes_from_the_projections_and_is_audited() {
    let w = world().await;
    let query = "query($id: ID!) { person(id: $id) { status(asOf: \"2024-06-01\") { stage present district courseStatus agencies openActivities { kind } } } }";
    let data =
        w.h.ok(&w.jobcenter, query, json!({"id": w.jobcenter_persons[0]}))
            .await;
    assert_eq!(
        data["person"]["status"],
        json!({"stage": "ARRIVAL", "present": true, "district": "Lebenstedt", "courseStatus": "WAITING", "agencies": ["JOBCENTER"], "openActivities": []})
    );
    // Before the arrival the person is registered but not present.
    let data = w
        .h
        .ok(
            &w.admin,
            "query($id: ID!) { person(id: $id) { status(asOf: \"2023-01-09\") { stage present } } }",
            json!({"id": w.jobcenter_persons[0]}),
        )
        .await;
    assert_eq!(
        data["person"]["status"],
        json!({"stage": "REGISTERED", "present": false})
    );
    w.h.fails(
        Some(&w.jugendamt),
        query,
        json!({"id": w.jobcenter_persons[0]}),
        "FORBIDDEN",
    )
    .await;
    w.h.fails(
        Some(&w.coordinator),
        query,
        json!({"id": w.jobcenter_persons[0]}),
        "FORBIDDEN",
    )
    .await;

    let data =
        w.h.ok(
            &w.auditor,
            "{ auditLog(first: 1000) { edges { node { operation outcome query } } } }",
            json!({}),
        )
        .await;
    // A status served is audited as part of the `person` read, whose entry names the field and its
    // arguments; a refused one gets its own `person.status` entry.
    let person_reads: Vec<String> = data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|edge| edge["node"]["operation"] == "person" && edge["node"]["outcome"] == "ok")
        .map(|edge| edge["node"]["query"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        person_reads
            .iter()
            .any(|query| query.contains("status(asOf: \"2024-06-01\")")),
        "{person_reads:?}"
    );
    let operations: Vec<(String, String)> = data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            (
                edge["node"]["operation"].as_str().unwrap_or("").to_owned(),
                edge["node"]["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(!operations.contains(&("person.status".into(), "ok".into())));
    assert!(operations.contains(&("person.status".into(), "FORBIDDEN".into())));
}

const KPI: &str = "query($key: String!, $by: [Dimension!]) { kpi(key: $key, asOf: \"2024-06-01\", by: $by) { key countingUnit suppressionK cells { dimensions { dimension value } value numerator denominator suppressed measures { name value numerator denominator persons suppressed } } total { value suppressed } } }";

/// Every measure of every cell of a `kpi` answer.
fn measures(result: &Value) -> Vec<Value> {
    result["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .flat_map(|cell| cell["measures"].as_array().expect("measures").clone())
        .collect()
}

#[tokio::test]
async fn an_analysts_kpi_suppresses_a_share_of_none_however_many_persons_it_is_over() {
    // Given five working-age persons present, none of them employed.
    let w = world().await;
    let variables = json!({"key": "employment_rate"});
    let query = "query($key: String!) { kpi(key: $key, asOf: \"2024-06-01\") { total { measures { name value numerator denominator persons suppressed } } } }";
    let rate = |data: &Value| {
        data["kpi"]["total"]["measures"]
            .as_array()
            .expect("measures")
            .iter()
            .find(|measure| measure["name"] == "rate")
            .expect("rate")
            .clone()
    };
    // When the admin asks, then it is 0 of 5.
    let open = rate(&w.h.ok(&w.admin, query, variables.clone()).await);
    assert_eq!(
        (&open["numerator"], &open["denominator"]),
        (&json!(0), &json!(5))
    );
    // When the analyst asks, then it is suppressed: five persons are above k = 3, but "0 of 5"
    // says of each of them that they have no job.
    let suppressed = rate(&w.h.ok(&w.analyst, query, variables).await);
    assert_eq!(suppressed["suppressed"], true, "{suppressed}");
    for field in ["value", "numerator", "denominator", "persons"] {
        assert!(suppressed[field].is_null(), "{field}: {suppressed}");
    }
}

#[tokio::test]
async fn an_analysts_kpi_suppresses_small_cells_and_never_returns_a_number_for_them() {
    let w = world().await;
    let variables = json!({"key": "population_present", "by": ["DISTRICT"]});
    for token in [&w.analyst, &w.coordinator, &w.auditor, &w.jobcenter] {
        let data = w.h.ok(token, KPI, variables.clone()).await;
        let result = &data["kpi"];
        assert_eq!(result["suppressionK"], 3);
        assert_eq!(result["countingUnit"], "PERSONS");
        let all = measures(result);
        assert!(
            all.iter().any(|measure| measure["suppressed"] == true),
            "the district with one person is suppressed: {result}"
        );
        for measure in &all {
            if measure["suppressed"] == true {
                for field in ["value", "numerator", "denominator", "persons"] {
                    assert!(measure[field].is_null(), "{field} of {measure}");
                }
            } else {
                assert!(
                    measure["persons"].as_u64().expect("persons") >= 3,
                    "a cell under k is shown: {measure}"
                );
            }
        }
        for cell in result["cells"].as_array().expect("cells") {
            if cell["suppressed"] == true {
                assert!(cell["value"].is_null() && cell["numerator"].is_null());
            }
        }
    }

    // The admin sees every figure: Bad has one person, Lebenstedt four.
    let data = w.h.ok(&w.admin, KPI, variables.clone()).await;
    let result = &data["kpi"];
    assert!(result["suppressionK"].is_null());
    let by_district: Vec<(Value, Value)> = result["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|cell| {
            (
                cell["dimensions"][0]["value"].clone(),
                cell["value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        by_district,
        vec![
            (json!("Bad"), json!(1.0)),
            (json!("Lebenstedt"), json!(4.0))
        ]
    );
    assert_eq!(result["total"]["value"], json!(5.0));

    w.h.fails(None, KPI, variables, "UNAUTHENTICATED").await;
    let error =
        w.h.fails(
            Some(&w.analyst),
            KPI,
            json!({"key": "no_such_indicator"}),
            "VALIDATION",
        )
        .await;
    assert_eq!(error["extensions"]["field"], "key");
    let error =
        w.h.fails(
            Some(&w.analyst),
            KPI,
            json!({"key": "idle_list"}),
            "VALIDATION",
        )
        .await;
    assert!(error["message"]
        .as_str()
        .unwrap_or_default()
        .contains("person-level"));
}

#[tokio::test]
async fn the_catalogue_and_the_chain_funnel_answer_every_role() {
    let w = world().await;
    let data =
        w.h.ok(
            &w.analyst,
            "{ kpiCatalogue { key countingUnit personLevel implicitDimension measures { name } } }",
            json!({}),
        )
        .await;
    let catalogue = data["kpiCatalogue"].as_array().expect("catalogue");
    let funnel = catalogue
        .iter()
        .find(|definition| definition["key"] == "chain_funnel")
        .expect("chain_funnel");
    assert_eq!(funnel["implicitDimension"], "ARRIVAL_COHORT");
    assert!(catalogue
        .iter()
        .any(|definition| definition["key"] == "idle_list" && definition["personLevel"] == true));

    let query = "{ chainFunnel(cohort: 2023, asOf: \"2024-06-01\") { key cells { dimensions { dimension value } suppressed measures { name value suppressed } } } }";
    let data = w.h.ok(&w.admin, query, json!({})).await;
    let cells = data["chainFunnel"]["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1, "{data}");
    assert_eq!(
        cells[0]["dimensions"],
        json!([{"dimension": "ARRIVAL_COHORT", "value": "2023"}])
    );
    let reached = cells[0]["measures"]
        .as_array()
        .expect("measures")
        .iter()
        .find(|measure| measure["name"] == "reached_arrival")
        .expect("reached_arrival");
    assert_eq!(reached["value"], json!(1.0));
    // Five persons of the cohort: above k = 3, but a share of five has a numerator or a
    // complement below k (both at least 3 would take six), so the analyst sees the shares
    // suppressed; `reached_arrival` (every person of the cohort arrived) always is.
    let data = w.h.ok(&w.analyst, query, json!({})).await;
    assert_eq!(data["chainFunnel"]["cells"][0]["suppressed"], true);
    let measures = data["chainFunnel"]["cells"][0]["measures"]
        .as_array()
        .expect("measures");
    assert!(
        measures
            .iter()
            .filter(|measure| measure["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("reached_"))
            .all(|measure| measure["suppressed"] == true && measure["value"].is_null()),
        "{data}"
    );
    let data =
        w.h.ok(
            &w.analyst,
            "{ chainFunnel(cohort: 2019, asOf: \"2024-06-01\") { cells { suppressed } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["chainFunnel"]["cells"], json!([]));
}

/// The id and wire data of the first event of `event_type` in a person's timeline.
async fn event_of(h: &Harness, token: &str, person: &str, event_type: &str) -> (String, Value) {
    let timeline = h.timeline(token, person).await;
    let event = timeline
        .iter()
        .find(|event| event["type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type} in {timeline:?}"));
    (
        event["eventId"].as_str().expect("event id").to_owned(),
        event["data"].clone(),
    )
}

/// DOMAIN.md section 4: a correction recorded later changes an answer only for cuts at or after it.
/// Every list takes `knownAt`: the cut before the corrections gives the answer given before them,
/// the cut after gives today's.
#[tokio::test]
async fn the_lists_take_known_at_and_a_later_correction_changes_only_later_cuts() {
    let w = world().await;
    let lists = [
        "query($knownAt: DateTime) { caseload(asOf: \"2024-06-01\", knownAt: $knownAt) { agency personCount persons } }",
        "query($knownAt: DateTime) { courseWaitingList(asOf: \"2024-06-01\", knownAt: $knownAt) { personId courseId daysWaiting } }",
        "query($knownAt: DateTime) { idleList(minDays: 30, asOf: \"2024-06-01\", knownAt: $knownAt) { personId idleDays } }",
    ];
    let mut before_corrections = Vec::new();
    for query in lists {
        before_corrections.push(w.h.ok(&w.admin, query, json!({"knownAt": null})).await);
    }
    // Every event so far was recorded before this instant: the ledger takes its time before the
    // write, and the projections have applied them all.
    let known_before = chrono::Utc::now();

    // The arrival of person 1 was really on 2024-07-01 (absent on 2024-06-01), and the course
    // registration of person 0 on 2024-05-01.
    let (arrival, arrival_data) = event_of(
        &w.h,
        &w.jobcenter,
        &w.jobcenter_persons[1],
        "ArrivalRecorded",
    )
    .await;
    let (registration, registration_data) = event_of(
        &w.h,
        &w.jobcenter,
        &w.jobcenter_persons[0],
        "CourseRegistered",
    )
    .await;
    for (person, target, event_type, occurred_on, data) in [
        (
            &w.jobcenter_persons[1],
            arrival,
            "ArrivalRecorded",
            "2024-07-01",
            arrival_data,
        ),
        (
            &w.jobcenter_persons[0],
            registration,
            "CourseRegistered",
            "2024-05-01",
            registration_data,
        ),
    ] {
        w.h.record(
            &w.jobcenter,
            "correctEvent",
            "CorrectEventInput",
            Harness::input(
                person,
                "2024-10-01",
                json!({
                    "targetEventId": target,
                    "replacement": {"type": event_type, "occurredOn": occurred_on, "data": data},
                    "reason": "entered with the wrong date"
                }),
            ),
        )
        .await;
    }
    w.h.caught_up().await;
    let known_after = chrono::Utc::now();

    for (query, before) in lists.iter().zip(&before_corrections) {
        let at_before =
            w.h.ok(&w.admin, query, json!({"knownAt": known_before}))
                .await;
        let at_after =
            w.h.ok(&w.admin, query, json!({"knownAt": known_after}))
                .await;
        let live = w.h.ok(&w.admin, query, json!({"knownAt": null})).await;
        assert_eq!(&at_before, before, "{query}: the earlier cut is unchanged");
        assert_eq!(at_after, live, "{query}: the later cut is today's answer");
        assert_ne!(
            at_after, at_before,
            "{query}: the corrections count after they were recorded"
        );
    }
    let at = |known_at| {
        let query = lists[0];
        let h = &w.h;
        let admin = &w.admin;
        async move { h.ok(admin, query, json!({"knownAt": known_at})).await }
    };
    assert_eq!(at(known_before).await["caseload"][0]["personCount"], 4);
    assert_eq!(at(known_after).await["caseload"][0]["personCount"], 3);
    let waiting =
        w.h.ok(&w.admin, lists[1], json!({"knownAt": known_after}))
            .await;
    assert_eq!(waiting["courseWaitingList"][0]["daysWaiting"], 31);
    let idle =
        w.h.ok(&w.admin, lists[2], json!({"knownAt": known_after}))
            .await;
    assert!(!ids(&idle["idleList"], "personId").contains(&w.jobcenter_persons[1]));
}

/// An explicit `knownAt` the projections have not reached (they lag the log) is refused after
/// `knownAtWait` with LIMIT_EXCEEDED naming the lag, by every query answered from the projections,
/// rather than answered from the part applied so far; once they caught up, the same request is
/// answered in full. A `knownAt` later than now is refused as invalid.
#[tokio::test]
async fn a_known_at_the_projections_have_not_reached_is_refused_naming_the_lag() {
    let h = Harness::with_projections_and_limits(journey_api::config::Limits {
        known_at_wait: std::time::Duration::ZERO,
        ..journey_api::config::Limits::default()
    })
    .await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let admin = h.token(Role::Admin, None, "admin");
    let first = arrive(&h, &jobcenter, "Lebenstedt").await;
    h.caught_up().await;
    let projections = h.state.projections.clone().expect("projections");
    let pause = projections.pause().await;
    // Two events (registration and arrival) the projections do not apply while paused.
    arrive(&h, &jobcenter, "Lebenstedt").await;
    let known_at = chrono::Utc::now();

    let queries = [
        "query($knownAt: DateTime) { kpi(key: \"population_present\", asOf: \"2024-06-01\", knownAt: $knownAt) { total { value } } }",
        "query($knownAt: DateTime) { chainFunnel(asOf: \"2024-06-01\", knownAt: $knownAt) { total { value } } }",
        "query($knownAt: DateTime) { people(asOf: \"2024-06-01\", knownAt: $knownAt) { edges { cursor } } }",
        "query($knownAt: DateTime) { caseload(asOf: \"2024-06-01\", knownAt: $knownAt) { personCount } }",
        "query($knownAt: DateTime) { courseWaitingList(asOf: \"2024-06-01\", knownAt: $knownAt) { personId } }",
        "query($knownAt: DateTime) { idleList(asOf: \"2024-06-01\", knownAt: $knownAt) { personId } }",
    ];
    for query in queries {
        let error = h
            .fails(
                Some(&admin),
                query,
                json!({"knownAt": known_at}),
                "LIMIT_EXCEEDED",
            )
            .await;
        assert_eq!(error["extensions"]["limit"], "knownAtWait", "{error}");
        assert_eq!(error["extensions"]["lagEvents"], 2, "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("2 event"),
            "{error}"
        );
    }
    let status = format!(
        "query($knownAt: DateTime) {{ person(id: \"{first}\") {{ status(asOf: \"2024-06-01\", knownAt: $knownAt) {{ present }} }} }}"
    );
    let error = h
        .fails(
            Some(&admin),
            &status,
            json!({"knownAt": known_at}),
            "LIMIT_EXCEEDED",
        )
        .await;
    assert_eq!(error["extensions"]["lagEvents"], 2, "{error}");

    drop(pause);
    h.caught_up().await;
    let data = h.ok(&admin, queries[0], json!({"knownAt": known_at})).await;
    assert_eq!(data["kpi"]["total"]["value"], json!(2.0));
    let data = h.ok(&admin, queries[3], json!({"knownAt": known_at})).await;
    assert_eq!(data["caseload"][0]["personCount"], 2);

    let future = chrono::Utc::now() + chrono::Duration::hours(1);
    for query in queries {
        let error = h
            .fails(
                Some(&admin),
                query,
                json!({"knownAt": future}),
                "VALIDATION",
            )
            .await;
        assert_eq!(error["extensions"]["field"], "knownAt", "{error}");
    }
    // A role that never sees a person-level list is refused as such, whatever the cut.
    let analyst = h.token(Role::Analyst, None, "analyst");
    for query in &queries[2..] {
        h.fails(
            Some(&analyst),
            query,
            json!({"knownAt": future}),
            "FORBIDDEN",
        )
        .await;
    }
}

/// A live answer while the projections lag the log reports the time of what it covers, not the
/// time of asking: asked again with that `knownAt` once they caught up, it is the same answer
/// (it would count the events recorded meanwhile if it reported the time of asking).
#[tokio::test]
async fn a_live_answer_given_while_the_projections_lag_reproduces_at_its_known_at() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let admin = h.token(Role::Admin, None, "admin");
    arrive(&h, &jobcenter, "Lebenstedt").await;
    h.caught_up().await;
    let projections = h.state.projections.clone().expect("projections");
    let pause = projections.pause().await;
    arrive(&h, &jobcenter, "Lebenstedt").await;
    let kpi = "query($knownAt: DateTime) { kpi(key: \"population_present\", asOf: \"2024-06-01\", knownAt: $knownAt) { knownAt total { value } } }";
    let people = "query($knownAt: DateTime) { people(asOf: \"2024-06-01\", knownAt: $knownAt) { knownAt edges { cursor } } }";
    let live_kpi = h.ok(&admin, kpi, json!({"knownAt": null})).await;
    let live_people = h.ok(&admin, people, json!({"knownAt": null})).await;
    assert_eq!(live_kpi["kpi"]["total"]["value"], json!(1.0), "partial");
    drop(pause);
    h.caught_up().await;
    assert_eq!(
        h.ok(&admin, kpi, json!({"knownAt": live_kpi["kpi"]["knownAt"]}))
            .await,
        live_kpi
    );
    assert_eq!(
        h.ok(
            &admin,
            people,
            json!({"knownAt": live_people["people"]["knownAt"]})
        )
        .await,
        live_people
    );
    let now = h.ok(&admin, kpi, json!({"knownAt": null})).await;
    assert_eq!(now["kpi"]["total"]["value"], json!(2.0));
}
