//! Tests of the sled log's internals: its stored form, the index checks at open, and the migration.

use std::collections::HashSet;

// One concern of the sled log; it shares the module's private items.
use super::*;

use crate::log::test_support::test_event;
use crate::store::StoreConfig;

fn rich_event() -> NewEvent {
    let mut event = test_event(Uuid::new_v4());
    event.actor = LogActor {
        id: "cw-17".to_owned(),
        agency: Some("jobcenter".to_owned()),
        role: 0,
    };
    event.correlation_id = Some(Uuid::new_v4());
    event.causation_id = Some(Uuid::new_v4());
    event.encoding = PayloadEncoding::Sealed;
    event.payload = (0..=255).collect();
    event.prev_hash = [7; 32];
    event
}

/// A store with a small page cache in a temporary directory (the format tests use it too).
pub(super) fn small_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = StoreConfig {
        cache_capacity_bytes: 8 * 1024 * 1024,
    };
    let store = Store::open(dir.path(), &config).expect("the store opens");
    (dir, store)
}

#[test]
fn a_record_round_trips_with_every_field() {
    let event = rich_event();
    let expected = RecordedEvent {
        position: Position(42),
        stream: "person-x".to_owned(),
        revision: 3,
        event: event.clone(),
        global_link: Some(GlobalLink {
            prev_hash: [1; 32],
            hash: [2; 32],
        }),
    };
    // The tables name stream 0 `person-x`, and hold the event's type (0) and actor (1).
    let mut tables = Tables::default();
    tables.extend(
        vec![Arc::from("person-x")],
        vec![
            DictionaryEntry::EventType(event.event_type.as_str().into()),
            DictionaryEntry::Actor(Arc::new(event.actor.clone())),
        ],
    );
    let numbers = RecordNumbers {
        stream: 0,
        event_type: 0,
        actor: 1,
    };
    let format_4 = encode_record(42, numbers, 3, &event, &[2; 32]).expect("encodes");
    let format_3 = encode_record_v3(42, 0, 3, &event, &[2; 32]).expect("encodes");
    let format_2 = encode_record_v2(42, "person-x", 3, &event, &[2; 32]).expect("encodes");
    let format_1 =
        encode_record_v1(42, "person-x", 3, &event, &[1; 32], &[2; 32]).expect("encodes");
    assert_eq!(format_4[0], RECORD_FORMAT_V4, "the format byte comes first");
    assert_eq!(format_3[0], RECORD_FORMAT_V3, "the format byte comes first");
    assert_eq!(format_2[0], RECORD_FORMAT_V2, "the format byte comes first");
    assert_eq!(format_1[0], RECORD_FORMAT_V1, "the format byte comes first");

    // Formats 3 and 4 ask the tables for their numbers; formats 2 to 4 for the hash before;
    // format 1 stores both.
    let no_tables = Tables::default();
    let from_format_4 = decode_record(42, &format_4, &tables)
        .expect("decodes")
        .linked(|| Ok([1; 32]))
        .expect("links");
    let from_format_3 = decode_record(42, &format_3, &tables)
        .expect("decodes")
        .linked(|| Ok([1; 32]))
        .expect("links");
    let from_format_2 = decode_record(42, &format_2, &no_tables)
        .expect("decodes")
        .linked(|| Ok([1; 32]))
        .expect("links");
    let from_format_1 = decode_record(42, &format_1, &no_tables)
        .expect("decodes")
        .linked(|| Err(LogError::Closed))
        .expect("links without asking");

    assert_eq!(from_format_4, expected);
    assert_eq!(from_format_3, expected);
    assert_eq!(from_format_2, expected);
    assert_eq!(from_format_1, expected);
}

