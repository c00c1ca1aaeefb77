//! The projection runner: keeps the journals (one per person) up to date by subscribing to the log.
//!
//! On start it loads the latest snapshot of its version (state and checkpoint together, see
//! [`crate::snapshot`]), catches up from the position after the checkpoint, then follows the log
//! live. Events are applied in batches under a write lock, and the checkpoint moves with each batch,
//! so readers always see a state that corresponds to exactly one log position.
//!
//! A rebuild ([`Projections::rebuild`]) builds a fresh state from position 0 beside the live one,
//! which keeps serving; it writes resumable progress snapshots, and at the end catches up to the live
//! state's checkpoint under the write lock and swaps. A snapshot of another version is never loaded:
//! the state is then rebuilt from position 0 (resuming an interrupted rebuild when one was saved).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use journey_core::catalogue::{Event, EventType};
use journey_core::envelope::PersonId;
use journey_core::ledger::{DecodedEvent, Ledger, LedgerError};
use journey_core::log::{self, AllFrom, Direction, LogError, Position, APPEND_EVENTS_MAX};
use tokio::sync::{watch, Notify};

use chrono::{DateTime, Utc};

use crate::decode::{DecodeAhead, LogPages};
use crate::journal::{
    ActorSymbol, EventSymbol, Fact, FactError, Inline, Interner, Journal, Journals, Stamp, Store,
};
use crate::kpi::{Dimension, KpiError, KpiQuery, KpiResult, Suppression};
use crate::offers::{self, Offers};
use crate::query::{read, QueryCache, ViewSet};
use crate::registers;
use crate::snapshot::{self, SnapshotError};
use crate::volunteers::{self, Volunteers};
use journey_core::registers::Registers;

/// The version of the projections' state. Bump it when what the journals hold changes; the state is
/// then rebuilt from position 0.
pub const PROJECTION_VERSION: u32 = 1;

/// How far [`ProjectionStatus::lag_events`] counts: positions are not dense, so the lag is counted by
/// reading the log, one page at most.
pub const LAG_COUNTED_MAX: usize = 4096;

/// The snapshot file in the projections directory (a backup copies it).
pub const SNAPSHOT_FILE: &str = "journals.snapshot";
const REBUILD_FILE: &str = "journals.rebuild.snapshot";

/// Settings of the runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Where snapshots are kept (`<data-dir>/projections`).
    pub dir: PathBuf,
    /// A snapshot is written after this many applied events, or as many as the state held at the
    /// last snapshot when that is more ([`SnapshotSpacing`])…
    pub snapshot_every_events: u64,
    /// …or after this long with changes, whichever comes first (the live loop only).
    pub snapshot_interval: Duration,
    /// The most events applied under one write lock.
    pub apply_batch_events_max: usize,
    /// Events read per page by a rebuild.
    pub rebuild_page_events: usize,
    /// Whether snapshots are loaded and written at all. A read replica (`journey serve
    /// --replica-of`) keeps none: it holds its writer's events in memory only and builds its
    /// projections from them at every start (docs/adr/0005).
    pub snapshots: bool,
    /// Whether the kept rows of the past cuts are built and kept up to date in the background
    /// ([`crate::kept_rows`], about 2 KB a person): without them a past `known_at` is answered
    /// from views, the same answers, slower.
    pub kept_rows: bool,
}

impl RunnerConfig {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            snapshot_every_events: 250_000,
            snapshot_interval: Duration::from_secs(300),
            apply_batch_events_max: 4096,
            rebuild_page_events: 4096,
            snapshots: true,
            kept_rows: true,
        }
    }
}

/// When the runner writes its next snapshot. Each snapshot costs time in proportion to the whole
/// state, so a catch-up or rebuild that wrote one every `every_events` would spend time quadratic in
/// the log's length on snapshots (13 of them for 3.3 million events). Instead the next one is due when
/// the events since the last reach the larger of `every_events` and the events the state held at the
/// last one: the gaps double as the state grows, and all snapshots of a catch-up together cost at
/// most twice the last one, whatever the log's length. The time trigger (`interval`, when given)
/// writes a quiet server's changes after a while however few they are.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotSpacing {
    every_events: u64,
    interval: Option<Duration>,
    /// Events in the state at the last snapshot (or at the start).
    at_last_events: u64,
    since_last_events: u64,
    last: Instant,
}

impl SnapshotSpacing {
    /// The spacing for a state that holds `applied_events` as of its last snapshot, taken at `now`.
    pub fn new(
        every_events: u64,
        interval: Option<Duration>,
        applied_events: u64,
        now: Instant,
    ) -> Self {
        Self {
            every_events,
            interval,
            at_last_events: applied_events,
            since_last_events: 0,
            last: now,
        }
    }

    /// Counts `events` more applied to the state.
    pub fn applied(&mut self, events: u64) {
        self.since_last_events += events;
    }

    /// Whether a snapshot is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        let by_events = self.since_last_events >= self.every_events.max(self.at_last_events);
        let by_time = self.since_last_events > 0
            && self
                .interval
                .is_some_and(|interval| now.saturating_duration_since(self.last) >= interval);
        by_events || by_time
    }

    /// Records that a snapshot of everything applied so far was written at `now`.
    pub fn written(&mut self, now: Instant) {
        self.at_last_events += self.since_last_events;
        self.since_last_events = 0;
        self.last = now;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("the projection runner stopped: {0}")]
    Stopped(String),
    /// An explicit `known_at` later than the ledger's now: events may still be recorded up to it,
    /// so an answer at that cut could not be reproduced.
    #[error(
        "knownAt {known_at} is later than the ledger's now ({now}): events may still be recorded \
         up to it, so the answer would not be reproducible; ask with a past knownAt, or without \
         one for the latest answer"
    )]
    KnownAtInFuture {
        known_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// An explicit `known_at` the projections have not reached: they lag the log and did not catch
    /// up within the wait allowed. Answering anyway would give (and cache) a partial cut.
    #[error(
        "the projections are {lag_events} event(s) behind the log and cover only what was recorded \
         through {}, not knownAt {known_at}; they did not catch up within {} ms: retry later, or ask \
         with a knownAt they cover",
        applied_through.map_or_else(|| "nothing".to_owned(), |time| time.to_rfc3339()),
        waited.as_millis()
    )]
    Behind {
        known_at: DateTime<Utc>,
        /// The latest transaction time of the applied facts ([`State::recorded_through`]).
        applied_through: Option<DateTime<Utc>>,
        /// Events in the log not applied yet, when the wait ended.
        lag_events: u64,
        waited: Duration,
    },
    /// The runner was handed an event that does not come after its checkpoint: an event applied
    /// twice or out of order. Either would make the state disagree with the log it claims to follow,
    /// so the event is refused and the runner stops rather than serve such a state. (Positions are
    /// not dense, so a gap is the log's to detect: `journey verify`.)
    #[error(
        "the projections have applied through position {} but were given position {found}; \
         the log repeats an event or returned it out of order: run `journey verify`, then \
         `journey projections rebuild`",
        checkpoint.map_or_else(|| "none".to_owned(), |checkpoint| checkpoint.to_string())
    )]
    PositionOutOfOrder {
        checkpoint: Option<Position>,
        found: Position,
    },
    /// A person's event whose revision or transaction time a journal's fact cannot hold (see
    /// [`Fact::new`]). The ledger records neither; the event is refused and changes nothing.
    #[error(
        "the event at position {position} cannot be held by the projections: {source}; \
         check the log with `journey verify`"
    )]
    Unholdable {
        position: Position,
        #[source]
        source: FactError,
    },
}

