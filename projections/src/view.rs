//! The person view: a compact record derived from one person's effective history at a `known_at`
//! cut, which answers every "as of D" question by comparing business dates.
//!
//! [`PersonView::build`] folds the effective facts (see [`crate::temporal::effective`]) in
//! valid-time order into intervals and dated timelines. Nothing in the view depends on a reporting
//! date: an event with `occurred_on` after D simply lies after D, so one view built at `known_at`
//! answers any `as_of`. Every interval is half-open: a spell is active on D when it started on or
//! before D and has not ended on or before D. This follows DOMAIN.md section 5's "present on D"
//! (an arrival on or before D and no later move away on or before D) and makes "ended on D" mean
//! "not active on D".
//!
//! Decisions where DOMAIN.md is silent:
//! - The history is folded in valid-time order (ties in stream order). A start of something that
//!   is already open keeps the first start and an end of something not open changes nothing, as in
//!   `journey_core::rules`. Contradictory dates are therefore read in date order.
//! - A second `ArrivalRecorded` while present changes district and accommodation only.
//! - Protection status is the [`ProtectionStatus`] table below.
//! - Chain stages are [`Stage`]; a stage is reached on the first date of its event.
//! - Agencies involved with a person are those `journey_core::involvement::involved_agencies`
//!   names for the person's effective events (the recording caseworker's agency, and the agency a
//!   `CooperationPlanAgreed`, `CounsellingContact` or `ReferralMade` names), each from the first
//!   such event's date: the same definition the API's visibility uses. Consent recipients are not
//!   involved by that alone: a consent lets an agency see, not work.
//! - Consents are folded in the order they were recorded, by `journey_core::involvement::Consents`
//!   (access follows what is recorded, not business dates); each spell runs from the date given to
//!   the date withdrawn.
//! - Caseworkers: actors in the caseworker role, with the agency they acted for.
//! - A re-entry is an integration course registered after the person left an integration course
//!   early.
//! - `MovedAway` closes every spell open on its date (courses waiting or started, measures,
//!   trainings, jobs, mentoring, Kita, school, benefits), with the outcome "moved away" where a
//!   spell has one, as `journey_core::rules` does; a return starts with nothing open. Later ends
//!   of those spells change nothing (the ledger refuses them).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use journey_core::catalogue::{
    Accommodation, Agency, AsylumOutcome, BenefitKind, Certificate, ChecklistItem, CourseType,
    Destination, EmploymentKind, EndOutcome, EntitlementIssuer, EntitlementKind, Event, Exam,
    LeaveReason, Level, MeasureType, Origin, RecognitionOutcome, ResidenceStatus, SchoolType, Sex,
    Topic,
};
use journey_core::envelope::PersonId;
use journey_core::involvement::{caseworker_agency, involved_agencies, Consents};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use uuid::Uuid;

use crate::code::Code;
use crate::id::Id;
use crate::journal::{Inline, Journal, Store};
use crate::list::List;
use crate::temporal::{effective_in, EffectiveFact};

/// A half-open span of business dates: active on D when `start <= D` and D is before `end`.
/// `end == None` means still open as far as the cut knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval {
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

impl Interval {
    pub fn open(start: NaiveDate) -> Self {
        Self { start, end: None }
    }

    /// Whether the spell is active on `on`.
    pub fn contains(&self, on: NaiveDate) -> bool {
        self.start <= on && self.end.is_none_or(|end| on < end)
    }

    /// The end as seen on `on`: `None` while the spell is still open on that day.
    pub fn ended_by(&self, on: NaiveDate) -> Option<NaiveDate> {
        self.end.filter(|end| *end <= on)
    }
}

/// A value that holds from a date on, until the next entry of its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dated<T> {
    pub on: NaiveDate,
    pub value: T,
}

/// The latest entry of a date-ordered timeline on or before `on`.
pub(crate) fn latest_on<T>(timeline: &[Dated<T>], on: NaiveDate) -> Option<&T> {
    let count = timeline.partition_point(|entry| entry.on <= on);
    count.checked_sub(1).map(|index| &timeline[index].value)
}

macro_rules! labelled_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// Parses the wire form.
            pub fn parse(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The position in [`Self::ALL`].
            pub fn index(&self) -> usize {
                *self as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

labelled_enum!(
    /// The `protection_status` dimension: the person's protection or residence situation as of D.
    ///
    /// It is folded in date order from the status-bearing events; the latest one on or before D
    /// decides, mapped as follows:
    ///
    /// | event | status |
    /// |---|---|
    /// | `AsylumApplicationFiled` | `in_procedure` |
    /// | `AsylumDecisionIssued` `asylum_art16a` or `refugee_3` | `refugee` |
    /// | `AsylumDecisionIssued` `subsidiary_4` | `subsidiary_protection` |
    /// | `AsylumDecisionIssued` `deportation_ban` | `deportation_ban` |
    /// | `AsylumDecisionIssued` `rejected` or `dublin` | `rejected` |
    /// | `ResidenceStatusChanged` `gestattung` | `in_procedure` |
    /// | `ResidenceStatusChanged` `duldung` | `tolerated` |
    /// | `ResidenceStatusChanged` `aufenthaltserlaubnis`, `legal_basis` starting with `§24` | `temporary_protection` |
    /// | `ResidenceStatusChanged` `aufenthaltserlaubnis`, otherwise | the protection held (`refugee`, `subsidiary_protection`, `deportation_ban`, `temporary_protection`) when there is one, else `other_permit` |
    /// | `ResidenceStatusChanged` `niederlassungserlaubnis` | `settled` |
    /// | `ResidenceStatusChanged` `eingebuergert` | `naturalised` |
    /// | `ResidenceStatusChanged` `other` | `other` |
    ///
    /// A residence permit after a positive decision is the consequence of that protection, so it
    /// keeps the protection category. Only `§24` is read from `legal_basis`: the other bases are
    /// either named by the decision or ambiguous (`§25(2)` covers refugees and subsidiary
    /// protection). Nothing recorded yet is the dimension value `none`, never `unknown`.
    ProtectionStatus {
        InProcedure => "in_procedure",
        Refugee => "refugee",
        SubsidiaryProtection => "subsidiary_protection",
        DeportationBan => "deportation_ban",
        TemporaryProtection => "temporary_protection",
        Rejected => "rejected",
        Tolerated => "tolerated",
        OtherPermit => "other_permit",
        Settled => "settled",
        Naturalised => "naturalised",
        Other => "other",
    }
);

labelled_enum!(
    /// The stages of the prevention chain (DOMAIN.md section 5, `chain_funnel`), in chain order.
    ///
    /// - `registered`: the person is in the ledger but has not arrived (yet).
    /// - `arrival`: the first `ArrivalRecorded`.
    /// - `entitlement`: the first `CourseEntitlementIssued`.
    /// - `course`: the first `CourseStarted` of any language course (integration or job-related),
    ///   because the stage is about language learning having begun.
    /// - `b1`: the first `LanguageTestTaken` (any exam) at level `b1` or better.
    /// - `measure_or_training`: the first `MeasureStarted` or `TrainingStarted`.
    /// - `employment`: the first `EmploymentStarted` of a kind that counts as employment in
    ///   `employment_rate` (social insurance or self-employed; marginal jobs do not).
    ///
    /// A person's stage as of D is the furthest stage in chain order reached on or before D; stages
    /// need not be reached in order (someone may find a job before any course).
    Stage {
        Registered => "registered",
        Arrival => "arrival",
        Entitlement => "entitlement",
        Course => "course",
        B1 => "b1",
        MeasureOrTraining => "measure_or_training",
        Employment => "employment",
    }
);

impl Stage {
    /// The stages of the chain proper, from arrival to employment.
    pub const CHAIN: [Stage; 6] = [
        Stage::Arrival,
        Stage::Entitlement,
        Stage::Course,
        Stage::B1,
        Stage::MeasureOrTraining,
        Stage::Employment,
    ];

    /// The position in [`Stage::CHAIN`]; `None` for `registered`.
    pub fn chain_index(&self) -> Option<usize> {
        self.index().checked_sub(1)
    }
}

labelled_enum!(
    /// The kinds of activity that make a person active on a day (DOMAIN.md section 5).
    ActivityKind {
        Course => "course",
        Measure => "measure",
        Training => "training",
        Employment => "employment",
        School => "school",
        Kita => "kita",
    }
);

labelled_enum!(
    /// Where a person stands with language courses as of D: the state of their latest course
    /// registration (`none` when they never registered for one).
    CourseStatus {
        None => "none",
        Waiting => "waiting",
        InCourse => "in_course",
        Completed => "completed",
        LeftEarly => "left_early",
        /// The course was open (waiting or started) when the person moved away.
        MovedAway => "moved_away",
    }
);

/// One `ArrivalRecorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub on: NaiveDate,
    pub entry_date: Option<NaiveDate>,
    pub origin: Origin,
}

/// The day the years since entry count from (see [`PersonView::entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub on: NaiveDate,
    /// No entry date is recorded for the first arrival (or it lies after it), so `on` is the first
    /// arrival in Salzgitter instead of the entry into Germany.
    pub from_arrival: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Residence {
    pub status: ResidenceStatus,
    pub legal_basis: Option<Code>,
    pub valid_until: Option<NaiveDate>,
    pub work_permitted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub on: NaiveDate,
    pub kind: EntitlementKind,
    pub issuer: EntitlementIssuer,
}

/// How a course ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourseEnd {
    Completed,
    LeftEarly(LeaveReason),
    /// Open (waiting or started) when the person moved away: the move ended it.
    MovedAway,
}

