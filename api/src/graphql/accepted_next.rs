//! `acceptedNext`: the event types the rules accept next for one person, so that the workspace's
//! form offers them first. The answer comes from `journey_core::accepted_next`, which asks the
//! rules themselves; nothing here knows what may follow what. Visible like the person's timeline
//! (the whole person, not a coordinator's mentoring view): the answer tells what is open. Every
//! request is audited.

use async_graphql::{resolver_utils::EnumType, Context, Object, Result, SimpleObject, ID};
use journey_core::accepted_next::accepted_next;
use journey_core::catalogue;
use journey_core::envelope::PersonId;

use super::enums::EventType;
use super::query::read_person;
use super::{audit, outcome, parse_person, principal, state};
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::error::{from_ledger, ApiError, ApiResult, FieldStyle};
use crate::state::AppState;
use crate::visibility::Access;

/// What the person's stream accepts next, as of today.
#[derive(SimpleObject, Debug, Clone)]
pub struct AcceptedNext {
    /// `person-<uuid>`.
    pub person_id: ID,
    /// The revision of the stream's last event the answer was decided on.
    pub revision: Option<u64>,
    /// The event types the rules would accept as the next event dated today, in catalogue order.
    pub event_types: Vec<EventType>,
}

#[derive(Debug, Default)]
pub struct AcceptedNextQuery;

#[Object]
impl AcceptedNextQuery {
    /// The event types the rules accept next for this person, dated today: each type is tried
    /// with the candidates the person's state makes meaningful (an end for each open spell, a
    /// start with a new id, ...) and offered when the rules accept one. For those who see the
    /// whole person (caseworkers of an agency working with them or holding their consent, and
    /// admins). Audited.
    async fn accepted_next(&self, ctx: &Context<'_>, person_id: ID) -> Result<AcceptedNext> {
        let principal = principal(ctx)?;
        let result = match parse_person(&person_id, "personId") {
            Ok(person) => decide_next(state(ctx), principal, person).await,
            Err(error) => Err(error),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "acceptedNext".into(),
                person: parse_person(&person_id, "personId")
                    .ok()
                    .map(|person| person.to_string()),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }
}

async fn decide_next(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
) -> ApiResult<AcceptedNext> {
    // The same gate as `person`: who may not see the whole person learns nothing of what is open.
    let seen = read_person(state, principal, person, None).await?;
    if seen.access != Access::Full {
        return Err(ApiError::forbidden(
            "coordinators see mentoring facts only; what the rules accept next tells what is open",
        ));
    }
    let ledger = &state.ledger;
    let simulation = ledger
        .simulate(person)
        .await
        .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
    let journey = simulation.state();
    let event_types = accepted_next(journey, ledger.clock().as_ref())
        .into_iter()
        .map(graphql_event_type)
        .collect();
    Ok(AcceptedNext {
        person_id: ID(person.to_string()),
        revision: journey.revision(),
        event_types,
    })
}

/// The GraphQL enum value of a catalogue event type (the two enums list the same names).
fn graphql_event_type(event_type: catalogue::EventType) -> EventType {
    EventType::items()
        .iter()
        .map(|item| item.value)
        .find(|candidate| candidate.core() == event_type)
        .unwrap_or_else(|| unreachable!("EventType {event_type} mirrors the catalogue"))
}
