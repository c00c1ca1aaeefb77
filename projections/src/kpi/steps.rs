//! Indicators answered for any D without a pass over the persons (issue 11).
//!
//! For some indicators what a person counts, and in which cell, is a step function of the
//! reporting date D: it changes only on the days the person's columns hold (an arrival, a move
//! away, a district or protection status recorded, a job or Kita place starting or ending) and
//! on New Year's Day (age and age band are year(D) − birth year). [`Indicator::is_step`] names
//! them: `population_present`, `employment_rate` and `kita_rate`; tables by any dimension but
//! the years since arrival or entry (whose steps are each person's anniversaries).
//!
//! For such an indicator and the dimensions of a table, [`Steps`] keeps, per cell of raw
//! dimension values (a district or nationality as a name code of the steps' own, named through
//! the registers only when asked, as the registers name it on D), the days on which its counts
//! change and the counts from each of those days on (running sums). A query at D is one binary
//! search per cell (two while changes of later batches wait beside the sums, [`Cell`]). The steps
//! are found by evaluating the indicator's own `observe` ([`super::indicators`]) on each of a
//! person's step days, never by a second copy of its rule; `projections/tests/steps.rs` holds the
//! answers to the pass's for random populations, breakdowns, dates and batches.
//!
//! The steps cover the days from New Year's Day of the earliest year any row holds a date of, when
//! built, to the last day of the year after the latest; a D outside is answered by the pass over
//! the persons. A person's changes are evaluated from their state on the first day covered, so a
//! later batch with dates outside the span keeps the days inside right.
//!
//! Off the query path: [`LiveSteps`], kept with the live views, holds at most [`KEPT_MAX`] steps
//! (the least recently asked dropped first) at the live views' checkpoint. A query whose steps are
//! not held is answered by the pass and its indicator and breakdown are queued ([`WANTED_MAX`]);
//! `crate::kept_steps` builds them one at a time in the background from a snapshot of the live
//! views and brings them up to the live views' checkpoint before serving them. When the live views
//! are refreshed after a batch, every steps held is updated for the persons the batch touched
//! (their contributions before subtracted, after added) under the steps' lock, which a query only
//! tries: while it is held, or when the steps are not at the views' checkpoint, the pass answers.
//! A past `known_at` is always the pass (no steps are built for it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use journey_core::log::Position;
use journey_core::registers::Registers;

use super::columns::{Columns, Row};
use super::dimension::{Dimension, Key};
use super::indicators::{Context, Indicator};
use super::table::{Contribution, Table};
use super::{KpiMetadata, Population};

/// The count slots a step indicator may write (`kita_rate` writes four).
const SLOTS: usize = 4;
/// Per change: the persons touched in the cell (the cell exists when there are some), then the
/// count slots.
const WIDTH: usize = 1 + SLOTS;
/// The most steps the live views keep (an indicator by a breakdown each).
pub(crate) const KEPT_MAX: usize = 8;
/// The most indicators and breakdowns waiting for their steps to be built.
pub(crate) const WANTED_MAX: usize = 8;
/// Changes of later batches wait beside a cell's running sums until they are more than this many
/// and an eighth of the sums' days; then they are summed in.
const PENDING_MIN: usize = 64;

type Counts = [i32; WIDTH];
/// From a day on, counts added (or taken away).
type Change = (i32, Counts);

/// A dimension value as kept: a name code of the steps where the value is named from one, so
/// the registers are applied at the query's D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Raw {
    /// A dimension of the district ([`Dimension::is_of_district`]): the district code on the day.
    District(Option<u32>),
    /// The nationality's code.
    Name(u32),
    /// Any other value (these do not borrow).
    Value(Key<'static>),
}

type RawCell = [Raw; 2];

/// The running sums of a list of changes over the days they fall on.
#[derive(Debug, Default)]
struct Series {
    /// Ascending day numbers ([`day_number`]).
    days: Vec<i32>,
    /// `WIDTH` sums per day: the counts from that day on.
    sums: Vec<i32>,
}

impl Series {
    /// From unordered changes.
    fn of(mut changes: Vec<Change>) -> Self {
        changes.sort_unstable_by_key(|(day, _)| *day);
        let mut series = Series::default();
        let mut running = [0i32; WIDTH];
        for (day, deltas) in changes {
            for (sum, delta) in running.iter_mut().zip(deltas) {
                *sum += delta;
            }
            if series.days.last() == Some(&day) {
                let at = series.sums.len() - WIDTH;
                series.sums[at..].copy_from_slice(&running);
            } else {
                series.days.push(day);
                series.sums.extend_from_slice(&running);
            }
        }
        series.days.shrink_to_fit();
        series.sums.shrink_to_fit();
        series
    }

