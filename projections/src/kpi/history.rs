//! A past `known_at` as a filter over kept KPI rows instead of a fold (issue 11).
//!
//! A person's row at the cut `k` is a function of the facts recorded by `k`
//! ([`crate::temporal::effective`]). Once every correction and retraction of the person is known
//! (`k` at or after the latest of them), the effective facts at `k` are the live effective facts
//! recorded by `k`, in the same valid-time order (a subsequence of a sorted list keeps its order). When those are a prefix of the live effective
//! facts (no fact recorded after `k` sorts before one recorded by `k`), the row at `k` is the row
//! of the fold of that prefix, and the live fold passes through it: [`PersonView::fold_prefixes`]
//! hands out the view of every such prefix while folding once. Each prefix `facts[..j]` answers
//! the cuts from the latest transaction time in it to the earliest one after it; [`History`] keeps
//! the row of every prefix with such cuts, with that interval, and a past cut takes, for each
//! person, the row whose interval holds the cut.
//!
//! Corrections and retractions split a person's transaction time into stretches between them:
//! within one the same ones are known at every cut, so the same holds with the effective facts
//! known just before the stretch ends, and each stretch is folded once. The cuts no prefix answers
//! fall back to the fold at the cut ([`History::columns_at`] counts them): cuts between a late
//! entry's business date and its recording (a fact recorded after the cut that sorts before a
//! fact recorded by it). An erased person has no row at any cut, as the fold says.
//!
//! The kept rows share what consecutive versions of a person have in common: they are sparse
//! columns (`kpi::packed`), a person's rows one after another, each field stored only where it
//! differs from the row before (a list's entries and span, a value); a version whose row equals
//! the one before points at it, and versions that meet become one. The persons are cut into
//! shards built on every core ([`History::built_in_runs`] lends the journals a run of persons at a
//! time, so the running projections build them off the query path, `crate::kept_rows`).
//! [`History::refresh`] rebuilds the versions of persons whose journals changed; a cut picks each
//! person's row (kept, or folded at the cut), then gathers the columns a field at a time, each
//! source read by a walk of its own (`Columns::gathered`), the persons in order.
//! [`crate::KeptCut`] serves a past cut from it to the indicators that read no views.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use journey_core::catalogue::Event;
use journey_core::envelope::PersonId;

use super::compact::{put_i64, put_time_above, put_u64, take_time_from, Pack, Reader};
use super::packed::Pick;
use super::{Columns, Fields};
use crate::journal::{Journal, Journals, Store};
use crate::query::LIVE;
use crate::temporal::effective_in;
use crate::view::PersonView;

/// The transaction times from which and until which one kept row answers a cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    /// The first cut the row answers.
    from: DateTime<Utc>,
    /// The first cut after `from` the row no longer answers.
    until: DateTime<Utc>,
    /// The row in [`Shard::rows`]; `None`: no view at these cuts (no registration known).
    row: Option<u32>,
}

/// Every person's KPI rows at the cuts the live fold passes through (see the module).
///
/// Written to the projections' snapshot as it lies ([`History::to_snapshot_bytes`]) and read
/// back checked ([`History::from_snapshot_bytes`]), so a start with a snapshot refreshes only
/// the persons touched since instead of building it again.
#[derive(Debug)]
pub struct History {
    /// Which history this is, among every one made in the process ([`Picks`] name the one they
    /// pick from): refreshing one only appends rows, so picks stay right; one built again, read
    /// back or copied is another.
    id: u64,
    /// The persons cut into contiguous runs in person order, each built on a core of its own.
    shards: Vec<Shard>,
    /// The versions of the persons whose journals changed (or who came) since the shards were
    /// built, each rebuilt whole and appended; a person refreshed again is appended again.
    refreshed: Shard,
    /// Where each refreshed person's latest versions lie in `refreshed.persons`: they stand for
    /// the person's versions in the shards, if any.
    moved: HashMap<PersonId, u32>,
}

