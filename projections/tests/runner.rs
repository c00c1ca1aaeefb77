//! The projection runner over a real ledger: catch-up, live following, snapshots and restarts,
//! rebuilds, and erasure.

mod support;

use std::sync::Arc;

use chrono::NaiveDate;
use journey_core::catalogue::{ErasureReason, Event, PersonalDataErased};
use journey_core::clock::FixedClock;
use journey_core::crypto::SecretKey;
use journey_core::envelope::PersonId;
use journey_core::keys::KeyStore;
use journey_core::ledger::{Ledger, LedgerConfig, Proposed};
use journey_core::log::{
    AllFrom, Direction, EventLog, ExpectedRevision, Position, SledLog, SledLogConfig,
};
use journey_core::sample;
use journey_core::store::{Store, StoreConfig};
use journey_projections::{ProjectionError, Projections, RunnerConfig, State};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

struct Fixture {
    dir: tempfile::TempDir,
    log: Arc<SledLog>,
    ledger: Arc<Ledger>,
    clock: Arc<FixedClock>,
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
    let clock = Arc::new(FixedClock::at_date(date("2024-06-30")));
    let ledger = Arc::new(Ledger::new(
        log.clone() as Arc<dyn EventLog>,
        keys,
        clock.clone(),
        Box::new(StdRng::seed_from_u64(2)),
        LedgerConfig::default(),
    ));
    Fixture {
        dir,
        log,
        ledger,
        clock,
    }
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
    assert_eq!(state.checkpoint, Some(Position::from_raw(24)));
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
        .wait_for(receipt.last_position.expect("written"))
        .await
        .expect("applied");
    let journal = projections.read(|state| state.journals[&person(2)].clone());
    assert_eq!(journal.facts.len(), 6);
    assert_eq!(journal.facts[5].id, Uuid::from_u128(99_999));
    let status = projections.status().await.expect("status");
    assert_eq!(
        (status.lag_events, status.checkpoint),
        (0, receipt.last_position)
    );
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
            assert_eq!(fact.revision as usize, revision);
        }
    }
    assert_eq!(after.journals[&person(0)].facts.len(), 4 + 1);
    // A rebuild from position 0 ends in exactly the same state.
    restarted.rebuild(|_| {}).await.expect("rebuild");
    assert_eq!(snapshot_of(&restarted), after);
    restarted.shutdown().await.expect("shutdown");
}

/// The snapshot file's identity: a snapshot is written to a new file and renamed over the old one.
fn snapshot_file_identity(fixture: &Fixture) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(
        config(fixture)
            .dir
            .join(journey_projections::runner::SNAPSHOT_FILE),
    )
    .expect("the snapshot file");
    (metadata.ino(), metadata.modified().expect("mtime"))
}

/// Starts projections from the fixture's snapshot and stops them with nothing new applied, once
/// their kept rows are ready; answers the state they held.
async fn start_and_stop_idle(fixture: &Fixture) -> State {
    let idle = Projections::start(fixture.ledger.clone(), config(fixture))
        .await
        .expect("restart");
    idle.caught_up().await.expect("caught up");
    support::kept_rows_ready(&idle).await;
    let state = snapshot_of(&idle);
    idle.shutdown().await.expect("shutdown");
    state
}

