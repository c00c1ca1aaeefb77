//! Accumulating person contributions into cells, and turning cell counts into measures.
//!
//! An indicator writes one person's contribution into numbered count slots and sample slots of a
//! [`Contribution`] (reused across persons, so the hot loop does not allocate); the [`Table`]
//! adds it to the cell of the person's dimension values. When all persons are in, the margins and
//! the total are sums of the inner cells, which keeps every published figure additive: a margin
//! is exactly the sum of its cells, which is what disclosure control relies on.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use chrono::NaiveDate;
use journey_core::registers::Registers;

use super::columns::Row;
use super::dimension::{Dimension, Key};
use super::suppression::{Attribute, MeasureRule};
use super::{Cell, DimensionValue, Measure};

/// Count slots per cell; the largest indicator (`checklist_completion`) uses 34.
pub(crate) const COUNT_SLOTS: usize = 34;
/// Sample (duration) slots per cell; `chain_funnel` uses 5.
pub(crate) const SAMPLE_SLOTS: usize = 5;

/// Counts and duration samples of one cell, or of one person before they are added to a cell.
///
/// It knows which slots were written since it was cleared, so that clearing a person's
/// contribution and adding it to a cell touch those few slots only, not all 34 counts and 5
/// sample lists: for most indicators a person writes one or two slots, and these two steps were
/// most of the cost of a person. A slot never written holds 0 (or no sample).
#[derive(Debug, Clone)]
pub(crate) struct Contribution {
    counts: [u64; COUNT_SLOTS],
    samples: [Vec<i64>; SAMPLE_SLOTS],
    /// Bit `slot` for a count slot written, bit `COUNT_SLOTS + slot` for a sample slot.
    written: u64,
    /// The person would be in an age-based population but for an unknown birth year. Not part
    /// of any cell: the answer's metadata counts such persons.
    excluded_for_unknown_birth_year: bool,
}

// By hand: the standard library derives `Default` for arrays of at most 32 elements.
impl Default for Contribution {
    fn default() -> Self {
        Self {
            counts: [0; COUNT_SLOTS],
            samples: Default::default(),
            written: 0,
            excluded_for_unknown_birth_year: false,
        }
    }
}

/// The slots whose bits are set in `written`, lowest first: `(true, slot)` for a count slot,
/// `(false, slot)` for a sample slot.
fn slots(mut written: u64) -> impl Iterator<Item = (bool, usize)> {
    std::iter::from_fn(move || {
        if written == 0 {
            return None;
        }
        let bit = written.trailing_zeros() as usize;
        written &= written - 1;
        Some(if bit < COUNT_SLOTS {
            (true, bit)
        } else {
            (false, bit - COUNT_SLOTS)
        })
    })
}

const _: () = assert!(COUNT_SLOTS + SAMPLE_SLOTS <= 64, "every slot has a bit");

impl Contribution {
    pub(crate) fn clear(&mut self) {
        self.excluded_for_unknown_birth_year = false;
        for (count, slot) in slots(self.written) {
            if count {
                self.counts[slot] = 0;
            } else {
                self.samples[slot].clear();
            }
        }
        self.written = 0;
    }

    /// Adds one to a count slot.
    pub(crate) fn count(&mut self, slot: usize) {
        self.add(slot, 1);
    }

    pub(crate) fn add(&mut self, slot: usize, amount: u64) {
        self.counts[slot] += amount;
        self.written |= 1 << slot;
    }

    /// Records one duration in days.
    pub(crate) fn sample(&mut self, slot: usize, days: i64) {
        self.samples[slot].push(days);
        self.written |= 1 << (COUNT_SLOTS + slot);
    }

    /// Marks the person as left out of an age-based population for want of a birth year.
    pub(crate) fn exclude_for_unknown_birth_year(&mut self) {
        self.excluded_for_unknown_birth_year = true;
    }

    pub(crate) fn is_excluded_for_unknown_birth_year(&self) -> bool {
        self.excluded_for_unknown_birth_year
    }

    pub(crate) fn get(&self, slot: usize) -> u64 {
        self.counts[slot]
    }

