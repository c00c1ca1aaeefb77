//! The snapshot file (`journey_projections::snapshot`): its interned layout round-trips any
//! journals, an earlier layout and a damaged file are refused with a typed error, and an erased
//! person's values are nowhere readable in it.

mod support;

use std::path::Path;

use journey_core::catalogue::{ArrivalRecorded, Event};
use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::KeyStore;
use journey_core::log::Position;
use journey_core::store::{Store, StoreConfig};
use journey_projections::journal::{Journals, Store as _};
use journey_projections::snapshot::{self, SnapshotError};
use journey_projections::State;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A key store with a data key for every person of `journals`.
fn keys_for(dir: &Path, journals: &Journals) -> KeyStore {
    let store = Store::open(dir, &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(11);
    let keys = KeyStore::open(&store, SecretKey::from_bytes([4; 32]), &mut rng).expect("keys");
    for person in journals.keys() {
        keys.data_key_or_create(*person, &mut rng).expect("key");
    }
    keys
}

/// Writes `state` as the runner does (interned, on two threads) and loads it again.
fn write_and_load(path: &Path, state: &State, keys: &KeyStore) -> State {
    let prepared = snapshot::prepare(&state.store, &state.journals, 2);
    snapshot::write_prepared(
        path,
        1,
        state.checkpoint,
        prepared,
        keys,
        &mut StdRng::seed_from_u64(3),
    )
    .expect("write");
    let loaded = snapshot::load(path, keys)
        .expect("load")
        .expect("a snapshot");
    assert_eq!(loaded.header.checkpoint, state.checkpoint);
    assert_eq!(loaded.header.persons, state.journals.len() as u64);
    State {
        journals: loaded.journals,
        store: loaded.store,
        ..state.clone()
    }
}

/// `journals` with every `erase_every`th person erased (their facts dropped, as the runner does).
fn with_erasures(mut journals: Journals, erase_every: usize) -> Journals {
    for (n, journal) in journals.values_mut().enumerate() {
        if erase_every > 0 && n % erase_every == 0 {
            journal.facts.clear();
            journal.erased = true;
        }
    }
    journals
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn a_snapshot_loads_back_the_journals_and_interner_it_was_written_from(
        people in 0usize..40,
        seed in any::<u64>(),
        erase_every in 0usize..5,
        checkpoint in proptest::option::of(0u64..1_000_000),
    ) {
        // Given: synthetic journals (corrections, retractions, households), some persons erased,
        // held as the runner holds them (interned).
        let journals = with_erasures(support::population(people, seed), erase_every);
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = keys_for(&dir.path().join("store"), &journals);
        let state = State::interned(journals.clone(), checkpoint.map(Position::from_raw), None);

        // When: it is written and loaded.
        let loaded = write_and_load(&dir.path().join("journals.snapshot"), &state, &keys);

        // Then: the same facts with the same events and actors, each value held by the same facts.
        prop_assert!(loaded == state, "the loaded state differs from the written one");
        // And written from inline journals (nothing shared) it loads to the same state too.
        let inline_path = dir.path().join("inline.snapshot");
        snapshot::write(
            &inline_path,
            1,
            state.checkpoint,
            &journals,
            &keys,
            &mut StdRng::seed_from_u64(5),
        )
        .expect("write inline");
        let from_inline = snapshot::load(&inline_path, &keys).expect("load").expect("a snapshot");
        let from_inline = State { journals: from_inline.journals, store: from_inline.store, ..state.clone() };
        prop_assert!(from_inline == state, "the state written from inline journals differs");
    }
}

#[test]
fn an_earlier_layout_is_refused_as_foreign_and_a_damaged_file_as_invalid() {
    let journals = support::population(12, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_for(&dir.path().join("store"), &journals);
    let state = State::interned(journals, Some(Position::from_raw(400)), None);
    let path = dir.path().join("journals.snapshot");
    write_and_load(&path, &state, &keys);
    let written = std::fs::read(&path).expect("read");

    // Given: the same file under the magic of the layout before (whose entries held JSON).
    let mut earlier = written.clone();
    earlier[..8].copy_from_slice(b"JRNYSNP1");
    std::fs::write(&path, &earlier).expect("write");
    // Then: refused as a foreign format, by its header too (what the runner and a backup read).
    let refused = snapshot::load(&path, &keys).expect_err("an earlier layout");
    assert!(
        matches!(refused, SnapshotError::ForeignFormat { ref found, .. } if found == "JRNYSNP1"),
        "{refused}"
    );
    assert!(matches!(
        snapshot::read_header(&path),
        Err(SnapshotError::ForeignFormat { .. })
    ));

    // Given: the file with one byte of a person's entry flipped, or cut short.
    let mut damaged = written.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    let mut cut = written.clone();
    cut.truncate(written.len() - 100);
    for broken in [damaged, cut] {
        std::fs::write(&path, &broken).expect("write");
        // Then: refused as invalid, naming the damage; nothing is loaded.
        let refused = snapshot::load(&path, &keys).expect_err("a damaged file");
        assert!(
            matches!(refused, SnapshotError::Invalid { ref message, .. } if message.contains("digest")),
            "{refused}"
        );
    }
}

/// A district name no other value contains, to look for in the file's bytes.
fn marked_arrival(marker: &str) -> Event {
    Event::ArrivalRecorded(ArrivalRecorded {
        district: marker.to_owned(),
        ..support::arrival("Köln")
    })
}

#[test]
fn an_erased_persons_own_values_are_nowhere_readable_in_the_file() {
    // Given: persons A and B each with an arrival of their own (a district only they name), and
    // both with the same address (a value the facts of two persons hold).
    let mut a = support::Person::registered(1, 1990, journey_core::catalogue::Sex::Female, "SYR");
    let mut b = support::Person::registered(2, 1985, journey_core::catalogue::Sex::Male, "AFG");
    a.on("2024-01-03", marked_arrival("Only-A-District"));
    b.on("2024-01-04", marked_arrival("Only-B-District"));
    for person in [&mut a, &mut b] {
        person.on("2024-02-01", support::address("Shared-District"));
    }
    let person_a: PersonId = a.id;
    let journals = support::journals(&[a, b]);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store"), &StoreConfig::default()).expect("store");
    let mut rng = StdRng::seed_from_u64(11);
    let keys = KeyStore::open(&store, SecretKey::from_bytes([4; 32]), &mut rng).expect("keys");
    for person in journals.keys() {
        keys.data_key_or_create(*person, &mut rng).expect("key");
    }
    let state = State::interned(journals, Some(Position::from_raw(10)), None);
    let path = dir.path().join("journals.snapshot");
    write_and_load(&path, &state, &keys);
    let bytes = std::fs::read(&path).expect("read");
    let contains = |text: &str| {
        bytes
            .windows(text.len())
            .any(|window| window == text.as_bytes())
    };
    // Nothing is readable in the file: the shared value is sealed with the epoch's snapshot key,
    // each person's own value with their data key.
    assert!(!contains("Shared-District"));
    assert!(!contains("Only-A-District") && !contains("Only-B-District"));

    // When: A is erased (the key destroyed, the key epoch rotated) after the snapshot was written.
    keys.destroy(person_a, &mut rng).expect("erase A");

    // Then: the file of the earlier epoch is refused (the runner rebuilds from the log) ...
    match snapshot::load(&path, &keys) {
        Err(SnapshotError::EpochRotated {
            written, current, ..
        }) => assert!(current > written, "epoch {written} → {current}"),
        other => panic!("expected EpochRotated, got {other:?}"),
    }
    // ... and the snapshot written next, under the new epoch, holds A as erased.
    write_and_load(&path, &state, &keys);
    let loaded = snapshot::load(&path, &keys)
        .expect("load")
        .expect("a snapshot");

    // Then: A comes back erased, and nothing of A's own values is held; B keeps everything.
    assert!(loaded.journals[&person_a].erased && loaded.journals[&person_a].facts.is_empty());
    let districts: Vec<String> = loaded
        .journals
        .values()
        .flat_map(|journal| &journal.facts)
        .filter_map(|fact| match loaded.store.event(&fact.event) {
            Event::ArrivalRecorded(arrival) => Some(arrival.district.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(districts, vec!["Only-B-District".to_owned()]);
    assert!(loaded
        .store
        .events()
        .all(|event| !format!("{event:?}").contains("Only-A-District")));
}
