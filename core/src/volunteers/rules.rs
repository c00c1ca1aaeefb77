//! The rules of a volunteer's stream: what it starts with, what may follow, and that an assignment
//! links a real mentoring. The one source of truth for what a volunteer stream may hold; the
//! ledger calls [`decide`] before writing, the projections fold with [`VolunteerState::apply`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use uuid::Uuid;

use super::events::{EndReason, VolunteerEvent, VolunteerEventType, VolunteerId};

/// The rules a volunteer stream keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolunteerRule {
    /// The first event of a volunteer stream is `VolunteerRecruited`, and it comes only once.
    StreamStartsWithRecruited,
    /// No `occurred_on` after the ledger's current date.
    OccurredOnNotInFuture,
    /// No event is dated before the volunteer's recruitment.
    NotBeforeRecruitment,
    /// After `VolunteerEnded` only `VolunteerErased` may follow; after `VolunteerErased` nothing.
    EndedIsFinal,
    /// `MenteeAssigned` only for a volunteer who completed `VolunteerTrained` on or before its date.
    AssignedOnlyWhenTrained,
    /// `MenteeAssigned.mentoring` is the id of a `MentorAssigned` event in a person stream whose
    /// `mentor_id` is this volunteer, dated on or before the assignment, and linked only once.
    AssignmentLinksMentoring,
}

impl VolunteerRule {
    pub const ALL: [VolunteerRule; 6] = [
        VolunteerRule::StreamStartsWithRecruited,
        VolunteerRule::OccurredOnNotInFuture,
        VolunteerRule::NotBeforeRecruitment,
        VolunteerRule::EndedIsFinal,
        VolunteerRule::AssignedOnlyWhenTrained,
        VolunteerRule::AssignmentLinksMentoring,
    ];

    /// The stable snake_case name of the rule.
    pub fn code(&self) -> &'static str {
        match self {
            VolunteerRule::StreamStartsWithRecruited => "volunteer_stream_starts_with_recruited",
            VolunteerRule::OccurredOnNotInFuture => "occurred_on_not_in_future",
            VolunteerRule::NotBeforeRecruitment => "volunteer_not_before_recruitment",
            VolunteerRule::EndedIsFinal => "volunteer_ended_is_final",
            VolunteerRule::AssignedOnlyWhenTrained => "volunteer_assigned_only_when_trained",
            VolunteerRule::AssignmentLinksMentoring => "volunteer_assignment_links_mentoring",
        }
    }
}

/// A proposed volunteer event that breaks a rule: which one, where, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {}: {} {event_id}{}: {message}", rule.code(), event_type.name(), field.as_ref().map(|field| format!(": field {field}")).unwrap_or_default())]
pub struct VolunteerViolation {
    pub rule: VolunteerRule,
    /// The index of the rejected event in the proposed batch.
    pub index: usize,
    pub event_id: Uuid,
    pub event_type: VolunteerEventType,
    pub field: Option<String>,
    pub message: String,
}

/// What the event a `MenteeAssigned` names turned out to be, as the write path found it in the
/// log (the rules stay free of IO: [`decide`] is given what was found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MentoringLink {
    /// A `MentorAssigned` in a person stream, naming `mentor` as `mentor_id`, dated `on`.
    MentorAssigned { mentor: String, on: NaiveDate },
    /// An event of another type, or in a stream that is not a person's.
    Other { event_type: String, stream: String },
    /// A `MentorAssigned` whose person was erased: what it named cannot be read any more.
    Erased,
    /// No event with that id.
    Missing,
}

/// A volunteer as their stream has it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolunteerState {
    /// The recruitment date and district; `None` before the first event.
    pub recruited: Option<(NaiveDate, Option<String>)>,
    pub trained: Option<NaiveDate>,
    /// The mentorings linked, by the id of the mentee's `MentorAssigned`, with the date linked.
    pub mentorings: BTreeMap<Uuid, NaiveDate>,
    pub supported: Vec<NaiveDate>,
    pub appreciated: Vec<NaiveDate>,
    pub ended: Option<(NaiveDate, EndReason)>,
    pub erased: bool,
}

impl VolunteerState {
    /// Folds one recorded event (the ledger checked it with [`decide`] before writing it).
    pub fn apply(&mut self, occurred_on: NaiveDate, event: &VolunteerEvent) {
        match event {
            VolunteerEvent::Recruited(recruited) => {
                self.recruited = Some((occurred_on, recruited.district.clone()));
            }
            VolunteerEvent::Trained(_) => {
                self.trained.get_or_insert(occurred_on);
            }
            VolunteerEvent::MenteeAssigned(assigned) => {
                self.mentorings.insert(assigned.mentoring, occurred_on);
            }
            VolunteerEvent::Supported(_) => self.supported.push(occurred_on),
            VolunteerEvent::Appreciated(_) => self.appreciated.push(occurred_on),
            VolunteerEvent::Ended(ended) => self.ended = Some((occurred_on, ended.reason)),
            VolunteerEvent::Erased(_) => self.erased = true,
        }
    }