/// The projections' state at one log position. `S` is where the journals keep their events and
/// actors: the runner's state interns them (the default, [`Interner`]); a state built from
/// hand-made journals ([`State::from_journals`]) keeps them inline. Both are folded by the same
/// code (see [`crate::journal`]).
#[derive(Debug, Clone)]
pub struct State<S: Store = Interner> {
    pub journals: Journals<S::Event, S::Actor>,
    /// The events and actors the journals' facts name.
    pub store: S,
    /// The registers (districts and their areas, providers) as of the checkpoint.
    pub registers: Arc<Registers>,
    /// The offers' events as of the checkpoint (`crate::offers`).
    pub offers: Arc<Offers>,
    /// The volunteer register's events as of the checkpoint (`crate::volunteers`).
    pub volunteers: Arc<Volunteers>,
    /// The last applied position; `None` before the first event.
    pub checkpoint: Option<Position>,
    /// The latest transaction time of the events applied (`None`: none yet). The live views use
    /// every applied fact, so they are exactly the cut at this time: it is the `known_at` a live
    /// answer reports, and asking with it again gives the same answer, because the ledger records
    /// later events at later times and the live loop applies any event in the log recorded no later
    /// than this together with the batch that set it. It does not go back when an erasure drops
    /// facts.
    pub recorded_through: Option<DateTime<Utc>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            journals: Journals::new(),
            store: Interner::default(),
            registers: Arc::default(),
            offers: Arc::default(),
            volunteers: Arc::default(),
            checkpoint: None,
            recorded_through: None,
        }
    }
}

/// Equal when the journals hold the same facts with the same events and actors, whatever symbols
/// the stores gave them: a state loaded from a snapshot numbers its symbols in person order, one
/// folded from the log in log order.
impl<S: Store + PartialEq> PartialEq for State<S> {
    fn eq(&self, other: &Self) -> bool {
        let same_journal = |mine: &Journal<S::Event, S::Actor>,
                            theirs: &Journal<S::Event, S::Actor>| {
            mine.erased == theirs.erased
                && mine.facts.len() == theirs.facts.len()
                && mine.facts.iter().zip(&theirs.facts).all(|(a, b)| {
                    a.position == b.position
                        && a.revision == b.revision
                        && a.id == b.id
                        && a.occurred_on == b.occurred_on
                        && a.recorded_at == b.recorded_at
                        && self.store.actor(&a.actor) == other.store.actor(&b.actor)
                        && self.store.event(&a.event) == other.store.event(&b.event)
                })
        };
        self.checkpoint == other.checkpoint
            && self.recorded_through == other.recorded_through
            && self.registers == other.registers
            && self.offers == other.offers
            && self.volunteers == other.volunteers
            && self.store == other.store
            && self.journals.len() == other.journals.len()
            && self
                .journals
                .iter()
                .zip(&other.journals)
                .all(|((p, a), (q, b))| p == q && same_journal(a, b))
    }
}

impl<S: Store + Eq> Eq for State<S> {}

impl State<Inline> {
    /// The state holding `journals` at `checkpoint`, with their events kept inline (hand-made
    /// journals, as the tests and reference folds build them). See [`State::interned`] for the
    /// rest.
    pub fn from_journals(
        journals: Journals,
        checkpoint: Option<Position>,
        checkpoint_recorded_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self::holding(journals, Inline, checkpoint, checkpoint_recorded_at)
    }
}

impl<S: Store> State<S> {
    /// The state holding `journals`, whose events and actors `store` holds, at `checkpoint`, with
    /// no registers, offers or volunteers yet; the latest time applied is the later of the
    /// journals' latest fact and the checkpoint's event (`checkpoint_recorded_at`).
    fn holding(
        journals: Journals<S::Event, S::Actor>,
        store: S,
        checkpoint: Option<Position>,
        checkpoint_recorded_at: Option<DateTime<Utc>>,
    ) -> Self {
        let recorded_through = latest_recorded_at(&journals).max(checkpoint_recorded_at);
        Self {
            journals,
            store,
            registers: Arc::default(),
            offers: Arc::default(),
            volunteers: Arc::default(),
            checkpoint,
            recorded_through,
        }
    }
}

impl State {
    /// The state holding the interned `journals`, whose events and actors `store` holds, at
    /// `checkpoint` (a loaded snapshot), whose event at the checkpoint was recorded at
    /// `checkpoint_recorded_at`. The journals no longer hold the facts of erased persons, so the
    /// latest time applied is taken as the later of their latest fact and the checkpoint's event;
    /// when times only go forward that is the last event's, as it was before the snapshot.
    pub fn from_interned(
        journals: Journals<EventSymbol, ActorSymbol>,
        store: Interner,
        checkpoint: Option<Position>,
        checkpoint_recorded_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self::holding(journals, store, checkpoint, checkpoint_recorded_at)
    }

    /// [`State::from_interned`] for journals with their events inline, every event and actor
    /// interned here (hand-made journals, as the tests build them).
    pub fn interned(
        journals: Journals,
        checkpoint: Option<Position>,
        checkpoint_recorded_at: Option<DateTime<Utc>>,
    ) -> Self {
        let mut store = Interner::default();
        let journals = journals
            .into_iter()
            .map(|(person, journal)| {
                // A list of its own size: `collect` from the inline facts' `IntoIter` would reuse
                // their allocation, several times larger than the interned facts need, and keep it.
                let mut facts = Vec::with_capacity(journal.facts.len());
                facts.extend(
                    journal
                        .facts
                        .into_iter()
                        .map(|fact| store.intern_fact(fact)),
                );
                let journal = Journal {
                    facts,
                    erased: journal.erased,
                };
                (person, journal)
            })
            .collect();
        Self::from_interned(journals, store, checkpoint, checkpoint_recorded_at)
    }
}

impl<S: Store> State<S> {
    /// How many persons were erased by the checkpoint. Erasure takes a person out of every cut,
    /// past ones included, so answers for an earlier `known_at` lack them from then on; every
    /// indicator answer reports this count so that such a change can be told apart from a
    /// correction.
    pub fn erased_persons(&self) -> u64 {
        self.journals
            .values()
            .filter(|journal| journal.erased)
            .count() as u64
    }

    /// How many facts the journals hold: about one per event applied, so the measure of the
    /// state's size that snapshot spacing starts from.
    pub fn fact_count(&self) -> u64 {
        self.journals
            .values()
            .map(|journal| journal.facts.len() as u64)
            .sum()
    }

    /// True when the event at `position` is applied (the checkpoint is at or beyond it).
    pub fn has_applied(&self, position: Position) -> bool {
        self.checkpoint
            .is_some_and(|checkpoint| checkpoint >= position)
    }
}

impl State {
    /// Applies one decoded event at its position. Positions must come in order, each exactly once;
    /// any other event is refused with [`ProjectionError::PositionOutOfOrder`] and changes nothing.
    /// The check holds in release builds too: it is what makes "the state of exactly one position"
    /// true.
    pub fn apply(&mut self, decoded: &DecodedEvent) -> Result<(), ProjectionError> {
        self.apply_parts(decoded, decoded.event.as_ref().map(Cow::Borrowed))
    }