#[tokio::test]
async fn a_shutdown_writes_no_snapshot_when_nothing_was_applied_since_the_one_it_loaded() {
    // Given projections that caught up and wrote their snapshot, with their kept rows, at shutdown,
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 4, 2).await;
    let first = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    first.caught_up().await.expect("caught up");
    support::kept_rows_ready(&first).await;
    first.shutdown().await.expect("shutdown");
    let written = snapshot_file_identity(&fixture);

    // when they start from it and stop with nothing new applied, the file is left as it is;
    let state = start_and_stop_idle(&fixture).await;
    assert_eq!(snapshot_file_identity(&fixture), written);

    // a rebuild writes its state even at the same checkpoint (and the shutdown writes it once more
    // when the kept rows became ready after that write, so that the file holds them), after which
    // a start with nothing new applied leaves the file as it is again;
    let rebuilt = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    rebuilt.caught_up().await.expect("caught up");
    rebuilt.rebuild(|_| {}).await.expect("rebuild");
    assert_ne!(snapshot_file_identity(&fixture), written);
    support::kept_rows_ready(&rebuilt).await;
    rebuilt.shutdown().await.expect("shutdown");
    let after_rebuild = snapshot_file_identity(&fixture);
    start_and_stop_idle(&fixture).await;
    assert_eq!(snapshot_file_identity(&fixture), after_rebuild);

    // and events applied since the load are written at the next shutdown.
    seed_more(&fixture).await;
    let moved = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    moved.caught_up().await.expect("caught up");
    moved.shutdown().await.expect("shutdown");
    assert_ne!(snapshot_file_identity(&fixture), after_rebuild);
    let reloaded = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    let loaded = snapshot_of(&reloaded);
    assert!(
        loaded.checkpoint > state.checkpoint,
        "the new events are in the snapshot"
    );
    reloaded.shutdown().await.expect("shutdown");
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
        .rebuild(|update| progress.lock().expect("progress").push(update.checkpoint))
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
    for recorded in fixture
        .log
        .read_all(AllFrom::Start, Direction::Forwards, 100_000)
        .await
        .expect("read")
    {
        direct
            .apply(&fixture.ledger.decode(recorded).expect("decode"))
            .expect("in order");
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

/// Every event of the log, decoded, in position order.
async fn decoded_log(fixture: &Fixture) -> Vec<journey_core::ledger::DecodedEvent> {
    let mut decoded = Vec::new();
    for recorded in fixture
        .log
        .read_all(AllFrom::Start, Direction::Forwards, 100_000)
        .await
        .expect("read")
    {
        decoded.push(fixture.ledger.decode(recorded).expect("decode"));
    }
    decoded
}

/// Positions are not dense, so a state cannot tell a gap (the log's to rule out, `journey verify`
/// checks it); it refuses an event at or before its checkpoint, which would count twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_fed_a_repeat_or_an_earlier_event_refuses_it_and_stays_where_it_was() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 2, 1).await;
    let decoded = decoded_log(&fixture).await;
    let mut state = State::default();
    state.apply(&decoded[0]).expect("the first event first");
    state.apply(&decoded[1]).expect("then the second");
    state.apply(&decoded[2]).expect("then the third");
    let before = state.clone();
    let checkpoint = Some(decoded[2].recorded.position);

    // The third again: applied twice would count its event twice.
    let error = state.apply(&decoded[2]).expect_err("a repeat is refused");
    assert!(
        matches!(
            error,
            ProjectionError::PositionOutOfOrder { checkpoint: at, found }
                if at == checkpoint && found == decoded[2].recorded.position
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("applied through position"),
        "{error}"
    );
    // An earlier event: out of order.
    let error = state
        .apply(&decoded[0])
        .expect_err("an earlier event is refused");
    assert!(
        matches!(
            error,
            ProjectionError::PositionOutOfOrder { found, .. } if found == decoded[0].recorded.position
        ),
        "{error:?}"
    );
    assert_eq!(state, before, "a refused event changes nothing");
    state.apply(&decoded[3]).expect("the next event fits");
}

/// A journal's fact holds a revision below 2^32 and a transaction time between 1677 and 2262
/// (`journal::Fact::new`). A person's event beyond either is refused with an error naming the value
/// and changes nothing; the state then takes the next event as if it had not been offered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_event_a_fact_cannot_hold_is_refused_and_changes_nothing() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 1, 1).await;
    let decoded = decoded_log(&fixture).await;
    let mut state = State::default();
    state.apply(&decoded[0]).expect("the first event");
    let before = state.clone();

    let mut far_revision = decoded[1].clone();
    far_revision.recorded.revision = u64::from(u32::MAX) + 1;
    let error = state
        .apply(&far_revision)
        .expect_err("a revision beyond u32 is refused");
    assert!(
        matches!(error, ProjectionError::Unholdable { position, .. } if position == decoded[1].recorded.position),
        "{error:?}"
    );
    assert!(error.to_string().contains("revision 4294967296"), "{error}");
    assert_eq!(state, before, "a refused event changes nothing");

    let mut early = decoded[1].clone();
    early.recorded.event.recorded_at = chrono::DateTime::from_timestamp(-10_000_000_000, 0)
        .expect("a time chrono holds, before 1677");
    let error = state
        .apply(&early)
        .expect_err("a time before 1677 is refused");
    assert!(error.to_string().contains("1653-"), "{error}");
    assert_eq!(state, before, "a refused event changes nothing");

    state
        .apply(&decoded[1])
        .expect("the event as recorded fits");
}

