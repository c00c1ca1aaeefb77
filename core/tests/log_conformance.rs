//! The storage seam's conformance suite (`journey_core::log::conformance`) against the embedded
//! sled log and the in-memory log. Another backend runs the same suite from its own tests.

use std::sync::Arc;

use journey_core::log::conformance::{self, FreshLog};
use journey_core::log::test_support::test_events;
use journey_core::log::{
    AllFrom, Direction, EventLog, ExpectedRevision, InMemoryLog, LogError, SledLog, SledLogConfig,
};
use journey_core::store::{Store, StoreConfig};

async fn fresh_sled() -> FreshLog {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = StoreConfig {
        cache_capacity_bytes: 8 * 1024 * 1024,
    };
    let store = Store::open(dir.path(), &config).expect("the store opens");
    let log = SledLog::open(&store, SledLogConfig::default()).expect("the log opens");
    FreshLog {
        log: Arc::new(log),
        keep: Box::new((store, dir)),
    }
}

async fn fresh_in_memory() -> FreshLog {
    FreshLog::new(Arc::new(InMemoryLog::default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sled_log_conforms() {
    conformance::check_all(fresh_sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_log_conforms() {
    conformance::check_all(fresh_in_memory).await;
}

/// The in-memory log numbers its events like a transaction file's byte offsets, so that whatever
/// runs above it cannot lean on dense positions.
#[tokio::test]
async fn the_in_memory_log_has_positions_that_are_not_dense() {
    let log = InMemoryLog::default();
    let outcome = log
        .append("s", ExpectedRevision::Any, test_events(3))
        .await
        .expect("appends");
    let events = log
        .read_all(AllFrom::Start, Direction::Forwards, 10)
        .await
        .expect("reads");
    assert!(events[0].position.raw() > 0, "the first position is not 0");
    for pair in events.windows(2) {
        assert!(
            pair[1].position.raw() > pair[0].position.raw() + 1,
            "{} then {}: a gap between neighbours",
            pair[0].position,
            pair[1].position
        );
    }
    assert_eq!(outcome.last_position, events[2].position);
    assert!(!log.keeps_global_chain());
    assert!(events.iter().all(|event| event.global_link.is_none()));
}

/// Closing the in-memory log refuses further appends and ends its subscriptions after the events
/// they are owed.
#[tokio::test]
async fn a_closed_in_memory_log_refuses_appends_and_ends_subscriptions() {
    let log = InMemoryLog::default();
    log.append("s", ExpectedRevision::Any, test_events(3))
        .await
        .expect("appends");
    let mut subscription = log.subscribe_all(AllFrom::Start).await.expect("subscribes");
    log.close().await.expect("closes");

    let refused = log
        .append("s", ExpectedRevision::Any, test_events(1))
        .await
        .expect_err("closed");
    assert!(matches!(refused, LogError::Closed), "{refused}");
    let mut delivered = 0;
    while let Some(event) = subscription.next().await {
        event.expect("an event");
        delivered += 1;
    }
    assert_eq!(delivered, 3, "the history, then the end");
}
