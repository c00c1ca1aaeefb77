//! The journey rules (DOMAIN.md section 3): which events a person's stream accepts next.
//!
//! [`evolve`] folds recorded events into a [`JourneyState`] and never fails, because history is
//! history: an event the rules would reject today (recorded under older rules, or imported) is still
//! folded as well as it can be. [`decide`] checks proposed events against a state, each one as if the
//! ones before it were accepted, and returns either the state after all of them or the first
//! [`RuleViolation`]. Both are pure: time comes only from the injected [`Clock`].
//!
//! The state keeps two things. The recorded history (in a shared list, so that cloning a state for
//! `decide` costs one pointer) together with the corrections and retractions applied to it gives the
//! *effective history*: what the stream says once every correction is taken into account. The
//! derived facts (open courses, measures, Kita place, consents, ...) are what the checks of a normal
//! event need, so such an event is checked and applied without looking at the history at all. Only
//! a correction or retraction re-folds the effective history, and it does so through the same
//! `check_event` that checks a normal event, so the two can never disagree.
//!
//! Decisions where DOMAIN.md is silent:
//! - After `PersonalDataErased` the ledger can no longer read the person's earlier events, so the
//!   state forgets them: folding an erasure gives exactly [`JourneyState::erased`]. Only
//!   `ConsentWithdrawn` is accepted afterwards (a withdrawal must always be possible and there is
//!   nothing left to check it against). Corrections and retractions are rejected because their
//!   target cannot be checked, and `ConsentGiven` is rejected because nothing is left to share.
//! - A correction re-checks the effective history from the corrected event's place onwards; what
//!   comes before it cannot be affected by the change and is taken as it is.
//! - Retracting the registration of a stream that holds nothing else is accepted: the effective
//!   stream is then empty, which breaks no rule, and the next event must again be a registration.
//! - Ends without a matching open start change nothing when folded; starts of something already
//!   open keep the first start date.
//! - A `RecognitionDecided` closes the open application with the earliest date, because the
//!   decision names no occupation.
//! - A second `ResidenceObligationSet` while one is set is an extension: it updates `until` and
//!   keeps the original date. A second `ArrivalRecorded` while present is accepted and keeps the
//!   earlier of the two dates as the start of the stay, because the views, which fold in date
//!   order, see the stay begin with the earliest arrival.
//! - `MovedAway` ends the journey here: it closes every open course (waiting or started),
//!   measure, training, employment, mentoring, Kita place, school enrolment and benefit on its
//!   date, as the views do, so a return starts with nothing open and the ends of the closed
//!   spells are refused like any end of something not open. Residence obligations, recognition
//!   applications and consents stay: they are about status and data, not about being here.
//! - Presence events are kept in date order, so the rules (which fold in record order) and the
//!   views (which fold in date order) agree on who is present: a move needs a stay, is not dated
//!   before any arrival of that stay nor before the start of a spell it closes, and no arrival is
//!   dated before the latest move. After a return, no spell starts before the return: the views
//!   would close such a spell at the move (or find it open while the person was away), the rules
//!   would hold it open. A spell from before the move is recorded before the move, or not at all.
//!   For the same reason a spell (of one id, or the Kita place, school, a benefit kind) is not
//!   started again with a date before its previous one ended.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

use crate::catalogue::{
    decode_replacement, Agency, BenefitKind, CourseCompleted, CourseLeftEarly, CourseType,
    DecodeError, EmploymentKind, Event, EventType, MeasureType, Replacement, SchoolType,
};
use crate::clock::Clock;

/// One event of a person's stream as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyEvent {
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    pub event: Event,
}

impl JourneyEvent {
    pub fn new(id: Uuid, occurred_on: NaiveDate, event: impl Into<Event>) -> Self {
        Self {
            id,
            occurred_on,
            event: event.into(),
        }
    }

    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }
}

macro_rules! rules {
    ($($(#[$meta:meta])* $variant:ident => $code:literal,)+) => {
        /// A rule of the journey. Its [`code`](Rule::code) is stable: clients match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($(#[$meta])* $variant,)+
        }

        impl Rule {
            /// Every rule, in the order they are checked.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),+];

            /// The stable snake_case name of the rule.
            pub fn code(&self) -> &'static str {
                match self {
                    $(Rule::$variant => $code,)+
                }
            }
        }
    };
}