/// The kept rows of a contiguous run of persons.
#[derive(Debug, Clone, Default)]
struct Shard {
    /// The kept rows, sparse: a row per version whose row differs from the person's version
    /// before it, storing only the fields that changed.
    rows: Columns,
    /// Each person with the range of their versions in `versions`, in person order.
    persons: Vec<(PersonId, std::ops::Range<u32>)>,
    /// The versions of every person, each person's ordered by `from`, disjoint; consecutive
    /// versions of equal rows that meet are one.
    versions: Vec<Version>,
}

impl Clone for History {
    /// A copy is another history: refreshed apart from the original, its rows may differ.
    fn clone(&self) -> Self {
        History {
            id: next_id(),
            shards: self.shards.clone(),
            refreshed: self.refreshed.clone(),
            moved: self.moved.clone(),
        }
    }
}

/// Which row each person's is at one past cut ([`History::picked`]): a kept row of the history,
/// or a row of the few persons folded at the cut, held here. The columns of any fields are then
/// gathered from them ([`Picks::gathered`]), while the history is the one picked from.
#[derive(Debug)]
pub struct Picks {
    known_at: DateTime<Utc>,
    /// The history picked from ([`History::id`]).
    history: u64,
    /// Each person's row, in person order (none for a person without a view at the cut).
    picks: Vec<Pick>,
    /// The rows of the persons folded at the cut, one columns a share of persons: the sources
    /// after the history's shards.
    folded_rows: Vec<Columns>,
    /// The persons whose row was a kept one (or who have none at the cut).
    pub filtered: usize,
    /// The persons folded again at the cut: no kept row answers it.
    pub folded: usize,
}

/// The columns of a past cut and how they were made.
#[derive(Debug, Clone)]
pub struct Cut {
    pub columns: Columns,
    /// The persons whose row was a kept one (or who have none at the cut).
    pub filtered: usize,
    /// The persons folded again at the cut: no kept row answers it.
    pub folded: usize,
}

impl History {
    /// The history of every journal in `journals`, each folded once, on every core.
    pub fn of_journals<S: Store>(store: &S, journals: &Journals<S::Event, S::Actor>) -> Self {
        Self::built_in_runs::<S>(
            |work| {
                work(store, journals);
                true
            },
            usize::MAX,
        )
        .expect("a build that is never called off")
    }

    /// The history of the journals `with_journals` lends, built on every core a run of at most
    /// `persons_per_run` persons at a time: each thread takes a contiguous part of the persons
    /// (by person, as they were at the start) and asks `with_journals` for the journals once a
    /// run, so a caller that lends them under a lock holds it for one run, never for the build
    /// (the background build of the running projections, `crate::kept_rows`). The journals may
    /// change between runs: a person is built as their journal was at their run, so the caller
    /// must [`History::refresh`] every person whose journal changed after the build began.
    /// `with_journals` returns `false` (and lends nothing) to call the build off: then `None`.
    pub fn built_in_runs<S: Store>(
        with_journals: impl Fn(&mut dyn FnMut(&S, &Journals<S::Event, S::Actor>)) -> bool + Sync,
        persons_per_run: usize,
    ) -> Option<Self> {
        // Where each thread's part begins: persons at equal distances in the person order.
        let mut starts: Vec<Option<PersonId>> = Vec::new();
        if !with_journals(&mut |_, journals| {
            let threads = threads_for(journals.len());
            starts = crate::parallel::shares(journals.len(), threads)
                .into_iter()
                .map(|share| journals.keys().nth(share.start).copied())
                .collect();
        }) {
            return None;
        }
        let parts: Vec<(PersonId, Option<PersonId>)> = starts
            .iter()
            .enumerate()
            .filter_map(|(at, start)| Some(((*start)?, starts.get(at + 1).copied().flatten())))
            .collect();
        let persons_per_run = persons_per_run.max(1);
        let shards = crate::parallel::map_owned(parts, parts_threads(&starts), |parts| {
            parts
                .into_iter()
                .map(|(first, end)| {
                    let mut shard = Shard::empty();
                    let mut from = std::ops::Bound::Included(first);
                    loop {
                        let mut last = None;
                        if !with_journals(&mut |store, journals| {
                            let until = end.map_or(std::ops::Bound::Unbounded, |end| {
                                std::ops::Bound::Excluded(end)
                            });
                            for (person, journal) in
                                journals.range((from, until)).take(persons_per_run)
                            {
                                shard.add(store, *person, journal);
                                last = Some(*person);
                            }
                        }) {
                            return None;
                        }
                        match last {
                            Some(last) => from = std::ops::Bound::Excluded(last),
                            None => break,
                        }
                    }
                    shard.rows.fit();
                    shard.versions.shrink_to_fit();
                    shard.persons.shrink_to_fit();
                    Some(shard)
                })
                .collect::<Option<Vec<Shard>>>()
        })
        .into_iter()
        .collect::<Option<Vec<Vec<Shard>>>>()?
        .into_iter()
        .flatten()
        .collect();
        Some(History {
            id: next_id(),
            shards,
            refreshed: Shard::empty(),
            moved: HashMap::new(),
        })
    }