    /// Whether the volunteer was in the register on `on`: recruited on or before it and not ended
    /// by it.
    pub fn active_on(&self, on: NaiveDate) -> bool {
        self.recruited
            .as_ref()
            .is_some_and(|(since, _)| *since <= on)
            && self.ended.is_none_or(|(ended, _)| ended > on)
    }
}

/// One proposed event, as [`decide`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    pub event: &'a VolunteerEvent,
}

/// Checks proposed events, in order, against the stream's state and each other; returns the
/// state after them, or the first rule broken. `links` holds what each `MenteeAssigned.mentoring`
/// named in the log (a missing entry reads as [`MentoringLink::Missing`]).
pub fn decide(
    volunteer: VolunteerId,
    state: &VolunteerState,
    proposals: &[Proposal<'_>],
    links: &BTreeMap<Uuid, MentoringLink>,
    today: NaiveDate,
) -> Result<VolunteerState, VolunteerViolation> {
    let mut state = state.clone();
    let mut linked: BTreeSet<Uuid> = state.mentorings.keys().copied().collect();
    for (index, proposal) in proposals.iter().enumerate() {
        let event_type = proposal.event.event_type();
        let violation =
            |rule: VolunteerRule, field: Option<&str>, message: String| VolunteerViolation {
                rule,
                index,
                event_id: proposal.id,
                event_type,
                field: field.map(str::to_owned),
                message,
            };
        let on = proposal.occurred_on;
        if on > today {
            return Err(violation(
                VolunteerRule::OccurredOnNotInFuture,
                Some("occurred_on"),
                format!("{on} is after today ({today}); record it when it has happened"),
            ));
        }
        if state.erased {
            return Err(violation(
                VolunteerRule::EndedIsFinal,
                None,
                "the volunteer's data was erased; nothing follows".to_owned(),
            ));
        }
        if let Some((ended, _)) = state.ended {
            if !matches!(proposal.event, VolunteerEvent::Erased(_)) {
                return Err(violation(
                    VolunteerRule::EndedIsFinal,
                    None,
                    format!("the volunteer ended on {ended}; a returning volunteer is recruited again in a stream of their own"),
                ));
            }
        }
        match (&state.recruited, proposal.event) {
            (Some(_), VolunteerEvent::Recruited(_)) => {
                return Err(violation(
                    VolunteerRule::StreamStartsWithRecruited,
                    None,
                    "the volunteer is already recruited".to_owned(),
                ))
            }
            (None, VolunteerEvent::Recruited(_)) => {}
            (None, _) => {
                return Err(violation(
                    VolunteerRule::StreamStartsWithRecruited,
                    None,
                    "a volunteer stream starts with VolunteerRecruited".to_owned(),
                ))
            }
            (Some((since, _)), _) if on < *since => {
                return Err(violation(
                    VolunteerRule::NotBeforeRecruitment,
                    Some("occurred_on"),
                    format!("{on} is before the volunteer was recruited ({since})"),
                ))
            }
            (Some(_), _) => {}
        }
        if let VolunteerEvent::MenteeAssigned(assigned) = proposal.event {
            if state.trained.is_none_or(|trained| trained > on) {
                return Err(violation(
                    VolunteerRule::AssignedOnlyWhenTrained,
                    None,
                    "record VolunteerTrained (the basic preparation) before the first mentee"
                        .to_owned(),
                ));
            }
            let broken = |message: String| {
                violation(
                    VolunteerRule::AssignmentLinksMentoring,
                    Some("mentoring"),
                    message,
                )
            };
            let mentoring = assigned.mentoring;
            if !linked.insert(mentoring) {
                return Err(broken(format!(
                    "the mentoring {mentoring} is already linked to this volunteer"
                )));
            }
            match links.get(&mentoring).unwrap_or(&MentoringLink::Missing) {
                MentoringLink::MentorAssigned { mentor, on: assigned_on } => {
                    if *mentor != volunteer.stream_name() {
                        return Err(broken(format!(
                            "the MentorAssigned {mentoring} names `{mentor}`, not {volunteer}; record the mentee's MentorAssigned with mentor_id `{volunteer}` first"
                        )));
                    }
                    if *assigned_on > on {
                        return Err(broken(format!(
                            "the mentee's MentorAssigned is dated {assigned_on}, after this assignment ({on})"
                        )));
                    }
                }
                MentoringLink::Other { event_type, stream } => {
                    return Err(broken(format!(
                        "{mentoring} is a {event_type} in `{stream}`, not a MentorAssigned in a person stream"
                    )))
                }
                MentoringLink::Erased => {
                    return Err(broken(format!(
                        "{mentoring} belongs to a person whose data was erased"
                    )))
                }
                MentoringLink::Missing => {
                    return Err(broken(format!(
                        "no event {mentoring} is recorded; record the mentee's MentorAssigned with mentor_id `{volunteer}` first and name its id"
                    )))
                }
            }
        }
        state.apply(on, proposal.event);
    }
    Ok(state)
}