    /// The changes the sums were made of, one a day.
    fn changes(&self) -> Vec<Change> {
        let mut before = [0i32; WIDTH];
        let mut changes = Vec::with_capacity(self.days.len());
        for (day, sums) in self.days.iter().zip(self.sums.chunks_exact(WIDTH)) {
            let mut deltas = [0i32; WIDTH];
            for ((delta, sum), before) in deltas.iter_mut().zip(sums).zip(&mut before) {
                *delta = sum - *before;
                *before = *sum;
            }
            changes.push((*day, deltas));
        }
        changes
    }

    /// The counts on day `day`.
    fn at(&self, day: i32) -> Counts {
        let mut counts = [0; WIDTH];
        let changed = self.days.partition_point(|&change| change <= day);
        if let Some(last) = changed.checked_sub(1) {
            counts.copy_from_slice(&self.sums[last * WIDTH..(last + 1) * WIDTH]);
        }
        counts
    }

    fn heap_bytes(&self) -> usize {
        (self.days.capacity() + self.sums.capacity()) * std::mem::size_of::<i32>()
    }
}

/// One cell's counts over the days: running sums, and beside them the changes of the batches
/// applied since they were summed (summed on their own), so a batch costs the cell a sort of those
/// few, not of all its days.
#[derive(Debug, Default)]
struct Cell {
    summed: Series,
    pending: Vec<Change>,
    pending_sums: Series,
}

impl Cell {
    fn apply(&mut self, mut changes: Vec<Change>) {
        self.pending.append(&mut changes);
        if self.pending.len() > PENDING_MIN.max(self.summed.days.len() / 8) {
            let mut all = self.summed.changes();
            all.append(&mut self.pending);
            self.summed = Series::of(all);
            self.pending = Vec::new();
            self.pending_sums = Series::default();
        } else {
            self.pending_sums = Series::of(self.pending.clone());
        }
    }

    fn at(&self, day: i32) -> Counts {
        let mut counts = self.summed.at(day);
        for (count, pending) in counts.iter_mut().zip(self.pending_sums.at(day)) {
            *count += pending;
        }
        counts
    }

    fn heap_bytes(&self) -> usize {
        self.summed.heap_bytes()
            + self.pending_sums.heap_bytes()
            + self.pending.capacity() * std::mem::size_of::<Change>()
    }
}

/// The day number of a date (days from the common era).
fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

/// The days steps cover, and the New Year's Days among them.
#[derive(Debug, Clone)]
struct Span {
    first: NaiveDate,
    last: NaiveDate,
    new_years: Vec<NaiveDate>,
}

impl Span {
    fn of(population: Population<'_>) -> Self {
        let (first, last) =
            date_span(population).map_or((NaiveDate::MIN, NaiveDate::MIN), |(earliest, latest)| {
                (
                    NaiveDate::from_ymd_opt(earliest.year(), 1, 1).unwrap_or(NaiveDate::MIN),
                    NaiveDate::from_ymd_opt(latest.year() + 1, 12, 31).unwrap_or(NaiveDate::MIN),
                )
            });
        let new_years = (first.year() + 1..=last.year())
            .filter_map(|year| NaiveDate::from_ymd_opt(year, 1, 1))
            .collect();
        Span {
            first,
            last,
            new_years,
        }
    }
}

/// Changes by cell (of raw values with the codes of the columns they were read from), and of the
/// persons left out for an unknown birth year (slot 0).
#[derive(Debug, Default)]
struct Changes {
    cells: HashMap<RawCell, Vec<Change>>,
    excluded: Vec<Change>,
}

impl Changes {
    fn append(&mut self, other: Changes) {
        for (cell, mut changes) in other.cells {
            self.cells.entry(cell).or_default().append(&mut changes);
        }
        self.excluded.extend(other.excluded);
    }
}