rules!(
    /// The first event of a stream is `PersonRegistered`.
    StreamStartsWithRegistration => "stream_starts_with_registration",
    /// `PersonRegistered` appears only once in a stream.
    AlreadyRegistered => "already_registered",
    /// After `PersonalDataErased` only consent withdrawals follow; erasing twice is rejected.
    ErasedIsFinal => "erased_is_final",
    /// No `occurred_on` (nor a replacement's) after the ledger's current date.
    OccurredOnNotInFuture => "occurred_on_not_in_future",
    /// No `occurred_on` (nor a replacement's) in a year before the person's birth year; nothing
    /// to check when the birth year is registered as unknown.
    OccurredOnNotBeforeBirthYear => "occurred_on_not_before_birth_year",
    /// After `MovedAway` only governance events or a new `ArrivalRecorded` (a return).
    MovedAwayOnlyReturn => "moved_away_only_return",
    /// `MovedAway` needs a stay to end: an `ArrivalRecorded` before it.
    MovedAwayOnlyWhenPresent => "moved_away_only_when_present",
    /// A `MovedAway` is not dated before any arrival (or return) of the stay it ends.
    MovedAwayNotBeforeArrival => "moved_away_not_before_arrival",
    /// No `ArrivalRecorded` is dated before the latest `MovedAway`: a return comes after the move.
    ReturnNotBeforeMovedAway => "return_not_before_moved_away",
    /// After a return, nothing is started (a course registered, a measure, training, employment,
    /// mentoring, Kita place, school enrolment or benefit) with a date before the return.
    StartNotBeforeReturn => "start_not_before_return",
    /// A spell of the same course id, measure id, training id, employment id, mentor, Kita place,
    /// school enrolment or benefit kind is not started again with a date before its previous one
    /// ended (by its end or a move away).
    StartNotBeforePreviousEnd => "start_not_before_previous_end",
    /// `CourseStarted` needs a registered course of that id that has not started yet.
    CourseRegisteredBeforeStart => "course_registered_before_start",
    /// A course starts on or after the date it was registered.
    CourseStartNotBeforeRegistration => "course_start_not_before_registration",
    /// `CourseCompleted` and `CourseLeftEarly` need a started course that is still open.
    CourseStartedBeforeEnd => "course_started_before_end",
    /// Nothing is started (a course registered, a measure, training, employment, mentoring, Kita
    /// place, school enrolment, benefit or consent) while the same one is still open.
    AlreadyOpen => "already_open",
    /// Measures, trainings, employments, mentoring, Kita, school, benefits, residence obligations,
    /// recognition applications and consents end only when open, and so only once (a move away
    /// ends the first seven).
    EndOnlyWhenOpen => "end_only_when_open",
    /// An end is not dated before its start; nor is a move away before the start of a spell it
    /// closes.
    EndNotBeforeStart => "end_not_before_start",
    /// `MovedToRegularClass` only from a language class.
    RegularClassOnlyFromLanguageClass => "regular_class_only_from_language_class",
    /// A correction or retraction names an event of the same stream.
    CorrectionTargetExists => "correction_target_exists",
    /// A retracted event is neither corrected nor retracted again.
    CorrectionTargetRetracted => "correction_target_retracted",
    /// Governance events are never corrected or retracted.
    CorrectionTargetGovernance => "correction_target_governance",
    /// The stream with the correction applied still satisfies every other rule.
    CorrectionBreaksStream => "correction_breaks_stream",
);

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a proposed event was rejected: the rule, the event, the field and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleViolation {
    pub rule: Rule,
    /// The index of the rejected event in the proposed batch.
    pub index: usize,
    pub event_id: Uuid,
    pub event_type: EventType,
    /// The field the violation is about, when it is about one (for example `course_id`,
    /// `occurred_on` or `replacement.occurred_on`).
    pub field: Option<String>,
    /// What is wrong and what to fix.
    pub message: String,
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {}: {} {}",
            self.rule.code(),
            self.event_type,
            self.event_id
        )?;
        if let Some(field) = &self.field {
            write!(f, ": field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A violation before it is tied to a proposed event: the checks produce these, and `decide` adds
/// the event and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Breach {
    rule: Rule,
    field: Option<String>,
    message: String,
}

impl Breach {
    fn new(rule: Rule, field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            rule,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    fn into_violation(self, index: usize, event: &JourneyEvent) -> RuleViolation {
        RuleViolation {
            rule: self.rule,
            index,
            event_id: event.id,
            event_type: event.event_type(),
            field: self.field,
            message: self.message,
        }
    }
}

/// Where the person is, as far as arrivals and moves tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Presence {
    /// No `ArrivalRecorded` yet.
    #[default]
    NotArrived,
    /// Arrived (or returned) on `since` and not moved away since.
    Present { since: NaiveDate },
    /// Moved away on `on`; only a new arrival continues the journey.
    MovedAway { on: NaiveDate },
}

/// A course that is registered and not yet completed or left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCourse {
    pub course_type: CourseType,
    pub provider: String,
    pub registered_on: NaiveDate,
    /// `None` while the person waits for the course to start.
    pub started_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMeasure {
    pub measure_type: MeasureType,
    pub started_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTraining {
    pub occupation_code: String,
    pub started_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEmployment {
    pub kind: EmploymentKind,
    pub occupation_code: Option<String>,
    pub started_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolEnrolment {
    pub school_type: SchoolType,
    /// Whether the person is (still) in a language class.
    pub language_class: bool,
    pub enrolled_on: NaiveDate,
    pub regular_class_since: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidenceObligation {
    pub set_on: NaiveDate,
    pub until: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRecognition {
    pub occupation_code: String,
    pub regulated: bool,
    pub applied_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveConsent {
    pub recipients: Vec<Agency>,
    pub purpose: String,
    pub form_version: String,
    pub given_on: NaiveDate,
}

/// A spell as the rules tell one from another: by kind and id (the Kita place and the school
/// enrolment are one per person, benefits one per kind).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SpellKey {
    Course(String),
    Measure(String),
    Training(String),
    Employment(String),
    Mentoring(String),
    Kita,
    School,
    Benefits(BenefitKind),
}

impl SpellKey {
    /// The spell an event starts, if it starts one.
    fn started_by(event: &Event) -> Option<SpellKey> {
        Some(match event {
            Event::CourseRegistered(course) => SpellKey::Course(course.course_id.clone()),
            Event::MeasureStarted(measure) => SpellKey::Measure(measure.measure_id.clone()),
            Event::TrainingStarted(training) => SpellKey::Training(training.training_id.clone()),
            Event::EmploymentStarted(employment) => {
                SpellKey::Employment(employment.employment_id.clone())
            }
            Event::MentorAssigned(mentoring) => SpellKey::Mentoring(mentoring.mentor_id.clone()),
            Event::KitaStarted(_) => SpellKey::Kita,
            Event::SchoolEnrolled(_) => SpellKey::School,
            Event::BenefitsStarted(benefits) => SpellKey::Benefits(benefits.kind),
            _ => return None,
        })
    }
}

impl fmt::Display for SpellKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpellKey::Course(id) => write!(f, "course `{id}`"),
            SpellKey::Measure(id) => write!(f, "measure `{id}`"),
            SpellKey::Training(id) => write!(f, "training `{id}`"),
            SpellKey::Employment(id) => write!(f, "employment `{id}`"),
            SpellKey::Mentoring(id) => write!(f, "mentoring by `{id}`"),
            SpellKey::Kita => f.write_str("the Kita place"),
            SpellKey::School => f.write_str("the school enrolment"),
            SpellKey::Benefits(kind) => write!(f, "benefits `{kind}`"),
        }
    }
}

/// The facts derived from the effective history that the checks of a normal event need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Facts {
    registered: bool,
    erased: bool,
    birth_year: Option<i32>,
    presence: Presence,
    /// The date of the latest `MovedAway`, also after a return: no arrival is dated before it.
    last_moved_away: Option<NaiveDate>,
    /// When each spell that is no longer open last ended (by its end or a move away): a new start of
    /// it is not dated before that.
    spell_ends: BTreeMap<SpellKey, NaiveDate>,
    /// The latest date of an arrival of the current stay: the stay's move away is not dated
    /// before it, or the views, in date order, would see that arrival begin a new stay.
    stay_latest_arrival: Option<NaiveDate>,
    courses: BTreeMap<String, OpenCourse>,
    measures: BTreeMap<String, OpenMeasure>,
    trainings: BTreeMap<String, OpenTraining>,
    employments: BTreeMap<String, OpenEmployment>,
    mentors: BTreeMap<String, NaiveDate>,
    kita_since: Option<NaiveDate>,
    school: Option<SchoolEnrolment>,
    benefits: BTreeMap<BenefitKind, NaiveDate>,
    obligation: Option<ResidenceObligation>,
    recognitions: Vec<OpenRecognition>,
    consents: BTreeMap<String, ActiveConsent>,
}

impl Facts {
    /// What is left to know after erasure: that the person was registered and erased.
    fn erased() -> Self {
        Self {
            registered: true,
            erased: true,
            ..Self::default()
        }
    }

    /// Applies one event of the effective history. Never fails: an end without an open start
    /// changes nothing, and a start of something already open keeps the first start.
    fn apply(&mut self, event: &JourneyEvent) {
        let on = event.occurred_on;
        match &event.event {
            Event::PersonRegistered(registered) => {
                self.registered = true;
                self.birth_year = registered.birth_year.year();
            }
            Event::ArrivalRecorded(_) => {
                self.stay_latest_arrival =
                    Some(self.stay_latest_arrival.map_or(on, |latest| latest.max(on)));
                self.presence = match self.presence {
                    Presence::Present { since } => Presence::Present {
                        since: since.min(on),
                    },
                    Presence::NotArrived | Presence::MovedAway { .. } => {
                        Presence::Present { since: on }
                    }
                };
            }
            Event::MovedAway(_) => {
                self.presence = Presence::MovedAway { on };
                self.last_moved_away = Some(on);
                self.stay_latest_arrival = None;
                self.close_spells_at_move(on);
            }
            Event::CourseRegistered(course) => {
                self.courses
                    .entry(course.course_id.clone())
                    .or_insert_with(|| OpenCourse {
                        course_type: course.course_type,
                        provider: course.provider.clone(),
                        registered_on: on,
                        started_on: None,
                    });
            }
            Event::CourseStarted(course) => {
                if let Some(open) = self.courses.get_mut(&course.course_id) {
                    open.started_on.get_or_insert(on);
                }
            }
            Event::CourseCompleted(CourseCompleted { course_id })
            | Event::CourseLeftEarly(CourseLeftEarly { course_id, .. }) => {
                if self.courses.remove(course_id).is_some() {
                    self.ended(SpellKey::Course(course_id.clone()), on);
                }
            }
            Event::KitaStarted(_) => {
                self.kita_since.get_or_insert(on);
            }
            Event::KitaEnded(_) => {
                if self.kita_since.take().is_some() {
                    self.ended(SpellKey::Kita, on);
                }
            }
            Event::SchoolEnrolled(school) => {
                self.school.get_or_insert(SchoolEnrolment {
                    school_type: school.school_type,
                    language_class: school.language_class,
                    enrolled_on: on,
                    regular_class_since: None,
                });
            }
            Event::MovedToRegularClass(_) => {
                if let Some(school) = &mut self.school {
                    if school.language_class {
                        school.language_class = false;
                        school.regular_class_since = Some(on);
                    }
                }
            }
            Event::SchoolLeft(_) => {
                if self.school.take().is_some() {
                    self.ended(SpellKey::School, on);
                }
            }
            Event::BenefitsStarted(benefits) => {
                self.benefits.entry(benefits.kind).or_insert(on);
            }
            Event::BenefitsEnded(benefits) => {
                if self.benefits.remove(&benefits.kind).is_some() {
                    self.ended(SpellKey::Benefits(benefits.kind), on);
                }
            }
            Event::ResidenceObligationSet(obligation) => match &mut self.obligation {
                Some(existing) => existing.until = obligation.until,
                None => {
                    self.obligation = Some(ResidenceObligation {
                        set_on: on,
                        until: obligation.until,
                    })
                }
            },
            Event::ResidenceObligationLifted(_) => self.obligation = None,
            Event::MeasureStarted(measure) => {
                self.measures
                    .entry(measure.measure_id.clone())
                    .or_insert_with(|| OpenMeasure {
                        measure_type: measure.measure_type,
                        started_on: on,
                    });
            }
            Event::MeasureEnded(measure) => {
                if self.measures.remove(&measure.measure_id).is_some() {
                    self.ended(SpellKey::Measure(measure.measure_id.clone()), on);
                }
            }
            Event::RecognitionApplied(application) => self.recognitions.push(OpenRecognition {
                occupation_code: application.occupation_code.clone(),
                regulated: application.regulated,
                applied_on: on,
            }),
            Event::RecognitionDecided(_) => {
                if let Some(index) = self.decided_recognition() {
                    self.recognitions.remove(index);
                }
            }
            Event::TrainingStarted(training) => {
                self.trainings
                    .entry(training.training_id.clone())
                    .or_insert_with(|| OpenTraining {
                        occupation_code: training.occupation_code.clone(),
                        started_on: on,
                    });
            }
            Event::TrainingEnded(training) => {
                if self.trainings.remove(&training.training_id).is_some() {
                    self.ended(SpellKey::Training(training.training_id.clone()), on);
                }
            }
            Event::EmploymentStarted(employment) => {
                self.employments
                    .entry(employment.employment_id.clone())
                    .or_insert_with(|| OpenEmployment {
                        kind: employment.kind,
                        occupation_code: employment.occupation_code.clone(),
                        started_on: on,
                    });
            }
            Event::EmploymentEnded(employment) => {
                if self.employments.remove(&employment.employment_id).is_some() {
                    self.ended(SpellKey::Employment(employment.employment_id.clone()), on);
                }
            }
            Event::MentorAssigned(mentoring) => {
                self.mentors
                    .entry(mentoring.mentor_id.clone())
                    .or_insert(on);
            }
            Event::MentoringEnded(mentoring) => {
                if self.mentors.remove(&mentoring.mentor_id).is_some() {
                    self.ended(SpellKey::Mentoring(mentoring.mentor_id.clone()), on);
                }
            }
            Event::ConsentGiven(consent) => {
                self.consents
                    .entry(consent.consent_id.clone())
                    .or_insert_with(|| ActiveConsent {
                        recipients: consent.recipients.clone(),
                        purpose: consent.purpose.clone(),
                        form_version: consent.form_version.clone(),
                        given_on: on,
                    });
            }
            Event::ConsentWithdrawn(consent) => {
                self.consents.remove(&consent.consent_id);
            }
            Event::PersonalDataErased(_) => *self = Facts::erased(),
            // These change no fact the rules keep. Corrections and retractions are applied to the
            // history by `evolve`, not here. The match lists them all so that a new event type
            // has to be placed deliberately.
            Event::AsylumApplicationFiled(_)
            | Event::AsylumDecisionIssued(_)
            | Event::ResidenceStatusChanged(_)
            | Event::AddressChanged(_)
            | Event::CourseEntitlementIssued(_)
            | Event::LanguageTestTaken(_)
            | Event::OrientationTestTaken(_)
            | Event::KitaPlaceRequested(_)
            | Event::MentorRequested(_)
            | Event::CooperationPlanAgreed(_)
            | Event::CounsellingContact(_)
            | Event::ReferralMade(_)
            | Event::ChecklistItemCompleted(_)
            | Event::EventCorrected(_)
            | Event::EventRetracted(_) => {}
        }
    }

    /// Closes what a move away ends (see the module documentation): the person is no longer here to
    /// attend, work, be mentored or receive benefits here.
    fn close_spells_at_move(&mut self, on: NaiveDate) {
        for (_, spell) in self.spells_a_move_closes() {
            self.ended(spell, on);
        }
        self.courses.clear();
        self.measures.clear();
        self.trainings.clear();
        self.employments.clear();
        self.mentors.clear();
        self.kita_since = None;
        self.school = None;
        self.benefits.clear();
    }

    fn ended(&mut self, spell: SpellKey, on: NaiveDate) {
        self.spell_ends.insert(spell, on);
    }

    /// Every open spell a move away closes, with the date a move must not be before (its start, or
    /// for a course its start or registration, for school the move to a regular class), latest
    /// first.
    fn spells_a_move_closes(&self) -> Vec<(NaiveDate, SpellKey)> {
        let mut spells: Vec<(NaiveDate, SpellKey)> = Vec::new();
        spells.extend(self.courses.iter().map(|(id, course)| {
            (
                course.started_on.unwrap_or(course.registered_on),
                SpellKey::Course(id.clone()),
            )
        }));
        spells.extend(
            self.measures
                .iter()
                .map(|(id, open)| (open.started_on, SpellKey::Measure(id.clone()))),
        );
        spells.extend(
            self.trainings
                .iter()
                .map(|(id, open)| (open.started_on, SpellKey::Training(id.clone()))),
        );
        spells.extend(
            self.employments
                .iter()
                .map(|(id, open)| (open.started_on, SpellKey::Employment(id.clone()))),
        );
        spells.extend(
            self.mentors
                .iter()
                .map(|(id, since)| (*since, SpellKey::Mentoring(id.clone()))),
        );
        spells.extend(self.kita_since.map(|since| (since, SpellKey::Kita)));
        spells.extend(self.school.iter().map(|school| {
            (
                school.regular_class_since.unwrap_or(school.enrolled_on),
                SpellKey::School,
            )
        }));
        spells.extend(
            self.benefits
                .iter()
                .map(|(kind, since)| (*since, SpellKey::Benefits(*kind))),
        );
        spells.sort_by(|left, right| right.cmp(left));
        spells
    }

    /// The open application a decision closes: the one with the earliest date (the first of them
    /// on a tie), because a decision does not say which occupation it is about.
    fn decided_recognition(&self) -> Option<usize> {
        self.recognitions
            .iter()
            .enumerate()
            .min_by_key(|(index, application)| (application.applied_on, *index))
            .map(|(index, _)| index)
    }
}

/// The recorded events of a stream, newest first, as a list shared between states: cloning a state
/// (which `decide` does for every batch) copies one pointer instead of the whole history, and
/// appending does not copy either.
#[derive(Clone, Default)]
struct History {
    newest: Option<Arc<Recorded>>,
}

struct Recorded {
    event: JourneyEvent,
    previous: Option<Arc<Recorded>>,
}

impl History {
    fn push(&mut self, event: JourneyEvent) {
        let previous = self.newest.take();
        self.newest = Some(Arc::new(Recorded { event, previous }));
    }

    fn newest_first(&self) -> impl Iterator<Item = &JourneyEvent> {
        std::iter::successors(self.newest.as_deref(), |recorded| {
            recorded.previous.as_deref()
        })
        .map(|recorded| &recorded.event)
    }

    fn oldest_first(&self) -> Vec<&JourneyEvent> {
        let mut events: Vec<&JourneyEvent> = self.newest_first().collect();
        events.reverse();
        events
    }

    /// The recorded event with this id (the latest one, should an id have been recorded twice).
    fn find(&self, id: Uuid) -> Option<&JourneyEvent> {
        self.newest_first().find(|event| event.id == id)
    }
}

impl Drop for History {
    /// Unlinks the list node by node: the default drop would recurse once per event and could
    /// overflow the stack on a long stream.
    fn drop(&mut self) {
        let mut next = self.newest.take();
        while let Some(node) = next {
            next = Arc::into_inner(node).and_then(|mut recorded| recorded.previous.take());
        }
    }
}

impl PartialEq for History {
    fn eq(&self, other: &Self) -> bool {
        let same_list = match (&self.newest, &other.newest) {
            (Some(left), Some(right)) => Arc::ptr_eq(left, right),
            (None, None) => true,
            _ => false,
        };
        same_list || self.newest_first().eq(other.newest_first())
    }
}

impl Eq for History {}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.oldest_first()).finish()
    }
}

