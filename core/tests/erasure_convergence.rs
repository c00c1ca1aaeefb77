//! Erasure converges: an erasure whose event is durable but whose key survived (the process stopped,
//! or the key store failed, between the two writes) is finished by its retry and by the next open,
//! and an erasure that never reached the log leaves nothing behind. The crash itself is tested over
//! the binary (tests/tests/faults.rs); here the key store fails instead, which leaves the same state.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::catalogue::{ErasureReason, Event, PersonalDataErased};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::{KeyState, KeyStore, EPOCH_DIR};
use journey_core::ledger::{Ledger, LedgerConfig, Proposed};
use journey_core::log::{EventLog, ExpectedRevision, SledLog, SledLogConfig};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_core::vault::{PersonalData, Vault, VaultError};
use journey_core::verify::{verify, VerifyOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

/// An opened data directory, as `Context::open` opens it.
struct Opened {
    store: Store,
    log: Arc<SledLog>,
    keys: Arc<KeyStore>,
    ledger: Ledger,
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

async fn open(dir: &Path) -> Opened {
    let store = Store::open(dir, &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(5);
    let keys =
        Arc::new(KeyStore::open(&store, SecretKey::from_bytes([7; 32]), &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys.clone(),
        Arc::new(FixedClock::at_date(date("2024-06-30"))),
        Box::new(StdRng::seed_from_u64(6)),
        LedgerConfig::default(),
    );
    Opened {
        store,
        log,
        keys,
        ledger,
    }
}

async fn close(opened: Opened) {
    let Opened {
        store,
        log,
        keys,
        ledger,
    } = opened;
    drop(ledger);
    drop(keys);
    log.close().await.expect("close log");
    drop(log);
    store.flush().expect("flush");
}

fn person() -> PersonId {
    PersonId(Uuid::from_u128(0xE8A5E))
}

fn erasure() -> Proposed {
    Proposed {
        event: Event::PersonalDataErased(PersonalDataErased {
            reason: ErasureReason::Art17Request,
        }),
        ..sample::counselling(Uuid::from_u128(3), date("2024-06-01"))
    }
}

/// A registered person with a vault entry.
async fn registered(opened: &Opened) {
    opened
        .ledger
        .append(
            person(),
            ExpectedRevision::NoStream,
            vec![
                sample::registration(Uuid::from_u128(1), date("2024-01-02")),
                sample::arrival(Uuid::from_u128(2), date("2024-01-03")),
            ],
        )
        .await
        .expect("registration");
    let vault = Vault::open(&opened.store).expect("vault");
    let data = PersonalData {
        given_names: "Zuhal".into(),
        family_name: "Convergence".into(),
        birth_date: None,
        phone: None,
        address: None,
    };
    vault
        .put(&opened.keys, person(), &data, &mut StdRng::seed_from_u64(8))
        .expect("vault entry");
}

/// Appends the erasure while the epoch directory cannot be written, so that the event becomes
/// durable and the key's destruction (which writes the next epoch's file) fails.
async fn erasure_durable_but_key_alive(dir: &Path, opened: &Opened) {
    let epochs = dir.join(EPOCH_DIR);
    let away = dir.join("keys.away");
    std::fs::rename(&epochs, &away).expect("move the epoch directory away");
    std::fs::write(&epochs, b"not a directory").expect("block the epoch directory");
    let error = opened
        .ledger
        .append(person(), ExpectedRevision::Any, vec![erasure()])
        .await
        .expect_err("the key cannot be destroyed");
    assert!(error.to_string().contains("epoch"), "{error}");
    std::fs::remove_file(&epochs).expect("unblock");
    std::fs::rename(&away, &epochs).expect("move the epoch directory back");
    assert!(matches!(
        opened.keys.state(person()).expect("state"),
        KeyState::Present(_)
    ));
    let stored = opened
        .log
        .find_event(&person().stream_name(), erasure().id)
        .await
        .expect("find")
        .expect("the erasure is in the log");
    // Until it is finished, verify names the erasure whose key survived.
    let report = verify(&opened.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    let problem = report.first_problem.expect("a problem");
    assert_eq!(problem.position, stored.position);
    assert!(
        problem.reason.contains("data key still exists"),
        "{problem}"
    );
}

async fn assert_erased(opened: &Opened, epoch_before: u64) {
    assert_eq!(
        opened.keys.state(person()).expect("state"),
        KeyState::Destroyed
    );
    assert!(
        opened.keys.epoch_number() > epoch_before,
        "the epoch rotated"
    );
    assert_eq!(opened.keys.pending_erasures().expect("pending"), vec![]);
    let vault = Vault::open(&opened.store).expect("vault");
    assert!(matches!(
        vault.get(&opened.keys, person()),
        Err(VaultError::Erased(_)) | Ok(None)
    ));
    let decoded = opened.ledger.read_person(person()).await.expect("read");
    assert!(decoded[..2].iter().all(|event| event.data.is_none()));
    let report = verify(&opened.ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
    assert_eq!(report.erased_events, 2);
}

#[tokio::test]
async fn given_an_erasure_whose_key_survived_when_it_is_retried_then_the_key_is_destroyed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = open(dir.path()).await;
    registered(&opened).await;
    let epoch_before = opened.keys.epoch_number();
    erasure_durable_but_key_alive(dir.path(), &opened).await;

    let retry = opened
        .ledger
        .append(person(), ExpectedRevision::Any, vec![erasure()])
        .await
        .expect("the retry is accepted");

    assert_eq!(retry.already_recorded, 1);
    assert_erased(&opened, epoch_before).await;
    close(opened).await;
}

#[tokio::test]
async fn given_an_erasure_whose_key_survived_when_the_store_opens_again_then_it_is_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = open(dir.path()).await;
    assert_eq!(
        opened
            .ledger
            .finish_interrupted_erasures()
            .await
            .expect("finish"),
        vec![]
    );
    registered(&opened).await;
    let epoch_before = opened.keys.epoch_number();
    erasure_durable_but_key_alive(dir.path(), &opened).await;
    close(opened).await;

    let opened = open(dir.path()).await;
    let finished = opened
        .ledger
        .finish_interrupted_erasures()
        .await
        .expect("finish");

    assert_eq!(finished, vec![person()]);
    assert_erased(&opened, epoch_before).await;
    let again = opened
        .ledger
        .finish_interrupted_erasures()
        .await
        .expect("finish");
    assert_eq!(again, vec![], "nothing is left to finish");
    close(opened).await;
}

#[tokio::test]
async fn given_a_store_from_before_erasure_intents_when_it_opens_then_a_surviving_key_is_destroyed()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = open(dir.path()).await;
    registered(&opened).await;
    let epoch_before = opened.keys.epoch_number();
    erasure_durable_but_key_alive(dir.path(), &opened).await;
    // What an older version left: the erasure in the log, the key alive, no intent and no record of
    // a reconciliation.
    let tree = opened.store.db().open_tree("keys").expect("keys tree");
    for item in tree.scan_prefix(b"!erasing/") {
        let (key, _) = item.expect("intent");
        tree.remove(key).expect("remove intent");
    }
    tree.remove(b"!erasures-reconciled").expect("remove marker");
    drop(tree);
    assert_eq!(opened.keys.pending_erasures().expect("pending"), vec![]);
    close(opened).await;

    let opened = open(dir.path()).await;
    let finished = opened
        .ledger
        .finish_interrupted_erasures()
        .await
        .expect("finish");

    assert_eq!(finished, vec![person()]);
    assert_erased(&opened, epoch_before).await;
    assert!(opened.keys.erasures_reconciled().expect("marker"));
    close(opened).await;
}

#[tokio::test]
async fn given_an_erasure_intent_whose_event_never_reached_the_log_when_the_store_opens_then_it_is_dropped(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = open(dir.path()).await;
    registered(&opened).await;
    let key = opened.keys.state(person()).expect("state");
    let epoch = opened.keys.epoch_number();
    // The process stopped after the intent and before the event's append was durable.
    opened.keys.begin_erasure(person()).expect("intent");
    close(opened).await;

    let opened = open(dir.path()).await;
    let finished = opened
        .ledger
        .finish_interrupted_erasures()
        .await
        .expect("finish");

    assert_eq!(finished, vec![]);
    assert_eq!(opened.keys.pending_erasures().expect("pending"), vec![]);
    assert_eq!(opened.keys.state(person()).expect("state"), key);
    assert_eq!(opened.keys.epoch_number(), epoch);
    let decoded = opened.ledger.read_person(person()).await.expect("read");
    assert!(decoded.iter().all(|event| event.data.is_some()));
    close(opened).await;
}
