//! The steps of the live views ([`crate::kpi::steps`]), built off the query path (issue 11).
//!
//! A query on the live views whose indicator and breakdown have no steps yet is answered by the
//! pass over the persons and queues them; this task, woken by it, builds the steps queued one at a
//! time, each on half the cores from a snapshot of the live views (an `Arc`, so no lock is held for
//! the build: batches are applied and queries answered meanwhile). Before they are served, the
//! steps are brought to the live views as they are then: the persons whose views differ from the
//! snapshot's are taken away and added again (`ViewSet::install_steps`). From then on every
//! refresh of the live views after a batch updates them for the persons it touched.
//!
//! Invariant: no query waits for a build; a query uses steps only at its views' checkpoint.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::query::read;
use crate::runner::Inner;

/// How long the task waits for a wake-up before it looks whether the projections are gone.
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// How often steps built are brought to newer live views before the task gives up on them (the
/// live views moved on each time; a later query asks for them again).
const CATCH_UPS_MAX: usize = 4;

/// The task: builds the steps queries want whenever woken. Ends when the projections are dropped.
pub(crate) async fn keep(inner: Weak<Inner>, wanted: Arc<Notify>) {
    loop {
        // A wake-up before this wait is kept by the `Notify` (a permit), so none is lost.
        let _ = tokio::time::timeout(IDLE_CHECK, wanted.notified()).await;
        if inner.strong_count() == 0 {
            return;
        }
        let weak = inner.clone();
        match tokio::task::spawn_blocking(move || build_wanted(&weak)).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::error!(%error, "steps: a build failed; indicators stay on the pass");
                return;
            }
        }
    }
}

/// The live views as they are now (refreshed to the state), `None` when the projections are gone.
fn live_views(weak: &Weak<Inner>) -> Option<Arc<crate::ViewSet>> {
    let inner = weak.upgrade()?;
    let state = read(&inner.state);
    Some(inner.cache.views(&state, None))
}

/// Builds and serves every steps wanted; `false` when the projections are gone.
fn build_wanted(weak: &Weak<Inner>) -> bool {
    for _ in 0..crate::kpi::STEPS_WANTED_MAX {
        let Some(from) = live_views(weak) else {
            return false;
        };
        let started = std::time::Instant::now();
        let Some(mut built) = from.build_wanted_steps() else {
            return true;
        };
        let built_ms = started.elapsed().as_millis() as u64;
        let mut from = from;
        for _ in 0..CATCH_UPS_MAX {
            let Some(current) = live_views(weak) else {
                return false;
            };
            match current.install_steps(built, &from) {
                Ok(()) => {
                    tracing::debug!(built_ms, "steps of an indicator served");
                    break;
                }
                Err(back) => {
                    built = back;
                    from = current;
                }
            }
        }
    }
    true
}