/// A `known_at` later than what the projections applied: `reach` waits for them while they lag
/// the log, refuses when they do not catch up within its bound (naming the lag), and refuses a
/// `known_at` later than the ledger's now outright (events may still be recorded up to it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reach_waits_for_a_lagging_cut_and_refuses_one_it_cannot_answer() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 1, 0).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    // The fixture's clock stands at 2024-06-30T00:00:00Z; everything so far was recorded then.
    let now = chrono::DateTime::parse_from_rfc3339("2024-06-30T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let earlier = now - chrono::Duration::days(1);
    projections
        .reach(now, std::time::Duration::ZERO)
        .await
        .expect("caught up: the cut at now is answerable");

    let later = now + chrono::Duration::seconds(1);
    let error = projections
        .reach(later, std::time::Duration::from_secs(30))
        .await
        .expect_err("the future is refused");
    assert!(
        matches!(error, ProjectionError::KnownAtInFuture { known_at, .. } if known_at == later),
        "{error:?}"
    );

    // Hold the projections back, and record one more event.
    let pause = projections.pause().await;
    seed_more_for(&fixture, 0).await;
    let applied_before = projections.read(|state| state.checkpoint);
    let error = projections
        .reach(now, std::time::Duration::ZERO)
        .await
        .expect_err("behind the log, no time to wait");
    match &error {
        ProjectionError::Behind {
            lag_events,
            applied_through,
            ..
        } => {
            assert_eq!(*lag_events, 1);
            assert_eq!(*applied_through, Some(now));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("1 event"), "{error}");
    // A cut the applied events already cover needs no waiting, lag or not.
    projections
        .reach(earlier, std::time::Duration::ZERO)
        .await
        .expect("covered");

    // Now a patient reach: it is still waiting while the projections are held…
    let mut waiting = Box::pin(projections.reach(now, std::time::Duration::from_secs(30)));
    assert!(
        futures_poll_once(waiting.as_mut()).await.is_none(),
        "reach waits while the projections lag"
    );
    assert_eq!(projections.read(|state| state.checkpoint), applied_before);
    // …and answers once they move on.
    drop(pause);
    waiting.await.expect("reached");
    assert_eq!(
        projections.read(|state| state.checkpoint),
        fixture.log.last_position().await.expect("head"),
        "the one event more is applied"
    );
    projections.shutdown().await.expect("shutdown");
}

/// Polls a future once: `Some(output)` if it is ready, `None` if it is waiting.
async fn futures_poll_once<F: std::future::Future>(
    future: std::pin::Pin<&mut F>,
) -> Option<F::Output> {
    let mut future = Some(future);
    std::future::poll_fn(move |context| {
        let future = future.take().expect("polled once");
        std::task::Poll::Ready(match future.poll(context) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// Appends one event for person `n`; returns its position.
async fn seed_more_for(fixture: &Fixture, n: u128) -> Position {
    fixture
        .ledger
        .append(
            person(n),
            ExpectedRevision::Any,
            vec![sample::counselling(
                Uuid::from_u128(60_000 + n),
                date("2024-04-01"),
            )],
        )
        .await
        .expect("append")
        .last_position
        .expect("written")
}

/// The live views are refreshed only for the persons applied events touched. A refresh that both
/// adds a person (ahead of the others in person order) and updates one behind them must leave the
/// views equal to views built from scratch: ordered by person, each person once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_views_refreshed_for_a_new_and_a_changed_person_equal_views_built_afresh() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 3, 1).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    assert_eq!(projections.views(None).views.len(), 3);

    let newcomer = PersonId(Uuid::from_u128(1));
    assert!(newcomer < person(0));
    fixture
        .ledger
        .append(
            newcomer,
            ExpectedRevision::Any,
            vec![
                sample::registration(Uuid::from_u128(40_001), date("2024-01-02")),
                sample::arrival(Uuid::from_u128(40_002), date("2024-01-03")),
            ],
        )
        .await
        .expect("newcomer");
    seed_more_for(&fixture, 2).await;
    projections.caught_up().await.expect("caught up");

    let refreshed = projections.views(None);
    let afresh = projections
        .read(|state| journey_projections::ViewSet::for_state(state, journey_projections::LIVE));
    let persons = |set: &journey_projections::ViewSet| {
        set.views.iter().map(|view| view.person).collect::<Vec<_>>()
    };
    assert_eq!(
        persons(&refreshed),
        [newcomer, person(0), person(1), person(2)]
    );
    assert_eq!(refreshed.views, afresh.views);
    for view in &afresh.views {
        assert_eq!(refreshed.view(view.person), Some(view));
    }
    projections.shutdown().await.expect("shutdown");
}

/// The runner never applies part of an append: the events of one append share one transaction
/// time, and a state holding some of them would report that time as covered. With batches of one
/// event, the first batch after an append of five still holds all five. The pause is handed over
/// fairly (tokio's mutex is FIFO), so the runner applies exactly one batch between our turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_batch_holds_a_whole_append_even_when_batches_are_smaller() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 1, 0).await;
    let mut config = config(&fixture);
    config.apply_batch_events_max = 1;
    let projections = Projections::start(fixture.ledger.clone(), config)
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let before = projections.read(|state| state.checkpoint);

    let pause = projections.pause().await;
    let events = (0..5)
        .map(|n| sample::counselling(Uuid::from_u128(30_000 + n), date("2024-03-01")))
        .collect();
    let receipt = fixture
        .ledger
        .append(person(0), ExpectedRevision::Any, events)
        .await
        .expect("append");
    let first_change = first_batch_after(&projections, pause, before).await;
    assert_eq!(first_change, receipt.last_position, "all five in one batch");
    projections.shutdown().await.expect("shutdown");
}

/// Releases `pause` so that the runner applies exactly one batch (tokio's mutex is FIFO: queued for
/// the pause before releasing it, we get it right after the runner's one batch, or at once when
/// the runner was not waiting yet, and then try again); returns the checkpoint after that batch.
async fn first_batch_after(
    projections: &Projections,
    mut pause: tokio::sync::MutexGuard<'_, ()>,
    before: Option<Position>,
) -> Option<Position> {
    for _ in 0..1_000 {
        let mut next = Box::pin(projections.pause());
        assert!(futures_poll_once(next.as_mut()).await.is_none(), "held");
        drop(pause);
        pause = next.await;
        let now = projections.read(|state| state.checkpoint);
        if now != before {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the runner applied nothing within 5 s")
}

/// Two appends to different persons that took their times in one order and their positions in
/// the other (as concurrent appends can): the runner applies the earlier-timed, later-positioned
/// one in the same batch, so no state reports the later time while an event recorded before it
/// is still to be applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_before_the_latest_applied_time_joins_the_batch() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 3, 0).await;
    let mut config = config(&fixture);
    config.apply_batch_events_max = 1;
    let projections = Projections::start(fixture.ledger.clone(), config)
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let before = projections.read(|state| state.checkpoint);

    let pause = projections.pause().await;
    // A first append keeps the runner busy (its batch waits for the pause), so that the two
    // after it are both in the log when the runner forms its next batch.
    let first = seed_more_for(&fixture, 2).await;
    fixture.clock.advance(chrono::Duration::seconds(10));
    seed_more_for(&fixture, 0).await;
    // The third append took its time before the second, but reached the log after it.
    fixture.clock.advance(chrono::Duration::seconds(-5));
    let third = seed_more_for(&fixture, 1).await;
    let first_change = first_batch_after(&projections, pause, before).await;
    assert_eq!(first_change, Some(first), "the first append alone");
    let pause = projections.pause().await;
    let second_change = first_batch_after(&projections, pause, first_change).await;
    assert_eq!(second_change, Some(third), "the other two in one batch");
    projections.shutdown().await.expect("shutdown");
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

/// Given an append that took its transaction time but has not reached the log yet (held here as
/// the ledger's in-flight stamp) and a later append that has, when the live projections follow the
/// log, then they do not apply the later one until the earlier one has left: a live answer's
/// `known_at` covers every event recorded by then, including those still on their way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_projections_wait_for_an_append_stamped_before_what_they_would_apply() {
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 1, 0).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let applied_before = projections.read(|state| state.checkpoint);

    // An append in flight at the fixed clock's time, and then another recorded at the same time.
    let held = fixture
        .ledger
        .in_flight()
        .stamp(fixture.ledger.clock().as_ref());
    let head = seed_more_for(&fixture, 0).await;
    let unapplied = fixture
        .log
        .read_all(AllFrom::after(applied_before), Direction::Forwards, 10)
        .await
        .expect("read");
    assert_eq!(unapplied.len(), 1, "one event more in the log");
    // The runner has the new event in hand; it must not apply it while the earlier stamp is out.
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        projections.caught_up(),
    )
    .await;
    assert!(
        waited.is_err(),
        "applied while an earlier append was in flight"
    );
    assert_eq!(projections.read(|state| state.checkpoint), applied_before);

    drop(held);
    projections
        .caught_up()
        .await
        .expect("caught up once it left");
    assert_eq!(projections.read(|state| state.checkpoint), Some(head));
    projections.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_snapshots_nothing_is_written_and_a_restart_builds_from_the_log() {
    // Given: a runner that keeps no snapshots (a read replica's), caught up with 60 events, more
    // than its snapshot interval.
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 12, 3).await;
    let mut without = config(&fixture);
    without.snapshots = false;
    let projections = Projections::start(fixture.ledger.clone(), without.clone())
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let before = snapshot_of(&projections);

    // When: it stops (where a runner writes its final snapshot) and starts again.
    projections.shutdown().await.expect("shutdown");
    let written = std::fs::read_dir(&without.dir).map_or(0, |entries| entries.count());
    let again = Projections::start(fixture.ledger.clone(), without)
        .await
        .expect("restart");
    again.caught_up().await.expect("caught up again");

    // Then: no file was written, and the state built again from the log is the same.
    assert_eq!(written, 0, "no snapshot file");
    assert_eq!(snapshot_of(&again), before);
    again.shutdown().await.expect("shutdown");
}

/// Each person's fact list grows by a quarter at a time while a batch is applied (so that a
/// catch-up copies each fact a bounded number of times), and gives the room it did not fill back at
/// the end of the batch: a journal holds no spare facts after a catch-up, a live append or a rebuild
/// (about 200 bytes a person otherwise, `journey bench projections`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_hold_no_spare_room_after_a_catch_up_a_live_append_or_a_rebuild() {
    let spare = |projections: &Projections| {
        projections.read(|state| {
            state
                .journals
                .values()
                .map(|journal| journal.facts.capacity() - journal.facts.len())
                .sum::<usize>()
        })
    };
    // Given persons of five facts each, which a list growing by four and then a quarter leaves
    // with spare room,
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 5, 3).await;
    // when the projections catch up, follow a live append and rebuild,
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    // then no journal keeps room it does not use at any of these moments.
    assert_eq!(spare(&projections), 0, "after the catch-up");
    let last = seed_more_for(&fixture, 2).await;
    projections.wait_for(last).await.expect("applied");
    assert_eq!(spare(&projections), 0, "after a live append");
    projections.rebuild(|_| {}).await.expect("rebuild");
    assert_eq!(spare(&projections), 0, "after a rebuild");
    projections.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_stopped_part_way_and_resumed_equals_a_rebuild() {
    // Given a log of many small batches, caught up with batches decoded ahead of the one applied
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 40, 30).await;
    let mut small_batches = config(&fixture);
    small_batches.apply_batch_events_max = 8;
    let head = fixture
        .log
        .last_position()
        .await
        .expect("head")
        .expect("seeded");
    // When the runner is stopped as soon as it started (during its catch-up, or just after)
    let stopped = Projections::start(fixture.ledger.clone(), small_batches.clone())
        .await
        .expect("start");
    stopped
        .shutdown()
        .await
        .expect("shutdown writes a snapshot");
    let at_stop = snapshot_of(&stopped);
    drop(stopped);
    // Then what it applied is a prefix of the log: every journal's revisions from 0 without a gap
    assert!(at_stop.checkpoint <= Some(head));
    for journal in at_stop.journals.values() {
        for (revision, fact) in journal.facts.iter().enumerate() {
            assert_eq!(u64::from(fact.revision), revision as u64);
            assert!(Some(fact.position) <= at_stop.checkpoint);
        }
    }
    // And resumed from its snapshot it catches up to the state a rebuild from position 0 builds
    let resumed = Projections::start(fixture.ledger.clone(), small_batches)
        .await
        .expect("restart");
    assert_eq!(snapshot_of(&resumed).checkpoint, at_stop.checkpoint);
    resumed.caught_up().await.expect("caught up");
    let caught_up = snapshot_of(&resumed);
    assert_eq!(caught_up.checkpoint, Some(head));
    resumed.rebuild(|_| {}).await.expect("rebuild");
    let rebuilt = snapshot_of(&resumed);
    assert_eq!(rebuilt, caught_up);
    assert_eq!(rebuilt.digest(), caught_up.digest());
    resumed.shutdown().await.expect("shutdown");
}

