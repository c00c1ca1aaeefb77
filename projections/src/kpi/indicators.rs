//! What each indicator counts for one person (the `observe` step) and how the counts become
//! measures. The definitions in [`super::catalogue`] say the same in words; a test checks that
//! the measure names agree.
//!
//! `observe` runs once per person view and per query, so it reads the view in place and
//! allocates nothing: windows and month-ends are computed once per query in [`Context`].

use chrono::{Datelike, Days, Months, NaiveDate};
use journey_core::catalogue::{Exam, Level, RecognitionOutcome};

mod checklist;
mod education;
pub(crate) mod volunteers;

use super::columns::Row;
use super::table::{Contribution, MeasureSpec, Quantile, ShareGroup};
use super::HouseholdsOf;
use crate::models::idle_since;
use crate::promising::{self, PromisingFacts, PROMISING_MIN_IDLE_DAYS};
use crate::view::{CourseEnd, Stage};

/// The dates of one query, computed once.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    as_of: NaiveDate,
    /// "In the 12 months up to D" means after this date and on or before D.
    year_before: NaiveDate,
    /// Courses for the completion rate started after this date and on or before `year_before`.
    two_years_before: NaiveDate,
    /// Entitlements counted by the participation rate were issued on or before this date.
    half_year_before: NaiveDate,
    /// Entries to the promising applicants' list followed for six months entered after this date
    /// (and on or before `half_year_before`).
    year_and_half_before: NaiveDate,
    /// The 12 month-ends up to D, oldest first.
    month_ends: [NaiveDate; 12],
    households: HouseholdsOf<'a>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(as_of: NaiveDate, households: HouseholdsOf<'a>) -> Self {
        let months_before = |months| {
            as_of
                .checked_sub_months(Months::new(months))
                .unwrap_or(NaiveDate::MIN)
        };
        Self {
            as_of,
            year_before: months_before(12),
            two_years_before: months_before(24),
            half_year_before: months_before(6),
            year_and_half_before: months_before(18),
            month_ends: month_ends(as_of),
            households,
        }
    }

    fn in_last_year(&self, date: NaiveDate) -> bool {
        self.year_before < date && date <= self.as_of
    }
}

/// The last days of the 12 months that end on or before `as_of`, oldest first: for D = 2024-12-31
/// they are 2024-01-31 … 2024-12-31, for D = 2024-12-15 they are 2023-12-31 … 2024-11-30.
fn month_ends(as_of: NaiveDate) -> [NaiveDate; 12] {
    let first_of_month = as_of.with_day(1).unwrap_or(as_of);
    let first_of_next = first_of_month
        .checked_add_months(Months::new(1))
        .unwrap_or(NaiveDate::MAX);
    // The month-end of D's own month counts only when D is that day.
    let latest_next_first = if first_of_next.pred_opt() == Some(as_of) {
        first_of_next
    } else {
        first_of_month
    };
    let mut ends = [as_of; 12];
    for (index, end) in ends.iter_mut().enumerate() {
        let months_back = (11 - index) as u32;
        *end = latest_next_first
            .checked_sub_months(Months::new(months_back))
            .and_then(|first| first.checked_sub_days(Days::new(1)))
            .unwrap_or(NaiveDate::MIN);
    }
    ends
}

fn days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

/// The indicators that are computed as aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Indicator {
    PopulationPresent,
    CourseWaitingDays,
    CourseAccessDays,
    CourseParticipationRate,
    CourseCompletionRate,
    DtzB1Rate,
    EmploymentRate,
    EmploymentByYearsSinceArrival,
    EmploymentByYearsSinceEntry,
    Sgb2IntegrationRate,
    IdleDays,
    KitaRate,
    SchoolRate,
    RecognitionOutcomes,
    MentoringCoverage,
    ChainFunnel,
    PromisingApplicants,
    OrientationTestPassRate,
    SchoolLeavingCertificates,
    SchoolToTrainingTransition,
    TrainingOutcomes,
    MeasureOutcomes,
    CourseReentry,
    DtzByCourseType,
    ChecklistCompletion,
    UnmetDemand,
    DemandForecast,
    BaseReach,
    ActiveVolunteers,
    MenteesPerVolunteer,
    MentorRequestDays,
    VolunteerRetention,
}

/// A share decided by disclosure control together with the other shares over its denominator
/// (see [`ShareGroup::Denominator`]).
const fn share(
    name: &'static str,
    numerator: usize,
    denominator: usize,
    persons: usize,
) -> MeasureSpec {
    MeasureSpec::Share {
        name,
        numerator,
        denominator,
        persons,
        group: ShareGroup::Denominator,
    }
}

