//! Mutations: one per caseworker action of the catalogue, plus `appendEvents` for batches.
//!
//! Every mutation goes the same way: role check → decode the payload through the catalogue (the
//! field checks of core, named in the client's terms) → visibility of the person → the ledger's
//! write path (idempotency on `eventId`, expected revision, rules, sealing, chaining) → audit entry,
//! flushed before the answer.

use async_graphql::{Context, Object, Result, ID};
use journey_core::catalogue::{self, Event, EventType as CoreEventType};
use journey_core::envelope::PersonId;
use journey_core::ledger::{Proposed, Receipt as LedgerReceipt};
use journey_core::log::{ExpectedRevision, Position};
use journey_core::vault::PersonalData as VaultData;
use uuid::Uuid;

use super::inputs::*;
use super::types::{BatchReceipt, Receipt};
use super::{audit, outcome, parse_person, principal, state};
use crate::audit::AuditRecord;
use crate::auth::{Principal, Role};
use crate::error::{client_field, from_decode, from_ledger, ApiError, ApiResult, FieldStyle};
use crate::state::AppState;
use crate::visibility::{self, Access, PersonFacts};

/// The namespace of person ids derived from a registration's event id.
const REGISTRATION_NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_7572_6e65_7900_8000_0000_0000_0001);

#[derive(Debug, Default)]
pub struct PersonMutation;