    /// [`State::apply`] taking the decoded event, so that its event moves into the journal instead
    /// of being copied (the rebuild and the live loop decode each event for this alone).
    pub fn apply_owned(&mut self, mut decoded: DecodedEvent) -> Result<(), ProjectionError> {
        let event = decoded.event.take();
        self.apply_parts(&decoded, event.map(Cow::Owned))
    }

    /// Applies the event `event` of `decoded` (the registers and offers read only its `data`).
    fn apply_parts(
        &mut self,
        decoded: &DecodedEvent,
        event: Option<Cow<'_, Event>>,
    ) -> Result<(), ProjectionError> {
        let position = decoded.recorded.position;
        if self.has_applied(position) {
            return Err(ProjectionError::PositionOutOfOrder {
                checkpoint: self.checkpoint,
                found: position,
            });
        }
        let recorded_at = decoded.recorded.event.recorded_at;
        // A person's event that a fact cannot hold is refused before anything changes.
        let stamp = if PersonId::from_stream_name(&decoded.recorded.stream).is_ok() {
            let stamp = Stamp::new(decoded.recorded.revision, recorded_at)
                .map_err(|source| ProjectionError::Unholdable { position, source })?;
            Some(stamp)
        } else {
            None
        };
        self.checkpoint = Some(position);
        self.recorded_through = Some(
            self.recorded_through
                .map_or(recorded_at, |through| through.max(recorded_at)),
        );
        if registers::apply(&mut self.registers, decoded)
            || offers::apply(&mut self.offers, decoded)
            || volunteers::apply(&mut self.volunteers, decoded)
        {
            return Ok(());
        }
        let Ok(person) = PersonId::from_stream_name(&decoded.recorded.stream) else {
            // Streams that are not person streams (for example written by EventStoreDB clients) feed
            // no read model.
            return Ok(());
        };
        let journal = self.journals.entry(person).or_default();
        if journal.erased {
            return Ok(());
        }
        let Some(event) = event else {
            // A sealed event whose key is gone: the person was erased and the erasure follows.
            return Ok(());
        };
        if event.event_type() == EventType::PersonalDataErased {
            // The interner drops every event no other fact holds, so nothing of the person stays.
            for fact in std::mem::take(&mut journal.facts) {
                self.store.release(&fact);
            }
            journal.erased = true;
            return Ok(());
        }
        let Some(stamp) = stamp else {
            // Not reached: every person stream's event was stamped above.
            return Ok(());
        };
        reserve_one(&mut journal.facts);
        journal.facts.push(Fact::stamped(
            position,
            stamp,
            decoded.recorded.event.id,
            decoded.recorded.event.occurred_on,
            self.store.intern_actor(&decoded.actor),
            self.store.intern_event(event.into_owned()),
        ));
        Ok(())
    }
}

impl<S: Store> State<S> {
    /// Gives back the room the journals of `persons` hold beyond their facts. Called at the end of
    /// every applied batch with the persons it touched: while a batch is applied a journal grows by
    /// a quarter at a time ([`reserve_one`]), which keeps a catch-up's copying bounded, and the
    /// room it did not fill (about 200 bytes a person after a catch-up) would otherwise stay with
    /// every journal until the person's next event. One reallocation per person and batch.
    pub fn fit_journals<'a>(&mut self, persons: impl IntoIterator<Item = &'a PersonId>) {
        for person in persons {
            if let Some(journal) = self.journals.get_mut(person) {
                journal.facts.shrink_to_fit();
            }
        }
    }
}

/// The persons whose journals the events of `page` go to, once per run of their events (a
/// person's events mostly come together), for [`State::fit_journals`].
fn persons_of(page: &[DecodedEvent]) -> Vec<PersonId> {
    let mut persons: Vec<PersonId> = Vec::new();
    for decoded in page {
        if let Ok(person) = PersonId::from_stream_name(&decoded.recorded.stream) {
            if persons.last() != Some(&person) {
                persons.push(person);
            }
        }
    }
    persons
}

/// Makes room for one more fact, growing by a quarter rather than doubling: a journal grows one
/// event at a time to a few dozen facts, and doubling leaves a third of its capacity unused on
/// average, which across every person is a large share of the projections' memory. Growing by a
/// quarter keeps the copying amortised (each fact is moved a bounded number of times).
fn reserve_one(facts: &mut Vec<Fact<EventSymbol, ActorSymbol>>) {
    if facts.len() == facts.capacity() {
        facts.reserve_exact((facts.len() / 4).max(4));
    }
}

/// An indicator request: like [`KpiQuery`], with `known_at` optional (`None`: now).
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRequest {
    pub key: String,
    pub as_of: chrono::NaiveDate,
    pub known_at: Option<DateTime<Utc>>,
    pub by: Vec<Dimension>,
    pub suppression: Option<Suppression>,
}

/// Progress of a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// The last position the fresh state applied.
    pub checkpoint: Option<Position>,
    /// The log's last position when the page was read.
    pub head: Option<Position>,
    /// Events the rebuild applied so far (this run).
    pub applied: u64,
}

/// What the runner reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub version: u32,
    /// The last applied position.
    pub checkpoint: Option<Position>,
    /// The log's last position (`None`: the log is empty).
    pub head: Option<Position>,
    /// Events in the log not yet applied, counted up to [`LAG_COUNTED_MAX`].
    pub lag_events: u64,
    pub rebuild: Option<RebuildProgress>,
    /// Why the runner stopped, if it did.
    pub failure: Option<String>,
    /// Whether the kept rows serve a past `known_at` now ([`crate::kept_rows`]): until they are
    /// built, or while they lag, past cuts are answered from views (the same answers, slower).
    pub kept_rows_ready: bool,
}

pub(crate) struct Inner {
    pub(crate) ledger: Arc<Ledger>,
    config: RunnerConfig,
    pub(crate) state: RwLock<State>,
    applied: watch::Sender<Option<Position>>,
    rebuild: Mutex<Option<RebuildProgress>>,
    failure: Mutex<Option<String>>,
    stop: Notify,
    /// Serializes snapshot writing.
    snapshot_lock: tokio::sync::Mutex<()>,
    /// The state in the snapshot file as this runner loaded or last wrote it: its generation and
    /// checkpoint, and whether the file holds the kept rows of the past cuts (`None`: not known).
    /// A snapshot of the same generation and checkpoint would write the same state again: at a
    /// million persons a minute or more of a shutdown for nothing; it is written again only to
    /// add the kept rows, once they are up to date with that checkpoint.
    on_disk: Mutex<Option<(u64, Option<Position>, bool)>>,
    /// Set by [`Projections::shutdown`] before its final snapshot: from then on only that one is
    /// written (the kept rows' task writes none after it, [`snapshot_with_kept_rows`]).
    stopping: std::sync::atomic::AtomicBool,
    /// Counts the states swapped in by rebuilds (changed under the state's write lock), so that a
    /// rebuilt state is written even at the checkpoint of the snapshot before it.
    generation: std::sync::atomic::AtomicU64,
    /// Held by the live loop while it applies a batch, and by a rebuild while it swaps.
    pause: tokio::sync::Mutex<()>,
    /// Whether the kept rows are being taken from the snapshot: set at a start whose snapshot held
    /// them, cleared once they are served or given up (`crate::kept_rows`). A past cut waits for
    /// them meanwhile ([`Projections::settle_past_cut`]).
    pub(crate) kept_from_snapshot: std::sync::atomic::AtomicBool,
    pub(crate) cache: QueryCache,
}