/// A share decided by disclosure control on its own (see [`ShareGroup::Alone`]).
const fn share_alone(
    name: &'static str,
    numerator: usize,
    denominator: usize,
    persons: usize,
) -> MeasureSpec {
    MeasureSpec::Share {
        name,
        numerator,
        denominator,
        persons,
        group: ShareGroup::Alone,
    }
}

const fn quantile(
    name: &'static str,
    samples: usize,
    quantile: Quantile,
    persons: usize,
) -> MeasureSpec {
    MeasureSpec::Quantile {
        name,
        samples,
        quantile,
        persons,
    }
}

const DURATIONS: [MeasureSpec; 2] = [
    quantile("median_days", 0, Quantile::Median, 0),
    quantile("p75_days", 0, Quantile::P75, 0),
];

/// The bands of `course_waiting_days`'s distribution: the upper bound of each band in days (a
/// wait of exactly that many days falls in it), the last band open-ended. Whole weeks (up to 4,
/// 8 and 13 weeks, and longer), coarse enough that with disclosure control a district's
/// histogram is mostly published: a band of nobody suppresses the whole group.
pub(crate) const WAITING_BANDS_DAYS: [Option<i64>; 4] = [Some(28), Some(56), Some(91), None];

// course_waiting_days: slot 0 the persons, slot 1 the course starts, slots 2..=5 the starts per
// band. The bands partition the starts, so their shares are decided together: a band suppressed
// beside the others published could be recomputed as the rest of the starts.
const WAITING: [MeasureSpec; 6] = [
    quantile("median_days", 0, Quantile::Median, 0),
    quantile("p75_days", 0, Quantile::P75, 0),
    share("share_waited_0_to_28_days", 2, 1, 0),
    share("share_waited_29_to_56_days", 3, 1, 0),
    share("share_waited_57_to_91_days", 4, 1, 0),
    share("share_waited_over_91_days", 5, 1, 0),
];

// Slots of the person-share indicators: the denominator (which is also the person count), then
// the numerators.
const DENOMINATOR: usize = 0;

// Employed and marginal only are disjoint but leave the persons with neither: no sum of them is
// the denominator.
const EMPLOYMENT: [MeasureSpec; 2] = [
    share_alone("rate", 1, DENOMINATOR, DENOMINATOR),
    share_alone("marginal_only_rate", 2, DENOMINATOR, DENOMINATOR),
];

const COMPLETION: [MeasureSpec; 4] = [
    share("share_completed", 2, 1, 0),
    share("share_left_early", 3, 1, 0),
    share("share_moved_away", 5, 1, 0),
    share("share_open", 4, 1, 0),
];

const DTZ: [MeasureSpec; 6] = [
    share("share_b1_or_better", 2, 1, 0),
    share("share_a2", 3, 1, 0),
    share("share_below_a2", 4, 1, 0),
    share("first_attempt_share_b1_or_better", 7, 6, 5),
    share("first_attempt_share_a2", 8, 6, 5),
    share("first_attempt_share_below_a2", 9, 6, 5),
];

const SGB2: [MeasureSpec; 1] = [MeasureSpec::PerAverage {
    name: "rate",
    numerator: 1,
    denominator: 2,
    periods: 12,
    persons: 0,
}];

const IDLE: [MeasureSpec; 3] = [
    quantile("median_days", 0, Quantile::Median, 0),
    quantile("p75_days", 0, Quantile::P75, 0),
    MeasureSpec::ShareAbove {
        name: "share_over_90_days",
        samples: 0,
        days: 90,
        persons: 0,
    },
];

const KITA: [MeasureSpec; 2] = [share("rate_0_2", 1, 0, 0), share("rate_3_5", 3, 2, 2)];

const SCHOOL: [MeasureSpec; 3] = [
    share("rate", 1, DENOMINATOR, DENOMINATOR),
    quantile(
        "median_days_language_class_to_regular_class",
        0,
        Quantile::Median,
        2,
    ),
    quantile(
        "p75_days_language_class_to_regular_class",
        0,
        Quantile::P75,
        2,
    ),
];

const RECOGNITION: [MeasureSpec; 6] = [
    share("share_full", 2, 1, 0),
    share("share_partial", 3, 1, 0),
    share("share_compensation_measure", 4, 1, 0),
    share("share_negative", 5, 1, 0),
    quantile("median_days", 0, Quantile::Median, 0),
    quantile("p75_days", 0, Quantile::P75, 0),
];

const RATE: [MeasureSpec; 1] = [share("rate", 1, DENOMINATOR, DENOMINATOR)];

