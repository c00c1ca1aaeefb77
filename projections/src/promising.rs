//! Promising applicants (aussichtsreiche Bewerber): the joint case management list of the Jobcenter
//! and the Arbeitsagentur, and the facts the `promising_applicants` indicator counts.
//!
//! A person is a promising applicant on D when three things hold on D:
//! - they are idle more than N days by the one idle rule ([`models::idle_since`] and
//!   [`models::is_idle_more_than`]): working age, present, no active activity (so in particular no
//!   employment subject to social insurance, nor any other job), no child under 3 in the household;
//! - they are qualified: a language test at B1 or better, a recognition decision `full` or
//!   `partial`, a training ended `completed`, or a measure ended `completed`, on or before D;
//! - N is [`PROMISING_MIN_IDLE_DAYS`] unless the caller names another.
//!
//! A person enters the list on the first day of an idle spell on which all of that holds: the later
//! of the day the spell exceeds N days and the day the person first qualified. The conversion
//! figure of the indicator follows each entry for six months.

use std::ops::ControlFlow;

use chrono::{Days, Months, NaiveDate};
use journey_core::catalogue::{EndOutcome, Exam, Level, RecognitionOutcome};
use journey_core::envelope::PersonId;
use serde::{Deserialize, Serialize};

use crate::models::{idle_since, is_idle_more_than, IdleFacts};
use crate::view::{Households, Interval, LanguageTest, PersonView, SpellOutcome, Stage};

/// The default N: a promising applicant has been idle more than this many days. The same 90 days
/// as the idle list's default, so the joint case management picks up the idle list's persons who
/// are qualified.
pub const PROMISING_MIN_IDLE_DAYS: u32 = 90;

/// How long after entering the list a start of work counts as a placement.
pub const PLACEMENT_WINDOW_MONTHS: u32 = 6;

/// What qualifies a person, each the first such fact on or before D.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualifications {
    /// The first language test at B1 or better: its date, exam and level.
    pub b1: Option<(NaiveDate, Exam, Level)>,
    /// The first recognition decision `full` or `partial`: its date, outcome and occupation.
    pub recognition: Option<(NaiveDate, RecognitionOutcome, String)>,
    /// The first training ended `completed`: its end and occupation.
    pub training: Option<(NaiveDate, String)>,
    /// The first measure ended `completed`: its end and measure id.
    pub measure: Option<(NaiveDate, String)>,
}

impl Qualifications {
    /// The qualifying facts of `view` recorded on or before `on`.
    pub fn of(view: &PersonView, on: NaiveDate) -> Self {
        let b1 = view
            .language_tests
            .iter()
            .filter(|test| b1_by(test, on).is_some())
            .min_by_key(|test| test.on)
            .map(|test| (test.on, test.exam, test.level));
        let recognition = view
            .recognitions
            .iter()
            .filter_map(|case| {
                let (decided_on, outcome) = recognised_by(case.decided_on, case.outcome, on)?;
                Some((decided_on, outcome, case.occupation_code.to_string()))
            })
            .min_by_key(|(decided_on, _, _)| *decided_on);
        let training = view
            .trainings
            .iter()
            .filter_map(|training| {
                completed_by(&training.interval, training.outcome, on)
                    .map(|end| (end, training.occupation_code.to_string()))
            })
            .min_by_key(|(end, _)| *end);
        let measure = view
            .measures
            .iter()
            .filter_map(|measure| {
                completed_by(&measure.interval, measure.outcome, on)
                    .map(|end| (end, measure.measure_id.to_string()))
            })
            .min_by_key(|(end, _)| *end);
        Self {
            b1,
            recognition,
            training,
            measure,
        }
    }

