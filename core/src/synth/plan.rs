//! A person's journey as planned: the true events with their business dates, before recording.
//!
//! Threads of the journey (courses, jobs, school, benefits, ...) add events independently, each
//! spell (a course from registration to its end, a job, a Kita place, ...) as a *group*. The plan
//! then brings them into one order and applies the person's stay: nothing happens while the person
//! is away, and a spell still open on the day of moving away is closed that day, the way a
//! caseworker closes a file when a family leaves. After a return, only spells begun after the
//! return continue.

use chrono::NaiveDate;

use crate::catalogue::{
    Agency, BenefitKind, BenefitsEnded, Certificate, CourseLeftEarly, EmploymentEnded, EndOutcome,
    Event, EventType, KitaEnded, LeaveReason, MeasureEnded, MentoringEnded, ObligationLiftReason,
    ResidenceObligationLifted, SchoolLeft, TrainingEnded,
};

/// The order of events on the same day: a registration before everything, an arrival before what
/// happens after it, a departure after everything else of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rank {
    Registration,
    Arrival,
    Normal,
    Departure,
}

impl Rank {
    fn of(event: &Event) -> Rank {
        match event.event_type() {
            EventType::PersonRegistered => Rank::Registration,
            EventType::ArrivalRecorded => Rank::Arrival,
            EventType::MovedAway => Rank::Departure,
            _ => Rank::Normal,
        }
    }
}

/// One planned event: what really happened, on which day, and which agency records it.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) on: NaiveDate,
    pub(super) rank: Rank,
    /// Insertion order, which breaks ties between events of the same day and rank: a thread adds
    /// a spell's start before its end, so the tie-break keeps them in order.
    seq: u32,
    group: Option<usize>,
    /// Arrivals and departures make the stay and are never clipped by it.
    stay_event: bool,
    pub(super) agency: Agency,
    pub(super) event: Event,
}

/// What closes a spell that is open when the person moves away.
#[derive(Debug, Clone)]
pub(super) enum Closer {
    /// Nothing needs closing (a recognition application simply stays undecided).
    Nothing,
    Course(String),
    Employment(String),
    Measure(String),
    Training(String),
    Mentoring(String),
    Kita,
    School,
    Benefits(BenefitKind),
    Obligation,
}

impl Closer {
    fn event(&self) -> Option<Event> {
        Some(match self {
            Closer::Nothing => return None,
            Closer::Course(course_id) => CourseLeftEarly {
                course_id: course_id.clone(),
                reason: LeaveReason::Moved,
            }
            .into(),
            Closer::Employment(employment_id) => EmploymentEnded {
                employment_id: employment_id.clone(),
            }
            .into(),
            Closer::Measure(measure_id) => MeasureEnded {
                measure_id: measure_id.clone(),
                outcome: EndOutcome::Aborted,
            }
            .into(),
            Closer::Training(training_id) => TrainingEnded {
                training_id: training_id.clone(),
                outcome: EndOutcome::Aborted,
            }
            .into(),
            Closer::Mentoring(mentor_id) => MentoringEnded {
                mentor_id: mentor_id.clone(),
            }
            .into(),
            Closer::Kita => KitaEnded {}.into(),
            Closer::School => SchoolLeft {
                certificate: Certificate::None,
            }
            .into(),
            Closer::Benefits(kind) => BenefitsEnded { kind: *kind }.into(),
            Closer::Obligation => ResidenceObligationLifted {
                reason: ObligationLiftReason::Other,
            }
            .into(),
        })
    }
}

#[derive(Debug, Clone)]
struct Group {
    agency: Agency,
    closer: Closer,
    first_on: Option<NaiveDate>,
    /// The day the spell began in the sense of the rules (a course: its start, not its
    /// registration), so that only a begun spell is closed.
    opened_on: Option<NaiveDate>,
    closed_on: Option<NaiveDate>,
}

/// A handle to a spell of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GroupId(usize);

/// When the person is away: from moving away (inclusive) until the return (exclusive), or for
/// good when there is no return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stay {
    pub(super) moved_away: Option<NaiveDate>,
    pub(super) returned: Option<NaiveDate>,
}

