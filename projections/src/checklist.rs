//! The municipal checklist ("Checkliste für Kommunen: Integration von Flüchtlingen durch Bildung",
//! and the checklist of contacts each new arrival in Salzgitter gets): which steps a new arrival
//! should have taken how soon after arriving, mapped onto events the ledger records.
//!
//! The mapping (one source of truth: [`Step::ALL`] with [`Step::done_on`] and [`Step::applies`]):
//!
//! | step | done by | for | due within |
//! |---|---|---|---|
//! | `start_folder` | ChecklistItemCompleted `start_folder` | everyone | 4 weeks |
//! | `counselling` | any CounsellingContact | everyone | 4 weeks |
//! | `health_check` | ChecklistItemCompleted `health_check` | everyone | 4 weeks |
//! | `vaccination` | ChecklistItemCompleted `vaccination` | everyone | 8 weeks |
//! | `competence_assessment` | ChecklistItemCompleted `competence_assessment` | aged 15–64 | 8 weeks |
//! | `course_entitlement` | CourseEntitlementIssued | aged 15–64 | 8 weeks |
//! | `start_course` | ChecklistItemCompleted `start_course` (the 12-week start course) | aged 15–64 | 12 weeks |
//! | `german_lessons` | CourseRegistered (any language course) | aged 15–64 | 12 weeks |
//! | `kita` | KitaPlaceRequested or KitaStarted | aged 0–5 | 8 weeks |
//! | `school` | SchoolEnrolled | aged 6–14 | 8 weeks |
//!
//! Ages are taken in the year of the first arrival (year of arrival − birth year); a person whose
//! birth year is unknown is counted for the steps that apply to everyone only. A step done before
//! the arrival (an entitlement issued at the reception centre) counts as done within any window.

use chrono::{Days, NaiveDate};
use journey_core::catalogue::ChecklistItem;
use journey_core::envelope::PersonId;
use serde::{Deserialize, Serialize};

use crate::view::PersonView;

/// A step of the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    StartFolder,
    Counselling,
    HealthCheck,
    Vaccination,
    CompetenceAssessment,
    CourseEntitlement,
    StartCourse,
    GermanLessons,
    Kita,
    School,
}

/// Who a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Everyone,
    /// Aged 15 to 64 in the year of arrival.
    Adults,
    /// Aged 0 to 5 in the year of arrival.
    KitaAge,
    /// Aged 6 to 14 in the year of arrival.
    SchoolAge,
}

impl Group {
    pub const ALL: [Group; 4] = [
        Group::Everyone,
        Group::Adults,
        Group::KitaAge,
        Group::SchoolAge,
    ];

    pub fn index(self) -> usize {
        match self {
            Group::Everyone => 0,
            Group::Adults => 1,
            Group::KitaAge => 2,
            Group::SchoolAge => 3,
        }
    }

    /// Whether a person of `age` in the year of arrival (`None`: unknown) is in the group.
    pub fn holds(self, age: Option<i32>) -> bool {
        match (self, age) {
            (Group::Everyone, _) => true,
            (Group::Adults, Some(age)) => (15..=64).contains(&age),
            (Group::KitaAge, Some(age)) => (0..=5).contains(&age),
            (Group::SchoolAge, Some(age)) => (6..=14).contains(&age),
            (_, None) => false,
        }
    }
}

/// The windows the indicator reports, in weeks after the arrival.
pub const WINDOWS_WEEKS: [u32; 3] = [4, 8, 12];

/// How long after arriving a new arrival counts as new: followed for this many weeks.
pub const FOLLOW_UP_WEEKS: u32 = 12;

