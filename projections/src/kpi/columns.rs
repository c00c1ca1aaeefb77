//! The fields the busiest indicators read, one column each, beside the person views.
//!
//! An indicator's pass over a million views touches each view's first cache lines and follows a
//! pointer per list it reads (issue 11, plan step 7): at ~10 ns per person per table that is the
//! whole budget. The columns hold copies of the few fields that `employment_rate`,
//! `employment_by_years_since_*`, `idle_days`, `course_waiting_days` and the common breakdowns
//! need (person and household, birth year, sex, the stay summary, the activities and jobs as
//! intervals, the integration courses' dates, the district timeline with interned names), packed
//! row by row in the views' order, so those passes stream a few dozen bytes per person and never
//! read a view. Everything else still reads the view of the row ([`Row::view`]).
//!
//! Invariant: a column is a copy of a view field, never a rule. The rules (present on D, age,
//! working age, the job split, idle since, the district on D) are the functions of `crate::view`
//! and `crate::models` that the view's own methods call too, applied here to the copied fields;
//! so an answer from the columns cannot drift from one read off the view.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::Sex;
use journey_core::envelope::PersonId;
use uuid::Uuid;

use crate::models::IdleFacts;
use crate::view::{
    age_on, idle_since_in, is_working_age, latest_on, Dated, EmploymentOnDay, Interval, PersonView,
    StaySummary,
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
    known_at: DateTime<Utc>,
    person: Vec<PersonId>,
    household_id: Vec<Option<Uuid>>,
    birth_year: Vec<Option<i32>>,
    sex: Vec<Sex>,
    stay: Vec<StaySummary>,
    activity_spans: Vec<Span>,
    /// Each activity's interval, ordered by start as [`PersonView::activities`].
    activities: Vec<Interval>,
    job_spans: Vec<Span>,
    /// Each job's interval and whether it counts as employment.
    jobs: Vec<(Interval, bool)>,
    district_spans: Vec<Span>,
    districts: Vec<Dated<u32>>,
    course_spans: Vec<Span>,
    /// Each integration course's registration and start, in the order of [`PersonView::courses`].
    courses: Vec<IntegrationCourse>,
    /// The district names, indexed by the codes in `districts`.
    names: Vec<String>,
    codes: HashMap<String, u32>,
    /// Entries of the lists that no row points at any more (rows replaced in place): the lists
    /// are compacted when these pass half of them.
    unused: usize,
}

impl Columns {
    /// The columns of `views`, all built at the cut `known_at` (a view does not say its cut: the
    /// caller, a [`crate::ViewSet`] or whoever calls [`super::compute`], vouches for it).
    pub(crate) fn of_cut(views: &[PersonView], known_at: DateTime<Utc>) -> Self {
        let mut columns = Columns {
            known_at,
            person: Vec::with_capacity(views.len()),
            household_id: Vec::with_capacity(views.len()),
            birth_year: Vec::with_capacity(views.len()),
            sex: Vec::with_capacity(views.len()),
            stay: Vec::with_capacity(views.len()),
            activity_spans: Vec::with_capacity(views.len()),
            job_spans: Vec::with_capacity(views.len()),
            district_spans: Vec::with_capacity(views.len()),
            course_spans: Vec::with_capacity(views.len()),
            ..Columns::default()
        };
        for view in views {
            columns.push(view);
        }
        // Built once and read by every query: the shared lists keep no spare capacity.
        columns.activities.shrink_to_fit();
        columns.jobs.shrink_to_fit();
        columns.districts.shrink_to_fit();
        columns.courses.shrink_to_fit();
        columns
    }

    /// The cut the rows were built at.
    pub(crate) fn known_at(&self) -> DateTime<Utc> {
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
        self.person.push(view.person);
        self.household_id.push(view.household_id);
        self.birth_year.push(view.birth_year);
        self.sex.push(view.sex);
        self.stay.push(view.stay);
        let [activities, jobs, districts, courses] = self.append_lists(view);
        self.activity_spans.push(activities);
        self.job_spans.push(jobs);
        self.district_spans.push(districts);
        self.course_spans.push(courses);
    }

    /// Appends the view's activities, jobs, districts and integration courses to the shared
    /// lists.
    fn append_lists(&mut self, view: &PersonView) -> [Span; 4] {
        let activities = Span {
            start: index(self.activities.len()),
            len: index(view.activities.len()),
        };
        self.activities
            .extend(view.activities.iter().map(|activity| activity.interval));
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
        let start = index(self.courses.len());
        self.courses.extend(
            view.courses
                .iter()
                .filter(|course| course.is_integration_course())
                .map(|course| IntegrationCourse {
                    registered_on: course.registered_on,
                    started_on: course.started_on,
                }),
        );
        let courses = Span {
            start,
            len: index(self.courses.len()) - start,
        };
        [activities, jobs, districts, courses]
    }