/// The running projections. Cheap to clone.
#[derive(Clone)]
pub struct Projections {
    inner: Arc<Inner>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Projections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projections")
            .field("dir", &self.inner.config.dir)
            .finish()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Projections {
    /// Loads the latest snapshot of this version (if any) and starts following the log.
    pub async fn start(ledger: Arc<Ledger>, config: RunnerConfig) -> Result<Self, ProjectionError> {
        let keys = ledger.keys().clone();
        let path = config.dir.join(SNAPSHOT_FILE);
        if !config.snapshots {
            return Ok(Self::follow_from(ledger, config, State::default(), None));
        }
        for file in [SNAPSHOT_FILE, REBUILD_FILE] {
            if snapshot::discard_unfinished(&config.dir.join(file))? {
                tracing::warn!(
                    file,
                    "deleted a snapshot that a crash cut off before its rename"
                );
            }
        }
        // What the state needs from the log up to the snapshot's checkpoint is read while the
        // snapshot loads (the load keeps the cores busy decoding; the reads wait on the store):
        // the checkpoint comes from the file's header, read first, and the load checks it is
        // the one it loaded.
        let header = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || snapshot::read_header(&path))
                .await
                .map_err(|error| ProjectionError::Stopped(error.to_string()))?
        };
        let header_checkpoint = match &header {
            Ok(Some(header)) if header.version == PROJECTION_VERSION => Some(header.checkpoint),
            _ => None,
        };
        let loading = {
            let path = path.clone();
            let keys = keys.clone();
            tokio::task::spawn_blocking(move || match header? {
                Some(header) if header.version == PROJECTION_VERSION => {
                    snapshot::load(&path, &keys)
                }
                Some(header) => {
                    tracing::warn!(
                        found = header.version,
                        expected = PROJECTION_VERSION,
                        "projection snapshot of another version: rebuilding from position 0"
                    );
                    Ok(None)
                }
                None => Ok(None),
            })
        };
        let reading = async {
            match header_checkpoint {
                Some(checkpoint) => Some(FromTheLog::up_to(&ledger, checkpoint).await),
                None => None,
            }
        };
        let (loaded, from_the_log) = tokio::join!(loading, reading);
        let loaded = loaded
            .map_err(|error| ProjectionError::Stopped(error.to_string()))?
            .or_else(usable_or_rebuild)?;
        let (state, on_disk, kept_rows) = match loaded {
            Some(mut loaded) => {
                let kept_rows = loaded.kept_rows.take();
                let state = loaded_state(&ledger, loaded, from_the_log).await?;
                let on_disk = (state.checkpoint, kept_rows.is_some());
                (state, Some(on_disk), kept_rows)
            }
            None => match snapshot::load(&config.dir.join(REBUILD_FILE), &keys) {
                // An interrupted rebuild of this version: resume it rather than start over.
                Ok(Some(loaded)) if loaded.header.version == PROJECTION_VERSION => {
                    (loaded_state(&ledger, loaded, None).await?, None, None)
                }
                _ => (State::default(), None, None),
            },
        };
        let projections = Self::follow_from(ledger, config, state, kept_rows);
        *lock(&projections.inner.on_disk) =
            on_disk.map(|(checkpoint, kept_rows)| (0, checkpoint, kept_rows));
        Ok(projections)
    }

    /// Starts following the log from `state`, with the kept rows of the past cuts up to date
    /// with it when its snapshot held them (served once the persons touched since are refreshed,
    /// `crate::kept_rows`).
    fn follow_from(
        ledger: Arc<Ledger>,
        config: RunnerConfig,
        state: State,
        kept_rows: Option<snapshot::KeptRowsBytes>,
    ) -> Self {
        let from_snapshot = kept_rows.map(|bytes| (bytes, state.checkpoint));
        let taking_kept_rows = config.kept_rows && from_snapshot.is_some();
        let (applied, _) = watch::channel(state.checkpoint);
        let inner = Arc::new(Inner {
            ledger,
            config,
            state: RwLock::new(state),
            applied,
            rebuild: Mutex::new(None),
            failure: Mutex::new(None),
            stop: Notify::new(),
            snapshot_lock: tokio::sync::Mutex::new(()),
            on_disk: Mutex::new(None),
            stopping: std::sync::atomic::AtomicBool::new(false),
            generation: std::sync::atomic::AtomicU64::new(0),
            pause: tokio::sync::Mutex::new(()),
            kept_from_snapshot: std::sync::atomic::AtomicBool::new(taking_kept_rows),
            cache: QueryCache::default(),
        });
        let task = tokio::spawn(follow(inner.clone()));
        // The kept rows of the past cuts, built and refreshed beside the live loop; the task
        // ends with the projections.
        if inner.config.kept_rows {
            tokio::spawn(crate::kept_rows::keep(
                Arc::downgrade(&inner),
                inner.applied.subscribe(),
                from_snapshot,
            ));
        }
        // The steps of the indicators read off running sums over days, built when a query on
        // the live views wants them; the task ends with the projections.
        tokio::spawn(crate::kept_steps::keep(
            Arc::downgrade(&inner),
            inner.cache.steps_wanted.clone(),
        ));
        Self {
            inner,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Reads the current state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let state = self
            .inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&state)
    }

    pub async fn status(&self) -> Result<ProjectionStatus, ProjectionError> {
        let log = self.inner.ledger.log();
        let head = log.last_position().await?;
        let checkpoint = self.read(|state| state.checkpoint);
        Ok(ProjectionStatus {
            version: PROJECTION_VERSION,
            checkpoint,
            head,
            lag_events: log::events_after(log.as_ref(), checkpoint, LAG_COUNTED_MAX).await?,
            rebuild: *lock(&self.inner.rebuild),
            failure: lock(&self.inner.failure).clone(),
            kept_rows_ready: self.kept_rows().ready,
        })
    }

    /// Waits until the event at `position` is applied (read-your-writes for a caller that has just
    /// appended up to `position`).
    pub async fn wait_for(&self, position: Position) -> Result<(), ProjectionError> {
        let mut applied = self.inner.applied.subscribe();
        loop {
            if applied
                .borrow_and_update()
                .is_some_and(|checkpoint| checkpoint >= position)
            {
                return Ok(());
            }
            if let Some(failure) = lock(&self.inner.failure).clone() {
                return Err(ProjectionError::Stopped(failure));
            }
            if applied.changed().await.is_err() {
                return Err(ProjectionError::Stopped("the runner is gone".into()));
            }
        }
    }

    /// Makes sure a question at the cut `known_at` can be answered from the state: waits (at most
    /// `wait_max`) until the projections have applied every event recorded by `known_at`, so the
    /// answer is the whole cut and not the part applied so far (which would also be cached).
    ///
    /// Applied is every event recorded by `known_at` when the state holds a fact recorded after it,
    /// or when the projections have applied the log up to its head as read here: the ledger gives
    /// every later event a later time. A `known_at` later than the ledger's now is refused
    /// ([`ProjectionError::KnownAtInFuture`]), as is one not reached in time
    /// ([`ProjectionError::Behind`], with the lag).
    pub async fn reach(
        &self,
        known_at: DateTime<Utc>,
        wait_max: Duration,
    ) -> Result<(), ProjectionError> {
        let now = self.inner.ledger.clock().now();
        if known_at > now {
            return Err(ProjectionError::KnownAtInFuture { known_at, now });
        }
        let covered = |state: &State| {
            state
                .recorded_through
                .is_some_and(|through| through > known_at)
        };
        if self.read(covered) {
            return Ok(());
        }
        let log = self.inner.ledger.log();
        let Some(head) = log.last_position().await? else {
            return Ok(());
        };
        let waited = Instant::now();
        if tokio::time::timeout(wait_max, self.wait_for(head))
            .await
            .is_ok_and(|reached| reached.is_ok())
            || self.read(|state| state.has_applied(head))
        {
            return Ok(());
        }
        // A failed runner reports its failure rather than a lag that will never shrink.
        if let Some(failure) = lock(&self.inner.failure).clone() {
            return Err(ProjectionError::Stopped(failure));
        }
        let (applied_through, checkpoint) =
            self.read(|state| (state.recorded_through, state.checkpoint));
        Err(ProjectionError::Behind {
            known_at,
            applied_through,
            lag_events: log::events_after(log.as_ref(), checkpoint, LAG_COUNTED_MAX).await?,
            waited: waited.elapsed(),
        })
    }

    /// Waits until the projections have applied everything the log held when called.
    pub async fn caught_up(&self) -> Result<(), ProjectionError> {
        match self.inner.ledger.log().last_position().await? {
            Some(head) => self.wait_for(head).await,
            None => Ok(()),
        }
    }

    /// Holds the live loop before it applies its next batch until the guard is dropped (readers
    /// keep reading the state as it was). For tests that need the projections to lag the log.
    pub async fn pause(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.pause.lock().await
    }

    /// Subscribes to the checkpoint: it changes whenever a batch of events was applied.
    pub fn changes(&self) -> watch::Receiver<Option<Position>> {
        self.inner.applied.subscribe()
    }

    /// Writes a snapshot of the current state now.
    pub async fn snapshot(&self) -> Result<(), ProjectionError> {
        write_snapshot(self.inner.clone(), SNAPSHOT_FILE, Writer::Runner).await
    }

    /// Builds a fresh state from position 0 beside the live one and swaps it in. `progress` is called
    /// after every page. Resumes an interrupted rebuild of this version.
    pub async fn rebuild(
        &self,
        progress: impl Fn(RebuildProgress) + Send,
    ) -> Result<(), ProjectionError> {
        let inner = &self.inner;
        let log = inner.ledger.log().clone();
        let keys = inner.ledger.keys().clone();
        let rebuild_path = inner.config.dir.join(REBUILD_FILE);
        let mut fresh = match snapshot::load(&rebuild_path, &keys) {
            Ok(Some(loaded)) if loaded.header.version == PROJECTION_VERSION => {
                loaded_state(&inner.ledger, loaded, None).await?
            }
            _ => State::default(),
        };
        // A resumed rebuild starts from a state of its snapshot's size (facts are about events).
        let resumed_events = fresh.fact_count();
        // Progress snapshots only by events: a rebuild is not the live state a time trigger keeps fresh.
        let mut spacing = SnapshotSpacing::new(
            inner.config.snapshot_every_events,
            None,
            resumed_events,
            Instant::now(),
        );
        let mut applied = 0u64;
        // Read, decoded and applied at once: the pages are read and decoded ahead of the one
        // applied (`crate::decode`).
        let mut pages = LogPages::after(
            inner.ledger.clone(),
            fresh.checkpoint,
            inner.config.rebuild_page_events,
        );
        while let Some(page) = pages.next().await {
            let page = page?;
            let head = log.last_position().await?;
            let touched = persons_of(&page);
            for decoded in page {
                fresh.apply_owned(decoded)?;
                spacing.applied(1);
                applied += 1;
            }
            fresh.fit_journals(&touched);
            let update = RebuildProgress {
                checkpoint: fresh.checkpoint,
                head,
                applied,
            };
            *lock(&inner.rebuild) = Some(update);
            progress(update);
            if inner.config.snapshots && spacing.due(Instant::now()) {
                spacing.written(Instant::now());
                // Serialized off the async workers; the state travels there and back.
                let (entries, back) = tokio::task::spawn_blocking(move || {
                    let entries = snapshot::prepare(
                        &fresh.store,
                        &fresh.journals,
                        crate::decode::decode_threads(),
                    );
                    (entries, fresh)
                })
                .await
                .map_err(|error| ProjectionError::Stopped(error.to_string()))?;
                fresh = back;
                write_snapshot_file(
                    rebuild_path.clone(),
                    fresh.checkpoint,
                    entries,
                    keys.clone(),
                )
                .await?;
            }
        }
        {
            // Hold the live loop between batches, catch up to where it is, and swap.
            let _pause = inner.pause.lock().await;
            let live = self.read(|state| state.checkpoint);
            let mut pages = LogPages::after(
                inner.ledger.clone(),
                fresh.checkpoint,
                inner.config.rebuild_page_events,
            );
            while let Some(live) = live.filter(|live| !fresh.has_applied(*live)) {
                let Some(page) = pages.next().await else {
                    return Err(ProjectionError::Stopped(format!(
                        "the log ends at {:?} but the live projections are at {live}",
                        fresh.checkpoint
                    )));
                };
                let page = page?;
                let touched = persons_of(&page);
                for decoded in page {
                    fresh.apply_owned(decoded)?;
                }
                fresh.fit_journals(&touched);
            }
            let checkpoint = fresh.checkpoint;
            {
                let mut state = inner
                    .state
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                *state = fresh;
                inner
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            inner.cache.clear();
            inner.applied.send_replace(checkpoint);
        }
        *lock(&inner.rebuild) = None;
        let _ = std::fs::remove_file(&rebuild_path);
        self.snapshot().await
    }

    /// Every person's view at the cut `known_at` (`None`: everything recorded so far).
    pub fn views(&self, known_at: Option<DateTime<Utc>>) -> Arc<ViewSet> {
        self.read(|state| self.inner.cache.views(state, known_at))
    }

    /// Computes an indicator of the catalogue. Without `known_at` it uses everything applied so far
    /// and reports as its `known_at` the transaction time that covers ([`ViewSet::answer_known_at`]),
    /// so asking again with that `known_at` gives the same answer, also after later appends and
    /// after a restart. With `known_at` the answer is that cut's; call [`Projections::reach`] first
    /// so that it is not taken from a state that lags the cut.
    pub fn kpi(&self, query: KpiRequest) -> Result<KpiResult, KpiError> {
        match past_cut_of_kept_rows(&query.key, query.known_at) {
            Some(known_at) => self.kpi_kept(query, known_at),
            None => self.kpi_of_views(query),
        }
    }

    /// A past cut's indicator from the kept rows' columns (`query::KeptCut`), when it reads no
    /// views and the kept rows are up to date with the state; from the views of the cut while
    /// they are being built or lag ([`crate::kept_rows`]).
    fn kpi_kept(&self, query: KpiRequest, known_at: DateTime<Utc>) -> Result<KpiResult, KpiError> {
        let kept = self.read(|state| {
            self.inner.cache.kept_cut(state, known_at).map(|cut| {
                (
                    cut,
                    state.registers.clone(),
                    state.offers.clone(),
                    state.volunteers.clone(),
                )
            })
        });
        let Some((cut, registers, offers, volunteers)) = kept else {
            return self.kpi_of_views(query);
        };
        let kpi_query = KpiQuery {
            key: query.key,
            as_of: query.as_of,
            known_at: cut.known_at,
            by: query.by,
            suppression: query.suppression,
        };
        match self
            .inner
            .cache
            .kpi_kept(&kpi_query, &cut, &registers, &offers, &volunteers)?
        {
            Some(result) => Ok(KpiResult::clone(&result)),
            // The kept rows were built again since the cut was made of them.
            None => self.kpi_of_views(KpiRequest {
                key: kpi_query.key,
                as_of: kpi_query.as_of,
                known_at: Some(known_at),
                by: kpi_query.by,
                suppression: kpi_query.suppression,
            }),
        }
    }

    /// An indicator from the views of its cut.
    fn kpi_of_views(&self, query: KpiRequest) -> Result<KpiResult, KpiError> {
        let (views, registers, offers, volunteers) = self.read(|state| {
            (
                self.inner.cache.views(state, query.known_at),
                state.registers.clone(),
                state.offers.clone(),
                state.volunteers.clone(),
            )
        });
        let kpi_query = KpiQuery {
            key: query.key,
            as_of: query.as_of,
            known_at: views.known_at,
            by: query.by,
            suppression: query.suppression,
        };
        let mut result = KpiResult::clone(&*self.inner.cache.kpi(
            &kpi_query,
            &views,
            &registers,
            &offers,
            &volunteers,
        )?);
        result.known_at = views.answer_known_at();
        Ok(result)
    }

    /// Whether `query`, at the live cut, is answered now from the steps the live views hold
    /// (`kpi::steps`, built off the query path by `crate::kept_steps`), for the bench and tests:
    /// a query never waits for them. Brings the live views up to the state first, as a query does.
    pub fn answers_from_steps(&self, query: &KpiRequest) -> bool {
        if query
            .known_at
            .is_some_and(|known_at| known_at < crate::LIVE)
        {
            return false;
        }
        let views = self.views(None);
        views.answers_from_steps(&KpiQuery {
            key: query.key.clone(),
            as_of: query.as_of,
            known_at: views.known_at,
            by: query.by.clone(),
            suppression: query.suppression,
        })
    }

    /// What steps the live views hold (`kpi::steps`).
    pub fn steps_held(&self) -> crate::kpi::StepsHeld {
        self.views(None).steps_held()
    }

    /// The kept rows of the past cuts: whether they serve a past `known_at` now, and what they
    /// hold ([`crate::kept_rows`]).
    pub fn kept_rows(&self) -> crate::kept_rows::KeptRowsStatus {
        crate::kept_rows::status(&self.inner)
    }

    /// Waits until the kept rows serve a past `known_at` at the state's checkpoint as it is when
    /// they become ready (for the bench and tests: a query never waits for them).
    pub async fn kept_rows_ready(
        &self,
    ) -> Result<crate::kept_rows::KeptRowsStatus, ProjectionError> {
        if !self.inner.config.kept_rows {
            return Err(ProjectionError::Stopped(
                "the kept rows are off (RunnerConfig::kept_rows): they never become ready".into(),
            ));
        }
        let mut applied = self.inner.applied.subscribe();
        loop {
            let status = self.kept_rows();
            if status.ready {
                return Ok(status);
            }
            if let Some(failure) = lock(&self.inner.failure).clone() {
                return Err(ProjectionError::Stopped(failure));
            }
            // The upkeep publishes without a signal of its own: look again after each applied
            // batch, or after a short while.
            let _ = tokio::time::timeout(Duration::from_millis(20), applied.changed()).await;
        }
    }

    /// Before the indicator `key` is asked at the cut `known_at`: when the kept rows would answer
    /// it (a past cut of an indicator that reads no views) and they are being taken from the
    /// snapshot after a start (seconds: 4 at a million persons), waits for them, at most `max`.
    /// A past cut asked in that window would otherwise fold every person's view at the cut on
    /// every core, which takes longer than the wait and slows the decode it would have waited for
    /// (docs/bench.md, "The merged tree of session 17 at a million persons"). Returns at once at
    /// any other time: while the kept rows are built from nothing (a minute at a million) or lag
    /// the state, a past cut is answered from views, as before. The answer is the same either way.
    pub async fn settle_past_cut(&self, key: &str, known_at: Option<DateTime<Utc>>, max: Duration) {
        if past_cut_of_kept_rows(key, known_at).is_none() {
            return;
        }
        let deadline = tokio::time::Instant::now() + max;
        while self
            .inner
            .kept_from_snapshot
            .load(std::sync::atomic::Ordering::SeqCst)
            && tokio::time::Instant::now() < deadline
        {
            let pause = tokio::time::Instant::now() + Duration::from_millis(20);
            tokio::time::sleep_until(deadline.min(pause)).await;
        }
    }

    /// The ledger's clock (the default `as_of` is its today).
    pub fn today(&self) -> chrono::NaiveDate {
        self.inner.ledger.clock().today()
    }

    /// Stops following the log and writes a final snapshot.
    pub async fn shutdown(&self) -> Result<(), ProjectionError> {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.stop.notify_one();
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.snapshot().await
    }
}

