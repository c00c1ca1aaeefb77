//! Read models for caseworkers and coordinators, each a pure function of the person views of one
//! `known_at` cut and a reporting date `as_of`.
//!
//! These are person-level: the API shows them only to roles allowed to see the persons (an
//! agency's caseworkers see the persons their agency works with, or who consented to it). The KPI
//! catalogue is the aggregate side; `idle_list` is shared by both (the `idle_days` indicator is
//! the distribution of exactly these idle days, see [`idle_since`]).
//!
//! Every list comes in a fixed order: by person id unless it says otherwise.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use journey_core::catalogue::{Agency, CourseType, ResidenceStatus};
use journey_core::envelope::PersonId;
use serde::{Deserialize, Serialize};

use crate::view::{ActivityKind, CourseStatus, Households, PersonView, ProtectionStatus, Stage};

/// An activity open on the reporting date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpenActivity {
    pub since: NaiveDate,
    pub kind: ActivityKind,
    /// The course, measure, training or employment id; `None` for school and Kita.
    pub id: Option<String>,
    /// The course type, measure type, occupation code, employment kind or school type.
    pub detail: Option<String>,
}

/// Where a person stands on the reporting date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonStatus {
    pub person: PersonId,
    pub as_of: NaiveDate,
    pub present: bool,
    pub stage: Stage,
    /// Ordered by start date, then kind and id.
    pub open_activities: Vec<OpenActivity>,
    pub course_status: CourseStatus,
    pub residence_status: Option<ResidenceStatus>,
    pub protection_status: Option<ProtectionStatus>,
    /// The district as of D (the last known one for a person who moved away).
    pub district: Option<String>,
    /// Agencies involved by D, in the order they appeared.
    pub agencies: Vec<Agency>,
}

/// The status of one person as of `as_of`.
pub fn person_status(view: &PersonView, as_of: NaiveDate) -> PersonStatus {
    PersonStatus {
        person: view.person,
        as_of,
        present: view.is_present(as_of),
        stage: view.stage(as_of),
        open_activities: open_activities(view, as_of),
        course_status: view.course_status(as_of),
        residence_status: view.residence(as_of).map(|residence| residence.status),
        protection_status: view.protection_status(as_of),
        district: view.district(as_of).map(str::to_owned),
        agencies: view.agencies_on(as_of).collect(),
    }
}

fn open_activities(view: &PersonView, on: NaiveDate) -> Vec<OpenActivity> {
    let activity = |since, kind, id: Option<&str>, detail: Option<&str>| OpenActivity {
        since,
        kind,
        id: id.map(str::to_owned),
        detail: detail.map(str::to_owned),
    };
    let mut open = Vec::new();
    for course in &view.courses {
        if let Some(attendance) = course.attendance().filter(|spell| spell.contains(on)) {
            open.push(activity(
                attendance.start,
                ActivityKind::Course,
                Some(&course.course_id),
                Some(course.course_type.as_str()),
            ));
        }
    }
    for measure in view.measures.iter().filter(|m| m.interval.contains(on)) {
        open.push(activity(
            measure.interval.start,
            ActivityKind::Measure,
            Some(&measure.measure_id),
            Some(measure.measure_type.as_str()),
        ));
    }
    for training in view.trainings.iter().filter(|t| t.interval.contains(on)) {
        open.push(activity(
            training.interval.start,
            ActivityKind::Training,
            Some(&training.training_id),
            Some(&training.occupation_code),
        ));
    }
    for job in view.employments.iter().filter(|j| j.interval.contains(on)) {
        open.push(activity(
            job.interval.start,
            ActivityKind::Employment,
            Some(&job.employment_id),
            Some(job.kind.as_str()),
        ));
    }
    for school in view.schools.iter().filter(|s| s.interval.contains(on)) {
        open.push(activity(
            school.interval.start,
            ActivityKind::School,
            None,
            Some(school.school_type.as_str()),
        ));
    }
    for kita in view.kita.iter().filter(|k| k.contains(on)) {
        open.push(activity(kita.start, ActivityKind::Kita, None, None));
    }
    open.sort();
    open
}