impl Stay {
    /// The last day a spell begun before moving away can reach: the day of moving away, or
    /// `end` for a person who stays.
    pub(super) fn first_horizon(&self, end: NaiveDate) -> NaiveDate {
        self.moved_away.map_or(end, |moved| moved.min(end))
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Plan {
    events: Vec<Planned>,
    groups: Vec<Group>,
}

impl Plan {
    pub(super) fn new() -> Self {
        Self::default()
    }

    fn push(
        &mut self,
        on: NaiveDate,
        agency: Agency,
        event: Event,
        group: Option<usize>,
        stay_event: bool,
    ) {
        let seq = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.events.push(Planned {
            on,
            rank: Rank::of(&event),
            seq,
            group,
            stay_event,
            agency,
            event,
        });
    }

    /// Adds an event that belongs to no spell.
    pub(super) fn add(&mut self, on: NaiveDate, agency: Agency, event: impl Into<Event>) {
        self.push(on, agency, event.into(), None, false);
    }

    /// Adds an arrival, a return or a departure: the events that make the stay.
    pub(super) fn add_stay_event(
        &mut self,
        on: NaiveDate,
        agency: Agency,
        event: impl Into<Event>,
    ) {
        self.push(on, agency, event.into(), None, true);
    }

    /// Begins a spell recorded by `agency`, closed by `closer` if the person moves away during it.
    pub(super) fn group(&mut self, agency: Agency, closer: Closer) -> GroupId {
        self.groups.push(Group {
            agency,
            closer,
            first_on: None,
            opened_on: None,
            closed_on: None,
        });
        GroupId(self.groups.len() - 1)
    }

    /// Adds an event of a spell. Events of a spell must be added in date order.
    pub(super) fn add_to(
        &mut self,
        group: GroupId,
        on: NaiveDate,
        agency: Agency,
        event: impl Into<Event>,
    ) {
        let event = event.into();
        let spell = &mut self.groups[group.0];
        debug_assert!(
            spell.first_on.is_none_or(|first| first <= on),
            "a spell's events are added in date order"
        );
        spell.first_on.get_or_insert(on);
        match event.event_type() {
            EventType::CourseStarted
            | EventType::EmploymentStarted
            | EventType::MeasureStarted
            | EventType::TrainingStarted
            | EventType::MentorAssigned
            | EventType::KitaStarted
            | EventType::SchoolEnrolled
            | EventType::BenefitsStarted
            | EventType::ResidenceObligationSet => {
                spell.opened_on.get_or_insert(on);
            }
            EventType::CourseCompleted
            | EventType::CourseLeftEarly
            | EventType::EmploymentEnded
            | EventType::MeasureEnded
            | EventType::TrainingEnded
            | EventType::MentoringEnded
            | EventType::KitaEnded
            | EventType::SchoolLeft
            | EventType::BenefitsEnded
            | EventType::ResidenceObligationLifted => {
                spell.closed_on.get_or_insert(on);
            }
            _ => {}
        }
        self.push(on, agency, event, Some(group.0), false);
    }

    /// The events that really happen, in an order the journey rules accept: clipped to `end` and
    /// to the person's stay, spells open on the day of moving away closed that day, sorted by day,
    /// then rank, then insertion.
    pub(super) fn finish(mut self, stay: Stay, end: NaiveDate) -> Vec<Planned> {
        let moved_away = stay.moved_away.filter(|moved| *moved <= end);
        let returned = stay.returned.filter(|_| moved_away.is_some());
        let groups = std::mem::take(&mut self.groups);
        // Closers come after every planned event in the tie-break, like events added last.
        let mut next_seq = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        let keep = |planned: &Planned| {
            if planned.on > end {
                return false;
            }
            if planned.stay_event || planned.event.event_type().is_governance() {
                return true;
            }
            let Some(moved) = moved_away else {
                return true;
            };
            if planned.on < moved {
                return true;
            }
            match returned {
                Some(returned) if planned.on >= returned => planned
                    .group
                    .and_then(|group| groups[group].first_on)
                    .is_none_or(|first| first >= returned),
                _ => false,
            }
        };
        let mut events: Vec<Planned> = std::mem::take(&mut self.events)
            .into_iter()
            .filter(keep)
            .collect();
        if let Some(moved) = moved_away {
            for (index, group) in groups.iter().enumerate() {
                let begun_before = group.opened_on.is_some_and(|opened| opened < moved);
                let still_open = group.closed_on.is_none_or(|closed| closed >= moved);
                if begun_before && still_open {
                    if let Some(event) = group.closer.event() {
                        let seq = next_seq;
                        next_seq = next_seq.saturating_add(1);
                        events.push(Planned {
                            on: moved,
                            rank: Rank::Normal,
                            seq,
                            group: Some(index),
                            stay_event: false,
                            agency: group.agency,
                            event,
                        });
                    }
                }
            }
        }
        events.sort_by_key(|planned| (planned.on, planned.rank, planned.seq));
        events
    }
}

#[cfg(test)]
mod tests {
    use crate::catalogue::{Destination, EmploymentKind, EmploymentStarted, MovedAway};

    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("test dates are ISO dates")
    }

    #[test]
    fn a_job_open_when_moving_away_is_ended_that_day_and_later_events_are_dropped() {
        let mut plan = Plan::new();
        let job = plan.group(Agency::Jobcenter, Closer::Employment("E-1".into()));
        plan.add_to(
            job,
            day("2020-01-01"),
            Agency::Jobcenter,
            EmploymentStarted {
                employment_id: "E-1".into(),
                kind: EmploymentKind::Marginal,
                occupation_code: None,
                weekly_hours: None,
            },
        );
        plan.add_to(
            job,
            day("2021-01-01"),
            Agency::Jobcenter,
            EmploymentEnded {
                employment_id: "E-1".into(),
            },
        );
        plan.add_stay_event(
            day("2020-06-01"),
            Agency::Kommune,
            MovedAway {
                destination: Destination::Abroad,
            },
        );
        let stay = Stay {
            moved_away: Some(day("2020-06-01")),
            returned: None,
        };
        let events = plan.finish(stay, day("2024-12-31"));
        let types: Vec<_> = events
            .iter()
            .map(|planned| (planned.on, planned.event.event_type()))
            .collect();
        assert_eq!(
            types,
            vec![
                (day("2020-01-01"), EventType::EmploymentStarted),
                (day("2020-06-01"), EventType::EmploymentEnded),
                (day("2020-06-01"), EventType::MovedAway),
            ]
        );
    }
}
