//! The volunteer register (`volunteer-<uuid>` streams, see `journey_core::volunteers`) and the
//! coordinator's open mentor requests. Who may read and record them is one rule,
//! [`visibility::may_manage_volunteers`]: coordinators and admins. Every call is audited, the
//! refusals too; names and contacts go to the vault, never into the stream or the audit log.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use journey_core::vault::volunteer::VolunteerData;
use journey_core::volunteers::{
    MenteeAssigned, VolunteerAppreciated, VolunteerEnded, VolunteerEvent, VolunteerId,
    VolunteerProposal, VolunteerRecruited, VolunteerSupported, VolunteerTrained,
};
use uuid::Uuid;

use super::enums::{AppreciationKind, SupportKind, VolunteerEndReason};
use super::readmodels::{cut_and_live, reach_cut, reporting_date};
use super::scalars::Date;
use super::{audit, outcome, principal, ranked_page, state};
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::error::{client_field, from_ledger, ApiError, ApiResult, FieldStyle};
use crate::state::AppState;
use crate::visibility;

/// The namespace of volunteer ids derived from the event id of their recruitment.
const VOLUNTEER_NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_7572_6e65_7900_8000_0000_0000_0003);

/// A volunteer's name and how to reach them: sealed in the vault under the volunteer's own key.
#[derive(InputObject, Debug, Clone)]
pub struct VolunteerDataInput {
    pub given_names: String,
    pub family_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A new volunteer: the first event of their stream.
#[derive(InputObject, Debug, Clone)]
pub struct RecruitVolunteerInput {
    /// The event's id (the idempotency key).
    pub event_id: Uuid,
    /// The volunteer's id; by default derived from `eventId`, so a retry names the same volunteer.
    pub volunteer_id: Option<ID>,
    pub occurred_on: Date,
    /// The district the volunteer works in: a code of the districts register.
    pub district: Option<String>,
    pub personal_data: Option<VolunteerDataInput>,
}

/// An event of an existing volunteer with nothing but its date.
#[derive(InputObject, Debug, Clone)]
pub struct VolunteerDateInput {
    pub event_id: Uuid,
    pub volunteer_id: ID,
    pub occurred_on: Date,
}

/// A mentee taken on: `mentoring` is the event id of the mentee's `MentorAssigned`, whose
/// `mentorId` is this volunteer (`volunteer-<uuid>`).
#[derive(InputObject, Debug, Clone)]
pub struct AssignMenteeInput {
    pub event_id: Uuid,
    pub volunteer_id: ID,
    pub occurred_on: Date,
    pub mentoring: Uuid,
}

#[derive(InputObject, Debug, Clone)]
pub struct SupportVolunteerInput {
    pub event_id: Uuid,
    pub volunteer_id: ID,
    pub occurred_on: Date,
    pub kind: SupportKind,
}

#[derive(InputObject, Debug, Clone)]
pub struct AppreciateVolunteerInput {
    pub event_id: Uuid,
    pub volunteer_id: ID,
    pub occurred_on: Date,
    pub kind: AppreciationKind,
}

#[derive(InputObject, Debug, Clone)]
pub struct EndVolunteerInput {
    pub event_id: Uuid,
    pub volunteer_id: ID,
    pub occurred_on: Date,
    pub reason: VolunteerEndReason,
}

/// Erases a volunteer's name and contact (their data key is destroyed); the pseudonymous
/// register entry stays.
#[derive(InputObject, Debug, Clone)]
pub struct EraseVolunteerInput {
    pub volunteer_id: ID,
    pub occurred_on: Date,
}

/// What a volunteer mutation recorded.
#[derive(SimpleObject, Debug, Clone)]
pub struct VolunteerReceipt {
    pub volunteer_id: ID,
    pub event_id: Uuid,
    /// The volunteer stream's revision after the append.
    pub revision: u64,
    /// True when this event id was already recorded with the same content: nothing new was written.
    pub already_recorded: bool,
}

#[derive(Debug, Default)]
pub struct VolunteerMutation;

#[Object]
impl VolunteerMutation {
    /// Records a new volunteer, with their name and contact for the vault (coordinators and admins).
    async fn recruit_volunteer(
        &self,
        ctx: &Context<'_>,
        input: RecruitVolunteerInput,
    ) -> Result<VolunteerReceipt> {
        let volunteer = match &input.volunteer_id {
            Some(id) => parse_volunteer(id),
            None => Ok(VolunteerId(Uuid::new_v5(
                &VOLUNTEER_NAMESPACE,
                input.event_id.as_bytes(),
            ))),
        };
        let event = VolunteerEvent::Recruited(VolunteerRecruited {
            district: input.district.clone(),
        });
        let data = input.personal_data.as_ref().map(|data| VolunteerData {
            given_names: data.given_names.clone(),
            family_name: data.family_name.clone(),
            phone: data.phone.clone(),
            email: data.email.clone(),
        });
        Ok(record(
            ctx,
            "recruitVolunteer",
            volunteer,
            (input.event_id, input.occurred_on),
            event,
            data,
        )
        .await?)
    }