/// The state of one person's journey, folded from the stream's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JourneyState {
    /// How many events the stream holds, governance events and unreadable erased ones included.
    event_count: u64,
    /// Every recorded event since the registration (or, after erasure, since the erasure).
    history: History,
    /// The latest replacement of every corrected event, under the corrected event's id.
    corrections: BTreeMap<Uuid, JourneyEvent>,
    retracted: BTreeSet<Uuid>,
    facts: Facts,
}

/// A correction being checked: the target and its replacement, or `None` for a retraction.
#[derive(Clone, Copy)]
struct PendingCorrection<'a> {
    target: Uuid,
    replacement: Option<&'a JourneyEvent>,
}

impl JourneyState {
    /// The state of a stream whose personal data was erased, built without reading its sealed
    /// events: `revision` is the revision of the stream's last event. Such a state accepts only
    /// `ConsentWithdrawn`; corrections and retractions are rejected because their targets can no
    /// longer be checked. Folding a `PersonalDataErased` gives exactly this state.
    pub fn erased(revision: u64) -> Self {
        Self {
            event_count: revision.saturating_add(1),
            facts: Facts::erased(),
            ..Self::default()
        }
    }

    /// The revision of the stream's last event: the number of events minus one, `None` for an
    /// empty stream.
    pub fn revision(&self) -> Option<u64> {
        self.event_count.checked_sub(1)
    }

