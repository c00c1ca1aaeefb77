//! `kpiChanged` against differencing: pushes are coalesced to one per push interval and, for a
//! suppressed caller, held back until at least k persons count differently in the table. Driven
//! through the schema's `execute_stream` (what the WebSocket route runs) with tokio's clock
//! paused while the subscription is polled: an interval of an hour passes at once, and "no push"
//! is a timeout that expires in paused time, not a wait on the wall clock.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use journey_api::auth::Role;
use journey_api::config::Limits;
use serde_json::{json, Value};
use support::Harness;
use tokio::time::Instant;
use uuid::Uuid;

const HOUR: Duration = Duration::from_secs(3600);
const SUBSCRIPTION: &str = "subscription { kpiChanged(key: \"population_present\", asOf: \"2024-06-01\") { total { value suppressed } } }";

type Responses = futures_util::stream::BoxStream<'static, async_graphql::Response>;

async fn harness(kpi_push_interval: Duration) -> Harness {
    Harness::with_projections_and_limits(Limits {
        kpi_push_interval,
        ..Limits::default()
    })
    .await
}

/// Subscribes as an analyst (suppressed, k = 3) and returns the stream after its first result.
async fn subscribe(h: &Harness) -> Responses {
    let analyst = h.token(Role::Analyst, None, "analyst");
    let schema = journey_api::graphql::build(h.state.clone());
    let request = async_graphql::Request::new(SUBSCRIPTION)
        .data(h.state.tokens.authenticate(&analyst).expect("principal"));
    let mut stream = schema.execute_stream(request).boxed();
    let first = total(stream.next().await);
    assert_eq!(
        first,
        json!({"value": 0.0, "suppressed": false}),
        "nobody yet"
    );
    stream
}

/// The total of a pushed result.
fn total(response: Option<async_graphql::Response>) -> Value {
    let response = response.expect("the subscription ended");
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = serde_json::to_value(&response.data).expect("json");
    data["kpiChanged"]["total"].clone()
}

/// Registers `count` persons with an arrival each (one batch per event), on the wall clock, and
/// waits until the projections applied them.
async fn arrive(h: &Harness, caseworker: &str, count: usize) {
    for _ in 0..count {
        let person = h.register(caseworker, Uuid::new_v4()).await;
        h.record(
            caseworker,
            "recordArrival",
            "RecordArrivalInput",
            Harness::input(
                &person,
                "2023-01-10",
                json!({"origin": "RECEPTION_CENTRE", "accommodation": "SHARED", "district": "Lebenstedt"}),
            ),
        )
        .await;
    }
    h.caught_up().await;
}

#[tokio::test]
async fn changes_within_the_interval_are_pushed_once_at_its_end() {
    // Given a subscription with a push interval of an hour.
    let h = harness(HOUR).await;
    let caseworker = h.caseworker(journey_core::catalogue::Agency::Jobcenter);
    let subscribed = Instant::now();
    let mut stream = subscribe(&h).await;
    // When three persons arrive, each in batches of their own.
    arrive(&h, &caseworker, 3).await;
    tokio::time::pause();
    // Then the next push comes an hour after the first, with all three in it.
    let pushed = total(stream.next().await);
    assert!(
        Instant::now() >= subscribed + HOUR,
        "pushed {:?} after subscribing",
        Instant::now() - subscribed
    );
    assert_eq!(pushed, json!({"value": 3.0, "suppressed": false}));
    // When three more arrive, then the push after that waits another hour.
    tokio::time::resume();
    arrive(&h, &caseworker, 3).await;
    tokio::time::pause();
    let pushed = total(stream.next().await);
    assert!(Instant::now() >= subscribed + 2 * HOUR);
    assert_eq!(pushed, json!({"value": 6.0, "suppressed": false}));
}

#[tokio::test]
async fn fewer_than_k_changed_persons_are_never_pushed() {
    // Given a subscription with a push interval of a second, and k = 3.
    let h = harness(Duration::from_secs(1)).await;
    let caseworker = h.caseworker(journey_core::catalogue::Agency::Jobcenter);
    let mut stream = subscribe(&h).await;
    // When two persons arrive, then nothing is pushed, however long one waits (a day of paused
    // time passes at once: the interval expires many times over).
    arrive(&h, &caseworker, 2).await;
    tokio::time::pause();
    let nothing = tokio::time::timeout(24 * HOUR, stream.next()).await;
    assert!(
        nothing.is_err(),
        "pushed for two persons: {:?}",
        nothing.map(total)
    );
    // When a third arrives, then the push shows all three.
    tokio::time::resume();
    arrive(&h, &caseworker, 1).await;
    tokio::time::pause();
    assert_eq!(
        total(stream.next().await),
        json!({"value": 3.0, "suppressed": false})
    );
}

/// The kita places of a pushed `unmet_demand` result (its total).
fn kita_places(response: Option<async_graphql::Response>) -> Value {
    let response = response.expect("the subscription ended");
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = serde_json::to_value(&response.data).expect("json");
    let measures = data["kpiChanged"]["total"]["measures"]
        .as_array()
        .expect("measures")
        .clone();
    measures
        .into_iter()
        .find(|measure| measure["name"] == "kita_places")
        .map(|measure| measure["value"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_offer_changed_alone_is_pushed_to_a_suppressed_caller() {
    // Given an analyst's subscription (k = 3) to unmet_demand, with a push interval of a second.
    let h = harness(Duration::from_secs(1)).await;
    let coordinator = h.token(
        Role::Coordinator,
        Some(journey_core::catalogue::Agency::Kommune),
        "planner",
    );
    let analyst = h.token(Role::Analyst, None, "analyst");
    let schema = journey_api::graphql::build(h.state.clone());
    let request = async_graphql::Request::new(
        "subscription { kpiChanged(key: \"unmet_demand\", asOf: \"2024-09-15\") { total { measures { name value } } } }",
    )
    .data(h.state.tokens.authenticate(&analyst).expect("principal"));
    let mut stream = schema.execute_stream(request).boxed();
    assert_eq!(
        kita_places(stream.next().await),
        json!(0.0),
        "nothing offered yet"
    );
    // When a coordinator offers Kita places (an offer stream: no person counts differently).
    let offered = h
        .ok(
            &coordinator,
            "mutation($input: RecordOfferInput!) { recordOffer(input: $input) { offerId } }",
            json!({"input": {"eventId": Uuid::new_v4(), "occurredOn": "2024-05-02", "kind": "KITA_PLACES", "month": "2024-09", "district": "Lebenstedt", "quantity": 12}}),
        )
        .await;
    assert!(offered["recordOffer"]["offerId"].is_string(), "{offered}");
    h.caught_up().await;
    tokio::time::pause();
    // Then the places are pushed: capacity holds no personal data, so there is nothing to
    // difference and no k persons to wait for.
    let pushed = tokio::time::timeout(HOUR, stream.next()).await;
    assert_eq!(
        pushed.map(kita_places).expect("an offer change is pushed"),
        json!(12.0)
    );
}