// chain_funnel: slot 0 is the cohort, slots 1..=6 the persons reaching each stage, slots 7..=11 the
// persons with a duration between consecutive stages (sample slots 0..=4). A person counts at every
// stage reached, so the stages overlap and no sum of them is the cohort: each share on its own.
/// `unmet_demand`'s slots: the persons waiting (counts) and the places offered (capacity, added
/// by [`super::compute_with_offers`] from the offers, never by a person).
pub(crate) const UNMET_KITA_WAITING: usize = 0;
const UNMET_ENTITLED_NOT_REGISTERED: usize = 1;
const UNMET_REGISTERED_NOT_STARTED: usize = 2;
const UNMET_COURSE_WAITING: usize = 3;
pub(crate) const UNMET_KITA_PLACES: usize = 4;
pub(crate) const UNMET_COURSE_PLACES: usize = 5;

const UNMET: [MeasureSpec; 7] = [
    MeasureSpec::Count {
        name: "kita_requests_open",
        slot: UNMET_KITA_WAITING,
    },
    MeasureSpec::Capacity {
        name: "kita_places",
        slot: UNMET_KITA_PLACES,
    },
    MeasureSpec::Shortfall {
        name: "kita_places_missing",
        demand: UNMET_KITA_WAITING,
        capacity: UNMET_KITA_PLACES,
        persons: UNMET_KITA_WAITING,
        parts: &[UNMET_KITA_WAITING],
    },
    MeasureSpec::Count {
        name: "course_entitled_not_registered",
        slot: UNMET_ENTITLED_NOT_REGISTERED,
    },
    MeasureSpec::Count {
        name: "course_registered_not_started",
        slot: UNMET_REGISTERED_NOT_STARTED,
    },
    MeasureSpec::Capacity {
        name: "course_places",
        slot: UNMET_COURSE_PLACES,
    },
    MeasureSpec::Shortfall {
        name: "course_places_missing",
        demand: UNMET_COURSE_WAITING,
        capacity: UNMET_COURSE_PLACES,
        persons: UNMET_COURSE_WAITING,
        parts: &[UNMET_ENTITLED_NOT_REGISTERED, UNMET_REGISTERED_NOT_STARTED],
    },
];

/// What a person present on D needs and does not have yet: a Kita place requested and not
/// started; an integration course entitled and not registered, or registered and not started.
fn observe_unmet_demand(row: Row<'_>, on: NaiveDate, out: &mut Contribution) {
    if !row.is_present(on) {
        return;
    }
    let last_request = row
        .kita_requests()
        .iter()
        .filter(|request| **request <= on)
        .max();
    if let Some(request) = last_request {
        let started_since = row
            .kita()
            .iter()
            .any(|spell| spell.start >= *request && spell.start <= on);
        if !started_since && !row.has_kita_place(on) {
            out.count(UNMET_KITA_WAITING);
        }
    }
    let integration = || row.integration_courses().iter();
    let registered = integration().any(|course| course.registered_on <= on);
    let waiting = integration().any(|course| {
        course.registered_on <= on
            && course.started_on.is_none_or(|started| started > on)
            && course.ended_on.is_none_or(|ended| ended > on)
    });
    let entitled = row
        .first_entitlement()
        .is_some_and(|entitled| entitled <= on);
    if entitled && !registered {
        out.count(UNMET_ENTITLED_NOT_REGISTERED);
        out.count(UNMET_COURSE_WAITING);
    } else if waiting {
        out.count(UNMET_REGISTERED_NOT_STARTED);
        out.count(UNMET_COURSE_WAITING);
    }
}

/// `demand_forecast`'s slots: persons who will need a place in the 12 months after D, and the
/// places offered for those months (added by [`super::compute_with_offers`]).
const FORECAST_KITA: usize = 0;
const FORECAST_SCHOOL: usize = 1;
const FORECAST_COURSE: usize = 2;
pub(crate) const FORECAST_KITA_PLACES: usize = 3;
pub(crate) const FORECAST_COURSE_PLACES: usize = 4;

const FORECAST: [MeasureSpec; 7] = [
    MeasureSpec::Count {
        name: "kita_children",
        slot: FORECAST_KITA,
    },
    MeasureSpec::Capacity {
        name: "kita_places",
        slot: FORECAST_KITA_PLACES,
    },
    MeasureSpec::Shortfall {
        name: "kita_places_missing",
        demand: FORECAST_KITA,
        capacity: FORECAST_KITA_PLACES,
        persons: FORECAST_KITA,
        parts: &[FORECAST_KITA],
    },
    MeasureSpec::Count {
        name: "school_starters",
        slot: FORECAST_SCHOOL,
    },
    MeasureSpec::Count {
        name: "course_entitled_not_started",
        slot: FORECAST_COURSE,
    },
    MeasureSpec::Capacity {
        name: "course_places",
        slot: FORECAST_COURSE_PLACES,
    },
    MeasureSpec::Shortfall {
        name: "course_places_missing",
        demand: FORECAST_COURSE,
        capacity: FORECAST_COURSE_PLACES,
        persons: FORECAST_COURSE,
        parts: &[FORECAST_COURSE],
    },
];