    /// Whether the effective stream holds a `PersonRegistered`.
    pub fn is_registered(&self) -> bool {
        self.facts.registered
    }

    pub fn is_erased(&self) -> bool {
        self.facts.erased
    }

    /// The birth year of the effective registration; `None` before registration, when the year is
    /// registered as unknown, and after erasure.
    pub fn birth_year(&self) -> Option<i32> {
        self.facts.birth_year
    }

    pub fn presence(&self) -> Presence {
        self.facts.presence
    }

    /// Arrived, not moved away since, and not erased.
    pub fn is_present(&self) -> bool {
        !self.facts.erased && matches!(self.facts.presence, Presence::Present { .. })
    }

    /// Courses registered and not yet completed or left, by course id.
    pub fn open_courses(&self) -> &BTreeMap<String, OpenCourse> {
        &self.facts.courses
    }

    pub fn open_measures(&self) -> &BTreeMap<String, OpenMeasure> {
        &self.facts.measures
    }

    pub fn open_trainings(&self) -> &BTreeMap<String, OpenTraining> {
        &self.facts.trainings
    }

    pub fn open_employments(&self) -> &BTreeMap<String, OpenEmployment> {
        &self.facts.employments
    }

    /// Active mentors by mentor id, with the date each was assigned.
    pub fn active_mentors(&self) -> &BTreeMap<String, NaiveDate> {
        &self.facts.mentors
    }

