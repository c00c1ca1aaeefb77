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
//! What this does not yet do (docs/bench.md, issue 11): the rows of every prefix are kept whole,
//! one row each (the entries a prefix shares with the next are not shared), and only the columns
//! are derived; the few indicators that read a person's view, the households and the other read
//! models still need the views of the cut.

use chrono::{DateTime, Utc};
use journey_core::catalogue::Event;
use journey_core::envelope::PersonId;

use super::Columns;
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
    /// The row in [`History::rows`]; `None`: no view at these cuts (no registration known).
    row: Option<u32>,
}

/// Every person's KPI rows at the cuts the live fold passes through (see the module).
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every kept row, one a version.
    rows: Columns,
    /// Each person with the range of their versions in `versions`, in person order.
    persons: Vec<(PersonId, std::ops::Range<u32>)>,
    /// The versions of every person, each person's ordered by `from`, disjoint.
    versions: Vec<Version>,
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
    /// The history of every journal in `journals`, each folded once.
    pub fn of_journals<S: Store>(store: &S, journals: &Journals<S::Event, S::Actor>) -> Self {
        let mut history = History {
            rows: Columns::with_rows(0, LIVE),
            ..History::default()
        };
        for (person, journal) in journals {
            history.add(store, *person, journal);
        }
        history.rows.fit();
        history
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
            self.add_stretch(store, person, journal, start, end);
        }
        self.persons
            .push((person, first..index(self.versions.len())));
    }

    /// Adds the versions of one person for the cuts from `start` until `end` (`None`: every later
    /// cut), between which no correction or retraction was recorded.
    fn add_stretch<S: Store>(
        &mut self,
        store: &S,
        person: PersonId,
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
            let row = view.map(|view| {
                let row = index(self.rows.len());
                self.rows.push(&view);
                row
            });
            self.versions.push(Version { from, until, row });
        });
    }

    /// The columns at the past cut `known_at` of the persons in `journals` (the journals this
    /// history was made of), in person order: a kept row where one answers the cut, else the
    /// person's fold at the cut. Equal, row by row, to the columns of every view folded at the cut.
    pub fn columns_at<S: Store>(
        &self,
        store: &S,
        journals: &Journals<S::Event, S::Actor>,
        known_at: DateTime<Utc>,
    ) -> Cut {
        debug_assert_eq!(
            self.persons.len(),
            journals.len(),
            "a history of these journals"
        );
        let mut columns = Columns::with_rows(self.persons.len(), known_at);
        let (mut filtered, mut folded) = (0, 0);
        for ((person, range), (journal_person, journal)) in self.persons.iter().zip(journals) {
            debug_assert_eq!(person, journal_person, "the same persons in the same order");
            let versions = &self.versions[range.start as usize..range.end as usize];
            let at = versions.partition_point(|version| version.until <= known_at);
            match versions.get(at).filter(|version| version.from <= known_at) {
                Some(version) => {
                    filtered += 1;
                    if let Some(row) = version.row {
                        columns.push_row_of(&self.rows, row as usize);
                    }
                }
                None => {
                    folded += 1;
                    if let Some(view) = PersonView::build_in(store, *person, journal, known_at) {
                        columns.push(&view);
                    }
                }
            }
        }
        columns.fit();
        Cut {
            columns,
            filtered,
            folded,
        }
    }

    /// The number of kept rows (one a version with a view).
    pub fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// A position in the history's vectors; four thousand million versions are far beyond a Land.
fn index(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 2^32 versions")
}