    /// The day the person first qualified, if they have by then.
    pub fn since(&self) -> Option<NaiveDate> {
        [
            self.b1.as_ref().map(|fact| fact.0),
            self.recognition.as_ref().map(|fact| fact.0),
            self.training.as_ref().map(|fact| fact.0),
            self.measure.as_ref().map(|fact| fact.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The day of a language test that qualifies by `on`: B1 or better, taken on or before `on`.
fn b1_by(test: &LanguageTest, on: NaiveDate) -> Option<NaiveDate> {
    (test.is_b1_or_better() && test.on <= on).then_some(test.on)
}

/// The day and outcome of a recognition decision that qualifies by `on`: `full` or `partial`,
/// decided on or before `on`.
fn recognised_by(
    decided_on: Option<NaiveDate>,
    outcome: Option<RecognitionOutcome>,
    on: NaiveDate,
) -> Option<(NaiveDate, RecognitionOutcome)> {
    let decided_on = decided_on.filter(|decided_on| *decided_on <= on)?;
    let outcome = outcome.filter(|outcome| {
        matches!(
            outcome,
            RecognitionOutcome::Full | RecognitionOutcome::Partial
        )
    })?;
    Some((decided_on, outcome))
}

/// The end of a training or measure that qualifies by `on`: ended `completed` on or before `on`.
fn completed_by(
    interval: &Interval,
    outcome: Option<SpellOutcome>,
    on: NaiveDate,
) -> Option<NaiveDate> {
    interval
        .end
        .filter(|end| *end <= on)
        .filter(|_| outcome == Some(SpellOutcome::Recorded(EndOutcome::Completed)))
}

/// The day a person with these facts first qualified, if they have by `on`: the earliest of
/// what [`Qualifications::of`] collects, without collecting it (no occupation or measure id is
/// copied). The one rule for views and for the KPI columns' rows ([`PromisingFacts`]).
pub fn qualified_since(
    language_tests: &[LanguageTest],
    recognitions: impl IntoIterator<Item = (Option<NaiveDate>, Option<RecognitionOutcome>)>,
    trainings: impl IntoIterator<Item = (Interval, Option<SpellOutcome>)>,
    measures: impl IntoIterator<Item = (Interval, Option<SpellOutcome>)>,
    on: NaiveDate,
) -> Option<NaiveDate> {
    let b1 = language_tests
        .iter()
        .filter_map(|test| b1_by(test, on))
        .min();
    let recognition = recognitions
        .into_iter()
        .filter_map(|(decided_on, outcome)| recognised_by(decided_on, outcome, on))
        .map(|(decided_on, _)| decided_on)
        .min();
    let completed = |spells: &mut dyn Iterator<Item = (Interval, Option<SpellOutcome>)>| {
        spells
            .filter_map(|(interval, outcome)| completed_by(&interval, outcome, on))
            .min()
    };
    let training = completed(&mut trainings.into_iter());
    let measure = completed(&mut measures.into_iter());
    [b1, recognition, training, measure]
        .into_iter()
        .flatten()
        .min()
}

/// What the promising applicants' rule reads of a person: their view, or their row of the KPI
/// columns (`crate::kpi::columns`), which answers from copies of the same fields. The rule itself
/// ([`is_member`], [`entries`], [`placed_within_window`]) is written once, over this.
pub trait PromisingFacts: IdleFacts {
    /// [`qualified_since`] of the person's facts.
    fn qualified_since(&self, on: NaiveDate) -> Option<NaiveDate>;
    /// The person's stays ([`PersonView::presence`]), in date order.
    fn stays(&self) -> &[Interval];
    /// The intervals of the person's activities ([`PersonView::activities`]), ordered by start.
    fn activity_intervals(&self) -> impl Iterator<Item = Interval> + '_;
    /// Each job's interval and whether it counts as employment.
    fn jobs(&self) -> impl Iterator<Item = (Interval, bool)> + '_;
}

impl PromisingFacts for PersonView {
    fn qualified_since(&self, on: NaiveDate) -> Option<NaiveDate> {
        qualified_since(
            &self.language_tests,
            self.recognitions
                .iter()
                .map(|case| (case.decided_on, case.outcome)),
            self.trainings
                .iter()
                .map(|training| (training.interval, training.outcome)),
            self.measures
                .iter()
                .map(|measure| (measure.interval, measure.outcome)),
            on,
        )
    }

    fn stays(&self) -> &[Interval] {
        &self.presence
    }

    fn activity_intervals(&self) -> impl Iterator<Item = Interval> + '_ {
        self.activities.iter().map(|activity| activity.interval)
    }

    fn jobs(&self) -> impl Iterator<Item = (Interval, bool)> + '_ {
        self.employments
            .iter()
            .map(|job| (job.interval, job.counts_as_employment()))
    }
}

/// Why and since when a person is on the list on D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The start of the idle spell that holds on D.
    pub idle_since: NaiveDate,
    /// The first day of that spell on which the person was on the list.
    pub entered_on: NaiveDate,
    pub qualifications: Qualifications,
}

/// Whether `view` is a promising applicant on `on` with N = `min_idle_days`, and why: the rule
/// of [`entered_on`], with the qualifying facts spelled out for the caseworkers' list.
pub fn membership(
    view: &PersonView,
    households: &Households,
    on: NaiveDate,
    min_idle_days: u32,
) -> Option<Membership> {
    let (idle_since, entered_on) = entered_on(view, households, on, min_idle_days)?;
    Some(Membership {
        idle_since,
        entered_on,
        qualifications: Qualifications::of(view, on),
    })
}

/// Whether `person` is a promising applicant on `on` with N = `min_idle_days`.
pub fn is_member(
    person: &impl PromisingFacts,
    households: &Households,
    on: NaiveDate,
    min_idle_days: u32,
) -> bool {
    entered_on(person, households, on, min_idle_days).is_some()
}

/// The one rule: when `person` is a promising applicant on `on` with N = `min_idle_days`, the
/// start of their idle spell and the day they entered the list in it.
fn entered_on(
    person: &impl PromisingFacts,
    households: &Households,
    on: NaiveDate,
    min_idle_days: u32,
) -> Option<(NaiveDate, NaiveDate)> {
    let since = idle_since(person, households, on)?;
    if !is_idle_more_than((on - since).num_days(), min_idle_days) {
        return None;
    }
    let qualified_since = person.qualified_since(on)?;
    Some((
        since,
        first_idle_day_over(since, min_idle_days).max(qualified_since),
    ))
}

/// The first day an idle spell starting on `since` is idle more than `min_idle_days` days.
fn first_idle_day_over(since: NaiveDate, min_idle_days: u32) -> NaiveDate {
    since
        .checked_add_days(Days::new(u64::from(min_idle_days) + 1))
        .unwrap_or(NaiveDate::MAX)
}

/// The days on which `person` entered the list, one per idle spell, up to and including `until`:
/// for each idle spell, the later of its first day idle more than N days and the day the person
/// first qualified, when the spell lasts until then and [`membership`] holds on that day (an age
/// or household condition failing on that day leaves the spell out).
pub fn entries(
    person: &impl PromisingFacts,
    households: &Households,
    until: NaiveDate,
    min_idle_days: u32,
) -> Vec<NaiveDate> {
    let mut entries = Vec::new();
    each_entry(person, households, until, min_idle_days, |entered_on| {
        entries.push(entered_on);
        ControlFlow::Continue(())
    });
    entries
}

/// The first of [`entries`] after `after`, found without collecting them (the indicator asks
/// this of every qualified person).
pub fn first_entry_after(
    person: &impl PromisingFacts,
    households: &Households,
    after: NaiveDate,
    until: NaiveDate,
    min_idle_days: u32,
) -> Option<NaiveDate> {
    let mut first = None;
    each_entry(person, households, until, min_idle_days, |entered_on| {
        if after < entered_on {
            first = Some(entered_on);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    first
}

/// Hands each of [`entries`] to `each`, in date order, until it breaks.
fn each_entry(
    person: &impl PromisingFacts,
    households: &Households,
    until: NaiveDate,
    min_idle_days: u32,
    mut each: impl FnMut(NaiveDate) -> ControlFlow<()>,
) {
    let Some(qualified_since) = person.qualified_since(until) else {
        return;
    };
    each_idle_spell(person, |spell| {
        let candidate = first_idle_day_over(spell.start, min_idle_days).max(qualified_since);
        if candidate <= until
            && spell.contains(candidate)
            && is_member(person, households, candidate, min_idle_days)
        {
            each(candidate)
        } else {
            ControlFlow::Continue(())
        }
    });
}

/// The spells of a person's stays in which no activity is open: from the start of a stay or the
/// end of an activity to the start of the next activity or the end of the stay, handed to `each`
/// in date order until it breaks. The start of each is what [`PersonView::idle_since`] reports
/// for any day inside it.
fn each_idle_spell(
    person: &impl PromisingFacts,
    mut each: impl FnMut(Interval) -> ControlFlow<()>,
) {
    for stay in person.stays() {
        let mut idle_from = Some(stay.start);
        for activity in person.activity_intervals() {
            let Some(from) = idle_from else { break };
            if stay.end.is_some_and(|end| activity.start >= end) {
                break;
            }
            if activity.end.is_some_and(|end| end <= from) {
                continue;
            }
            if activity.start > from {
                let spell = Interval {
                    start: from,
                    end: Some(activity.start),
                };
                if each(spell).is_break() {
                    return;
                }
            }
            idle_from = activity.end.map(|end| end.max(from));
        }
        if let Some(from) = idle_from {
            if stay.end.is_none_or(|end| from < end) {
                let spell = Interval {
                    start: from,
                    end: stay.end,
                };
                if each(spell).is_break() {
                    return;
                }
            }
        }
    }
}

/// Whether the person started work (social insurance or self-employment, the employment rate's
/// kinds) on or after `entered_on` and no later than [`PLACEMENT_WINDOW_MONTHS`] after it.
pub fn placed_within_window(person: &impl PromisingFacts, entered_on: NaiveDate) -> bool {
    let window_end = entered_on
        .checked_add_months(Months::new(PLACEMENT_WINDOW_MONTHS))
        .unwrap_or(NaiveDate::MAX);
    person.jobs().any(|(interval, counts_as_employment)| {
        counts_as_employment && entered_on <= interval.start && interval.start <= window_end
    })
}

/// One person of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromisingEntry {
    pub person: PersonId,
    /// Days from entering the list to D: how long the person has waited as a promising applicant.
    pub waiting_days: i64,
    pub idle_days: i64,
    pub membership: Membership,
    pub age: Option<i32>,
    pub stage: Stage,
    pub district: Option<String>,
}

/// The list as of `as_of`: promising applicants on D with N = `min_idle_days`, optionally in one
/// district (as of D), longest waiting first, then the longest idle, then by person id.
/// Person-level: for caseworkers only.
pub fn promising_applicants(
    views: &[PersonView],
    households: &Households,
    as_of: NaiveDate,
    min_idle_days: u32,
    district: Option<&str>,
) -> Vec<PromisingEntry> {
    let mut list: Vec<PromisingEntry> = views
        .iter()
        .filter(|view| district.is_none_or(|district| view.district(as_of) == Some(district)))
        .filter_map(|view| {
            let membership = membership(view, households, as_of, min_idle_days)?;
            Some(PromisingEntry {
                person: view.person,
                waiting_days: (as_of - membership.entered_on).num_days(),
                idle_days: (as_of - membership.idle_since).num_days(),
                membership,
                age: view.age(as_of),
                stage: view.stage(as_of),
                district: view.district(as_of).map(str::to_owned),
            })
        })
        .collect();
    list.sort_by(|left, right| {
        right
            .waiting_days
            .cmp(&left.waiting_days)
            .then_with(|| right.idle_days.cmp(&left.idle_days))
            .then_with(|| left.person.cmp(&right.person))
    });
    list
}