#[Object]
impl PersonMutation {
    /// Registers a person (the first event of their stream); names, birth date, phone and address go to the encrypted vault.
    async fn register_person(
        &self,
        ctx: &Context<'_>,
        input: RegisterPersonInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "registerPerson", &input, input.personal_data.as_ref()).await?)
    }

    /// Records the arrival in the municipality (or a return after moving away).
    async fn record_arrival(
        &self,
        ctx: &Context<'_>,
        input: RecordArrivalInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "recordArrival", &input, None).await?)
    }

    /// Records that an asylum application was filed.
    async fn file_asylum_application(
        &self,
        ctx: &Context<'_>,
        input: FileAsylumApplicationInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "fileAsylumApplication", &input, None).await?)
    }

    /// Records the outcome of the asylum procedure (never the grounds).
    async fn record_asylum_decision(
        &self,
        ctx: &Context<'_>,
        input: RecordAsylumDecisionInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "recordAsylumDecision", &input, None).await?)
    }

    /// Records a change of residence status.
    async fn change_residence_status(
        &self,
        ctx: &Context<'_>,
        input: ChangeResidenceStatusInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "changeResidenceStatus", &input, None).await?)
    }

    /// Records a residence obligation (Wohnsitzauflage), or extends it.
    async fn set_residence_obligation(
        &self,
        ctx: &Context<'_>,
        input: SetResidenceObligationInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "setResidenceObligation", &input, None).await?)
    }

    /// Records that the residence obligation was lifted.
    async fn lift_residence_obligation(
        &self,
        ctx: &Context<'_>,
        input: LiftResidenceObligationInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "liftResidenceObligation", &input, None).await?)
    }

    /// Records a move within the municipality (district and kind of accommodation only).
    async fn change_address(
        &self,
        ctx: &Context<'_>,
        input: ChangeAddressInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "changeAddress", &input, None).await?)
    }

    /// Records that the person moved away.
    async fn record_move_away(
        &self,
        ctx: &Context<'_>,
        input: RecordMoveAwayInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "recordMoveAway", &input, None).await?)
    }

    /// Records an entitlement or obligation to attend an integration course.
    async fn issue_course_entitlement(
        &self,
        ctx: &Context<'_>,
        input: IssueCourseEntitlementInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "issueCourseEntitlement", &input, None).await?)
    }

    /// Registers the person for a course.
    async fn register_for_course(
        &self,
        ctx: &Context<'_>,
        input: RegisterForCourseInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "registerForCourse", &input, None).await?)
    }

    /// Records that a registered course started.
    async fn start_course(&self, ctx: &Context<'_>, input: StartCourseInput) -> Result<Receipt> {
        Ok(record(ctx, "startCourse", &input, None).await?)
    }

    /// Records that a started course was completed.
    async fn complete_course(
        &self,
        ctx: &Context<'_>,
        input: CompleteCourseInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "completeCourse", &input, None).await?)
    }

    /// Records that the person left a started course early.
    async fn leave_course_early(
        &self,
        ctx: &Context<'_>,
        input: LeaveCourseEarlyInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "leaveCourseEarly", &input, None).await?)
    }

    /// Records a language test result.
    async fn record_language_test(
        &self,
        ctx: &Context<'_>,
        input: RecordLanguageTestInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "recordLanguageTest", &input, None).await?)
    }

    /// Records an orientation course test result.
    async fn record_orientation_test(
        &self,
        ctx: &Context<'_>,
        input: RecordOrientationTestInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "recordOrientationTest", &input, None).await?)
    }

    /// Records a request for a Kita place.
    async fn request_kita_place(
        &self,
        ctx: &Context<'_>,
        input: RequestKitaPlaceInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "requestKitaPlace", &input, None).await?)
    }

    /// Records that a Kita place started.
    async fn start_kita(&self, ctx: &Context<'_>, input: StartKitaInput) -> Result<Receipt> {
        Ok(record(ctx, "startKita", &input, None).await?)
    }

    /// Records that the Kita place ended.
    async fn end_kita(&self, ctx: &Context<'_>, input: EndKitaInput) -> Result<Receipt> {
        Ok(record(ctx, "endKita", &input, None).await?)
    }

    /// Records a school enrolment.
    async fn enrol_in_school(
        &self,
        ctx: &Context<'_>,
        input: EnrolInSchoolInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "enrolInSchool", &input, None).await?)
    }

    /// Records the move from a language class to a regular class.
    async fn move_to_regular_class(
        &self,
        ctx: &Context<'_>,
        input: MoveToRegularClassInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "moveToRegularClass", &input, None).await?)
    }

    /// Records that the person left school, with the certificate.
    async fn leave_school(&self, ctx: &Context<'_>, input: LeaveSchoolInput) -> Result<Receipt> {
        Ok(record(ctx, "leaveSchool", &input, None).await?)
    }

    /// Records the start of benefits.
    async fn start_benefits(
        &self,
        ctx: &Context<'_>,
        input: StartBenefitsInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "startBenefits", &input, None).await?)
    }

    /// Records the end of benefits.
    async fn end_benefits(&self, ctx: &Context<'_>, input: EndBenefitsInput) -> Result<Receipt> {
        Ok(record(ctx, "endBenefits", &input, None).await?)
    }

    /// Records a cooperation plan with an agency.
    async fn agree_cooperation_plan(
        &self,
        ctx: &Context<'_>,
        input: AgreeCooperationPlanInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "agreeCooperationPlan", &input, None).await?)
    }

    /// Records the start of a labour-market measure.
    async fn start_measure(&self, ctx: &Context<'_>, input: StartMeasureInput) -> Result<Receipt> {
        Ok(record(ctx, "startMeasure", &input, None).await?)
    }

    /// Records the end of a measure.
    async fn end_measure(&self, ctx: &Context<'_>, input: EndMeasureInput) -> Result<Receipt> {
        Ok(record(ctx, "endMeasure", &input, None).await?)
    }

    /// Records an application for recognition of a foreign qualification.
    async fn apply_for_recognition(
        &self,
        ctx: &Context<'_>,
        input: ApplyForRecognitionInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "applyForRecognition", &input, None).await?)
    }

    /// Records the decision on the earliest open recognition application.
    async fn decide_recognition(
        &self,
        ctx: &Context<'_>,
        input: DecideRecognitionInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "decideRecognition", &input, None).await?)
    }

    /// Records the start of vocational training.
    async fn start_training(
        &self,
        ctx: &Context<'_>,
        input: StartTrainingInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "startTraining", &input, None).await?)
    }

    /// Records the end of vocational training.
    async fn end_training(&self, ctx: &Context<'_>, input: EndTrainingInput) -> Result<Receipt> {
        Ok(record(ctx, "endTraining", &input, None).await?)
    }

    /// Records the start of employment.
    async fn start_employment(
        &self,
        ctx: &Context<'_>,
        input: StartEmploymentInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "startEmployment", &input, None).await?)
    }

    /// Records the end of employment.
    async fn end_employment(
        &self,
        ctx: &Context<'_>,
        input: EndEmploymentInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "endEmployment", &input, None).await?)
    }

    /// Records a counselling contact (no free text by design).
    async fn record_counselling_contact(
        &self,
        ctx: &Context<'_>,
        input: RecordCounsellingContactInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "recordCounsellingContact", &input, None).await?)
    }

    /// Records a referral to another agency.
    async fn make_referral(&self, ctx: &Context<'_>, input: MakeReferralInput) -> Result<Receipt> {
        Ok(record(ctx, "makeReferral", &input, None).await?)
    }

    /// Records that the person asked for a mentor (coordinators may record this); the request
    /// waits in `openMentorRequests` until a mentor is assigned.
    async fn request_mentor(
        &self,
        ctx: &Context<'_>,
        input: RequestMentorInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "requestMentor", &input, None).await?)
    }

    /// Assigns a volunteer mentor (coordinators may record this).
    async fn assign_mentor(&self, ctx: &Context<'_>, input: AssignMentorInput) -> Result<Receipt> {
        Ok(record(ctx, "assignMentor", &input, None).await?)
    }

    /// Ends a mentoring (coordinators may record this).
    async fn end_mentoring(&self, ctx: &Context<'_>, input: EndMentoringInput) -> Result<Receipt> {
        Ok(record(ctx, "endMentoring", &input, None).await?)
    }

    /// Records a completed item of the start checklist.
    async fn complete_checklist_item(
        &self,
        ctx: &Context<'_>,
        input: CompleteChecklistItemInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "completeChecklistItem", &input, None).await?)
    }

    /// Records a consent: the named agencies see the person from now until it is withdrawn.
    async fn give_consent(&self, ctx: &Context<'_>, input: GiveConsentInput) -> Result<Receipt> {
        Ok(record(ctx, "giveConsent", &input, None).await?)
    }

    /// Records the withdrawal of a consent; it takes effect for every later read and subscription.
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        input: WithdrawConsentInput,
    ) -> Result<Receipt> {
        Ok(record(ctx, "withdrawConsent", &input, None).await?)
    }

    /// Corrects a recorded event: the original stays in the log, views apply the replacement.
    async fn correct_event(&self, ctx: &Context<'_>, input: CorrectEventInput) -> Result<Receipt> {
        Ok(record(ctx, "correctEvent", &input, None).await?)
    }

    /// Retracts a recorded event: the original stays in the log, views leave it out.
    async fn retract_event(&self, ctx: &Context<'_>, input: RetractEventInput) -> Result<Receipt> {
        Ok(record(ctx, "retractEvent", &input, None).await?)
    }

    /// Erases the person's personal data (crypto-shredding): admins, or caseworkers of an agency that works with the person.
    async fn erase_person(&self, ctx: &Context<'_>, input: ErasePersonInput) -> Result<Receipt> {
        Ok(record(ctx, "erasePerson", &input, None).await?)
    }
    /// Appends several events to one person's stream at once, all or nothing, in wire form (the
    /// format of `journey import`). Errors name the event by `eventIndex`.
    async fn append_events(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        expected_revision: Option<u64>,
        events: Vec<EventInput>,
    ) -> Result<BatchReceipt> {
        let state = state(ctx);
        let principal = principal(ctx)?;
        let person = parse_person(&person_id, "personId")?;
        let result = append_batch(state, principal, person, expected_revision, events).await;
        finish(ctx, state, principal, "appendEvents", person, &result).await?;
        Ok(result?)
    }
}