/// How a measure or training ended: the outcome its end recorded, or the move away that closed
/// it while it was open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpellOutcome {
    Recorded(EndOutcome),
    MovedAway,
}

/// One registration for a course, and what became of it. A course id registered again after it
/// ended is a new spell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseSpell {
    pub course_id: Code,
    pub course_type: CourseType,
    pub provider: Code,
    pub registered_on: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub ended_on: Option<NaiveDate>,
    pub end: Option<CourseEnd>,
    /// An integration course registered after an integration course was left early.
    pub reentry: bool,
}

impl CourseSpell {
    pub fn is_integration_course(&self) -> bool {
        self.course_type.is_integration_course()
    }

    /// The spell's status as of `on`; `None` before it was registered.
    pub fn status_on(&self, on: NaiveDate) -> Option<CourseStatus> {
        if self.registered_on > on {
            return None;
        }
        match (self.started_on, self.ended_on, self.end) {
            (_, Some(ended_on), Some(end)) if ended_on <= on => Some(match end {
                CourseEnd::Completed => CourseStatus::Completed,
                CourseEnd::LeftEarly(_) => CourseStatus::LeftEarly,
                CourseEnd::MovedAway => CourseStatus::MovedAway,
            }),
            (Some(started_on), _, _) if started_on <= on => Some(CourseStatus::InCourse),
            _ => Some(CourseStatus::Waiting),
        }
    }

