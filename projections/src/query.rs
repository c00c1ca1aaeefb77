//! Answers from the running projections: person views for a cut, cached, and the indicators.
//!
//! The live cut (everything recorded so far) is kept up to date incrementally: the runner marks the
//! persons a batch touched, and the next query rebuilds only their views. A cut at a past `known_at`
//! is derived from the live views on demand ([`ViewSet::past_cut`]: only the persons with facts
//! recorded after the cut are folded again) and cached until the next applied event. Indicator results
//! are cached per query until the next applied event, so a dashboard polling today's figures costs
//! one computation per change, not one per request.

use journey_core::log::Position;
use journey_core::registers::Registers;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use journey_core::envelope::PersonId;

use crate::journal::{Journal, Store};
use crate::kpi::columns::Fields;
use crate::kpi::history::{History, Picks};
use crate::kpi::{self, Columns, KpiError, KpiQuery, KpiResult};
use crate::runner::State;
use crate::view::{Households, PersonView, UuidHasher};

/// The transaction-time cut of the live views: everything recorded. Views are built with it and
/// queries about "now" are answered with it (the ledger never records the future).
pub const LIVE: DateTime<Utc> = DateTime::<Utc>::MAX_UTC;

/// The most past cuts kept.
const PAST_CUTS_MAX: usize = 4;
/// The most indicator results kept per checkpoint.
const RESULTS_MAX: usize = 512;
/// Fewer persons than this are built on the calling thread (starting threads costs more).
const PARALLEL_VIEWS_FROM: usize = 2048;

/// Every person's view at one transaction-time cut, sorted by person.
#[derive(Debug, Clone)]
pub struct ViewSet {
    pub known_at: DateTime<Utc>,
    /// The state's checkpoint the views were built from.
    pub checkpoint: Option<Position>,
    /// The state's [`State::recorded_through`] at that checkpoint.
    pub recorded_through: Option<DateTime<Utc>>,
    /// The state's [`State::erased_persons`] at that checkpoint.
    pub erased_persons: u64,
    pub views: Vec<PersonView>,
    pub households: Households,
    /// The fields the busiest indicators read, one column each, row by row as `views`
    /// ([`crate::kpi::columns`]); kept up to date with the views.
    columns: Columns,
    index: Index,
    /// For each view of the live cut, in the same order, the latest `recorded_at` of the person's
    /// facts: a past cut at or after it sees the same facts, hence the same view
    /// ([`ViewSet::past_cut`]). Empty for a past cut, which nothing is derived from.
    recorded_until: Vec<DateTime<Utc>>,
    /// The steps of the indicators read off running sums over days ([`crate::kpi::steps`]), at
    /// the views' checkpoint when they answer: the live cut's only (a past cut is the pass),
    /// shared by the copies a refresh makes (each answers from them only at its checkpoint).
    steps: Option<Arc<kpi::LiveSteps>>,
}

impl ViewSet {
    /// Every person's view of `state` at the cut `known_at`, as the running projections serve it:
    /// the live cut built from the journals, a past cut derived from the live one.
    pub fn for_state<S: Store>(state: &State<S>, known_at: DateTime<Utc>) -> Self {
        let live = Self::folded(state, LIVE);
        if known_at >= LIVE {
            live
        } else {
            Self::past_cut(state, &live, known_at)
        }
    }

    /// Every person's view of `state` at `known_at`, each folded from the journals, on every
    /// core: how the live cut is built, and for a past cut the definition [`ViewSet::past_cut`]
    /// must equal (and the baseline `journey bench projections` measures it against).
    pub fn folded<S: Store>(state: &State<S>, known_at: DateTime<Utc>) -> Self {
        let built = crate::parallel::map_shares(
            state.journals.len(),
            threads_for(state.journals.len()),
            |range| {
                state
                    .journals
                    .iter()
                    .skip(range.start)
                    .take(range.len())
                    .filter_map(|(person, journal)| {
                        let view = PersonView::build_in(&state.store, *person, journal, known_at)?;
                        Some((view, latest_recorded(journal)))
                    })
                    .collect::<Vec<_>>()
            },
        );
        let mut views = Vec::with_capacity(state.journals.len());
        let mut recorded_until = Vec::with_capacity(state.journals.len());
        for (view, recorded) in built.into_iter().flatten() {
            views.push(view);
            recorded_until.push(recorded);
        }
        if known_at < LIVE {
            recorded_until = Vec::new();
        }
        Self::assemble(state, known_at, views, recorded_until)
    }

