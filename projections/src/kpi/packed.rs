//! How [`super::Columns`] stores its fields: a [`Column`] of one value a row and a [`List`] of
//! entries a row, each either dense (the columns of a cut: one value or span a row) or sparse
//! (the kept rows of [`super::history::History`], a person's versions one after another: a value
//! or span only where a row differs from the row before it, so what consecutive versions have in
//! common is held once).
//!
//! Invariant: a sparse field holds a value from its first row on (the first row of each person is
//! pushed without a row to repeat), and is never replaced in place.
//!
//! A field of a past cut's columns may also be left out ([`Absent`]): the cut makes only the
//! fields its indicators read. A left-out field answers every row with one stand-in value (a
//! real row's, or no entries) and notes that it was read, so a pass that read one is known to
//! be wrong and is answered again once the field is made (`crate::KeptCut`).

use std::cell::Cell;
use std::ops::{Index, IndexMut};
use std::sync::atomic::{AtomicBool, Ordering};

use super::compact::{put_u64, Pack, Reader};

/// Where one row's entries lie in a [`List`]: `start..start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// The rows a sparse field's stored values begin at (empty for a dense field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Firsts(Vec<u32>);

impl Firsts {
    /// The position of the value row `row` reads: itself when dense, else the last stored at or
    /// before it.
    fn position(&self, row: usize) -> usize {
        if self.0.is_empty() {
            row
        } else {
            self.0.partition_point(|first| *first as usize <= row) - 1
        }
    }

    /// [`Firsts::position`] for a reader that walks rows mostly forward: `hint` is the position
    /// it read last (0 at first) and becomes this one. From there it gallops forward, so a walk
    /// over ascending rows costs about one step a row where a binary search over the whole field
    /// costs a cache miss a halving; a row behind the hint is found by that binary search.
    fn position_from(&self, row: usize, hint: &mut usize) -> usize {
        let firsts = &self.0;
        if firsts.is_empty() {
            return row;
        }
        let mut at = *hint;
        if at >= firsts.len() || firsts[at] as usize > row {
            at = self.position(row);
        } else {
            let mut step = 1;
            while at + step < firsts.len() && firsts[at + step] as usize <= row {
                at += step;
                step *= 2;
            }
            let end = (at + step).min(firsts.len());
            at += firsts[at..end].partition_point(|first| *first as usize <= row) - 1;
        }
        *hint = at;
        at
    }

    fn is_dense(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows the values begin at, each as its distance from the one before (one byte).
    fn pack(&self, out: &mut Vec<u8>) {
        put_u64(out, self.0.len() as u64);
        let mut before = 0;
        for first in &self.0 {
            put_u64(out, u64::from(first - before));
            before = *first;
        }
    }

    /// [`Firsts::pack`]'s rows read back (the field checks them, [`Firsts::check`]).
    fn unpack(input: &mut Reader) -> Result<Self, String> {
        let len = input.count()?;
        let mut firsts = Vec::with_capacity(len);
        let mut at = 0u32;
        for _ in 0..len {
            at = at
                .checked_add(input.u32()?)
                .ok_or("a sparse field's rows run past 2^32")?;
            firsts.push(at);
        }
        Ok(Firsts(firsts))
    }

    /// Checks that a field of `rows` rows (sparse or not) holding `stored` values or spans is
    /// laid out as this module builds it, so that no read of a row can fail: dense, a value a
    /// row; sparse, a value from row 0 on, the rows they begin at ascending and below `rows`.
    /// A field read back from a snapshot is checked so before it is used.
    fn check(&self, rows: usize, sparse: bool, stored: usize) -> Result<(), String> {
        let firsts = &self.0;
        if !sparse || rows == 0 {
            return if firsts.is_empty() && stored == rows {
                Ok(())
            } else {
                Err(format!(
                    "a dense field of {rows} rows holds {stored} values"
                ))
            };
        }
        if firsts.first() != Some(&0) {
            return Err("a sparse field holds no value at its first row".into());
        }
        if firsts.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err("a sparse field's rows do not ascend".into());
        }
        if firsts.last().is_some_and(|last| *last as usize >= rows) {
            return Err(format!(
                "a sparse field begins a value past its {rows} rows"
            ));
        }
        if stored != firsts.len() {
            return Err(format!(
                "a sparse field holds {stored} values for {} rows that begin one",
                firsts.len()
            ));
        }
        Ok(())
    }
}

/// Whether a field was left out of the columns it belongs to, and whether a reader has read it
/// since (`None`: the field is held). Reading a left-out field answers a stand-in, so what read
/// it is wrong and must be answered again; the flag says so. Every thread that reads it sets the
/// same flag: it is written once and only loaded after, so the readers do not contend for it.
#[derive(Debug, Default)]
pub(super) struct Absent(Option<AtomicBool>);

