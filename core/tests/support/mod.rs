//! Shared helpers of the log tests.

use journey_core::chain;
use journey_core::log::{
    AllFrom, Direction, EventLog, LogError, NewEvent, Position, RecordedEvent, SledLog,
    SledLogConfig, READ_LIMIT_MAX,
};
use journey_core::store::{Store, StoreConfig};
use tempfile::TempDir;
use uuid::Uuid;

/// A log over a real sled store in a temporary directory. The directory lives as long as this.
#[derive(Debug)]
pub struct TestLog {
    pub log: SledLog,
    pub store: Store,
    pub dir: TempDir,
}

/// A small page cache keeps many concurrently open test stores cheap.
fn store_config() -> StoreConfig {
    StoreConfig {
        cache_capacity_bytes: 8 * 1024 * 1024,
    }
}

pub fn open_log() -> TestLog {
    open_log_with(SledLogConfig::default())
}

pub fn open_log_with(config: SledLogConfig) -> TestLog {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path(), &store_config()).expect("the store opens");
    let log = SledLog::open(&store, config).expect("the log opens");
    TestLog { log, store, dir }
}

/// Drops the log and the store and opens both again on the same directory.
///
/// sled 0.34 releases its file lock lazily: its background IO threads can hold the file for a moment
/// after the last `Db` is dropped (spacejam/sled#1234, #1289). The reopen therefore waits for the lock
/// a bounded time instead of failing the test on a busy machine.
pub fn reopen(test_log: TestLog) -> TestLog {
    let TestLog { log, store, dir } = test_log;
    drop(log);
    drop(store);
    let mut attempts = 0;
    let store = loop {
        match Store::open(dir.path(), &store_config()) {
            Err(LogError::Locked { .. }) if attempts < 200 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => break result.expect("the store reopens"),
        }
    };
    let log = SledLog::open(&store, SledLogConfig::default()).expect("the log reopens");
    TestLog { log, store, dir }
}

pub fn ids(events: &[NewEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

/// Every committed event, checked to be at the embedded log's positions 0..n.
pub async fn read_everything(log: &SledLog) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let from = AllFrom::after(events.last().map(|event| event.position));
        let page = log
            .read_all(from, Direction::Forwards, READ_LIMIT_MAX)
            .await
            .expect("the log reads");
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.position,
            Position::from_raw(index as u64),
            "the embedded log's positions are gap-free from 0"
        );
    }
    assert_eq!(
        log.last_position().await.expect("the head"),
        events.last().map(|event| event.position)
    );
    events
}

/// The global chain links every event to the one before, starting at GENESIS.
pub fn assert_global_chain(events: &[RecordedEvent]) {
    let mut prev = chain::GENESIS;
    for event in events {
        let link = event
            .global_link
            .expect("the embedded log keeps the global chain");
        assert_eq!(
            link.prev_hash, prev,
            "global prev hash at position {}",
            event.position
        );
        assert_eq!(
            link.hash,
            chain::global_hash(&prev, event.position.raw(), &event.event.hash),
            "global hash at position {}",
            event.position
        );
        prev = link.hash;
    }
}

/// The embedded log's next position, which is also its number of events: it numbers them densely
/// from 0 (a property of this backend, not of the contract).
pub async fn next_position(log: &SledLog) -> u64 {
    log.last_position()
        .await
        .expect("the head")
        .map_or(0, |last| last.raw() + 1)
}
