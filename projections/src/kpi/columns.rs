//! The fields the busiest indicators read, one column each, beside the person views.
//!
//! An indicator's pass over a million views touches each view's first cache lines and follows a
//! pointer per list it reads (issue 11, plan step 7): at ~10 ns per person per table that is the
//! whole budget. The columns hold copies of the few fields the employment indicators and the
//! common breakdowns need, packed row by row in the views' order (birth year, sex, the stay
//! summary, the jobs as intervals, the district timeline with interned names), so those passes
//! stream a few dozen bytes per person and never read a view. Everything else still reads the
//! view of the row ([`Row::view`]).
//!
//! Invariant: a column is a copy of a view field, never a rule. The rules (present on D, age,
//! working age, the job split, the district on D) are the functions of `crate::view` that the
//! view's own methods call too, applied here to the copied fields; so an answer from the columns
//! cannot drift from one read off the view.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::Sex;

use super::KpiError;
use crate::view::{
    age_on, is_working_age, latest_on, Dated, EmploymentOnDay, Interval, PersonView, StaySummary,
};

/// Where one row's entries lie in a shared list: `start..start + len`.
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

/// The hot fields of every view of one cut, in the views' order (see the module).
#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// The transaction-time cut every row was built at.
    known_at: Option<DateTime<Utc>>,
    birth_year: Vec<Option<i32>>,
    sex: Vec<Sex>,
    stay: Vec<StaySummary>,
    job_spans: Vec<Span>,
    /// Each job's interval and whether it counts as employment.
    jobs: Vec<(Interval, bool)>,
    district_spans: Vec<Span>,
    districts: Vec<Dated<u32>>,
    /// The district names, indexed by the codes in `districts`.
    names: Vec<String>,
    codes: HashMap<String, u32>,
    /// Entries of `jobs` and `districts` that no row points at any more (rows replaced in
    /// place): the lists are compacted when these pass half of them.
    unused: usize,
}

impl Columns {
    /// The columns of `views`, which must all be built at the cut `known_at`: checked here, so
    /// that an indicator never mixes two cuts.
    pub(crate) fn from_views(
        views: &[PersonView],
        known_at: DateTime<Utc>,
    ) -> Result<Self, KpiError> {
        if let Some(view) = views.iter().find(|view| view.known_at != known_at) {
            return Err(KpiError::ViewsOutOfCut {
                person: view.person,
                view_known_at: view.known_at,
                query_known_at: known_at,
            });
        }
        Ok(Self::of_cut(views, known_at))
    }

    /// The columns of `views`, all built at the cut `known_at` (as a [`crate::ViewSet`] builds
    /// them).
    pub(crate) fn of_cut(views: &[PersonView], known_at: DateTime<Utc>) -> Self {
        debug_assert!(views.iter().all(|view| view.known_at == known_at));
        let mut columns = Columns {
            known_at: Some(known_at),
            birth_year: Vec::with_capacity(views.len()),
            sex: Vec::with_capacity(views.len()),
            stay: Vec::with_capacity(views.len()),
            job_spans: Vec::with_capacity(views.len()),
            district_spans: Vec::with_capacity(views.len()),
            ..Columns::default()
        };
        for view in views {
            columns.push(view);
        }
        columns
    }

    /// The cut the rows were built at.
    pub(crate) fn known_at(&self) -> Option<DateTime<Utc>> {
        self.known_at
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.stay.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stay.is_empty()
    }

    fn push(&mut self, view: &PersonView) {
        self.birth_year.push(view.birth_year);
        self.sex.push(view.sex);
        self.stay.push(view.stay);
        let (jobs, districts) = self.append_lists(view);
        self.job_spans.push(jobs);
        self.district_spans.push(districts);
    }

    /// Appends the view's jobs and districts to the shared lists.
    fn append_lists(&mut self, view: &PersonView) -> (Span, Span) {
        let jobs = Span {
            start: index(self.jobs.len()),
            len: index(view.employments.len()),
        };
        self.jobs.extend(
            view.employments
                .iter()
                .map(|job| (job.interval, job.counts_as_employment())),
        );
        let districts = Span {
            start: index(self.districts.len()),
            len: index(view.districts.len()),
        };
        for district in &view.districts {
            let code = match self.codes.get(&district.value) {
                Some(code) => *code,
                None => {
                    let code = index(self.names.len());
                    self.names.push(district.value.clone());
                    self.codes.insert(district.value.clone(), code);
                    code
                }
            };
            self.districts.push(Dated {
                on: district.on,
                value: code,
            });
        }
        (jobs, districts)
    }