impl Absent {
    fn left_out() -> Self {
        Absent(Some(AtomicBool::new(false)))
    }

    /// Notes a read: of a left-out field, flagged (and counted on this thread, [`reading`]).
    #[inline]
    fn note(&self) {
        if let Some(read) = &self.0 {
            if !read.load(Ordering::Relaxed) {
                read.store(true, Ordering::Relaxed);
            }
            ABSENT_READS.with(|reads| reads.set(reads.get() + 1));
        }
    }

    fn is_left_out(&self) -> bool {
        self.0.is_some()
    }

    fn was_read(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|read| read.load(Ordering::Relaxed))
    }
}

impl Clone for Absent {
    /// A copy not read yet: the flag belongs to the readers of the original.
    fn clone(&self) -> Self {
        Absent(self.0.as_ref().map(|_| AtomicBool::new(false)))
    }
}

impl PartialEq for Absent {
    /// Held and left out differ; whether a left-out field was read does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.0.is_some() == other.0.is_some()
    }
}

impl Eq for Absent {}

thread_local! {
    /// The reads of left-out fields on this thread ([`reading`]).
    static ABSENT_READS: Cell<u64> = const { Cell::new(0) };
}

/// Runs `work` and says whether it read no left-out field on this thread: whether what it made
/// of the fields is right (the households a cut makes once, `kpi::HouseholdsOf`).
pub(crate) fn reading<R>(work: impl FnOnce() -> R) -> (R, bool) {
    let before = ABSENT_READS.with(Cell::get);
    let made = work();
    (made, ABSENT_READS.with(Cell::get) == before)
}

/// What a field of gathered columns is ([`Column::gathered`], [`List::gathered`]).
pub(super) trait Field {
    /// Whether the field was left out.
    fn is_left_out(&self) -> bool;
    /// Whether the field was left out and read since.
    fn was_read_left_out(&self) -> bool;
}

impl<T> Field for Column<T> {
    fn is_left_out(&self) -> bool {
        self.absent.is_left_out()
    }

    fn was_read_left_out(&self) -> bool {
        self.absent.was_read()
    }
}

impl<T> Field for List<T> {
    fn is_left_out(&self) -> bool {
        self.absent.is_left_out()
    }

    fn was_read_left_out(&self) -> bool {
        self.absent.was_read()
    }
}

/// One row of columns gathered from several ([`Column::gathered`], [`List::gathered`]): row
/// `row` of source `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pick {
    pub(crate) source: u32,
    pub(crate) row: u32,
}

/// A field of one value a row (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Column<T> {
    values: Vec<T>,
    firsts: Firsts,
    absent: Absent,
}

impl<T> Default for Column<T> {
    fn default() -> Self {
        Column {
            values: Vec::new(),
            firsts: Firsts::default(),
            absent: Absent::default(),
        }
    }
}

impl<T: PartialEq> Column<T> {
    pub(super) fn with_capacity(rows: usize) -> Self {
        Column {
            values: Vec::with_capacity(rows),
            ..Column::default()
        }
    }

    /// Adds a row holding `value` to a dense column.
    pub(super) fn push(&mut self, value: T) {
        debug_assert!(self.firsts.is_dense(), "a dense column");
        self.values.push(value);
    }

    /// Adds row `row` (the next) holding `value`: [`Column::push_sparse`] when `sparse`, else
    /// [`Column::push`] (and no row is repeated).
    pub(super) fn push_row(
        &mut self,
        row: usize,
        value: T,
        previous: Option<usize>,
        sparse: bool,
    ) -> bool {
        if sparse {
            self.push_sparse(row, value, previous)
        } else {
            debug_assert!(previous.is_none(), "a dense column repeats no row");
            self.push(value);
            false
        }
    }

    /// Adds row `row` (the next) holding `value` to a sparse column, storing it only when it
    /// differs from the value of `previous` (the row before, the same person's previous version).
    /// Returns whether it equals that row's.
    pub(super) fn push_sparse(&mut self, row: usize, value: T, previous: Option<usize>) -> bool {
        let repeats = previous.is_some_and(|previous| self[previous] == value);
        if !repeats {
            self.firsts.0.push(index(row));
            self.values.push(value);
        }
        repeats
    }

    /// Adds the rows of `other` after these rows, both dense: the rows of a later share of the
    /// same cut, built on another thread.
    pub(super) fn extend(&mut self, other: Column<T>) {
        debug_assert!(
            self.firsts.is_dense() && other.firsts.is_dense(),
            "dense columns"
        );
        self.values.extend(other.values);
    }

