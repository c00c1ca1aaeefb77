//! Tests of the index checkpoint: the index opened from a checkpoint and the `x` keys after it is
//! the index the scan of every `x` key builds, and the tables those the `n` and `d` keys hold; a
//! damaged, stale or foreign checkpoint is not used; a crash after the checkpoint loses nothing;
//! the log behaves the same after such an open; a checkpoint of the first format still serves.

use proptest::prelude::*;

// One concern of the sled log; it shares the module's private items.
use super::*;

use crate::log::test_support::test_event;
use crate::store::StoreConfig;

use super::format_tests::{copy_dir, runtime};
use super::tests::small_store;

/// The default settings, with a checkpoint at close once `min_events` were added.
fn config(min_events: u64) -> SledLogConfig {
    SledLogConfig {
        index_checkpoint_min_events: min_events,
        ..SledLogConfig::default()
    }
}

/// Settings under which closing never writes a checkpoint: what a crash leaves.
fn no_checkpoint() -> SledLogConfig {
    config(u64::MAX)
}

/// The `n`-th event of a test, its ids spread over the whole range.
fn nth_event(n: u64) -> NewEvent {
    test_event(Uuid::from_u128(
        u128::from(n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
    ))
}

/// Appends `count` events to `stream` (any revision), numbered from `*next`.
async fn append(log: &SledLog, stream: &str, count: u64, next: &mut u64) {
    let events = (*next..*next + count).map(nth_event).collect();
    *next += count;
    log.append(stream, ExpectedRevision::Any, events)
        .await
        .expect("appends");
}

/// Opens the log of `dir` with `config`.
fn open(dir: &std::path::Path, config: SledLogConfig) -> (Store, SledLog) {
    let store = Store::open(dir, &StoreConfig::default()).expect("the store opens");
    let log = SledLog::open(&store, config).expect("the log opens");
    (store, log)
}

/// Closes the log and lets its store go, so that it can be opened again.
async fn close(store: Store, log: SledLog) {
    log.close().await.expect("closes");
    drop(log);
    drop(store);
}

/// The index the scan of every `x` key builds for the log's tree.
fn scanned(log: &SledLog) -> Index {
    let next = *log.head.borrow();
    load_index(&log.reader.tree, Index::default(), next.next_position).expect("scans")
}

/// The tables as every `n` and `d` key of the log's tree holds them.
fn stored_tables(log: &SledLog) -> Tables {
    Tables::load(&log.reader.tree).expect("the tables load")
}

/// Whether the open log's tables are those its keys hold.
fn tables_are_stored(log: &SledLog) -> bool {
    let opened = log.reader.tables.read().expect("lock");
    let stored = stored_tables(log);
    opened.names() == stored.names() && opened.dictionary() == stored.dictionary()
}

/// Where the open index's base ends (0 when no checkpoint was used).
fn base_end(log: &SledLog) -> u64 {
    read_index(&log.reader.index).base.next_position
}

fn checkpoint_of(dir: &std::path::Path) -> std::path::PathBuf {
    checkpoint_path(&dir.join("ledger"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Given a log appended in three phases (closed with a checkpoint after the first and the
    /// second, the third closed without one, as after a crash), when it is opened, then its index
    /// equals the scan's, from the second checkpoint on.
    #[test]
    fn the_index_opened_from_a_checkpoint_equals_the_scanned_one(
        appends in prop::collection::vec((0usize..5, 1u64..4), 1..40),
        first_cut in 0usize..40,
        second_cut in 0usize..40,
    ) {
        runtime().block_on(async {
            let (dir, store) = small_store();
            drop(store);
            let first = first_cut.min(appends.len());
            let second = second_cut.min(appends.len()).max(first);
            let mut next = 0;
            let phases = [
                (&appends[..first], config(1)),
                (&appends[first..second], config(1)),
                (&appends[second..], no_checkpoint()),
            ];
            let mut checkpointed = 0;
            for (number, (phase, config)) in phases.into_iter().enumerate() {
                let (store, log) = open(dir.path(), config);
                for &(stream, count) in phase {
                    append(&log, &format!("s{stream}"), count, &mut next).await;
                }
                close(store, log).await;
                if number < 2 {
                    checkpointed = next;
                }
            }

            let (_store, log) = open(dir.path(), no_checkpoint());
            prop_assert_eq!(base_end(&log), checkpointed);
            prop_assert_eq!(read_index(&log.reader.index).entries(), scanned(&log).entries());
            prop_assert!(tables_are_stored(&log));
            Ok(())
        })?;
    }

    /// Given a log closed with a checkpoint and a tail after it, when the checkpoint is truncated,
    /// extended or has a byte changed, then the open does not use it and the index equals the
    /// scan's.
    #[test]
    fn a_damaged_checkpoint_is_not_used(
        appends in prop::collection::vec((0usize..4, 1u64..4), 1..20),
        tail in 0usize..5,
        damage in 0usize..3,
        at in any::<prop::sample::Index>(),
        byte in 1u8..=255,
    ) {
        runtime().block_on(async {
            let (dir, store) = small_store();
            drop(store);
            let mut next = 0;
            let (store, log) = open(dir.path(), config(1));
            for &(stream, count) in &appends {
                append(&log, &format!("s{stream}"), count, &mut next).await;
            }
            close(store, log).await;
            let (store, log) = open(dir.path(), no_checkpoint());
            for stream in 0..tail {
                append(&log, &format!("t{stream}"), 1, &mut next).await;
            }
            close(store, log).await;

            let path = checkpoint_of(dir.path());
            let mut bytes = std::fs::read(&path).expect("a checkpoint");
            let at = at.index(bytes.len());
            match damage {
                0 => bytes.truncate(at),
                1 => bytes.push(byte),
                _ => bytes[at] ^= byte,
            }
            std::fs::write(&path, bytes).expect("writes");

            let (_store, log) = open(dir.path(), no_checkpoint());
            prop_assert_eq!(base_end(&log), 0);
            prop_assert_eq!(read_index(&log.reader.index).entries(), scanned(&log).entries());
            prop_assert_eq!(read_index(&log.reader.index).events(), next);
            prop_assert!(tables_are_stored(&log));
            Ok(())
        })?;
    }
}

/// Writes a log of `events` events over three streams and closes it with a checkpoint.
async fn given_a_checkpointed_log(events: u64) -> tempfile::TempDir {
    let (dir, store) = small_store();
    drop(store);
    let (store, log) = open(dir.path(), config(1));
    let mut next = 0;
    for n in 0..events {
        append(&log, &format!("s{}", n % 3), 1, &mut next).await;
    }
    close(store, log).await;
    dir
}

#[tokio::test]
async fn a_checkpoint_of_another_log_or_ahead_of_the_log_is_not_used() {
    // Given two logs of 6 events with different ids, and a third of 4 of the first's events.
    let one = given_a_checkpointed_log(6).await;
    let other = {
        let (dir, store) = small_store();
        drop(store);
        let (store, log) = open(dir.path(), config(1));
        let mut next = 100;
        for n in 0..6 {
            append(&log, &format!("s{}", n % 3), 1, &mut next).await;
        }
        close(store, log).await;
        dir
    };
    let shorter = given_a_checkpointed_log(4).await;

    // When the first's checkpoint is put into the others.
    for (dir, events) in [(&other, 6), (&shorter, 4)] {
        std::fs::copy(checkpoint_of(one.path()), checkpoint_of(dir.path())).expect("copies");
        let (_store, log) = open(dir.path(), no_checkpoint());

        // Then neither uses it: its hash differs from the other's, and it is ahead of the shorter.
        assert_eq!(base_end(&log), 0);
        assert_eq!(read_index(&log.reader.index).events(), events);
        assert_eq!(
            read_index(&log.reader.index).entries(),
            scanned(&log).entries()
        );
    }
}

/// Opens the log of `dir` with its index checkpoint read ahead, as `journey` opens a data
/// directory: the read started before the store is opened, `prefetched_from` naming the data
/// directory it was started for.
fn open_prefetched(
    dir: &std::path::Path,
    prefetched_from: &std::path::Path,
    config: SledLogConfig,
) -> (Store, SledLog) {
    let prefetched = SledLog::prefetch_checkpoint(prefetched_from);
    assert!(prefetched.is_some(), "the read's thread starts");
    let store = Store::open(dir, &StoreConfig::default()).expect("the store opens");
    let log = SledLog::open_prefetched(&store, config, prefetched).expect("the log opens");
    (store, log)
}

#[tokio::test]
async fn a_checkpoint_read_ahead_of_the_store_s_open_gives_the_index_a_read_at_the_open_gives() {
    // Given a log of 6 events closed with a checkpoint, and 3 more appended after it (closed
    // without one, as after a crash).
    let dir = given_a_checkpointed_log(6).await;
    let (store, log) = open(dir.path(), no_checkpoint());
    let mut next = 50;
    append(&log, "s9", 3, &mut next).await;
    close(store, log).await;

    // When it is opened with the checkpoint read ahead of the store's open.
    let (_store, log) = open_prefetched(dir.path(), dir.path(), no_checkpoint());

    // Then the checkpoint is the index's base, and the index and tables are those of a scan.
    assert_eq!(base_end(&log), 6);
    assert_eq!(read_index(&log.reader.index).events(), 9);
    assert_eq!(
        read_index(&log.reader.index).entries(),
        scanned(&log).entries()
    );
    assert!(tables_are_stored(&log));
}

#[tokio::test]
async fn a_checkpoint_read_ahead_for_another_directory_or_ahead_of_the_log_is_not_used() {
    // Given a log of 6 events and one of 4 of the same events, each with its checkpoint.
    let longer = given_a_checkpointed_log(6).await;
    let shorter = given_a_checkpointed_log(4).await;

    // When the shorter is opened with the longer's checkpoint read ahead (another directory),
    let (store, log) = open_prefetched(shorter.path(), longer.path(), no_checkpoint());

    // then its own checkpoint is read instead and used;
    assert_eq!(base_end(&log), 4);
    assert_eq!(
        read_index(&log.reader.index).entries(),
        scanned(&log).entries()
    );
    close(store, log).await;

    // and when the longer's checkpoint is put into the shorter's directory and read ahead there,
    // it is ahead of the log and not used: every key is scanned.
    std::fs::copy(checkpoint_of(longer.path()), checkpoint_of(shorter.path())).expect("copies");
    let (_store, log) = open_prefetched(shorter.path(), shorter.path(), no_checkpoint());
    assert_eq!(base_end(&log), 0);
    assert_eq!(read_index(&log.reader.index).events(), 4);
    assert_eq!(
        read_index(&log.reader.index).entries(),
        scanned(&log).entries()
    );
}

#[tokio::test]
async fn a_whole_checkpoint_that_breaks_the_index_rules_is_not_used() {
    // Given a log of 6 events and a checkpoint written with its digest and the log's hash, but
    // with one position given to two ids (and another to none).
    let dir = given_a_checkpointed_log(6).await;
    let (store, log) = open(dir.path(), no_checkpoint());
    let (next_position, last_hash) = {
        let index = read_index(&log.reader.index);
        (index.base.next_position, index.base.last_hash)
    };
    let mut bad = std::mem::take(&mut log.reader.index.write().expect("lock").base);
    bad.id_positions[1] = bad.id_positions[0];
    let tables = stored_tables(&log);
    close(store, log).await;
    write_checkpoint(
        &checkpoint_of(dir.path()),
        &Index::on(bad),
        &tables,
        next_position,
        &last_hash,
    )
    .expect("writes");

    // When the log is opened.
    let (_store, log) = open(dir.path(), no_checkpoint());

    // Then the checkpoint is not used, and every id is found where it is.
    assert_eq!(base_end(&log), 0);
    assert_eq!(
        read_index(&log.reader.index).entries(),
        scanned(&log).entries()
    );
}

#[tokio::test]
async fn a_crash_after_the_checkpoint_reopens_to_the_index_of_every_event() {
    // Given a log closed with a checkpoint, reopened, appended to (new streams and old ones) and
    // flushed, and a copy of its directory then: what a crash before the next close leaves.
    let dir = given_a_checkpointed_log(9).await;
    let (store, log) = open(dir.path(), config(1));
    let mut next = 1000;
    for n in 0..5 {
        append(&log, &format!("s{}", n % 4), 2, &mut next).await;
    }
    store.db().flush().expect("flushes");
    let copy = tempfile::tempdir().expect("dir");
    copy_dir(dir.path(), copy.path());

    // When the copy is opened.
    let (_store, reopened) = open(copy.path(), no_checkpoint());

    // Then it starts from the checkpoint and indexes every event after it too.
    assert_eq!(base_end(&reopened), 9);
    assert_eq!(read_index(&reopened.reader.index).events(), 19);
    assert_eq!(
        read_index(&reopened.reader.index).entries(),
        read_index(&log.reader.index).entries()
    );
    assert_eq!(
        read_index(&reopened.reader.index).entries(),
        scanned(&reopened).entries()
    );
}

#[tokio::test]
async fn after_an_open_from_a_checkpoint_retries_revisions_and_reads_behave_as_before() {
    // Given a log of streams a (3 events) and b (2), closed with a checkpoint, reopened, and one
    // more event appended to a and one to a new stream c.
    let (dir, store) = small_store();
    drop(store);
    let (store, log) = open(dir.path(), config(1));
    let a: Vec<NewEvent> = (0..3).map(nth_event).collect();
    let b: Vec<NewEvent> = (3..5).map(nth_event).collect();
    log.append("a", ExpectedRevision::NoStream, a.clone())
        .await
        .expect("appends");
    log.append("b", ExpectedRevision::NoStream, b.clone())
        .await
        .expect("appends");
    close(store, log).await;
    let (_store, log) = open(dir.path(), config(1));
    assert_eq!(base_end(&log), 5);
    log.append("a", ExpectedRevision::Exact(2), vec![nth_event(5)])
        .await
        .expect("appends after the checkpoint");
    log.append("c", ExpectedRevision::NoStream, vec![nth_event(6)])
        .await
        .expect("appends a new stream");

    // When events are appended again, against the wrong revision, or in another stream.
    let retry = log
        .append("a", ExpectedRevision::NoStream, a.clone())
        .await
        .expect("a retry");
    let stale = log
        .append("b", ExpectedRevision::Exact(0), vec![nth_event(7)])
        .await;
    let elsewhere = log
        .append("c", ExpectedRevision::Any, vec![b[0].clone()])
        .await;

    // Then the retry replays where the events are, the others are refused as before.
    assert!(retry.replayed);
    assert_eq!(retry.first_position, Position(0));
    assert_eq!(retry.stream_revision, 2);
    assert!(matches!(
        stale,
        Err(LogError::WrongExpectedRevision {
            actual: Some(1),
            ..
        })
    ));
    assert!(matches!(
        elsewhere,
        Err(LogError::DuplicateIdInOtherStream { .. })
    ));
    // And reads by stream, both ways, from a revision, find by id, revisions and names agree.
    let revisions = |events: Vec<RecordedEvent>| -> Vec<(u64, u64)> {
        events
            .iter()
            .map(|event| (event.revision, event.position.raw()))
            .collect()
    };
    let forwards = log
        .read_stream("a", StreamFrom::Revision(1), Direction::Forwards, 10)
        .await
        .expect("reads");
    assert_eq!(revisions(forwards), [(1, 1), (2, 2), (3, 5)]);
    let backwards = log
        .read_stream("a", StreamFrom::End, Direction::Backwards, 2)
        .await
        .expect("reads");
    assert_eq!(revisions(backwards), [(3, 5), (2, 2)]);
    assert_eq!(log.stream_revision("a").await.expect("a"), Some(3));
    assert_eq!(log.stream_revision("b").await.expect("b"), Some(1));
    assert_eq!(log.stream_revision("c").await.expect("c"), Some(0));
    assert_eq!(log.stream_revision("d").await.expect("d"), None);
    let found = log
        .find_event("b", b[1].id)
        .await
        .expect("finds")
        .expect("there");
    assert_eq!(found.position, Position(4));
    assert_eq!(log.stream_names("").await.expect("names"), ["a", "b", "c"]);
    let all = log
        .read_all(AllFrom::Start, Direction::Forwards, 100)
        .await
        .expect("reads all");
    assert_eq!(all.len(), 7);
}

/// The checkpoint file's body (without its digest) changed by `change`, with the digest of the
/// changed body, as a writer of that content would have written it.
fn rewrite(path: &std::path::Path, change: impl FnOnce(&mut Vec<u8>)) {
    use sha2::{Digest, Sha256};
    let mut body = std::fs::read(path).expect("a checkpoint");
    body.truncate(body.len() - 32);
    change(&mut body);
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&digest);
    std::fs::write(path, body).expect("writes");
}

/// Where the tables' section of a checkpoint of `base` begins (after the header, the ids and the
/// streams).
fn tables_offset(base: &Base) -> usize {
    let streams: usize = (0..base.streams())
        .map(|stream| 4 + base.name(stream).len() + 8 + 8 * base.positions_of(stream).len())
        .sum();
    HEADER_BYTES as usize + 24 * base.ids.len() + streams
}

#[tokio::test]
async fn the_tables_come_from_the_checkpoint_and_the_keys_after_it() {
    // Given a log closed with a checkpoint, then appended to with new streams, event types and
    // actors and closed without one (as after a crash).
    let dir = given_a_checkpointed_log(9).await;
    let (store, log) = open(dir.path(), no_checkpoint());
    let at_checkpoint = log.reader.tables.read().expect("lock").names().len();
    for (n, stream) in (1000..).zip(["later-a", "s1", "later-b"]) {
        let mut event = nth_event(n);
        event.event_type = format!("Later{n}");
        log.append(stream, ExpectedRevision::Any, vec![event])
            .await
            .expect("appends");
    }
    let stored = stored_tables(&log);
    close(store, log).await;
    // (The first name's key removed, so that tables read from the keys alone could not load.)
    let store = Store::open(dir.path(), &StoreConfig::default()).expect("the store opens");
    let tree = store.db().open_tree(TREE_NAME).expect("the tree");
    tree.remove(name_key(0)).expect("removes");
    tree.flush().expect("flushes");
    drop(tree);
    drop(store);

    // When it is opened.
    let (_store, log) = open(dir.path(), no_checkpoint());

    // Then the checkpoint is used, and the tables are its entries and those of the keys after it.
    assert_eq!(base_end(&log), 9);
    {
        let opened = log.reader.tables.read().expect("lock");
        assert_eq!(opened.names(), stored.names());
        assert_eq!(opened.dictionary(), stored.dictionary());
        assert_eq!(opened.names().len(), at_checkpoint + 2);
    }
    let read = log
        .read_stream("later-b", StreamFrom::Start, Direction::Forwards, 10)
        .await
        .expect("reads");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].event.event_type, "Later1002");
}

#[tokio::test]
async fn a_checkpoint_whose_name_table_is_out_of_order_is_not_used() {
    // Given a log of 6 events over three streams whose checkpoint gives the first two numbers of
    // the name table each other's streams (whole and digested, as a faulty writer would leave it).
    let dir = given_a_checkpointed_log(6).await;
    let base = {
        let (store, log) = open(dir.path(), no_checkpoint());
        let base = std::mem::take(&mut log.reader.index.write().expect("lock").base);
        close(store, log).await;
        base
    };
    rewrite(&checkpoint_of(dir.path()), |body| {
        let names = tables_offset(&base) + 8;
        let (first, second) = (names..names + 4, names + 4..names + 8);
        let swapped: Vec<u8> = body[second.clone()]
            .iter()
            .chain(&body[first.clone()])
            .copied()
            .collect();
        body[first.start..second.end].copy_from_slice(&swapped);
    });

    // When the log is opened.
    let (_store, log) = open(dir.path(), no_checkpoint());

    // Then the checkpoint is not used, and the tables and the index are the stored ones.
    assert_eq!(base_end(&log), 0);
    assert!(tables_are_stored(&log));
    assert_eq!(
        read_index(&log.reader.index).entries(),
        scanned(&log).entries()
    );
}

#[tokio::test]
async fn a_checkpoint_of_the_first_format_serves_and_is_written_again_at_the_next_close() {
    // Given a log of 7 events whose checkpoint is of the first format (no tables' section).
    let dir = given_a_checkpointed_log(7).await;
    let base = {
        let (store, log) = open(dir.path(), no_checkpoint());
        let base = std::mem::take(&mut log.reader.index.write().expect("lock").base);
        close(store, log).await;
        base
    };
    let path = checkpoint_of(dir.path());
    rewrite(&path, |body| {
        body.truncate(tables_offset(&base));
        body[..8].copy_from_slice(MAGIC_WITHOUT_TABLES);
    });

    // When it is opened (with a threshold no close reaches) and closed.
    let (store, log) = open(dir.path(), no_checkpoint());

    // Then its index comes from the checkpoint and its tables from their keys,
    assert_eq!(base_end(&log), 7);
    assert!(tables_are_stored(&log));
    close(store, log).await;

    // and the close wrote the checkpoint again, with the tables.
    let bytes = std::fs::read(&path).expect("a checkpoint");
    assert_eq!(&bytes[..8], MAGIC);
    let (_store, log) = open(dir.path(), no_checkpoint());
    assert_eq!(base_end(&log), 7);
    assert!(read_index(&log.reader.index).base.with_tables);
    assert!(tables_are_stored(&log));
}
