//! What `synth::seed` writes through the ledger: every synthesized event of every person, in the
//! person's order, with the content digest over the canonical content as it has always been
//! defined, and both hash chains intact. Seeding may batch, reorder persons and run concurrently
//! as it likes; the stored content must stay what the ledger's write path has always written.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::clock::FixedClock;
use journey_core::crypto::{self, SecretKey};
use journey_core::envelope::PersonId;
use journey_core::keys::{KeyState, KeyStore};
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::{EventLog, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use journey_core::synth::{households, SynthConfig, SynthEvent};
use journey_core::verify::{verify, VerifyOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
}

/// The canonical content of an event as the ledger defined it from the start: a JSON object with
/// sorted keys. The content digests of every store ever written cover these bytes.
fn canonical_content(event: &SynthEvent) -> Vec<u8> {
    let event_type = event.event.event_type();
    let content = json!({
        "actor": event.actor,
        "causation_id": None::<uuid::Uuid>,
        "correlation_id": None::<uuid::Uuid>,
        "data": event.event.to_data(),
        "occurred_on": event.occurred_on,
        "type": event_type.name(),
        "version": event_type.current_version(),
    });
    serde_json::to_vec(&content).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_store_holds_every_synthesized_event_with_its_digest_and_verifies() {
    // Given a ledger on the embedded log, and a population whose end lies before the clock's now
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(3);
    let keys =
        Arc::new(KeyStore::open(&store, SecretKey::from_bytes([5; 32]), &mut rng).expect("keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("log"));
    let ledger = Arc::new(Ledger::new(
        log as Arc<dyn EventLog>,
        keys.clone(),
        Arc::new(FixedClock::at_date(date("2026-12-01"))),
        Box::new(StdRng::seed_from_u64(4)),
        LedgerConfig::default(),
    ));
    let config = SynthConfig {
        people: 400,
        seed: 7,
        start: date("2016-01-01"),
        end: date("2024-12-31"),
    };

    // When the population is seeded
    let seeded = journey_core::synth::seed(&ledger, &config, |_| {})
        .await
        .expect("seeded");

    // Then each person's stream holds the person's synthesized events in order, as synthesized
    let mut by_person: BTreeMap<PersonId, Vec<SynthEvent>> = BTreeMap::new();
    for event in households(&config).flatten() {
        by_person.entry(event.person).or_default().push(event);
    }
    let mut person_events = 0;
    for (person, expected) in &by_person {
        let KeyState::Present(key) = keys.state(*person).expect("key state") else {
            panic!("{person} has no data key");
        };
        let stored = ledger.read_person(*person).await.expect("read");
        assert_eq!(stored.len(), expected.len(), "events of {person}");
        for (revision, (stored, expected)) in (0..).zip(stored.iter().zip(expected)) {
            let recorded = &stored.recorded.event;
            assert_eq!(stored.recorded.revision, revision);
            assert_eq!(recorded.id, expected.id);
            assert_eq!(recorded.occurred_on, expected.occurred_on);
            assert_eq!(recorded.recorded_at, expected.recorded_at);
            assert_eq!(stored.actor, expected.actor);
            assert_eq!(stored.event.as_ref(), Some(&expected.event));
            assert_eq!(stored.data.as_ref(), Some(&expected.event.to_data()));
            // and the digest covers the canonical content as it has always been defined
            assert_eq!(
                recorded.content_digest,
                crypto::content_digest(&key, &canonical_content(expected)),
                "the content digest of {} ({})",
                recorded.id,
                recorded.event_type
            );
        }
        person_events += expected.len();
    }
    assert_eq!(seeded.persons, by_person.len());
    // (the rest are the offers' and volunteers' events, which are no person's)
    assert!(seeded.written > person_events, "{seeded:?}");

    // And both hash chains verify over the whole log
    let report = verify(&ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.first_problem, None);
    assert_eq!(report.events, seeded.written as u64);
}
