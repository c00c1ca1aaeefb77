//! Tests of the record formats side by side: a store written with records of formats 1 to 3 stays
//! readable, verifiable, appendable and copyable once the writer writes format 4, every read
//! returns the same `RecordedEvent`s for all formats, a crash between groups loses no stream name
//! and no dictionary entry, and `verify` still finds a changed, removed or reordered event.

use std::sync::Arc;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

// One concern of the sled log; it shares the module's private items.
use super::*;

use crate::clock::FixedClock;
use crate::crypto::SecretKey;
use crate::envelope::PersonId;
use crate::keys::KeyStore;
use crate::ledger::{Ledger, LedgerConfig};
use crate::log::test_support::test_event;
use crate::sample;
use crate::store::StoreConfig;
use crate::verify::{verify, VerifyOptions};

use super::tests::small_store;

/// An event that differs from its neighbours in every field a record stores.
fn varied_event(n: u128, rich: bool) -> NewEvent {
    let mut event = test_event(Uuid::from_u128(0x5eed_0000 + n));
    if rich {
        event.event_type = format!("Type{}", n % 5);
        event.actor = LogActor {
            id: format!("cw-{n}"),
            agency: Some("jobcenter".to_owned()),
            role: (n % 3) as u8,
        };
        event.correlation_id = Some(Uuid::from_u128(n + 1));
        event.causation_id = Some(Uuid::from_u128(n + 2));
        event.encoding = PayloadEncoding::Sealed;
        event.payload = (0..=(n % 200) as u8).collect();
        event.prev_hash = [n as u8; 32];
    }
    event
}

/// Writes `events` (stream, event) with raw sled writes, in position order from 0, with their `x`
/// key and a meta value of format 2: the store builds before format 4 left behind. With `mixed`,
/// the records at positions 1, 4, 7, … are of format 2 and those at 2, 5, 8, … of format 3 (with
/// their streams' `n` keys), else all are of format 1. Returns the stream revisions given.
fn given_old_records(store: &Store, events: &[(String, NewEvent)], mixed: bool) -> Vec<u64> {
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let mut revisions: HashMap<String, u64> = HashMap::new();
    let mut numbers: HashMap<String, u32> = HashMap::new();
    let mut given = Vec::new();
    let mut prev = chain::GENESIS;
    let mut runs = Vec::new();
    let mut batch = sled::Batch::default();
    for (position, (stream, event)) in (0u64..).zip(events) {
        let revision = revisions.entry(stream.clone()).or_default();
        let hash = chain::global_hash(&prev, position, &event.hash);
        let bytes = match (mixed, position % 3) {
            (true, 1) => encode_record_v2(position, stream, *revision, event, &hash),
            (true, 2) => {
                let next = u32::try_from(numbers.len()).expect("a few streams");
                let number = *numbers.entry(stream.clone()).or_insert_with(|| {
                    batch.insert(&name_key(next)[..], stream.as_bytes());
                    next
                });
                encode_record_v3(position, number, *revision, event, &hash)
            }
            _ => encode_record_v1(position, stream, *revision, event, &prev, &hash),
        }
        .expect("encodes");
        batch.insert(&event_key(position)[..], bytes);
        push_run(&mut runs, stream, *revision, event.id);
        given.push(*revision);
        *revision += 1;
        prev = hash;
    }
    if !events.is_empty() {
        batch.insert(
            &index_key(0)[..],
            encode_index_value(0, &runs).expect("encodes"),
        );
    }
    batch.insert(
        META_KEY,
        &meta_value(META_FORMAT_V2, events.len() as u64, &prev)[..],
    );
    tree.apply_batch(batch).expect("writes");
    store.db().flush().expect("flushes");
    given
}