/// Who asks for a snapshot: the runner (its spacing, a rebuild, the shutdown, an explicit call)
/// or the kept rows' task once it built them ([`snapshot_with_kept_rows`]), which writes none once
/// the shutdown began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    Runner,
    KeptRowsBuilt,
}

/// Once the kept rows of the past cuts are built whole, writes a snapshot with them when the file
/// on disk lacks them (or there is none), so that the next start takes them from the file instead
/// of building them again: at a million persons about 90 s of both cores after every start,
/// during which a past `known_at` is answered from views (seconds, not the kept rows' hundreds of
/// milliseconds). Without this, a server stopped before its kept rows were first built (the
/// shutdown's snapshot then has none) would build them after every later start that applied
/// nothing, since such a start writes no snapshot. Written at most once per whole build (a start
/// without them, a quarter of the persons refreshed, an erasure), never after the shutdown began.
pub(crate) async fn snapshot_with_kept_rows(inner: Arc<Inner>) {
    let lacking = !matches!(*lock(&inner.on_disk), Some((_, _, true)));
    if !lacking || !inner.config.snapshots {
        return;
    }
    if let Err(error) = write_snapshot(inner, SNAPSHOT_FILE, Writer::KeptRowsBuilt).await {
        tracing::warn!(%error, "the snapshot with the kept rows of the past cuts was not written");
    }
}