    /// Brings the history up to date with `journals` after the journals of `dirty` persons
    /// changed (or came): each such person's versions are built again from their whole journal
    /// (a late fact can change any prefix). Once the persons refreshed since the last full build
    /// are a quarter of all ([`History::is_worn`]), the whole history is built again, so
    /// `refreshed` stays bounded.
    pub fn refresh<S: Store>(
        &mut self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        dirty: &BTreeSet<PersonId>,
    ) {
        self.refresh_persons(store, journals, dirty);
        if self.is_worn(journals.len()) {
            *self = Self::of_journals(store, journals);
        }
    }

    /// [`History::refresh`] without the whole build once worn: the caller builds again, off
    /// the query path (`crate::kept_rows`).
    pub fn refresh_persons<S: Store>(
        &mut self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        dirty: &BTreeSet<PersonId>,
    ) {
        for person in dirty {
            match journals.get(person) {
                Some(journal) => {
                    self.refreshed.add(store, *person, journal);
                    let at = index(self.refreshed.persons.len() - 1);
                    self.moved.insert(*person, at);
                }
                None => {
                    self.moved.remove(person);
                }
            }
        }
    }

    /// Whether the persons refreshed since the last full build are more than a quarter of the
    /// `persons` the journals hold: time to build it again.
    pub fn is_worn(&self, persons: usize) -> bool {
        self.refreshed.persons.len() * REFRESHED_MAX_DIVISOR > persons.max(1)
    }

    /// The columns at the past cut `known_at` of the persons in `journals` (the journals this
    /// history was made of), in person order: a kept row where one answers the cut, else the
    /// person's fold at the cut. Equal, row by row, to the columns of every view folded at the cut.
    /// Built on every core: each thread takes a contiguous share of the persons, and the shares'
    /// columns are joined in order ([`Columns::joined`], the same columns as one thread's).
    pub fn columns_at<S: Store>(
        &self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        known_at: DateTime<Utc>,
    ) -> Cut {
        let threads = threads_for(journals.len());
        self.columns_at_on(store, journals, known_at, threads)
    }

    /// [`History::columns_at`] in at most `threads` shares of persons, each on a thread of its
    /// own: the same columns whatever the number.
    pub fn columns_at_on<S: Store>(
        &self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        known_at: DateTime<Utc>,
        threads: usize,
    ) -> Cut {
        let picks = self.picked_on(store, journals, known_at, threads);
        Cut {
            columns: picks.gathered(self, Fields::ALL, threads),
            filtered: picks.filtered,
            folded: picks.folded,
        }
    }

    /// Each person's row at the past cut `known_at` (see [`History::columns_at`]), the persons
    /// in `journals` (the journals this history was made of) in order, on every core: the
    /// columns of any of their fields are then [`Picks::gathered`].
    pub fn picked<S: Store>(
        &self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        known_at: DateTime<Utc>,
    ) -> Picks {
        let threads = threads_for(journals.len());
        self.picked_on(store, journals, known_at, threads)
    }