    /// The start of the open Kita place, if there is one.
    pub fn kita_since(&self) -> Option<NaiveDate> {
        self.facts.kita_since
    }

    pub fn school(&self) -> Option<&SchoolEnrolment> {
        self.facts.school.as_ref()
    }

    /// Open benefits by kind, with their start dates.
    pub fn open_benefits(&self) -> &BTreeMap<BenefitKind, NaiveDate> {
        &self.facts.benefits
    }

    pub fn residence_obligation(&self) -> Option<&ResidenceObligation> {
        self.facts.obligation.as_ref()
    }

    /// Recognition applications without a decision yet, in the order they were recorded.
    pub fn open_recognitions(&self) -> &[OpenRecognition] {
        &self.facts.recognitions
    }

    /// Consents given and not withdrawn, by consent id.
    pub fn consents(&self) -> &BTreeMap<String, ActiveConsent> {
        &self.facts.consents
    }

    /// The event with this id as it stands now: a corrected event is its latest replacement
    /// (under the original id), a retracted event is `None`. After erasure nothing before the
    /// erasure is known.
    pub fn event(&self, id: Uuid) -> Option<&JourneyEvent> {
        if self.retracted.contains(&id) {
            return None;
        }
        self.corrections.get(&id).or_else(|| self.history.find(id))
    }

    pub fn is_retracted(&self, id: Uuid) -> bool {
        self.retracted.contains(&id)
    }

    /// The effective history, oldest first: every recorded event except corrections and
    /// retractions, with corrected events replaced and retracted ones left out.
    pub fn effective_events(&self) -> Vec<&JourneyEvent> {
        self.effective_history(None)
            .into_iter()
            .map(|(event, _)| event)
            .collect()
    }

    /// The effective history with `pending` applied on top, each event paired with whether it is
    /// at or after the pending correction's target (and so has to be checked again).
    fn effective_history<'a>(
        &'a self,
        pending: Option<PendingCorrection<'a>>,
    ) -> Vec<(&'a JourneyEvent, bool)> {
        let mut reached_target = false;
        let mut effective = Vec::new();
        for recorded in self.history.oldest_first() {
            if matches!(
                recorded.event,
                Event::EventCorrected(_) | Event::EventRetracted(_)
            ) {
                continue;
            }
            if let Some(pending) = pending.filter(|pending| pending.target == recorded.id) {
                reached_target = true;
                if let Some(replacement) = pending.replacement {
                    effective.push((replacement, true));
                }
                continue;
            }
            if self.retracted.contains(&recorded.id) {
                continue;
            }
            let event = self.corrections.get(&recorded.id).unwrap_or(recorded);
            effective.push((event, reached_target));
        }
        effective
    }

    /// Applies a correction (or, without a replacement, a retraction) that was recorded. One the
    /// rules would reject changes nothing, because it cannot be applied meaningfully.
    fn apply_correction(&mut self, target: Uuid, replacement: Option<&Replacement>) {
        if self.facts.erased || self.retracted.contains(&target) {
            return;
        }
        let Some(recorded) = self.history.find(target) else {
            return;
        };
        if recorded.event_type().is_governance() {
            return;
        }
        match replacement {
            Some(replacement) => match decode_replacement(replacement) {
                Ok(event) if !event.event_type().is_governance() => {
                    self.corrections.insert(
                        target,
                        JourneyEvent::new(target, replacement.occurred_on, event),
                    );
                }
                _ => return,
            },
            None => {
                self.corrections.remove(&target);
                self.retracted.insert(target);
            }
        }
        let mut facts = Facts::default();
        for (event, _) in self.effective_history(None) {
            facts.apply(event);
        }
        self.facts = facts;
    }
}

/// Applies an already-recorded event. Never fails: history is history, and an event the rules would
/// reject today is still folded as well as it can be.
pub fn evolve(state: &mut JourneyState, event: &JourneyEvent) {
    state.event_count = state.event_count.saturating_add(1);
    match &event.event {
        Event::PersonalDataErased(_) => {
            // The ledger cannot read anything before the erasure any more, so neither does the state:
            // folding the erasure must give what the ledger builds from the erasure alone.
            let revision = state.event_count - 1;
            *state = JourneyState::erased(revision);
        }
        Event::EventCorrected(correction) => {
            state.history.push(event.clone());
            state.apply_correction(correction.target_event_id, Some(&correction.replacement));
        }
        Event::EventRetracted(retraction) => {
            state.history.push(event.clone());
            state.apply_correction(retraction.target_event_id, None);
        }
        _ => {
            state.history.push(event.clone());
            state.facts.apply(event);
        }
    }
}

/// Checks proposed events, in order, against the state (each one as if the previous ones were
/// accepted). Returns the state after all of them, or the first violation. Pure: reads time only
/// from `clock.today()`.
pub fn decide(
    state: &JourneyState,
    proposed: &[JourneyEvent],
    clock: &dyn Clock,
) -> Result<JourneyState, RuleViolation> {
    let today = clock.today();
    let mut next = state.clone();
    for (index, event) in proposed.iter().enumerate() {
        check(&next, event, today).map_err(|breach| breach.into_violation(index, event))?;
        evolve(&mut next, event);
    }
    Ok(next)
}

/// Checks one proposed event against the state it would be appended to.
fn check(state: &JourneyState, event: &JourneyEvent, today: NaiveDate) -> Result<(), Breach> {
    check_event(&state.facts, event, today)?;
    match &event.event {
        Event::EventCorrected(correction) => check_correction(
            state,
            correction.target_event_id,
            Some(&correction.replacement),
            today,
        ),
        Event::EventRetracted(retraction) => {
            check_correction(state, retraction.target_event_id, None, today)
        }
        _ => Ok(()),
    }
}

/// Every check that needs only the derived facts: all rules except those about a correction's
/// target. Re-validating a corrected stream runs exactly this on every event it re-checks.
fn check_event(facts: &Facts, event: &JourneyEvent, today: NaiveDate) -> Result<(), Breach> {
    let event_type = event.event_type();
    if facts.erased {
        return check_after_erasure(event, today);
    }
    if !facts.registered && event_type != EventType::PersonRegistered {
        return Err(Breach::new(
            Rule::StreamStartsWithRegistration,
            None,
            format!(
                "the stream has no PersonRegistered, so it cannot take a {event_type}; register the person first"
            ),
        ));
    }
    if facts.registered && event_type == EventType::PersonRegistered {
        return Err(Breach::new(
            Rule::AlreadyRegistered,
            None,
            "the person is already registered; correct the existing PersonRegistered instead",
        ));
    }
    check_date(
        event.occurred_on,
        "occurred_on",
        birth_year_for(facts, &event.event),
        today,
    )?;
    if let Presence::MovedAway { on } = facts.presence {
        if !event_type.is_governance() && event_type != EventType::ArrivalRecorded {
            return Err(Breach::new(
                Rule::MovedAwayOnlyReturn,
                None,
                format!(
                    "the person moved away on {on}; record their return with ArrivalRecorded before a {event_type}"
                ),
            ));
        }
    }
    check_presence(facts, event)?;
    check_pairs(facts, event)?;
    check_restart(facts, event)
}