    /// The views of `state` at the past cut `known_at`, from `live`, the live views of the same
    /// state (same checkpoint). A person none of whose facts was recorded after the cut has the
    /// same effective history at the cut as live ([`crate::temporal::effective`] filters by
    /// `recorded_at` only), so their view is the live one (a view carries no cut); only persons
    /// with facts (or corrections, retractions) recorded after the cut are folded again. Persons
    /// without a live view (erased, or with no registration in force) are folded again too: a
    /// registration retracted after the cut still counts at the cut.
    pub fn past_cut<S: Store>(state: &State<S>, live: &ViewSet, known_at: DateTime<Utc>) -> Self {
        debug_assert_eq!(
            live.checkpoint, state.checkpoint,
            "live views of this state"
        );
        debug_assert!(live.known_at >= LIVE, "a live cut");
        debug_assert_eq!(live.recorded_until.len(), live.views.len(), "a live cut");
        let persons = state.journals.len();
        let shares = crate::parallel::map_shares(persons, threads_for(persons), |range| {
            state
                .journals
                .iter()
                .skip(range.start)
                .take(range.len())
                .filter_map(|(person, journal)| match live.index.get(person) {
                    Some(&index) if live.recorded_until[index] <= known_at => {
                        Some(live.views[index].clone())
                    }
                    _ => PersonView::build_in(&state.store, *person, journal, known_at),
                })
                .collect::<Vec<_>>()
        });
        let mut views = Vec::with_capacity(live.views.len());
        for share in shares {
            views.extend(share);
        }
        Self::assemble(state, known_at, views, Vec::new())
    }

    fn assemble<S: Store>(
        state: &State<S>,
        known_at: DateTime<Utc>,
        views: Vec<PersonView>,
        recorded_until: Vec<DateTime<Utc>>,
    ) -> Self {
        // The columns and the households are built on every core, each core a share of the
        // views (`crate::parallel`); the index, a hash map, on this thread.
        let threads = threads_for(views.len());
        let index = index_of(&views);
        let households = Households::from_views_on(&views, threads);
        let columns = Columns::of_cut_on(&views, known_at, threads);
        Self {
            known_at,
            checkpoint: state.checkpoint,
            recorded_through: state.recorded_through,
            erased_persons: state.erased_persons(),
            views,
            households,
            columns,
            index,
            recorded_until,
            steps: (known_at >= LIVE).then(|| Arc::new(kpi::LiveSteps::at(state.checkpoint))),
        }
    }

    /// The transaction time an answer from these views covers, the `known_at` it reports: the cut
    /// itself for a past cut; for the live views the latest time of the facts applied, since the
    /// live views are exactly the cut at that time (the Unix epoch when nothing is applied, which
    /// cuts off everything, as the empty live views do).
    pub fn answer_known_at(&self) -> DateTime<Utc> {
        if self.known_at < LIVE {
            self.known_at
        } else {
            self.recorded_through.unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        }
    }

    /// The columns of the views ([`crate::kpi::columns`]), row by row as [`ViewSet::views`].
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// Answers `query` over these views and their columns, as the running projections do. The
    /// query's `known_at` must be this set's cut.
    pub fn compute(
        &self,
        query: &KpiQuery,
        registers: &Registers,
        offers: &crate::offers::Offers,
        volunteers: &crate::volunteers::Volunteers,
    ) -> Result<KpiResult, KpiError> {
        let population = kpi::Population {
            views: &self.views,
            columns: &self.columns,
            households: (&self.households).into(),
        };
        let threads = threads_for(self.views.len());
        let path = match &self.steps {
            Some(steps) => kpi::Path::LiveSteps(steps, self.checkpoint),
            None => kpi::Path::EveryPerson,
        };
        kpi::compute_kept(
            query,
            population,
            registers,
            offers,
            volunteers,
            (threads, path),
        )
    }