/// A snapshot that cannot be loaded (an earlier layout, a damaged file, a shared table sealed under
/// an earlier key epoch) costs a rebuild, never a
/// wrong state: the runner starts from position 0 and writes its next snapshot in this layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_an_earlier_layout_damaged_or_of_an_earlier_key_epoch_is_rebuilt_from_the_log(
) {
    // Given: projections caught up with 30 events, whose shutdown wrote a snapshot.
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 6, 3).await;
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    let before = snapshot_of(&projections);
    projections.shutdown().await.expect("shutdown");
    let path = config(&fixture)
        .dir
        .join(journey_projections::runner::SNAPSHOT_FILE);
    let written = std::fs::read(&path).expect("snapshot");

    let mut earlier = written.clone();
    earlier[..8].copy_from_slice(b"JRNYSNP1");
    let mut damaged = written.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x01;
    for unusable in [earlier, damaged] {
        // When: the snapshot is replaced by one that cannot be loaded, and the runner starts.
        std::fs::write(&path, &unusable).expect("replace the snapshot");

        // Then: it rebuilt the same state from the log, and its next snapshot loads.
        let header = restarted_from_the_log(&fixture, &path, &before).await;
        assert_eq!(header.checkpoint, before.checkpoint);
    }

    // When: the first snapshot is put back after the key epoch rotated (as every erasure rotates
    // it), so its shared table is sealed under a key that no longer exists, and the runner starts.
    std::fs::write(&path, &written).expect("put the first snapshot back");
    fixture
        .ledger
        .keys()
        .rotate_epoch(&mut StdRng::seed_from_u64(17))
        .expect("rotate the epoch");

    // Then: it rebuilt the same state, and its next snapshot is sealed under the epoch in force.
    let header = restarted_from_the_log(&fixture, &path, &before).await;
    assert_eq!(header.shared_epoch, fixture.ledger.keys().epoch_number());
}

