//! Offers: the capacity the municipality and its organisations make available (`offer-<uuid>`
//! streams, see `journey_core::offers`). Recording one is planning work, done by coordinators and
//! admins; caseworkers record about persons, analysts and auditors record nothing. Every mutation
//! is audited like a person's (the offer's stream in the entry's query). Reading offers is reading
//! reference data about organisations, never about a person: every signed-in role may, unaudited
//! (like `registers`).

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use journey_core::offers::{
    CapacityChanged, CapacityOffered, CapacityWithdrawn, InvalidMonth, Month, OfferEvent, OfferId,
    OfferProposal,
};
use uuid::Uuid;

use super::enums::{OfferKind, WithdrawalReason};
use super::readmodels::reach_cut;
use super::scalars::Date;
use super::{audit, outcome, principal, state};
use crate::audit::AuditRecord;
use crate::auth::{Principal, Role};
use crate::error::{from_ledger, ApiError, ApiResult, FieldStyle};

/// The namespace of offer ids derived from the event id of their first event.
const OFFER_NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_7572_6e65_7900_8000_0000_0000_0002);

/// A new offer: what, for which month, where, how much.
#[derive(InputObject, Debug, Clone)]
pub struct RecordOfferInput {
    /// The event's id (the idempotency key).
    pub event_id: Uuid,
    /// The offer's id; by default derived from `eventId`, so a retry names the same offer.
    pub offer_id: Option<ID>,
    /// The day the offer was made (its month may lie ahead).
    pub occurred_on: Date,
    pub kind: OfferKind,
    /// The month the capacity is for, `YYYY-MM`.
    pub month: String,
    /// A code of the districts register (required for Kita places and counselling hours).
    pub district: Option<String>,
    /// A code of the providers register (required for course places).
    pub provider: Option<String>,
    /// Places, or hours for counselling.
    pub quantity: i32,
}

/// A new quantity for an offer, from `occurredOn` on.
#[derive(InputObject, Debug, Clone)]
pub struct ChangeOfferInput {
    pub event_id: Uuid,
    pub offer_id: ID,
    pub occurred_on: Date,
    pub quantity: i32,
}

/// An offer withdrawn from `occurredOn` on (or, `RECORDED_IN_ERROR`, never made).
#[derive(InputObject, Debug, Clone)]
pub struct WithdrawOfferInput {
    pub event_id: Uuid,
    pub offer_id: ID,
    pub occurred_on: Date,
    pub reason: WithdrawalReason,
}

/// What an offer mutation recorded.
#[derive(SimpleObject, Debug, Clone)]
pub struct OfferReceipt {
    pub offer_id: ID,
    pub event_id: Uuid,
    /// The offer stream's revision after the append.
    pub revision: u64,
    /// True when this event id was already recorded with the same content: nothing new was written.
    pub already_recorded: bool,
}

#[derive(Debug, Default)]
pub struct OfferMutation;

#[Object]
impl OfferMutation {
    /// Records an offer of capacity for a month (coordinators and admins).
    async fn record_offer(
        &self,
        ctx: &Context<'_>,
        input: RecordOfferInput,
    ) -> Result<OfferReceipt> {
        let offer = match &input.offer_id {
            Some(id) => parse_offer(id),
            None => Ok(OfferId(Uuid::new_v5(
                &OFFER_NAMESPACE,
                input.event_id.as_bytes(),
            ))),
        };
        let event = month(&input.month, "input.month").and_then(|month| {
            Ok(OfferEvent::Offered(CapacityOffered {
                kind: input.kind.into(),
                month,
                district: input.district.clone(),
                provider: input.provider.clone(),
                quantity: quantity(input.quantity)?,
            }))
        });
        Ok(record(
            ctx,
            "recordOffer",
            offer,
            input.event_id,
            input.occurred_on,
            event,
        )
        .await?)
    }

    /// Changes an offer's quantity (coordinators and admins).
    async fn change_offer(
        &self,
        ctx: &Context<'_>,
        input: ChangeOfferInput,
    ) -> Result<OfferReceipt> {
        let event = quantity(input.quantity)
            .map(|quantity| OfferEvent::Changed(CapacityChanged { quantity }));
        let offer = parse_offer(&input.offer_id);
        Ok(record(
            ctx,
            "changeOffer",
            offer,
            input.event_id,
            input.occurred_on,
            event,
        )
        .await?)
    }

    /// Withdraws an offer (coordinators and admins).
    async fn withdraw_offer(
        &self,
        ctx: &Context<'_>,
        input: WithdrawOfferInput,
    ) -> Result<OfferReceipt> {
        let event = Ok(OfferEvent::Withdrawn(CapacityWithdrawn {
            reason: input.reason.into(),
        }));
        let offer = parse_offer(&input.offer_id);
        Ok(record(
            ctx,
            "withdrawOffer",
            offer,
            input.event_id,
            input.occurred_on,
            event,
        )
        .await?)
    }
}