    /// Records that the volunteer completed the basic preparation (coordinators and admins).
    async fn train_volunteer(
        &self,
        ctx: &Context<'_>,
        input: VolunteerDateInput,
    ) -> Result<VolunteerReceipt> {
        let event = VolunteerEvent::Trained(VolunteerTrained {});
        Ok(record(
            ctx,
            "trainVolunteer",
            parse_volunteer(&input.volunteer_id),
            (input.event_id, input.occurred_on),
            event,
            None,
        )
        .await?)
    }

    /// Links a mentee's `MentorAssigned` to the volunteer (coordinators and admins).
    async fn assign_mentee(
        &self,
        ctx: &Context<'_>,
        input: AssignMenteeInput,
    ) -> Result<VolunteerReceipt> {
        let event = VolunteerEvent::MenteeAssigned(MenteeAssigned {
            mentoring: input.mentoring,
        });
        Ok(record(
            ctx,
            "assignMentee",
            parse_volunteer(&input.volunteer_id),
            (input.event_id, input.occurred_on),
            event,
            None,
        )
        .await?)
    }

    /// Records a supervision or a further training (coordinators and admins).
    async fn support_volunteer(
        &self,
        ctx: &Context<'_>,
        input: SupportVolunteerInput,
    ) -> Result<VolunteerReceipt> {
        let event = VolunteerEvent::Supported(VolunteerSupported {
            kind: input.kind.into(),
        });
        Ok(record(
            ctx,
            "supportVolunteer",
            parse_volunteer(&input.volunteer_id),
            (input.event_id, input.occurred_on),
            event,
            None,
        )
        .await?)
    }

    /// Records how the volunteer's work was recognised (coordinators and admins).
    async fn appreciate_volunteer(
        &self,
        ctx: &Context<'_>,
        input: AppreciateVolunteerInput,
    ) -> Result<VolunteerReceipt> {
        let event = VolunteerEvent::Appreciated(VolunteerAppreciated {
            kind: input.kind.into(),
        });
        Ok(record(
            ctx,
            "appreciateVolunteer",
            parse_volunteer(&input.volunteer_id),
            (input.event_id, input.occurred_on),
            event,
            None,
        )
        .await?)
    }

    /// Records that the volunteer stopped (coordinators and admins).
    async fn end_volunteer(
        &self,
        ctx: &Context<'_>,
        input: EndVolunteerInput,
    ) -> Result<VolunteerReceipt> {
        let event = VolunteerEvent::Ended(VolunteerEnded {
            reason: input.reason.into(),
        });
        Ok(record(
            ctx,
            "endVolunteer",
            parse_volunteer(&input.volunteer_id),
            (input.event_id, input.occurred_on),
            event,
            None,
        )
        .await?)
    }