/// The persons present on D whom one caseworker works with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseworkerCaseload {
    pub caseworker_id: String,
    pub persons: Vec<PersonId>,
}

/// The persons present on D whom an agency works with, and the same per caseworker of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyCaseload {
    pub agency: Agency,
    pub persons: Vec<PersonId>,
    /// Ordered by caseworker id.
    pub caseworkers: Vec<CaseworkerCaseload>,
}

/// Caseloads as of `as_of`: for each agency involved with someone present on D (in catalogue
/// order of agencies), those persons, and per caseworker of that agency the persons the
/// caseworker recorded events for by D. Involvement is defined on [`PersonView`].
pub fn caseloads(views: &[PersonView], as_of: NaiveDate) -> Vec<AgencyCaseload> {
    type Load = (Vec<PersonId>, BTreeMap<String, Vec<PersonId>>);
    let mut loads: BTreeMap<Agency, Load> = BTreeMap::new();
    for view in views.iter().filter(|view| view.is_present(as_of)) {
        for agency in view.agencies_on(as_of) {
            loads.entry(agency).or_default().0.push(view.person);
        }
        for caseworker in view.caseworkers.iter().filter(|c| c.since <= as_of) {
            loads
                .entry(caseworker.agency)
                .or_default()
                .1
                .entry(caseworker.caseworker_id.to_string())
                .or_default()
                .push(view.person);
        }
    }
    loads
        .into_iter()
        .map(|(agency, (mut persons, caseworkers))| {
            persons.sort();
            persons.dedup();
            AgencyCaseload {
                agency,
                persons,
                caseworkers: caseworkers
                    .into_iter()
                    .map(|(caseworker_id, mut persons)| {
                        persons.sort();
                        persons.dedup();
                        CaseworkerCaseload {
                            caseworker_id,
                            persons,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A registration waiting for its course to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingEntry {
    pub person: PersonId,
    pub course_id: String,
    pub course_type: CourseType,
    pub provider: String,
    pub registered_on: NaiveDate,
    /// Days from registration to D.
    pub days_waiting: i64,
    pub district: Option<String>,
}

/// The course waiting list as of `as_of`: registrations of persons present on D that have not
/// started by D (a start after D is still waiting on D), longest wait first, then by person and
/// course id.
pub fn course_waiting_list(views: &[PersonView], as_of: NaiveDate) -> Vec<WaitingEntry> {
    let mut list = Vec::new();
    for view in views.iter().filter(|view| view.is_present(as_of)) {
        for course in &view.courses {
            if course.status_on(as_of) == Some(CourseStatus::Waiting) {
                list.push(WaitingEntry {
                    person: view.person,
                    course_id: course.course_id.to_string(),
                    course_type: course.course_type,
                    provider: course.provider.to_string(),
                    registered_on: course.registered_on,
                    days_waiting: (as_of - course.registered_on).num_days(),
                    district: view.district(as_of).map(str::to_owned),
                });
            }
        }
    }
    list.sort_by(|left, right| {
        right
            .days_waiting
            .cmp(&left.days_waiting)
            .then_with(|| left.person.cmp(&right.person))
            .then_with(|| left.course_id.cmp(&right.course_id))
    });
    list
}

/// When a person's idle time began, as `idle_days` and `idle_list` define it: for a working-age
/// person present on D with no active activity on D and no child under 3 in the household on D,
/// the later of the end of their last activity and the start of their current stay. `None` for
/// everyone else.
pub fn idle_since(
    person: &impl IdleFacts,
    households: &Households,
    on: NaiveDate,
) -> Option<NaiveDate> {
    if !person.is_working_age(on) {
        return None;
    }
    let since = person.idle_since(on)?;
    if households.has_child_under_3_of(person.person(), person.household_id(), on) {
        return None;
    }
    Some(since)
}

/// What [`idle_since`] reads of a person: their view, or their row of the KPI columns
/// (`crate::kpi::columns`), which answers from copies of the same fields.
pub trait IdleFacts {
    fn person(&self) -> PersonId;
    fn household_id(&self) -> Option<uuid::Uuid>;
    /// [`PersonView::is_working_age`].
    fn is_working_age(&self, on: NaiveDate) -> bool;
    /// [`PersonView::idle_since`].
    fn idle_since(&self, on: NaiveDate) -> Option<NaiveDate>;
}

impl IdleFacts for PersonView {
    fn person(&self) -> PersonId {
        self.person
    }

    fn household_id(&self) -> Option<uuid::Uuid> {
        self.household_id
    }

    fn is_working_age(&self, on: NaiveDate) -> bool {
        PersonView::is_working_age(self, on)
    }

    fn idle_since(&self, on: NaiveDate) -> Option<NaiveDate> {
        PersonView::idle_since(self, on)
    }
}

/// The one rule for "idle for N days" (DOMAIN.md: the idle list holds persons idle *more than* N
/// days): `idle_days` strictly above `days`. A person idle exactly N days on D is not idle for N
/// days yet. The idle list, the people filter's `min_idle_days` and the `idle_days` indicator's
/// `share_over_90_days` all decide with it, so the three never disagree about a boundary.
pub fn is_idle_more_than(idle_days: i64, days: u32) -> bool {
    idle_days > i64::from(days)
}

/// One person of the idle list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleEntry {
    pub person: PersonId,
    pub idle_days: i64,
    pub idle_since: NaiveDate,
    /// The kind of the last activity that ended by D, if any.
    pub last_activity: Option<ActivityKind>,
    pub stage: Stage,
    pub district: Option<String>,
}

/// The idle list as of `as_of`: persons idle more than `min_days` days on D (see
/// [`is_idle_more_than`]), longest first, then by person id. Person-level: for caseworkers only.
pub fn idle_list(
    views: &[PersonView],
    households: &Households,
    as_of: NaiveDate,
    min_days: u32,
) -> Vec<IdleEntry> {
    let mut list: Vec<IdleEntry> = views
        .iter()
        .filter_map(|view| {
            let since = idle_since(view, households, as_of)?;
            let idle_days = (as_of - since).num_days();
            is_idle_more_than(idle_days, min_days).then(|| IdleEntry {
                person: view.person,
                idle_days,
                idle_since: since,
                last_activity: view.last_ended_activity(as_of).map(|(kind, _)| kind),
                stage: view.stage(as_of),
                district: view.district(as_of).map(str::to_owned),
            })
        })
        .collect();
    list.sort_by(|left, right| {
        right
            .idle_days
            .cmp(&left.idle_days)
            .then_with(|| left.person.cmp(&right.person))
    });
    list
}

/// A filter over the persons of one cut as of D; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleFilter {
    /// Include persons not present on D (moved away, or not arrived yet).
    pub include_absent: bool,
    pub district: Option<String>,
    pub stage: Option<Stage>,
    /// An agency involved with the person by D.
    pub agency: Option<Agency>,
    /// Idle more than this many days on D, by the idle list's rule ([`is_idle_more_than`]).
    pub min_idle_days: Option<u32>,
    pub course_status: Option<CourseStatus>,
}

impl PeopleFilter {
    /// Whether a person matches as of `as_of`.
    pub fn matches(&self, view: &PersonView, households: &Households, as_of: NaiveDate) -> bool {
        (self.include_absent || view.is_present(as_of))
            && self
                .district
                .as_deref()
                .is_none_or(|district| view.district(as_of) == Some(district))
            && self.stage.is_none_or(|stage| view.stage(as_of) == stage)
            && self
                .agency
                .is_none_or(|agency| view.works_with(agency, as_of))
            && self
                .course_status
                .is_none_or(|status| view.course_status(as_of) == status)
            && self.min_idle_days.is_none_or(|min_days| {
                idle_since(view, households, as_of)
                    .is_some_and(|since| is_idle_more_than((as_of - since).num_days(), min_days))
            })
    }
}

/// The persons matching `filter` as of `as_of`, in person order, so a cursor connection can page
/// through them with the person id as cursor (`skip_while(|view| view.person <= after)`).
pub fn people<'a>(
    views: &'a [PersonView],
    households: &'a Households,
    as_of: NaiveDate,
    filter: &'a PeopleFilter,
) -> impl Iterator<Item = &'a PersonView> + 'a {
    views
        .iter()
        .filter(move |view| filter.matches(view, households, as_of))
}