/// Starts the projections on a snapshot they cannot use, checks that they rebuilt `before` from the
/// log, shuts them down and answers the header of the snapshot written at shutdown.
async fn restarted_from_the_log(
    fixture: &Fixture,
    path: &std::path::Path,
    before: &State,
) -> journey_projections::snapshot::Header {
    let restarted = Projections::start(fixture.ledger.clone(), config(fixture))
        .await
        .expect("a start despite the snapshot");
    restarted.caught_up().await.expect("caught up");
    assert_eq!(&snapshot_of(&restarted), before);
    restarted.shutdown().await.expect("shutdown");
    journey_projections::snapshot::read_header(path)
        .expect("a snapshot of this layout")
        .expect("written at shutdown")
}

/// The kept rows of the past cuts are written into the snapshot as soon as they are built, not
/// only at the next shutdown: a server stopped before it first built them left a snapshot
/// without them, and every later start that applies nothing would otherwise build them again
/// (at a million persons about 90 s of both cores, with past cuts answered from views meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_rows_built_after_a_start_are_written_into_the_snapshot_without_waiting_for_the_shutdown(
) {
    // Given: a snapshot without kept rows (written by projections that keep none, as a shutdown
    // before the kept rows were first built writes it).
    let fixture = open(tempfile::tempdir().expect("tempdir"));
    seed(&fixture, 6, 3).await;
    let mut without = config(&fixture);
    without.kept_rows = false;
    let first = Projections::start(fixture.ledger.clone(), without)
        .await
        .expect("start");
    first.caught_up().await.expect("caught up");
    first.shutdown().await.expect("shutdown");
    let path = config(&fixture)
        .dir
        .join(journey_projections::runner::SNAPSHOT_FILE);
    let sections = journey_projections::snapshot::sections(&path).expect("a snapshot");
    assert_eq!(
        sections.kept_rows, 8,
        "an empty kept rows' frame: none written"
    );

    // When: projections that keep them start from it, catch up and build them.
    let projections = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("start");
    projections.caught_up().await.expect("caught up");
    support::kept_rows_ready(&projections).await;

    // Then: while they keep running, the snapshot file comes to hold the kept rows,
    let held = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            let sections = journey_projections::snapshot::sections(&path).expect("a snapshot");
            if sections.kept_rows > 8 {
                return sections;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the snapshot holds the kept rows while the projections run");
    assert!(held.kept_rows > 8);
    let state = snapshot_of(&projections);

    // and a start from that file as it was written then (as after a crash, which writes no
    // snapshot at shutdown) takes them from it instead of building them.
    let written_while_running = std::fs::read(&path).expect("the snapshot");
    projections.shutdown().await.expect("shutdown");
    std::fs::write(&path, &written_while_running).expect("the file as written while running");
    let restarted = Projections::start(fixture.ledger.clone(), config(&fixture))
        .await
        .expect("restart");
    restarted.caught_up().await.expect("caught up");
    let status = support::kept_rows_ready(&restarted).await;
    assert_eq!(snapshot_of(&restarted), state);
    assert_eq!(
        status.built_in,
        std::time::Duration::ZERO,
        "taken from the file, not built"
    );
    restarted.shutdown().await.expect("shutdown");
}
