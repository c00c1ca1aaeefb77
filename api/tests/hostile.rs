//! Hostile input over `app()` with `oneshot`: oversized bodies, deep nesting, alias floods, invalid
//! UTF-8, huge strings in every string field, dates out of range, unknown enum values, malformed
//! JSON, wrong content types and variables of the wrong type. Each answers a GraphQL-shaped error
//! with `extensions.code` and no 5xx, and nothing is written: the log's head does not move and the
//! audit log gains only refusals.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use journey_api::auth::Role;
use journey_api::config::Limits;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::{id, Harness};

const REGISTER: &str =
    "mutation($input: RegisterPersonInput!) { registerPerson(input: $input) { revision } }";
const ARRIVAL: &str =
    "mutation($input: RecordArrivalInput!) { recordArrival(input: $input) { revision } }";
const COURSE: &str =
    "mutation($input: RegisterForCourseInput!) { registerForCourse(input: $input) { revision } }";

/// Asserts a refusal: no 5xx, a JSON body whose every error carries a code, no data written.
fn assert_refused(what: &str, status: StatusCode, body: &str) {
    assert!(
        status.is_client_error() || status == StatusCode::OK,
        "{what}: status {status}: {}",
        truncated(body)
    );
    let body: Value = serde_json::from_str(body)
        .unwrap_or_else(|error| panic!("{what}: not JSON ({error}): {}", truncated(body)));
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: expected errors: {}", truncated(&body.to_string())));
    assert!(!errors.is_empty(), "{what}");
    for error in errors {
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        assert!(
            !code.is_empty() && code != "INTERNAL",
            "{what}: error without a clear code: {}",
            truncated(&error.to_string())
        );
    }
    // A refused mutation has no receipt.
    if let Some(data) = body.get("data").and_then(Value::as_object) {
        assert!(
            data.values().all(Value::is_null),
            "{what}: data returned: {}",
            truncated(&body.to_string())
        );
    }
}

fn truncated(text: &str) -> String {
    text.chars().take(600).collect()
}

fn raw(token: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/graphql")
        .header("content-type", content_type)
        .header("authorization", format!("Bearer {token}"))
        .body(body.into())
        .expect("request")
}

async fn post_json(
    h: &Harness,
    token: &str,
    query: &str,
    variables: Value,
) -> (StatusCode, String) {
    let body = json!({"query": query, "variables": variables}).to_string();
    let (status, _, text) = h.send(raw(token, "application/json", body)).await;
    (status, text)
}

/// The log's head and the audit log's length, to compare before and after.
async fn written(h: &Harness) -> (Option<journey_core::log::Position>, u64) {
    (
        h.context.log.last_position().await.expect("head"),
        h.state.audit.len(),
    )
}

/// Asserts that nothing reached the log since `before` and that every audit entry since is a
/// refusal.
async fn assert_nothing_written(h: &Harness, before: (Option<journey_core::log::Position>, u64)) {
    let (head, _) = written(h).await;
    assert_eq!(head, before.0, "the log's head moved");
    let after = if before.1 == 0 {
        None
    } else {
        Some(before.1 - 1)
    };
    for entry in h.state.audit.read(after, 100_000).expect("audit") {
        assert_ne!(entry.outcome, "ok", "an accepted operation: {entry:?}");
    }
}

fn registration(person: &str) -> Value {
    json!({
        "personId": person,
        "eventId": id(),
        "occurredOn": "2023-01-10",
        "birthYear": 1990,
        "sex": "FEMALE",
        "nationality": "SYR",
        "languages": ["ar"],
        "personalData": {
            "givenNames": "Amina",
            "familyName": "Haddad",
            "birthDate": "1990-04-01",
            "phone": "+49 5341 555 0199",
            "address": "Berliner Str. 1"
        }
    })
}

fn set(value: &mut Value, path: &[&str], to: Value) {
    let mut target = value;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    target[path[path.len() - 1]] = to;
}

