//! The HTTP surface over `app()`: GraphQL over HTTP details, limits, health, readiness, metrics,
//! GraphiQL, and subscriptions executed on the schema.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use journey_api::auth::Role;
use journey_api::config::Limits;
use journey_core::catalogue::Agency;
use serde_json::{json, Value};
use support::{get, Harness};
use uuid::Uuid;

#[tokio::test]
async fn get_and_post_follow_the_graphql_over_http_media_types() {
    let h = Harness::new().await;
    let (status, headers, body) = h
        .send(get(
            "/graphql?query=%7B__typename%7D",
            "application/graphql-response+json",
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("application/graphql-response+json"));
    assert_eq!(body, r#"{"data":{"__typename":"Query"}}"#);

    // A mutation over GET is refused with 405 and Allow: POST.
    let (status, headers, body) = h
        .send(get(
            "/graphql?query=mutation%7BstartCourse(input%3A%7B%7D)%7Brevision%7D%7D",
            "application/json",
        ))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers["allow"], "POST");

    // Validation errors: 400 without `data` for graphql-response+json, 200 for application/json.
    let request = |accept: &str| {
        Request::post("/graphql")
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(Body::from(r#"{"query":"{ nope }"}"#))
            .expect("request")
    };
    let (status, _, body) = h.send(request("application/graphql-response+json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert!(body.get("data").is_none());
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION");
    let (status, headers, _) = h.send(request("application/json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("application/json"));

    // Malformed requests are GraphQL-shaped errors too.
    let malformed = |content_type: &str, body: &'static str| {
        Request::post("/graphql")
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("request")
    };
    let (status, _, body) = h.send(malformed("application/json", "{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("VALIDATION"), "{body}");
    let (status, _, body) = h
        .send(malformed("application/json", r#"{"query": 7}"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"field\":\"query\""), "{body}");
    let (status, _, _) = h.send(malformed("text/plain", "{ __typename }")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, _) = h
        .send(get("/graphql?query=%7B__typename%7D", "text/csv"))
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);

    // Subscriptions need the WebSocket.
    let (status, _, body) = h
        .send(get(
            "/graphql?query=subscription%7BpersonEvents(id%3A%22x%22)%7Btype%7D%7D",
            "application/json",
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("/graphql/ws"), "{body}");

    // Fields come back in the order they were selected.
    let token = h.token(Role::Admin, None, "root");
    let (_, body) = h
        .post(Some(&token), "{ me { role name tokenId } }", json!({}))
        .await;
    let text = body.to_string();
    assert!(text.find("role") < text.find("tokenId"), "{text}");
}

#[tokio::test]
async fn graphiql_is_served_to_browsers() {
    let h = Harness::new().await;
    let (status, headers, body) = h
        .send(get("/graphql", "text/html,application/xhtml+xml"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/html"));
    // The embedded GraphiQL (api/web/graphiql.html), never a page that loads it from a CDN.
    assert!(body.contains("/web/vendor/graphiql.min.js"), "{body}");
    assert!(!body.contains("unpkg.com"), "{body}");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = Harness::new().await;
    let (status, _, body) = h.send(get("/healthz", "*/*")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    let (status, _, body) = h.send(get("/readyz", "*/*")).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["ready"], true);

    let cw = h.caseworker(Agency::Jobcenter);
    let person = h.register(&cw, Uuid::new_v4()).await;
    h.fails(
        Some(&cw),
        "query($id: ID!) { person(id: $id) { id } }",
        json!({"id": Uuid::new_v4().to_string()}),
        "NOT_FOUND",
    )
    .await;
    h.ok(
        &cw,
        "query($id: ID!) { person(id: $id) { id } }",
        json!({"id": person}),
    )
    .await;
    let (status, headers, text) = h.send(get("/metrics", "text/plain")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/plain; version=0.0.4"));
    for expected in [
        "journey_http_requests_total{operation=\"person\",status=\"200\"} 2",
        "journey_http_requests_total{operation=\"registerPerson\",status=\"200\"} 1",
        "journey_http_request_duration_seconds_count{operation=\"person\"} 2",
        "journey_graphql_errors_total{code=\"NOT_FOUND\"} 1",
        "journey_appends_total{outcome=\"written\"} 1",
        "journey_events_appended_total 1",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }

    h.state.begin_shutdown();
    let (status, _, _) = h.send(get("/readyz", "*/*")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// The introspection query GraphiQL sends must fit the default limits.
#[tokio::test]
async fn the_full_introspection_query_passes_the_default_limits() {
    let h = Harness::new().await;
    let query = r#"
      query IntrospectionQuery {
        __schema {
          queryType { name } mutationType { name } subscriptionType { name }
          types { ...FullType }
          directives { name description locations args { ...InputValue } }
        }
      }
      fragment FullType on __Type {
        kind name description
        fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
        inputFields { ...InputValue }
        interfaces { ...TypeRef }
        enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
        possibleTypes { ...TypeRef }
      }
      fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
      fragment TypeRef on __Type {
        kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
      }"#;
    let (status, body) = h.post(None, query, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["__schema"]["mutationType"]["name"], "Mutation");
}

#[tokio::test]
async fn depth_and_complexity_limits_name_themselves() {
    let h = Harness::with_limits(Limits {
        depth_max: 3,
        complexity_max: 5,
        ..Limits::default()
    })
    .await;
    let token = h.token(Role::Admin, None, "root");
    let error = h
        .fails(
            Some(&token),
            "{ person(id: \"x\") { timeline { actor { id } } } }",
            json!({}),
            "LIMIT_EXCEEDED",
        )
        .await;
    assert_eq!(error["extensions"]["limit"], "depthMax");
    assert!(error["message"].as_str().unwrap_or_default().contains('3'));
    let error = h
        .fails(
            Some(&token),
            "{ a: me { name } b: me { name } c: me { name } }",
            json!({}),
            "LIMIT_EXCEEDED",
        )
        .await;
    assert_eq!(error["extensions"]["limit"], "complexityMax");
}

#[tokio::test]
async fn an_oversized_body_is_a_graphql_shaped_413_naming_the_limit() {
    let h = Harness::with_limits(Limits {
        request_body_bytes_max: 256,
        ..Limits::default()
    })
    .await;
    let big = json!({"query": format!("{{ __typename }} # {}", "x".repeat(1000))}).to_string();
    // With a Content-Length the layer refuses before reading.
    let (status, headers, body) = h
        .send(
            Request::post("/graphql")
                .header("content-type", "application/json")
                .header("content-length", big.len())
                .body(Body::from(big.clone()))
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .contains("json"));
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
    assert_eq!(
        body["errors"][0]["extensions"]["limit"],
        "requestBodyBytesMax"
    );
    // Without one (a streamed body) the limit hits while reading.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let (status, _, body) = h
        .send(
            Request::post("/graphql")
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("requestBodyBytesMax"), "{body}");
}

#[tokio::test]
async fn the_rate_limit_is_per_token() {
    let h = Harness::with_limits(Limits {
        rate_per_second: 1,
        rate_burst: 3,
        ..Limits::default()
    })
    .await;
    let busy = h.token(Role::Analyst, None, "busy");
    let calm = h.token(Role::Analyst, None, "calm");
    for _ in 0..3 {
        let (status, _) = h.post(Some(&busy), "{ me { name } }", json!({})).await;
        assert_eq!(status, StatusCode::OK, "the burst passes");
    }
    // The bucket refills one request per second, so a few quick requests more must hit the limit
    // even on a slow machine.
    let mut refused = None;
    for _ in 0..20 {
        let (status, body) = h.post(Some(&busy), "{ me { name } }", json!({})).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(body);
            break;
        }
    }
    let body = refused.expect("the rate limit answers 429");
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "rateLimit");
    let (status, _) = h.post(Some(&calm), "{ me { name } }", json!({})).await;
    assert_eq!(status, StatusCode::OK, "another token has its own bucket");
}

#[tokio::test]
async fn a_request_over_the_timeout_is_stopped() {
    let h = Harness::with_limits(Limits {
        request_timeout: Duration::from_millis(1),
        ..Limits::default()
    })
    .await;
    let token = h.token(Role::Admin, None, "root");
    // Two thousand events to check, seal and write take far longer than a millisecond.
    let mut events = vec![
        json!({"eventId": Uuid::new_v4(), "type": "PersonRegistered", "occurredOn": "2023-01-10", "data": {"birth_year": 1990, "sex": "male", "nationality": "IRQ", "languages": []}}),
    ];
    for _ in 0..2000 {
        events.push(json!({"eventId": Uuid::new_v4(), "type": "CounsellingContact", "occurredOn": "2023-02-01", "data": {"agency": "jobcenter", "topic": "work"}}));
    }
    let (status, body) = h
        .post(
            Some(&token),
            "mutation($events: [EventInput!]!) { appendEvents(personId: \"person-0193c5a0-0000-7000-8000-0000000000aa\", events: $events) { revision } }",
            json!({"events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "requestTimeout");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("same eventId"));
}

/// Runs `personEvents` on the schema directly (the WebSocket transport is tested end to end).
#[tokio::test]
async fn person_events_deliver_new_events_and_stop_when_consent_is_withdrawn() {
    let h = Harness::new().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let jugendamt_token = h.caseworker(Agency::Jugendamt);
    let person = h.register(&jobcenter, Uuid::new_v4()).await;
    let principal = |token: &str| h.state.tokens.authenticate(token).expect("principal");
    let schema = journey_api::graphql::build(h.state.clone());
    let subscription =
        format!("subscription {{ personEvents(id: \"{person}\") {{ type revision data }} }}");

    // Without consent the subscription is refused at once.
    let mut refused = schema.execute_stream(
        async_graphql::Request::new(subscription.clone()).data(principal(&jugendamt_token)),
    );
    let first = refused.next().await.expect("an error");
    assert_eq!(
        first.errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|code| code.to_string()),
        Some("\"FORBIDDEN\"".to_owned())
    );

    h.record(&jobcenter, "giveConsent", "GiveConsentInput", Harness::input(&person, "2023-02-01", json!({"consentId": "c-1", "recipients": ["JUGENDAMT"], "purpose": "Kita", "formVersion": "1"}))).await;
    let mut stream = spawn_stream(schema.execute_stream(
        async_graphql::Request::new(subscription.clone()).data(principal(&jugendamt_token)),
    ));
    let coordinator = h.token(Role::Coordinator, None, "coord");
    let mut mentoring =
        spawn_stream(schema.execute_stream(
            async_graphql::Request::new(subscription).data(principal(&coordinator)),
        ));
    // Both subscriptions have started (they count themselves) before the next event is recorded.
    let mut started = false;
    for _ in 0..250 {
        let (_, _, metrics) = h.send(get("/metrics", "text/plain")).await;
        if metrics.contains("journey_subscriptions_active 2") {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started, "both subscriptions start");
    h.record(
        &jobcenter,
        "requestKitaPlace",
        "RequestKitaPlaceInput",
        Harness::input(&person, "2023-02-02", json!({})),
    )
    .await;
    h.record(
        &jobcenter,
        "assignMentor",
        "AssignMentorInput",
        Harness::input(&person, "2023-02-03", json!({"mentorId": "vol-1"})),
    )
    .await;

    let kita = next_response(&mut stream).await;
    assert!(kita.errors.is_empty(), "{:?}", kita.errors);
    assert_eq!(
        kita.data.into_json().expect("json")["personEvents"]["type"],
        "KitaPlaceRequested"
    );
    let mentor = next_response(&mut stream).await;
    assert_eq!(
        mentor.data.into_json().expect("json")["personEvents"]["type"],
        "MentorAssigned"
    );
    let only_mentoring = next_response(&mut mentoring).await;
    assert_eq!(
        only_mentoring.data.into_json().expect("json")["personEvents"]["data"],
        json!({"mentor_id": "vol-1"}),
        "the coordinator skipped the Kita request"
    );

    h.record(
        &jobcenter,
        "withdrawConsent",
        "WithdrawConsentInput",
        Harness::input(&person, "2023-02-04", json!({"consentId": "c-1"})),
    )
    .await;
    h.record(
        &jobcenter,
        "endMentoring",
        "EndMentoringInput",
        Harness::input(&person, "2023-02-05", json!({"mentorId": "vol-1"})),
    )
    .await;
    let stopped = next_response(&mut stream).await;
    assert_eq!(stopped.errors.len(), 1);
    assert!(
        stopped.errors[0].message.contains("no active consent"),
        "{}",
        stopped.errors[0].message
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.recv())
        .await
        .expect("ends");
    assert!(ended.is_none(), "no event after the withdrawal");
}

/// Polls a subscription stream in its own task (a subscription starts when it is first polled, as a
/// WebSocket server does at once) and hands its items over a channel.
fn spawn_stream(
    mut stream: futures_util::stream::BoxStream<'static, async_graphql::Response>,
) -> tokio::sync::mpsc::Receiver<async_graphql::Response> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if sender.send(item).await.is_err() {
                break;
            }
        }
    });
    receiver
}

async fn next_response(
    stream: &mut tokio::sync::mpsc::Receiver<async_graphql::Response>,
) -> async_graphql::Response {
    tokio::time::timeout(Duration::from_secs(5), stream.recv())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
}
