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

use chrono::{Days, Months, NaiveDate};
use journey_core::catalogue::{EndOutcome, Exam, Level, RecognitionOutcome};
use journey_core::envelope::PersonId;
use serde::{Deserialize, Serialize};

use crate::models::{idle_since, is_idle_more_than};
use crate::view::{Households, Interval, PersonView, SpellOutcome, Stage};

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
            .filter(|test| test.is_b1_or_better() && test.on <= on)
            .min_by_key(|test| test.on)
            .map(|test| (test.on, test.exam, test.level));
        let recognition = view
            .recognitions
            .iter()
            .filter_map(|case| {
                let decided_on = case.decided_on.filter(|decided_on| *decided_on <= on)?;
                let outcome = case.outcome.filter(|outcome| {
                    matches!(
                        outcome,
                        RecognitionOutcome::Full | RecognitionOutcome::Partial
                    )
                })?;
                Some((decided_on, outcome, case.occupation_code.clone()))
            })
            .min_by_key(|(decided_on, _, _)| *decided_on);
        let completed = |interval: &Interval, outcome: Option<SpellOutcome>| {
            interval
                .end
                .filter(|end| *end <= on)
                .filter(|_| outcome == Some(SpellOutcome::Recorded(EndOutcome::Completed)))
        };
        let training = view
            .trainings
            .iter()
            .filter_map(|training| {
                completed(&training.interval, training.outcome)
                    .map(|end| (end, training.occupation_code.clone()))
            })
            .min_by_key(|(end, _)| *end);
        let measure = view
            .measures
            .iter()
            .filter_map(|measure| {
                completed(&measure.interval, measure.outcome)
                    .map(|end| (end, measure.measure_id.clone()))
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

/// Why and since when a person is on the list on D.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The start of the idle spell that holds on D.
    pub idle_since: NaiveDate,
    /// The first day of that spell on which the person was on the list.
    pub entered_on: NaiveDate,
    pub qualifications: Qualifications,
}

/// The one rule: whether `view` is a promising applicant on `on` with N = `min_idle_days`, and why.
pub fn membership(
    view: &PersonView,
    households: &Households,
    on: NaiveDate,
    min_idle_days: u32,
) -> Option<Membership> {
    let since = idle_since(view, households, on)?;
    if !is_idle_more_than((on - since).num_days(), min_idle_days) {
        return None;
    }
    let qualifications = Qualifications::of(view, on);
    let qualified_since = qualifications.since()?;
    Some(Membership {
        idle_since: since,
        entered_on: first_idle_day_over(since, min_idle_days).max(qualified_since),
        qualifications,
    })
}

/// The first day an idle spell starting on `since` is idle more than `min_idle_days` days.
fn first_idle_day_over(since: NaiveDate, min_idle_days: u32) -> NaiveDate {
    since
        .checked_add_days(Days::new(u64::from(min_idle_days) + 1))
        .unwrap_or(NaiveDate::MAX)
}

/// The days on which `view` entered the list, one per idle spell, up to and including `until`:
/// for each idle spell, the later of its first day idle more than N days and the day the person
/// first qualified, when the spell lasts until then and [`membership`] holds on that day (an age
/// or household condition failing on that day leaves the spell out).
pub fn entries(
    view: &PersonView,
    households: &Households,
    until: NaiveDate,
    min_idle_days: u32,
) -> Vec<NaiveDate> {
    let Some(qualified_since) = Qualifications::of(view, until).since() else {
        return Vec::new();
    };
    idle_spells(view)
        .into_iter()
        .filter_map(|spell| {
            let candidate = first_idle_day_over(spell.start, min_idle_days).max(qualified_since);
            (candidate <= until
                && spell.contains(candidate)
                && membership(view, households, candidate, min_idle_days).is_some())
            .then_some(candidate)
        })
        .collect()
}

/// The spells of a person's stays in which no activity is open: from the start of a stay or the
/// end of an activity to the start of the next activity or the end of the stay. The start of each is
/// what [`PersonView::idle_since`] reports for any day inside it.
fn idle_spells(view: &PersonView) -> Vec<Interval> {
    let mut spells = Vec::new();
    for stay in &view.presence {
        let mut idle_from = Some(stay.start);
        for activity in &view.activities {
            let Some(from) = idle_from else { break };
            if stay.end.is_some_and(|end| activity.interval.start >= end) {
                break;
            }
            if activity.interval.end.is_some_and(|end| end <= from) {
                continue;
            }
            if activity.interval.start > from {
                spells.push(Interval {
                    start: from,
                    end: Some(activity.interval.start),
                });
            }
            idle_from = activity.interval.end.map(|end| end.max(from));
        }
        if let Some(from) = idle_from {
            if stay.end.is_none_or(|end| from < end) {
                spells.push(Interval {
                    start: from,
                    end: stay.end,
                });
            }
        }
    }
    spells
}

/// Whether the person started work (social insurance or self-employment, the employment rate's
/// kinds) on or after `entered_on` and no later than [`PLACEMENT_WINDOW_MONTHS`] after it.
pub fn placed_within_window(view: &PersonView, entered_on: NaiveDate) -> bool {
    let window_end = entered_on
        .checked_add_months(Months::new(PLACEMENT_WINDOW_MONTHS))
        .unwrap_or(NaiveDate::MAX);
    view.employments.iter().any(|job| {
        job.counts_as_employment()
            && entered_on <= job.interval.start
            && job.interval.start <= window_end
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