/// What the persons of `rows` add to each cell over `span` (`sign` -1: what they take away), for
/// `indicator` by `dimensions`, evaluated with the indicator's own rule on each of their step days.
fn changes_of(
    (indicator, dimensions): (Indicator, &[Dimension]),
    span: &Span,
    population: Population<'_>,
    rows: impl Iterator<Item = usize>,
    sign: i32,
) -> Changes {
    let no_registers = Registers::default();
    let mut changes = Changes::default();
    let mut contexts: HashMap<NaiveDate, Context<'_>> = HashMap::new();
    let mut days = Vec::new();
    let mut contribution = Contribution::default();
    for at in rows {
        let Some(row) = Row::range(population.columns, population.views, at..at + 1).next() else {
            continue;
        };
        days.clear();
        days.push(span.first);
        days.extend_from_slice(&span.new_years);
        row.step_days(&mut days);
        days.retain(|day| span.first <= *day && *day <= span.last);
        days.sort_unstable();
        days.dedup();
        let mut before: Option<(RawCell, Counts)> = None;
        let mut was_excluded = false;
        for &day in &days {
            let context = contexts
                .entry(day)
                .or_insert_with(|| Context::new(day, population.households));
            contribution.clear();
            indicator.observe(context, row, &mut contribution);
            let now = contribution.is_touched().then(|| {
                let mut counts = [0; WIDTH];
                counts[0] = sign;
                for (slot, count) in contribution.counts() {
                    counts[1 + slot] = sign * i32::try_from(count).unwrap_or(i32::MAX);
                }
                (raw_cell(dimensions, row, day, &no_registers), counts)
            });
            let number = day_number(day);
            if now != before {
                if let Some((cell, counts)) = before {
                    let negated = counts.map(|count| -count);
                    changes
                        .cells
                        .entry(cell)
                        .or_default()
                        .push((number, negated));
                }
                if let Some((cell, counts)) = now {
                    changes
                        .cells
                        .entry(cell)
                        .or_default()
                        .push((number, counts));
                }
                before = now;
            }
            let is_excluded = contribution.is_excluded_for_unknown_birth_year();
            if is_excluded != was_excluded {
                let mut delta = [0; WIDTH];
                delta[0] = if is_excluded { sign } else { -sign };
                changes.excluded.push((number, delta));
                was_excluded = is_excluded;
            }
        }
    }
    changes
}

/// One indicator by one set of dimensions, for every D from `first` to `last` of its span.
#[derive(Debug)]
pub(crate) struct Steps {
    indicator: Indicator,
    dimensions: Vec<Dimension>,
    span: Span,
    cells: HashMap<RawCell, Cell>,
    /// Slot 0: the persons left out for an unknown birth year.
    excluded: Cell,
    /// The districts and nationalities the cells name, by code, and their codes: the steps' own,
    /// so that they outlive the columns they were read from (laid out afresh when persons come).
    names: Vec<String>,
    codes: HashMap<String, u32>,
}