/// Whether the principal's role may record events of this type at all.
pub(crate) fn role_may_record(principal: &Principal, event_type: &str) -> ApiResult<()> {
    match principal.role {
        Role::Caseworker | Role::Admin => Ok(()),
        Role::Coordinator if visibility::is_mentoring(event_type) => Ok(()),
        Role::Coordinator => Err(ApiError::forbidden(format!(
            "coordinators record mentoring events only (requestMentor, assignMentor, endMentoring), not {event_type}"
        ))),
        Role::Analyst | Role::Auditor | Role::Replication | Role::Replica => Err(ApiError::forbidden(format!(
            "the {} role does not record events",
            principal.role
        ))),
    }
}

/// Checks that the principal may append `proposed` to the person's stream.
pub(crate) async fn authorize_append(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    proposed: &[Proposed],
) -> ApiResult<()> {
    // The log knows without a read whether the stream exists; a new person's append (most of a
    // busy intake) then skips the read of an empty timeline, a trip to the blocking pool.
    let exists = state
        .log
        .stream_revision(&person.stream_name())
        .await
        .map_err(|error| ApiError::internal(&error))?
        .is_some();
    let timeline = if exists {
        state.timeline(person).await?
    } else {
        Vec::new()
    };
    if timeline.is_empty() {
        // A new stream: the rules check that it starts with a registration.
        if principal.role == Role::Coordinator {
            return Err(ApiError::not_found(format!(
                "{person} is not in the ledger"
            )));
        }
        return Ok(());
    }
    let facts = PersonFacts::from_timeline(&timeline);
    match visibility::access(principal, &facts) {
        Access::Full | Access::MentoringOnly => {}
        Access::Denied(message) => return Err(ApiError::forbidden(message)),
    }
    let erasing = proposed
        .iter()
        .any(|event| event.event.event_type() == CoreEventType::PersonalDataErased);
    if erasing && !visibility::may_erase(principal, &facts) {
        return Err(ApiError::forbidden(
            "erasure is for admins and for caseworkers of an agency that works with the person (a consent does not suffice)",
        ));
    }
    Ok(())
}