    /// Replaces row `row` by the fields of `view` (a person whose view was rebuilt in place).
    pub(crate) fn replace(&mut self, row: usize, view: &PersonView) {
        debug_assert_eq!(Some(view.known_at), self.known_at, "a view of this cut");
        self.birth_year[row] = view.birth_year;
        self.sex[row] = view.sex;
        self.stay[row] = view.stay;
        self.unused += (self.job_spans[row].len + self.district_spans[row].len) as usize;
        let (jobs, districts) = self.append_lists(view);
        self.job_spans[row] = jobs;
        self.district_spans[row] = districts;
        if self.unused * 2 > self.jobs.len() + self.districts.len() {
            self.compact();
        }
    }

    /// Drops the entries no row points at, keeping the rows' order.
    fn compact(&mut self) {
        let mut jobs = Vec::with_capacity(self.jobs.len() - self.unused.min(self.jobs.len()));
        for span in &mut self.job_spans {
            let start = index(jobs.len());
            jobs.extend_from_slice(&self.jobs[span.range()]);
            span.start = start;
        }
        let mut districts = Vec::with_capacity(self.districts.len());
        for span in &mut self.district_spans {
            let start = index(districts.len());
            districts.extend_from_slice(&self.districts[span.range()]);
            span.start = start;
        }
        self.jobs = jobs;
        self.districts = districts;
        self.unused = 0;
    }

    /// Row `row`'s fields in a form that does not depend on where its entries lie (for comparing
    /// columns kept up to date with columns built afresh).
    pub fn row_fields(&self, row: usize) -> RowFields {
        RowFields {
            birth_year: self.birth_year[row],
            sex: self.sex[row],
            stay: self.stay[row],
            jobs: self.jobs[self.job_spans[row].range()].to_vec(),
            districts: self.districts[self.district_spans[row].range()]
                .iter()
                .map(|district| Dated {
                    on: district.on,
                    value: self.names[district.value as usize].clone(),
                })
                .collect(),
        }
    }
}

/// The copied fields of one row (see [`Columns::row_fields`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFields {
    pub birth_year: Option<i32>,
    pub sex: Sex,
    pub stay: StaySummary,
    pub jobs: Vec<(Interval, bool)>,
    pub districts: Vec<Dated<String>>,
}

/// A list position as stored in a [`Span`]; four thousand million entries are far beyond a Land.
fn index(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 2^32 entries in a column")
}

/// One person as an indicator sees them: the columns' row, and the view for everything else.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a> {
    columns: &'a Columns,
    views: &'a [PersonView],
    row: usize,
}

impl<'a> Row<'a> {
    /// The rows of `views` and their `columns` (built from the same views, in the same order).
    pub(crate) fn all(
        columns: &'a Columns,
        views: &'a [PersonView],
    ) -> impl Iterator<Item = Row<'a>> + 'a {
        debug_assert_eq!(columns.len(), views.len(), "columns of these views");
        (0..views.len()).map(move |row| Row {
            columns,
            views,
            row,
        })
    }

    /// The person's whole view (cold memory: read it only for what the columns lack).
    pub(crate) fn view(&self) -> &'a PersonView {
        &self.views[self.row]
    }

    pub(crate) fn birth_year(&self) -> Option<i32> {
        self.columns.birth_year[self.row]
    }

    pub(crate) fn sex(&self) -> Sex {
        self.columns.sex[self.row]
    }

    pub(crate) fn age(&self, on: NaiveDate) -> Option<i32> {
        age_on(self.birth_year(), on)
    }

    pub(crate) fn is_working_age(&self, on: NaiveDate) -> bool {
        is_working_age(self.age(on))
    }

    /// Present on `on` ([`PersonView::is_present`]); the view's stays are read only for a
    /// date before the latest of several stays.
    pub(crate) fn is_present(&self, on: NaiveDate) -> bool {
        match self.columns.stay[self.row].decides_presence(on) {
            Some(present) => present,
            None => self.view().is_present(on),
        }
    }

    /// [`PersonView::first_arrival`].
    pub(crate) fn first_arrival(&self, on: NaiveDate) -> Option<NaiveDate> {
        self.columns.stay[self.row].first_arrival(on)
    }

    /// [`PersonView::years_since_arrival`].
    pub(crate) fn years_since_arrival(&self, on: NaiveDate) -> Option<i32> {
        self.columns.stay[self.row].years_since_arrival(on)
    }

    /// [`PersonView::employment_on`].
    pub(crate) fn employment_on(&self, on: NaiveDate) -> EmploymentOnDay {
        let jobs = &self.columns.jobs[self.columns.job_spans[self.row].range()];
        EmploymentOnDay::of(jobs.iter().copied(), on)
    }

    /// [`PersonView::district`].
    pub(crate) fn district(&self, on: NaiveDate) -> Option<&'a str> {
        let columns = self.columns;
        let timeline = &columns.districts[columns.district_spans[self.row].range()];
        latest_on(timeline, on).map(|code| columns.names[*code as usize].as_str())
    }
}
