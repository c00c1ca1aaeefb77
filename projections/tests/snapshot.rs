//! The snapshot file (`journey_projections::snapshot`): its interned layout round-trips any
//! journals, an earlier layout and a damaged file are refused with a typed error, and an erased
//! person's values are nowhere readable in it. The kept rows of the past cuts it holds come back
//! as written; a file of the layout before them loads without them; a kept rows' section that
//! does not open, or does not hold kept rows as they are built, is refused.

mod support;

use std::path::Path;

use journey_core::catalogue::{ArrivalRecorded, Event};
use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::KeyStore;
use journey_core::log::Position;
use journey_core::store::{Store, StoreConfig};
use journey_projections::journal::{Journals, Store as _};
use journey_projections::kpi::columns::RowFields;
use journey_projections::kpi::history::History;
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

/// Writes `state` with the kept rows of its past cuts, as the runner does when they are up to
/// date with it; returns the file's bytes and the kept rows written.
fn write_with_kept_rows(path: &Path, state: &State, keys: &KeyStore) -> (Vec<u8>, History) {
    let history = History::of_journals(&state.store, &state.journals);
    let prepared = snapshot::prepare(&state.store, &state.journals, 2).with_kept_rows(&history);
    assert!(prepared.kept_rows_bytes() > 0);
    snapshot::write_prepared(
        path,
        1,
        state.checkpoint,
        prepared,
        keys,
        &mut StdRng::seed_from_u64(3),
    )
    .expect("write");
    (std::fs::read(path).expect("read"), history)
}

/// `body` (a file without its digest) with the SHA-256 digest the snapshot ends with: the file
/// a writer of that body would have made.
fn sealed_with_digest(mut body: Vec<u8>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    body
}

/// The columns of `history` at each of a few cuts over the journals of `state`, every row's
/// fields, to compare two histories by what they answer.
fn answers_of(history: &History, state: &State) -> Vec<Vec<RowFields>> {
    let cuts = ["2016-06-30", "2019-01-01", "2023-03-31"]
        .map(|day| day.parse::<chrono::NaiveDate>().expect("date"))
        .map(|day| day.and_hms_opt(12, 0, 0).expect("time").and_utc());
    cuts.iter()
        .map(|known_at| {
            let cut = history.columns_at(&state.store, &state.journals, *known_at);
            (0..cut.columns.len())
                .map(|row| cut.columns.row_fields(row))
                .collect()
        })
        .collect()
}

