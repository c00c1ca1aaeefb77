//! The projection runner over a real ledger: catch-up, live following, snapshots and restarts,
//! rebuilds, and erasure.

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::catalogue::{ErasureReason, Event, PersonalDataErased};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig, Proposed};
use journey_core::log::{EventLog, ExpectedRevision, SledLog, SledLogConfig};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_projections::{Projections, RunnerConfig, State};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

struct Fixture {
    dir: tempfile::TempDir,
    log: Arc<SledLog>,
    ledger: Arc<Ledger>,
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn open(dir: tempfile::TempDir) -> Fixture {
    let store = open_store(dir.path());
    let mut rng = StdRng::seed_from_u64(1);
    let master = SecretKey::from_bytes([7; 32]);
    let keys = Arc::new(KeyStore::open(&store, master, &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Arc::new(Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        Arc::new(FixedClock::at_date(date("2024-06-30"))),
        Box::new(StdRng::seed_from_u64(2)),
        LedgerConfig::default(),
    ));
    Fixture { dir, log, ledger }
}

/// sled releases its file lock a moment after the last handle is dropped; retry briefly.
fn open_store(path: &std::path::Path) -> Store {
    for _ in 0..100 {
        match Store::open(path, &StoreConfig::default()) {
            Ok(store) => return store,
            Err(journey_core::log::LogError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(error) => panic!("open store: {error}"),
        }
    }
    panic!("store stayed locked")
}

fn config(fixture: &Fixture) -> RunnerConfig {
    let mut config = RunnerConfig::new(fixture.dir.path().join("projections"));
    config.snapshot_every_events = 50;
    config.rebuild_page_events = 16;
    config
}

fn person(n: u128) -> PersonId {
    PersonId(Uuid::from_u128(1_000 + n))
}

async fn seed(fixture: &Fixture, persons: u128, contacts: u128) {
    for n in 0..persons {
        let base = n * 1_000;
        let mut events = vec![
            sample::registration(Uuid::from_u128(base + 1), date("2024-01-02")),
            sample::arrival(Uuid::from_u128(base + 2), date("2024-01-03")),
        ];
        for c in 0..contacts {
            events.push(sample::counselling(
                Uuid::from_u128(base + 10 + c),
                date("2024-02-01"),
            ));
        }
        fixture
            .ledger
            .append(person(n), ExpectedRevision::Any, events)
            .await
            .expect("seed");
    }
}

fn snapshot_of(projections: &Projections) -> State {
    projections.read(Clone::clone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_then_follows_live() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 5, 3).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let state = snapshot_of(&projections);
    assert_eq!(state.checkpoint, Some(24));
    assert_eq!(state.journals.len(), 5);
    assert!(state
        .journals
        .values()
        .all(|journal| journal.facts.len() == 5));

    let receipt = fixture
        .ledger
        .append(
            person(2),
            ExpectedRevision::Any,
            vec![sample::counselling(
                Uuid::from_u128(99_999),
                date("2024-03-01"),
            )],
        )
        .await
        .expect("append");
    projections
        .wait_for(receipt.last_position.expect("written") + 1)
        .await
        .expect("applied");
    let journal = projections.read(|state| state.journals[&person(2)].clone());
    assert_eq!(journal.facts.len(), 6);
    assert_eq!(journal.facts[5].id, Uuid::from_u128(99_999));
    let status = projections.status().await.expect("status");
    assert_eq!((status.lag_events, status.checkpoint), (0, Some(25)));
    projections.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_snapshot_without_applying_anything_twice() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 4, 2).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let before = snapshot_of(&projections);
    projections
        .shutdown()
        .await
        .expect("shutdown writes a snapshot");
    // More events arrive while the projections are down.
    seed_more(&fixture).await;

    let restarted = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    // Straight after start the state is the snapshot's (nothing applied twice, nothing lost)…
    let at_start = snapshot_of(&restarted);
    assert!(at_start.checkpoint >= before.checkpoint);
    restarted.caught_up().await.expect("caught up");
    let after = snapshot_of(&restarted);
    // …and after catching up every journal has contiguous revisions: no duplicate, no gap.
    for journal in after.journals.values() {
        for (revision, fact) in journal.facts.iter().enumerate() {
            assert_eq!(fact.revision, revision as u64);
        }
    }
    assert_eq!(after.journals[&person(0)].facts.len(), 4 + 1);
    // A rebuild from position 0 ends in exactly the same state.
    restarted.rebuild(|_| {}).await.expect("rebuild");
    assert_eq!(snapshot_of(&restarted), after);
    restarted.shutdown().await.expect("shutdown");
}

async fn seed_more(fixture: &Fixture) {
    for n in 0..4 {
        fixture
            .ledger
            .append(
                person(n),
                ExpectedRevision::Any,
                vec![sample::counselling(
                    Uuid::from_u128(50_000 + n),
                    date("2024-04-01"),
                )],
            )
            .await
            .expect("append");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_while_writers_append_swaps_in_an_equal_state() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 20, 5).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    let writer = {
        let ledger = fixture.ledger.clone();
        tokio::spawn(async move {
            for n in 0..40u128 {
                ledger
                    .append(
                        person(n % 20),
                        ExpectedRevision::Any,
                        vec![sample::counselling(
                            Uuid::from_u128(70_000 + n),
                            date("2024-05-01"),
                        )],
                    )
                    .await
                    .expect("append");
            }
        })
    };
    let progress = std::sync::Mutex::new(Vec::new());
    projections
        .rebuild(|update| progress.lock().expect("progress").push(update.position))
        .await
        .expect("rebuild");
    writer.await.expect("writer");
    projections.caught_up().await.expect("caught up");
    let live = snapshot_of(&projections);
    assert!(
        !progress.lock().expect("progress").is_empty(),
        "rebuild reported progress"
    );
    // Compare with a state folded directly from the log.
    let mut direct = State::default();
    for recorded in fixture.log.read_all(0, 100_000).await.expect("read") {
        direct.apply(&fixture.ledger.decode(recorded).expect("decode"));
    }
    assert_eq!(live, direct);
    projections.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_leaves_nothing_but_the_stream_id_also_after_a_restart() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 3, 1).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    projections
        .snapshot()
        .await
        .expect("snapshot with the person in it");
    let erase = Proposed {
        event: Event::PersonalDataErased(PersonalDataErased {
            reason: ErasureReason::Art17Request,
        }),
        ..sample::counselling(Uuid::from_u128(88_888), date("2024-06-01"))
    };
    fixture
        .ledger
        .append(person(1), ExpectedRevision::Any, vec![erase])
        .await
        .expect("erase");
    // Restart from the snapshot taken before the erasure: the person must not come back.
    projections.shutdown().await.expect("shutdown");
    let restarted = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    restarted.caught_up().await.expect("caught up");
    let journal = restarted.read(|state| state.journals[&person(1)].clone());
    assert!(journal.erased && journal.facts.is_empty());
    assert_eq!(
        restarted.read(|state| state.journals[&person(0)].facts.len()),
        3
    );
    restarted.shutdown().await.expect("shutdown");
}

/// The registers are folded from their streams like everything else: an indicator by area uses
/// them, and a restart from the snapshot (which holds only journals) and a rebuild end with the
/// same registers.
#[tokio::test]
async fn registers_follow_the_log_and_survive_a_restart_and_a_rebuild() {
    use journey_core::envelope::Actor;
    use journey_core::registers::{RegisterFile, RegisterKind};
    use journey_projections::kpi::Dimension;
    use journey_projections::KpiRequest;

    let fixture = open(tempfile::tempdir().expect("tempdir"));
    fixture
        .ledger
        .import_register_file(&RegisterFile::salzgitter(), &Actor::system("test"))
        .await
        .expect("registers");
    seed(&fixture, 4, 1).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let by_area = |projections: &Projections| {
        let result = projections
            .kpi(KpiRequest {
                key: "population_present".into(),
                as_of: date("2024-06-30"),
                known_at: None,
                by: vec![Dimension::Area],
                suppression: None,
            })
            .expect("kpi");
        result
            .cells
            .iter()
            .map(|cell| {
                (
                    cell.dimensions[0].value.clone(),
                    cell.measure("persons").and_then(|m| m.value),
                )
            })
            .collect::<Vec<_>>()
    };
    // sample::arrival records Lebenstedt, which lies in the Ortschaft Nord.
    assert_eq!(by_area(&projections), [("Nord".to_owned(), Some(4.0))]);
    let before = snapshot_of(&projections);
    assert_eq!(
        before
            .registers
            .register(RegisterKind::Districts)
            .entries()
            .count(),
        31
    );
    projections.shutdown().await.expect("shutdown");

    let restarted = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    assert_eq!(snapshot_of(&restarted).registers, before.registers);
    restarted.caught_up().await.expect("caught up");
    assert_eq!(by_area(&restarted), [("Nord".to_owned(), Some(4.0))]);
    restarted.rebuild(|_| {}).await.expect("rebuild");
    assert_eq!(snapshot_of(&restarted), before);
    restarted.shutdown().await.expect("shutdown");
}
