//! Queries.

use std::sync::Arc;

use async_graphql::{Context, Json, Object, Result, ID};
use chrono::{DateTime, Utc};
use journey_core::envelope::PersonId;

use super::enums::Agency;
use super::scalars::Date;
use super::types::*;
use super::{audit, outcome, page_size, parse_cursor, parse_person, principal, state};
use crate::audit::AuditRecord;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::visibility::{self, Access, PersonFacts};

#[derive(Debug, Default)]
pub struct LedgerQuery;

#[Object]
impl LedgerQuery {
    /// The caller, or null without a token.
    async fn me(&self, ctx: &Context<'_>) -> Option<Me> {
        ctx.data_opt::<Principal>().map(Me::from)
    }

    /// One person as the caller may see them, with the timeline as recorded up to `knownAt`
    /// (default: now). Caseworkers see persons their agency works with or holds an active consent
    /// for; coordinators see mentoring facts only; admins see everyone. Every read is audited.
    async fn person(
        &self,
        ctx: &Context<'_>,
        id: ID,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Person>> {
        let principal = principal(ctx)?;
        let person = parse_person(&id, "id")?;
        let result = read_person(state(ctx), principal, person, known_at).await;
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "person".into(),
                person: Some(person.to_string()),
                query: known_at.map(|known_at| format!("knownAt {}", known_at.to_rfc3339())),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(Some(result?))
    }

    /// Every event of the log in global order, pseudonymised for analysis: person and actor ids are
    /// replaced by stable keyed pseudonyms, and payloads keep only the fields analysts may see.
    /// Analysts and admins.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<AnalystEventConnection> {
        let principal = principal(ctx)?;
        let result = analyst_events(state(ctx), principal, after.as_deref(), first).await;
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "events".into(),
                query: Some(format!(
                    "after {} first {}",
                    after.as_deref().unwrap_or("-"),
                    first.map_or_else(|| "-".to_owned(), |first| first.to_string())
                )),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// The audit log, oldest first. Auditors and admins.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> Result<AuditEntryConnection> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = audit_page(state, principal, after.as_deref(), first);
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "auditLog".into(),
                query: Some(format!(
                    "after {} first {}",
                    after.as_deref().unwrap_or("-"),
                    first.map_or_else(|| "-".to_owned(), |first| first.to_string())
                )),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }
}

async fn read_person(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<Person> {
    if let Access::Denied(message) = role_gate(principal) {
        return Err(ApiError::forbidden(message));
    }
    let timeline = state.timeline(person).await?;
    if timeline.is_empty() {
        return Err(ApiError::not_found(format!(
            "{person} is not in the ledger"
        )));
    }
    let facts = PersonFacts::from_timeline(&timeline);
    let access = visibility::access(principal, &facts);
    if let Access::Denied(message) = access {
        return Err(ApiError::forbidden(message));
    }
    let cut: Vec<_> = match known_at {
        Some(known_at) => timeline
            .into_iter()
            .filter(|decoded| decoded.recorded.event.recorded_at <= known_at)
            .collect(),
        None => timeline,
    };
    if cut.is_empty() {
        return Err(ApiError::not_found(format!(
            "{person} had not been recorded yet at knownAt"
        )));
    }
    Ok(Person {
        id: person,
        timeline: Arc::new(cut),
        access,
        erased: facts.erased,
    })
}

/// Roles that never see a person, decided before anything is read (so they learn nothing, not even
/// whether the person exists).
fn role_gate(principal: &Principal) -> Access {
    match principal.role {
        Role::Analyst | Role::Auditor => visibility::access(principal, &PersonFacts::default()),
        _ => Access::Full,
    }
}

async fn analyst_events(
    state: &AppState,
    principal: &Principal,
    after: Option<&str>,
    first: Option<i32>,
) -> ApiResult<AnalystEventConnection> {
    if !matches!(principal.role, Role::Analyst | Role::Admin) {
        return Err(ApiError::forbidden(
            "the pseudonymised event feed is for analysts (and admins)",
        ));
    }
    let size = page_size(first, &state.limits)?;
    let start = match parse_cursor(after)? {
        Some(position) => position.saturating_add(1),
        None => 0,
    };
    let page = state
        .log
        .read_all(start, size + 1)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let has_next_page = page.len() > size;
    let mut edges = Vec::with_capacity(size.min(page.len()));
    for recorded in page.into_iter().take(size) {
        let decoded = state
            .ledger
            .decode(recorded)
            .map_err(|error| ApiError::internal(&error))?;
        let pseudonyms = &state.pseudonyms;
        let envelope = &decoded.recorded.event;
        let person = match PersonId::from_stream_name(&decoded.recorded.stream) {
            Ok(person) => pseudonyms.person(&person),
            Err(_) => pseudonyms.pseudonym("s", &decoded.recorded.stream),
        };
        let node = AnalystEvent {
            position: decoded.recorded.position,
            person,
            revision: decoded.recorded.revision,
            event_id: envelope.id,
            event_type: envelope.event_type.clone(),
            version: envelope.version,
            occurred_on: Date(envelope.occurred_on),
            recorded_at: envelope.recorded_at,
            actor: AnalystActor {
                pseudonym: pseudonyms.actor(&envelope.actor.id),
                agency: envelope.actor.agency.map(Agency::from),
                role: envelope.actor.role.into(),
            },
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            data: pseudonyms.event_data(&decoded).map(Json),
        };
        edges.push(AnalystEventEdge {
            cursor: node.position.to_string(),
            node,
        });
    }
    Ok(AnalystEventConnection {
        page_info: PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
    })
}

fn audit_page(
    state: &AppState,
    principal: &Principal,
    after: Option<&str>,
    first: Option<i32>,
) -> ApiResult<AuditEntryConnection> {
    if !matches!(principal.role, Role::Auditor | Role::Admin) {
        return Err(ApiError::forbidden(
            "the audit log is for auditors (and admins)",
        ));
    }
    let size = page_size(first, &state.limits)?;
    let after = parse_cursor(after)?;
    let entries = state
        .audit
        .read(after, size + 1)
        .map_err(|error| ApiError::internal(&error))?;
    let has_next_page = entries.len() > size;
    let edges: Vec<AuditEntryEdge> = entries
        .into_iter()
        .take(size)
        .map(|entry| AuditEntryEdge {
            cursor: entry.seq.to_string(),
            node: AuditEntry::from(entry),
        })
        .collect();
    Ok(AuditEntryConnection {
        page_info: PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
    })
}