    fn population(&self) -> kpi::Population<'_> {
        kpi::Population {
            views: &self.views,
            columns: &self.columns,
            households: (&self.households).into(),
        }
    }

    /// Whether `query` would be answered now from the steps these (live) views hold.
    pub fn answers_from_steps(&self, query: &KpiQuery) -> bool {
        self.steps
            .as_ref()
            .is_some_and(|steps| kpi::answered_from_steps(query, steps, self.checkpoint))
    }

    /// Whether a query asked for steps these (live) views do not hold yet.
    pub fn wants_steps(&self) -> bool {
        self.steps.as_ref().is_some_and(|steps| steps.is_wanted())
    }

    /// What steps these views hold.
    pub fn steps_held(&self) -> kpi::StepsHeld {
        self.steps
            .as_ref()
            .map_or_else(kpi::StepsHeld::default, |steps| steps.held())
    }

    /// Builds, from these live views, the steps of the first indicator and breakdown a query
    /// asked for and found missing (off the query path: `crate::kept_steps`, or a test).
    pub fn build_wanted_steps(&self) -> Option<kpi::BuiltSteps> {
        let steps = self.steps.as_ref()?;
        // On half the cores: the build runs beside the queries it is for (on two cores, every
        // core made their p99 several times the pass's while it ran).
        let threads = (threads_for(self.views.len()) / 2).max(1);
        steps.build_wanted(self.checkpoint, self.population(), threads)
    }

    /// Serves `built`, steps built from `built_from` (an earlier state of these live views, or
    /// these), brought to these views first: the contributions of the persons whose views differ
    /// taken away and added again. Gives them back, at these views' checkpoint, when the live
    /// views moved on meanwhile (call again with the newer views and these as `built_from`).
    pub fn install_steps(
        &self,
        mut built: kpi::BuiltSteps,
        built_from: &ViewSet,
    ) -> Result<(), kpi::BuiltSteps> {
        let Some(steps) = self.steps.as_ref() else {
            return Ok(());
        };
        // Live views built afresh (after a rebuild's swap) do not take steps of the ones before.
        if !built_from
            .steps
            .as_ref()
            .is_some_and(|from| Arc::ptr_eq(from, steps))
        {
            return Ok(());
        }
        debug_assert_eq!(
            built.checkpoint(),
            built_from.checkpoint,
            "built from these"
        );
        // Compared view by view even at one checkpoint: equal views are cheap to pass over.
        if !std::ptr::eq(built_from, self) {
            let (before, after) = changed_rows(built_from, self);
            built.catch_up(
                self.checkpoint,
                (built_from.population(), &before),
                (self.population(), &after),
            );
        }
        steps.install(built)
    }

    /// The view of one person, if they are in this cut.
    pub fn view(&self, person: PersonId) -> Option<&PersonView> {
        self.index.get(&person).map(|index| &self.views[*index])
    }

    /// Rebuilds the live views of `dirty` persons from `state` (the persons whose journals
    /// changed since these views were built), with their columns. Only the live cut is refreshed
    /// (a past cut is derived afresh from it instead).
    pub fn refresh<S: Store>(&mut self, state: &State<S>, dirty: &BTreeSet<PersonId>) {
        debug_assert!(self.known_at >= LIVE, "only the live views are refreshed");
        // Views are replaced in place first, while every index is still right; persons who come or
        // go are removed and added after that, and the index is rebuilt once (changing the vector
        // while looking positions up in the old index would put views in the wrong places).
        // The steps held are brought along: the persons' contributions before are taken away
        // now, those after added at the end (`kpi::steps`; the steps' lock held between).
        let steps = self.steps.clone();
        let rows = |set: &ViewSet| -> Vec<usize> {
            dirty
                .iter()
                .filter_map(|person| set.index.get(person).copied())
                .collect()
        };
        let update = steps
            .as_ref()
            .map(|steps| steps.begin_update(self.checkpoint, self.population(), &rows(self)));
        let mut gone = BTreeSet::new();
        let mut arrived = Vec::new();
        for person in dirty {
            let journal = state.journals.get(person);
            let view = journal
                .and_then(|journal| PersonView::build_in(&state.store, *person, journal, LIVE));
            let recorded = journal
                .map(latest_recorded)
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
            match (self.index.get(person).copied(), view) {
                (Some(index), Some(view)) => {
                    self.columns.replace(index, &view);
                    self.views[index] = view;
                    self.recorded_until[index] = recorded;
                }
                (Some(_), None) => {
                    gone.insert(*person);
                }
                (None, Some(view)) => arrived.push((view, recorded)),
                (None, None) => {}
            }
        }
        if !gone.is_empty() || !arrived.is_empty() {
            let mut entries: Vec<(PersonView, DateTime<Utc>)> = std::mem::take(&mut self.views)
                .into_iter()
                .zip(std::mem::take(&mut self.recorded_until))
                .filter(|(view, _)| !gone.contains(&view.person))
                .collect();
            // Both parts are sorted (`dirty` is), so the stable sort merges two runs.
            entries.extend(arrived);
            entries.sort_by_key(|(view, _)| view.person);
            (self.views, self.recorded_until) = entries.into_iter().unzip();
            self.index = index_of(&self.views);
            // Rows move when persons come or go: the columns are laid out afresh, as the index.
            self.columns =
                Columns::of_cut_on(&self.views, self.known_at, threads_for(self.views.len()));
        }
        if !dirty.is_empty() {
            self.households = Households::from_views_on(&self.views, threads_for(self.views.len()));
            self.erased_persons = state.erased_persons();
        }
        self.checkpoint = state.checkpoint;
        self.recorded_through = state.recorded_through;
        if let Some(update) = update {
            update.finish(self.checkpoint, self.population(), &rows(self));
        }
    }
}

