//! A journey API over a scratch data directory, driven with `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use journey_api::auth::{self, Role};
use journey_api::config::Limits;
use journey_api::context::{Context, Options};
use journey_api::AppState;
use journey_core::catalogue::Agency;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
    pub context: Context,
}

/// A uuid for fixtures.
pub fn id() -> Uuid {
    Uuid::new_v4()
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_limits(Limits::default()).await
    }

    /// A harness whose state runs the projections (suppression threshold 3).
    pub async fn with_projections() -> Self {
        Self::build(Limits::default(), true).await
    }

    /// A harness whose state runs the projections (suppression threshold 3), with `limits`.
    pub async fn with_projections_and_limits(limits: Limits) -> Self {
        Self::build(limits, true).await
    }

    /// Waits until the projections applied everything recorded so far.
    pub async fn caught_up(&self) {
        self.state
            .projections
            .as_ref()
            .expect("projections")
            .caught_up()
            .await
            .expect("caught up");
    }

    pub async fn with_limits(limits: Limits) -> Self {
        Self::build(limits, false).await
    }

    async fn build(limits: Limits, projections: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("master.hex");
        std::fs::write(&key_file, hex::encode([42u8; 32])).expect("master key");
        let options = Options {
            data_dir: dir.path().join("data"),
            master_key_file: Some(key_file),
            erasure_register: None,
            store: Default::default(),
        };
        let context = Context::open(&options).await.expect("open data dir");
        let state = if projections {
            let runner = journey_projections::Projections::start(
                context.ledger.clone(),
                journey_projections::RunnerConfig::new(dir.path().join("projections")),
            )
            .await
            .expect("projections");
            AppState::with_projections(
                &context,
                limits,
                runner,
                journey_projections::kpi::Suppression { k: 3 },
            )
            .await
            .expect("state")
        } else {
            AppState::new(&context, limits).await.expect("state")
        };
        let app = journey_api::app(state.clone());
        Self {
            dir,
            state,
            app,
            context,
        }
    }

    pub fn token(&self, role: Role, agency: Option<Agency>, name: &str) -> String {
        auth::create_token(
            self.state.data_dir(),
            role,
            agency,
            Some(name.to_owned()),
            Utc::now(),
            &mut OsRng,
        )
        .expect("create token")
        .token
    }

    pub fn caseworker(&self, agency: Agency) -> String {
        self.token(Role::Caseworker, Some(agency), &format!("cw-{agency}"))
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// POSTs a GraphQL request and returns the status and the parsed body.
    pub async fn post(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        self.post_with(token, query, variables, &[]).await
    }

    pub async fn post_with(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut builder = Request::post("/graphql").header("content-type", "application/json");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = json!({"query": query, "variables": variables}).to_string();
        let (status, _, text) = self
            .send(builder.body(Body::from(body)).expect("request"))
            .await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {text}"));
        (status, value)
    }

    /// A GraphQL request that must succeed without errors; returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(token), query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A GraphQL request that must fail with one error of `code`; returns the error.
    pub async fn fails(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        code: &str,
    ) -> Value {
        let (_, body) = self.post(token, query, variables).await;
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("expected errors: {body}"));
        let error = errors[0].clone();
        assert_eq!(error["extensions"]["code"], code, "{body}");
        error
    }

    /// Runs mutation `field` with the input type `input_type` and `input`; returns the receipt.
    pub async fn record(&self, token: &str, field: &str, input_type: &str, input: Value) -> Value {
        let query = format!(
            "mutation($input: {input_type}!) {{ {field}(input: $input) {{ personId eventId revision position alreadyRecorded }} }}"
        );
        let data = self.ok(token, &query, json!({"input": input})).await;
        data[field].clone()
    }

    /// The same, expecting the error `code`.
    pub async fn record_fails(
        &self,
        token: &str,
        field: &str,
        input_type: &str,
        input: Value,
        code: &str,
    ) -> Value {
        let query =
            format!("mutation($input: {input_type}!) {{ {field}(input: $input) {{ revision }} }}");
        self.fails(Some(token), &query, json!({"input": input}), code)
            .await
    }

    /// Registers a person with personal data; returns the person id.
    pub async fn register(&self, token: &str, person: Uuid) -> String {
        let receipt = self
            .record(
                token,
                "registerPerson",
                "RegisterPersonInput",
                json!({
                    "personId": person.to_string(),
                    "eventId": id(),
                    "occurredOn": "2023-01-10",
                    "birthYear": 1990,
                    "sex": "FEMALE",
                    "nationality": "SYR",
                    "languages": ["ar", "ku"],
                    "personalData": {
                        "givenNames": "Amina",
                        "familyName": "Haddad-Testfall",
                        "birthDate": "1990-04-01",
                        "phone": "+49 5341 555 0199",
                        "address": "Berliner Str. 1, Salzgitter"
                    }
                }),
            )
            .await;
        receipt["personId"].as_str().expect("person id").to_owned()
    }

    /// Input for a mutation on `person` with a fresh event id.
    pub fn input(person: &str, occurred_on: &str, fields: Value) -> Value {
        let mut input = json!({"personId": person, "eventId": id(), "occurredOn": occurred_on});
        if let (Some(input), Value::Object(fields)) = (input.as_object_mut(), fields) {
            input.extend(fields);
        }
        input
    }

    pub async fn timeline(&self, token: &str, person: &str) -> Vec<Value> {
        let data = self
            .ok(
                token,
                "query($id: ID!) { person(id: $id) { timeline { type revision status data eventId targetEventId } } }",
                json!({"id": person}),
            )
            .await;
        data["person"]["timeline"]
            .as_array()
            .expect("timeline")
            .clone()
    }
}

/// Waits briefly for something that happens in the background.
pub async fn eventually<F: Fn() -> bool>(check: F) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A GET of `uri` accepting `accept`.
pub fn get(uri: &str, accept: &str) -> Request<Body> {
    Request::get(uri)
        .header("accept", accept)
        .body(Body::empty())
        .expect("request")
}