async fn write_snapshot(
    inner: Arc<Inner>,
    file: &'static str,
    writer: Writer,
) -> Result<(), ProjectionError> {
    if !inner.config.snapshots {
        return Ok(());
    }
    let _guard = inner.snapshot_lock.lock().await;
    if writer == Writer::KeptRowsBuilt && inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    if file == SNAPSHOT_FILE {
        let now = {
            let state = inner
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (
                inner.generation.load(std::sync::atomic::Ordering::SeqCst),
                state.checkpoint,
            )
        };
        let kept_rows_ready = read(&inner.cache.kept)
            .as_ref()
            .is_some_and(|kept| kept.checkpoint == now.1);
        if writer == Writer::KeptRowsBuilt && !kept_rows_ready {
            // A batch applied since the build: the rows would not go in, so the file is left
            // to the spacing and the shutdown.
            return Ok(());
        }
        let same = match *lock(&inner.on_disk) {
            Some((generation, checkpoint, kept_rows)) => {
                (generation, checkpoint) == now && (kept_rows || !kept_rows_ready)
            }
            None => false,
        };
        if same && inner.config.dir.join(file).exists() {
            tracing::debug!(
                checkpoint = ?now.1,
                "the projection snapshot already holds this checkpoint: not written again"
            );
            return Ok(());
        }
    }
    // The journals are serialized under the read lock (the live loop waits, readers do not) and
    // sealed and written after it, so no copy of them is ever made.
    let prepared = {
        let inner = inner.clone();
        tokio::task::spawn_blocking(move || {
            let state = inner
                .state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let prepared = snapshot::prepare(
                &state.store,
                &state.journals,
                crate::decode::decode_threads(),
            );
            (
                with_kept_rows(&inner, &state, prepared),
                state.checkpoint,
                inner.generation.load(std::sync::atomic::Ordering::SeqCst),
            )
        })
        .await
        .map_err(|error| ProjectionError::Stopped(error.to_string()))?
    };
    let (entries, checkpoint, generation) = prepared;
    let with_kept_rows = entries.kept_rows_bytes() > 0;
    write_snapshot_file(
        inner.config.dir.join(file),
        checkpoint,
        entries,
        inner.ledger.keys().clone(),
    )
    .await?;
    if file == SNAPSHOT_FILE {
        *lock(&inner.on_disk) = Some((generation, checkpoint, with_kept_rows));
    }
    Ok(())
}