    /// The count slots written and their counts, lowest slot first.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        slots(self.written)
            .filter(|(count, _)| *count)
            .map(|(_, slot)| (slot, self.counts[slot]))
    }

    pub(crate) fn is_touched(&self) -> bool {
        self.written != 0
    }

    /// A fingerprint of this contribution in the cell `cell` (its dimension keys): equal
    /// fingerprints mean, but for a 64-bit collision, the same cell and the same counts.
    pub(crate) fn fingerprint(&self, cell: &[Key<'_>]) -> u64 {
        // SipHash with fixed keys: the same input gives the same fingerprint in every process.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        cell.hash(&mut hasher);
        self.counts.hash(&mut hasher);
        self.samples.hash(&mut hasher);
        hasher.finish()
    }

    fn merge(&mut self, other: &Contribution) {
        for (count, slot) in slots(other.written) {
            if count {
                self.counts[slot] += other.counts[slot];
            } else {
                self.samples[slot].extend_from_slice(&other.samples[slot]);
            }
        }
        self.written |= other.written;
    }
}

/// Which quantile of a duration distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quantile {
    Median,
    P75,
}

impl Quantile {
    fn fraction(self) -> f64 {
        match self {
            Quantile::Median => 0.5,
            Quantile::P75 => 0.75,
        }
    }
}

/// Which shares of a cell disclosure control decides together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShareGroup {
    /// With every other share over the same denominator and persons: outcome shares (completed,
    /// left early, open) add up to their denominator, so the published ones would give a
    /// suppressed one as the rest. The safe choice, and the default.
    Denominator,
    /// On its own: no identity ties its numerator and those of the other shares over its
    /// denominator to the denominator (employed against marginal only; the funnel's stages), so
    /// publishing them recomputes nothing.
    Alone,
}

