//! The registers in the ledger over the real sled log: an imported register refuses unknown codes
//! on the write path (with the closest known values, writing nothing), keeps its history as events
//! of its own streams, survives a reopen, and stays out of every person's journey.

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::catalogue::{
    Accommodation, ArrivalRecorded, CourseRegistered, CourseType, Event, EventCorrected, Origin,
    Replacement,
};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::{Actor, PersonId};
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig, LedgerError, Proposed};
use journey_core::log::{EventLog, ExpectedRevision, SledLog, SledLogConfig};
use journey_core::registers::{
    EntrySpec, RegisterEvent, RegisterFile, RegisterKind, RegisterProposal, RegisterValueMapped,
};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_core::verify::{verify, VerifyOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn person(n: u128) -> PersonId {
    PersonId(Uuid::from_u128(1_000_000 + n))
}

fn admin() -> Actor {
    Actor::system("registers-test")
}

struct Fixture {
    dir: tempfile::TempDir,
    log: Arc<SledLog>,
    ledger: Ledger,
}

fn open(dir: tempfile::TempDir) -> Fixture {
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(11);
    let master = SecretKey::from_bytes([7; 32]);
    let keys = Arc::new(KeyStore::open(&store, master, &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        Arc::new(FixedClock::at_date(date("2026-12-01"))),
        Box::new(StdRng::seed_from_u64(12)),
        LedgerConfig::default(),
    );
    Fixture { dir, log, ledger }
}

fn fixture() -> Fixture {
    open(tempfile::tempdir().expect("tempdir"))
}

async fn with_salzgitter() -> Fixture {
    let fixture = fixture();
    fixture
        .ledger
        .import_register_file(&RegisterFile::salzgitter(), &admin())
        .await
        .expect("the shipped registers import");
    fixture
}

fn arrival_in(event_id: u128, on: &str, district: &str) -> Proposed {
    let mut proposed = sample::arrival(id(event_id), date(on));
    proposed.event = Event::ArrivalRecorded(ArrivalRecorded {
        entry_date: None,
        origin: Origin::Abroad,
        accommodation: Accommodation::Shared,
        district: district.into(),
    });
    proposed
}

#[tokio::test]
async fn without_a_register_any_district_is_accepted() {
    let fixture = fixture();
    fixture
        .ledger
        .append(
            person(1),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(id(1), date("2024-01-02")),
                arrival_in(2, "2024-01-03", "Atlantis"),
            ],
        )
        .await
        .expect("no register: nothing to check against");
}

#[tokio::test]
async fn an_unknown_district_is_refused_with_the_closest_ones_and_nothing_is_written() {
    let fixture = with_salzgitter().await;
    let head = fixture.log.last_position().await.expect("head");
    let error = fixture
        .ledger
        .append(
            person(1),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(id(1), date("2024-01-02")),
                arrival_in(2, "2024-01-03", "lebenstedt"),
            ],
        )
        .await
        .unwrap_err();
    let LedgerError::UnknownCode { index, unknown, .. } = &error else {
        panic!("expected an unknown code, got {error}");
    };
    assert_eq!(*index, 1);
    assert_eq!(unknown.field, "district");
    assert_eq!(unknown.register, RegisterKind::Districts);
    assert_eq!(unknown.suggestions[0], "Lebenstedt");
    assert_eq!(error.code(), "VALIDATION");
    assert!(
        error.to_string().contains("field `data.district`"),
        "{error}"
    );
    assert_eq!(fixture.log.last_position().await.expect("head"), head);

    fixture
        .ledger
        .append(
            person(1),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(id(1), date("2024-01-02")),
                arrival_in(2, "2024-01-03", "Lebenstedt"),
            ],
        )
        .await
        .expect("the register's spelling is accepted");
}

#[tokio::test]
async fn an_unknown_provider_is_refused_and_a_dry_run_refuses_it_too() {
    let fixture = with_salzgitter().await;
    fixture
        .ledger
        .append(
            person(1),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(id(1), date("2024-01-02")),
                arrival_in(2, "2024-01-03", "Thiede"),
            ],
        )
        .await
        .expect("registered");
    let mut course = sample::arrival(id(3), date("2024-02-01"));
    course.event = Event::CourseRegistered(CourseRegistered {
        course_id: "IK-2024-01".into(),
        course_type: CourseType::General,
        provider: "VHS Salzgiter".into(),
    });
    let error = fixture
        .ledger
        .check(person(1), std::slice::from_ref(&course))
        .await
        .unwrap_err();
    let LedgerError::UnknownCode { unknown, .. } = error else {
        panic!("expected an unknown code");
    };
    assert_eq!(unknown.field, "provider");
    assert_eq!(unknown.suggestions[0], "VHS Salzgitter");
}