    /// [`History::picked`] in at most `threads` shares of persons, each on a thread of its own.
    fn picked_on<S: Store>(
        &self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        known_at: DateTime<Utc>,
        threads: usize,
    ) -> Picks {
        let shares = crate::parallel::map_shares(journals.len(), threads, |range| {
            let persons = journals.iter().skip(range.start).take(range.len());
            self.picks_of_share(store, persons, range.len(), known_at)
        });
        // The folded rows of each share are a source of their own, after the shards'.
        let first_folded = self.shards.len() + 1;
        let mut picks = Picks {
            known_at,
            history: self.id,
            picks: Vec::with_capacity(shares.iter().map(|share| share.0.len()).sum()),
            folded_rows: Vec::with_capacity(shares.len()),
            filtered: 0,
            folded: 0,
        };
        for (at, (share, folded_rows, filtered, folded)) in shares.into_iter().enumerate() {
            let source = index(first_folded + at);
            picks
                .picks
                .extend(share.into_iter().map(|pick| match pick.source {
                    FOLDED => Pick {
                        source,
                        row: pick.row,
                    },
                    _ => pick,
                }));
            picks.folded_rows.push(folded_rows);
            picks.filtered += filtered;
            picks.folded += folded;
        }
        picks
    }

    /// The picks of the `rows` persons of `persons`, a contiguous run of the journals in person
    /// order: a kept row of a shard, of the refreshed persons (source `self.shards.len()`), or a
    /// row of the persons folded at the cut ([`FOLDED`], returned with them); and how many of
    /// each there were.
    fn picks_of_share<'a, S: Store + 'a>(
        &self,
        store: &S,
        persons: impl Iterator<Item = (&'a PersonId, &'a Journal<S::Event, S::Actor>)>,
        rows: usize,
        known_at: DateTime<Utc>,
    ) -> (Vec<Pick>, Columns, usize, usize) {
        let mut persons = persons.peekable();
        let mut picks = Vec::with_capacity(rows);
        let mut folded_rows = Columns::with_rows(0, known_at);
        let (mut filtered, mut folded) = (0, 0);
        // The shards' persons from the run's first on, in order, walked beside the journals; a
        // person the shards lack (or hold stale) is found among the refreshed, and one the
        // history lacks altogether is folded.
        let first = persons.peek().map(|(person, _)| **person);
        let mut kept = self
            .shards
            .iter()
            .enumerate()
            .flat_map(|(at, shard)| {
                let from = first.map_or(0, |first| {
                    shard.persons.partition_point(|(person, _)| *person < first)
                });
                shard.persons[from..]
                    .iter()
                    .map(move |entry| (at, shard, entry))
            })
            .peekable();
        let refreshed = !self.moved.is_empty();
        for (person, journal) in persons {
            while kept.next_if(|(_, _, (kept, _))| kept < person).is_some() {}
            let in_shards = kept.next_if(|(_, _, (kept, _))| kept == person);
            let moved = if refreshed {
                self.moved.get(person)
            } else {
                None
            };
            let found = match moved {
                Some(at) => Some((
                    self.shards.len(),
                    &self.refreshed,
                    &self.refreshed.persons[*at as usize],
                )),
                None => in_shards,
            };
            let version = found.and_then(|(source, shard, (_, range))| {
                let versions = &shard.versions[range.start as usize..range.end as usize];
                let at = versions.partition_point(|version| version.until <= known_at);
                let version = versions
                    .get(at)
                    .filter(|version| version.from <= known_at)?;
                Some((source, version))
            });
            match version {
                Some((source, version)) => {
                    filtered += 1;
                    if let Some(row) = version.row {
                        picks.push(Pick {
                            source: index(source),
                            row,
                        });
                    }
                }
                None => {
                    folded += 1;
                    if let Some(view) = PersonView::build_in(store, *person, journal, known_at) {
                        picks.push(Pick {
                            source: FOLDED,
                            row: index(folded_rows.len()),
                        });
                        folded_rows.push(&view);
                    }
                }
            }
        }
        (picks, folded_rows, filtered, folded)
    }

    /// The shards and the refreshed persons' versions.
    fn all_shards(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().chain([&self.refreshed])
    }

    /// The number of kept rows (a version's row is kept unless it equals the version before).
    pub fn rows(&self) -> usize {
        self.all_shards().map(|shard| shard.rows.len()).sum()
    }

