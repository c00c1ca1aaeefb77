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
//! dimension values (a district as the columns' code, named through the registers only when
//! asked, as the registers name it on D), the days on which its counts change and the counts from
//! each of those days on (running sums). A query at D is one binary search per cell. The steps are
//! found by evaluating the indicator's own `observe` ([`super::indicators`]) on each of a person's
//! step days, never by a second copy of its rule; `projections/tests/steps.rs` holds the answers
//! to the scan's for random populations, breakdowns and dates.
//!
//! The steps cover the days from New Year's Day of the earliest year any row holds a date of, to
//! the last day of the year after the latest; a D outside is answered by the pass over the
//! persons. They are built on the first query of an indicator and its dimensions at a cut, kept
//! with the cut's [`Columns`] and dropped when a row of them changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate};
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

type Counts = [i32; WIDTH];

/// A dimension value as kept: a code of the columns where the value is named from one, so
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

/// The running sums of one cell (or of the answer's metadata) over the days it changes.
#[derive(Debug, Default)]
struct Series {
    /// Ascending day numbers ([`day_number`]).
    days: Vec<i32>,
    /// `WIDTH` sums per day: the counts from that day on.
    sums: Vec<i32>,
}

impl Series {
    /// From unordered changes of `(day, deltas)`.
    fn of(mut changes: Vec<(i32, Counts)>) -> Self {
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

/// The day number of a date (days from the common era).
fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

/// One indicator by one set of dimensions, for every D from `first` to `last`.
#[derive(Debug)]
pub(crate) struct Steps {
    first: NaiveDate,
    last: NaiveDate,
    cells: Vec<(RawCell, Series)>,
    /// Slot 0: the persons left out for an unknown birth year.
    excluded: Series,
}

impl Steps {
    /// The bytes the steps hold.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.excluded.heap_bytes()
            + self
                .cells
                .iter()
                .map(|(_, series)| std::mem::size_of::<(RawCell, Series)>() + series.heap_bytes())
                .sum::<usize>()
    }

    /// The steps of `indicator` by `dimensions` over `population`, on `threads` threads.
    fn build(
        indicator: Indicator,
        dimensions: &[Dimension],
        population: Population<'_>,
        threads: usize,
    ) -> Self {
        let columns = population.columns;
        let (first, last) =
            date_span(population).map_or((NaiveDate::MIN, NaiveDate::MIN), |(earliest, latest)| {
                (
                    NaiveDate::from_ymd_opt(earliest.year(), 1, 1).unwrap_or(NaiveDate::MIN),
                    NaiveDate::from_ymd_opt(latest.year() + 1, 12, 31).unwrap_or(NaiveDate::MIN),
                )
            });
        let new_years: Vec<NaiveDate> = (first.year() + 1..=last.year())
            .filter_map(|year| NaiveDate::from_ymd_opt(year, 1, 1))
            .collect();
        let no_registers = Registers::default();
        let share = |rows: std::ops::Range<usize>| {
            let mut changes: HashMap<RawCell, Vec<(i32, Counts)>> = HashMap::new();
            let mut excluded: Vec<(i32, Counts)> = Vec::new();
            let mut contexts: HashMap<NaiveDate, Context<'_>> = HashMap::new();
            let mut days = Vec::new();
            let mut contribution = Contribution::default();
            for row in Row::range(columns, population.views, rows) {
                days.clear();
                days.push(first);
                days.extend_from_slice(&new_years);
                row.step_days(&mut days);
                days.retain(|day| first <= *day && *day <= last);
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
                        counts[0] = 1;
                        for (slot, count) in contribution.counts() {
                            counts[1 + slot] = i32::try_from(count).unwrap_or(i32::MAX);
                        }
                        (raw_cell(dimensions, row, day, &no_registers), counts)
                    });
                    let number = day_number(day);
                    if now != before {
                        if let Some((cell, counts)) = before {
                            let negated = counts.map(|count| -count);
                            changes.entry(cell).or_default().push((number, negated));
                        }
                        if let Some((cell, counts)) = now {
                            changes.entry(cell).or_default().push((number, counts));
                        }
                        before = now;
                    }
                    let is_excluded = contribution.is_excluded_for_unknown_birth_year();
                    if is_excluded != was_excluded {
                        let mut delta = [0; WIDTH];
                        delta[0] = if is_excluded { 1 } else { -1 };
                        excluded.push((number, delta));
                        was_excluded = is_excluded;
                    }
                }
            }
            (changes, excluded)
        };
        let mut changes: HashMap<RawCell, Vec<(i32, Counts)>> = HashMap::new();
        let mut excluded = Vec::new();
        for (share_changes, share_excluded) in
            crate::parallel::map_shares(columns.len(), threads, share)
        {
            for (cell, mut cell_changes) in share_changes {
                changes.entry(cell).or_default().append(&mut cell_changes);
            }
            excluded.extend(share_excluded);
        }
        Steps {
            first,
            last,
            cells: changes
                .into_iter()
                .map(|(cell, cell_changes)| (cell, Series::of(cell_changes)))
                .collect(),
            excluded: Series::of(excluded),
        }
    }

    /// Adds every cell's counts on `as_of` to `table` and the persons left out to `metadata`;
    /// `false` (and nothing added) when `as_of` is outside the days the steps cover.
    fn add_to<'a>(
        &self,
        as_of: NaiveDate,
        columns: &'a Columns,
        (dimensions, registers): (&[Dimension], &'a Registers),
        table: &mut Table<'a>,
        metadata: &mut KpiMetadata,
    ) -> bool {
        if as_of < self.first || as_of > self.last {
            return false;
        }
        let day = day_number(as_of);
        metadata.unknown_birth_year_excluded += self.excluded.at(day)[0] as u64;
        let mut contribution = Contribution::default();
        for (raw, series) in &self.cells {
            let counts = series.at(day);
            if counts[0] <= 0 {
                continue;
            }
            contribution.clear();
            for (slot, count) in counts[1..].iter().enumerate() {
                if *count > 0 {
                    contribution.add(slot, *count as u64);
                }
            }
            let mut key = [Key::None; 2];
            for ((key, raw), dimension) in key.iter_mut().zip(raw).zip(dimensions) {
                *key = match *raw {
                    Raw::District(None) => Key::None,
                    Raw::District(Some(code)) => {
                        dimension.of_district(columns.name(code), as_of, registers)
                    }
                    Raw::Name(code) => Key::text(columns.name(code)),
                    Raw::Value(value) => value,
                };
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

/// The steps built at one cut, by indicator and dimensions (kept with its [`Columns`]).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    built: Mutex<HashMap<Question, Arc<Steps>>>,
}

impl Cache {
    /// Forgets every steps built (a row of the columns changed).
    pub(crate) fn clear(&mut self) {
        self.built
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// The bytes of every steps built.
    pub(crate) fn heap_bytes(&self) -> usize {
        let built = self
            .built
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        built.values().map(|steps| steps.heap_bytes()).sum()
    }
}

// The steps are derived from the rows: a copy of the columns starts without them, and they never
// make two columns differ.
impl Clone for Cache {
    fn clone(&self) -> Self {
        Cache::default()
    }
}

impl PartialEq for Cache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Fills `table` and `metadata` with the persons' counts of `indicator` on `as_of` from the steps
/// kept with the population's columns (built now if they are not yet). `false`, and nothing
/// filled, when the steps do not answer this query: then the persons are passed over.
pub(crate) fn answer<'a>(
    indicator: Indicator,
    (dimensions, registers): (&[Dimension], &'a Registers),
    as_of: NaiveDate,
    population: Population<'a>,
    threads: usize,
    (table, metadata): (&mut Table<'a>, &mut KpiMetadata),
) -> bool {
    if !applies(indicator, dimensions) {
        return false;
    }
    let columns = population.columns;
    let steps = {
        let mut built = columns
            .steps()
            .built
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        built
            .entry((indicator, dimensions.to_vec()))
            .or_insert_with(|| Arc::new(Steps::build(indicator, dimensions, population, threads)))
            .clone()
    };
    steps.add_to(as_of, columns, (dimensions, registers), table, metadata)
}