impl Steps {
    /// The bytes the steps hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.excluded.heap_bytes()
            + self
                .cells
                .values()
                .map(|cell| std::mem::size_of::<(RawCell, Cell)>() + cell.heap_bytes())
                .sum::<usize>()
            + self.names.iter().map(String::capacity).sum::<usize>()
    }

    /// The steps of `indicator` by `dimensions` over `population`, on `threads` threads.
    pub(crate) fn build(
        indicator: Indicator,
        dimensions: &[Dimension],
        population: Population<'_>,
        threads: usize,
    ) -> Self {
        let span = Span::of(population);
        let mut changes = Changes::default();
        for share in crate::parallel::map_shares(population.columns.len(), threads, |rows| {
            changes_of((indicator, dimensions), &span, population, rows, 1)
        }) {
            changes.append(share);
        }
        let mut steps = Steps {
            indicator,
            dimensions: dimensions.to_vec(),
            span,
            cells: HashMap::new(),
            excluded: Cell::default(),
            names: Vec::new(),
            codes: HashMap::new(),
        };
        steps.apply(changes, population.columns);
        steps
    }

    /// Brings the steps from the rows `before_rows` of `before` to the rows `after_rows` of
    /// `after`: the same persons (those a batch touched) as they were and as they are.
    fn update(
        &mut self,
        (before, before_rows): (Population<'_>, &[usize]),
        (after, after_rows): (Population<'_>, &[usize]),
    ) {
        let question = (self.indicator, self.dimensions.as_slice());
        let taken = changes_of(
            question,
            &self.span,
            before,
            before_rows.iter().copied(),
            -1,
        );
        let added = changes_of(question, &self.span, after, after_rows.iter().copied(), 1);
        self.apply(taken, before.columns);
        self.apply(added, after.columns);
    }

    /// Adds `changes`, read from `columns`, to the cells.
    fn apply(&mut self, changes: Changes, columns: &Columns) {
        for (cell, cell_changes) in changes.cells {
            let cell = self.own_codes(cell, columns);
            self.cells.entry(cell).or_default().apply(cell_changes);
        }
        if !changes.excluded.is_empty() {
            self.excluded.apply(changes.excluded);
        }
    }

    /// A cell of `columns`' codes in the steps' own codes.
    fn own_codes(&mut self, mut cell: RawCell, columns: &Columns) -> RawCell {
        for raw in &mut cell {
            let code = match raw {
                Raw::District(Some(code)) | Raw::Name(code) => code,
                Raw::District(None) | Raw::Value(_) => continue,
            };
            let name = columns.name(*code);
            *code = match self.codes.get(name) {
                Some(own) => *own,
                None => {
                    let own = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                    self.names.push(name.to_owned());
                    self.codes.insert(name.to_owned(), own);
                    own
                }
            };
        }
        cell
    }

    /// Adds every cell's counts on `as_of` to `table` and the persons left out to `metadata`;
    /// `false` (and nothing added) when `as_of` is outside the days the steps cover, or a cell
    /// names what `columns` (at the steps' checkpoint) do not.
    pub(crate) fn add_to<'a>(
        &self,
        as_of: NaiveDate,
        columns: &'a Columns,
        (dimensions, registers): (&[Dimension], &'a Registers),
        table: &mut Table<'a>,
        metadata: &mut KpiMetadata,
    ) -> bool {
        if as_of < self.span.first || as_of > self.span.last {
            return false;
        }
        let day = day_number(as_of);
        let mut found: Vec<([Key<'a>; 2], Counts)> = Vec::with_capacity(self.cells.len());
        for (raw, cell) in &self.cells {
            let counts = cell.at(day);
            if counts[0] <= 0 {
                continue;
            }
            let mut key = [Key::None; 2];
            for ((key, raw), dimension) in key.iter_mut().zip(raw).zip(dimensions) {
                let named = |code: u32| columns.named(&self.names[code as usize]);
                *key = match *raw {
                    Raw::District(None) => Key::None,
                    Raw::District(Some(code)) => match named(code) {
                        Some(name) => dimension.of_district(name, as_of, registers),
                        None => return false,
                    },
                    Raw::Name(code) => match named(code) {
                        Some(name) => Key::text(name),
                        None => return false,
                    },
                    Raw::Value(value) => value,
                };
            }
            found.push((key, counts));
        }
        metadata.unknown_birth_year_excluded += self.excluded.at(day)[0].max(0) as u64;
        let mut contribution = Contribution::default();
        for (key, counts) in found {
            contribution.clear();
            for (slot, count) in counts[1..].iter().enumerate() {
                if *count > 0 {
                    contribution.add(slot, *count as u64);
                }
            }
            table.add_cell(key, &contribution);
        }
        true
    }
}

/// The earliest and the latest of the rows' step days.
fn date_span(population: Population<'_>) -> Option<(NaiveDate, NaiveDate)> {
    let rows = 0..population.columns.len();
    let mut days = Vec::new();
    for row in Row::range(population.columns, population.views, rows) {
        row.step_days(&mut days);
        if days.len() > 2 {
            let (earliest, latest) = span(&days);
            days.clear();
            days.extend([earliest, latest]);
        }
    }
    (!days.is_empty()).then(|| span(&days))
}

fn span(days: &[NaiveDate]) -> (NaiveDate, NaiveDate) {
    let earliest = days.iter().min().copied().unwrap_or(NaiveDate::MIN);
    let latest = days.iter().max().copied().unwrap_or(NaiveDate::MIN);
    (earliest, latest)
}

/// The raw values of a person's cell on `on`.
fn raw_cell(dimensions: &[Dimension], row: Row<'_>, on: NaiveDate, none: &Registers) -> RawCell {
    let mut cell = [Raw::Value(Key::None); 2];
    for (raw, dimension) in cell.iter_mut().zip(dimensions) {
        *raw = if dimension.is_of_district() {
            Raw::District(row.district_code(on))
        } else if *dimension == Dimension::Nationality {
            Raw::Name(row.nationality_code())
        } else {
            // The other dimensions' keys borrow nothing (`Key::detached`).
            Raw::Value(dimension.key(row, on, none).detached())
        };
    }
    cell
}

/// Whether `indicator` by `dimensions` is answered from [`Steps`].
pub(crate) fn applies(indicator: Indicator, dimensions: &[Dimension]) -> bool {
    indicator.is_step()
        && dimensions.iter().all(|dimension| {
            !matches!(
                dimension,
                Dimension::YearsSinceArrival | Dimension::YearsSinceEntry
            )
        })
}

/// The indicator and dimensions steps are built for.
type Question = (Indicator, Vec<Dimension>);

/// The steps kept with the live views, at their checkpoint, and the questions waiting for steps.
#[derive(Debug, Default)]
pub(crate) struct LiveSteps {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// The live views' checkpoint the steps are at.
    checkpoint: Option<Position>,
    /// The steps, each with when it was last asked (of `asked`).
    held: Vec<(Steps, u64)>,
    wanted: VecDeque<Question>,
    asked: u64,
    /// How long the last batch's update took (its two halves, without the views' refresh
    /// between them).
    updated_in: Duration,
}

/// What the live views' steps hold ([`crate::Projections::steps_held`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepsHeld {
    /// The steps held (an indicator by a breakdown each).
    pub held: usize,
    pub heap_bytes: usize,
    /// How long the last batch's update of them took.
    pub updated_in: Duration,
}

/// Steps built off the query path from the live views at `checkpoint`, not yet served
/// ([`crate::ViewSet::build_wanted_steps`]).
#[derive(Debug)]
pub struct BuiltSteps {
    steps: Box<Steps>,
    checkpoint: Option<Position>,
}

impl BuiltSteps {
    /// The live views' checkpoint the steps are at.
    pub fn checkpoint(&self) -> Option<Position> {
        self.checkpoint
    }

    /// Brings the steps from the rows `before_rows` of `before` (the views they were built
    /// from) to the rows `after_rows` of `after` (the same persons, at `checkpoint`).
    pub(crate) fn catch_up(
        &mut self,
        checkpoint: Option<Position>,
        before: (Population<'_>, &[usize]),
        after: (Population<'_>, &[usize]),
    ) {
        self.steps.update(before, after);
        self.checkpoint = checkpoint;
    }
}

/// An update of the live steps by a batch: the persons' contributions before the batch are taken
/// away when it starts, the ones after added by [`Update::finish`]; the lock is held between, so
/// no query reads steps halfway (a query only tries the lock).
pub(crate) struct Update<'s> {
    kept: MutexGuard<'s, Kept>,
    /// The time its first half took.
    taken_in: Duration,
}

impl Update<'_> {
    /// Adds the contributions of the persons at `after_rows` of `after` (the live views after
    /// the batch, at `checkpoint`) and serves the steps at that checkpoint.
    pub(crate) fn finish(
        mut self,
        checkpoint: Option<Position>,
        after: Population<'_>,
        after_rows: &[usize],
    ) {
        let started = Instant::now();
        for (steps, _) in &mut self.kept.held {
            let question = (steps.indicator, steps.dimensions.as_slice());
            let added = changes_of(question, &steps.span, after, after_rows.iter().copied(), 1);
            steps.apply(added, after.columns);
        }
        self.kept.checkpoint = checkpoint;
        self.kept.updated_in = self.taken_in + started.elapsed();
    }
}

impl LiveSteps {
    /// No steps yet, at the live views' `checkpoint`.
    pub(crate) fn at(checkpoint: Option<Position>) -> Self {
        LiveSteps {
            kept: Mutex::new(Kept {
                checkpoint,
                ..Kept::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fills `table` and `metadata` with the counts of `indicator` by `dimensions` on `as_of`
    /// from the steps held at `checkpoint`. `false`, and nothing filled, when they do not answer
    /// (none held at this checkpoint, the lock busy with a batch, D outside their span): the
    /// caller passes over the persons. Steps not held are queued to be built off the query path.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn answer<'a>(
        &self,
        checkpoint: Option<Position>,
        indicator: Indicator,
        (dimensions, registers): (&[Dimension], &'a Registers),
        as_of: NaiveDate,
        columns: &'a Columns,
        (table, metadata): (&mut Table<'a>, &mut KpiMetadata),
    ) -> bool {
        if !applies(indicator, dimensions) {
            return false;
        }
        let mut kept = match self.kept.try_lock() {
            Ok(kept) => kept,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        if kept.checkpoint != checkpoint {
            return false;
        }
        kept.asked += 1;
        let asked = kept.asked;
        let held = kept
            .held
            .iter_mut()
            .find(|(steps, _)| steps.indicator == indicator && steps.dimensions == dimensions);
        match held {
            Some((steps, last_asked)) => {
                *last_asked = asked;
                steps.add_to(as_of, columns, (dimensions, registers), table, metadata)
            }
            None => {
                let question = (indicator, dimensions.to_vec());
                if !kept.wanted.contains(&question) && kept.wanted.len() < WANTED_MAX {
                    kept.wanted.push_back(question);
                }
                false
            }
        }
    }

    /// Whether steps of `indicator` by `dimensions` are held at `checkpoint` and cover `as_of`.
    pub(crate) fn holds(
        &self,
        checkpoint: Option<Position>,
        indicator: Indicator,
        dimensions: &[Dimension],
        as_of: NaiveDate,
    ) -> bool {
        let kept = self.lock();
        kept.checkpoint == checkpoint
            && kept.held.iter().any(|(steps, _)| {
                steps.indicator == indicator
                    && steps.dimensions == dimensions
                    && steps.span.first <= as_of
                    && as_of <= steps.span.last
            })
    }

    /// Whether a question waits for its steps; `true` while the lock is busy (asked on the query
    /// path, which waits for nothing: a needless wake-up of the builder costs a look).
    pub(crate) fn is_wanted(&self) -> bool {
        match self.kept.try_lock() {
            Ok(kept) => !kept.wanted.is_empty(),
            Err(TryLockError::Poisoned(poisoned)) => !poisoned.into_inner().wanted.is_empty(),
            Err(TryLockError::WouldBlock) => true,
        }
    }

    /// Builds the steps of the first question waiting, over `population` at `checkpoint`, on
    /// `threads` threads (without holding the lock).
    pub(crate) fn build_wanted(
        &self,
        checkpoint: Option<Position>,
        population: Population<'_>,
        threads: usize,
    ) -> Option<BuiltSteps> {
        let (indicator, dimensions) = {
            let mut kept = self.lock();
            loop {
                let question = kept.wanted.pop_front()?;
                let held = kept.held.iter().any(|(steps, _)| {
                    steps.indicator == question.0 && steps.dimensions == question.1
                });
                if !held {
                    break question;
                }
            }
        };
        Some(BuiltSteps {
            steps: Box::new(Steps::build(indicator, &dimensions, population, threads)),
            checkpoint,
        })
    }

    /// Serves `built` when it is at the steps' checkpoint (else gives it back), dropping the
    /// least recently asked steps beyond [`KEPT_MAX`].
    pub(crate) fn install(&self, built: BuiltSteps) -> Result<(), BuiltSteps> {
        let mut kept = self.lock();
        if kept.checkpoint != built.checkpoint {
            return Err(built);
        }
        let asked = kept.asked;
        let steps = built.steps;
        kept.held.retain(|(held, _)| {
            !(held.indicator == steps.indicator && held.dimensions == steps.dimensions)
        });
        if kept.held.len() >= KEPT_MAX {
            if let Some(oldest) = (0..kept.held.len()).min_by_key(|at| kept.held[*at].1) {
                kept.held.remove(oldest);
            }
        }
        kept.held.push((*steps, asked));
        Ok(())
    }

    /// Starts the update for a batch: the contributions of the persons at `before_rows` of
    /// `before` (the live views at `checkpoint`, before the batch) are taken away from every
    /// steps held. Steps not at `checkpoint` are dropped (never a stale answer).
    pub(crate) fn begin_update(
        &self,
        checkpoint: Option<Position>,
        before: Population<'_>,
        before_rows: &[usize],
    ) -> Update<'_> {
        let mut kept = self.lock();
        let started = Instant::now();
        if kept.checkpoint != checkpoint {
            kept.held.clear();
        }
        for (steps, _) in &mut kept.held {
            let question = (steps.indicator, steps.dimensions.as_slice());
            let taken = changes_of(
                question,
                &steps.span,
                before,
                before_rows.iter().copied(),
                -1,
            );
            steps.apply(taken, before.columns);
        }
        Update {
            kept,
            taken_in: started.elapsed(),
        }
    }

    /// What the steps hold.
    pub(crate) fn held(&self) -> StepsHeld {
        let kept = self.lock();
        StepsHeld {
            held: kept.held.len(),
            heap_bytes: kept.held.iter().map(|(steps, _)| steps.heap_bytes()).sum(),
            updated_in: kept.updated_in,
        }
    }
}