    /// Rewrites every stored value with `change` (a share's codes translated into the codes of
    /// the columns it joins).
    pub(super) fn change_each(&mut self, change: impl Fn(&mut T)) {
        self.values.iter_mut().for_each(change);
    }

    /// Built once and read by every query: no spare capacity.
    pub(super) fn shrink(&mut self) {
        self.values.shrink_to_fit();
        self.firsts.0.shrink_to_fit();
    }

    /// The heap bytes of the values and of the rows they begin at, at their capacities.
    pub(super) fn heap_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<T>()
            + self.firsts.0.capacity() * std::mem::size_of::<u32>()
    }
}

impl<T: Pack + PartialEq> Column<T> {
    /// The column's bytes in the snapshot: the rows its values begin at, then the values.
    pub(super) fn pack(&self, out: &mut Vec<u8>) {
        self.firsts.pack(out);
        put_u64(out, self.values.len() as u64);
        self.values.iter().for_each(|value| value.pack(out));
    }

    /// A column of `rows` rows read back from [`Column::pack`], its layout checked
    /// ([`Firsts::check`]; the caller checks the values' ranges).
    pub(super) fn unpack(input: &mut Reader, rows: usize, sparse: bool) -> Result<Self, String> {
        let firsts = Firsts::unpack(input)?;
        let len = input.count()?;
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            values.push(T::unpack(input)?);
        }
        firsts.check(rows, sparse, values.len())?;
        Ok(Column {
            values,
            firsts,
            absent: Absent::default(),
        })
    }
}

impl<T> Column<T> {
    /// Whether every stored value is `valid` (a code within its names).
    pub(super) fn all(&self, valid: impl Fn(&T) -> bool) -> bool {
        self.values.iter().all(valid)
    }

    /// Row `row`, read by a walk whose last position in this column is `hint`
    /// ([`Firsts::position_from`]).
    pub(super) fn at(&self, row: usize, hint: &mut usize) -> &T {
        self.absent.note();
        &self.values[self.firsts.position_from(row, hint)]
    }

    /// Takes `other`'s values when this field was left out and `other` holds it (the same rows,
    /// the field made later).
    pub(super) fn fill(&mut self, other: Column<T>) {
        if self.absent.is_left_out() && !other.absent.is_left_out() {
            *self = other;
        }
    }
}

impl<T: Clone> Column<T> {
    /// The dense column of the rows `picks` names, in order, each read from its source among
    /// `sources` (dense or sparse): one field at a time, with a walk a source
    /// ([`Firsts::position_from`]), so rows picked in ascending order from each source cost a
    /// step or two.
    pub(super) fn gathered(sources: &[&Column<T>], picks: &[Pick]) -> Self {
        let mut hints = vec![0; sources.len()];
        let mut values = Vec::with_capacity(picks.len());
        for pick in picks {
            let source = pick.source as usize;
            values.push(
                sources[source]
                    .at(pick.row as usize, &mut hints[source])
                    .clone(),
            );
        }
        Column {
            values,
            ..Column::default()
        }
    }

    /// The field left out ([`Absent`]): every row reads `stand_in` (`None`: no rows to read).
    pub(super) fn left_out(stand_in: Option<T>) -> Self {
        Column {
            values: stand_in.into_iter().collect(),
            firsts: Firsts(vec![0]),
            absent: Absent::left_out(),
        }
    }

    /// The value of the column's first row, if it has rows.
    pub(super) fn first(&self) -> Option<&T> {
        self.values.first()
    }
}

impl<T> Index<usize> for Column<T> {
    type Output = T;

    fn index(&self, row: usize) -> &T {
        self.absent.note();
        &self.values[self.firsts.position(row)]
    }
}

impl<T> IndexMut<usize> for Column<T> {
    /// Row `row` of a dense column, to replace in place.
    fn index_mut(&mut self, row: usize) -> &mut T {
        assert!(
            self.firsts.is_dense(),
            "only a dense column is replaced in place"
        );
        &mut self.values[row]
    }
}

/// A list field of every row, packed: each row's entries lie contiguously in `entries`, at its
/// span. A row replaced in place appends its new entries and leaves the old ones unused, until
/// the list is compacted. Sparse (see the module), a span is stored only for a row whose entries
/// differ from the row before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct List<T> {
    spans: Vec<Span>,
    firsts: Firsts,
    entries: Vec<T>,
    /// Entries no span points at any more.
    unused: usize,
    absent: Absent,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            spans: Vec::new(),
            firsts: Firsts::default(),
            entries: Vec::new(),
            unused: 0,
            absent: Absent::default(),
        }
    }
}