#[test]
fn a_format_4_record_whose_numbers_name_nothing_or_the_other_kind_is_corrupt() {
    // Given tables whose dictionary holds an actor at 0 and an event type at 1.
    let event = rich_event();
    let mut tables = Tables::default();
    tables.extend(
        vec![Arc::from("s")],
        vec![
            DictionaryEntry::Actor(Arc::new(event.actor.clone())),
            DictionaryEntry::EventType(event.event_type.as_str().into()),
        ],
    );
    let cases = [
        ((0, 1, 0), "a good record", None),
        (
            (1, 1, 0),
            "no stream 1",
            Some("stream number 1 has no name"),
        ),
        (
            (0, 0, 0),
            "an actor as the type",
            Some("event type number 0 is not"),
        ),
        (
            (0, 1, 1),
            "a type as the actor",
            Some("actor number 1 is not"),
        ),
        ((0, 7, 0), "no entry 7", Some("event type number 7 is not")),
    ];
    for ((stream, event_type, actor), case, expected) in cases {
        let numbers = RecordNumbers {
            stream,
            event_type,
            actor,
        };
        let bytes = encode_record(9, numbers, 0, &event, &[0; 32]).expect("encodes");

        // When it is decoded.
        let decoded = decode_record(9, &bytes, &tables);

        // Then it decodes, or says which number is wrong.
        match (decoded, expected) {
            (Ok(decoded), None) => assert_eq!(decoded.event.event, event, "{case}"),
            (Err(LogError::Corrupt { position, reason }), Some(expected)) => {
                assert_eq!(position, Position(9), "{case}");
                assert!(reason.contains(expected), "{case}: {reason}");
            }
            (other, _) => panic!("{case}: {other:?}"),
        }
    }
}