/// The snapshot `prepared` of `state` with the kept rows of the past cuts, when they are up to
/// date with `state` (else they would be served after a start for persons they lag) and hold
/// nothing of an erased person (the erasure's person was refreshed to no rows; a snapshot
/// written while an erased person's rows remain would keep them under a key that lives on).
fn with_kept_rows(
    inner: &Inner,
    state: &State,
    prepared: snapshot::Prepared,
) -> snapshot::Prepared {
    if !lock(&inner.cache.history_dirty).is_empty() {
        return prepared;
    }
    let kept = read(&inner.cache.kept);
    let Some(kept) = kept
        .as_ref()
        .filter(|kept| kept.checkpoint == state.checkpoint)
    else {
        return prepared;
    };
    let erased_held = state
        .journals
        .iter()
        .any(|(person, journal)| journal.erased && kept.history.holds_rows_of(*person));
    if erased_held {
        tracing::info!("snapshot without kept rows: they still hold an erased person's");
        return prepared;
    }
    let started = Instant::now();
    let prepared = prepared.with_kept_rows(&kept.history);
    tracing::info!(
        bytes = prepared.kept_rows_bytes(),
        serialized_ms = started.elapsed().as_millis() as u64,
        "snapshot with the kept rows of the past cuts"
    );
    prepared
}

/// Writes a snapshot file off the async workers (sealing and writing every journal takes a while).
async fn write_snapshot_file(
    path: PathBuf,
    checkpoint: Option<Position>,
    entries: snapshot::Prepared,
    keys: Arc<journey_core::keys::KeyStore>,
) -> Result<(), ProjectionError> {
    tokio::task::spawn_blocking(move || {
        snapshot::write_prepared(
            &path,
            PROJECTION_VERSION,
            checkpoint,
            entries,
            &keys,
            &mut rand::rngs::OsRng,
        )
    })
    .await
    .map_err(|error| ProjectionError::Stopped(error.to_string()))??;
    Ok(())
}

/// The live loop: subscribe from the checkpoint, apply in batches, snapshot now and then.
async fn follow(inner: Arc<Inner>) {
    if let Err(error) = follow_inner(&inner).await {
        tracing::error!(%error, "projection runner stopped");
        *lock(&inner.failure) = Some(error.to_string());
        // Wake waiters so they see the failure.
        inner.applied.send_modify(|_| {});
    }
}

async fn follow_inner(inner: &Arc<Inner>) -> Result<(), ProjectionError> {
    let from = AllFrom::after(
        inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .checkpoint,
    );
    // The state loaded from a snapshot (or empty) is as large as its facts (about one per event).
    let loaded_events = inner
        .state
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .fact_count();
    let mut spacing = SnapshotSpacing::new(
        inner.config.snapshot_every_events,
        Some(inner.config.snapshot_interval),
        loaded_events,
        Instant::now(),
    );
    let mut subscription = inner.ledger.log().subscribe_all(from).await?;
    // An event taken from the subscription that belongs to the next batch.
    let mut carried = None;
    // The latest transaction time of every event batched so far: batches are decoded ahead of the
    // state, which then lags what is batched.
    let mut batched_through = None;
    // The batches are collected as recorded and decoded ahead of the one applied, on every core,
    // exactly as a rebuild decodes its pages: in a catch-up one batch is applied while the next
    // ones are decoded.
    let mut decoding = DecodeAhead::new(inner.ledger.clone());
    loop {
        while decoding.has_room() {
            let first = match carried.take() {
                Some(event) => Ok(event),
                // Nothing to apply: wait for the log (or the stop).
                None if decoding.is_empty() => tokio::select! {
                    _ = inner.stop.notified() => return Ok(()),
                    next = subscription.next() => match next {
                        Some(next) => next,
                        None => return Ok(()),
                    },
                },
                // Batches to apply: take only what the subscription holds already.
                None => match subscription.try_next() {
                    Some(next) => next,
                    None => break,
                },
            };
            let Some(batch) = next_batch(
                inner,
                &mut subscription,
                first?,
                &mut carried,
                &mut batched_through,
            )
            .await?
            else {
                return Ok(());
            };
            decoding.push(batch);
        }
        // A stop asked for during a long catch-up, when the loop never waits for the log.
        if stop_requested(&inner.stop).await {
            return Ok(());
        }
        let Some(batch) = decoding.next().await else {
            continue;
        };
        let batch = batch?;
        let batch_events = batch.len() as u64;
        let touched = persons_of(&batch);
        let pause = inner.pause.lock().await;
        let (checkpoint, refused) = {
            let mut state = inner
                .state
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut dirty = lock(&inner.cache.dirty);
            let mut history_dirty = lock(&inner.cache.history_dirty);
            let mut refused = None;
            for decoded in batch {
                if state.has_applied(decoded.recorded.position) {
                    // Already in the state (a rebuild swapped in a state that was further along).
                    continue;
                }
                let person = PersonId::from_stream_name(&decoded.recorded.stream);
                // A refused event stops the runner (its failure shows in `status` and `/readyz`);
                // the batch's earlier events stay applied, so the state is still one position's.
                if let Err(error) = state.apply_owned(decoded) {
                    refused = Some(error);
                    break;
                }
                if let Ok(person) = person {
                    dirty.insert(person);
                    history_dirty.insert(person);
                }
            }
            drop(history_dirty);
            drop(dirty);
            state.fit_journals(&touched);
            (state.checkpoint, refused)
        };
        inner.applied.send_replace(checkpoint);
        if let Some(error) = refused {
            return Err(error);
        }
        drop(pause);
        spacing.applied(batch_events);
        if spacing.due(Instant::now()) {
            write_snapshot(inner.clone(), SNAPSHOT_FILE, Writer::Runner).await?;
            spacing.written(Instant::now());
        }
    }
}

/// Whether a stop was asked for, without waiting: the stop's permit is taken when there is one.
async fn stop_requested(stop: &Notify) -> bool {
    tokio::select! {
        biased;
        () = stop.notified() => true,
        () = std::future::ready(()) => false,
    }
}