impl<T: Clone + PartialEq> List<T> {
    pub(super) fn with_rows(rows: usize) -> Self {
        List {
            spans: Vec::with_capacity(rows),
            ..List::default()
        }
    }

    fn append(&mut self, entries: impl IntoIterator<Item = T>) -> Span {
        let start = index(self.entries.len());
        self.entries.extend(entries);
        Span {
            start,
            len: index(self.entries.len()) - start,
        }
    }

    /// Adds a row holding `entries` to a dense list.
    pub(super) fn push(&mut self, entries: impl IntoIterator<Item = T>) {
        debug_assert!(self.firsts.is_dense(), "a dense list");
        let span = self.append(entries);
        self.spans.push(span);
    }

    /// Adds row `row` (the next) holding `entries`: [`List::push_sparse`] when `sparse`, else
    /// [`List::push`] (and no row is repeated).
    pub(super) fn push_row(
        &mut self,
        row: usize,
        entries: impl IntoIterator<Item = T>,
        previous: Option<usize>,
        sparse: bool,
    ) -> bool {
        if sparse {
            self.push_sparse(row, entries, previous)
        } else {
            debug_assert!(previous.is_none(), "a dense list repeats no row");
            self.push(entries);
            false
        }
    }

    /// Adds row `row` (the next) holding `entries` to a sparse list, storing them only when they
    /// differ from the entries of `previous` (the row before, the same person's previous
    /// version). Returns whether they equal that row's.
    pub(super) fn push_sparse(
        &mut self,
        row: usize,
        entries: impl IntoIterator<Item = T>,
        previous: Option<usize>,
    ) -> bool {
        let span = self.append(entries);
        if let Some(before) = previous.map(|previous| self.spans[self.firsts.position(previous)]) {
            if self.entries[before.range()] == self.entries[span.range()] {
                self.entries.truncate(span.start as usize);
                return true;
            }
        }
        self.firsts.0.push(index(row));
        self.spans.push(span);
        false
    }

    /// Replaces the entries of `row` of a dense list, compacting the list when over half of it
    /// is unused.
    pub(super) fn replace(&mut self, row: usize, entries: impl IntoIterator<Item = T>) {
        assert!(
            self.firsts.is_dense(),
            "only a dense list is replaced in place"
        );
        self.unused += self.spans[row].len as usize;
        self.spans[row] = self.append(entries);
        if self.unused * 2 > self.entries.len() {
            self.compact();
        }
    }

    /// Drops the entries no row points at, keeping the rows' order.
    fn compact(&mut self) {
        let mut kept = Vec::with_capacity(self.entries.len() - self.unused);
        for span in &mut self.spans {
            let start = index(kept.len());
            kept.extend_from_slice(&self.entries[span.range()]);
            span.start = start;
        }
        self.entries = kept;
        self.unused = 0;
    }

    /// Adds the rows of `other` after these rows, both dense: the rows of a later share of the
    /// same cut, built on another thread. Their entries follow these entries, so their spans move
    /// by this list's length; the result is laid out as if every row had been pushed here.
    pub(super) fn extend(&mut self, other: List<T>) {
        debug_assert!(
            self.firsts.is_dense() && other.firsts.is_dense(),
            "dense lists"
        );
        let offset = self.entries.len();
        self.entries.extend(other.entries);
        self.spans.extend(other.spans.into_iter().map(|span| Span {
            start: index(span.start as usize + offset),
            len: span.len,
        }));
        self.unused += other.unused;
    }

    /// Rewrites every stored entry with `change` (a share's codes translated into the codes of
    /// the columns it joins).
    pub(super) fn change_each(&mut self, change: impl Fn(&mut T)) {
        self.entries.iter_mut().for_each(change);
    }

    /// Built once and read by every query: no spare capacity.
    pub(super) fn shrink(&mut self) {
        self.entries.shrink_to_fit();
        self.spans.shrink_to_fit();
        self.firsts.0.shrink_to_fit();
    }

    /// The list's bytes in the snapshot: the rows its spans begin at, then each span as the
    /// number of entries it begins with in common with the span before (a person's next version
    /// mostly adds an entry to the list of the one before) and its further entries.
    pub(super) fn pack(&self, out: &mut Vec<u8>)
    where
        T: Pack,
    {
        self.firsts.pack(out);
        put_u64(out, self.spans.len() as u64);
        let mut before: &[T] = &[];
        for span in &self.spans {
            let entries = &self.entries[span.range()];
            let common = before
                .iter()
                .zip(entries)
                .take_while(|(before, entry)| before == entry)
                .count();
            put_u64(out, common as u64);
            put_u64(out, (entries.len() - common) as u64);
            entries[common..].iter().for_each(|entry| entry.pack(out));
            before = entries;
        }
    }