/// The rows of the persons whose views differ between two states of the live views: in
/// `before` and in `after` (a person who came or went has a row in one only).
fn changed_rows(before: &ViewSet, after: &ViewSet) -> (Vec<usize>, Vec<usize>) {
    let mut before_rows = Vec::new();
    let mut after_rows = Vec::new();
    for (row, view) in after.views.iter().enumerate() {
        match before.index.get(&view.person) {
            Some(&was) if before.views[was] == *view => {}
            Some(&was) => {
                before_rows.push(was);
                after_rows.push(row);
            }
            None => after_rows.push(row),
        }
    }
    before_rows.extend(
        before
            .views
            .iter()
            .enumerate()
            .filter(|(_, view)| !after.index.contains_key(&view.person))
            .map(|(row, _)| row),
    );
    (before_rows, after_rows)
}

/// A past cut answered from the kept rows ([`History`]): each person's row (a kept row for
/// nearly every person, a fold at the cut for the few no kept row answers), the columns of the
/// fields gathered from them so far, and the households made of those once an indicator reads
/// them. It answers every indicator that does not read views ([`kpi::reads_views`]), equal to
/// the views of the cut ([`ViewSet::past_cut`]).
///
/// The columns hold only the fields the indicators asked of the cut so far read: a pass reads
/// the columns as they are, a field left out answering a stand-in and noting that it was read
/// (`kpi::packed::Absent`); a pass that read one is thrown away, the fields it read are gathered,
/// and the pass runs again ([`KeptCut::compute_from`]). So which fields an indicator reads is
/// what its own pass reads, on this cut's rows: nothing to declare, nothing to drift.
#[derive(Debug)]
pub struct KeptCut {
    pub known_at: DateTime<Utc>,
    /// The state's checkpoint the columns were derived at.
    pub checkpoint: Option<Position>,
    /// The state's [`State::erased_persons`] at that checkpoint.
    pub erased_persons: u64,
    /// Each person's row, from which the columns of further fields are gathered.
    picks: Picks,
    /// The columns of the fields gathered so far, with their households.
    gathered: Mutex<Arc<Gathered>>,
    /// The persons whose row was a kept one (or who have none at the cut).
    pub filtered: usize,
    /// The persons folded again at the cut.
    pub folded: usize,
}