impl Step {
    pub const ALL: [Step; 10] = [
        Step::StartFolder,
        Step::Counselling,
        Step::HealthCheck,
        Step::Vaccination,
        Step::CompetenceAssessment,
        Step::CourseEntitlement,
        Step::StartCourse,
        Step::GermanLessons,
        Step::Kita,
        Step::School,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::StartFolder => "start_folder",
            Step::Counselling => "counselling",
            Step::HealthCheck => "health_check",
            Step::Vaccination => "vaccination",
            Step::CompetenceAssessment => "competence_assessment",
            Step::CourseEntitlement => "course_entitlement",
            Step::StartCourse => "start_course",
            Step::GermanLessons => "german_lessons",
            Step::Kita => "kita",
            Step::School => "school",
        }
    }

    pub fn group(self) -> Group {
        match self {
            Step::StartFolder | Step::Counselling | Step::HealthCheck | Step::Vaccination => {
                Group::Everyone
            }
            Step::CompetenceAssessment
            | Step::CourseEntitlement
            | Step::StartCourse
            | Step::GermanLessons => Group::Adults,
            Step::Kita => Group::KitaAge,
            Step::School => Group::SchoolAge,
        }
    }

    /// Weeks after the arrival by which the step is due.
    pub fn due_weeks(self) -> u32 {
        match self {
            Step::StartFolder | Step::Counselling | Step::HealthCheck => 4,
            Step::Vaccination
            | Step::CompetenceAssessment
            | Step::CourseEntitlement
            | Step::Kita
            | Step::School => 8,
            Step::StartCourse | Step::GermanLessons => 12,
        }
    }

    /// Whether the step is for this person (by their age in the year of `arrival`).
    pub fn applies(self, view: &PersonView, arrival: NaiveDate) -> bool {
        self.group().holds(age_at_arrival(view, arrival))
    }

    /// The first day the step was done, if it was.
    pub fn done_on(self, view: &PersonView) -> Option<NaiveDate> {
        let item = |wanted: ChecklistItem| {
            view.checklist
                .iter()
                .filter(|done| done.value == wanted)
                .map(|done| done.on)
                .min()
        };
        match self {
            Step::StartFolder => item(ChecklistItem::StartFolder),
            Step::Counselling => view.counselling.iter().map(|contact| contact.on).min(),
            Step::HealthCheck => item(ChecklistItem::HealthCheck),
            Step::Vaccination => item(ChecklistItem::Vaccination),
            Step::CompetenceAssessment => item(ChecklistItem::CompetenceAssessment),
            Step::CourseEntitlement => view.first_entitlement(),
            Step::StartCourse => item(ChecklistItem::StartCourse),
            Step::GermanLessons => view.courses.iter().map(|course| course.registered_on).min(),
            Step::Kita => view
                .kita_requests
                .iter()
                .copied()
                .chain(view.kita.iter().map(|spell| spell.start))
                .min(),
            Step::School => view
                .schools
                .iter()
                .map(|school| school.interval.start)
                .min(),
        }
    }

    /// Whether the step was done within `weeks` of `arrival`.
    pub fn done_within(self, view: &PersonView, arrival: NaiveDate, weeks: u32) -> bool {
        self.done_on(view)
            .is_some_and(|done_on| done_on <= weeks_after(arrival, weeks))
    }
}

/// Age in the year of `arrival`; `None` when the birth year is unknown.
fn age_at_arrival(view: &PersonView, arrival: NaiveDate) -> Option<i32> {
    view.age(arrival)
}

/// The day `weeks` weeks after `day`.
pub fn weeks_after(day: NaiveDate, weeks: u32) -> NaiveDate {
    day.checked_add_days(Days::new(7 * u64::from(weeks)))
        .unwrap_or(NaiveDate::MAX)
}

/// A step past its due day and not done by D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueStep {
    pub step: Step,
    pub due_on: NaiveDate,
    pub days_overdue: i64,
}

/// A new arrival with steps overdue on D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueEntry {
    pub person: PersonId,
    pub arrived_on: NaiveDate,
    pub days_since_arrival: i64,
    /// In checklist order.
    pub overdue: Vec<OverdueStep>,
    pub district: Option<String>,
}

/// Who is overdue on `as_of`: persons present on D whose first arrival lies in the 12 months up to D
/// (after D minus 12 months, on or before D), each with the steps that apply to them, are not done
/// by D and were due before D. Longest since arrival first, then by person id. Person-level: for
/// caseworkers only.
pub fn overdue(views: &[PersonView], as_of: NaiveDate) -> Vec<OverdueEntry> {
    let year_before = as_of
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(NaiveDate::MIN);
    let mut list: Vec<OverdueEntry> = views
        .iter()
        .filter(|view| view.is_present(as_of))
        .filter_map(|view| {
            let arrived_on = view.first_arrival(as_of)?;
            if arrived_on <= year_before {
                return None;
            }
            let overdue: Vec<OverdueStep> = Step::ALL
                .iter()
                .filter(|step| step.applies(view, arrived_on))
                .filter_map(|step| {
                    let due_on = weeks_after(arrived_on, step.due_weeks());
                    let done = step.done_on(view).is_some_and(|done_on| done_on <= as_of);
                    (due_on < as_of && !done).then(|| OverdueStep {
                        step: *step,
                        due_on,
                        days_overdue: (as_of - due_on).num_days(),
                    })
                })
                .collect();
            (!overdue.is_empty()).then(|| OverdueEntry {
                person: view.person,
                arrived_on,
                days_since_arrival: (as_of - arrived_on).num_days(),
                overdue,
                district: view.district(as_of).map(str::to_owned),
            })
        })
        .collect();
    list.sort_by(|left, right| {
        right
            .days_since_arrival
            .cmp(&left.days_since_arrival)
            .then_with(|| left.person.cmp(&right.person))
    });
    list
}