    /// A list of `rows` rows read back from [`List::pack`], laid out as one built (no unused
    /// entries), its layout checked ([`Firsts::check`]; the caller checks the entries' ranges).
    pub(super) fn unpack(input: &mut Reader, rows: usize, sparse: bool) -> Result<Self, String>
    where
        T: Pack,
    {
        let firsts = Firsts::unpack(input)?;
        let len = input.count()?;
        let mut list = List {
            spans: Vec::with_capacity(len),
            firsts,
            ..List::default()
        };
        let mut before = Span::default();
        for _ in 0..len {
            let common = input.count_up_to(before.len as usize)?;
            let further = input.count()?;
            let start = list.entries.len();
            list.entries
                .extend_from_within(before.start as usize..before.start as usize + common);
            for _ in 0..further {
                list.entries.push(T::unpack(input)?);
            }
            before = Span {
                start: index(start),
                len: index(list.entries.len() - start),
            };
            list.spans.push(before);
        }
        list.firsts.check(rows, sparse, list.spans.len())?;
        Ok(list)
    }

    /// Whether every stored entry is `valid` (a code within its names).
    pub(super) fn all(&self, valid: impl Fn(&T) -> bool) -> bool {
        self.entries.iter().all(valid)
    }

    pub(super) fn row(&self, row: usize) -> &[T] {
        self.absent.note();
        &self.entries[self.spans[self.firsts.position(row)].range()]
    }

    /// The entries of `row`, read by a walk whose last position in this list is `hint`
    /// ([`Firsts::position_from`]).
    pub(super) fn row_at(&self, row: usize, hint: &mut usize) -> &[T] {
        self.absent.note();
        &self.entries[self.spans[self.firsts.position_from(row, hint)].range()]
    }

    /// The field left out ([`Absent`]): every row reads no entries.
    pub(super) fn left_out() -> Self {
        List {
            spans: vec![Span::default()],
            firsts: Firsts(vec![0]),
            absent: Absent::left_out(),
            ..List::default()
        }
    }

    /// Takes `other`'s rows when this field was left out and `other` holds it (the same rows,
    /// the field made later).
    pub(super) fn fill(&mut self, other: List<T>) {
        if self.absent.is_left_out() && !other.absent.is_left_out() {
            *self = other;
        }
    }

    /// The dense list of the rows `picks` names, in order, each read from its source among
    /// `sources` (dense or sparse), as [`Column::gathered`].
    pub(super) fn gathered(sources: &[&List<T>], picks: &[Pick]) -> Self {
        let mut hints = vec![0; sources.len()];
        let mut list = List::with_rows(picks.len());
        for pick in picks {
            let source = pick.source as usize;
            let entries = sources[source].row_at(pick.row as usize, &mut hints[source]);
            let start = index(list.entries.len());
            list.entries.extend_from_slice(entries);
            list.spans.push(Span {
                start,
                len: index(entries.len()),
            });
        }
        list
    }

    /// The heap bytes of the spans (with the rows they begin at) and of the entries, at their
    /// capacities.
    pub(super) fn heap_bytes(&self) -> (usize, usize) {
        (
            self.spans.capacity() * std::mem::size_of::<Span>()
                + self.firsts.0.capacity() * std::mem::size_of::<u32>(),
            self.entries.capacity() * std::mem::size_of::<T>(),
        )
    }
}

/// A list position as stored in a [`Span`]; four thousand million entries are far beyond a Land.
fn index(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 2^32 entries in a column")
}

#[cfg(test)]
mod tests {
    use super::Firsts;
    use proptest::prelude::*;

    proptest! {
        /// A walk with a hint finds the position a binary search finds, for rows ascending,
        /// repeated or going back (the refreshed persons' rows are not in order).
        #[test]
        fn a_walk_with_a_hint_finds_what_the_binary_search_finds(
            gaps in proptest::collection::vec(1u32..6, 1..60),
            rows in proptest::collection::vec(0usize..400, 1..80),
        ) {
            let mut at = 0;
            let firsts = Firsts(
                std::iter::once(0)
                    .chain(gaps.iter().map(|gap| {
                        at += gap;
                        at
                    }))
                    .collect(),
            );
            let mut hint = 0;
            for row in rows {
                let expected = firsts.position(row);
                prop_assert_eq!(firsts.position_from(row, &mut hint), expected, "row {}", row);
                prop_assert_eq!(hint, expected);
            }
        }
    }
}