/// Everything the read API answers about a log of `count` events with these streams and ids:
/// pages of `$all` from every position both ways, every stream from every revision both ways,
/// and every id.
async fn every_read(
    log: &SledLog,
    streams: &[String],
    ids: &[Uuid],
    count: u64,
) -> Vec<Vec<RecordedEvent>> {
    let mut reads = Vec::new();
    let all = |from, direction, limit| log.read_all(from, direction, limit);
    reads.push(
        all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
            .await
            .expect("reads"),
    );
    reads.push(
        all(AllFrom::End, Direction::Backwards, READ_LIMIT_MAX)
            .await
            .expect("reads"),
    );
    for position in 0..count {
        for limit in [1, 3] {
            for direction in [Direction::Forwards, Direction::Backwards] {
                reads.push(
                    all(AllFrom::Including(Position(position)), direction, limit)
                        .await
                        .expect("reads"),
                );
            }
        }
    }
    for stream in streams {
        let last = log.stream_revision(stream).await.expect("reads");
        for revision in 0..=last.map_or(0, |last| last + 1) {
            for direction in [Direction::Forwards, Direction::Backwards] {
                reads.push(
                    log.read_stream(stream, StreamFrom::Revision(revision), direction, 2)
                        .await
                        .expect("reads"),
                );
            }
        }
    }
    for &id in ids {
        reads.push(
            log.find_event_in_any_stream(id)
                .await
                .expect("reads")
                .into_iter()
                .collect(),
        );
    }
    let mut subscription = log
        .subscribe_all(AllFrom::Including(Position(count / 2)))
        .await
        .expect("subscribes");
    let mut followed = Vec::new();
    for _ in count / 2..count {
        followed.push(subscription.next().await.expect("an event").expect("reads"));
    }
    reads.push(followed);
    reads
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same events, all as format-1 records in one store, and in the other the first `split`
    /// as records of formats 1 to 3 plus the rest appended by this build (format 4), read back
    /// the same through every read of the API; and so does a copy of the second (a backup).
    #[test]
    fn every_read_returns_the_same_events_for_both_formats(
        events in prop::collection::vec((0usize..4, any::<bool>()), 1..20),
        split in 0usize..20,
    ) {
        let split = split.min(events.len());
        let streams: Vec<String> = (0..4).map(|n| format!("stream-{n}")).collect();
        let events: Vec<(String, NewEvent)> = (0u128..)
            .zip(&events)
            .map(|(n, (stream, rich))| (streams[*stream].clone(), varied_event(n, *rich)))
            .collect();
        let ids: Vec<Uuid> = events.iter().map(|(_, event)| event.id).collect();
        let count = events.len() as u64;

        runtime().block_on(async {
            let (_format_1_dir, format_1_store) = small_store();
            given_old_records(&format_1_store, &events, false);
            let format_1 = SledLog::open(&format_1_store, SledLogConfig::default()).expect("opens");

            let (_mixed_dir, mixed_store) = small_store();
            given_old_records(&mixed_store, &events[..split], true);
            let mixed = SledLog::open(&mixed_store, SledLogConfig::default()).expect("opens");
            for (stream, event) in &events[split..] {
                mixed
                    .append(stream, ExpectedRevision::Any, vec![event.clone()])
                    .await
                    .expect("appends");
            }

            let (_copy_dir, copy_store) = small_store();
            let head = mixed.committed_head().expect("the head");
            let mut restore = LogRestore::begin(&copy_store).expect("begins");
            mixed
                .copy_entries::<LogError>(head, |key, value| restore.entry(key, value))
                .expect("copies");
            restore.finish(head).expect("finishes");
            let copy = SledLog::open(&copy_store, SledLogConfig::default()).expect("opens");

            let expected = every_read(&format_1, &streams, &ids, count).await;
            let read = every_read(&mixed, &streams, &ids, count).await;
            let copied = every_read(&copy, &streams, &ids, count).await;
            prop_assert_eq!(&read, &expected);
            prop_assert_eq!(&copied, &expected);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn an_old_store_stays_readable_and_appendable() {
    // Given a store of records of formats 1 to 3, to which this build appends (format 4), and
    // which is reopened.
    let (dir, store) = small_store();
    let old: Vec<(String, NewEvent)> = (0..6)
        .map(|n| (format!("s{}", n % 2), varied_event(n, n % 3 == 0)))
        .collect();
    given_old_records(&store, &old, true);
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    for n in 6..10 {
        log.append(
            &format!("s{}", n % 3),
            ExpectedRevision::Any,
            vec![varied_event(n, n % 2 == 0)],
        )
        .await
        .expect("appends after format-1 records");
    }
    log.close().await.expect("closes");
    drop(log);
    drop(store);
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("reopens");
    let log = SledLog::open(&store, SledLogConfig::default()).expect("the log reopens");

    // When it appends once more and is read whole.
    let outcome = log
        .append(
            "s0",
            ExpectedRevision::Exact(4),
            vec![varied_event(10, true)],
        )
        .await
        .expect("appends after the reopen");
    let all = log
        .read_all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
        .await
        .expect("reads");

    // Then every event is there in order and the global chain runs through both formats.
    assert_eq!(outcome.first_position, Position(10));
    let ids: Vec<Uuid> = all.iter().map(|event| event.event.id).collect();
    let expected: Vec<Uuid> = (0..11).map(|n| varied_event(n, false).id).collect();
    assert_eq!(ids, expected);
    let mut prev = chain::GENESIS;
    for (position, event) in (0u64..).zip(&all) {
        let link = event
            .global_link
            .expect("the embedded log keeps the global chain");
        assert_eq!(link.prev_hash, prev, "the link before position {position}");
        assert_eq!(
            link.hash,
            chain::global_hash(&prev, position, &event.event.hash),
            "the global hash of position {position}"
        );
        prev = link.hash;
    }
}

#[tokio::test]
async fn records_written_now_are_format_4_naming_stream_type_and_actor_by_numbers() {
    // Given an empty log.
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    let event = varied_event(1, true);
    let stream = PersonId(Uuid::from_u128(7)).stream_name();

    // When it appends an event to a new stream.
    log.append(&stream, ExpectedRevision::NoStream, vec![event.clone()])
        .await
        .expect("appends");

    // Then the record is of format 4: shorter than format 1 by the global prev hash and the name
    // (with its length byte) but for the one-byte stream number, and shorter than format 3 by the
    // event type, the actor's id and agency (each with its length byte, the agency with its
    // option tag) and role but for a one-byte number each; the name is in the table, the event
    // type and the actor in the dictionary.
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let stored = tree.get(event_key(0)).expect("reads").expect("stored");
    let hash = chain::global_hash(&chain::GENESIS, 0, &event.hash);
    let format_1 =
        encode_record_v1(0, &stream, 0, &event, &chain::GENESIS, &hash).expect("encodes");
    let format_3 = encode_record_v3(0, 0, 0, &event, &hash).expect("encodes");
    let agency = event.actor.agency.as_deref().expect("an agency");
    assert_eq!(stored[0], RECORD_FORMAT_V4, "the format byte");
    assert_eq!(format_3.len() + 32 + stream.len(), format_1.len());
    assert_eq!(
        stored.len() + event.event_type.len() + event.actor.id.len() + agency.len() + 3,
        format_3.len()
    );
    assert_eq!(
        tree.get(name_key(0)).expect("reads").as_deref(),
        Some(stream.as_bytes())
    );
    let entry = |number| {
        let value = tree
            .get(dictionary_key(number))
            .expect("reads")
            .expect("an entry");
        let mut tables = Tables::default();
        for before in 0..number {
            let value = tree
                .get(dictionary_key(before))
                .expect("reads")
                .expect("an entry");
            tables
                .add_stored_entry(&dictionary_key(before), &value)
                .expect("decodes");
        }
        tables
            .add_stored_entry(&dictionary_key(number), &value)
            .expect("decodes");
        tables
    };
    assert_eq!(
        entry(0).event_type(0).map(|name| name.to_string()),
        Some(event.event_type.clone())
    );
    assert_eq!(entry(1).actor(1), Some(&event.actor));
    assert_eq!(
        tree.get(dictionary_key(2)).expect("reads"),
        None,
        "two entries"
    );
}

#[tokio::test]
async fn a_crash_between_groups_leaves_every_stream_named_and_every_entry_in_the_dictionary() {
    // Given a log to which groups append, each naming new streams, event types and actors, and a
    // copy of its directory after each group: what a crash right after that group leaves on disk.
    let (dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    let copies: Vec<tempfile::TempDir> =
        (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut appended = Vec::new();
    let mut appended_events = Vec::new();
    for (group, copy) in (0u128..).zip(&copies) {
        let stream = format!("s{group}");
        let events: Vec<NewEvent> = (0..3).map(|n| varied_event(10 * group + n, true)).collect();
        log.append(&stream, ExpectedRevision::NoStream, events.clone())
            .await
            .expect("appends");
        log.append(
            "shared",
            ExpectedRevision::Any,
            vec![varied_event(10 * group + 5, false)],
        )
        .await
        .expect("appends");
        appended.extend(events.iter().map(|event| event.id));
        appended.push(varied_event(10 * group + 5, false).id);
        appended_events.extend(events);
        appended_events.push(varied_event(10 * group + 5, false));
        store.db().flush().expect("flushes");
        copy_dir(dir.path(), copy.path());
    }

    // When each copy is opened.
    for (group, copy) in copies.iter().enumerate() {
        let store = Store::open(copy.path(), &StoreConfig::default()).expect("the copy opens");
        let log = SledLog::open(&store, SledLogConfig::default()).expect("the log opens");
        let all = log
            .read_all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
            .await
            .expect("reads everything");

        // Then it reads every event up to its group, under its stream's name.
        let ids: Vec<Uuid> = all.iter().map(|event| event.event.id).collect();
        assert_eq!(ids, appended[..4 * (group + 1)], "after group {group}");
        let streams: Vec<&str> = all.iter().map(|event| event.stream.as_str()).collect();
        let expected: Vec<String> = (0..=group)
            .flat_map(|g| {
                [
                    format!("s{g}"),
                    format!("s{g}"),
                    format!("s{g}"),
                    "shared".to_owned(),
                ]
            })
            .collect();
        assert_eq!(streams, expected, "after group {group}");
        // And with every event type and actor it was appended with.
        let events: Vec<&NewEvent> = all.iter().map(|event| &event.event).collect();
        let expected: Vec<&NewEvent> = appended_events[..4 * (group + 1)].iter().collect();
        assert_eq!(events, expected, "after group {group}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_each_dictionary_entry_and_read_back_after_a_reopen() {
    // Given a log to which many appends of new streams go at once (so that groups usually hold
    // several; `numbers_drawn_within_a_group_are_shared_and_committed_once` tests that case
    // alone), each append of two events sharing event types and actors with the others.
    let (dir, store) = small_store();
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("opens"));
    let event = |append: u128, n: u128| {
        let mut event = varied_event(100 * append + n, true);
        event.event_type = format!("Type{}", (append + n) % 3);
        event.actor.id = format!("cw-{}", append % 4);
        event.actor.role = (append % 4) as u8;
        event
    };
    let mut tasks = tokio::task::JoinSet::new();
    for append in 0..40u128 {
        let log = log.clone();
        let events = vec![event(append, 0), event(append, 1)];
        tasks.spawn(async move {
            log.append(&format!("s{append}"), ExpectedRevision::NoStream, events)
                .await
                .map(|_| ())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("the task ends").expect("appends");
    }
    log.close().await.expect("closes");
    drop(log);
    drop(store);

    // When the log is reopened and read whole.
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("reopens");
    let log = SledLog::open(&store, SledLogConfig::default()).expect("the log reopens");
    let all = log
        .read_all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
        .await
        .expect("reads");

    // Then every event reads back as appended, and the dictionary holds each of the three types
    // and four actors once, whichever group first used it.
    assert_eq!(all.len(), 80);
    for recorded in &all {
        let append: u128 = recorded.stream[1..].parse().expect("a number");
        let n = u128::from(recorded.revision);
        assert_eq!(recorded.event, event(append, n), "{}", recorded.stream);
    }
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    assert_eq!(tree.scan_prefix([DICTIONARY_PREFIX]).count(), 3 + 4);
    assert_eq!(tree.scan_prefix([NAME_PREFIX]).count(), 40);
}

/// Copies the files of directory `from` into `to`.
pub(super) fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("lists") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            std::fs::create_dir_all(&target).expect("creates");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copies");
        }
    }
}

#[tokio::test]
async fn a_record_whose_stream_number_has_no_name_is_corrupt() {
    // Given a log whose name table lost its entry.
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    log.append(
        "s",
        ExpectedRevision::NoStream,
        vec![varied_event(1, false)],
    )
    .await
    .expect("appends");
    log.close().await.expect("closes");
    drop(log);
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    tree.remove(name_key(0)).expect("removes");

    // When the log is opened.
    let error = SledLog::open(&store, SledLogConfig::default()).expect_err("refused");

    // Then it says which record and which number.
    assert!(
        matches!(
            &error,
            LogError::Corrupt { position: Position(0), reason }
                if reason.contains("stream number 0 has no name")
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_record_whose_actor_has_no_dictionary_entry_is_corrupt() {
    // Given a log whose dictionary lost its last entry, the actor of its only record.
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    log.append("s", ExpectedRevision::NoStream, vec![varied_event(1, true)])
        .await
        .expect("appends");
    log.close().await.expect("closes");
    drop(log);
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    tree.remove(dictionary_key(1)).expect("removes");

    // When the log is opened.
    let error = SledLog::open(&store, SledLogConfig::default()).expect_err("refused");

    // Then it says which record and which number.
    assert!(
        matches!(
            &error,
            LogError::Corrupt { position: Position(0), reason }
                if reason.contains("actor number 1 is not an actor of the dictionary")
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_copy_without_its_dictionary_is_refused_by_the_restore() {
    // Given a log of format-4 records, copied without its `d` keys.
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    log.append("s", ExpectedRevision::NoStream, vec![varied_event(1, true)])
        .await
        .expect("appends");
    let head = log.committed_head().expect("the head");
    let (_copy_dir, copy_store) = small_store();
    let mut restore = LogRestore::begin(&copy_store).expect("begins");

    // When the copy is restored.
    let error = log
        .copy_entries::<LogError>(head, |key, value| {
            if key.first() == Some(&DICTIONARY_PREFIX) {
                return Ok(());
            }
            restore.entry(key, value)
        })
        .expect_err("refused");

    // Then the restore says which record lacks its entry.
    assert!(
        matches!(
            &error,
            LogError::Corrupt { position: Position(0), reason }
                if reason.contains("event type number 0 is not an event type of the dictionary")
        ),
        "{error}"
    );
}

#[tokio::test]
async fn an_unknown_record_format_is_a_typed_error_on_every_read() {
    // Given a log whose middle record carries a format this build does not know.
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    let ids: Vec<Uuid> = (0..3).map(|n| varied_event(n, false).id).collect();
    for n in 0..3 {
        log.append("s", ExpectedRevision::Any, vec![varied_event(n, false)])
            .await
            .expect("appends");
    }
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let mut bytes = tree
        .get(event_key(1))
        .expect("reads")
        .expect("stored")
        .to_vec();
    bytes[0] = 7;
    tree.insert(event_key(1), bytes).expect("overwrites");

    // When every read meets it.
    let reads = [
        log.read_all(AllFrom::Start, Direction::Forwards, 10).await,
        log.read_all(AllFrom::End, Direction::Backwards, 10).await,
        log.read_stream("s", StreamFrom::Start, Direction::Forwards, 10)
            .await,
        log.find_event_in_any_stream(ids[1])
            .await
            .map(|found| found.into_iter().collect()),
    ];

    // Then each says which position and which format, without a panic.
    for read in reads {
        let error = read.expect_err("the unknown format is refused");
        assert!(
            matches!(
                &error,
                LogError::Corrupt { position: Position(1), reason }
                    if reason.contains("unknown record format 7")
            ),
            "{error}"
        );
    }
}

/// A ledger over a fresh store, the log it writes, and the store underneath.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    keys: Arc<KeyStore>,
    log: Arc<SledLog>,
    ledger: Ledger,
}

fn day(text: &str) -> chrono::NaiveDate {
    text.parse().expect("a date")
}

/// A ledger whose log holds, by position: 0, 1 person A registered and arrived; 2, 3 person B
/// registered and arrived; 4 person A counselled; 5 person B counselled.
async fn given_a_ledger_of_two_persons() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("the store opens");
    let mut rng = StdRng::seed_from_u64(3);
    let master = SecretKey::generate(&mut rng);
    let keys = Arc::new(KeyStore::open(&store, master, &mut rng).expect("the keys"));
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("the log"));
    let ledger = Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys.clone(),
        Arc::new(FixedClock::at_date(day("2024-06-30"))),
        Box::new(StdRng::seed_from_u64(4)),
        LedgerConfig::default(),
    );
    let persons = [PersonId(Uuid::from_u128(1)), PersonId(Uuid::from_u128(2))];
    for (n, person) in (0u128..).zip(persons) {
        ledger
            .append(
                person,
                ExpectedRevision::NoStream,
                vec![
                    sample::registration(Uuid::from_u128(100 + 10 * n), day("2024-01-02")),
                    sample::arrival(Uuid::from_u128(101 + 10 * n), day("2024-01-03")),
                ],
            )
            .await
            .expect("registered");
    }
    for (n, person) in (0u128..).zip(persons) {
        ledger
            .append(
                person,
                ExpectedRevision::Exact(1),
                vec![sample::counselling(
                    Uuid::from_u128(102 + 10 * n),
                    day("2024-02-01"),
                )],
            )
            .await
            .expect("counselled");
    }
    Fixture {
        _dir: dir,
        store,
        keys,
        log,
        ledger,
    }
}

/// The stored records of the log, by position.
fn stored_records(fixture: &Fixture) -> Vec<Vec<u8>> {
    let tree = fixture
        .store
        .db()
        .open_tree(TREE_NAME)
        .expect("the log tree");
    tree.scan_prefix([EVENT_PREFIX])
        .map(|item| item.expect("reads").1.to_vec())
        .collect()
}

/// Where the event id begins in a format-4 record of these tests: after the format, position,
/// stream number and revision, each one byte (the tests keep every number under 128, a one-byte
/// varint).
const ID_OFFSET: usize = 4;

/// Overwrites the log with `records` (format-4 bytes, as read by [`stored_records`]) at positions
/// 0, 1, … and a matching index and meta value, renumbering positions and revisions in the bytes.
/// Whatever else the records say is kept: the tampering to detect.
fn rewrite_log(fixture: &Fixture, records: &[Vec<u8>]) {
    let tree = fixture
        .store
        .db()
        .open_tree(TREE_NAME)
        .expect("the log tree");
    for prefix in [EVENT_PREFIX, INDEX_PREFIX] {
        for item in tree.scan_prefix([prefix]) {
            let (key, _) = item.expect("reads");
            tree.remove(key).expect("removes");
        }
    }
    let mut revisions: HashMap<String, u64> = HashMap::new();
    let mut runs = Vec::new();
    for (position, record) in (0u8..).zip(records) {
        let mut bytes = record.clone();
        assert_eq!(bytes[0], RECORD_FORMAT_V4, "written by this build");
        bytes[1] = position;
        let name = tree
            .get(name_key(u32::from(bytes[2])))
            .expect("reads")
            .expect("a named stream");
        let stream = std::str::from_utf8(&name).expect("a name").to_owned();
        let revision = revisions.entry(stream.clone()).or_default();
        bytes[3] = u8::try_from(*revision).expect("a small revision");
        let id = Uuid::from_slice(&bytes[ID_OFFSET..ID_OFFSET + 16]).expect("an id");
        push_run(&mut runs, &stream, *revision, id);
        *revision += 1;
        tree.insert(event_key(u64::from(position)), bytes)
            .expect("writes");
    }
    tree.insert(index_key(0), encode_index_value(0, &runs).expect("encodes"))
        .expect("writes");
    let last = records.last().expect("a record");
    let last_hash: [u8; 32] = last[last.len() - 32..].try_into().expect("32 bytes");
    tree.insert(
        META_KEY,
        &meta_value(META_FORMAT_V2, records.len() as u64, &last_hash)[..],
    )
    .expect("writes");
}

/// Verifies the fixture's store after `tamper` rewrote its records, through a reopened log.
async fn verify_after(
    fixture: Fixture,
    tamper: impl FnOnce(&mut Vec<Vec<u8>>),
) -> Option<crate::verify::VerifyProblem> {
    fixture.log.close().await.expect("closes");
    let mut records = stored_records(&fixture);
    tamper(&mut records);
    rewrite_log(&fixture, &records);
    let Fixture {
        _dir,
        store,
        keys,
        log,
        ledger,
    } = fixture;
    // The ledger holds the closed log; a new log loads the rewritten index.
    drop(ledger);
    drop(log);
    let log = Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("the log reopens"));
    let ledger = Ledger::new(
        log as Arc<dyn EventLog>,
        keys,
        Arc::new(FixedClock::at_date(day("2024-06-30"))),
        Box::new(StdRng::seed_from_u64(6)),
        LedgerConfig::default(),
    );
    verify(&ledger, VerifyOptions::default(), |_| {})
        .await
        .expect("verify runs")
        .first_problem
}

#[tokio::test]
async fn verify_passes_a_rewritten_but_unchanged_log() {
    let fixture = given_a_ledger_of_two_persons().await;

    let problem = verify_after(fixture, |_| {}).await;

    assert_eq!(problem, None, "the rewrite alone changes nothing");
}

#[tokio::test]
async fn verify_finds_a_changed_event() {
    let fixture = given_a_ledger_of_two_persons().await;

    // The event id of position 4 (person A's counselling), which its stream hash covers.
    let problem = verify_after(fixture, |records| records[4][ID_OFFSET] ^= 1)
        .await
        .expect("the change is found");

    assert_eq!(problem.position, Position(4), "{problem}");
    assert!(problem.reason.contains("altered"), "{problem}");
}

#[tokio::test]
async fn verify_finds_a_removed_event() {
    let fixture = given_a_ledger_of_two_persons().await;

    // Person B's arrival; person A's counselling moves up to position 3.
    let problem = verify_after(fixture, |records| {
        records.remove(3);
    })
    .await
    .expect("the removal is found");

    assert_eq!(problem.position, Position(3), "{problem}");
    assert!(problem.reason.contains("global"), "{problem}");
}

#[tokio::test]
async fn verify_finds_reordered_events() {
    let fixture = given_a_ledger_of_two_persons().await;

    // Person B's arrival and person A's counselling change places.
    let problem = verify_after(fixture, |records| records.swap(3, 4))
        .await
        .expect("the reordering is found");

    assert_eq!(problem.position, Position(3), "{problem}");
    assert!(problem.reason.contains("global"), "{problem}");
}