/// How a measure is computed from a cell's slots. `persons` is always the slot of the count that
/// disclosure control looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MeasureSpec {
    /// A number of persons.
    Count { name: &'static str, slot: usize },
    /// `numerator / denominator`.
    Share {
        name: &'static str,
        numerator: usize,
        denominator: usize,
        persons: usize,
        group: ShareGroup,
    },
    /// A quantile of durations.
    Quantile {
        name: &'static str,
        samples: usize,
        quantile: Quantile,
        persons: usize,
    },
    /// The share of idle durations above `days`, decided by the one idle rule
    /// ([`crate::models::is_idle_more_than`]) that the idle list and the people filter use too.
    ShareAbove {
        name: &'static str,
        samples: usize,
        days: u32,
        persons: usize,
    },
    /// `numerator / (denominator / periods)`: events per average stock over `periods` dates.
    PerAverage {
        name: &'static str,
        numerator: usize,
        denominator: usize,
        periods: u64,
        persons: usize,
    },
    /// An amount offered by organisations (places, hours), not about any person: its persons
    /// count is 0, so disclosure control never suppresses it for itself.
    Capacity { name: &'static str, slot: usize },
    /// What the persons in `demand` need beyond the `capacity` offered: `max(0, demand -
    /// capacity)`. With the capacity published, it discloses the demand whenever it is above 0,
    /// and the demand is the sum of the counts in the slots `parts` (one or more published
    /// counts): so the shortfall and those counts are decided together, as one group, and a
    /// part is never published beside a shortfall and the other parts that would give it away.
    Shortfall {
        name: &'static str,
        demand: usize,
        capacity: usize,
        persons: usize,
        parts: &'static [usize],
    },
}

impl MeasureSpec {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MeasureSpec::Count { name, .. }
            | MeasureSpec::Share { name, .. }
            | MeasureSpec::Quantile { name, .. }
            | MeasureSpec::ShareAbove { name, .. }
            | MeasureSpec::PerAverage { name, .. }
            | MeasureSpec::Capacity { name, .. }
            | MeasureSpec::Shortfall { name, .. } => name,
        }
    }

    /// How disclosure control treats the measure at `index` of `specs` besides its persons count.
    fn disclosure(specs: &[MeasureSpec], index: usize) -> MeasureRule {
        let own = MeasureRule {
            attribute: Attribute::None,
            group: index,
        };
        match specs[index] {
            MeasureSpec::Quantile { .. } | MeasureSpec::Capacity { .. } => own,
            MeasureSpec::Count { slot, .. } => {
                // A part of a shortfall's demand joins the shortfall's group.
                let shortfall = specs.iter().find_map(|other| match *other {
                    MeasureSpec::Shortfall { parts, .. } if parts.contains(&slot) => Some(parts),
                    _ => None,
                });
                match shortfall {
                    Some(parts) => MeasureRule {
                        group: Self::first_part(specs, parts).unwrap_or(index),
                        ..own
                    },
                    None => own,
                }
            }
            MeasureSpec::Shortfall { parts, .. } => MeasureRule {
                group: Self::first_part(specs, parts).unwrap_or(index),
                ..own
            },
            MeasureSpec::ShareAbove { .. } => MeasureRule {
                attribute: Attribute::Share,
                ..own
            },
            MeasureSpec::PerAverage { .. } => MeasureRule {
                attribute: Attribute::Numerator,
                ..own
            },
            MeasureSpec::Share {
                denominator,
                persons,
                group,
                ..
            } => {
                let together = |other: &MeasureSpec| {
                    matches!(*other, MeasureSpec::Share {
                        denominator: other_denominator,
                        persons: other_persons,
                        group: ShareGroup::Denominator,
                        ..
                    } if other_denominator == denominator && other_persons == persons)
                };
                let group = match group {
                    ShareGroup::Alone => index,
                    ShareGroup::Denominator => specs.iter().position(together).unwrap_or(index),
                };
                MeasureRule {
                    attribute: Attribute::Share,
                    group,
                }
            }
        }
    }

    /// The index of the first count measure over one of `parts`.
    fn first_part(specs: &[MeasureSpec], parts: &[usize]) -> Option<usize> {
        specs.iter().position(
            |spec| matches!(*spec, MeasureSpec::Count { slot, .. } if parts.contains(&slot)),
        )
    }

    /// The measure of a cell. A quantile reorders the cell's samples ([`percentile`]).
    fn measure(&self, cell: &mut Contribution) -> Measure {
        let measure = |value: Option<f64>, numerator, denominator, persons| Measure {
            name: self.name().to_owned(),
            value: value.map(round),
            numerator,
            denominator,
            persons: Some(persons),
            suppressed: false,
        };
        match *self {
            MeasureSpec::Count { slot, .. } => {
                let count = cell.get(slot);
                measure(Some(count as f64), Some(count), None, count)
            }
            MeasureSpec::Share {
                numerator,
                denominator,
                persons,
                ..
            } => {
                let (numerator, denominator) = (cell.get(numerator), cell.get(denominator));
                measure(
                    ratio(numerator, denominator),
                    Some(numerator),
                    Some(denominator),
                    cell.get(persons),
                )
            }
            MeasureSpec::Quantile {
                samples,
                quantile,
                persons,
                ..
            } => {
                let persons = cell.get(persons);
                let samples = &mut cell.samples[samples];
                measure(
                    percentile(samples, quantile.fraction()),
                    None,
                    Some(samples.len() as u64),
                    persons,
                )
            }
            MeasureSpec::ShareAbove {
                samples,
                days,
                persons,
                ..
            } => {
                let samples = &cell.samples[samples];
                let above = samples
                    .iter()
                    .filter(|sample| crate::models::is_idle_more_than(**sample, days))
                    .count() as u64;
                let count = samples.len() as u64;
                measure(
                    ratio(above, count),
                    Some(above),
                    Some(count),
                    cell.get(persons),
                )
            }
            MeasureSpec::PerAverage {
                numerator,
                denominator,
                periods,
                persons,
                ..
            } => {
                let (numerator, denominator) = (cell.get(numerator), cell.get(denominator));
                let value = (denominator > 0)
                    .then(|| numerator as f64 * periods as f64 / denominator as f64);
                measure(value, Some(numerator), Some(denominator), cell.get(persons))
            }
            MeasureSpec::Capacity { slot, .. } => {
                let amount = cell.get(slot);
                measure(Some(amount as f64), Some(amount), None, 0)
            }
            MeasureSpec::Shortfall {
                demand,
                capacity,
                persons,
                ..
            } => {
                let (demand, capacity) = (cell.get(demand), cell.get(capacity));
                let missing = demand.saturating_sub(capacity);
                measure(
                    Some(missing as f64),
                    Some(missing),
                    Some(capacity),
                    cell.get(persons),
                )
            }
        }
    }
}

