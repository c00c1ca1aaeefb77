//! The kept rows of the past cuts ([`crate::kpi::history`]), built and kept up to date off the
//! query path (issue 11).
//!
//! A task of the running projections waits for the catch-up, makes sure the live views exist
//! (the first query needs them anyway), then takes the kept rows from the snapshot when it held
//! them (decoded, then the persons touched since refreshed) or builds them on every core, a run of
//! persons at a time under the state's read lock ([`History::built_in_runs`]): the live loop
//! applies its batches between runs, and a query waits on nothing of the build. The persons the
//! runner marks while the build runs are refreshed before the kept rows are served. After each
//! applied batch it refreshes the kept rows for the persons the batch touched (a short hold of
//! the served rows' write lock); once a quarter of the persons were refreshed it builds them
//! again whole, the same way, while the old ones keep serving until the state moves past them.
//! After a whole build it has a snapshot written with them when the file on disk lacks them
//! (`crate::runner::snapshot_with_kept_rows`), so the next start takes them from the file.
//!
//! A past `known_at` is served from the kept rows only when they are up to date with the
//! state's checkpoint ([`crate::query::QueryCache::kept_cut`]); until they are ready, or while
//! they lag, it is answered from views as before. Both give the same answer. One window is the
//! exception: while the kept rows are being taken from the snapshot after a start (seconds), a
//! past cut waits for them ([`crate::Projections::settle_past_cut`], bounded by its caller), since
//! folding every person's view at the cut takes longer and slows the decode.
//!
//! Invariant: no lock a query takes is held for a whole build: the state's read lock for one
//! run of persons, the served rows' write lock for a refresh of the touched persons or a swap.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use journey_core::log::Position;
use tokio::sync::watch;

use crate::journal::Interner;
use crate::kpi::history::History;
use crate::query::{read, write, KeptHistory};
use crate::runner::Inner;
use crate::snapshot::KeptRowsBytes;

/// The persons built in one run, under one hold of the state's read lock: about 20 ms of
/// folding on a quiet core, so a batch of the live loop waits at most that long.
const PERSONS_PER_RUN: usize = 128;

/// What the kept rows are, as [`crate::Projections::kept_rows`] reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRowsStatus {
    /// Whether a past `known_at` is served from them now: built and up to date with the state.
    pub ready: bool,
    /// The state's checkpoint they are up to date with (`None` with `built: false`, or before
    /// the first event).
    pub checkpoint: Option<Position>,
    /// Whether they were built at all yet.
    pub built: bool,
    /// How long their last whole build took, and when it was served.
    pub built_in: Duration,
    pub served_at: Option<Instant>,
    /// The kept rows and versions, and the heap bytes they hold.
    pub rows: usize,
    pub versions: usize,
    pub heap_bytes: usize,
}

/// What a step of the upkeep found.
enum Step {
    /// The kept rows are up to date (or a build was called off by a rebuild's swap, whose
    /// applied checkpoint starts the next step).
    Done,
    /// The kept rows were built whole and are served, up to date with the state.
    Built,
    /// The projections are gone.
    Stopped,
}

/// Clears [`Inner::kept_from_snapshot`] when dropped, so that past cuts stop waiting for kept
/// rows taken from the snapshot: once they are served, given up (they did not check, or must be
/// built again whole), or the task ended.
struct Taking(Weak<Inner>);

impl Drop for Taking {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.kept_from_snapshot.store(false, Ordering::SeqCst);
        }
    }
}