    /// The attendance span, once started.
    pub fn attendance(&self) -> Option<Interval> {
        self.started_on.map(|start| Interval {
            start,
            end: self.ended_on,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageTest {
    pub on: NaiveDate,
    pub exam: Exam,
    pub level: Level,
    pub first_attempt: bool,
}

impl LanguageTest {
    pub fn is_b1_or_better(&self) -> bool {
        self.level >= Level::B1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolSpell {
    pub school_type: SchoolType,
    pub language_class: bool,
    pub interval: Interval,
    /// When the pupil moved from the language class to a regular class.
    pub regular_class_on: Option<NaiveDate>,
    pub certificate: Option<Certificate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenefitSpell {
    pub kind: BenefitKind,
    pub interval: Interval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureSpell {
    pub measure_id: Id,
    pub measure_type: MeasureType,
    pub interval: Interval,
    pub outcome: Option<SpellOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingSpell {
    pub training_id: Id,
    pub occupation_code: Code,
    pub interval: Interval,
    pub outcome: Option<SpellOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmploymentSpell {
    pub employment_id: Id,
    pub kind: EmploymentKind,
    pub occupation_code: Option<Code>,
    pub weekly_hours: Option<u8>,
    pub interval: Interval,
}

impl EmploymentSpell {
    /// Whether this job counts in `employment_rate`: social insurance or self-employment.
    pub fn counts_as_employment(&self) -> bool {
        counts_as_employment(self.kind)
    }
}

fn counts_as_employment(kind: EmploymentKind) -> bool {
    !matches!(kind, EmploymentKind::Marginal)
}

/// One recognition application and its decision. A decision names no occupation, so it closes
/// the open application with the earliest date, as in `journey_core::rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecognitionCase {
    pub applied_on: NaiveDate,
    pub occupation_code: Code,
    pub regulated: bool,
    pub decided_on: Option<NaiveDate>,
    pub outcome: Option<RecognitionOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MentoringSpell {
    pub mentor_id: Code,
    pub interval: Interval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentSpell {
    pub consent_id: Id,
    pub recipients: List<Agency>,
    pub purpose: Code,
    pub interval: Interval,
}

/// A contact or referral naming an agency and a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyContact {
    pub on: NaiveDate,
    pub agency: Agency,
    pub topic: Topic,
    /// The base a counselling contact took place at; `None` at the agency's office and for
    /// referrals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Code>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyInvolvement {
    pub agency: Agency,
    /// The first date the agency appears in the person's history.
    pub since: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseworkerInvolvement {
    pub caseworker_id: Code,
    pub agency: Agency,
    pub since: NaiveDate,
}

/// A span of an activity that makes a person active (DOMAIN.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivitySpell {
    pub kind: ActivityKind,
    pub interval: Interval,
}

/// Whether a person had an open job on a day, split as `employment_rate` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmploymentOnDay {
    /// An open job of a social-insurance kind or self-employment.
    pub employed: bool,
    /// An open marginal job.
    pub marginal: bool,
}

/// The stays of a person in brief, kept inline in the view: the first arrival and the latest stay.
/// Nearly everyone has one stay, so the hot loop of an indicator answers "present on D" from here
/// without reading [`PersonView::presence`] from the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StaySummary {
    pub stays: u32,
    pub first_arrival: Option<NaiveDate>,
    pub latest: Option<Interval>,
}

impl StaySummary {
    /// Whether the person is present on `on`, when the summary alone decides it: stays do not
    /// overlap, so from the latest stay's start on only it can hold, and with one stay only it
    /// can. `None`: an earlier stay of [`PersonView::presence`] must be looked up.
    pub fn decides_presence(&self, on: NaiveDate) -> Option<bool> {
        let Some(latest) = self.latest.as_ref() else {
            return Some(false);
        };
        (on >= latest.start || self.stays <= 1).then(|| latest.contains(on))
    }

    /// The date of the first arrival, if it lies on or before `on`.
    pub fn first_arrival(&self, on: NaiveDate) -> Option<NaiveDate> {
        self.first_arrival.filter(|start| *start <= on)
    }

    /// Whole years from the first arrival to `on` (anniversaries count on their day).
    pub fn years_since_arrival(&self, on: NaiveDate) -> Option<i32> {
        self.first_arrival(on)
            .map(|arrival| whole_years(arrival, on))
    }
}

/// The stay holding `on` of a person with the stays `stay` in brief and `presence` in full (or,
/// when the summary decides alone, any part of them: see [`StaySummary::decides_presence`]).
pub fn presence_in<'a>(
    stay: &'a StaySummary,
    presence: &'a [Interval],
    on: NaiveDate,
) -> Option<&'a Interval> {
    match stay.decides_presence(on) {
        Some(true) => stay.latest.as_ref(),
        Some(false) => None,
        None => presence.iter().find(|spell| spell.contains(on)),
    }
}

/// The entry into Germany ([`PersonView::entry`]) of a person with the stays `stay` whose first
/// `ArrivalRecorded` gave `recorded` as the entry date ([`PersonView::recorded_entry`]).
pub fn entry_in(stay: &StaySummary, recorded: Option<NaiveDate>, on: NaiveDate) -> Option<Entry> {
    let arrival = stay.first_arrival(on)?;
    Some(match recorded.filter(|entry_date| *entry_date <= arrival) {
        Some(on) => Entry {
            on,
            from_arrival: false,
        },
        None => Entry {
            on: arrival,
            from_arrival: true,
        },
    })
}

/// [`PersonView::years_since_entry`] from the fields [`entry_in`] reads.
pub fn years_since_entry_in(
    stay: &StaySummary,
    recorded: Option<NaiveDate>,
    on: NaiveDate,
) -> Option<i32> {
    entry_in(stay, recorded, on).map(|entry| whole_years(entry.on, on))
}

/// Whether any of `intervals` is open on `on` (a Kita place, a school, a mentor, a benefit).
pub fn open_on(intervals: impl IntoIterator<Item = Interval>, on: NaiveDate) -> bool {
    intervals.into_iter().any(|interval| interval.contains(on))
}

/// The earliest of the courses' starts ([`PersonView::first_integration_course_start`]).
pub fn first_start(starts: impl IntoIterator<Item = Option<NaiveDate>>) -> Option<NaiveDate> {
    starts.into_iter().flatten().min()
}

/// [`PersonView::stage_reached_on`] from the fields it reads.
pub fn stage_reached_in(
    stages_reached_on: &[Option<NaiveDate>; 6],
    registered_on: NaiveDate,
    stage: Stage,
) -> Option<NaiveDate> {
    match stage.chain_index() {
        Some(index) => stages_reached_on[index],
        None => Some(registered_on),
    }
}

/// Age on `on` of a person born in `birth_year`: year(D) − birth year (DOMAIN.md section 5);
/// `None` when the birth year is unknown.
pub fn age_on(birth_year: Option<i32>, on: NaiveDate) -> Option<i32> {
    birth_year.map(|birth_year| on.year() - birth_year)
}

/// Aged 15 to 64: working age; never when the age is unknown.
pub fn is_working_age(age: Option<i32>) -> bool {
    age.is_some_and(|age| (15..=64).contains(&age))
}

impl EmploymentOnDay {
    /// The open jobs on `on` among `jobs` (each an interval and whether it counts as employment,
    /// [`EmploymentSpell::counts_as_employment`]), split as `employment_rate` counts them.
    pub fn of(jobs: impl IntoIterator<Item = (Interval, bool)>, on: NaiveDate) -> Self {
        let mut day = EmploymentOnDay::default();
        for (interval, counts_as_employment) in jobs {
            if interval.contains(on) {
                if counts_as_employment {
                    day.employed = true;
                } else {
                    day.marginal = true;
                }
            }
        }
        day
    }
}

/// Everything the read models and indicators need to know about one person, as known at
/// `known_at`, answering "as of D" for any D. The cut is not in the view: it is the
/// [`crate::ViewSet`]'s, whose views are all of one cut, so a view unchanged between two cuts is
/// the same value in both.
///
/// `repr(C)` keeps the declaration order, so the fields every indicator reads (birth year,
/// stays, stages and the headers of the lists indicators scan) share the first cache lines of the
/// view; an indicator's pass over 100,000 views then streams those lines instead of touching the
/// whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct PersonView {
    /// `None` when registered as unknown: the person then has no age, and every age-based
    /// indicator leaves them out.
    pub birth_year: Option<i32>,
    pub registered_on: NaiveDate,
    /// Derived from `presence`.
    pub stay: StaySummary,
    /// The first date each stage of [`Stage::CHAIN`] was reached, if it was.
    pub stages_reached_on: [Option<NaiveDate>; 6],
    pub sex: Sex,
    pub person: PersonId,
    pub household_id: Option<Uuid>,
    /// Every spell that makes the person active (courses once started, measures, trainings, jobs
    /// of any kind, school, Kita), ordered by start. Derived from the lists below for fast checks.
    pub activities: List<ActivitySpell>,
    pub employments: List<EmploymentSpell>,
    pub benefits: List<BenefitSpell>,
    pub courses: List<CourseSpell>,
    pub entitlements: List<Entitlement>,
    pub language_tests: List<LanguageTest>,
    pub districts: List<Dated<Code>>,
    /// Arrival (or return) to moving away, in date order.
    pub presence: List<Interval>,
    pub kita: List<Interval>,
    pub schools: List<SchoolSpell>,
    pub mentoring: List<MentoringSpell>,
    /// The dates of the person's `MentorRequested` events, in date order.
    pub mentor_requests: List<NaiveDate>,
    pub recognitions: List<RecognitionCase>,
    pub trainings: List<TrainingSpell>,
    pub protection: List<Dated<ProtectionStatus>>,
    /// ISO 3166-1 alpha-3, or `unknown`.
    pub nationality: Code,
    pub arrivals: List<Arrival>,
    pub moves_away: List<Dated<Destination>>,
    pub accommodations: List<Dated<Accommodation>>,
    pub asylum_applications: List<NaiveDate>,
    pub asylum_decisions: List<Dated<AsylumOutcome>>,
    pub residence: List<Dated<Residence>>,
    pub residence_obligations: List<Interval>,
    pub orientation_tests: List<Dated<bool>>,
    pub kita_requests: List<NaiveDate>,
    pub cooperation_plans: List<Dated<Agency>>,
    pub measures: List<MeasureSpell>,
    pub counselling: List<AgencyContact>,
    pub referrals: List<AgencyContact>,
    pub checklist: List<Dated<ChecklistItem>>,
    pub consents: List<ConsentSpell>,
    pub agencies: List<AgencyInvolvement>,
    pub caseworkers: List<CaseworkerInvolvement>,
}

impl PersonView {
    /// Builds the view of one person from the journal as known at `known_at`. `None` when the
    /// person is erased or no registration is known at the cut.
    pub fn build(person: PersonId, journal: &Journal, known_at: DateTime<Utc>) -> Option<Self> {
        Self::build_in(&Inline, person, journal, known_at)
    }

    /// [`PersonView::build`] from a journal whose events and actors `store` keeps: the one fold,
    /// whichever form the journal holds its facts in.
    pub fn build_in<S: Store>(
        store: &S,
        person: PersonId,
        journal: &Journal<S::Event, S::Actor>,
        known_at: DateTime<Utc>,
    ) -> Option<Self> {
        let facts = effective_in(store, journal, known_at);
        let mut built = None;
        Self::fold_prefixes(person, &facts, &[facts.len()], |_, view| built = view);
        built
    }

    /// Folds the effective `facts` (in valid-time order, as [`effective_in`] gives them) once and
    /// hands `each` the view of every prefix `facts[..end]` for `end` in `ends` (ascending, at
    /// most `facts.len()`): the view [`PersonView::build_in`] builds from exactly those facts,
    /// `None` when the prefix holds no registration. A past `known_at` whose effective facts are
    /// such a prefix is answered from these views (`crate::kpi::history`), so the fold is one
    /// for the live view and for every earlier cut of that kind.
    pub fn fold_prefixes(
        person: PersonId,
        facts: &[EffectiveFact<'_>],
        ends: &[usize],
        mut each: impl FnMut(usize, Option<Self>),
    ) {
        let found = facts
            .iter()
            .enumerate()
            .find_map(|(index, fact)| match fact.event.as_ref() {
                Event::PersonRegistered(registered) => Some((index, fact.occurred_on, registered)),
                _ => None,
            });
        let Some((registered_at, registered_on, registered)) = found else {
            for end in ends {
                each(*end, None);
            }
            return;
        };
        let mut view = PersonView {
            person,
            registered_on,
            birth_year: registered.birth_year.year(),
            sex: registered.sex,
            nationality: Code::new(&registered.nationality),
            household_id: registered.household_id,
            presence: List::new(),
            arrivals: List::new(),
            moves_away: List::new(),
            districts: List::new(),
            accommodations: List::new(),
            asylum_applications: List::new(),
            asylum_decisions: List::new(),
            residence: List::new(),
            protection: List::new(),
            residence_obligations: List::new(),
            entitlements: List::new(),
            courses: List::new(),
            language_tests: List::new(),
            orientation_tests: List::new(),
            kita_requests: List::new(),
            kita: List::new(),
            schools: List::new(),
            benefits: List::new(),
            cooperation_plans: List::new(),
            measures: List::new(),
            recognitions: List::new(),
            trainings: List::new(),
            employments: List::new(),
            counselling: List::new(),
            referrals: List::new(),
            mentoring: List::new(),
            mentor_requests: List::new(),
            checklist: List::new(),
            consents: List::new(),
            agencies: List::new(),
            caseworkers: List::new(),
            activities: List::new(),
            stages_reached_on: [None; 6],
            stay: StaySummary::default(),
        };
        let mut protection = ProtectionFold::default();
        let mut ends = ends.iter().copied().peekable();
        for (index, fact) in facts.iter().enumerate() {
            // The prefixes that end before this fact: copies of the fold so far, finished.
            while let Some(end) = ends.next_if(|end| *end <= index) {
                let view = (end > registered_at).then(|| view.clone().finished(&facts[..end]));
                each(end, view);
            }
            let on = fact.occurred_on;
            for agency in involved_agencies(fact.actor, &fact.event) {
                view.involve(agency, on);
            }
            if let Some(agency) = caseworker_agency(fact.actor) {
                view.involve_caseworker(&fact.actor.id, agency, on);
            }
            view.apply(on, fact.event.as_ref(), &mut protection);
        }
        // Every fact is folded: the whole fold is the last prefix's, without a copy.
        if let Some(end) = ends.next() {
            debug_assert_eq!(end, facts.len(), "the prefixes end within the facts");
            each(end, Some(view.finished(facts)));
        }
    }

    /// The fields derived from the folded lists once the fold is done, and the lists fitted.
    fn finished(mut self, facts: &[EffectiveFact<'_>]) -> Self {
        self.consents = consent_spells(facts);
        self.derive_activities();
        self.stay = StaySummary {
            stays: u32::try_from(self.presence.len()).unwrap_or(u32::MAX),
            first_arrival: self.presence.first().map(|stay| stay.start),
            latest: self.presence.last().copied(),
        };
        self
    }

    /// The heap bytes of each list of the view (the elements' inline bytes: a [`List`] has no spare
    /// capacity) and, as `"strings"`, of the texts the view owns (its [`Id`]s, and each consent's
    /// recipients), for `journey bench projections`. The destructuring names every field, so a list added later is counted.
    pub fn heap_bytes_by_list(&self) -> Vec<(&'static str, usize)> {
        fn list<T>(name: &'static str, list: &List<T>) -> (&'static str, usize) {
            (name, list.heap_bytes())
        }
        fn text(text: &str) -> usize {
            text.len()
        }
        // Interned codes own no text of their own ([`Code`]): they count nothing here.
        fn code(_: &Code) -> usize {
            0
        }
        let PersonView {
            birth_year: _,
            registered_on: _,
            stay: _,
            stages_reached_on: _,
            sex: _,
            person: _,
            household_id: _,
            activities,
            employments,
            benefits,
            courses,
            entitlements,
            language_tests,
            districts,
            presence,
            kita,
            schools,
            mentoring,
            mentor_requests,
            recognitions,
            trainings,
            protection,
            nationality,
            arrivals,
            moves_away,
            accommodations,
            asylum_applications,
            asylum_decisions,
            residence,
            residence_obligations,
            orientation_tests,
            kita_requests,
            cooperation_plans,
            measures,
            counselling,
            referrals,
            checklist,
            consents,
            agencies,
            caseworkers,
        } = self;
        let optional_code = |value: &Option<Code>| value.as_ref().map_or(0, code);
        let strings = code(nationality)
            + districts
                .iter()
                .map(|district| code(&district.value))
                .sum::<usize>()
            + courses
                .iter()
                .map(|course| code(&course.course_id) + code(&course.provider))
                .sum::<usize>()
            + measures
                .iter()
                .map(|spell| text(&spell.measure_id))
                .sum::<usize>()
            + trainings
                .iter()
                .map(|spell| text(&spell.training_id) + code(&spell.occupation_code))
                .sum::<usize>()
            + employments
                .iter()
                .map(|spell| text(&spell.employment_id) + optional_code(&spell.occupation_code))
                .sum::<usize>()
            + recognitions
                .iter()
                .map(|case| code(&case.occupation_code))
                .sum::<usize>()
            + mentoring
                .iter()
                .map(|spell| code(&spell.mentor_id))
                .sum::<usize>()
            + consents
                .iter()
                .map(|spell| {
                    text(&spell.consent_id) + code(&spell.purpose) + spell.recipients.heap_bytes()
                })
                .sum::<usize>()
            + residence
                .iter()
                .map(|dated| optional_code(&dated.value.legal_basis))
                .sum::<usize>()
            + counselling
                .iter()
                .chain(referrals.iter())
                .map(|contact| optional_code(&contact.base))
                .sum::<usize>()
            + caseworkers
                .iter()
                .map(|involvement| code(&involvement.caseworker_id))
                .sum::<usize>();
        vec![
            list("activities", activities),
            list("employments", employments),
            list("benefits", benefits),
            list("courses", courses),
            list("entitlements", entitlements),
            list("language_tests", language_tests),
            list("districts", districts),
            list("presence", presence),
            list("kita", kita),
            list("schools", schools),
            list("mentoring", mentoring),
            list("mentor_requests", mentor_requests),
            list("recognitions", recognitions),
            list("trainings", trainings),
            list("protection", protection),
            list("arrivals", arrivals),
            list("moves_away", moves_away),
            list("accommodations", accommodations),
            list("asylum_applications", asylum_applications),
            list("asylum_decisions", asylum_decisions),
            list("residence", residence),
            list("residence_obligations", residence_obligations),
            list("orientation_tests", orientation_tests),
            list("kita_requests", kita_requests),
            list("cooperation_plans", cooperation_plans),
            list("measures", measures),
            list("counselling", counselling),
            list("referrals", referrals),
            list("checklist", checklist),
            list("consents", consents),
            list("agencies", agencies),
            list("caseworkers", caseworkers),
            ("strings", strings),
        ]
    }

    fn involve(&mut self, agency: Agency, on: NaiveDate) {
        if !self.agencies.iter().any(|known| known.agency == agency) {
            self.agencies.push(AgencyInvolvement { agency, since: on });
        }
    }

    fn involve_caseworker(&mut self, id: &str, agency: Agency, on: NaiveDate) {
        let known = self
            .caseworkers
            .iter()
            .any(|known| known.agency == agency && known.caseworker_id == id);
        if !known {
            self.caseworkers.push(CaseworkerInvolvement {
                caseworker_id: Code::new(id),
                agency,
                since: on,
            });
        }
    }

    fn reach(&mut self, stage: Stage, on: NaiveDate) {
        if let Some(index) = stage.chain_index() {
            self.stages_reached_on[index].get_or_insert(on);
        }
    }

    /// Folds one effective event, in valid-time order.
    fn apply(&mut self, on: NaiveDate, event: &Event, protection: &mut ProtectionFold) {
        match event {
            // The first registration is the person's; the ledger accepts only one.
            Event::PersonRegistered(_) => {}
            Event::ArrivalRecorded(arrival) => {
                if !self.is_open_presence() {
                    self.presence.push(Interval::open(on));
                }
                self.arrivals.push(Arrival {
                    on,
                    entry_date: arrival.entry_date,
                    origin: arrival.origin,
                });
                self.districts.push(Dated {
                    on,
                    value: Code::new(&arrival.district),
                });
                self.accommodations.push(Dated {
                    on,
                    value: arrival.accommodation,
                });
                self.reach(Stage::Arrival, on);
            }
            Event::MovedAway(moved) => {
                if let Some(open) = self.presence.last_mut().filter(|spell| spell.end.is_none()) {
                    open.end = Some(on);
                }
                self.moves_away.push(Dated {
                    on,
                    value: moved.destination,
                });
                self.close_spells_at_move(on);
            }
            Event::AddressChanged(address) => {
                self.districts.push(Dated {
                    on,
                    value: Code::new(&address.district),
                });
                self.accommodations.push(Dated {
                    on,
                    value: address.accommodation,
                });
            }
            Event::AsylumApplicationFiled(_) => {
                self.asylum_applications.push(on);
                self.set_protection(on, protection.application());
            }
            Event::AsylumDecisionIssued(decision) => {
                self.asylum_decisions.push(Dated {
                    on,
                    value: decision.outcome,
                });
                self.set_protection(on, protection.decision(decision.outcome));
            }
            Event::ResidenceStatusChanged(status) => {
                self.residence.push(Dated {
                    on,
                    value: Residence {
                        status: status.status,
                        legal_basis: status.legal_basis.as_deref().map(Code::new),
                        valid_until: status.valid_until,
                        work_permitted: status.work_permitted,
                    },
                });
                let next = protection.residence(status.status, status.legal_basis.as_deref());
                self.set_protection(on, next);
            }
            Event::ResidenceObligationSet(_) => {
                if !self
                    .residence_obligations
                    .iter()
                    .any(|spell| spell.end.is_none())
                {
                    self.residence_obligations.push(Interval::open(on));
                }
            }
            Event::ResidenceObligationLifted(_) => {
                close_last(&mut self.residence_obligations, on, |_| true);
            }
            Event::CourseEntitlementIssued(entitlement) => {
                self.entitlements.push(Entitlement {
                    on,
                    kind: entitlement.kind,
                    issuer: entitlement.issuer,
                });
                self.reach(Stage::Entitlement, on);
            }
            Event::CourseRegistered(course) => {
                let open = self
                    .courses
                    .iter()
                    .any(|spell| spell.course_id == course.course_id && spell.ended_on.is_none());
                if !open {
                    let reentry = course.course_type.is_integration_course()
                        && self.courses.iter().any(|spell| {
                            spell.is_integration_course()
                                && matches!(spell.end, Some(CourseEnd::LeftEarly(_)))
                        });
                    self.courses.push(CourseSpell {
                        course_id: Code::new(&course.course_id),
                        course_type: course.course_type,
                        provider: Code::new(&course.provider),
                        registered_on: on,
                        started_on: None,
                        ended_on: None,
                        end: None,
                        reentry,
                    });
                }
            }
            Event::CourseStarted(course) => {
                let spell = self.courses.iter_mut().rev().find(|spell| {
                    spell.course_id == course.course_id
                        && spell.started_on.is_none()
                        && spell.ended_on.is_none()
                });
                if let Some(spell) = spell {
                    spell.started_on = Some(on);
                    self.reach(Stage::Course, on);
                }
            }
            Event::CourseCompleted(course) => {
                self.end_course(&course.course_id, on, CourseEnd::Completed);
            }
            Event::CourseLeftEarly(course) => {
                self.end_course(&course.course_id, on, CourseEnd::LeftEarly(course.reason));
            }
            Event::LanguageTestTaken(test) => {
                let test = LanguageTest {
                    on,
                    exam: test.exam,
                    level: test.level,
                    first_attempt: test.first_attempt,
                };
                if test.is_b1_or_better() {
                    self.reach(Stage::B1, on);
                }
                self.language_tests.push(test);
            }
            Event::OrientationTestTaken(test) => self.orientation_tests.push(Dated {
                on,
                value: test.passed,
            }),
            Event::KitaPlaceRequested(_) => self.kita_requests.push(on),
            Event::KitaStarted(_) => {
                if !self.kita.iter().any(|spell| spell.end.is_none()) {
                    self.kita.push(Interval::open(on));
                }
            }
            Event::KitaEnded(_) => close_last(&mut self.kita, on, |_| true),
            Event::SchoolEnrolled(school) => {
                if !self
                    .schools
                    .iter()
                    .any(|spell| spell.interval.end.is_none())
                {
                    self.schools.push(SchoolSpell {
                        school_type: school.school_type,
                        language_class: school.language_class,
                        interval: Interval::open(on),
                        regular_class_on: None,
                        certificate: None,
                    });
                }
            }
            Event::MovedToRegularClass(_) => {
                let open = self
                    .schools
                    .iter_mut()
                    .rev()
                    .find(|spell| spell.interval.end.is_none());
                if let Some(spell) = open {
                    if spell.language_class && spell.regular_class_on.is_none() {
                        spell.regular_class_on = Some(on);
                    }
                }
            }
            Event::SchoolLeft(left) => {
                let open = self
                    .schools
                    .iter_mut()
                    .rev()
                    .find(|spell| spell.interval.end.is_none());
                if let Some(spell) = open {
                    spell.interval.end = Some(on);
                    spell.certificate = Some(left.certificate);
                }
            }
            Event::BenefitsStarted(benefits) => {
                let open = self
                    .benefits
                    .iter()
                    .any(|spell| spell.kind == benefits.kind && spell.interval.end.is_none());
                if !open {
                    self.benefits.push(BenefitSpell {
                        kind: benefits.kind,
                        interval: Interval::open(on),
                    });
                }
            }
            Event::BenefitsEnded(benefits) => {
                let open = self
                    .benefits
                    .iter_mut()
                    .rev()
                    .find(|spell| spell.kind == benefits.kind && spell.interval.end.is_none());
                if let Some(spell) = open {
                    spell.interval.end = Some(on);
                }
            }
            Event::CooperationPlanAgreed(plan) => {
                self.cooperation_plans.push(Dated {
                    on,
                    value: plan.agency,
                });
            }
            Event::MeasureStarted(measure) => {
                let open = self.measures.iter().any(|spell| {
                    *spell.measure_id == *measure.measure_id && spell.interval.end.is_none()
                });
                if !open {
                    self.measures.push(MeasureSpell {
                        measure_id: measure.measure_id.as_str().into(),
                        measure_type: measure.measure_type,
                        interval: Interval::open(on),
                        outcome: None,
                    });
                    self.reach(Stage::MeasureOrTraining, on);
                }
            }
            Event::MeasureEnded(measure) => {
                let open = self.measures.iter_mut().rev().find(|spell| {
                    *spell.measure_id == *measure.measure_id && spell.interval.end.is_none()
                });
                if let Some(spell) = open {
                    spell.interval.end = Some(on);
                    spell.outcome = Some(SpellOutcome::Recorded(measure.outcome));
                }
            }
            Event::RecognitionApplied(application) => self.recognitions.push(RecognitionCase {
                applied_on: on,
                occupation_code: Code::new(&application.occupation_code),
                regulated: application.regulated,
                decided_on: None,
                outcome: None,
            }),
            Event::RecognitionDecided(decision) => {
                // Applications are pushed in date order, so the first open one is the earliest.
                let open = self
                    .recognitions
                    .iter_mut()
                    .find(|case| case.decided_on.is_none());
                if let Some(case) = open {
                    case.decided_on = Some(on);
                    case.outcome = Some(decision.outcome);
                }
            }
            Event::TrainingStarted(training) => {
                let open = self.trainings.iter().any(|spell| {
                    *spell.training_id == *training.training_id && spell.interval.end.is_none()
                });
                if !open {
                    self.trainings.push(TrainingSpell {
                        training_id: training.training_id.as_str().into(),
                        occupation_code: Code::new(&training.occupation_code),
                        interval: Interval::open(on),
                        outcome: None,
                    });
                    self.reach(Stage::MeasureOrTraining, on);
                }
            }
            Event::TrainingEnded(training) => {
                let open = self.trainings.iter_mut().rev().find(|spell| {
                    *spell.training_id == *training.training_id && spell.interval.end.is_none()
                });
                if let Some(spell) = open {
                    spell.interval.end = Some(on);
                    spell.outcome = Some(SpellOutcome::Recorded(training.outcome));
                }
            }
            Event::EmploymentStarted(employment) => {
                let open = self.employments.iter().any(|spell| {
                    *spell.employment_id == *employment.employment_id
                        && spell.interval.end.is_none()
                });
                if !open {
                    self.employments.push(EmploymentSpell {
                        employment_id: employment.employment_id.as_str().into(),
                        kind: employment.kind,
                        occupation_code: employment.occupation_code.as_deref().map(Code::new),
                        weekly_hours: employment.weekly_hours,
                        interval: Interval::open(on),
                    });
                    if counts_as_employment(employment.kind) {
                        self.reach(Stage::Employment, on);
                    }
                }
            }
            Event::EmploymentEnded(employment) => {
                let open = self.employments.iter_mut().rev().find(|spell| {
                    *spell.employment_id == *employment.employment_id
                        && spell.interval.end.is_none()
                });
                if let Some(spell) = open {
                    spell.interval.end = Some(on);
                }
            }
            Event::CounsellingContact(contact) => {
                self.counselling.push(AgencyContact {
                    on,
                    agency: contact.agency,
                    topic: contact.topic,
                    base: contact.base.as_deref().map(Code::new),
                });
            }
            Event::ReferralMade(referral) => {
                self.referrals.push(AgencyContact {
                    on,
                    agency: referral.to_agency,
                    topic: referral.topic,
                    base: None,
                });
            }
            Event::MentorRequested(_) => self.mentor_requests.push(on),
            Event::MentorAssigned(mentoring) => {
                let open = self.mentoring.iter().any(|spell| {
                    spell.mentor_id == mentoring.mentor_id && spell.interval.end.is_none()
                });
                if !open {
                    self.mentoring.push(MentoringSpell {
                        mentor_id: Code::new(&mentoring.mentor_id),
                        interval: Interval::open(on),
                    });
                }
            }
            Event::MentoringEnded(mentoring) => {
                let open = self.mentoring.iter_mut().rev().find(|spell| {
                    spell.mentor_id == mentoring.mentor_id && spell.interval.end.is_none()
                });
                if let Some(spell) = open {
                    spell.interval.end = Some(on);
                }
            }
            Event::ChecklistItemCompleted(item) => self.checklist.push(Dated {
                on,
                value: item.item,
            }),
            // Folded in record order by `consent_spells`.
            Event::ConsentGiven(_) | Event::ConsentWithdrawn(_) => {}
            // Applied by the cut already (corrections, retractions) or handled before the fold
            // (erasure): none of them reaches here with a meaning of its own.
            Event::EventCorrected(_) | Event::EventRetracted(_) | Event::PersonalDataErased(_) => {}
        }
    }

    fn is_open_presence(&self) -> bool {
        self.presence
            .last()
            .is_some_and(|spell| spell.end.is_none())
    }

    /// Closes every spell open on the day of a move away, as `journey_core::rules` does: courses
    /// (waiting or started), measures and trainings end with the outcome "moved away"; jobs,
    /// mentoring, Kita, school and benefits end on that day. A return then starts with nothing
    /// open. Folded in date order, every spell open here started on or before `on`.
    fn close_spells_at_move(&mut self, on: NaiveDate) {
        for course in self.courses.iter_mut().filter(|c| c.ended_on.is_none()) {
            course.ended_on = Some(on);
            course.end = Some(CourseEnd::MovedAway);
        }
        for measure in self
            .measures
            .iter_mut()
            .filter(|m| m.interval.end.is_none())
        {
            measure.interval.end = Some(on);
            measure.outcome = Some(SpellOutcome::MovedAway);
        }
        for training in self
            .trainings
            .iter_mut()
            .filter(|t| t.interval.end.is_none())
        {
            training.interval.end = Some(on);
            training.outcome = Some(SpellOutcome::MovedAway);
        }
        let intervals = self
            .employments
            .iter_mut()
            .map(|job| &mut job.interval)
            .chain(self.mentoring.iter_mut().map(|spell| &mut spell.interval))
            .chain(self.schools.iter_mut().map(|spell| &mut spell.interval))
            .chain(self.benefits.iter_mut().map(|spell| &mut spell.interval))
            .chain(self.kita.iter_mut());
        for interval in intervals.filter(|interval| interval.end.is_none()) {
            interval.end = Some(on);
        }
    }

    fn set_protection(&mut self, on: NaiveDate, status: ProtectionStatus) {
        self.protection.push(Dated { on, value: status });
    }

    fn end_course(&mut self, course_id: &str, on: NaiveDate, end: CourseEnd) {
        let spell = self.courses.iter_mut().rev().find(|spell| {
            spell.course_id == course_id && spell.started_on.is_some() && spell.ended_on.is_none()
        });
        if let Some(spell) = spell {
            spell.ended_on = Some(on);
            spell.end = Some(end);
        }
    }

    fn derive_activities(&mut self) {
        let mut activities = Vec::with_capacity(
            self.courses.len()
                + self.measures.len()
                + self.trainings.len()
                + self.employments.len()
                + self.schools.len()
                + self.kita.len(),
        );
        let spell = |kind, interval| ActivitySpell { kind, interval };
        activities.extend(
            self.courses
                .iter()
                .filter_map(CourseSpell::attendance)
                .map(|interval| spell(ActivityKind::Course, interval)),
        );
        activities.extend(
            self.measures
                .iter()
                .map(|measure| spell(ActivityKind::Measure, measure.interval)),
        );
        activities.extend(
            self.trainings
                .iter()
                .map(|training| spell(ActivityKind::Training, training.interval)),
        );
        activities.extend(
            self.employments
                .iter()
                .map(|job| spell(ActivityKind::Employment, job.interval)),
        );
        activities.extend(
            self.schools
                .iter()
                .map(|school| spell(ActivityKind::School, school.interval)),
        );
        activities.extend(
            self.kita
                .iter()
                .map(|kita| spell(ActivityKind::Kita, *kita)),
        );
        activities.sort_by_key(|activity| (activity.interval, activity.kind));
        self.activities = activities.into();
    }

    // ----- "as of D" questions -----

    /// Age on `on`: year(D) − birth year (DOMAIN.md section 5); `None` when the birth year is
    /// unknown.
    pub fn age(&self, on: NaiveDate) -> Option<i32> {
        age_on(self.birth_year, on)
    }

    /// Aged 15 to 64 on `on`; never when the birth year is unknown.
    pub fn is_working_age(&self, on: NaiveDate) -> bool {
        is_working_age(self.age(on))
    }

    /// Present on `on`: an arrival on or before it and no later move away on or before it.
    pub fn is_present(&self, on: NaiveDate) -> bool {
        self.presence_on(on).is_some()
    }

    /// The stays when there are several; none for one stay or none, where the stay summary
    /// decides presence alone ([`presence_in`]).
    pub fn stays_if_several(&self) -> &[Interval] {
        if self.stay.stays > 1 {
            &self.presence
        } else {
            &[]
        }
    }

    /// The presence interval that holds on `on`.
    pub fn presence_on(&self, on: NaiveDate) -> Option<&Interval> {
        presence_in(&self.stay, &self.presence, on)
    }

    /// The date of the first arrival, if it lies on or before `on`.
    pub fn first_arrival(&self, on: NaiveDate) -> Option<NaiveDate> {
        self.stay.first_arrival(on)
    }

    /// Whole years from the first arrival to `on` (anniversaries count on their day).
    pub fn years_since_arrival(&self, on: NaiveDate) -> Option<i32> {
        self.stay.years_since_arrival(on)
    }

    /// The entry into Germany the years since entry count from, if the first arrival lies on or
    /// before `on`: the `entry_date` of the first `ArrivalRecorded` when it is recorded and not
    /// after that arrival, else the first arrival itself (a fallback, which the indicators report).
    pub fn entry(&self, on: NaiveDate) -> Option<Entry> {
        entry_in(&self.stay, self.recorded_entry(), on)
    }

    /// The `entry_date` of the first `ArrivalRecorded`, as recorded.
    pub fn recorded_entry(&self) -> Option<NaiveDate> {
        self.arrivals.first().and_then(|first| first.entry_date)
    }

    /// Whole years from the entry into Germany ([`PersonView::entry`]) to `on`.
    pub fn years_since_entry(&self, on: NaiveDate) -> Option<i32> {
        years_since_entry_in(&self.stay, self.recorded_entry(), on)
    }

    /// The district as of `on` (the last known one after moving away).
    pub fn district(&self, on: NaiveDate) -> Option<&str> {
        latest_on(&self.districts, on).map(Code::as_str)
    }

    pub fn accommodation(&self, on: NaiveDate) -> Option<Accommodation> {
        latest_on(&self.accommodations, on).copied()
    }

    /// The protection status as of `on`; `None` when nothing status-bearing is recorded by then.
    pub fn protection_status(&self, on: NaiveDate) -> Option<ProtectionStatus> {
        latest_on(&self.protection, on).copied()
    }

    pub fn residence(&self, on: NaiveDate) -> Option<&Residence> {
        latest_on(&self.residence, on)
    }

    /// The date of the first course entitlement.
    pub fn first_entitlement(&self) -> Option<NaiveDate> {
        self.entitlements.first().map(|entitlement| entitlement.on)
    }

    /// The first start of an integration course.
    pub fn first_integration_course_start(&self) -> Option<NaiveDate> {
        first_start(
            self.courses
                .iter()
                .filter(|spell| spell.is_integration_course())
                .map(|spell| spell.started_on),
        )
    }

    /// The furthest stage of the chain reached on or before `on`.
    pub fn stage(&self, on: NaiveDate) -> Stage {
        Stage::CHAIN
            .iter()
            .zip(self.stages_reached_on)
            .rev()
            .find(|(_, reached)| reached.is_some_and(|date| date <= on))
            .map_or(Stage::Registered, |(stage, _)| *stage)
    }

    /// The first date `stage` was reached, if it was (`registered_on` for `registered`).
    pub fn stage_reached_on(&self, stage: Stage) -> Option<NaiveDate> {
        stage_reached_in(&self.stages_reached_on, self.registered_on, stage)
    }

    /// The open jobs on `on`, split as `employment_rate` counts them.
    pub fn employment_on(&self, on: NaiveDate) -> EmploymentOnDay {
        EmploymentOnDay::of(
            self.employments
                .iter()
                .map(|job| (job.interval, job.counts_as_employment())),
            on,
        )
    }

    /// An open course, measure, training, employment, school or Kita place on `on`.
    pub fn is_active(&self, on: NaiveDate) -> bool {
        self.activities
            .iter()
            .any(|activity| activity.interval.contains(on))
    }

    /// The activities open on `on`.
    pub fn activities_on(&self, on: NaiveDate) -> impl Iterator<Item = &ActivitySpell> + '_ {
        self.activities
            .iter()
            .filter(move |activity| activity.interval.contains(on))
    }

    /// The last activity that ended on or before `on` (latest end; ties by kind).
    pub fn last_ended_activity(&self, on: NaiveDate) -> Option<(ActivityKind, NaiveDate)> {
        self.activities
            .iter()
            .filter_map(|activity| {
                activity
                    .interval
                    .ended_by(on)
                    .map(|end| (end, activity.kind))
            })
            .max()
            .map(|(end, kind)| (kind, end))
    }

    /// When the person's idle time as of `on` began, for a person present and not active on
    /// `on`: the end of their last activity or the start of their current stay, whichever is
    /// later (time before a move away and return is not idle time here). `None` when absent or
    /// active. Household circumstances are the caller's concern (see [`Households`]).
    pub fn idle_since(&self, on: NaiveDate) -> Option<NaiveDate> {
        let stay = self.presence_on(on)?;
        idle_since_in(
            stay,
            self.activities.iter().map(|activity| activity.interval),
            on,
        )
    }

    /// Whether a Kita place is open on `on`.
    pub fn has_kita_place(&self, on: NaiveDate) -> bool {
        open_on(self.kita.iter().copied(), on)
    }

    /// Whether enrolled in school on `on`.
    pub fn is_enrolled(&self, on: NaiveDate) -> bool {
        open_on(self.schools.iter().map(|spell| spell.interval), on)
    }

    /// Whether a mentor is active on `on`.
    pub fn has_mentor(&self, on: NaiveDate) -> bool {
        open_on(self.mentoring.iter().map(|spell| spell.interval), on)
    }

    /// The request for a mentor still waiting on `on`, counted from its earliest unanswered
    /// `MentorRequested`: a request on or before `on`, in the stay open on `on`, with no mentoring
    /// started on or after it (and on or before `on`), while no mentor is active on `on`. `None`
    /// when nobody waits. The one rule behind the coordinator's open requests and the waits of
    /// `mentor_request_days`.
    pub fn open_mentor_request(&self, on: NaiveDate) -> Option<NaiveDate> {
        if self.has_mentor(on) {
            return None;
        }
        let stay_start = self
            .presence
            .iter()
            .find(|stay| stay.contains(on))
            .map(|stay| stay.start)?;
        let last_assigned = self
            .mentoring
            .iter()
            .map(|spell| spell.interval.start)
            .filter(|start| *start <= on)
            .max();
        self.mentor_requests
            .iter()
            .copied()
            .filter(|requested| *requested >= stay_start && *requested <= on)
            .find(|requested| last_assigned.is_none_or(|assigned| assigned < *requested))
    }

    /// Each answered request for a mentor: (the earliest request it answered, the day a mentor was
    /// assigned). A `MentorAssigned` answers the requests on or before it and after the previous
    /// assignment; one without such a request answers nothing (a mentor found without asking).
    pub fn mentor_request_waits(&self) -> impl Iterator<Item = (NaiveDate, NaiveDate)> + '_ {
        let mut starts: Vec<NaiveDate> = self
            .mentoring
            .iter()
            .map(|spell| spell.interval.start)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let mut previous: Option<NaiveDate> = None;
        starts.into_iter().filter_map(move |assigned| {
            let after = previous;
            previous = Some(assigned);
            self.mentor_requests
                .iter()
                .copied()
                .find(|requested| {
                    *requested <= assigned && after.is_none_or(|after| *requested > after)
                })
                .map(|requested| (requested, assigned))
        })
    }

    /// Whether benefits of `kind` are open on `on`.
    pub fn receives(&self, kind: BenefitKind, on: NaiveDate) -> bool {
        open_on(self.benefit_spells(kind), on)
    }

    /// The intervals of the benefits of `kind`.
    pub fn benefit_spells(&self, kind: BenefitKind) -> impl Iterator<Item = Interval> + '_ {
        self.benefits
            .iter()
            .filter(move |spell| spell.kind == kind)
            .map(|spell| spell.interval)
    }

    /// The agencies involved with the person on or before `on`, in the order they appeared.
    pub fn agencies_on(&self, on: NaiveDate) -> impl Iterator<Item = Agency> + '_ {
        self.agencies
            .iter()
            .filter(move |involvement| involvement.since <= on)
            .map(|involvement| involvement.agency)
    }

    /// Whether `agency` is involved with the person on or before `on`.
    pub fn works_with(&self, agency: Agency, on: NaiveDate) -> bool {
        self.agencies_on(on).any(|known| known == agency)
    }

    /// The agencies a consent active on `on` lets see the person.
    pub fn consented_recipients(&self, on: NaiveDate) -> impl Iterator<Item = Agency> + '_ {
        self.consents
            .iter()
            .filter(move |spell| spell.interval.contains(on))
            .flat_map(|spell| spell.recipients.iter().copied())
    }

    /// Where the person stands with courses as of `on`: the state of the latest registration.
    pub fn course_status(&self, on: NaiveDate) -> CourseStatus {
        self.courses
            .iter()
            .filter(|spell| spell.registered_on <= on)
            .max_by_key(|spell| spell.registered_on)
            .and_then(|spell| spell.status_on(on))
            .unwrap_or(CourseStatus::None)
    }
}

/// The consent spells of the effective facts, folded in the order recorded by the one definition
/// the API's visibility uses too.
fn consent_spells(facts: &[EffectiveFact<'_>]) -> List<ConsentSpell> {
    let mut consent_facts: Vec<&EffectiveFact<'_>> = facts
        .iter()
        .filter(|fact| {
            matches!(
                fact.event.as_ref(),
                Event::ConsentGiven(_) | Event::ConsentWithdrawn(_)
            )
        })
        .collect();
    consent_facts.sort_by_key(|fact| fact.revision);
    let mut consents = Consents::default();
    for fact in consent_facts {
        consents.apply(fact.occurred_on, fact.recorded_at, &fact.event);
    }
    consents
        .into_records()
        .into_iter()
        .map(|record| ConsentSpell {
            consent_id: Id::from(record.consent_id.as_str()),
            recipients: record.recipients.into(),
            purpose: Code::new(&record.purpose),
            interval: Interval {
                start: record.given_on,
                end: record.withdrawn_on,
            },
        })
        .collect()
}

/// Closes the last open interval of a list.
fn close_last(spells: &mut [Interval], on: NaiveDate, matches: impl Fn(&Interval) -> bool) {
    if let Some(open) = spells
        .iter_mut()
        .rev()
        .find(|spell| spell.end.is_none() && matches(spell))
    {
        open.end = Some(on);
    }
}

/// [`PersonView::idle_since`] for a person whose stay holding `on` is `stay` and whose
/// activities' intervals are `activities`, ordered by start.
pub fn idle_since_in(
    stay: &Interval,
    activities: impl IntoIterator<Item = Interval>,
    on: NaiveDate,
) -> Option<NaiveDate> {
    let mut since = stay.start;
    for activity in activities {
        if activity.start > on {
            // Ordered by start: nothing later can be open on `on` or have ended by it.
            break;
        }
        match activity.end {
            Some(end) if end <= on => since = since.max(end),
            _ => return None,
        }
    }
    Some(since)
}

/// Whole years from `from` to `to`: a year counts on its anniversary.
pub fn whole_years(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

/// The state of the protection-status fold: the current status and the protection category held,
/// which a later residence permit keeps.
#[derive(Debug, Default)]
struct ProtectionFold {
    held: Option<ProtectionStatus>,
}

impl ProtectionFold {
    fn application(&mut self) -> ProtectionStatus {
        ProtectionStatus::InProcedure
    }

    fn decision(&mut self, outcome: AsylumOutcome) -> ProtectionStatus {
        let status = match outcome {
            AsylumOutcome::AsylumArt16a | AsylumOutcome::Refugee3 => ProtectionStatus::Refugee,
            AsylumOutcome::Subsidiary4 => ProtectionStatus::SubsidiaryProtection,
            AsylumOutcome::DeportationBan => ProtectionStatus::DeportationBan,
            AsylumOutcome::Rejected | AsylumOutcome::Dublin => ProtectionStatus::Rejected,
        };
        self.held = (status != ProtectionStatus::Rejected).then_some(status);
        status
    }

    fn residence(
        &mut self,
        status: ResidenceStatus,
        legal_basis: Option<&str>,
    ) -> ProtectionStatus {
        match status {
            ResidenceStatus::Gestattung => ProtectionStatus::InProcedure,
            ResidenceStatus::Duldung => ProtectionStatus::Tolerated,
            ResidenceStatus::Aufenthaltserlaubnis => {
                if legal_basis.is_some_and(|basis| basis.trim_start().starts_with("§24")) {
                    self.held = Some(ProtectionStatus::TemporaryProtection);
                    ProtectionStatus::TemporaryProtection
                } else {
                    self.held.unwrap_or(ProtectionStatus::OtherPermit)
                }
            }
            ResidenceStatus::Niederlassungserlaubnis => ProtectionStatus::Settled,
            ResidenceStatus::Eingebuergert => ProtectionStatus::Naturalised,
            ResidenceStatus::Other => ProtectionStatus::Other,
        }
    }
}

/// Who lives in which household, built from the views of one cut, so `idle_days` can leave out
/// persons caring for a child under 3. Looked up once per idle candidate in the KPI hot loop, so it
/// is a hash map; nothing iterates it, so its order cannot leak into an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Households {
    members: HashMap<Uuid, Vec<HouseholdMember>, BuildHasherDefault<UuidHasher>>,
}

/// A cheap hash for household ids: folds the 16 bytes into one word and mixes it with the
/// MurmurHash3 finalizer, instead of running SipHash. The finalizer matters: ids need not be random
/// (generated or imported ids can differ only in a few bytes), and without it such ids would share
/// their low bits and pile into the same buckets.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidHasher {
    hash: u64,
}

impl Hasher for UuidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.hash = (self.hash.rotate_left(29) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn finish(&self) -> u64 {
        mix(self.hash)
    }
}

/// The MurmurHash3 64-bit finalizer: every input bit affects every output bit.
pub(crate) fn mix(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdMember {
    pub person: PersonId,
    pub registered_on: NaiveDate,
    /// `None` when registered as unknown.
    pub birth_year: Option<i32>,
    pub stay: StaySummary,
    /// [`PersonView::stays_if_several`].
    pub presence: List<Interval>,
}

impl Households {
    /// Indexes the household of every view that names one.
    pub fn from_views(views: &[PersonView]) -> Self {
        Self::from_views_on(views, 1)
    }

    /// [`Households::from_views`] with the members taken from the views on `threads` threads,
    /// each a contiguous share, and indexed in the views' order: the same households.
    pub fn from_views_on(views: &[PersonView], threads: usize) -> Self {
        let shares = crate::parallel::map_shares(views.len(), threads, |range| {
            views[range]
                .iter()
                .filter_map(|view| {
                    let member = HouseholdMember {
                        person: view.person,
                        registered_on: view.registered_on,
                        birth_year: view.birth_year,
                        stay: view.stay,
                        presence: view.stays_if_several().to_vec().into(),
                    };
                    Some((view.household_id?, member))
                })
                .collect::<Vec<_>>()
        });
        Self::from_members(shares.into_iter().flatten())
    }

    /// Indexes `members`, each with their household, in the order given.
    pub(crate) fn from_members(members: impl IntoIterator<Item = (Uuid, HouseholdMember)>) -> Self {
        let mut by_household: HashMap<Uuid, Vec<HouseholdMember>, BuildHasherDefault<UuidHasher>> =
            HashMap::default();
        for (household, member) in members {
            by_household.entry(household).or_default().push(member);
        }
        Self {
            members: by_household,
        }
    }

    /// The members of a household, in person order when the views were.
    pub fn members(&self, household: Uuid) -> &[HouseholdMember] {
        self.members.get(&household).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether another member of the person's household is a child under 3 on `on`: registered
    /// on or before that day, aged 0 to 2 on it (so not a member whose birth year is unknown),
    /// and living here. A child lives here when present
    /// on `on`, or when no arrival was ever recorded for them (a child born here has no arrival
    /// of its own); a child who arrives only later or has moved away does not.
    pub fn has_child_under_3(&self, view: &PersonView, on: NaiveDate) -> bool {
        self.has_child_under_3_of(view.person, view.household_id, on)
    }

    /// [`Households::has_child_under_3`] for `person` of the household `household_id`.
    pub fn has_child_under_3_of(
        &self,
        person: PersonId,
        household_id: Option<Uuid>,
        on: NaiveDate,
    ) -> bool {
        let Some(household) = household_id else {
            return false;
        };
        self.members(household).iter().any(|member| {
            member.person != person
                && member.registered_on <= on
                && member
                    .birth_year
                    .is_some_and(|birth_year| (0..=2).contains(&(on.year() - birth_year)))
                && (member.stay.stays == 0
                    || presence_in(&member.stay, &member.presence, on).is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline record's size, pinned: every indicator's pass streams the views, and every cached
    /// past cut holds one record a person, so a field or list that grows it should be a decision
    /// (issue 11). 32 lists of 16 bytes (a [`List`] is a boxed slice) and 96 bytes of fields.
    #[test]
    fn a_person_view_is_at_most_608_bytes_inline() {
        assert_eq!(std::mem::size_of::<List<Interval>>(), 16);
        assert!(
            std::mem::size_of::<PersonView>() <= 608,
            "PersonView is {} bytes",
            std::mem::size_of::<PersonView>()
        );
    }

    /// The entries that held `String`s, pinned: bounded texts (course ids, providers, occupation
    /// codes, mentors, consent purposes) are 8-byte [`Code`]s, the one-entry ids 16-byte [`Id`]s.
    #[test]
    fn the_entries_with_texts_hold_codes_and_ids() {
        assert_eq!(std::mem::size_of::<CourseSpell>(), 32);
        assert_eq!(std::mem::size_of::<EmploymentSpell>(), 40);
        assert_eq!(std::mem::size_of::<MeasureSpell>(), 32);
        assert_eq!(std::mem::size_of::<TrainingSpell>(), 40);
        assert_eq!(std::mem::size_of::<RecognitionCase>(), 24);
        assert_eq!(std::mem::size_of::<MentoringSpell>(), 16);
        assert_eq!(std::mem::size_of::<ConsentSpell>(), 48);
    }
}