#[test]
fn dictionary_entries_round_trip_and_must_come_densely_numbered() {
    let actor = rich_event().actor;
    let entries = [
        DictionaryEntry::EventType("PersonRegistered".into()),
        DictionaryEntry::Actor(Arc::new(actor.clone())),
        DictionaryEntry::Actor(Arc::new(LogActor {
            id: "system".to_owned(),
            agency: None,
            role: 9,
        })),
    ];
    let mut tables = Tables::default();
    for (number, entry) in (0u32..).zip(&entries) {
        let value = entry.encode().expect("encodes");
        tables
            .add_stored_entry(&dictionary_key(number), &value)
            .expect("the next entry is taken");
    }
    assert_eq!(
        tables.event_type(0).map(|name| &**name),
        Some("PersonRegistered")
    );
    assert_eq!(tables.actor(1), Some(&actor));
    assert_eq!(
        tables.actor(2).map(|actor| actor.agency.clone()),
        Some(None)
    );

    let value = entries[0].encode().expect("encodes");
    let refused = [
        (dictionary_key(4), value.clone(), "where entry 3 was due"),
        (dictionary_key(3), b"t".to_vec(), "invalid event type"),
        (dictionary_key(3), b"t\xff".to_vec(), "invalid event type"),
        (dictionary_key(3), b"x1".to_vec(), "no known kind"),
        (dictionary_key(3), Vec::new(), "no known kind"),
        (dictionary_key(3), b"a".to_vec(), "does not decode"),
        (
            dictionary_key(3),
            [&entries[1].encode().expect("encodes")[..], &[0]].concat(),
            "trailing",
        ),
    ];
    for (key, value, expected) in refused {
        let error = tables
            .add_stored_entry(&key, &value)
            .expect_err("a bad entry is refused");
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}

#[test]
fn numbers_drawn_within_a_group_are_shared_and_committed_once() {
    // Given committed tables naming stream `a`, and the event type and actor of `first`.
    let first = rich_event();
    let mut tables = Tables::default();
    tables.extend(
        vec![Arc::from("a")],
        vec![
            DictionaryEntry::EventType(first.event_type.as_str().into()),
            DictionaryEntry::Actor(Arc::new(first.actor.clone())),
        ],
    );
    let mut committed = Numbers::of(&tables).expect("numbers");
    let mut group = committed.group();
    let mut batch = sled::Batch::default();
    let mut second = rich_event();
    second.event_type = "Other".to_owned();
    second.actor.id = "cw-99".to_owned();

    // When two appends of one group, to new streams, draw numbers for events old and new.
    let mut draft = Draft::new(&committed, &group);
    let drawn_first = (
        draft.stream("b").expect("a number"),
        draft.event(&second).expect("numbers"),
        draft.event(&first).expect("numbers"),
        draft.event(&second).expect("numbers"),
    );
    draft
        .finish()
        .expect("encodes")
        .add_to(&mut group, &mut batch);
    let mut draft = Draft::new(&committed, &group);
    let drawn_second = (
        draft.stream("c").expect("a number"),
        draft.event(&second).expect("numbers"),
        draft.stream("b").expect("a number"),
    );
    draft
        .finish()
        .expect("encodes")
        .add_to(&mut group, &mut batch);
    let (names, entries) = committed.commit(group);
    tables.extend(names, entries);

    // Then the new strings get the next numbers once, the known ones keep theirs, and the
    // committed tables hold each once.
    assert_eq!(drawn_first, (1, (2, 3), (0, 1), (2, 3)));
    assert_eq!(drawn_second, (2, (2, 3), 1));
    assert_eq!(tables.stream_name(2).map(|name| &**name), Some("c"));
    assert_eq!(tables.event_type(2).map(|name| &**name), Some("Other"));
    assert_eq!(tables.actor(3), Some(&second.actor));
    assert_eq!(tables.actor(4), None);
    let mut draft = Draft::new(&committed, &committed);
    assert_eq!(draft.event(&second).expect("numbers"), (2, 3), "committed");
    assert_eq!(draft.stream("d").expect("a number"), 3, "the next");
}

#[test]
fn a_record_under_another_position_is_corrupt() {
    let bytes = encode_record_v1(42, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");

    let error =
        decode_record(43, &bytes, &Tables::default()).expect_err("the key and the record disagree");

    assert!(
        matches!(error, LogError::Corrupt { position: Position(43), ref reason } if reason.contains("42")),
        "{error}"
    );
}

#[test]
fn unknown_formats_truncation_and_trailing_bytes_are_corrupt() {
    let bytes = encode_record_v1(0, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");
    let mut unknown_format = bytes.clone();
    unknown_format[0] = 99;
    let truncated = &bytes[..bytes.len() - 1];
    let mut trailing = bytes.clone();
    trailing.push(0);

    for broken in [&unknown_format[..], truncated, &trailing[..], &[][..]] {
        let error =
            decode_record(0, broken, &Tables::default()).expect_err("broken bytes do not decode");
        assert!(
            matches!(
                error,
                LogError::Corrupt {
                    position: Position(0),
                    ..
                }
            ),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_damaged_event_is_reported_as_corrupt_on_read() {
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    log.append("s", ExpectedRevision::Any, vec![test_event(Uuid::new_v4())])
        .await
        .expect("appends");
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    tree.insert(event_key(0), &b"\x01garbage"[..])
        .expect("overwrites");

    let error = log
        .read_all(AllFrom::Start, Direction::Forwards, 10)
        .await
        .expect_err("the damage is seen");

    assert!(
        matches!(
            error,
            LogError::Corrupt {
                position: Position(0),
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_event_below_the_head_is_reported_as_corrupt() {
    let (_dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    for _ in 0..3 {
        log.append("s", ExpectedRevision::Any, vec![test_event(Uuid::new_v4())])
            .await
            .expect("appends");
    }
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    tree.remove(event_key(1)).expect("removes");

    let forwards = log
        .read_all(AllFrom::Start, Direction::Forwards, 10)
        .await
        .expect_err("the gap is seen");
    let backwards = log
        .read_all(AllFrom::End, Direction::Backwards, 10)
        .await
        .expect_err("the gap is seen");

    assert!(
        matches!(
            forwards,
            LogError::Corrupt {
                position: Position(1),
                ..
            }
        ),
        "{forwards}"
    );
    assert!(
        matches!(
            backwards,
            LogError::Corrupt {
                position: Position(1),
                ..
            }
        ),
        "{backwards}"
    );
}

/// A store with two streams written through the log, which is then closed.
async fn given_a_closed_log(events: usize) -> (tempfile::TempDir, Store, Vec<Uuid>) {
    let (dir, store) = small_store();
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");
    let mut ids = Vec::new();
    for n in 0..events {
        let id = Uuid::new_v4();
        let stream = if n % 2 == 0 { "a" } else { "b" };
        log.append(stream, ExpectedRevision::Any, vec![test_event(id)])
            .await
            .expect("appends");
        ids.push(id);
    }
    log.close().await.expect("closes");
    drop(log);
    (dir, store, ids)
}

fn runs_value(runs: &[IndexRun<'_>]) -> Vec<u8> {
    encode_index_value(0, runs).expect("encodes")
}

fn run<'a>(stream: &'a str, first_revision: u64, ids: &[Uuid]) -> IndexRun<'a> {
    IndexRun {
        stream: Cow::Borrowed(stream),
        first_revision,
        ids: ids.iter().map(|id| id.into_bytes()).collect(),
    }
}

#[tokio::test]
async fn malformed_or_inconsistent_index_keys_refuse_to_open_not_panic() {
    let fresh = Uuid::new_v4;
    // Each damage replaces every `x` key of a 4-event log (a@0, b@0, a@1, b@1) with these.
    type Keys = Vec<(Vec<u8>, Vec<u8>)>;
    let damages: Vec<(&str, Keys)> = {
        let [a0, b0, a1, b1] = [fresh(), fresh(), fresh(), fresh()];
        let whole = |runs: &[IndexRun<'_>]| vec![(index_key(0).to_vec(), runs_value(runs))];
        vec![
            (
                "short key",
                vec![(vec![INDEX_PREFIX, 0], runs_value(&[run("a", 0, &[a0])]))],
            ),
            ("unknown format", vec![(index_key(0).to_vec(), vec![9, 0])]),
            (
                "garbage",
                vec![(index_key(0).to_vec(), vec![INDEX_FORMAT_V1, 0xff, 0xff])],
            ),
            ("empty value", vec![(index_key(0).to_vec(), Vec::new())]),
            (
                "trailing bytes",
                vec![(index_key(0).to_vec(), {
                    let mut value = runs_value(&[run("a", 0, &[a0])]);
                    value.push(0);
                    value
                })],
            ),
            ("empty run", whole(&[run("a", 0, &[])])),
            ("invalid stream", whole(&[run("", 0, &[a0, b0, a1, b1])])),
            (
                "too few entries",
                whole(&[run("a", 0, &[a0]), run("b", 0, &[b0])]),
            ),
            (
                "too many entries",
                whole(&[run("a", 0, &[a0, a1]), run("b", 0, &[b0, b1, fresh()])]),
            ),
            (
                "revision gap",
                whole(&[
                    run("a", 0, &[a0]),
                    run("b", 0, &[b0]),
                    run("a", 2, &[a1]),
                    run("b", 1, &[b1]),
                ]),
            ),
            (
                "duplicate id",
                whole(&[
                    run("a", 0, &[a0]),
                    run("b", 0, &[b0]),
                    run("a", 1, &[a1]),
                    run("b", 1, &[a0]),
                ]),
            ),
            (
                "overlapping keys",
                vec![
                    (
                        index_key(0).to_vec(),
                        runs_value(&[run("a", 0, &[a0]), run("b", 0, &[b0])]),
                    ),
                    (
                        index_key(1).to_vec(),
                        runs_value(&[run("a", 1, &[a1]), run("b", 1, &[b1])]),
                    ),
                ],
            ),
            (
                "a gap between keys",
                vec![
                    (index_key(0).to_vec(), runs_value(&[run("a", 0, &[a0])])),
                    (
                        index_key(2).to_vec(),
                        runs_value(&[run("a", 1, &[a1]), run("b", 0, &[b1])]),
                    ),
                ],
            ),
            ("no index", Vec::new()),
        ]
    };
    for (name, keys) in damages {
        let (_dir, store, _) = given_a_closed_log(4).await;
        let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
        remove_prefix(&tree, INDEX_PREFIX).expect("removes");
        for (key, value) in keys {
            tree.insert(key, value).expect("inserts");
        }

        let error = SledLog::open(&store, SledLogConfig::default())
            .expect_err(&format!("{name}: the damage is seen at open"));

        assert!(matches!(error, LogError::Corrupt { .. }), "{name}: {error}");
    }
}

#[tokio::test]
async fn an_index_that_disagrees_with_the_records_is_corrupt_on_read() {
    let (_dir, store, ids) = given_a_closed_log(2).await;
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    remove_prefix(&tree, INDEX_PREFIX).expect("removes");
    // Self-consistent, but the records say a@0 and b@0, and the ids the other way round.
    let runs = [run("b", 0, &[ids[1]]), run("a", 0, &[ids[0]])];
    tree.insert(index_key(0), runs_value(&runs))
        .expect("inserts");
    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");

    let read = log
        .read_stream("a", StreamFrom::Start, Direction::Forwards, 10)
        .await
        .expect_err("the damage is seen");
    let found = log
        .find_event("a", ids[0])
        .await
        .expect_err("the damage is seen");

    assert!(
        matches!(
            read,
            LogError::Corrupt {
                position: Position(1),
                ..
            }
        ),
        "{read}"
    );
    assert!(
        matches!(
            found,
            LogError::Corrupt {
                position: Position(1),
                ..
            }
        ),
        "{found}"
    );
}

#[tokio::test]
async fn a_group_writes_one_index_key_and_no_key_per_id_or_revision() {
    let (_dir, store, _) = given_a_closed_log(3).await;
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");

    let prefixes: HashSet<u8> = tree
        .iter()
        .keys()
        .map(|key| key.expect("a key")[0])
        .collect();
    let index_keys: Vec<sled::IVec> = tree
        .scan_prefix([INDEX_PREFIX])
        .keys()
        .map(|key| key.expect("a key"))
        .collect();

    assert_eq!(
        prefixes,
        HashSet::from([
            EVENT_PREFIX,
            INDEX_PREFIX,
            NAME_PREFIX,
            DICTIONARY_PREFIX,
            META_KEY[0]
        ])
    );
    // One name key per stream (`a` and `b`), not per event; one dictionary key for the events'
    // one type and one for their one actor.
    assert_eq!(tree.scan_prefix([NAME_PREFIX]).count(), 2);
    assert_eq!(tree.scan_prefix([DICTIONARY_PREFIX]).count(), 2);
    // Three sequential appends: three groups of one event each.
    assert_eq!(
        index_keys,
        [index_key(0), index_key(1), index_key(2)].map(|key| sled::IVec::from(&key[..]))
    );
    assert_eq!(
        tree.get(META_KEY).expect("reads").expect("meta")[0],
        META_FORMAT_V2
    );
}

/// Writes a log of meta format 1 (an `s` and an `i` key per event) with raw sled writes: events
/// alternate between streams `a`, `b` and `c`. Returns the events in position order.
fn given_a_format_1_log(store: &Store, count: u64) -> Vec<(String, u64, NewEvent)> {
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let mut revisions: HashMap<String, u64> = HashMap::new();
    let mut prev = chain::GENESIS;
    let mut events = Vec::new();
    let mut batch = sled::Batch::default();
    for position in 0..count {
        let stream = ["a", "b", "c"][(position % 3) as usize].to_owned();
        let revision = revisions.entry(stream.clone()).or_default();
        let event = test_event(Uuid::new_v4());
        let hash = chain::global_hash(&prev, position, &event.hash);
        let bytes =
            encode_record_v1(position, &stream, *revision, &event, &prev, &hash).expect("encodes");
        batch.insert(&event_key(position)[..], bytes);
        let mut stream_key = vec![LEGACY_STREAM_PREFIX];
        stream_key.extend_from_slice(stream.as_bytes());
        stream_key.push(0);
        stream_key.extend_from_slice(&revision.to_be_bytes());
        batch.insert(stream_key, &position.to_be_bytes()[..]);
        let mut id_key = vec![LEGACY_ID_PREFIX];
        id_key.extend_from_slice(event.id.as_bytes());
        batch.insert(id_key, &position.to_be_bytes()[..]);
        events.push((stream, *revision, event));
        *revision += 1;
        prev = hash;
    }
    batch.insert(META_KEY, &meta_value(META_FORMAT_V1, count, &prev)[..]);
    tree.apply_batch(batch).expect("writes");
    events
}

/// Checks that `log` holds exactly `events` (from [`given_a_format_1_log`]) and keeps working.
async fn assert_migrated(store: &Store, log: &SledLog, events: &[(String, u64, NewEvent)]) {
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    assert_eq!(
        tree.get(META_KEY).expect("reads").expect("meta")[0],
        META_FORMAT_V2
    );
    assert!(
        tree.scan_prefix([LEGACY_STREAM_PREFIX]).next().is_none(),
        "no `s` keys left"
    );
    assert!(
        tree.scan_prefix([LEGACY_ID_PREFIX]).next().is_none(),
        "no `i` keys left"
    );
    let count = events.len() as u64;
    assert_eq!(
        log.last_position().await.expect("reads"),
        count.checked_sub(1).map(Position)
    );
    for stream in ["a", "b", "c"] {
        let expected: Vec<(u64, Uuid)> = events
            .iter()
            .filter(|(name, _, _)| name == stream)
            .map(|(_, revision, event)| (*revision, event.id))
            .collect();
        let read = log
            .read_stream(
                stream,
                StreamFrom::Start,
                Direction::Forwards,
                READ_LIMIT_MAX,
            )
            .await
            .expect("reads");
        let read: Vec<(u64, Uuid)> = read.iter().map(|e| (e.revision, e.event.id)).collect();
        assert_eq!(read, expected, "stream {stream}");
        assert_eq!(
            log.stream_revision(stream).await.expect("reads"),
            expected.last().map(|(revision, _)| *revision)
        );
    }
    for (position, (stream, revision, event)) in (0u64..).zip(events).step_by(997) {
        let found = log
            .find_event(stream, event.id)
            .await
            .expect("reads")
            .expect("found");
        assert_eq!(
            (found.position, &found.stream, found.revision),
            (Position(position), stream, *revision)
        );
        // A retry replays the original outcome; other content is a conflict.
        let outcome = log
            .append(stream, ExpectedRevision::Any, vec![event.clone()])
            .await
            .expect("replays");
        assert!(
            outcome.replayed && outcome.first_position == Position(position),
            "{outcome:?}"
        );
        let mut other = event.clone();
        other.content_digest = [9; 32];
        let conflict = log
            .append(stream, ExpectedRevision::Any, vec![other])
            .await
            .expect_err("conflicts");
        assert!(
            matches!(conflict, LogError::DuplicateIdConflict { .. }),
            "{conflict}"
        );
    }
    let last_a = events.iter().filter(|(name, _, _)| name == "a").count() as u64 - 1;
    let outcome = log
        .append(
            "a",
            ExpectedRevision::Exact(last_a),
            vec![test_event(Uuid::new_v4())],
        )
        .await
        .expect("appends after the migration");
    assert_eq!(
        (outcome.first_position, outcome.stream_revision),
        (Position(count), last_a + 1)
    );
    let all = log
        .read_all(AllFrom::Start, Direction::Forwards, READ_LIMIT_MAX)
        .await
        .expect("reads");
    let mut prev = chain::GENESIS;
    for event in &all {
        let link = event
            .global_link
            .expect("the embedded log keeps the global chain");
        assert_eq!(link.prev_hash, prev, "the global chain goes on");
        prev = link.hash;
    }
}

#[tokio::test]
async fn a_store_of_meta_format_1_is_migrated_at_open() {
    let (_dir, store) = small_store();
    // More than two migration chunks.
    let events = given_a_format_1_log(&store, 2 * MIGRATION_CHUNK_EVENTS as u64 + 10);

    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens and migrates");

    assert_migrated(&store, &log, &events).await;
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let chunks: Vec<sled::IVec> = tree
        .scan_prefix([INDEX_PREFIX])
        .keys()
        .take(3)
        .map(|key| key.expect("a key"))
        .collect();
    let chunk = MIGRATION_CHUNK_EVENTS as u64;
    assert_eq!(
        chunks,
        [0, chunk, 2 * chunk].map(|first| sled::IVec::from(&index_key(first)[..]))
    );
    log.close().await.expect("closes");
    drop(log);
    let reopened = SledLog::open(&store, SledLogConfig::default()).expect("reopens");
    assert_eq!(
        reopened.last_position().await.expect("reads"),
        Some(Position(events.len() as u64))
    );
}

#[tokio::test]
async fn an_interrupted_migration_is_finished_at_the_next_open() {
    // Interrupted before the switch: stray `x` keys in a store of format 1.
    let (_dir, store) = small_store();
    let events = given_a_format_1_log(&store, 50);
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    tree.insert(index_key(0), &b"half-written"[..])
        .expect("inserts");
    tree.insert(
        index_key(4096),
        runs_value(&[run("z", 0, &[Uuid::new_v4()])]),
    )
    .expect("inserts");

    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens and migrates");

    assert_migrated(&store, &log, &events).await;
    drop(log);

    // Interrupted after the switch: old keys left in a store of format 2.
    let (_dir, store) = small_store();
    let events = given_a_format_1_log(&store, 50);
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let old_keys: Vec<(sled::IVec, sled::IVec)> = tree
        .iter()
        .filter_map(Result::ok)
        .filter(|(key, _)| [LEGACY_STREAM_PREFIX, LEGACY_ID_PREFIX].contains(&key[0]))
        .collect();
    drop(SledLog::open(&store, SledLogConfig::default()).expect("opens and migrates"));
    for (key, value) in old_keys.into_iter().step_by(3) {
        tree.insert(key, value).expect("inserts");
    }

    let log = SledLog::open(&store, SledLogConfig::default()).expect("opens");

    assert_migrated(&store, &log, &events).await;
}

#[test]
fn events_without_a_meta_value_refuse_to_open() {
    let (_dir, store) = small_store();
    let tree = store.db().open_tree(TREE_NAME).expect("the log tree");
    let bytes = encode_record_v1(0, "s", 0, &rich_event(), &[0; 32], &[0; 32]).expect("encodes");
    tree.insert(event_key(0), bytes).expect("inserts");

    let error = SledLog::open(&store, SledLogConfig::default()).expect_err("inconsistent");

    assert!(
        matches!(
            error,
            LogError::Corrupt {
                position: Position(0),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn keys_sort_by_position() {
    assert!(event_key(255) < event_key(256));
    assert!(index_key(255) < index_key(256));
    // Each kind of key sorts apart from the others, events first.
    assert!(&event_key(u64::MAX)[..] < META_KEY);
    assert!(META_KEY < &index_key(0)[..]);
}