/// The batch that starts with `first`: what the subscription holds already, up to the batch size,
/// and every event recorded by the batch's latest time. `batched_through` is the latest time of
/// every batch before; it moves to this one's. An event taken that belongs to the next batch is
/// left in `carried`.
async fn next_batch(
    inner: &Arc<Inner>,
    subscription: &mut log::Subscription,
    first: log::RecordedEvent,
    carried: &mut Option<log::RecordedEvent>,
    batched_through: &mut Option<DateTime<Utc>>,
) -> Result<Option<Vec<log::RecordedEvent>>, ProjectionError> {
    let mut batch = vec![first];
    while batch.len() < inner.config.apply_batch_events_max {
        match subscription.try_next() {
            Some(next) => batch.push(next?),
            None => break,
        }
    }
    // A live answer reports the latest transaction time applied as the time it covers
    // (`State::recorded_through`), so a batch must not end while the log holds an event
    // recorded at or before that time: the rest of an append (its events share one time), or
    // an append that took its time before another but reached the log after it. Such events
    // are durable, so awaiting them is short. Bounded by the largest append, so that a log
    // written with historical times (a seed) still goes in batches. The time is the state's (a
    // rebuild may have swapped in a state further along) or the batches' before this one, which
    // the state has not applied yet, whichever is later.
    let mut through = inner
        .state
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .recorded_through
        .max(*batched_through);
    for recorded in &batch {
        through = through.max(Some(recorded.event.recorded_at));
    }
    // An append can take its time before the batch's latest and still be on its way to the
    // log (the ledger stamps, then seals, then appends): wait for every such append, so that
    // the loop below finds it in the log and the batch takes it along.
    if let Some(through) = through {
        inner.ledger.in_flight().settled(through).await;
    }
    let mut extra = 0;
    while extra < APPEND_EVENTS_MAX {
        let Some(last) = batch.last() else {
            break;
        };
        let next = match subscription.try_next() {
            Some(next) => next?,
            None => {
                let peeked = inner
                    .ledger
                    .log()
                    .read_all(AllFrom::Excluding(last.position), Direction::Forwards, 1)
                    .await?;
                let recorded_by_then = peeked
                    .first()
                    .is_some_and(|next| Some(next.event.recorded_at) <= through);
                if !recorded_by_then {
                    break;
                }
                match subscription.next().await {
                    Some(next) => next?,
                    // The log closed: the batch could not be completed, so it is not applied.
                    None => return Ok(None),
                }
            }
        };
        if Some(next.event.recorded_at) > through {
            *carried = Some(next);
            break;
        }
        batch.push(next);
        extra += 1;
    }
    *batched_through = through;
    Ok(Some(batch))
}

impl State {
    /// A digest of the whole state: equal states have equal digests. Used to check that rebuilds and
    /// restarts converge (the digest covers every fact's position, id, times and content).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(
            self.checkpoint
                .map_or(u64::MAX, Position::raw)
                .to_be_bytes(),
        );
        for (person, journal) in &self.journals {
            hasher.update(person.0.as_bytes());
            hasher.update([u8::from(journal.erased)]);
            hasher.update((journal.facts.len() as u64).to_be_bytes());
            for fact in &journal.facts {
                let actor = self.store.actor(&fact.actor);
                let event = self.store.event(&fact.event);
                hasher.update(fact.position.raw().to_be_bytes());
                hasher.update(u64::from(fact.revision).to_be_bytes());
                hasher.update(fact.id.as_bytes());
                hasher.update(fact.occurred_on.to_string().as_bytes());
                hasher.update(fact.recorded_at.time().timestamp_micros().to_be_bytes());
                hasher.update(actor.id.as_bytes());
                hasher.update(event.event_type().name().as_bytes());
                hasher.update(serde_json::to_vec(&event.to_data()).unwrap_or_default());
            }
        }
        // The offers are part of the state a rebuild must reproduce.
        hasher.update(format!("{:?}", self.offers).as_bytes());
        hasher.update(format!("{:?}", self.volunteers).as_bytes());
        hex_lower(&hasher.finalize())
    }
}

/// What a start does about a snapshot it could not load: a file of an earlier layout, a damaged or
/// unreadable one is passed over with a warning and the projections are rebuilt from the log (the
/// snapshot is only ever a shortcut); a failure of the key store is not the file's and stops the
/// start.
fn usable_or_rebuild(error: SnapshotError) -> Result<Option<snapshot::Loaded>, SnapshotError> {
    match error {
        SnapshotError::Invalid { .. }
        | SnapshotError::ForeignFormat { .. }
        | SnapshotError::KeptRows { .. }
        | SnapshotError::EpochRotated { .. }
        | SnapshotError::Io { .. } => {
            tracing::warn!(%error, "projection snapshot unusable: rebuilding from position 0");
            Ok(None)
        }
        SnapshotError::Key(_) => Err(error),
    }
}

/// What a loaded snapshot's state takes from the log up to its checkpoint: the transaction time
/// of the checkpoint's event, and the registers, offers and volunteers (snapshots hold only
/// journals, so these are folded again from the log).
struct FromTheLog {
    checkpoint: Option<Position>,
    checkpoint_recorded_at: Option<DateTime<Utc>>,
    registers: Arc<Registers>,
    offers: Arc<Offers>,
    volunteers: Arc<Volunteers>,
}

impl FromTheLog {
    async fn up_to(ledger: &Ledger, checkpoint: Option<Position>) -> Result<Self, ProjectionError> {
        let started = Instant::now();
        let checkpoint_recorded_at = match checkpoint {
            Some(position) => ledger
                .log()
                .read_all(AllFrom::Including(position), Direction::Forwards, 1)
                .await?
                .first()
                .map(|recorded| recorded.event.recorded_at),
            None => None,
        };
        let (registers, offers, volunteers) = tokio::try_join!(
            registers::up_to(ledger, checkpoint),
            offers::up_to(ledger, checkpoint),
            volunteers::up_to(ledger, checkpoint),
        )?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "the registers, offers and volunteers are folded again from the log up to the \
             projections snapshot's checkpoint"
        );
        Ok(Self {
            checkpoint,
            checkpoint_recorded_at,
            registers,
            offers,
            volunteers,
        })
    }
}

/// The state of a loaded snapshot, with what it takes from the log up to its checkpoint: as
/// `read` read it beside the load when it read up to the same checkpoint, else read here.
async fn loaded_state(
    ledger: &Ledger,
    loaded: snapshot::Loaded,
    read: Option<Result<FromTheLog, ProjectionError>>,
) -> Result<State, ProjectionError> {
    let started = Instant::now();
    let checkpoint = loaded.header.checkpoint;
    let from_the_log = match read {
        Some(Ok(read)) if read.checkpoint == checkpoint => read,
        _ => FromTheLog::up_to(ledger, checkpoint).await?,
    };
    let mut state = State::from_interned(
        loaded.journals,
        loaded.store,
        checkpoint,
        from_the_log.checkpoint_recorded_at,
    );
    state.registers = from_the_log.registers;
    state.offers = from_the_log.offers;
    state.volunteers = from_the_log.volunteers;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the projections' state is built from the snapshot"
    );
    Ok(state)
}

/// The latest transaction time of any fact in `journals`.
fn latest_recorded_at<E, A>(journals: &Journals<E, A>) -> Option<DateTime<Utc>> {
    journals
        .values()
        .flat_map(|journal| journal.facts.iter().map(|fact| fact.recorded_at.time()))
        .max()
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The past cut `known_at` when the kept rows answer the indicator `key` there (a past cut of an
/// indicator that reads no views; [`Projections::kpi`]), else `None` (the views answer it).
fn past_cut_of_kept_rows(key: &str, known_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    known_at.filter(|known_at| *known_at < crate::LIVE && !crate::kpi::reads_views(key))
}