/// The columns of a cut's fields gathered so far, and the households made of them when an
/// indicator first reads them ([`kpi::HouseholdsOf`]; never of fields left out).
#[derive(Debug)]
struct Gathered {
    columns: Columns,
    households: std::sync::OnceLock<Option<Households>>,
}

impl KeptCut {
    /// The cut `known_at` of `state` from `history`, kept up to date with `state`, every field
    /// gathered: it answers every indicator it serves with [`KeptCut::compute`].
    pub fn of_history<S: Store>(
        state: &State<S>,
        history: &History,
        known_at: DateTime<Utc>,
    ) -> Self {
        Self::with_fields(state, history, known_at, Fields::ALL)
    }

    /// [`KeptCut::of_history`] with the columns of `fields` gathered, the others left out until
    /// an indicator reads them ([`KeptCut::compute_from`]).
    pub fn with_fields<S: Store>(
        state: &State<S>,
        history: &History,
        known_at: DateTime<Utc>,
        fields: Fields,
    ) -> Self {
        let picks = history.picked(&state.store, &state.journals, known_at);
        let columns = picks.gathered(history, fields, threads_for(state.journals.len()));
        Self {
            known_at,
            checkpoint: state.checkpoint,
            erased_persons: state.erased_persons(),
            filtered: picks.filtered,
            folded: picks.folded,
            picks,
            gathered: Mutex::new(Arc::new(Gathered {
                columns,
                households: std::sync::OnceLock::new(),
            })),
        }
    }

    /// Whether a cut from the kept rows answers the indicator `key`: it reads no views.
    pub fn answers(key: &str) -> bool {
        !kpi::reads_views(key)
    }

    /// The fields whose columns are gathered.
    pub fn fields(&self) -> Fields {
        lock(&self.gathered).columns.held()
    }

    /// Answers `query`, whose `known_at` must be this cut's, over the columns alone, which must
    /// hold every field it reads ([`KeptCut::of_history`]; checked: a pass that read a field
    /// left out panics rather than answer). The indicator must not read views
    /// ([`kpi::reads_views`]).
    pub fn compute(
        &self,
        query: &KpiQuery,
        registers: &Registers,
        offers: &crate::offers::Offers,
        volunteers: &crate::volunteers::Volunteers,
    ) -> Result<KpiResult, KpiError> {
        let (result, read_left_out) = self.pass(query, (registers, offers, volunteers));
        assert!(
            read_left_out.is_empty(),
            "{} read fields the cut left out: answer it with compute_from",
            query.key
        );
        result
    }

    /// [`KeptCut::compute`], the fields the pass reads gathered from `history` (the history the
    /// cut was made of, [`KeptCut::is_of`]) as it finds them left out: a pass that read one is
    /// answered again once they are gathered, so the answer is the one every field gives.
    pub fn compute_from(
        &self,
        history: &History,
        query: &KpiQuery,
        registers: &Registers,
        offers: &crate::offers::Offers,
        volunteers: &crate::volunteers::Volunteers,
    ) -> Result<KpiResult, KpiError> {
        // Each pass that reads a field left out gathers it, so passes end once it has read
        // every field it needs: at most one a field, and one with them all.
        for _ in 0..=Fields::ALL.len() {
            let (result, read_left_out) = self.pass(query, (registers, offers, volunteers));
            if read_left_out.is_empty() {
                return result;
            }
            self.gather(history, read_left_out);
        }
        self.gather(history, Fields::ALL);
        self.compute(query, registers, offers, volunteers)
    }

    /// Whether the cut was made of `history` (its rows are the ones it picked).
    pub fn is_of(&self, history: &History) -> bool {
        self.picks.is_of(history)
    }

