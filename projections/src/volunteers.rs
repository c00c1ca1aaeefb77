//! The volunteer register as the projections see it: every volunteer stream's events with both
//! times, folded from the log as they are applied (like the offers, `crate::offers`), so the
//! volunteer indicators are answered for any `as_of` and `known_at`; and the coordinator's list of
//! open mentor requests, from the persons' views.
//!
//! Snapshots hold only the journals; after one is loaded, [`up_to`] reads the volunteer streams up
//! to its checkpoint again.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::envelope::PersonId;
use journey_core::ledger::{DecodedEvent, Ledger, LedgerError};
use journey_core::log::Position;
use journey_core::volunteers::{
    decode_volunteer_event, VolunteerEvent, VolunteerId, VolunteerState, VOLUNTEER_STREAM_PREFIX,
};

use crate::view::PersonView;

/// One recorded volunteer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolunteerFact {
    pub occurred_on: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub event: VolunteerEvent,
}

/// Every volunteer's events, in record order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volunteers {
    by_volunteer: BTreeMap<VolunteerId, Vec<VolunteerFact>>,
}

impl Volunteers {
    pub fn push(&mut self, volunteer: VolunteerId, fact: VolunteerFact) {
        self.by_volunteer.entry(volunteer).or_default().push(fact);
    }

    pub fn is_empty(&self) -> bool {
        self.by_volunteer.is_empty()
    }

    /// Every volunteer as recorded by `known_at`, with events of any date (the indicators cut by
    /// date themselves), folded by core's [`VolunteerState::apply`].
    pub fn states(&self, known_at: DateTime<Utc>) -> BTreeMap<VolunteerId, VolunteerState> {
        self.by_volunteer
            .iter()
            .filter_map(|(volunteer, facts)| {
                let mut state = VolunteerState::default();
                for fact in facts.iter().filter(|fact| fact.recorded_at <= known_at) {
                    state.apply(fact.occurred_on, &fact.event);
                }
                state.recruited.is_some().then_some((*volunteer, state))
            })
            .collect()
    }
}

/// Folds `decoded` into `volunteers` when it is a volunteer event; returns whether it was one. The
/// ledger checked it before writing, so one that does not decode means the log was changed behind
/// the ledger's back: it is logged and left out.
pub(crate) fn apply(volunteers: &mut Arc<Volunteers>, decoded: &DecodedEvent) -> bool {
    let Some(volunteer) = VolunteerId::from_stream_name(&decoded.recorded.stream) else {
        return false;
    };
    let envelope = &decoded.recorded.event;
    match decode_volunteer_event(
        &envelope.event_type,
        envelope.version,
        decoded.data.clone().unwrap_or_default(),
    ) {
        Ok(event) => Arc::make_mut(volunteers).push(
            volunteer,
            VolunteerFact {
                occurred_on: envelope.occurred_on,
                recorded_at: envelope.recorded_at,
                event,
            },
        ),
        Err(error) => {
            tracing::warn!(position = decoded.recorded.position.raw(), %error, "volunteer event left out")
        }
    }
    true
}

/// The volunteers as of the log position `checkpoint` (`None`: before the first event).
pub(crate) async fn up_to(
    ledger: &Ledger,
    checkpoint: Option<Position>,
) -> Result<Arc<Volunteers>, LedgerError> {
    let mut volunteers = Arc::new(Volunteers::default());
    let Some(checkpoint) = checkpoint else {
        return Ok(volunteers);
    };
    for stream in ledger.log().stream_names(VOLUNTEER_STREAM_PREFIX).await? {
        for recorded in ledger.read_whole_stream(&stream).await? {
            if recorded.position > checkpoint {
                break;
            }
            apply(&mut volunteers, &ledger.decode(recorded)?);
        }
    }
    Ok(volunteers)
}

/// A person waiting for a mentor, as the coordinator's list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMentorRequest {
    pub person: PersonId,
    /// The request the wait is counted from: the earliest `MentorRequested` not yet answered.
    pub requested_on: NaiveDate,
    /// Days from the request to D.
    pub waiting_days: i64,
    /// The district the person lives in on D.
    pub district: Option<String>,
}

/// The persons present on `as_of` who asked for a mentor and have none assigned: a
/// `MentorRequested` on or before D with no `MentorAssigned` on or after it (and on or before D),
/// and no mentoring open on D. Oldest request first, then by person. The answer to a request is
/// decided by [`PersonView::open_mentor_request`], the one rule the indicator uses too.
pub fn open_mentor_requests(views: &[PersonView], as_of: NaiveDate) -> Vec<OpenMentorRequest> {
    let mut open: Vec<OpenMentorRequest> = views
        .iter()
        .filter(|view| view.is_present(as_of))
        .filter_map(|view| {
            let requested_on = view.open_mentor_request(as_of)?;
            Some(OpenMentorRequest {
                person: view.person,
                requested_on,
                waiting_days: (as_of - requested_on).num_days(),
                district: view.district(as_of).map(str::to_owned),
            })
        })
        .collect();
    open.sort_by_key(|request| (request.requested_on, request.person.0));
    open
}