/// Who, of the persons present on D, will need a place in the 12 months after D: children aged
/// 0 to 4 on D without a Kita place (of Kita age, 1 to 5, within the 12 months); children aged 5
/// on D not in school (of school age within the 12 months); persons entitled to an integration
/// course on or before D who have not started one.
fn observe_demand_forecast(row: Row<'_>, on: NaiveDate, out: &mut Contribution) {
    if !row.is_present(on) {
        return;
    }
    match row.age(on) {
        Some(0..=4) if !row.has_kita_place(on) => out.count(FORECAST_KITA),
        Some(5) if !row.is_enrolled(on) => out.count(FORECAST_SCHOOL),
        _ => {}
    }
    let entitled = row
        .first_entitlement()
        .is_some_and(|entitled| entitled <= on);
    let started = row
        .integration_courses()
        .iter()
        .any(|course| course.started_on.is_some_and(|started| started <= on));
    if entitled && !started {
        out.count(FORECAST_COURSE);
    }
}

const FUNNEL_COHORT: usize = 0;
const FUNNEL_REACHED: usize = 1;
const FUNNEL_PAIRS: usize = 7;

const FUNNEL: [MeasureSpec; 16] = [
    share_alone(
        "reached_arrival",
        FUNNEL_REACHED,
        FUNNEL_COHORT,
        FUNNEL_COHORT,
    ),
    share_alone(
        "reached_entitlement",
        FUNNEL_REACHED + 1,
        FUNNEL_COHORT,
        FUNNEL_COHORT,
    ),
    share_alone(
        "reached_course",
        FUNNEL_REACHED + 2,
        FUNNEL_COHORT,
        FUNNEL_COHORT,
    ),
    share_alone(
        "reached_b1",
        FUNNEL_REACHED + 3,
        FUNNEL_COHORT,
        FUNNEL_COHORT,
    ),
    share_alone(
        "reached_measure_or_training",
        FUNNEL_REACHED + 4,
        FUNNEL_COHORT,
        FUNNEL_COHORT,
    ),
    share_alone(
        "reached_employment",
        FUNNEL_REACHED + 5,
        FUNNEL_COHORT,
        FUNNEL_COHORT,
    ),
    quantile(
        "median_days_arrival_to_entitlement",
        0,
        Quantile::Median,
        FUNNEL_PAIRS,
    ),
    quantile(
        "p75_days_arrival_to_entitlement",
        0,
        Quantile::P75,
        FUNNEL_PAIRS,
    ),
    quantile(
        "median_days_entitlement_to_course",
        1,
        Quantile::Median,
        FUNNEL_PAIRS + 1,
    ),
    quantile(
        "p75_days_entitlement_to_course",
        1,
        Quantile::P75,
        FUNNEL_PAIRS + 1,
    ),
    quantile(
        "median_days_course_to_b1",
        2,
        Quantile::Median,
        FUNNEL_PAIRS + 2,
    ),
    quantile("p75_days_course_to_b1", 2, Quantile::P75, FUNNEL_PAIRS + 2),
    quantile(
        "median_days_b1_to_measure_or_training",
        3,
        Quantile::Median,
        FUNNEL_PAIRS + 3,
    ),
    quantile(
        "p75_days_b1_to_measure_or_training",
        3,
        Quantile::P75,
        FUNNEL_PAIRS + 3,
    ),
    quantile(
        "median_days_measure_or_training_to_employment",
        4,
        Quantile::Median,
        FUNNEL_PAIRS + 4,
    ),
    quantile(
        "p75_days_measure_or_training_to_employment",
        4,
        Quantile::P75,
        FUNNEL_PAIRS + 4,
    ),
];

// promising_applicants: slot 0 is the stock on D, slot 1 the persons who entered the list in the
// conversion window, slot 2 those of them placed in work within six months. The stock and the
// cohort are different populations, so the share is decided on its own.
const PROMISING_COHORT: usize = 1;

const PROMISING: [MeasureSpec; 2] = [
    MeasureSpec::Count {
        name: "persons",
        slot: 0,
    },
    share_alone(
        "share_placed_within_6_months",
        2,
        PROMISING_COHORT,
        PROMISING_COHORT,
    ),
];

impl Indicator {
    /// The indicator of an aggregate catalogue key. The catalogue is checked first, so an unknown
    /// key cannot reach here; it falls back to the population count to stay total.
    pub(crate) fn for_key(key: &str) -> Indicator {
        Indicator::ALL
            .iter()
            .copied()
            .find(|indicator| indicator.key() == key)
            .unwrap_or(Indicator::PopulationPresent)
    }