#[test]
fn the_kept_rows_come_back_from_the_snapshot_as_they_were_written() {
    let journals = with_erasures(support::population(40, 9), 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_for(&dir.path().join("store"), &journals);
    let state = State::interned(journals, Some(Position::from_raw(900)), None);
    let path = dir.path().join("journals.snapshot");

    let (_, written) = write_with_kept_rows(&path, &state, &keys);
    let loaded = snapshot::load(&path, &keys)
        .expect("load")
        .expect("a snapshot");

    let kept = loaded
        .kept_rows
        .expect("the kept rows came back")
        .decode()
        .expect("they check");
    assert_eq!(
        (kept.rows(), kept.versions()),
        (written.rows(), written.versions())
    );
    let loaded_state = State {
        journals: loaded.journals,
        store: loaded.store,
        ..state.clone()
    };
    assert_eq!(
        answers_of(&kept, &loaded_state),
        answers_of(&written, &state)
    );
}

#[test]
fn a_snapshot_of_the_layout_before_the_kept_rows_loads_without_them() {
    let journals = support::population(12, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_for(&dir.path().join("store"), &journals);
    let state = State::interned(journals, Some(Position::from_raw(400)), None);
    let path = dir.path().join("journals.snapshot");
    let prepared = snapshot::prepare(&state.store, &state.journals, 2);
    snapshot::write_prepared(
        &path,
        1,
        state.checkpoint,
        prepared,
        &keys,
        &mut StdRng::seed_from_u64(3),
    )
    .expect("write");
    let written = std::fs::read(&path).expect("read");

    // Given: the file as the layout before wrote it: its magic, no kept rows' frame (this
    // file's last frame is the empty one, its 8-byte length), its own digest.
    let body = &written[..written.len() - 32];
    let (frames, empty_frame) = body.split_at(body.len() - 8);
    assert_eq!(empty_frame, 0u64.to_le_bytes(), "no kept rows written");
    let mut before = frames.to_vec();
    before[..8].copy_from_slice(b"JRNYSNP2");
    std::fs::write(&path, sealed_with_digest(before)).expect("write");

    // Then: it loads, the journals as written, without kept rows (built as after a start
    // without snapshot).
    let header = snapshot::read_header(&path)
        .expect("header")
        .expect("a header");
    assert_eq!(header.checkpoint, state.checkpoint);
    let loaded = snapshot::load(&path, &keys)
        .expect("the layout before loads")
        .expect("a snapshot");
    assert!(loaded.kept_rows.is_none());
    let loaded = State {
        journals: loaded.journals,
        store: loaded.store,
        ..state.clone()
    };
    assert!(loaded == state, "the journals of the layout before");
}

#[test]
fn a_kept_rows_section_that_does_not_open_is_refused_with_its_own_error() {
    let journals = support::population(12, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_for(&dir.path().join("store"), &journals);
    let state = State::interned(journals, Some(Position::from_raw(300)), None);
    let path = dir.path().join("journals.snapshot");
    let (written, _) = write_with_kept_rows(&path, &state, &keys);

    // Given: a byte of the sealed kept rows (the file's last frame) flipped, under a digest
    // that matches (a writer's fault, not a torn file).
    let mut body = written[..written.len() - 32].to_vec();
    let inside_kept_rows = body.len() - 40;
    body[inside_kept_rows] ^= 0x01;
    std::fs::write(&path, sealed_with_digest(body)).expect("write");

    // Then: refused, naming the kept rows; nothing is loaded (the runner rebuilds).
    let refused = snapshot::load(&path, &keys).expect_err("kept rows that do not open");
    assert!(
        matches!(refused, SnapshotError::KeptRows { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("kept rows"), "{refused}");
}

#[test]
fn kept_rows_bytes_with_any_byte_changed_are_refused_or_read_without_fault() {
    let journals = with_erasures(support::population(10, 3), 4);
    let state = State::interned(journals, Some(Position::from_raw(200)), None);
    let history = History::of_journals(&state.store, &state.journals);
    let bytes = history.to_snapshot_bytes();
    let known_at = "2020-01-01T00:00:00Z".parse().expect("time");
    let (mut refused, mut read) = (0, 0);
    for at in (0..bytes.len()).step_by(3) {
        let mut changed = bytes.clone();
        changed[at] = changed[at].wrapping_add(0x55);
        // Then: either refused with what is wrong, or laid out so that a cut reads every row
        // (a value changed within its range is what the seal and the digest are there for).
        match History::from_snapshot_bytes(&changed) {
            Err(message) => {
                assert!(!message.is_empty());
                refused += 1;
            }
            Ok(history) => {
                history.columns_at(&state.store, &state.journals, known_at);
                read += 1;
            }
        }
    }
    assert!(refused > 0 && read > 0, "refused {refused}, read {read}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The kept rows' compact bytes round-trip any history: built, then some persons refreshed
    /// (late facts, persons new since, some erased), read back they answer every cut as the
    /// history written does, and written again they are the same bytes.
    #[test]
    fn kept_rows_come_back_from_their_bytes_as_written_refreshed_persons_included(
        people in 1usize..40,
        seed in 0u64..1_000,
        late_every in 2usize..6,
        erase_every in 0usize..6,
    ) {
        // Given: a history built while every `late_every`th person knew only what was recorded
        // by mid-2019 (and every third of those had not come yet), then refreshed with all of it.
        let after = with_erasures(support::population(people, seed), erase_every);
        let recorded_by: chrono::DateTime<chrono::Utc> =
            "2019-06-30T00:00:00Z".parse().expect("time");
        let mut before = after.clone();
        let mut dirty = std::collections::BTreeSet::new();
        for (n, person) in after.keys().enumerate() {
            if n % late_every == 0 {
                dirty.insert(*person);
                if n % (3 * late_every) == 0 {
                    before.remove(person);
                } else if let Some(journal) = before.get_mut(person) {
                    journal.facts.retain(|fact| fact.recorded_at.time() <= recorded_by);
                }
            }
        }
        let before = State::interned(before, None, None);
        let state = State::interned(after, None, None);
        let mut history = History::of_journals(&before.store, &before.journals);
        history.refresh_persons(&state.store, &state.journals, &dirty);

        // When: written and read back.
        let bytes = history.to_snapshot_bytes();
        let read = History::from_snapshot_bytes(&bytes).expect("they check");

        // Then: the same answers at every cut, the same counts, and the same bytes again.
        prop_assert_eq!((read.rows(), read.versions()), (history.rows(), history.versions()));
        prop_assert!(answers_of(&read, &state) == answers_of(&history, &state));
        prop_assert!(read.to_snapshot_bytes() == bytes);
    }
}