    /// The heap bytes the history holds, by part, counted from the capacities: the kept rows by
    /// column family ([`Columns::heap_bytes_by_family`]), then the versions and the persons.
    pub fn heap_bytes_by_part(&self) -> Vec<(&'static str, usize)> {
        let mut parts: Vec<(&'static str, usize)> = Vec::new();
        for shard in self.all_shards() {
            for (family, bytes) in shard.rows.heap_bytes_by_family() {
                match parts.iter_mut().find(|(name, _)| *name == family) {
                    Some((_, total)) => *total += bytes,
                    None => parts.push((family, bytes)),
                }
            }
        }
        let versions = self
            .all_shards()
            .map(|shard| shard.versions.capacity() * std::mem::size_of::<Version>())
            .sum();
        let persons = self
            .all_shards()
            .map(|shard| {
                shard.persons.capacity() * std::mem::size_of::<(PersonId, std::ops::Range<u32>)>()
            })
            .sum();
        parts.push(("versions", versions));
        parts.push(("persons and their version ranges", persons));
        let moved = self.moved.capacity()
            * (std::mem::size_of::<PersonId>() + std::mem::size_of::<u32>() + 1);
        parts.push(("the refreshed persons' index", moved));
        parts
    }

    /// The number of versions (the stretches of cuts one kept row, or none, answers).
    pub fn versions(&self) -> usize {
        self.all_shards().map(|shard| shard.versions.len()).sum()
    }

    /// Whether any version of `person` holds a row, whether a cut would read it or not (the
    /// versions a refresh replaced stay until the next whole build): for an erased person,
    /// whether anything of them is still here, which no snapshot may hold.
    pub fn holds_rows_of(&self, person: PersonId) -> bool {
        let in_shards = self.shards.iter().any(|shard| {
            shard
                .persons
                .binary_search_by_key(&person, |(person, _)| *person)
                .is_ok_and(|at| shard.holds_rows(&shard.persons[at].1))
        });
        in_shards
            || self
                .refreshed
                .persons
                .iter()
                .any(|(held, range)| *held == person && self.refreshed.holds_rows(range))
    }

    /// The history as the projections' snapshot holds it ([`super::compact`]; the snapshot
    /// seals it): each shard, the refreshed persons' shard, then where the moved persons' latest
    /// versions lie among the refreshed.
    pub fn to_snapshot_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, self.shards.len() as u64);
        for shard in self.all_shards() {
            shard.pack(&mut out);
        }
        let mut moved: Vec<u32> = self.moved.values().copied().collect();
        moved.sort_unstable();
        put_u64(&mut out, moved.len() as u64);
        let mut before = 0;
        for at in moved {
            put_u64(&mut out, u64::from(at - before));
            before = at;
        }
        out
    }

    /// A history read back from [`History::to_snapshot_bytes`], checked to be laid out as one is
    /// built ([`History::checked`]): bytes that decode but hold anything else are refused with
    /// what is wrong, never served.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut input = Reader::new(bytes);
        let shards = input.count()?;
        let shards = (0..shards)
            .map(|_| Shard::unpack(&mut input))
            .collect::<Result<Vec<_>, _>>()?;
        let refreshed = Shard::unpack(&mut input)?;
        let moved_len = input.count()?;
        let mut moved = HashMap::with_capacity(moved_len);
        let mut at = 0u32;
        for _ in 0..moved_len {
            at = at
                .checked_add(input.u32()?)
                .ok_or("a moved person past 2^32")?;
            let (person, _) = refreshed
                .persons
                .get(at as usize)
                .ok_or("a moved person past the refreshed ones")?;
            moved.insert(*person, at);
        }
        if !input.is_empty() {
            return Err("bytes after the kept rows".into());
        }
        History {
            id: next_id(),
            shards,
            refreshed,
            moved,
        }
        .checked()
    }

    /// Checks every shard (its columns were checked as read, [`Columns::unpack`]; its persons'
    /// version ranges, in
    /// person order; their versions ordered and disjoint, each row within the columns), the
    /// shards' persons ascending across shards, and each moved person's place among the
    /// refreshed: what [`History::columns_at`] relies on.
    fn checked(self) -> Result<Self, String> {
        let History {
            id,
            shards,
            refreshed,
            moved,
        } = self;
        let shards = shards
            .into_iter()
            .map(|shard| shard.checked(true))
            .collect::<Result<Vec<_>, _>>()?;
        let refreshed = refreshed.checked(false)?;
        let mut persons = shards
            .iter()
            .flat_map(|shard| shard.persons.iter().map(|(person, _)| person));
        if let Some(mut before) = persons.next() {
            for person in persons {
                if person <= before {
                    return Err("the kept rows' persons are not in order across shards".into());
                }
                before = person;
            }
        }
        for (person, at) in &moved {
            if refreshed.persons.get(*at as usize).map(|(held, _)| held) != Some(person) {
                return Err(format!(
                    "the refreshed rows of {person} are not where named"
                ));
            }
        }
        Ok(History {
            id,
            shards,
            refreshed,
            moved,
        })
    }
}

