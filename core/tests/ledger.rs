//! The ledger's write and read paths over the real sled log: given/when/then for the write path's own
//! rules (idempotency, expected revision, all-or-nothing), sealing, upcasting on read, erasure and verify.

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::catalogue::{
    EmploymentKind, ErasureReason, Event, EventType, PersonalDataErased,
};
use journey_core::clock::FixedClock;
use journey_core::crypto::{self, SecretKey};
use journey_core::envelope::PersonId;
use journey_core::keys::{KeyState, KeyStore};
use journey_core::ledger::{self, Ledger, LedgerConfig, LedgerError, Proposed};
use journey_core::log::test_support::count_events;
use journey_core::log::{
    AllFrom, Direction, EventLog, ExpectedRevision, NewEvent, PayloadEncoding, Position, SledLog,
    SledLogConfig,
};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_core::verify::{verify, VerifyOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<SledLog>,
    keys: Arc<KeyStore>,
    ledger: Ledger,
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(11);
    let master = SecretKey::generate(&mut rng);
    let keys = Arc::new(KeyStore::open(&store, master, &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys.clone(),
        Arc::new(FixedClock::at_date(date("2024-06-30"))),
        Box::new(StdRng::seed_from_u64(12)),
        LedgerConfig::default(),
    );
    Fixture {
        _dir: dir,
        log,
        keys,
        ledger,
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn person(n: u128) -> PersonId {
    PersonId(Uuid::from_u128(1_000_000 + n))
}

async fn registered(fixture: &Fixture, who: PersonId, base: u128) {
    fixture
        .ledger
        .append(
            who,
            ExpectedRevision::NoStream,
            vec![
                sample::registration(id(base), date("2024-01-02")),
                sample::arrival(id(base + 1), date("2024-01-03")),
            ],
        )
        .await
        .expect("registration accepted");
}

#[tokio::test]
async fn appending_the_same_ids_again_returns_the_original_result_and_writes_nothing() {
    let fixture = fixture();
    let who = person(1);
    registered(&fixture, who, 10).await;
    let contact = sample::counselling(id(12), date("2024-02-01"));
    let first = fixture
        .ledger
        .append(who, ExpectedRevision::Exact(1), vec![contact.clone()])
        .await
        .expect("accepted");
    assert_eq!(first.first_position, Some(Position::from_raw(2)));
    let again = fixture
        .ledger
        .append(who, ExpectedRevision::Exact(1), vec![contact])
        .await
        .expect("an idempotent retry succeeds even with its old expected revision");
    assert_eq!(again.already_recorded, 1);
    assert_eq!(again.first_position, None);
    assert_eq!(again.stream_revision, 2);
    assert_eq!(count_events(fixture.log.as_ref()).await, 3);
}

#[tokio::test]
async fn the_same_id_with_other_content_is_a_conflict_and_writes_nothing() {
    let fixture = fixture();
    let who = person(2);
    registered(&fixture, who, 20).await;
    let mut changed = sample::counselling(id(21), date("2024-02-01"));
    changed.occurred_on = date("2024-02-02");
    let error = fixture
        .ledger
        .append(who, ExpectedRevision::Any, vec![changed])
        .await
        .expect_err("conflict");
    assert!(
        matches!(error, LedgerError::IdConflict { index: 0, .. }),
        "{error}"
    );
    assert_eq!(error.code(), "CONFLICT");
    assert!(error.to_string().contains("different content"), "{error}");
    // Reusing another person's event id is refused too.
    registered(&fixture, person(3), 30).await;
    let error = fixture
        .ledger
        .append(
            person(3),
            ExpectedRevision::Any,
            vec![sample::counselling(id(20), date("2024-02-01"))],
        )
        .await
        .expect_err("id of another person");
    assert!(error.to_string().contains("another person"), "{error}");
    assert_eq!(count_events(fixture.log.as_ref()).await, 4);
}

#[tokio::test]
async fn a_wrong_expected_revision_reports_the_current_one() {
    let fixture = fixture();
    let who = person(4);
    registered(&fixture, who, 40).await;
    let error = fixture
        .ledger
        .append(
            who,
            ExpectedRevision::Exact(0),
            vec![sample::counselling(id(42), date("2024-02-01"))],
        )
        .await
        .expect_err("stale");
    assert!(
        matches!(
            error,
            LedgerError::Conflict {
                actual: Some(1),
                expected: ExpectedRevision::Exact(0),
                ..
            }
        ),
        "{error}"
    );
    let error = fixture
        .ledger
        .append(
            who,
            ExpectedRevision::NoStream,
            vec![sample::counselling(id(42), date("2024-02-01"))],
        )
        .await
        .expect_err("exists");
    assert!(
        matches!(
            error,
            LedgerError::Conflict {
                actual: Some(1),
                ..
            }
        ),
        "{error}"
    );
    let error = fixture
        .ledger
        .append(
            person(5),
            ExpectedRevision::StreamExists,
            vec![sample::registration(id(50), date("2024-01-01"))],
        )
        .await
        .expect_err("no stream");
    assert!(
        matches!(error, LedgerError::Conflict { actual: None, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_rule_violation_in_a_batch_names_the_event_and_writes_none_of_it() {
    let fixture = fixture();
    let who = person(6);
    let started = Proposed {
        event: Event::CourseStarted(journey_core::catalogue::CourseStarted {
            course_id: "IK-1".into(),
        }),
        ..sample::counselling(id(62), date("2024-02-01"))
    };
    let error = fixture
        .ledger
        .append(
            who,
            ExpectedRevision::Any,
            vec![
                sample::registration(id(60), date("2024-01-02")),
                sample::counselling(id(61), date("2024-02-01")),
                started,
            ],
        )
        .await
        .expect_err("course never registered");
    let LedgerError::Rule(violation) = &error else {
        panic!("expected a rule violation, got {error}");
    };
    assert_eq!(violation.rule.code(), "course_registered_before_start");
    assert_eq!(violation.index, 2);
    assert_eq!(violation.event_id, id(62));
    assert_eq!(violation.field.as_deref(), Some("course_id"));
    assert_eq!(error.code(), "RULE_VIOLATION");
    assert_eq!(
        count_events(fixture.log.as_ref()).await,
        0,
        "nothing written"
    );
    assert_eq!(
        fixture.keys.state(who).expect("keys"),
        KeyState::Absent,
        "no key made for nothing"
    );
}

#[tokio::test]
async fn payloads_are_sealed_and_chained() {
    let fixture = fixture();
    let who = person(7);
    registered(&fixture, who, 70).await;
    let stored = fixture
        .log
        .read_all(AllFrom::Start, Direction::Forwards, 10)
        .await
        .expect("read");
    assert_eq!(stored.len(), 2);
    let arrival = &stored[1].event;
    assert_eq!(arrival.encoding, PayloadEncoding::Sealed);
    let needle = b"Lebenstedt";
    assert!(
        !arrival
            .payload
            .windows(needle.len())
            .any(|window| window == needle),
        "the district is not stored in clear"
    );
    assert_eq!(arrival.prev_hash, stored[0].event.hash);
    let decoded = fixture.ledger.read_person(who).await.expect("read person");
    assert_eq!(
        decoded[1].data.as_ref().expect("data")["district"],
        "Lebenstedt"
    );
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
    assert_eq!((report.events, report.streams), (2, 1));
}

#[tokio::test]
async fn a_stored_v1_event_reads_as_v2_through_the_upcaster() {
    let fixture = fixture();
    let who = person(8);
    registered(&fixture, who, 80).await;
    // Write an EmploymentStarted exactly as a version-1 writer would have: sealed v1 JSON.
    let key = match fixture.keys.state(who).expect("keys") {
        KeyState::Present(key) => key,
        other => panic!("no key: {other:?}"),
    };
    let stream = who.stream_name();
    let v1 = br#"{"employment_id":"E-1","kind":"marginal"}"#;
    let mut rng = StdRng::seed_from_u64(5);
    let head = fixture
        .log
        .read_all(AllFrom::End, Direction::Backwards, 1)
        .await
        .expect("read")[0]
        .event
        .hash;
    let mut event = NewEvent {
        id: id(82),
        event_type: "EmploymentStarted".into(),
        version: 1,
        occurred_on: date("2024-03-01"),
        recorded_at: chrono::Utc::now(),
        actor: sample::caseworker().to_log(),
        correlation_id: None,
        causation_id: None,
        encoding: PayloadEncoding::Sealed,
        payload: crypto::seal(&key, &ledger::seal_aad(&stream, id(82)), v1, &mut rng)
            .expect("seal"),
        content_digest: [0; 32],
        prev_hash: head,
        hash: [0; 32],
    };
    event.hash = journey_core::chain::stream_hash(&head, &stream, 2, &event);
    fixture
        .log
        .append(&stream, ExpectedRevision::Exact(1), vec![event])
        .await
        .expect("append v1");

    let decoded = fixture.ledger.read_person(who).await.expect("read");
    let employment = &decoded[2];
    assert_eq!(employment.recorded.event.version, 1, "stored as version 1");
    match employment.event.as_ref().expect("decoded") {
        Event::EmploymentStarted(started) => {
            assert_eq!(started.kind, EmploymentKind::Marginal);
            assert_eq!(started.weekly_hours, None, "v2's new field, absent in v1");
        }
        other => panic!("unexpected {other:?}"),
    }
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
}

#[tokio::test]
async fn erasure_destroys_the_key_and_verify_still_passes() {
    let fixture = fixture();
    let who = person(9);
    registered(&fixture, who, 90).await;
    let erase = Proposed {
        event: Event::PersonalDataErased(PersonalDataErased {
            reason: ErasureReason::Art17Request,
        }),
        ..sample::counselling(id(92), date("2024-06-01"))
    };
    fixture
        .ledger
        .append(who, ExpectedRevision::Any, vec![erase.clone()])
        .await
        .expect("erasure accepted");
    assert_eq!(fixture.keys.state(who).expect("keys"), KeyState::Destroyed);
    let decoded = fixture.ledger.read_person(who).await.expect("read");
    assert_eq!(decoded.len(), 3);
    assert!(
        decoded[0].data.is_none() && decoded[1].data.is_none(),
        "sealed events no longer open"
    );
    assert_eq!(
        decoded[2].event.as_ref().map(Event::event_type),
        Some(EventType::PersonalDataErased)
    );
    // Retrying the erasure is idempotent; anything else is refused.
    let retry = fixture
        .ledger
        .append(who, ExpectedRevision::Any, vec![erase])
        .await
        .expect("retry");
    assert_eq!(retry.already_recorded, 1);
    let error = fixture
        .ledger
        .append(
            who,
            ExpectedRevision::Any,
            vec![sample::counselling(id(93), date("2024-06-02"))],
        )
        .await
        .expect_err("erased is final");
    assert!(
        matches!(&error, LedgerError::Rule(violation) if violation.rule.code() == "erased_is_final"),
        "{error}"
    );
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
    assert_eq!(report.erased_events, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_one_person_all_land_in_order() {
    let fixture = Arc::new(fixture());
    let who = person(10);
    registered(&fixture, who, 100).await;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..16u128 {
        let fixture = fixture.clone();
        tasks.spawn(async move {
            for n in 0..10u128 {
                let event = sample::counselling(id(10_000 + writer * 100 + n), date("2024-02-01"));
                fixture
                    .ledger
                    .append(who, ExpectedRevision::Any, vec![event])
                    .await
                    .expect("append");
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("writer");
    }
    let decoded = fixture.ledger.read_person(who).await.expect("read");
    assert_eq!(decoded.len(), 2 + 160);
    for (revision, event) in decoded.iter().enumerate() {
        assert_eq!(event.recorded.revision, revision as u64);
    }
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
}

#[tokio::test]
async fn appends_to_different_plain_streams_share_group_commits_and_each_stream_keeps_its_order() {
    use journey_core::envelope::Actor;
    use journey_core::plain::PlainProposal;
    // Given 32 writers of their own plain streams and 8 writers of one shared stream.
    let fixture = Arc::new(fixture());
    let groups_before = fixture.log.stats().groups;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..40u8 {
        let fixture = fixture.clone();
        tasks.spawn(async move {
            let stream = if writer < 32 {
                format!("own-{writer}")
            } else {
                "shared-1".to_owned()
            };
            for n in 0..10u8 {
                let proposal = PlainProposal {
                    id: Uuid::new_v4(),
                    event_type: "T".into(),
                    json: false,
                    data: vec![writer, n],
                    metadata: Vec::new(),
                };
                fixture
                    .ledger
                    .append_plain(
                        &stream,
                        ExpectedRevision::Any,
                        vec![proposal],
                        &Actor::system("test"),
                    )
                    .await
                    .expect("plain append");
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("writer");
    }
    // Then every append is stored once, in its writer's order within each stream, ...
    let read = |stream: String| {
        let fixture = fixture.clone();
        async move {
            fixture
                .log
                .read_stream(
                    &stream,
                    journey_core::log::StreamFrom::Start,
                    journey_core::log::Direction::Forwards,
                    1000,
                )
                .await
                .expect("read")
        }
    };
    for writer in 0..32u8 {
        let events = read(format!("own-{writer}")).await;
        let data: Vec<Vec<u8>> = events
            .iter()
            .map(|event| {
                journey_core::plain::unframe(&event.event.payload)
                    .expect("plain")
                    .data
            })
            .collect();
        let expected: Vec<Vec<u8>> = (0..10u8).map(|n| vec![writer, n]).collect();
        assert_eq!(data, expected);
    }
    let shared = read("shared-1".to_owned()).await;
    assert_eq!(shared.len(), 80);
    for writer in 32..40u8 {
        let order: Vec<u8> = shared
            .iter()
            .filter_map(|event| journey_core::plain::unframe(&event.event.payload))
            .filter(|content| content.data[0] == writer)
            .map(|content| content.data[1])
            .collect();
        assert_eq!(order, (0..10u8).collect::<Vec<_>>());
    }
    // ... and appends to different streams shared flushes: a lock over all plain streams held
    // through the flush would have made every append a group of its own.
    let groups = fixture.log.stats().groups - groups_before;
    assert!(groups < 400, "{groups} groups for 400 appends");
    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
}