/// A spell started again is not dated before its previous one ended (see the module
/// documentation).
fn check_restart(facts: &Facts, event: &JourneyEvent) -> Result<(), Breach> {
    let Some(spell) = SpellKey::started_by(&event.event) else {
        return Ok(());
    };
    match facts.spell_ends.get(&spell) {
        Some(ended_on) if event.occurred_on < *ended_on => Err(Breach::new(
            Rule::StartNotBeforePreviousEnd,
            Some("occurred_on"),
            format!(
                "{} is before {spell} last ended on {ended_on}; a new spell of it starts on or after that (check the date, or use another id)",
                event.occurred_on
            ),
        )),
        _ => Ok(()),
    }
}

/// Arrivals and moves in date order (see the module documentation), and a move not before the
/// start of anything it closes.
fn check_presence(facts: &Facts, event: &JourneyEvent) -> Result<(), Breach> {
    let on = event.occurred_on;
    match &event.event {
        Event::ArrivalRecorded(_) => match facts.last_moved_away {
            Some(moved_on) if on < moved_on => Err(Breach::new(
                Rule::ReturnNotBeforeMovedAway,
                Some("occurred_on"),
                format!(
                    "{on} is before the person moved away on {moved_on}; a return is dated on or after the move (check the date, or correct the MovedAway)"
                ),
            )),
            _ => Ok(()),
        },
        Event::CourseRegistered(_)
        | Event::MeasureStarted(_)
        | Event::TrainingStarted(_)
        | Event::EmploymentStarted(_)
        | Event::MentorAssigned(_)
        | Event::KitaStarted(_)
        | Event::SchoolEnrolled(_)
        | Event::BenefitsStarted(_) => match (facts.last_moved_away, facts.presence) {
            (Some(moved_on), Presence::Present { since }) if on < since => Err(Breach::new(
                Rule::StartNotBeforeReturn,
                Some("occurred_on"),
                format!(
                    "{on} is before the person's return on {since}; the move away on {moved_on} closed everything open then, so what starts after the return is dated on or after it (check the date)"
                ),
            )),
            _ => Ok(()),
        },
        Event::MovedAway(_) => {
            let since = match facts.presence {
                Presence::Present { since } => since,
                // A second move is refused by `MovedAwayOnlyReturn` before this is reached.
                Presence::NotArrived | Presence::MovedAway { .. } => {
                    return Err(Breach::new(
                        Rule::MovedAwayOnlyWhenPresent,
                        None,
                        "the person has not arrived, so there is no stay to end; record ArrivalRecorded first",
                    ))
                }
            };
            let latest_arrival = facts.stay_latest_arrival.unwrap_or(since).max(since);
            if on < latest_arrival {
                return Err(Breach::new(
                    Rule::MovedAwayNotBeforeArrival,
                    Some("occurred_on"),
                    format!(
                        "{on} is before the arrival of {latest_arrival} recorded for this stay; a move away is dated on or after every arrival of the stay it ends (check the date, or correct the ArrivalRecorded)"
                    ),
                ));
            }
            for (started_on, what) in facts.spells_a_move_closes() {
                if on < started_on {
                    return Err(Breach::new(
                        Rule::EndNotBeforeStart,
                        Some("occurred_on"),
                        format!(
                            "{on} is before {what} began on {started_on}, and a move away closes it; check the date, or end or correct {what} first"
                        ),
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// After erasure only a consent withdrawal follows: there is nothing left to check it against, and
/// a withdrawal must always be possible.
fn check_after_erasure(event: &JourneyEvent, today: NaiveDate) -> Result<(), Breach> {
    let message = match &event.event {
        Event::ConsentWithdrawn(_) => return check_date(event.occurred_on, "occurred_on", None, today),
        Event::PersonalDataErased(_) => {
            "the person's data was already erased; an erasure happens only once"
        }
        Event::EventCorrected(_) | Event::EventRetracted(_) => {
            "the person's data was erased, so the target can no longer be checked; nothing is corrected or retracted after erasure"
        }
        Event::ConsentGiven(_) => {
            "the person's data was erased, so there is nothing left to share; no consent is given after erasure"
        }
        _ => "the person's data was erased; only consent withdrawals follow an erasure",
    };
    Err(Breach::new(Rule::ErasedIsFinal, None, message))
}

/// The birth year a date of this event is checked against: a registration brings its own; `None`
/// when it is unknown (or nobody is registered yet), which skips the check.
fn birth_year_for(facts: &Facts, event: &Event) -> Option<i32> {
    match event {
        Event::PersonRegistered(registered) => registered.birth_year.year(),
        _ => facts.birth_year,
    }
}

fn check_date(
    date: NaiveDate,
    field: &str,
    birth_year: Option<i32>,
    today: NaiveDate,
) -> Result<(), Breach> {
    if date > today {
        return Err(Breach::new(
            Rule::OccurredOnNotInFuture,
            Some(field),
            format!("{date} is after today ({today}); record an event once it has happened"),
        ));
    }
    if let Some(birth_year) = birth_year {
        if date.year() < birth_year {
            return Err(Breach::new(
                Rule::OccurredOnNotBeforeBirthYear,
                Some(field),
                format!(
                    "{date} is before the person's birth year {birth_year}; check the date or correct the birth year"
                ),
            ));
        }
    }
    Ok(())
}

fn already_open(field: Option<&str>, what: &str, since: NaiveDate, fix: &str) -> Breach {
    Breach::new(
        Rule::AlreadyOpen,
        field,
        format!("{what} is already open since {since}; {fix}"),
    )
}

fn not_open(facts: &Facts, field: Option<&str>, what: &str, fix: &str) -> Breach {
    Breach::new(
        Rule::EndOnlyWhenOpen,
        field,
        format!("there is no open {what}; {fix}{}", closed_by_move(facts)),
    )
}

/// The part of a "nothing open" message that names the latest move away, which closed whatever
/// was open then: without it, an end refused after a return would look like a lost start.
fn closed_by_move(facts: &Facts) -> String {
    match facts.last_moved_away {
        Some(moved_on) => format!(
            " (everything open when the person moved away on {moved_on} was closed by the move)"
        ),
        None => String::new(),
    }
}

fn end_not_before(event: &JourneyEvent, what: &str, started_on: NaiveDate) -> Result<(), Breach> {
    if event.occurred_on < started_on {
        return Err(Breach::new(
            Rule::EndNotBeforeStart,
            Some("occurred_on"),
            format!(
                "{} is before {what} began on {started_on}; an end is dated on or after its start",
                event.occurred_on
            ),
        ));
    }
    Ok(())
}

/// The start/end pairs: what a start needs to be closed and what an end needs to be open.
fn check_pairs(facts: &Facts, event: &JourneyEvent) -> Result<(), Breach> {
    match &event.event {
        Event::CourseRegistered(course) => match facts.courses.get(&course.course_id) {
            Some(open) => Err(already_open(
                Some("course_id"),
                &format!("course `{}`", course.course_id),
                open.registered_on,
                "complete it or record that it was left early before registering it again, or use another course id",
            )),
            None => Ok(()),
        },
        Event::CourseStarted(course) => {
            let id = &course.course_id;
            let Some(open) = facts.courses.get(id) else {
                return Err(Breach::new(
                    Rule::CourseRegisteredBeforeStart,
                    Some("course_id"),
                    format!(
                        "course `{id}` was never registered (or has ended since); register it first{}",
                        closed_by_move(facts)
                    ),
                ));
            };
            if let Some(started_on) = open.started_on {
                return Err(Breach::new(
                    Rule::CourseRegisteredBeforeStart,
                    Some("course_id"),
                    format!("course `{id}` already started on {started_on}; a course starts once per registration"),
                ));
            }
            if event.occurred_on < open.registered_on {
                return Err(Breach::new(
                    Rule::CourseStartNotBeforeRegistration,
                    Some("occurred_on"),
                    format!(
                        "{} is before course `{id}` was registered on {}; check the date or correct the registration",
                        event.occurred_on, open.registered_on
                    ),
                ));
            }
            Ok(())
        }
        Event::CourseCompleted(CourseCompleted { course_id })
        | Event::CourseLeftEarly(CourseLeftEarly { course_id, .. }) => {
            let started_on = facts
                .courses
                .get(course_id)
                .and_then(|open| open.started_on);
            let Some(started_on) = started_on else {
                return Err(Breach::new(
                    Rule::CourseStartedBeforeEnd,
                    Some("course_id"),
                    format!(
                        "course `{course_id}` has not started (or has ended already); record CourseStarted first{}",
                        closed_by_move(facts)
                    ),
                ));
            };
            end_not_before(event, &format!("course `{course_id}`"), started_on)
        }
        Event::MeasureStarted(measure) => match facts.measures.get(&measure.measure_id) {
            Some(open) => Err(already_open(
                Some("measure_id"),
                &format!("measure `{}`", measure.measure_id),
                open.started_on,
                "end it first or use another measure id",
            )),
            None => Ok(()),
        },
        Event::MeasureEnded(measure) => match facts.measures.get(&measure.measure_id) {
            Some(open) => end_not_before(
                event,
                &format!("measure `{}`", measure.measure_id),
                open.started_on,
            ),
            None => Err(not_open(
                facts,
                Some("measure_id"),
                &format!("measure `{}`", measure.measure_id),
                "record MeasureStarted first, or check the measure id",
            )),
        },
        Event::TrainingStarted(training) => match facts.trainings.get(&training.training_id) {
            Some(open) => Err(already_open(
                Some("training_id"),
                &format!("training `{}`", training.training_id),
                open.started_on,
                "end it first or use another training id",
            )),
            None => Ok(()),
        },
        Event::TrainingEnded(training) => match facts.trainings.get(&training.training_id) {
            Some(open) => end_not_before(
                event,
                &format!("training `{}`", training.training_id),
                open.started_on,
            ),
            None => Err(not_open(
                facts,
                Some("training_id"),
                &format!("training `{}`", training.training_id),
                "record TrainingStarted first, or check the training id",
            )),
        },
        Event::EmploymentStarted(employment) => {
            match facts.employments.get(&employment.employment_id) {
                Some(open) => Err(already_open(
                    Some("employment_id"),
                    &format!("employment `{}`", employment.employment_id),
                    open.started_on,
                    "end it first or use another employment id",
                )),
                None => Ok(()),
            }
        }
        Event::EmploymentEnded(employment) => {
            match facts.employments.get(&employment.employment_id) {
                Some(open) => end_not_before(
                    event,
                    &format!("employment `{}`", employment.employment_id),
                    open.started_on,
                ),
                None => Err(not_open(
                facts,
                    Some("employment_id"),
                    &format!("employment `{}`", employment.employment_id),
                    "record EmploymentStarted first, or check the employment id",
                )),
            }
        }
        Event::MentorAssigned(mentoring) => match facts.mentors.get(&mentoring.mentor_id) {
            Some(since) => Err(already_open(
                Some("mentor_id"),
                &format!("mentoring by `{}`", mentoring.mentor_id),
                *since,
                "end it first",
            )),
            None => Ok(()),
        },
        Event::MentoringEnded(mentoring) => match facts.mentors.get(&mentoring.mentor_id) {
            Some(since) => end_not_before(
                event,
                &format!("mentoring by `{}`", mentoring.mentor_id),
                *since,
            ),
            None => Err(not_open(
                facts,
                Some("mentor_id"),
                &format!("mentoring by `{}`", mentoring.mentor_id),
                "record MentorAssigned first, or check the mentor id",
            )),
        },
        Event::KitaStarted(_) => match facts.kita_since {
            Some(since) => Err(already_open(
                None,
                "a Kita place",
                since,
                "a child has one Kita place at a time; record KitaEnded first",
            )),
            None => Ok(()),
        },
        Event::KitaEnded(_) => match facts.kita_since {
            Some(since) => end_not_before(event, "the Kita place", since),
            None => Err(not_open(facts, None, "Kita place", "record KitaStarted first")),
        },
        Event::SchoolEnrolled(_) => match &facts.school {
            Some(school) => Err(already_open(
                None,
                "a school enrolment",
                school.enrolled_on,
                "record SchoolLeft first",
            )),
            None => Ok(()),
        },
        Event::MovedToRegularClass(_) => {
            let Some(school) = &facts.school else {
                return Err(not_open(
                    facts,
                    None,
                    "school enrolment",
                    "record SchoolEnrolled first",
                ));
            };
            if !school.language_class {
                return Err(Breach::new(
                    Rule::RegularClassOnlyFromLanguageClass,
                    None,
                    "the person is not in a language class (enrolled in a regular class, or moved already); nothing to record",
                ));
            }
            end_not_before(event, "the school enrolment", school.enrolled_on)
        }
        Event::SchoolLeft(_) => {
            let Some(school) = &facts.school else {
                return Err(not_open(
                    facts,
                    None,
                    "school enrolment",
                    "record SchoolEnrolled first",
                ));
            };
            end_not_before(event, "the school enrolment", school.enrolled_on)?;
            match school.regular_class_since {
                Some(since) => end_not_before(event, "the move to a regular class", since),
                None => Ok(()),
            }
        }
        Event::BenefitsStarted(benefits) => match facts.benefits.get(&benefits.kind) {
            Some(since) => Err(already_open(
                Some("kind"),
                &format!("benefits `{}`", benefits.kind),
                *since,
                "record BenefitsEnded first",
            )),
            None => Ok(()),
        },
        Event::BenefitsEnded(benefits) => match facts.benefits.get(&benefits.kind) {
            Some(since) => end_not_before(event, &format!("benefits `{}`", benefits.kind), *since),
            None => Err(not_open(
                facts,
                Some("kind"),
                &format!("benefits `{}`", benefits.kind),
                "record BenefitsStarted of this kind first, or check the kind",
            )),
        },
        Event::ResidenceObligationLifted(_) => match &facts.obligation {
            Some(obligation) => end_not_before(event, "the residence obligation", obligation.set_on),
            None => Err(not_open(
                facts,
                None,
                "residence obligation",
                "record ResidenceObligationSet first",
            )),
        },
        Event::RecognitionDecided(_) => match facts.decided_recognition() {
            Some(index) => end_not_before(
                event,
                "the recognition application",
                facts.recognitions[index].applied_on,
            ),
            None => Err(not_open(
                facts,
                None,
                "recognition application",
                "record RecognitionApplied first",
            )),
        },
        Event::ConsentGiven(consent) => match facts.consents.get(&consent.consent_id) {
            Some(open) => Err(already_open(
                Some("consent_id"),
                &format!("consent `{}`", consent.consent_id),
                open.given_on,
                "withdraw it first or use another consent id",
            )),
            None => Ok(()),
        },
        Event::ConsentWithdrawn(consent) => match facts.consents.get(&consent.consent_id) {
            Some(open) => end_not_before(
                event,
                &format!("consent `{}`", consent.consent_id),
                open.given_on,
            ),
            None => Err(not_open(
                facts,
                Some("consent_id"),
                &format!("consent `{}`", consent.consent_id),
                "check the consent id; only a given consent can be withdrawn",
            )),
        },
        // No start/end pair constrains these. The match lists them all so that a new event type
        // has to be placed deliberately.
        Event::PersonRegistered(_)
        | Event::ArrivalRecorded(_)
        | Event::AsylumApplicationFiled(_)
        | Event::AsylumDecisionIssued(_)
        | Event::ResidenceStatusChanged(_)
        | Event::ResidenceObligationSet(_)
        | Event::AddressChanged(_)
        | Event::MovedAway(_)
        | Event::CourseEntitlementIssued(_)
        | Event::LanguageTestTaken(_)
        | Event::OrientationTestTaken(_)
        | Event::KitaPlaceRequested(_)
        | Event::MentorRequested(_)
        | Event::CooperationPlanAgreed(_)
        | Event::RecognitionApplied(_)
        | Event::CounsellingContact(_)
        | Event::ReferralMade(_)
        | Event::ChecklistItemCompleted(_)
        | Event::EventCorrected(_)
        | Event::EventRetracted(_)
        | Event::PersonalDataErased(_) => Ok(()),
    }
}

/// The checks of a correction (with a replacement) or retraction (without) beyond those of every
/// event: its target, its replacement, and the effective stream with it applied.
fn check_correction(
    state: &JourneyState,
    target: Uuid,
    replacement: Option<&Replacement>,
    today: NaiveDate,
) -> Result<(), Breach> {
    let Some(recorded) = state.history.find(target) else {
        return Err(Breach::new(
            Rule::CorrectionTargetExists,
            Some("target_event_id"),
            format!("this stream has no event `{target}`; name the id of an event of this person"),
        ));
    };
    let target_type = recorded.event_type();
    if target_type.is_governance() {
        return Err(Breach::new(
            Rule::CorrectionTargetGovernance,
            Some("target_event_id"),
            format!("event `{target}` is a {target_type}, a governance event, which is never corrected or retracted"),
        ));
    }
    if state.retracted.contains(&target) {
        return Err(Breach::new(
            Rule::CorrectionTargetRetracted,
            Some("target_event_id"),
            format!("event `{target}` was retracted; record a new event instead"),
        ));
    }
    let replacement = match replacement {
        Some(replacement) => Some(replacement_event(&state.facts, target, replacement, today)?),
        None => None,
    };
    let pending = PendingCorrection {
        target,
        replacement: replacement.as_ref(),
    };
    let mut facts = Facts::default();
    for (event, at_or_after_target) in state.effective_history(Some(pending)) {
        if at_or_after_target {
            check_event(&facts, event, today)
                .map_err(|inner| breaks_stream(inner, event, target, replacement.is_some()))?;
        }
        facts.apply(event);
    }
    Ok(())
}

/// Reads a correction's replacement as the event it stands for, under the target's id.
fn replacement_event(
    facts: &Facts,
    target: Uuid,
    replacement: &Replacement,
    today: NaiveDate,
) -> Result<JourneyEvent, Breach> {
    let event = decode_replacement(replacement).map_err(|error| {
        let field = match &error {
            DecodeError::UnknownType(_) => "replacement.type".to_owned(),
            DecodeError::InvalidField { field, .. } if !field.is_empty() => {
                format!("replacement.data.{field}")
            }
            _ => "replacement.data".to_owned(),
        };
        Breach::new(
            Rule::CorrectionBreaksStream,
            Some(&field),
            format!("the replacement cannot be read: {error}"),
        )
    })?;
    let event_type = event.event_type();
    if event_type.is_governance() {
        return Err(Breach::new(
            Rule::CorrectionBreaksStream,
            Some("replacement.type"),
            format!("a {event_type} is a governance event and cannot be a replacement"),
        ));
    }
    check_date(
        replacement.occurred_on,
        "replacement.occurred_on",
        birth_year_for(facts, &event),
        today,
    )?;
    Ok(JourneyEvent::new(target, replacement.occurred_on, event))
}

/// Wraps the violation an event of the corrected stream would cause.
fn breaks_stream(inner: Breach, failing: &JourneyEvent, target: Uuid, replaced: bool) -> Breach {
    let failing_type = failing.event_type();
    let inner_field = inner
        .field
        .as_deref()
        .map(|field| format!(": field {field}"))
        .unwrap_or_default();
    if replaced && failing.id == target {
        let field = match inner.field.as_deref() {
            Some("occurred_on") => "replacement.occurred_on".to_owned(),
            Some(field) => format!("replacement.data.{field}"),
            None => "replacement".to_owned(),
        };
        return Breach::new(
            Rule::CorrectionBreaksStream,
            Some(&field),
            format!(
                "at the corrected event's place, the replacement {failing_type} breaks rule {}{inner_field}: {}",
                inner.rule.code(),
                inner.message
            ),
        );
    }
    Breach::new(
        Rule::CorrectionBreaksStream,
        Some("target_event_id"),
        format!(
            "with this change, {failing_type} {} of {} breaks rule {}{inner_field}: {}; correct or retract that event first",
            failing.id,
            failing.occurred_on,
            inner.rule.code(),
            inner.message
        ),
    )
}