    /// Whether answering the indicator reads person views beyond the columns: the few rows
    /// [`super::columns::Row::view`] reads (course re-entries, new arrivals' checklists, mentor
    /// requests) and the volunteers' pass over the views.
    pub(crate) fn reads_views(self) -> bool {
        matches!(
            self,
            Indicator::CourseReentry
                | Indicator::ChecklistCompletion
                | Indicator::MentorRequestDays
        ) || volunteers::counts_volunteers(self)
    }

    pub(crate) const ALL: [Indicator; 32] = [
        Indicator::PopulationPresent,
        Indicator::CourseWaitingDays,
        Indicator::CourseAccessDays,
        Indicator::CourseParticipationRate,
        Indicator::CourseCompletionRate,
        Indicator::DtzB1Rate,
        Indicator::EmploymentRate,
        Indicator::EmploymentByYearsSinceArrival,
        Indicator::EmploymentByYearsSinceEntry,
        Indicator::Sgb2IntegrationRate,
        Indicator::IdleDays,
        Indicator::KitaRate,
        Indicator::SchoolRate,
        Indicator::RecognitionOutcomes,
        Indicator::MentoringCoverage,
        Indicator::ChainFunnel,
        Indicator::PromisingApplicants,
        Indicator::OrientationTestPassRate,
        Indicator::SchoolLeavingCertificates,
        Indicator::SchoolToTrainingTransition,
        Indicator::TrainingOutcomes,
        Indicator::MeasureOutcomes,
        Indicator::CourseReentry,
        Indicator::DtzByCourseType,
        Indicator::ChecklistCompletion,
        Indicator::UnmetDemand,
        Indicator::DemandForecast,
        Indicator::BaseReach,
        Indicator::ActiveVolunteers,
        Indicator::MenteesPerVolunteer,
        Indicator::MentorRequestDays,
        Indicator::VolunteerRetention,
    ];

