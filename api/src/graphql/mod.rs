//! The GraphQL schema: queries, mutations and subscriptions over the ledger.
//!
//! Resolvers find the [`AppState`] in the schema's data and the caller's [`Principal`] (absent for
//! a request without a token) and [`RequestReason`] in the request's data. Every resolver that
//! touches person-level data checks the caller through [`crate::visibility`] and writes an audit
//! entry, also when it refuses.

mod accepted_next;
pub mod checklist;
pub mod enums;
pub mod fields_limit;
pub mod inputs;
pub(crate) mod mutation;
pub mod offers;
pub mod promising;
mod query;
mod ranked_page;
pub mod read_replica;
pub mod readmodels;
pub mod registers;
pub mod scalars;
mod search;
mod subscription;
pub mod types;
pub mod volunteers;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema, ID};
use journey_core::envelope::PersonId;

/// Every query: the ledger's (`me`, `person`, `events`, `auditLog`) and the projections'.
#[derive(MergedObject, Default, Debug)]
pub struct Query(
    query::LedgerQuery,
    readmodels::ReadModelQuery,
    registers::RegisterQuery,
    promising::PromisingQuery,
    checklist::ChecklistQuery,
    search::SearchQuery,
    offers::OfferQuery,
    accepted_next::AcceptedNextQuery,
    volunteers::VolunteerQuery,
);

/// Every mutation: one per person event type and `appendEvents`, the offers' and the volunteers'.
#[derive(MergedObject, Default, Debug)]
pub struct Mutation(
    mutation::PersonMutation,
    offers::OfferMutation,
    volunteers::VolunteerMutation,
);

/// Every subscription: `personEvents` and `kpiChanged`.
#[derive(MergedSubscription, Default, Debug)]
pub struct Subscription(
    subscription::PersonSubscription,
    subscription::KpiSubscription,
);

use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::config::Limits;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub type JourneySchema = Schema<Query, Mutation, Subscription>;

/// The reason the client gave for a request (`X-Journey-Reason`), recorded in the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestReason(pub Option<String>);

/// The schema over `state`, with the depth, complexity and field-count limits applied.
pub fn build(state: AppState) -> JourneySchema {
    let limits = state.limits.clone();
    builder(&limits).data(state).finish()
}

fn builder(limits: &Limits) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(limits.depth_max)
    .limit_complexity(limits.complexity_max)
    .extension(fields_limit::FieldsLimit {
        max: limits.fields_max,
    })
    .extension(read_replica::RefuseWrites)
}

/// The schema in SDL, as checked in at `schemas/graphql/schema.graphql`.
pub fn sdl() -> String {
    builder(&Limits::default()).finish().sdl()
}

pub(crate) fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub(crate) fn principal<'a>(ctx: &Context<'a>) -> ApiResult<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(ApiError::unauthenticated)
}

/// Writes an audit entry, adding the request's reason.
pub(crate) fn audit(ctx: &Context<'_>, mut record: AuditRecord) -> ApiResult<()> {
    if record.reason.is_none() {
        record.reason = ctx
            .data_opt::<RequestReason>()
            .and_then(|reason| reason.0.clone());
    }
    state(ctx).audit(record).map(|_| ())
}

/// Parses a person id argument; `field` names it in the error.
pub(crate) fn parse_person(id: &ID, field: &str) -> ApiResult<PersonId> {
    id.parse::<PersonId>().map_err(|error| {
        ApiError::validation(
            field,
            format!("{error}; give `person-<uuid>` or the bare uuid"),
        )
    })
}

/// `ok`, or the code of the error: what the audit log records as the outcome.
pub(crate) fn outcome<T>(result: &ApiResult<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => error.code.as_str().to_owned(),
    }
}

/// The page size of a connection: `first`, at most `page_size_max`.
pub(crate) fn page_size(first: Option<i32>, limits: &Limits) -> ApiResult<usize> {
    const DEFAULT: usize = 100;
    match first {
        None => Ok(DEFAULT.min(limits.page_size_max)),
        Some(first) if first < 1 => Err(ApiError::validation(
            "first",
            format!("first must be at least 1, is {first}"),
        )),
        Some(first) if first as usize > limits.page_size_max => Err(ApiError::limit(
            "pageSizeMax",
            format!(
                "first is {first}, but a page holds at most {} items; page through with `after`",
                limits.page_size_max
            ),
        )),
        Some(first) => Ok(first as usize),
    }
}

/// Parses an `after` cursor (a position or sequence number).
pub(crate) fn parse_cursor(after: Option<&str>) -> ApiResult<Option<u64>> {
    after
        .map(|cursor| {
            cursor.parse::<u64>().map_err(|_| {
                ApiError::validation(
                    "after",
                    format!(
                        "`{cursor}` is not a cursor: pass the `endCursor` of the previous page"
                    ),
                )
            })
        })
        .transpose()
}