    /// Gathers the columns of `fields` the cut does not hold yet, from `history` (the one the cut
    /// was made of). The columns are filled in place when no pass reads them, else copied (the
    /// passes reading the old ones finish on them).
    pub fn gather(&self, history: &History, fields: Fields) {
        let mut gathered = lock(&self.gathered);
        let wanted = fields.without(gathered.columns.held());
        if wanted.is_empty() {
            return;
        }
        let made = self
            .picks
            .gathered(history, wanted, threads_for(gathered.columns.len()));
        match Arc::get_mut(&mut gathered) {
            Some(alone) => {
                alone.columns.fill(made);
                // Households not made for a field left out may be made now.
                if alone.households.get().is_some_and(Option::is_none) {
                    alone.households = std::sync::OnceLock::new();
                }
            }
            None => {
                let mut columns = gathered.columns.clone();
                columns.fill(made);
                *gathered = Arc::new(Gathered {
                    columns,
                    households: std::sync::OnceLock::new(),
                });
            }
        }
    }

    /// One pass of `query` over the columns gathered so far, and the fields it read left out
    /// (its answer is wrong unless none).
    fn pass(
        &self,
        query: &KpiQuery,
        (registers, offers, volunteers): (
            &Registers,
            &crate::offers::Offers,
            &crate::volunteers::Volunteers,
        ),
    ) -> (Result<KpiResult, KpiError>, Fields) {
        debug_assert!(
            !kpi::reads_views(&query.key),
            "an indicator of the columns alone"
        );
        let gathered = lock(&self.gathered).clone();
        let population = kpi::Population {
            views: &[],
            columns: &gathered.columns,
            households: kpi::HouseholdsOf::OfColumns(&gathered.columns, &gathered.households),
        };
        let threads = threads_for(gathered.columns.len());
        let result = kpi::compute_kept(
            query,
            population,
            registers,
            offers,
            volunteers,
            (threads, kpi::Path::EveryPerson),
        );
        (result, gathered.columns.read_left_out())
    }
}

/// The kept rows of the past cuts as served, up to date with one checkpoint of the state
/// (`crate::kept_rows` builds and refreshes them off the query path).
#[derive(Debug)]
pub(crate) struct KeptHistory {
    pub(crate) history: History,
    /// The state's checkpoint the kept rows are up to date with.
    pub(crate) checkpoint: Option<Position>,
    /// How long their last whole build took (off the query path), and when it was served.
    pub(crate) built_in: std::time::Duration,
    pub(crate) served_at: std::time::Instant,
}