    pub(crate) fn key(&self) -> &'static str {
        match self {
            Indicator::PopulationPresent => "population_present",
            Indicator::CourseWaitingDays => "course_waiting_days",
            Indicator::CourseAccessDays => "course_access_days",
            Indicator::CourseParticipationRate => "course_participation_rate",
            Indicator::CourseCompletionRate => "course_completion_rate",
            Indicator::DtzB1Rate => "dtz_b1_rate",
            Indicator::EmploymentRate => "employment_rate",
            Indicator::EmploymentByYearsSinceArrival => "employment_by_years_since_arrival",
            Indicator::EmploymentByYearsSinceEntry => "employment_by_years_since_entry",
            Indicator::Sgb2IntegrationRate => "sgb2_integration_rate",
            Indicator::IdleDays => "idle_days",
            Indicator::KitaRate => "kita_rate",
            Indicator::SchoolRate => "school_rate",
            Indicator::RecognitionOutcomes => "recognition_outcomes",
            Indicator::MentoringCoverage => "mentoring_coverage",
            Indicator::ChainFunnel => "chain_funnel",
            Indicator::PromisingApplicants => "promising_applicants",
            Indicator::OrientationTestPassRate => "orientation_test_pass_rate",
            Indicator::SchoolLeavingCertificates => "school_leaving_certificates",
            Indicator::SchoolToTrainingTransition => "school_to_training_transition",
            Indicator::TrainingOutcomes => "training_outcomes",
            Indicator::MeasureOutcomes => "measure_outcomes",
            Indicator::CourseReentry => "course_reentry",
            Indicator::DtzByCourseType => "dtz_by_course_type",
            Indicator::ChecklistCompletion => "checklist_completion",
            Indicator::UnmetDemand => "unmet_demand",
            Indicator::DemandForecast => "demand_forecast",
            Indicator::BaseReach => "base_reach",
            Indicator::ActiveVolunteers => "active_volunteers",
            Indicator::MenteesPerVolunteer => "mentees_per_volunteer",
            Indicator::MentorRequestDays => "mentor_request_days",
            Indicator::VolunteerRetention => "volunteer_retention",
        }
    }

    pub(crate) fn measures(&self) -> &'static [MeasureSpec] {
        const PERSONS: [MeasureSpec; 1] = [MeasureSpec::Count {
            name: "persons",
            slot: 0,
        }];
        match self {
            Indicator::PopulationPresent => &PERSONS,
            Indicator::CourseWaitingDays => &WAITING,
            Indicator::CourseAccessDays => &DURATIONS,
            Indicator::CourseParticipationRate
            | Indicator::MentoringCoverage
            | Indicator::BaseReach => &RATE,
            Indicator::CourseCompletionRate => &COMPLETION,
            Indicator::DtzB1Rate => &DTZ,
            Indicator::EmploymentRate
            | Indicator::EmploymentByYearsSinceArrival
            | Indicator::EmploymentByYearsSinceEntry => &EMPLOYMENT,
            Indicator::Sgb2IntegrationRate => &SGB2,
            Indicator::IdleDays => &IDLE,
            Indicator::KitaRate => &KITA,
            Indicator::SchoolRate => &SCHOOL,
            Indicator::RecognitionOutcomes => &RECOGNITION,
            Indicator::ChainFunnel => &FUNNEL,
            Indicator::PromisingApplicants => &PROMISING,
            Indicator::OrientationTestPassRate => &education::ORIENTATION,
            Indicator::SchoolLeavingCertificates => &education::CERTIFICATES,
            Indicator::SchoolToTrainingTransition => &education::TRANSITION,
            Indicator::TrainingOutcomes => &education::OUTCOMES,
            Indicator::MeasureOutcomes => &education::OUTCOMES,
            Indicator::CourseReentry => &education::REENTRY,
            Indicator::DtzByCourseType => &education::DTZ_BY_COURSE,
            Indicator::ChecklistCompletion => &checklist::CHECKLIST,
            Indicator::UnmetDemand => &UNMET,
            Indicator::DemandForecast => &FORECAST,
            Indicator::ActiveVolunteers => &volunteers::ACTIVE,
            Indicator::MenteesPerVolunteer => &volunteers::MENTEES,
            Indicator::MentorRequestDays => &volunteers::WAITS,
            Indicator::VolunteerRetention => &volunteers::RETENTION,
        }
    }

    /// Whether what a person counts, and where, changes only on the days of the person's
    /// columns ([`super::columns::Row::step_days`]) and on New Year's Day, counts only (no
    /// durations) in at most four slots: answered from [`super::steps::Steps`].
    pub(crate) fn is_step(&self) -> bool {
        matches!(
            self,
            Indicator::PopulationPresent | Indicator::EmploymentRate | Indicator::KitaRate
        )
    }

    /// Adds what one person counts for this indicator as of the context's date, from the
    /// person's columns; `course_reentry`, `checklist_completion` and `mentor_request_days` read
    /// the view of the few persons the columns leave in question (and `promising_applicants` the
    /// stays of a person with several).
    pub(crate) fn observe(&self, context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
        let on = context.as_of;
        match self {
            Indicator::PopulationPresent => {
                if row.is_present(on) {
                    out.count(0);
                }
            }
            Indicator::CourseWaitingDays => {
                let mut any = false;
                for course in row.integration_courses() {
                    if let Some(started_on) = course.started_on {
                        if context.in_last_year(started_on) {
                            let waited = days(course.registered_on, started_on);
                            out.sample(0, waited);
                            out.count(1);
                            let band = WAITING_BANDS_DAYS
                                .iter()
                                .position(|upper| upper.is_none_or(|upper| waited <= upper))
                                .unwrap_or(WAITING_BANDS_DAYS.len() - 1);
                            out.count(2 + band);
                            any = true;
                        }
                    }
                }
                if any {
                    out.count(0);
                }
            }
            Indicator::CourseAccessDays => {
                let Some(first_start) = row.first_integration_course_start() else {
                    return;
                };
                if !context.in_last_year(first_start) {
                    return;
                }
                if let Some(entitled_on) = row
                    .first_entitlement()
                    .filter(|entitled_on| *entitled_on <= first_start)
                {
                    out.sample(0, days(entitled_on, first_start));
                    out.count(0);
                }
            }
            Indicator::CourseParticipationRate => {
                let entitled_long_enough = row
                    .first_entitlement()
                    .is_some_and(|entitled_on| entitled_on <= context.half_year_before);
                if entitled_long_enough && row.is_present(on) {
                    out.count(DENOMINATOR);
                    if row
                        .first_integration_course_start()
                        .is_some_and(|started_on| started_on <= on)
                    {
                        out.count(1);
                    }
                }
            }
            Indicator::CourseCompletionRate => {
                let mut any = false;
                for course in row.integration_courses() {
                    let Some(started_on) = course.started_on else {
                        continue;
                    };
                    if !(context.two_years_before < started_on && started_on <= context.year_before)
                    {
                        continue;
                    }
                    any = true;
                    out.count(1);
                    let ended = course.ended_on.filter(|ended_on| *ended_on <= on);
                    match (ended, course.end) {
                        (Some(_), Some(CourseEnd::Completed)) => out.count(2),
                        (Some(_), Some(CourseEnd::LeftEarly(_))) => out.count(3),
                        (Some(_), Some(CourseEnd::MovedAway)) => out.count(5),
                        _ => out.count(4),
                    }
                }
                if any {
                    out.count(0);
                }
            }
            Indicator::DtzB1Rate => {
                let (mut any, mut any_first) = (false, false);
                for test in row.language_tests() {
                    if test.exam != Exam::Dtz || !context.in_last_year(test.on) {
                        continue;
                    }
                    let level_slot = match test.level {
                        level if level >= Level::B1 => 0,
                        Level::A2 => 1,
                        _ => 2,
                    };
                    any = true;
                    out.count(1);
                    out.count(2 + level_slot);
                    if test.first_attempt {
                        any_first = true;
                        out.count(6);
                        out.count(7 + level_slot);
                    }
                }
                if any {
                    out.count(0);
                }
                if any_first {
                    out.count(5);
                }
            }
            Indicator::EmploymentRate => observe_employment(row, on, out),
            Indicator::EmploymentByYearsSinceArrival => {
                if row.years_since_arrival(on).is_some_and(|years| years <= 10) {
                    observe_employment(row, on, out);
                }
            }
            Indicator::EmploymentByYearsSinceEntry => {
                if row.years_since_entry(on).is_some_and(|years| years <= 10) {
                    observe_employment(row, on, out);
                }
            }
            Indicator::Sgb2IntegrationRate => observe_sgb2(context, row, out),
            Indicator::IdleDays => {
                if row.birth_year().is_none() && row.is_present(on) {
                    out.exclude_for_unknown_birth_year();
                    return;
                }
                if let Some(since) = idle_since(&row, context.households.get(), on) {
                    out.sample(0, days(since, on));
                    out.count(0);
                }
            }
            Indicator::KitaRate => {
                let Some(age) = row.age(on) else {
                    if row.is_present(on) {
                        out.exclude_for_unknown_birth_year();
                    }
                    return;
                };
                let slot = match age {
                    0..=2 => 0,
                    3..=5 => 2,
                    _ => return,
                };
                if row.is_present(on) {
                    out.count(slot);
                    if row.has_kita_place(on) {
                        out.count(slot + 1);
                    }
                }
            }
            Indicator::SchoolRate => {
                if row.birth_year().is_none() && row.is_present(on) {
                    out.exclude_for_unknown_birth_year();
                }
                if row.age(on).is_some_and(|age| (6..=15).contains(&age)) && row.is_present(on) {
                    out.count(DENOMINATOR);
                    if row.is_enrolled(on) {
                        out.count(1);
                    }
                }
                let mut any = false;
                for school in row.schools() {
                    if let Some(moved_on) = school.regular_class_on {
                        if school.language_class && context.in_last_year(moved_on) {
                            out.sample(0, days(school.interval.start, moved_on));
                            any = true;
                        }
                    }
                }
                if any {
                    out.count(2);
                }
            }
            Indicator::RecognitionOutcomes => {
                let mut any = false;
                for case in row.recognitions() {
                    let (Some(decided_on), Some(outcome)) = (case.decided_on, case.outcome) else {
                        continue;
                    };
                    if !context.in_last_year(decided_on) {
                        continue;
                    }
                    any = true;
                    out.count(1);
                    out.count(match outcome {
                        RecognitionOutcome::Full => 2,
                        RecognitionOutcome::Partial => 3,
                        RecognitionOutcome::CompensationMeasure => 4,
                        RecognitionOutcome::Negative => 5,
                    });
                    out.sample(0, days(case.applied_on, decided_on));
                }
                if any {
                    out.count(0);
                }
            }
            Indicator::MentoringCoverage => {
                if row.is_present(on) {
                    out.count(DENOMINATOR);
                    if row.has_mentor(on) {
                        out.count(1);
                    }
                }
            }
            Indicator::ChainFunnel => observe_funnel(row, on, out),
            Indicator::PromisingApplicants => observe_promising(context, row, out),
            Indicator::OrientationTestPassRate => education::observe_orientation(context, row, out),
            Indicator::SchoolLeavingCertificates => {
                education::observe_certificates(context, row, out)
            }
            Indicator::SchoolToTrainingTransition => {
                education::observe_transition(context, row, out)
            }
            Indicator::TrainingOutcomes => {
                education::observe_outcomes(context, row.trainings().iter(), out)
            }
            Indicator::MeasureOutcomes => {
                education::observe_outcomes(context, row.measures().iter(), out)
            }
            Indicator::CourseReentry => education::observe_reentry(context, row, out),
            Indicator::DtzByCourseType => education::observe_dtz_by_course(context, row, out),
            Indicator::ChecklistCompletion => checklist::observe_checklist(context, row, out),
            Indicator::UnmetDemand => observe_unmet_demand(row, on, out),
            Indicator::DemandForecast => observe_demand_forecast(row, on, out),
            Indicator::BaseReach => {
                // Cut by the person's dimensions on D (district: where they live on D), so the
                // reach says which districts a base serves, not where the base stands.
                if row.is_present(on) {
                    out.count(DENOMINATOR);
                    let reached = row
                        .base_contacts()
                        .iter()
                        .any(|contacted_on| context.in_last_year(*contacted_on));
                    if reached {
                        out.count(1);
                    }
                }
            }
            Indicator::MentorRequestDays => volunteers::observe_request_days(context, row, out),
            // Counted from the volunteer register, not per person (`volunteers::add_volunteers`).
            Indicator::ActiveVolunteers
            | Indicator::MenteesPerVolunteer
            | Indicator::VolunteerRetention => {}
        }
    }
}