/// Audits a mutation, flushes the audit log and counts it.
async fn finish<T>(
    ctx: &Context<'_>,
    state: &AppState,
    principal: &Principal,
    operation: &str,
    person: PersonId,
    result: &ApiResult<T>,
) -> ApiResult<()> {
    audit(
        ctx,
        AuditRecord {
            principal: Some(principal.clone()),
            operation: operation.to_owned(),
            person: Some(person.to_string()),
            outcome: outcome(result),
            ..AuditRecord::default()
        },
    )?;
    state
        .audit
        .flush()
        .await
        .map_err(|error| ApiError::internal(&error))?;
    if let Err(error) = result {
        state.metrics.append(error.code.as_str(), 0);
    }
    Ok(())
}

fn vault_data(input: &PersonalDataInput) -> VaultData {
    VaultData {
        given_names: input.given_names.clone(),
        family_name: input.family_name.clone(),
        birth_date: input.birth_date.map(|date| date.0),
        phone: input.phone.clone(),
        address: input.address.clone(),
    }
}

/// The common path of every typed mutation.
async fn record<I: RecordInput>(
    ctx: &Context<'_>,
    operation: &str,
    input: &I,
    personal_data: Option<&PersonalDataInput>,
) -> ApiResult<Receipt> {
    let state = state(ctx);
    let principal = principal(ctx)?;
    let envelope = input.envelope();
    let person = match &envelope.person_id {
        Some(id) => parse_person(id, "input.personId")?,
        None => PersonId(Uuid::new_v5(
            &REGISTRATION_NAMESPACE,
            envelope.event_id.as_bytes(),
        )),
    };
    let result = record_one::<I>(
        state,
        principal,
        person,
        envelope,
        input.data(),
        personal_data,
    )
    .await;
    finish(ctx, state, principal, operation, person, &result).await?;
    result
}

async fn record_one<I: RecordInput>(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    envelope: Envelope,
    data: serde_json::Value,
    personal_data: Option<&PersonalDataInput>,
) -> ApiResult<Receipt> {
    let event_type = I::TYPE;
    role_may_record(principal, event_type.name())?;
    let event = catalogue::decode(event_type.name(), event_type.current_version(), data)
        .map_err(|error| from_decode(FieldStyle::TypedInput, 0, &error))?;
    let personal_data = personal_data.map(vault_data);
    if let Some(birth_date) = personal_data.as_ref().and_then(|data| data.birth_date) {
        let today = state.ledger.clock().today();
        if birth_date > today {
            return Err(ApiError::validation(
                client_field(FieldStyle::TypedInput, 0, "personal_data.birth_date"),
                format!("must not be after today ({today}), is {birth_date}"),
            ));
        }
    }
    if let Some(data) = &personal_data {
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
    let proposed = Proposed {
        id: envelope.event_id,
        occurred_on: envelope.occurred_on.0,
        event,
        actor: principal.actor(),
        correlation_id: envelope.correlation_id,
        causation_id: envelope.causation_id,
    };
    authorize_append(state, principal, person, std::slice::from_ref(&proposed)).await?;
    let expected = match (envelope.expected_revision, event_type) {
        (Some(revision), _) => ExpectedRevision::Exact(revision),
        (None, CoreEventType::PersonRegistered) => ExpectedRevision::NoStream,
        (None, _) => ExpectedRevision::Any,
    };
    let effect = vault_effect(std::slice::from_ref(&proposed));
    let receipt = state
        .ledger
        .append(person, expected, vec![proposed])
        .await
        .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
    after_append(state, person, effect, personal_data.as_ref()).await?;
    let (revision, position) = match receipt.first_position {
        Some(position) => (receipt.stream_revision, position),
        None => {
            // A retry: answer with where the event was recorded the first time.
            let stored = state
                .log
                .find_event(&person.stream_name(), envelope.event_id)
                .await
                .map_err(|error| ApiError::internal(&error))?
                .ok_or_else(|| ApiError::internal(&"a recorded event id cannot be found"))?;
            (stored.revision, stored.position)
        }
    };
    count(state, &receipt);
    Ok(Receipt {
        person_id: ID(person.to_string()),
        event_id: envelope.event_id,
        revision,
        position: position.raw(),
        already_recorded: receipt.first_position.is_none(),
    })
}

pub(crate) fn count(state: &AppState, receipt: &LedgerReceipt) {
    match receipt.written {
        0 => state.metrics.append("already_recorded", 0),
        written => state.metrics.append("written", written as u64),
    }
}

/// What an accepted append does to the vault's copy of the person's personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VaultEffect {
    /// The append erases the person's personal data: the vault's copy is erased too.
    Erase,
    /// The vault's copy stays, or is written when the append brings personal data.
    Keep,
}