/// Rounds to 4 decimals, so equal inputs print equal bytes and no float noise leaks out.
pub(crate) fn round(value: f64) -> f64 {
    let rounded = (value * 10_000.0).round() / 10_000.0;
    // Avoid printing `-0.0`.
    if rounded == 0.0 {
        0.0
    } else {
        rounded
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The quantile of samples by linear interpolation between closest ranks (the common "type 7"
/// definition: the median of an even count is the mean of the two middle values). The two ranks
/// are found by selection, not by sorting: linear in the samples rather than `n log n` (a total
/// pools every person's durations), with the same values as in the sorted samples. The samples
/// are left reordered.
pub(crate) fn percentile(samples: &mut [i64], fraction: f64) -> Option<f64> {
    let last = samples.len().checked_sub(1)?;
    let position = last as f64 * fraction;
    let lower = position.floor() as usize;
    let weight = position - lower as f64;
    let (_, at_lower, above) = samples.select_nth_unstable(lower);
    let at_lower = *at_lower;
    // The next rank is the least sample above the lower one (none when the lower is the last).
    let at_upper = above.iter().copied().min().unwrap_or(at_lower);
    Some(at_lower as f64 + weight * (at_upper - at_lower) as f64)
}

/// A fast, deterministic hasher for the small keys of the cell map (a multiply-rotate hash in the
/// style of rustc's FxHasher, with a finalizer so small numbers and short strings spread over the
/// buckets); the map is only looked up, never iterated, so its order is moot.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher {
    hash: u64,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn write_i32(&mut self, value: i32) {
        self.add(u64::from(value as u32));
    }

    fn finish(&self) -> u64 {
        crate::view::mix(self.hash)
    }
}

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type CellKey<'a> = [Key<'a>; 2];

/// The cells of one query while persons are added.
#[derive(Debug)]
pub(crate) struct Table<'a> {
    dimensions: Vec<Dimension>,
    as_of: NaiveDate,
    /// The registers district values are resolved through (renames, merges, areas).
    registers: &'a Registers,
    index: HashMap<CellKey<'a>, usize, BuildHasherDefault<KeyHasher>>,
    cells: Vec<(CellKey<'a>, Contribution)>,
    /// For each dimension that [`Dimension::is_of_district`], its value by district code (the
    /// columns' codes) as met so far: named through the registers once per district and query
    /// rather than once per person.
    of_district: [Vec<Option<Key<'a>>>; 2],
}

/// The finished cells of a query, ready to become a result.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) cells: Vec<Cell>,
    pub(crate) margins: Vec<Cell>,
    pub(crate) total: Cell,
    /// The measures of a cell nobody contributed to: what a two-way cell that is not listed
    /// (zero) shows when disclosure control has to list it, suppressed in some measure.
    pub(crate) empty: Vec<Measure>,
    /// How disclosure control treats each measure besides its persons count.
    pub(crate) rules: Vec<MeasureRule>,
}

impl<'a> Table<'a> {
    pub(crate) fn new(
        dimensions: &[Dimension],
        as_of: NaiveDate,
        registers: &'a Registers,
    ) -> Self {
        Self {
            dimensions: dimensions.to_vec(),
            as_of,
            registers,
            index: HashMap::default(),
            cells: Vec::new(),
            of_district: Default::default(),
        }
    }

    /// Adds an organisation's contribution (an offer's capacity) to the cell of `district` in a
    /// table laid out by district alone; the district is named as a person's would be on D.
    pub(crate) fn add_in_district(
        &mut self,
        district: Option<&'a str>,
        contribution: &Contribution,
    ) {
        debug_assert_eq!(self.dimensions, [Dimension::District]);
        let key: CellKey<'a> = [
            district.map_or(Key::None, |district| {
                Dimension::district_key(district, self.as_of, self.registers)
            }),
            Key::None,
        ];
        self.add_key(key, contribution);
    }

    /// Adds a person's contribution to the cell of their dimension values.
    pub(crate) fn add(&mut self, row: Row<'a>, contribution: &Contribution) {
        if self.dimensions.is_empty() {
            self.add_to_the_only_cell(contribution);
            return;
        }
        // Unused dimensions take a fixed placeholder, so every key of a table has the same shape.
        let mut key: CellKey<'a> = [Key::None; 2];
        for ((slot, dimension), known) in key
            .iter_mut()
            .zip(&self.dimensions)
            .zip(&mut self.of_district)
        {
            *slot = if dimension.is_of_district() {
                match row.district_code(self.as_of) {
                    Some(code) => {
                        let index = code as usize;
                        if known.len() <= index {
                            known.resize(index + 1, None);
                        }
                        *known[index].get_or_insert_with(|| {
                            dimension.of_district(row.name(code), self.as_of, self.registers)
                        })
                    }
                    None => Key::None,
                }
            } else {
                dimension.key(row, self.as_of, self.registers)
            };
        }
        self.add_key(key, contribution);
    }

    /// Adds counts to the cell of the dimension values `key` (one per dimension of the table,
    /// the rest [`Key::None`]), as [`Table::add`] adds a person's to the cell of theirs.
    pub(crate) fn add_cell(&mut self, key: CellKey<'a>, contribution: &Contribution) {
        if self.dimensions.is_empty() {
            self.add_to_the_only_cell(contribution);
        } else {
            self.add_key(key, contribution);
        }
    }

    /// A table without dimensions has one cell only: no key to compute and nothing to look up.
    fn add_to_the_only_cell(&mut self, contribution: &Contribution) {
        match self.cells.first_mut() {
            Some((_, cell)) => cell.merge(contribution),
            None => {
                let mut cell = Contribution::default();
                cell.merge(contribution);
                self.cells.push(([Key::None; 2], cell));
            }
        }
    }

    fn add_key(&mut self, key: CellKey<'a>, contribution: &Contribution) {
        let next = self.cells.len();
        let index = *self.index.entry(key).or_insert(next);
        if index == next {
            self.cells.push((key, Contribution::default()));
        }
        self.cells[index].1.merge(contribution);
    }

    /// Adds the cells of `other`, a table of the same query over other persons: each cell to the
    /// cell of the same key. Counts add and samples are pooled (in no order: a quantile selects
    /// its ranks when the cells are finished), so merging the tables of shares gives the table of all their persons.
    pub(crate) fn merge(&mut self, other: Table<'a>) {
        debug_assert_eq!(self.dimensions, other.dimensions, "tables of one query");
        for (key, cell) in other.cells {
            if self.dimensions.is_empty() {
                self.add_to_the_only_cell(&cell);
            } else {
                self.add_key(key, &cell);
            }
        }
    }

    /// Sorts the cells, derives margins and the total, and computes every measure.
    pub(crate) fn finish(self, specs: &[MeasureSpec]) -> Layout {
        let Table {
            dimensions,
            mut cells,
            ..
        } = self;
        cells.sort_by(|left, right| left.0.cmp(&right.0));

        let mut total = Contribution::default();
        let mut rows: BTreeMap<Key<'a>, Contribution> = BTreeMap::new();
        let mut columns: BTreeMap<Key<'a>, Contribution> = BTreeMap::new();
        for (key, cell) in &cells {
            total.merge(cell);
            if dimensions.len() == 2 {
                rows.entry(key[0]).or_default().merge(cell);
                columns.entry(key[1]).or_default().merge(cell);
            }
        }

        let finish_cell = |values: Vec<DimensionValue>, mut cell: Contribution| Cell {
            dimensions: values,
            measures: specs.iter().map(|spec| spec.measure(&mut cell)).collect(),
        };
        let value = |dimension: Dimension, key: Key<'_>| DimensionValue {
            dimension,
            value: dimension.label(key),
        };

        let margins = if dimensions.len() == 2 {
            let first = rows
                .into_iter()
                .map(|(key, cell)| finish_cell(vec![value(dimensions[0], key)], cell));
            let second = columns
                .into_iter()
                .map(|(key, cell)| finish_cell(vec![value(dimensions[1], key)], cell));
            first.chain(second).collect()
        } else {
            Vec::new()
        };
        let inner = if dimensions.is_empty() {
            Vec::new()
        } else {
            cells
                .into_iter()
                .map(|(key, cell)| {
                    let values = dimensions
                        .iter()
                        .zip(key)
                        .map(|(dimension, key)| value(*dimension, key))
                        .collect();
                    finish_cell(values, cell)
                })
                .collect()
        };
        Layout {
            cells: inner,
            margins,
            total: finish_cell(Vec::new(), total),
            empty: finish_cell(Vec::new(), Contribution::default()).measures,
            rules: (0..specs.len())
                .map(|index| MeasureSpec::disclosure(specs, index))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition: the ranks read off the sorted samples.
    fn sorted_percentile(samples: &[i64], fraction: f64) -> Option<f64> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        let position = last as f64 * fraction;
        let lower = position.floor() as usize;
        let upper = (lower + 1).min(last);
        let weight = position - lower as f64;
        Some(sorted[lower] as f64 + weight * (sorted[upper] - sorted[lower]) as f64)
    }

    proptest! {
        #[test]
        fn a_selected_quantile_equals_the_one_of_the_sorted_samples(
            samples in proptest::collection::vec(-50i64..4_000, 0..200),
            fraction in prop_oneof![Just(0.5), Just(0.75), 0.0f64..=1.0],
        ) {
            let expected = sorted_percentile(&samples, fraction);
            let mut reordered = samples.clone();
            let selected = percentile(&mut reordered, fraction);
            prop_assert_eq!(selected.map(f64::to_bits), expected.map(f64::to_bits));
        }
    }
}