impl Shard {
    fn empty() -> Self {
        Shard {
            rows: Columns::sparse(),
            ..Shard::default()
        }
    }

    /// Whether any of the versions in `range` holds a row.
    fn holds_rows(&self, range: &std::ops::Range<u32>) -> bool {
        self.versions[range.start as usize..range.end as usize]
            .iter()
            .any(|version| version.row.is_some())
    }

    /// The shard's bytes in the snapshot: its kept rows ([`Columns::pack`]), then each person
    /// with their versions. A version's two times are written as [`VersionTimes`] says,
    /// its row as the difference from the row of the version before plus one (0: no row).
    fn pack(&self, out: &mut Vec<u8>) {
        self.rows.pack(out);
        put_u64(out, self.persons.len() as u64);
        let mut row = 0i64;
        for (person, range) in &self.persons {
            person.pack(out);
            let versions = &self.versions[range.start as usize..range.end as usize];
            put_u64(out, versions.len() as u64);
            let mut times = VersionTimes::default();
            for version in versions {
                times.put(out, version.from);
                times.put(out, version.until);
                match version.row {
                    None => put_i64(out, 0),
                    Some(at) => {
                        let difference = i64::from(at) - row;
                        put_i64(
                            out,
                            if difference >= 0 {
                                difference + 1
                            } else {
                                difference
                            },
                        );
                        row = i64::from(at);
                    }
                }
            }
        }
    }

    /// A shard read back from [`Shard::pack`] (checked by [`Shard::checked`]).
    fn unpack(input: &mut Reader) -> Result<Self, String> {
        let rows = Columns::unpack(input)?;
        let len = input.count()?;
        let mut shard = Shard {
            rows,
            persons: Vec::with_capacity(len),
            versions: Vec::new(),
        };
        let mut row = 0i64;
        for _ in 0..len {
            let person = PersonId::unpack(input)?;
            let count = input.count()?;
            let first = index(shard.versions.len());
            let mut times = VersionTimes::default();
            for _ in 0..count {
                let from = times.take(input)?;
                let until = times.take(input)?;
                let written = input.i64()?;
                let at = match written {
                    0 => None,
                    difference => {
                        let step = if difference > 0 {
                            difference - 1
                        } else {
                            difference
                        };
                        row = row
                            .checked_add(step)
                            .ok_or("a version's row out of range")?;
                        Some(u32::try_from(row).map_err(|_| "a version's row out of range")?)
                    }
                };
                shard.versions.push(Version {
                    from,
                    until,
                    row: at,
                });
            }
            shard
                .persons
                .push((person, first..index(shard.versions.len())));
        }
        Ok(shard)
    }