    /// Erases the volunteer's name and contact as a person's are erased (the data key destroyed,
    /// crash-safe); the pseudonymous register entry stays (coordinators and admins).
    async fn erase_volunteer(
        &self,
        ctx: &Context<'_>,
        input: EraseVolunteerInput,
    ) -> Result<VolunteerReceipt> {
        let state = state(ctx);
        let principal = principal(ctx)?;
        let result = async {
            may_manage(principal)?;
            let volunteer = parse_volunteer(&input.volunteer_id)?;
            let receipt = state
                .ledger
                .erase_volunteer(volunteer, input.occurred_on.0, &principal.actor())
                .await
                .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
            Ok(VolunteerReceipt {
                volunteer_id: ID(volunteer.to_string()),
                event_id: journey_core::volunteers::erasure_event_id(volunteer),
                revision: receipt.stream_revision,
                already_recorded: receipt.first_position.is_none(),
            })
        }
        .await;
        finish(ctx, state, principal, "eraseVolunteer", &result).await?;
        Ok(result?)
    }
}

fn parse_volunteer(id: &ID) -> ApiResult<VolunteerId> {
    id.parse::<VolunteerId>()
        .map_err(|message| ApiError::validation("input.volunteerId", message))
}

fn may_manage(principal: &Principal) -> ApiResult<()> {
    visibility::may_manage_volunteers(principal.role).map_err(ApiError::forbidden)
}

/// The common path of the volunteer mutations: role → input → the ledger's volunteer write path
/// → the vault (a recruitment's name and contact) → audit entry, flushed before the answer.
async fn record(
    ctx: &Context<'_>,
    operation: &str,
    volunteer: ApiResult<VolunteerId>,
    (event_id, occurred_on): (Uuid, Date),
    event: VolunteerEvent,
    data: Option<VolunteerData>,
) -> ApiResult<VolunteerReceipt> {
    let state = state(ctx);
    let principal = principal(ctx)?;
    let result = async {
        may_manage(principal)?;
        let volunteer = volunteer?;
        if let Some(data) = &data {
            // Checked before anything is written, so bad contact data writes no event either.
            data.check().map_err(|check| {
                ApiError::validation(
                    client_field(
                        FieldStyle::TypedInput,
                        0,
                        &format!("personal_data.{}", check.field),
                    ),
                    check.message,
                )
            })?;
        }
        let proposal = VolunteerProposal {
            id: event_id,
            occurred_on: occurred_on.0,
            event,
        };
        let receipt = state
            .ledger
            .append_volunteer_events(volunteer, vec![proposal], &principal.actor())
            .await
            .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
        if let Some(data) = &data {
            state
                .ledger
                .put_volunteer_data(&state.vault, volunteer, data)
                .await
                .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
        }
        Ok(VolunteerReceipt {
            volunteer_id: ID(volunteer.to_string()),
            event_id,
            revision: receipt.stream_revision,
            already_recorded: receipt.first_position.is_none(),
        })
    }
    .await;
    finish(ctx, state, principal, operation, &result).await?;
    result
}

/// The audit entry of a volunteer mutation (the volunteer's stream in its query), flushed.
async fn finish(
    ctx: &Context<'_>,
    state: &AppState,
    principal: &Principal,
    operation: &str,
    result: &ApiResult<VolunteerReceipt>,
) -> ApiResult<()> {
    let stream = result
        .as_ref()
        .map(|receipt| receipt.volunteer_id.to_string())
        .ok();
    audit(
        ctx,
        AuditRecord {
            principal: Some(principal.clone()),
            operation: operation.to_owned(),
            query: stream,
            outcome: outcome(result),
            ..AuditRecord::default()
        },
    )?;
    state
        .audit
        .flush()
        .await
        .map_err(|error| ApiError::internal(&error))
}

/// A volunteer's name and contact, from the vault.
#[derive(SimpleObject, Debug, Clone)]
pub struct VolunteerPersonalData {
    pub given_names: String,
    pub family_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A volunteer of the register as their stream has it.
#[derive(SimpleObject, Debug, Clone)]
pub struct Volunteer {
    pub volunteer_id: ID,
    pub recruited_on: Date,
    pub district: Option<String>,
    pub trained_on: Option<Date>,
    /// How many mentees were linked (`assignMentee`), over the whole register entry.
    pub mentees_linked: u32,
    pub supervisions_and_trainings: u32,
    pub appreciations: u32,
    pub ended_on: Option<Date>,
    /// True once the name and contact were erased.
    pub erased: bool,
    /// `null` when none was stored or after erasure.
    pub personal_data: Option<VolunteerPersonalData>,
}

/// A person waiting for a mentor.
#[derive(SimpleObject, Debug, Clone)]
pub struct OpenMentorRequest {
    pub person_id: ID,
    pub requested_on: Date,
    pub waiting_days: i64,
    pub district: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct OpenMentorRequestEdge {
    /// The person id: pass it as `after` to continue behind it (with the page's `knownAt`).
    pub cursor: String,
    pub node: OpenMentorRequest,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct OpenMentorRequestConnection {
    pub edges: Vec<OpenMentorRequestEdge>,
    pub page_info: super::types::PageInfo,
    /// The transaction-time cut this page was taken at; ask for the next page with it.
    pub known_at: DateTime<Utc>,
}

/// One entry of the register, without name or contact.
#[derive(SimpleObject, Debug, Clone)]
pub struct VolunteerEntry {
    pub volunteer_id: ID,
    pub district: Option<String>,
    pub recruited_on: Date,
    pub trained_on: Option<Date>,
    pub ended_on: Option<Date>,
    /// Recruited on or before `asOf` and not ended by it.
    pub active: bool,
    pub mentees_linked: u32,
    pub erased: bool,
}

/// The register at one cut.
#[derive(SimpleObject, Debug, Clone)]
pub struct VolunteerList {
    pub as_of: Date,
    /// The transaction time the answer covers; asking again with it gives the same answer.
    pub known_at: Option<DateTime<Utc>>,
    /// By recruitment date, then id.
    pub volunteers: Vec<VolunteerEntry>,
}

#[derive(Debug, Default)]
pub struct VolunteerQuery;

#[Object]
impl VolunteerQuery {
    /// One volunteer of the register with their name and contact; `null` when there is no such
    /// volunteer. Coordinators and admins; audited.
    async fn volunteer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Volunteer>> {
        let state = state(ctx);
        let principal = principal(ctx)?;
        let result = async {
            may_manage(principal)?;
            let volunteer = id
                .parse::<VolunteerId>()
                .map_err(|message| ApiError::validation("id", message))?;
            read_volunteer(state, volunteer).await
        }
        .await;
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "volunteer".into(),
                query: Some(id.to_string()),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// The register as recorded by `knownAt` (default: now): every volunteer recruited on or
    /// before `asOf` (default: today), only the active ones with `activeOnly`, without names or
    /// contacts (ask `volunteer` for one). Coordinators and admins; audited.
    async fn volunteers(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
        active_only: Option<bool>,
    ) -> Result<VolunteerList> {
        let state = state(ctx);
        let principal = principal(ctx)?;
        let result = async {
            may_manage(principal)?;
            reach_cut(state, known_at).await?;
            let projections = state.projections()?;
            let as_of = reporting_date(state, as_of)?;
            let (register, through) =
                projections.read(|state| (state.volunteers.clone(), state.recorded_through));
            let cut = known_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
            let mut volunteers: Vec<VolunteerEntry> = register
                .states(cut)
                .into_iter()
                .filter_map(|(volunteer, entry)| {
                    let (recruited_on, district) = entry.recruited.clone()?;
                    let active = entry.active_on(as_of);
                    (recruited_on <= as_of && (active || active_only != Some(true))).then(|| {
                        VolunteerEntry {
                            volunteer_id: ID(volunteer.to_string()),
                            district,
                            recruited_on: Date(recruited_on),
                            trained_on: entry.trained.map(Date),
                            ended_on: entry.ended.map(|(on, _)| Date(on)),
                            active,
                            mentees_linked: entry.mentorings.len() as u32,
                            erased: entry.erased,
                        }
                    })
                })
                .collect();
            volunteers.sort_by(|a, b| {
                (a.recruited_on.0, &a.volunteer_id.0).cmp(&(b.recruited_on.0, &b.volunteer_id.0))
            });
            Ok(VolunteerList {
                as_of: Date(as_of),
                known_at: known_at.or(through),
                volunteers,
            })
        }
        .await;
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "volunteers".into(),
                query: Some(format!("activeOnly {active_only:?}")),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// The persons present on `asOf` (default: today) who asked for a mentor and have none
    /// assigned, in the records known at `knownAt` (default: now): oldest request first (the rule:
    /// `journey_projections::volunteers::open_mentor_requests`). Coordinators (who see every
    /// person's mentoring facts) and admins; audited.
    async fn open_mentor_requests(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
        district: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<OpenMentorRequestConnection> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = async {
            may_manage(principal)?;
            reach_cut(state, known_at).await?;
            open_requests(
                state,
                (as_of, known_at),
                district.as_deref(),
                first,
                after.as_deref(),
            )
        }
        .await;
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "openMentorRequests".into(),
                query: Some(format!(
                    "district {} first {} after {}",
                    district.as_deref().unwrap_or("-"),
                    first.map_or_else(|| "-".to_owned(), |first| first.to_string()),
                    after.as_deref().unwrap_or("-"),
                )),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }
}

async fn read_volunteer(state: &AppState, volunteer: VolunteerId) -> ApiResult<Option<Volunteer>> {
    let (register, _) = state
        .ledger
        .read_volunteer(volunteer)
        .await
        .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
    let Some((recruited_on, district)) = register.recruited.clone() else {
        return Ok(None);
    };
    let personal_data = if register.erased {
        None
    } else {
        state
            .vault
            .get_volunteer(state.ledger.keys(), volunteer)
            .map_err(|error| ApiError::internal(&error))?
            .map(|data| VolunteerPersonalData {
                given_names: data.given_names,
                family_name: data.family_name,
                phone: data.phone,
                email: data.email,
            })
    };
    Ok(Some(Volunteer {
        volunteer_id: ID(volunteer.to_string()),
        recruited_on: Date(recruited_on),
        district,
        trained_on: register.trained.map(Date),
        mentees_linked: register.mentorings.len() as u32,
        supervisions_and_trainings: register.supported.len() as u32,
        appreciations: register.appreciated.len() as u32,
        ended_on: register.ended.map(|(on, _)| Date(on)),
        erased: register.erased,
        personal_data,
    }))
}

fn open_requests(
    state: &AppState,
    (as_of, known_at): (Option<Date>, Option<DateTime<Utc>>),
    district: Option<&str>,
    first: Option<i32>,
    after: Option<&str>,
) -> ApiResult<OpenMentorRequestConnection> {
    let projections = state.projections()?;
    let as_of = reporting_date(state, as_of)?;
    let (views, _) = cut_and_live(projections, known_at);
    let rows: Vec<_> = journey_projections::volunteers::open_mentor_requests(&views.views, as_of)
        .into_iter()
        .filter(|request| {
            district.is_none_or(|district| request.district.as_deref() == Some(district))
        })
        .collect();
    let (rows, has_next_page) =
        ranked_page::page(rows, |request| request.person, first, after, &state.limits)?;
    let edges: Vec<OpenMentorRequestEdge> = rows
        .into_iter()
        .map(|request| OpenMentorRequestEdge {
            cursor: request.person.to_string(),
            node: OpenMentorRequest {
                person_id: ID(request.person.to_string()),
                requested_on: Date(request.requested_on),
                waiting_days: request.waiting_days,
                district: request.district,
            },
        })
        .collect();
    Ok(OpenMentorRequestConnection {
        known_at: views.answer_known_at(),
        page_info: super::types::PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
    })
}