/// What the append of `proposed` does to the vault ([`after_append`] acts on it). Asked before the
/// append, which takes the events.
pub(crate) fn vault_effect(proposed: &[Proposed]) -> VaultEffect {
    if proposed
        .iter()
        .any(|event| matches!(event.event, Event::PersonalDataErased(_)))
    {
        VaultEffect::Erase
    } else {
        VaultEffect::Keep
    }
}

/// What follows an accepted append outside the log: the vault, as [`vault_effect`] said.
pub(crate) async fn after_append(
    state: &AppState,
    person: PersonId,
    effect: VaultEffect,
    personal_data: Option<&VaultData>,
) -> ApiResult<()> {
    if effect == VaultEffect::Erase {
        return state
            .vault
            .erase(person)
            .await
            .map_err(|error| ApiError::internal(&error));
    }
    if let Some(data) = personal_data {
        let result = {
            let mut rng = state
                .rng
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state
                .vault
                .put(state.ledger.keys(), person, data, &mut *rng)
        };
        result.map_err(|error| ApiError::internal(&error))?;
        state
            .vault
            .flush()
            .await
            .map_err(|error| ApiError::internal(&error))?;
    }
    Ok(())
}

async fn append_batch(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    expected_revision: Option<u64>,
    events: Vec<EventInput>,
) -> ApiResult<BatchReceipt> {
    if events.is_empty() {
        return Err(ApiError::validation("events", "give at least one event"));
    }
    let mut proposed = Vec::with_capacity(events.len());
    for (index, input) in events.into_iter().enumerate() {
        let event_type = input.event_type.core();
        role_may_record(principal, event_type.name())
            .map_err(|error| error.with("eventIndex", index as u64))?;
        let event = catalogue::decode(
            event_type.name(),
            input
                .version
                .unwrap_or_else(|| event_type.current_version()),
            input.data.0,
        )
        .map_err(|error| from_decode(FieldStyle::WireBatch, index, &error))?;
        proposed.push(Proposed {
            id: input.event_id,
            occurred_on: input.occurred_on.0,
            event,
            actor: principal.actor(),
            correlation_id: input.correlation_id,
            causation_id: input.causation_id,
        });
    }
    authorize_append(state, principal, person, &proposed).await?;
    let expected = expected_revision.map_or(ExpectedRevision::Any, ExpectedRevision::Exact);
    let effect = vault_effect(&proposed);
    let receipt = state
        .ledger
        .append(person, expected, proposed)
        .await
        .map_err(|error| from_ledger(FieldStyle::WireBatch, error))?;
    after_append(state, person, effect, None).await?;
    count(state, &receipt);
    let written = receipt.written as u64;
    Ok(BatchReceipt {
        person_id: ID(person.to_string()),
        revision: receipt.stream_revision,
        first_position: receipt.first_position.map(Position::raw),
        last_position: receipt.last_position.map(Position::raw),
        written,
        already_recorded: receipt.already_recorded as u64,
    })
}