#[tokio::test]
async fn request_level_abuse_is_refused_with_a_code_and_writes_nothing() {
    let h = Harness::new().await;
    let admin = h.token(Role::Admin, None, "root");
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, id()).await;
    let before = written(&h).await;

    // A body over the limit (2 MiB by default).
    let filler = "x".repeat(Limits::default().request_body_bytes_max + 1);
    let body = json!({"query": "{ __typename }", "variables": {"pad": filler}}).to_string();
    let (status, _, text) = h.send(raw(&admin, "application/json", body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_refused("oversized body", status, &text);

    // Nesting far deeper than the depth limit.
    let mut nested = String::from("__typename");
    for _ in 0..200 {
        nested = format!("ofType {{ {nested} }}");
    }
    let query = format!("{{ __schema {{ types {{ {nested} }} }} }}");
    let (status, text) = post_json(&h, &admin, &query, json!({})).await;
    assert_refused("deep nesting", status, &text);

    // A flood of 10,000 aliases.
    let aliases: String = (0..10_000)
        .map(|i| format!("a{i}: me {{ role }} "))
        .collect();
    let (status, text) = post_json(&h, &admin, &format!("{{ {aliases} }}"), json!({})).await;
    assert_refused("alias flood", status, &text);
    let aliases: String = (0..10_000)
        .map(|i| format!("a{i}: person(id: \"{person}\") {{ id }} "))
        .collect();
    let (status, text) = post_json(&h, &cw, &format!("{{ {aliases} }}"), json!({})).await;
    assert_refused("alias flood of person reads", status, &text);
    let aliases: String = (0..2_000)
        .map(|i| format!("a{i}: registerPerson(input: $input) {{ revision }} "))
        .collect();
    let query = format!("mutation($input: RegisterPersonInput!) {{ {aliases} }}");
    let fresh = format!("person-{}", id());
    let (status, text) = post_json(&h, &cw, &query, json!({"input": registration(&fresh)})).await;
    assert_refused("alias flood of mutations", status, &text);

    // Invalid UTF-8, inside a JSON string and as a whole body.
    let mut bytes = br#"{"query":"{ __typename }","variables":{"x":""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bytes.extend_from_slice(br#""}}"#);
    let (status, _, text) = h.send(raw(&cw, "application/json", bytes)).await;
    assert_refused("invalid UTF-8 in a string", status, &text);
    let (status, _, text) = h
        .send(raw(&cw, "application/json", vec![0xffu8, 0x00, 0x80, 0xfe]))
        .await;
    assert_refused("invalid UTF-8 body", status, &text);

    // Malformed JSON of several kinds.
    for body in [
        "{not json",
        "",
        "null",
        "[]",
        "[1,2,3]",
        r#"{"query": null}"#,
        r#"{"query": "{ __typename }", "variables": "x"}"#,
        r#"{"query": "{ __typename }", "variables": [1]}"#,
        r#"{"query": "{ __typename }", "operationName": 5}"#,
        r#"{"query": "{ __typename }", "extensions": 5}"#,
        r#"{"query": "{ __typename }""#,
        "\u{feff}{}",
    ] {
        let (status, _, text) = h.send(raw(&cw, "application/json", body)).await;
        assert_refused(&format!("malformed JSON {body:?}"), status, &text);
    }
    let mut deep_json = "[".repeat(100_000);
    deep_json.push_str(&"]".repeat(100_000));
    let body = format!(r#"{{"query": "{{ __typename }}", "variables": {{"x": {deep_json}}}}}"#);
    let (status, _, text) = h.send(raw(&cw, "application/json", body)).await;
    assert_refused("deeply nested JSON", status, &text);

    // Wrong content types for a mutation body.
    let body = json!({"query": REGISTER, "variables": {"input": registration(&fresh)}}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/graphql",
    ] {
        let (status, _, text) = h.send(raw(&cw, content_type, body.clone())).await;
        assert!(status.is_client_error(), "{content_type}: {status}");
        assert_refused(content_type, status, &text);
    }

    // Query syntax garbage.
    for query in [
        "{",
        "mutation {",
        "}}}}",
        "{ __typename(",
        "query($x: ) { a }",
        "\0",
    ] {
        let (status, text) = post_json(&h, &cw, query, json!({})).await;
        assert_refused(&format!("syntax {query:?}"), status, &text);
    }

    assert_nothing_written(&h, before).await;
}

#[tokio::test]
async fn bad_values_in_mutations_are_refused_with_a_code_and_write_nothing() {
    // A body limit above the huge strings, so they reach the validation and not only the limit.
    let h = Harness::with_limits(Limits {
        request_body_bytes_max: 8 * 1024 * 1024,
        ..Limits::default()
    })
    .await;
    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, id()).await;
    let before = written(&h).await;
    let huge = "ä".repeat(512 * 1024);

    // Huge strings in every string field of a registration.
    let fresh = format!("person-{}", id());
    for path in [
        &["personId"][..],
        &["eventId"],
        &["occurredOn"],
        &["nationality"],
        &["sex"],
        &["personalData", "givenNames"],
        &["personalData", "familyName"],
        &["personalData", "birthDate"],
        &["personalData", "phone"],
        &["personalData", "address"],
    ] {
        let mut input = registration(&fresh);
        set(&mut input, path, json!(huge));
        let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
        assert_refused(&format!("huge {path:?}"), status, &text);
    }
    let mut input = registration(&fresh);
    input["languages"] = json!([huge]);
    let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
    assert_refused("huge language", status, &text);
    input["languages"] = json!(vec!["ar"; 10_000]);
    let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
    assert_refused("10,000 languages", status, &text);

    // Huge strings in the arrival and the course registration of an existing person.
    let arrival = |district: &str| {
        Harness::input(
            &person,
            "2023-01-11",
            json!({"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": district}),
        )
    };
    let (status, text) = post_json(&h, &cw, ARRIVAL, json!({"input": arrival(&huge)})).await;
    assert_refused("huge district", status, &text);
    let course = |course_id: &str, provider: &str| {
        Harness::input(
            &person,
            "2023-02-01",
            json!({"courseId": course_id, "courseType": "GENERAL", "provider": provider}),
        )
    };
    for (what, input) in [
        ("huge courseId", course(&huge, "VHS")),
        ("huge provider", course("c-1", &huge)),
    ] {
        let (status, text) = post_json(&h, &cw, COURSE, json!({"input": input})).await;
        assert_refused(what, status, &text);
    }
    let mut input = arrival("Salzgitter");
    input["personId"] = json!(format!("person-{huge}"));
    let (status, text) = post_json(&h, &cw, ARRIVAL, json!({"input": input})).await;
    assert_refused("huge person id", status, &text);

    // Dates out of range, malformed, or far in the future.
    for date in [
        "99999-01-01",
        "0000-00-00",
        "2023-02-30",
        "2023-13-01",
        "-0001-01-01",
        "+262143-01-01",
        "9999-12-31",
        "2999-01-01",
        "2023-01-10T00:00:00Z",
        "",
    ] {
        let mut input = arrival("Salzgitter");
        input["occurredOn"] = json!(date);
        let (status, text) = post_json(&h, &cw, ARRIVAL, json!({"input": input})).await;
        assert_refused(&format!("occurredOn {date:?}"), status, &text);
    }
    // Malformed and impossible birth dates: before 1900, before year 1, in the future.
    for date in [
        "-0001-01-01",
        "1850-06-01",
        "2999-01-01",
        "99999-01-01",
        "0000-00-00",
        "2023-02-30",
        "2023-13-01",
        "1990-04-01T00:00:00Z",
        "",
    ] {
        let mut input = registration(&fresh);
        set(&mut input, &["personalData", "birthDate"], json!(date));
        let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
        assert_refused(&format!("birthDate {date:?}"), status, &text);
    }
    for year in [i64::MIN, -1, 0, 99_999, i64::from(i32::MAX) + 1] {
        let mut input = registration(&fresh);
        input["birthYear"] = json!(year);
        let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
        assert_refused(&format!("birthYear {year}"), status, &text);
    }

    // Unknown enum values.
    for (field, value) in [
        ("sex", "ROBOT"),
        ("sex", "female"),
        ("sex", ""),
        ("nationality", "Syria; DROP TABLE"),
    ] {
        let mut input = registration(&fresh);
        input[field] = json!(value);
        let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
        assert_refused(&format!("{field} {value:?}"), status, &text);
    }
    let mut input = arrival("Salzgitter");
    input["origin"] = json!("MARS");
    let (status, text) = post_json(&h, &cw, ARRIVAL, json!({"input": input})).await;
    assert_refused("origin MARS", status, &text);
    let query = "mutation { recordArrival(input: {personId: \"x\", eventId: \"y\", occurredOn: \"2023-01-01\", origin: MARS, accommodation: SHARED, district: \"d\"}) { revision } }";
    let (status, text) = post_json(&h, &cw, query, json!({})).await;
    assert_refused("inline origin MARS", status, &text);

    // Variables of the wrong type.
    for input in [
        json!("a string"),
        json!(7),
        json!([registration(&fresh)]),
        json!(null),
        json!({}),
    ] {
        let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
        assert_refused(&format!("input {input}"), status, &text);
    }
    for (field, value) in [
        ("personId", json!(5)),
        ("birthYear", json!("1990")),
        ("birthYear", json!(1990.5)),
        ("languages", json!([1, 2])),
        ("personalData", json!("Amina")),
        ("eventId", json!({"nested": true})),
        ("expectedRevision", json!(-1)),
        ("unknownField", json!(1)),
    ] {
        let mut input = registration(&fresh);
        input[field] = value.clone();
        let (status, text) = post_json(&h, &cw, REGISTER, json!({"input": input})).await;
        assert_refused(&format!("{field} = {value}"), status, &text);
    }

    assert_nothing_written(&h, before).await;
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery` with every option on:
/// descriptions, `specifiedByURL`, `isRepeatable`, the schema's description and deprecated input
/// values), the largest query a client sends routinely.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

fn assert_fields_max(what: &str, body: &Value, max: usize) {
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"],
        "LIMIT_EXCEEDED",
        "{what}: {}",
        truncated(&body.to_string())
    );
    assert_eq!(error["extensions"]["limit"], "fieldsMax", "{what}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(&max.to_string()), "{what}: {message}");
    assert!(body["data"].is_null(), "{what}: {body}");
}

#[tokio::test]
async fn alias_floods_of_free_fields_exceed_the_field_limit_and_write_nothing() {
    let h = Harness::new().await;
    let admin = h.token(Role::Admin, None, "root");
    let cw = h.caseworker(Agency::Jobcenter);
    h.register(&cw, id()).await;
    let before = written(&h).await;
    let max = Limits::default().fields_max;

    // The introspection query GraphiQL sends passes with the defaults, far below the limit.
    let fields = journey_api::graphql::fields_limit::count_fields(
        &async_graphql::parser::parse_query(INTROSPECTION).expect("parse"),
    );
    println!("GraphiQL's introspection query selects {fields} fields (fieldsMax {max})");
    assert!(fields * 5 <= max, "introspection selects {fields} fields");
    let (status, body) = h.post(None, INTROSPECTION, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.get("errors").is_none(),
        "{}",
        truncated(&body.to_string())
    );
    assert!(body["data"]["__schema"]["types"]
        .as_array()
        .is_some_and(|t| t.len() > 50));

    // 10,000 aliases of `__typename`, with a token and without.
    let aliases: String = (0..10_000).map(|i| format!("a{i}: __typename ")).collect();
    let query = format!("{{ {aliases} }}");
    for token in [Some(admin.as_str()), Some(cw.as_str()), None] {
        let (status, text) = match token {
            Some(token) => post_json(&h, token, &query, json!({})).await,
            None => {
                let (status, body) = h.post(None, &query, json!({})).await;
                (status, body.to_string())
            }
        };
        assert_refused("__typename flood", status, &text);
        assert_fields_max(
            "__typename flood",
            &serde_json::from_str(&text).expect("json"),
            max,
        );
    }
    // The same fields hidden in fragments: an inline fragment, a spread repeated, spreads of
    // spreads doubling at every level (2^16 fields from a few hundred bytes), and a mutation.
    let inline = format!("{{ ... on Query {{ {aliases} }} }}");
    let few: String = (0..100).map(|i| format!("a{i}: __typename ")).collect();
    let spreads = format!(
        "{{ {} }} fragment F on Query {{ {few} }}",
        "...F ".repeat(100)
    );
    let mut doubling = String::from("{ ...F0 } ");
    for level in 0..16 {
        doubling.push_str(&format!(
            "fragment F{level} on Query {{ ...F{next} ...F{next} }} ",
            next = level + 1
        ));
    }
    doubling.push_str("fragment F16 on Query { __typename }");
    let mutation = format!("mutation {{ {aliases} }}");
    let many_operations: String = (0..2_000)
        .map(|i| format!("query Q{i} {{ a: __typename b: __typename }} "))
        .collect();
    for (what, query) in [
        ("inline fragment", inline),
        ("repeated spread", spreads),
        ("doubling spreads", doubling),
        ("mutation of __typename", mutation),
        ("many operations", many_operations),
    ] {
        let (status, text) = post_json(&h, &admin, &query, json!({})).await;
        assert_refused(what, status, &text);
        assert_fields_max(what, &serde_json::from_str(&text).expect("json"), max);
    }
    // Over GET as well (a shorter flood: URIs are limited to 64 KiB).
    let aliases: String = (0..2_100).map(|i| format!("a{i}:__typename ")).collect();
    let uri = format!("/graphql?query={}", urlencode(&format!("{{{aliases}}}")));
    let request = Request::get(uri)
        .header("authorization", format!("Bearer {admin}"))
        .body(Body::empty())
        .expect("request");
    let (status, _, text) = h.send(request).await;
    assert_refused("__typename flood over GET", status, &text);

    assert_nothing_written(&h, before).await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_field_limit_is_configurable_and_counts_exactly() {
    let h = Harness::with_limits(Limits {
        fields_max: 10,
        ..Limits::default()
    })
    .await;
    let admin = h.token(Role::Admin, None, "root");
    let ten: String = (0..10).map(|i| format!("a{i}: __typename ")).collect();
    h.ok(&admin, &format!("{{ {ten} }}"), json!({})).await;
    let eight: String = (0..8).map(|i| format!("a{i}: __typename ")).collect();
    h.ok(&admin, &format!("{{ {eight} me {{ role }} }}"), json!({}))
        .await;
    let (_, body) = h
        .post(
            Some(&admin),
            &format!("{{ {ten} me {{ role }} }}"),
            json!({}),
        )
        .await;
    assert_fields_max("twelve", &body, 10);
    let (_, body) = h
        .post(Some(&admin), "{ ...F ...F } fragment F on Query { a: __typename b: __typename c: __typename d: __typename e: __typename f: __typename }", json!({}))
        .await;
    assert_fields_max("twelve by two spreads", &body, 10);
}