fn observe_employment(row: Row<'_>, on: NaiveDate, out: &mut Contribution) {
    if row.birth_year().is_none() && row.is_present(on) {
        out.exclude_for_unknown_birth_year();
        return;
    }
    if !row.is_working_age(on) || !row.is_present(on) {
        return;
    }
    out.count(DENOMINATOR);
    let day = row.employment_on(on);
    if day.employed {
        out.count(1);
    } else if day.marginal {
        out.count(2);
    }
}

fn observe_sgb2(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    // Most persons have no SGB II spell touching the window (the first month-end minus a day for
    // a start on it, to D); they contribute nothing and are skipped before any date arithmetic.
    let window_start = context.month_ends[0].min(context.year_before);
    let touches_window = row.sgb2().iter().any(|spell| {
        spell.start <= context.as_of && spell.end.is_none_or(|end| end >= window_start)
    });
    if !touches_window {
        return;
    }
    let receives_around = |date: NaiveDate| {
        row.receives_sgb2(date)
            || date
                .pred_opt()
                .is_some_and(|before| row.receives_sgb2(before))
    };
    let starts = || {
        let jobs = row
            .jobs()
            .iter()
            .filter(|(_, counts_as_employment)| *counts_as_employment)
            .map(|(interval, _)| interval.start);
        let trainings = row.trainings().iter().map(|(interval, _)| interval.start);
        jobs.chain(trainings)
            .filter(|start| context.in_last_year(*start) && receives_around(*start))
    };
    let month = |date: NaiveDate| date.year() * 12 + date.month0() as i32;
    let mut integrations = 0;
    for (index, start) in starts().enumerate() {
        // At most one integration per person and calendar month: count a start only when no
        // earlier-listed start falls in the same month.
        if !starts()
            .take(index)
            .any(|earlier| month(earlier) == month(start))
        {
            integrations += 1;
        }
    }
    let stock = context
        .month_ends
        .iter()
        .filter(|end| row.receives_sgb2(**end) && row.is_present(**end))
        .count() as u64;
    if integrations > 0 || stock > 0 {
        out.count(0);
        out.add(1, integrations);
        out.add(2, stock);
    }
}