    /// A shard read back from a snapshot, checked (see [`History::checked`]); `in_order`: its
    /// persons ascend (the refreshed persons' shard holds them as they were refreshed).
    fn checked(self, in_order: bool) -> Result<Self, String> {
        let Shard {
            rows,
            persons,
            versions,
        } = self;
        if in_order && persons.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err("a shard's persons are not in order".into());
        }
        for (person, range) in &persons {
            let Some(own) = versions.get(range.start as usize..range.end as usize) else {
                return Err(format!("the versions of {person} lie past the shard's"));
            };
            if own.iter().any(|version| {
                version.from >= version.until
                    || version.row.is_some_and(|row| row as usize >= rows.len())
            }) || own.windows(2).any(|pair| pair[0].until > pair[1].from)
            {
                return Err(format!(
                    "the versions of {person} are not ordered and disjoint"
                ));
            }
        }
        Ok(Shard {
            rows,
            persons,
            versions,
        })
    }

    /// Adds the versions of one person.
    fn add<S: Store>(
        &mut self,
        store: &S,
        person: PersonId,
        journal: &Journal<S::Event, S::Actor>,
    ) {
        let first = index(self.versions.len());
        // Between two consecutive corrections or retractions (by transaction time) the same ones
        // are known at every cut, so there the effective facts at a cut are those known just
        // before the next one, recorded by the cut: each such stretch of cuts is one fold.
        let mut amended: Vec<DateTime<Utc>> = journal
            .facts
            .iter()
            .filter(|fact| {
                matches!(
                    store.event(&fact.event),
                    Event::EventCorrected(_) | Event::EventRetracted(_)
                )
            })
            .map(|fact| fact.recorded_at.time())
            .collect();
        amended.sort_unstable();
        amended.dedup();
        let starts = std::iter::once(DateTime::<Utc>::MIN_UTC).chain(amended.iter().copied());
        let ends = amended.iter().copied().map(Some).chain([None]);
        for (start, end) in starts.zip(ends) {
            self.add_stretch(store, (person, first), journal, start, end);
        }
        self.persons
            .push((person, first..index(self.versions.len())));
    }

    /// Adds the versions of one person for the cuts from `start` until `end` (`None`: every later
    /// cut), between which no correction or retraction was recorded; `first` is the person's
    /// first version.
    fn add_stretch<S: Store>(
        &mut self,
        store: &S,
        (person, first): (PersonId, u32),
        journal: &Journal<S::Event, S::Actor>,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
    ) {
        let last = end.map_or(LIVE, |end| end - chrono::Duration::nanoseconds(1));
        let until = end.unwrap_or(LIVE);
        let facts = effective_in(store, journal, last);
        // The cuts prefix `j` answers: from the latest transaction time in it until the earliest
        // one after it, within the stretch.
        let mut latest_before = vec![DateTime::<Utc>::MIN_UTC; facts.len() + 1];
        for (j, fact) in facts.iter().enumerate() {
            latest_before[j + 1] = latest_before[j].max(fact.recorded_at);
        }
        let mut earliest_from = vec![LIVE; facts.len() + 1];
        for (j, fact) in facts.iter().enumerate().rev() {
            earliest_from[j] = earliest_from[j + 1].min(fact.recorded_at);
        }
        let answered = |j: usize| {
            let from = latest_before[j].max(start);
            let to = earliest_from[j].min(until);
            (from < to).then_some((from, to))
        };
        let ends: Vec<usize> = (0..=facts.len())
            .filter(|j| answered(*j).is_some())
            .collect();
        PersonView::fold_prefixes(person, &facts, &ends, |end, view| {
            let Some((from, until)) = answered(end) else {
                return;
            };
            self.push_version(first, from, until, view.as_ref());
        });
    }

    /// Adds the version of the person whose first version is `first` answering the cuts from
    /// `from` until `until` with the row of `view`. A row equal to the one of the person's
    /// version before is not kept again: the version points at that row, and when the two
    /// versions meet they become one.
    fn push_version(
        &mut self,
        first: u32,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        view: Option<&PersonView>,
    ) {
        let before = self.versions[first as usize..].last().copied();
        let row = match (view, before.and_then(|version| version.row)) {
            (Some(view), previous) => {
                let previous = previous.map(|row| row as usize);
                if self.rows.push_after(view, previous) {
                    self.rows.pop_repeated();
                    previous.map(index)
                } else {
                    Some(index(self.rows.len() - 1))
                }
            }
            (None, _) => None,
        };
        match self.versions[first as usize..].last_mut() {
            Some(before) if before.until == from && before.row == row => before.until = until,
            _ => self.versions.push(Version { from, until, row }),
        }
    }
}