#[tokio::test]
async fn a_correction_naming_an_unknown_district_is_refused() {
    let fixture = with_salzgitter().await;
    fixture
        .ledger
        .append(
            person(1),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(id(1), date("2024-01-02")),
                arrival_in(2, "2024-01-03", "Thiede"),
            ],
        )
        .await
        .expect("registered");
    let mut correction = sample::arrival(id(3), date("2024-01-04"));
    correction.event = Event::EventCorrected(EventCorrected {
        target_event_id: id(2),
        replacement: Replacement {
            event_type: "ArrivalRecorded".into(),
            occurred_on: date("2024-01-03"),
            data: serde_json::json!({"origin": "abroad", "accommodation": "shared", "district": "Gebhartshagen"}),
        },
        reason: "wrong district entered".into(),
    });
    let error = fixture
        .ledger
        .append(person(1), ExpectedRevision::Any, vec![correction])
        .await
        .unwrap_err();
    let LedgerError::UnknownCode { unknown, .. } = error else {
        panic!("expected an unknown code");
    };
    assert_eq!(unknown.field, "replacement.data.district");
    assert_eq!(unknown.suggestions[0], "Gebhardshagen");
}

#[tokio::test]
async fn a_renamed_district_is_refused_after_its_date_and_its_successor_before() {
    let fixture = with_salzgitter().await;
    let mut file = RegisterFile::salzgitter();
    let bad = file
        .districts
        .iter_mut()
        .find(|spec| spec.code == "Salzgitter-Bad")
        .expect("listed");
    bad.valid_until = Some(date("2027-01-01"));
    bad.successors = vec!["Bad Salzgitter".into()];
    file.districts.push(EntrySpec {
        code: "Bad Salzgitter".into(),
        name: None,
        parent: Some("Süd".into()),
        valid_from: date("2027-01-01"),
        valid_until: None,
        successors: Vec::new(),
    });
    let receipt = fixture
        .ledger
        .import_register_file(&file, &admin())
        .await
        .expect("the rename imports");
    assert_eq!(receipt.written.len(), 2);

    let refused = fixture
        .ledger
        .check(
            person(1),
            &[
                sample::registration(id(1), date("2027-01-01")),
                arrival_in(2, "2027-01-02", "Salzgitter-Bad"),
            ],
        )
        .await
        .unwrap_err();
    let LedgerError::UnknownCode { unknown, .. } = refused else {
        panic!("expected an unknown code");
    };
    assert_eq!(unknown.suggestions[0], "Bad Salzgitter");
    assert!(fixture
        .ledger
        .check(
            person(1),
            &[
                sample::registration(id(1), date("2026-06-01")),
                arrival_in(2, "2026-06-02", "Salzgitter-Bad")
            ]
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn register_events_are_their_own_chained_streams_that_reopen_and_verify() {
    let fixture = with_salzgitter().await;
    let again = fixture
        .ledger
        .import_register_file(&RegisterFile::salzgitter(), &admin())
        .await
        .expect("the same file again");
    assert!(again.written.is_empty(), "nothing new");

    let districts = fixture
        .log
        .stream_revision(&RegisterKind::Districts.stream_name())
        .await
        .expect("revision");
    assert_eq!(districts, Some(30), "31 districts, revisions 0..=30");

    let report = verify(&fixture.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify runs");
    assert!(report.first_problem.is_none(), "{:?}", report.first_problem);

    let registers_before = fixture.ledger.registers().await.expect("registers");
    fixture.log.close().await.expect("close");
    let Fixture { dir, ledger, log } = fixture;
    drop(ledger);
    drop(log);
    let reopened = open(dir);
    assert_eq!(
        *reopened.ledger.registers().await.expect("registers"),
        *registers_before
    );
}

#[tokio::test]
async fn a_register_event_that_does_not_fit_writes_nothing() {
    let fixture = with_salzgitter().await;
    let head = fixture.log.last_position().await.expect("head");
    let error = fixture
        .ledger
        .append_register_events(
            vec![
                RegisterProposal {
                    id: id(10),
                    register: RegisterKind::Providers,
                    occurred_on: date("2026-01-01"),
                    event: RegisterEvent::ValueMapped(RegisterValueMapped {
                        value: "VHS".into(),
                        code: "VHS Salzgitter".into(),
                        reason: "short form".into(),
                    }),
                },
                RegisterProposal {
                    id: id(11),
                    register: RegisterKind::Districts,
                    occurred_on: date("2026-01-01"),
                    event: RegisterEvent::ValueMapped(RegisterValueMapped {
                        value: "SZ-Bad".into(),
                        code: "Atlantis".into(),
                        reason: "typo".into(),
                    }),
                },
            ],
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, LedgerError::Register { index: 1, .. }),
        "{error}"
    );
    assert_eq!(fixture.log.last_position().await.expect("head"), head);
}

#[tokio::test]
async fn a_dry_run_names_the_callers_index_when_earlier_events_were_already_accepted() {
    let fixture = with_salzgitter().await;
    let mut simulation = fixture.ledger.simulate(person(1)).await.expect("simulate");
    let registration = sample::registration(id(1), date("2024-01-02"));
    fixture
        .ledger
        .simulate_append(&mut simulation, std::slice::from_ref(&registration))
        .await
        .expect("registration");
    let error = fixture
        .ledger
        .simulate_append(
            &mut simulation,
            &[registration, arrival_in(2, "2024-01-03", "Atlantis")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, LedgerError::UnknownCode { index: 1, .. }),
        "{error}"
    );
}