fn observe_funnel(row: Row<'_>, on: NaiveDate, out: &mut Contribution) {
    if row.first_arrival(on).is_none() {
        return;
    }
    out.count(FUNNEL_COHORT);
    // Each stage's date read once, not once per pair it is in.
    let reached = Stage::CHAIN.map(|stage| row.stage_reached_on(stage).filter(|date| *date <= on));
    for (index, date) in reached.iter().enumerate() {
        if date.is_some() {
            out.count(FUNNEL_REACHED + index);
        }
    }
    for (index, pair) in reached.windows(2).enumerate() {
        if let [Some(from), Some(to)] = *pair {
            if from <= to {
                out.sample(index, days(from, to));
                out.count(FUNNEL_PAIRS + index);
            }
        }
    }
}

fn observe_promising(context: &Context<'_>, row: Row<'_>, out: &mut Contribution) {
    let on = context.as_of;
    if row.birth_year().is_none() && row.is_present(on) {
        out.exclude_for_unknown_birth_year();
        return;
    }
    // Most persons never qualify; they are skipped before any spell arithmetic.
    if row.qualified_since(on).is_none() {
        return;
    }
    let min_days = PROMISING_MIN_IDLE_DAYS;
    if promising::is_member(&row, context.households.get(), on, min_days) {
        out.count(0);
    }
    // Entries whose six months have passed by D: after D minus 18 months, on or before D minus 6.
    let first_in_window = promising::first_entry_after(
        &row,
        context.households.get(),
        context.year_and_half_before,
        context.half_year_before,
        min_days,
    );
    if let Some(entered_on) = first_in_window {
        out.count(PROMISING_COHORT);
        if promising::placed_within_window(&row, entered_on) {
            out.count(PROMISING_COHORT + 1);
        }
    }
}