/// A person's version times as the snapshot holds them, in order: each one the same as the
/// time before it (a version mostly begins where the one before ends), the earliest time (the
/// first version's), [`LIVE`] (the last one's end), or else the difference from the last other
/// time ([`put_time_above`]): one varint, whose values below [`VersionTimes::DIFFERENCE`] are
/// the first three.
#[derive(Default)]
struct VersionTimes {
    /// The time written last, and the last one that was neither the earliest nor [`LIVE`].
    last: Option<DateTime<Utc>>,
    finite: Option<DateTime<Utc>>,
}

impl VersionTimes {
    const SAME: u64 = 0;
    const EARLIEST: u64 = 1;
    const LATEST: u64 = 2;
    const DIFFERENCE: u64 = 3;

    fn put(&mut self, out: &mut Vec<u8>, time: DateTime<Utc>) {
        if self.last == Some(time) {
            put_u64(out, Self::SAME);
        } else if time == DateTime::<Utc>::MIN_UTC {
            put_u64(out, Self::EARLIEST);
        } else if time == LIVE {
            put_u64(out, Self::LATEST);
        } else {
            let before = self.finite.unwrap_or(DateTime::UNIX_EPOCH);
            put_time_above(out, time, before, Self::DIFFERENCE);
            self.finite = Some(time);
        }
        self.last = Some(time);
    }

    fn take(&mut self, input: &mut Reader) -> Result<DateTime<Utc>, String> {
        let time = match input.u64()? {
            Self::SAME => self
                .last
                .ok_or("a person's first version time names one before")?,
            Self::EARLIEST => DateTime::<Utc>::MIN_UTC,
            Self::LATEST => LIVE,
            value => {
                let before = self.finite.unwrap_or(DateTime::UNIX_EPOCH);
                let time = take_time_from(input, value - Self::DIFFERENCE, before)?;
                self.finite = Some(time);
                time
            }
        };
        self.last = Some(time);
        Ok(time)
    }
}

impl Picks {
    /// The columns of `fields` at the cut, the others left out ([`Columns::gathered`]), from
    /// `history`, which must be the history picked from (else the rows would be another's:
    /// checked, never served). The fields are shared out over at most `threads` threads, each
    /// making whole fields (no columns to join).
    pub fn gathered(&self, history: &History, fields: Fields, threads: usize) -> Columns {
        assert_eq!(
            self.history, history.id,
            "columns gathered from the history they were picked from"
        );
        let sources: Vec<&Columns> = history
            .all_shards()
            .map(|shard| &shard.rows)
            .chain(self.folded_rows.iter())
            .collect();
        let threads = if self.picks.len() < PARALLEL_FROM {
            1
        } else {
            threads
        };
        let parts = fields.split(threads);
        let mut parts = crate::parallel::map_owned(parts.clone(), parts.len(), |parts| {
            parts
                .into_iter()
                .map(|part| Columns::gathered(&sources, &self.picks, self.known_at, part))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten();
        let mut columns = parts.next().unwrap_or_else(|| {
            Columns::gathered(&sources, &self.picks, self.known_at, Fields::NONE)
        });
        for part in parts {
            columns.fill(part);
        }
        columns
    }

    /// Whether these are picks of `history`, whose rows they name.
    pub fn is_of(&self, history: &History) -> bool {
        self.history == history.id
    }
}

/// The source of a pick of a share's folded rows, until the shares are joined.
const FOLDED: u32 = u32::MAX;

/// A history's id: one more than the last one made in the process.
fn next_id() -> u64 {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    LAST.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// The history is built again once more than one in this many persons were refreshed.
const REFRESHED_MAX_DIVISOR: usize = 4;

/// Fewer persons than this are built on the calling thread (starting threads costs more).
const PARALLEL_FROM: usize = 2048;

/// The threads to build for `persons` on: the calling thread alone below [`PARALLEL_FROM`],
/// else every core.
fn threads_for(persons: usize) -> usize {
    if persons < PARALLEL_FROM {
        1
    } else {
        crate::parallel::threads()
    }
}

/// The threads to build the parts that begin at `starts` on: one a part.
fn parts_threads(starts: &[Option<PersonId>]) -> usize {
    starts.iter().flatten().count().max(1)
}

/// A position in the history's vectors; four thousand million versions are far beyond a Land.
fn index(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 2^32 versions")
}