/// The upkeep task: waits until the projections caught up with the log as it was at their
/// start, then brings the kept rows up to date after every applied batch. Ends when the
/// projections are dropped.
pub(crate) async fn keep(
    inner: Weak<Inner>,
    mut applied: watch::Receiver<Option<Position>>,
    from_snapshot: Option<(KeptRowsBytes, Option<Position>)>,
) {
    let mut taking = from_snapshot.as_ref().map(|_| Taking(inner.clone()));
    let head = {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let log = inner.ledger.log().clone();
        drop(inner);
        match log.last_position().await {
            Ok(head) => head,
            Err(error) => {
                tracing::warn!(%error, "kept rows: the log's head unknown; past cuts stay on views");
                return;
            }
        }
    };
    if let Some(head) = head {
        let caught_up = applied
            .wait_for(|checkpoint| checkpoint.is_some_and(|checkpoint| checkpoint >= head))
            .await;
        if caught_up.is_err() {
            return;
        }
    }
    // The live views first, on every core: the first query needs them and waits for them, and
    // so does a past cut answered from views. So they go before the kept rows' decode (4 s at a
    // million persons) or build.
    let upkeep = inner.clone();
    let viewed = tokio::task::spawn_blocking(move || {
        let Some(inner) = upkeep.upgrade() else {
            return false;
        };
        let state = read(&inner.state);
        inner.cache.views(&state, None);
        true
    });
    if !matches!(viewed.await, Ok(true)) {
        return;
    }
    if let Some((bytes, checkpoint)) = from_snapshot {
        let weak = inner.clone();
        let taken =
            tokio::task::spawn_blocking(move || take_from_snapshot(&weak, bytes, checkpoint));
        match taken.await {
            Ok(true) => {}
            Ok(false) => drop(taking.take()),
            Err(_) => return,
        }
    }
    let mut first_step = true;
    loop {
        // Seen before the step reads the state, not after: a batch applied or a rebuild swapped
        // in while the step runs wakes the next one (marked after it, such a change would be
        // taken as seen and the kept rows would lag, or never be built again after a rebuild,
        // until the next write).
        applied.borrow_and_update();
        let upkeep = inner.clone();
        let first = std::mem::replace(&mut first_step, false);
        let stepped = tokio::task::spawn_blocking(move || step(&upkeep, first)).await;
        // The first step served the kept rows taken from the snapshot, or built them whole.
        drop(taking.take());
        match stepped {
            Ok(Step::Done) => {}
            Ok(Step::Built) => {
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                crate::runner::snapshot_with_kept_rows(inner).await;
            }
            Ok(Step::Stopped) => return,
            Err(error) => {
                tracing::error!(%error, "kept rows: the upkeep failed; past cuts stay on views");
                return;
            }
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}

/// Decodes the kept rows a snapshot held, up to date with its `checkpoint`, and serves them
/// (the persons the catch-up touches are refreshed by the first step). Runs after the catch-up
/// and the live views, off the start. Kept rows that do not check are dropped with a warning and built
/// as after a start without them: never served.
fn take_from_snapshot(
    weak: &Weak<Inner>,
    bytes: KeptRowsBytes,
    checkpoint: Option<Position>,
) -> bool {
    let Some(inner) = weak.upgrade() else {
        return false;
    };
    let generation = inner.cache.generation.load(Ordering::SeqCst);
    drop(inner);
    let started = Instant::now();
    let history = match bytes.decode() {
        Ok(history) => history,
        Err(message) => {
            tracing::warn!(
                %message,
                "the snapshot's kept rows of the past cuts do not check; built again instead"
            );
            return false;
        }
    };
    let Some(inner) = weak.upgrade() else {
        return false;
    };
    let mut kept = write(&inner.cache.kept);
    // A rebuild's swap since the start replaced the state the kept rows were written with.
    if inner.cache.generation.load(Ordering::SeqCst) == generation && kept.is_none() {
        *kept = Some(KeptHistory {
            history,
            checkpoint,
            built_in: Duration::ZERO,
            served_at: Instant::now(),
        });
        tracing::info!(
            decoded_ms = started.elapsed().as_millis() as u64,
            "kept rows of the past cuts taken from the snapshot"
        );
        true
    } else {
        false
    }
}

/// Brings the kept rows up to date with the state: refreshes them for the persons marked since,
/// or builds them (again) when there are none or they are worn. The task's `first` step logs
/// that kept rows taken from the snapshot are ready.
fn step(weak: &Weak<Inner>, first: bool) -> Step {
    let generation = {
        let Some(inner) = weak.upgrade() else {
            return Step::Stopped;
        };
        let state = read(&inner.state);
        let dirty = std::mem::take(&mut *crate::runner::lock(&inner.cache.history_dirty));
        let mut kept = write(&inner.cache.kept);
        if let Some(kept) = kept.as_mut() {
            kept.history
                .refresh_persons(&state.store, &state.journals, &dirty);
            kept.checkpoint = state.checkpoint;
            // An erased person's rows from before their erasure stay in the shards until the
            // next whole build, and no snapshot is written with kept rows while they do
            // (`runner::with_kept_rows`): so an erasure builds them again.
            let erased_kept = dirty.iter().any(|person| {
                state
                    .journals
                    .get(person)
                    .is_some_and(|journal| journal.erased)
                    && kept.history.holds_rows_of(*person)
            });
            if !erased_kept && !kept.history.is_worn(state.journals.len()) {
                if first {
                    kept.served_at = Instant::now();
                    tracing::info!(
                        persons = dirty.len(),
                        "kept rows of the past cuts ready (from the snapshot, the persons touched \
                         since refreshed)"
                    );
                }
                return Step::Done;
            }
        }
        let generation = inner.cache.generation.load(Ordering::SeqCst);
        drop(kept);
        // Built whole from here on (a minute at a million persons): past cuts take the views'
        // path meanwhile instead of waiting.
        inner.kept_from_snapshot.store(false, Ordering::SeqCst);
        generation
    };
    let started = Instant::now();
    let built = History::built_in_runs::<Interner>(
        |work| {
            let Some(inner) = weak.upgrade() else {
                return false;
            };
            if inner.cache.generation.load(Ordering::SeqCst) != generation {
                return false;
            }
            let state = read(&inner.state);
            work(&state.store, &state.journals);
            true
        },
        PERSONS_PER_RUN,
    );
    let Some(inner) = weak.upgrade() else {
        return Step::Stopped;
    };
    let Some(mut history) = built else {
        return Step::Done;
    };
    let built_in = started.elapsed();
    let state = read(&inner.state);
    let dirty = std::mem::take(&mut *crate::runner::lock(&inner.cache.history_dirty));
    history.refresh_persons(&state.store, &state.journals, &dirty);
    let mut kept = write(&inner.cache.kept);
    if inner.cache.generation.load(Ordering::SeqCst) != generation {
        return Step::Done;
    }
    *kept = Some(KeptHistory {
        history,
        checkpoint: state.checkpoint,
        built_in,
        served_at: Instant::now(),
    });
    tracing::info!(
        persons = state.journals.len(),
        built_ms = built_in.as_millis() as u64,
        "kept rows of the past cuts ready"
    );
    Step::Built
}

/// The status of the kept rows of `inner`.
pub(crate) fn status(inner: &Arc<Inner>) -> KeptRowsStatus {
    let checkpoint = read(&inner.state).checkpoint;
    let kept = read(&inner.cache.kept);
    match kept.as_ref() {
        Some(kept) => KeptRowsStatus {
            ready: kept.checkpoint == checkpoint,
            checkpoint: kept.checkpoint,
            built: true,
            built_in: kept.built_in,
            served_at: Some(kept.served_at),
            rows: kept.history.rows(),
            versions: kept.history.versions(),
            heap_bytes: kept
                .history
                .heap_bytes_by_part()
                .iter()
                .map(|(_, bytes)| bytes)
                .sum(),
        },
        None => KeptRowsStatus {
            ready: false,
            checkpoint: None,
            built: false,
            built_in: Duration::ZERO,
            served_at: None,
            rows: 0,
            versions: 0,
            heap_bytes: 0,
        },
    }
}