/// The latest transaction time of a journal's facts: a cut at or after it knows all of them. Not
/// simply the last fact's, as nothing here relies on a stream's `recorded_at` never going back.
fn latest_recorded<E, A>(journal: &Journal<E, A>) -> DateTime<Utc> {
    journal
        .facts
        .iter()
        .map(|fact| fact.recorded_at.time())
        .max()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Each view's row by person. Person ids are hashed as household ids are ([`UuidHasher`]), not
/// with SipHash: the index is built afresh for every cut, a million entries.
type Index = HashMap<PersonId, usize, BuildHasherDefault<UuidHasher>>;

/// The index of `views`.
fn index_of(views: &[PersonView]) -> Index {
    let mut index = Index::with_capacity_and_hasher(views.len(), BuildHasherDefault::default());
    index.extend(
        views
            .iter()
            .enumerate()
            .map(|(row, view)| (view.person, row)),
    );
    index
}

/// The threads to build the views of `persons` persons on, or to answer an indicator over them:
/// one below [`PARALLEL_VIEWS_FROM`].
fn threads_for(persons: usize) -> usize {
    if persons < PARALLEL_VIEWS_FROM {
        1
    } else {
        crate::parallel::threads()
    }
}

/// Indicator results by query text, for one checkpoint.
type ResultsByQuery = HashMap<String, Arc<KpiResult>>;

/// The caches behind the query methods of [`crate::Projections`].
#[derive(Debug, Default)]
pub(crate) struct QueryCache {
    /// Persons whose journals changed since the live views were last refreshed.
    pub(crate) dirty: Mutex<BTreeSet<PersonId>>,
    live: Mutex<Option<Arc<ViewSet>>>,
    past: Mutex<Vec<Arc<ViewSet>>>,
    /// Persons whose journals changed since the kept rows were last brought up to date (the
    /// runner marks them here as in `dirty`).
    pub(crate) history_dirty: Mutex<BTreeSet<PersonId>>,
    /// The kept rows as served, once built (`crate::kept_rows`): a query reads them, the
    /// background upkeep writes them for a refresh or a swap, never for a whole build.
    pub(crate) kept: RwLock<Option<KeptHistory>>,
    /// Counts the [`QueryCache::clear`]s: kept rows built from a state before one are not served.
    pub(crate) generation: AtomicU64,
    past_kept: Mutex<Vec<Arc<KeptCut>>>,
    /// The fields each indicator and breakdown read of the past cuts from the kept rows (by its
    /// key and breakdown): gathered first on the next cut ([`QueryCache::kpi_kept`]). Only a
    /// start: what a pass reads left out is gathered anyway.
    fields_read: Mutex<HashMap<String, Fields>>,
    results: Mutex<(Option<Position>, ResultsByQuery)>,
    /// Woken when a query on the live views found no steps for its indicator and breakdown
    /// (`crate::kept_steps` builds them).
    pub(crate) steps_wanted: Arc<tokio::sync::Notify>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl QueryCache {
    /// The views at `known_at` (`None`: the live cut), as of the current state.
    pub(crate) fn views(&self, state: &State, known_at: Option<DateTime<Utc>>) -> Arc<ViewSet> {
        match known_at {
            None => self.live(state),
            Some(known_at) if known_at >= LIVE => self.live(state),
            Some(known_at) => {
                // Brought up to date first (and outside the lock of the past cuts): a past cut is
                // derived from the live views of the same checkpoint.
                let live = self.live(state);
                let mut past = lock(&self.past);
                if let Some(found) = past
                    .iter()
                    .find(|set| set.known_at == known_at && set.checkpoint == state.checkpoint)
                {
                    return found.clone();
                }
                let built = Arc::new(ViewSet::past_cut(state, &live, known_at));
                past.retain(|set| set.checkpoint == state.checkpoint);
                if past.len() >= PAST_CUTS_MAX {
                    past.remove(0);
                }
                past.push(built.clone());
                built
            }
        }
    }

    /// The past cut `known_at` from the kept rows, as of the current state, when the kept rows
    /// are up to date with it; `None` while they are being built or lag the state (the caller
    /// answers from views then: no query waits for the kept rows).
    pub(crate) fn kept_cut(&self, state: &State, known_at: DateTime<Utc>) -> Option<Arc<KeptCut>> {
        debug_assert!(known_at < LIVE, "a past cut");
        let kept = read(&self.kept);
        let kept = kept
            .as_ref()
            .filter(|kept| kept.checkpoint == state.checkpoint)?;
        let mut past = lock(&self.past_kept);
        if let Some(found) = past.iter().find(|cut| {
            cut.known_at == known_at
                && cut.checkpoint == state.checkpoint
                && cut.is_of(&kept.history)
        }) {
            return Some(found.clone());
        }
        // The rows picked only: each indicator's pass gathers the fields it reads
        // (`QueryCache::kpi_kept`).
        let built = Arc::new(KeptCut::with_fields(
            state,
            &kept.history,
            known_at,
            Fields::NONE,
        ));
        past.retain(|cut| cut.checkpoint == state.checkpoint && cut.is_of(&kept.history));
        if past.len() >= PAST_CUTS_MAX {
            past.remove(0);
        }
        past.push(built.clone());
        Some(built)
    }

    fn live(&self, state: &State) -> Arc<ViewSet> {
        let mut live = lock(&self.live);
        let dirty = std::mem::take(&mut *lock(&self.dirty));
        match live.as_mut() {
            Some(set) if set.checkpoint == state.checkpoint && dirty.is_empty() => set.clone(),
            Some(set) => {
                // Shared by a query still running: that one keeps the old views, we refresh a copy.
                Arc::make_mut(set).refresh(state, &dirty);
                set.clone()
            }
            None => {
                let built = Arc::new(ViewSet::folded(state, LIVE));
                *live = Some(built.clone());
                built
            }
        }
    }

    /// Computes (or recalls) an indicator on `views`.
    pub(crate) fn kpi(
        &self,
        query: &KpiQuery,
        views: &ViewSet,
        registers: &Registers,
        offers: &crate::offers::Offers,
        volunteers: &crate::volunteers::Volunteers,
    ) -> Result<Arc<KpiResult>, KpiError> {
        let result = self.result(query, (views.checkpoint, views.erased_persons), || {
            views.compute(query, registers, offers, volunteers)
        });
        if views.wants_steps() {
            self.steps_wanted.notify_one();
        }
        result
    }

    /// Computes (or recalls) an indicator on a past cut from the kept rows, gathering the
    /// fields it reads ([`KeptCut::compute_from`]): first those it read on the cuts before, so
    /// that mostly one pass answers. `None` when the kept rows are no longer the ones the cut
    /// was made of (built again since: the caller answers from views).
    pub(crate) fn kpi_kept(
        &self,
        query: &KpiQuery,
        cut: &KeptCut,
        registers: &Registers,
        offers: &crate::offers::Offers,
        volunteers: &crate::volunteers::Volunteers,
    ) -> Result<Option<Arc<KpiResult>>, KpiError> {
        // Held while the pass runs (the upkeep's refresh waits for it): the fields are gathered
        // from these rows.
        let kept = read(&self.kept);
        let Some(kept) = kept.as_ref().filter(|kept| cut.is_of(&kept.history)) else {
            return Ok(None);
        };
        let read_before = format!("{} {:?}", query.key, query.by);
        self.result(query, (cut.checkpoint, cut.erased_persons), || {
            let known = lock(&self.fields_read).get(&read_before).copied();
            cut.gather(&kept.history, known.unwrap_or(Fields::NONE));
            let held = cut.fields();
            let result = cut.compute_from(&kept.history, query, registers, offers, volunteers)?;
            let read = known
                .unwrap_or(Fields::NONE)
                .with(cut.fields().without(held));
            let mut fields_read = lock(&self.fields_read);
            if fields_read.len() >= RESULTS_MAX {
                fields_read.clear();
            }
            fields_read.insert(read_before, read);
            Ok(result)
        })
        .map(Some)
    }

    /// The result of `query` at `checkpoint` (where `erased_persons` were erased), recalled or
    /// computed by `compute`.
    fn result(
        &self,
        query: &KpiQuery,
        (checkpoint, erased_persons): (Option<Position>, u64),
        compute: impl FnOnce() -> Result<KpiResult, KpiError>,
    ) -> Result<Arc<KpiResult>, KpiError> {
        let key = format!("{query:?}");
        {
            let mut results = lock(&self.results);
            if results.0 != checkpoint {
                *results = (checkpoint, HashMap::new());
            }
            if let Some(found) = results.1.get(&key) {
                return Ok(found.clone());
            }
        }
        let mut result = compute()?;
        result.metadata.erased_persons = erased_persons;
        let result = Arc::new(result);
        let mut results = lock(&self.results);
        if results.0 == checkpoint {
            if results.1.len() >= RESULTS_MAX {
                results.1.clear();
            }
            results.1.insert(key, result.clone());
        }
        Ok(result)
    }

    /// Forgets every cached view and result (after a rebuild swapped the state).
    pub(crate) fn clear(&self) {
        *lock(&self.live) = None;
        lock(&self.past).clear();
        *lock(&self.results) = (None, HashMap::new());
        lock(&self.dirty).clear();
        {
            let mut kept = write(&self.kept);
            self.generation.fetch_add(1, Ordering::SeqCst);
            *kept = None;
        }
        lock(&self.past_kept).clear();
        lock(&self.history_dirty).clear();
    }
}