fn month(text: &str, field: &str) -> ApiResult<Month> {
    text.parse()
        .map_err(|error: InvalidMonth| ApiError::validation(field, error.to_string()))
}

fn quantity(value: i32) -> ApiResult<u32> {
    u32::try_from(value).map_err(|_| {
        ApiError::validation(
            "input.quantity",
            format!("{value} is negative; give the places (or hours) offered, at least 1"),
        )
    })
}

fn parse_offer(id: &ID) -> ApiResult<OfferId> {
    id.parse::<OfferId>()
        .map_err(|message| ApiError::validation("input.offerId", message))
}

/// Coordinators and admins record offers.
fn may_record_offers(principal: &Principal) -> ApiResult<()> {
    match principal.role {
        Role::Coordinator | Role::Admin => Ok(()),
        role => Err(ApiError::forbidden(format!(
            "offers are recorded by coordinators and admins, not by the {role} role"
        ))),
    }
}

/// The common path of the offer mutations: role → input → the ledger's plain write path →
/// audit entry, flushed before the answer.
async fn record(
    ctx: &Context<'_>,
    operation: &str,
    offer: ApiResult<OfferId>,
    event_id: Uuid,
    occurred_on: Date,
    event: ApiResult<OfferEvent>,
) -> ApiResult<OfferReceipt> {
    let state = state(ctx);
    let principal = principal(ctx)?;
    let result = async {
        may_record_offers(principal)?;
        let offer = offer?;
        let proposal = OfferProposal {
            id: event_id,
            occurred_on: occurred_on.0,
            event: event?,
        };
        let receipt = state
            .ledger
            .append_offer_events(offer, vec![proposal], &principal.actor())
            .await
            .map_err(|error| from_ledger(FieldStyle::TypedInput, error))?;
        Ok(OfferReceipt {
            offer_id: ID(offer.to_string()),
            event_id,
            revision: receipt.stream_revision,
            already_recorded: receipt.first_position.is_none(),
        })
    }
    .await;
    let stream = result
        .as_ref()
        .map(|receipt| receipt.offer_id.to_string())
        .ok();
    audit(
        ctx,
        AuditRecord {
            principal: Some(principal.clone()),
            operation: operation.to_owned(),
            query: stream,
            outcome: outcome(&result),
            ..AuditRecord::default()
        },
    )?;
    state
        .audit
        .flush()
        .await
        .map_err(|error| ApiError::internal(&error))?;
    result
}

/// One offer in force.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct Offer {
    pub offer_id: ID,
    pub kind: OfferKind,
    /// `YYYY-MM`.
    pub month: String,
    pub district: Option<String>,
    pub provider: Option<String>,
    /// Places, or hours for counselling.
    pub quantity: u32,
}

/// The offers in force at one cut.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct OfferList {
    pub as_of: Date,
    /// The transaction time the answer covers; asking again with it gives the same answer.
    pub known_at: Option<DateTime<Utc>>,
    /// By month, kind, district, provider, offer id.
    pub offers: Vec<Offer>,
}

#[derive(Debug, Default)]
pub struct OfferQuery;

#[Object]
impl OfferQuery {
    /// The offers in force on `asOf` (default: today) as recorded by `knownAt` (default: now),
    /// for `month` (`YYYY-MM`, default: every month), of one `kind` and in one `district` when
    /// given. Organisational data: every signed-in role, unaudited.
    async fn offers(
        &self,
        ctx: &Context<'_>,
        month: Option<String>,
        kind: Option<OfferKind>,
        district: Option<String>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<OfferList> {
        principal(ctx)?;
        let state = state(ctx);
        let month = month.map(|text| self::month(&text, "month")).transpose()?;
        reach_cut(state, known_at).await?;
        let projections = state.projections()?;
        let as_of = as_of.map_or_else(|| projections.today(), |date| date.0);
        let (offers, through) =
            projections.read(|state| (state.offers.clone(), state.recorded_through));
        let cut = known_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut found: Vec<Offer> = offers
            .in_force(as_of, cut)
            .into_iter()
            .filter(|capacity| month.is_none_or(|month| capacity.month == month))
            .filter(|capacity| kind.is_none_or(|kind| OfferKind::from(capacity.kind) == kind))
            .filter(|capacity| {
                district
                    .as_ref()
                    .is_none_or(|district| capacity.district.as_ref() == Some(district))
            })
            .map(|capacity| Offer {
                offer_id: ID(capacity.offer.to_string()),
                kind: capacity.kind.into(),
                month: capacity.month.to_string(),
                district: capacity.district,
                provider: capacity.provider,
                quantity: capacity.quantity,
            })
            .collect();
        found.sort_by(|a, b| {
            (
                &a.month,
                a.kind as u8,
                &a.district,
                &a.provider,
                &a.offer_id.0,
            )
                .cmp(&(
                    &b.month,
                    b.kind as u8,
                    &b.district,
                    &b.provider,
                    &b.offer_id.0,
                ))
        });
        Ok(OfferList {
            as_of: Date(as_of),
            known_at: known_at.or(through),
            offers: found,
        })
    }
}