    /// Replaces row `row` by the fields of `view` (a person whose view was rebuilt in place).
    pub(crate) fn replace(&mut self, row: usize, view: &PersonView) {
        self.person[row] = view.person;
        self.household_id[row] = view.household_id;
        self.birth_year[row] = view.birth_year;
        self.sex[row] = view.sex;
        self.stay[row] = view.stay;
        self.unused += (self.activity_spans[row].len
            + self.job_spans[row].len
            + self.district_spans[row].len
            + self.course_spans[row].len) as usize;
        let [activities, jobs, districts, courses] = self.append_lists(view);
        self.activity_spans[row] = activities;
        self.job_spans[row] = jobs;
        self.district_spans[row] = districts;
        self.course_spans[row] = courses;
        let entries =
            self.activities.len() + self.jobs.len() + self.districts.len() + self.courses.len();
        if self.unused * 2 > entries {
            self.compact();
        }
    }

    /// Drops the entries no row points at, keeping the rows' order.
    fn compact(&mut self) {
        compact(&mut self.activities, &mut self.activity_spans);
        compact(&mut self.jobs, &mut self.job_spans);
        compact(&mut self.districts, &mut self.district_spans);
        compact(&mut self.courses, &mut self.course_spans);
        self.unused = 0;
    }

    /// Row `row`'s fields in a form that does not depend on where its entries lie (for comparing
    /// columns kept up to date with columns built afresh).
    pub fn row_fields(&self, row: usize) -> RowFields {
        RowFields {
            person: self.person[row],
            household_id: self.household_id[row],
            birth_year: self.birth_year[row],
            sex: self.sex[row],
            stay: self.stay[row],
            activities: self.activities[self.activity_spans[row].range()].to_vec(),
            jobs: self.jobs[self.job_spans[row].range()].to_vec(),
            courses: self.courses[self.course_spans[row].range()].to_vec(),
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
    pub person: PersonId,
    pub household_id: Option<Uuid>,
    pub birth_year: Option<i32>,
    pub sex: Sex,
    pub stay: StaySummary,
    pub activities: Vec<Interval>,
    pub jobs: Vec<(Interval, bool)>,
    pub courses: Vec<IntegrationCourse>,
    pub districts: Vec<Dated<String>>,
}

/// The dates of an integration course that `course_waiting_days` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationCourse {
    pub registered_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
}

/// Keeps of `entries` only what `spans` point at, in the spans' order, and points them there.
fn compact<T: Clone>(entries: &mut Vec<T>, spans: &mut [Span]) {
    let mut kept = Vec::with_capacity(entries.len());
    for span in spans {
        let start = index(kept.len());
        kept.extend_from_slice(&entries[span.range()]);
        span.start = start;
    }
    *entries = kept;
}

/// A list position as stored in a [`Span`]; four thousand million entries are far beyond a Land.
fn index(position: usize) -> u32 {
    u32::try_from(position).expect("fewer than 2^32 entries in a column")
}

impl IdleFacts for Row<'_> {
    fn person(&self) -> PersonId {
        self.columns.person[self.row]
    }

    fn household_id(&self) -> Option<Uuid> {
        self.columns.household_id[self.row]
    }

    fn is_working_age(&self, on: NaiveDate) -> bool {
        Row::is_working_age(self, on)
    }

    fn idle_since(&self, on: NaiveDate) -> Option<NaiveDate> {
        let stay = self.stay_on(on)?;
        let activities = &self.columns.activities[self.columns.activity_spans[self.row].range()];
        idle_since_in(&stay, activities.iter().copied(), on)
    }
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

    /// The stay holding `on` ([`PersonView::presence_on`]).
    fn stay_on(&self, on: NaiveDate) -> Option<Interval> {
        let stay = &self.columns.stay[self.row];
        match stay.decides_presence(on) {
            Some(true) => stay.latest,
            Some(false) => None,
            None => self.view().presence_on(on).copied(),
        }
    }

    /// The person's integration courses ([`PersonView::courses`] that are integration courses),
    /// in the view's order.
    pub(crate) fn integration_courses(&self) -> &'a [IntegrationCourse] {
        &self.columns.courses[self.columns.course_spans[self.row].range()]
    }

    /// [`PersonView::district`].
    pub(crate) fn district(&self, on: NaiveDate) -> Option<&'a str> {
        let columns = self.columns;
        let timeline = &columns.districts[columns.district_spans[self.row].range()];
        latest_on(timeline, on).map(|code| columns.names[*code as usize].as_str())
    }
}
