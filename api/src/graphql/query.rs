//! Queries.

use async_graphql::{Context, Json, Object, Result, ID};
use chrono::{DateTime, Utc};
use journey_core::envelope::PersonId;
use journey_core::ledger::DecodedEvent;
use journey_core::log::{AllFrom, Direction, Position};

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
        // One entry for the read, naming every field it selects with its arguments (so `status`
        // and its `asOf`/`knownAt` are in it); only a field that is refused or fails writes its
        // own entry, and reading the vault (`personalData`) always does.
        let fields = selected_fields(ctx);
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "person".into(),
                person: Some(person.to_string()),
                query: Some(match known_at {
                    Some(known_at) => {
                        format!("knownAt {}; fields {fields}", known_at.to_rfc3339())
                    }
                    None => format!("fields {fields}"),
                }),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(Some(result?))
    }

    /// Every event of the log in global order, pseudonymised for analysis: person and actor ids are
    /// replaced by stable keyed pseudonyms, and payloads keep only the fields analysts may see.
    /// The volunteer register's events are left out (a page may then hold fewer than `first`).
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

/// The fields selected under the current field, fragments flattened, with their arguments:
/// `id revision status(asOf: "2024-06-01")`.
fn selected_fields(ctx: &Context<'_>) -> String {
    ctx.field()
        .selection_set()
        .map(|field| {
            let arguments = field
                .arguments()
                .ok()
                .filter(|arguments| !arguments.is_empty())
                .map(|arguments| {
                    let arguments: Vec<String> = arguments
                        .iter()
                        .map(|(name, value)| format!("{name}: {value}"))
                        .collect();
                    format!("({})", arguments.join(", "))
                })
                .unwrap_or_default();
            format!("{}{arguments}", field.name())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) async fn read_person(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<Person> {
    if let Access::Denied(message) = role_gate(principal) {
        return Err(ApiError::forbidden(message));
    }
    if known_at.is_none() {
        if let Some(known) = from_projections(state, person).await? {
            state.metrics.person_read(true);
            let (facts, revision, timeline) = match known {
                Known::Absent => return Err(not_in_ledger(person)),
                Known::Present {
                    facts,
                    revision,
                    timeline,
                } => (facts, revision, timeline),
            };
            let access = visibility::access(principal, &facts);
            if let Access::Denied(message) = access {
                return Err(ApiError::forbidden(message));
            }
            // The timeline just read for the facts serves the fields too, instead of a second read.
            return Ok(match timeline {
                Some(timeline) => Person::with_timeline(person, timeline, access, facts.erased),
                None => Person::at_revision(person, revision, access, facts.erased),
            });
        }
    }
    state.metrics.person_read(false);
    read_person_from_ledger(state, principal, person, known_at).await
}

fn not_in_ledger(person: PersonId) -> ApiError {
    ApiError::not_found(format!("{person} is not in the ledger"))
}

/// The ledger path of `person`: read and decode the whole stream, fold the facts, cut at `knownAt`.
/// Taken for `knownAt`, for erased persons and whenever the projections cannot show that they hold
/// every committed event of the person.
pub(crate) async fn read_person_from_ledger(
    state: &AppState,
    principal: &Principal,
    person: PersonId,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<Person> {
    let timeline = state.timeline(person).await?;
    if timeline.is_empty() {
        return Err(not_in_ledger(person));
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
    Ok(Person::with_timeline(person, cut, access, facts.erased))
}

/// What the projections know of a person, when they provably know everything the ledger has
/// committed for them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Known {
    /// No event of the person was committed when the read began.
    Absent,
    /// The facts of every event through `revision`, the stream's last committed revision when the
    /// read began (or a later one), and the timeline they were folded from when it was read for
    /// them (`None` when the facts came from the cache).
    Present {
        facts: PersonFacts,
        revision: u64,
        timeline: Option<Vec<DecodedEvent>>,
    },
}

/// The person's facts and revision, when the projections' journal shows which revision the ledger
/// holds for them (otherwise `None`: the caller reads the ledger).
///
/// The journal holds the person's events in stream order, fed by the log subscription, so it lags
/// the ledger by the events not applied yet. It gives the revision to read through when
/// - the projections have applied every position committed when the read began (the common case;
///   the journal then holds at least the stream's committed events), or else when the journal holds
///   the stream's committed head revision (read from the log), cut there;
/// - no revision up to that head is missing from the journal (it skips events whose payload can no
///   longer be opened), and the person is not erased (an erased journal keeps no facts).
///
/// The facts themselves are folded from the person's stream as the log holds it (read, opened and
/// decoded like the ledger path does), cut at that revision, and kept in `person_facts` by
/// (person, revision): the projections keep only what their read models need of each event, not
/// the whole event, and a repeated read of an unchanged person folds nothing. Either way every
/// event committed before the read began is in the facts, so a consent given or withdrawn (or any
/// other change) is reflected by the next read, as with the ledger path.
pub(crate) async fn from_projections(
    state: &AppState,
    person: PersonId,
) -> ApiResult<Option<Known>> {
    let Some(projections) = state.projections.as_ref() else {
        return Ok(None);
    };
    let head = state
        .log
        .last_position()
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let caught_up =
        projections.read(|projected| head.is_none_or(|head| projected.has_applied(head)));
    let through = if caught_up {
        None
    } else {
        match state
            .log
            .stream_revision(&person.stream_name())
            .await
            .map_err(|error| ApiError::internal(&error))?
        {
            Some(revision) => Some(revision),
            None => return Ok(None),
        }
    };
    let revision = projections.read(|projected| {
        match (projected.journals.get(&person), through) {
            // Caught up with the head and no journal: nothing of the person was committed.
            (None, None) => Some(None),
            (None, Some(_)) => None,
            (Some(journal), _) if journal.erased => None,
            (Some(journal), through) => {
                let facts = &journal.facts;
                let through = match through {
                    Some(through) => through,
                    None => u64::from(facts.last()?.revision),
                };
                let index = usize::try_from(through).ok()?;
                // Revisions in a journal strictly increase, so the fact at index `through` having
                // that revision means that none before it is missing.
                (u64::from(facts.get(index)?.revision) == through).then_some(Some(through))
            }
        }
    });
    let revision = match revision {
        None => return Ok(None),
        Some(None) => return Ok(Some(Known::Absent)),
        Some(Some(revision)) => revision,
    };
    if let Some(facts) = state.person_facts.get(person, revision) {
        return Ok(Some(Known::Present {
            facts,
            revision,
            timeline: None,
        }));
    }
    let mut timeline = state.timeline(person).await?;
    timeline.retain(|decoded| decoded.recorded.revision <= revision);
    // The stream holds every revision through `revision` (the journal saw them committed), so
    // anything else is a log that changed under the read: leave it to the ledger path.
    let complete = timeline.len() as u64 == revision + 1
        && timeline
            .iter()
            .enumerate()
            .all(|(index, decoded)| decoded.recorded.revision == index as u64);
    if !complete {
        return Ok(None);
    }
    let facts = PersonFacts::from_timeline(&timeline);
    state.person_facts.insert(person, revision, facts.clone());
    Ok(Some(Known::Present {
        facts,
        revision,
        timeline: Some(timeline),
    }))
}

/// Roles that never see a person, decided before anything is read (so they learn nothing, not even
/// whether the person exists).
fn role_gate(principal: &Principal) -> Access {
    match principal.role {
        Role::Analyst | Role::Auditor | Role::Replication | Role::Replica => {
            visibility::access(principal, &PersonFacts::default())
        }
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
    // The cursor is the position of the previous page's last event; the log says what follows it.
    let start = AllFrom::after(parse_cursor(after)?.map(Position::from_raw));
    let page = state
        .log
        .read_all(start, Direction::Forwards, size + 1)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let has_next_page = page.len() > size;
    let mut edges = Vec::with_capacity(size.min(page.len()));
    for recorded in page.into_iter().take(size) {
        if !crate::pseudonym::in_analysts_feed(&recorded.stream) {
            continue;
        }
        let decoded = state
            .ledger
            .decode(recorded)
            .map_err(|error| ApiError::internal(&error))?;
        let view = state.pseudonyms.view(&decoded);
        let node = AnalystEvent {
            position: view.position,
            person: view.person,
            revision: view.revision,
            event_id: view.event_id,
            event_type: view.event_type,
            version: view.version,
            occurred_on: Date(view.occurred_on),
            recorded_at: view.recorded_at,
            actor: AnalystActor {
                pseudonym: view.actor_pseudonym,
                agency: view.actor_agency.map(Agency::from),
                role: view.actor_role.into(),
            },
            correlation_id: view.correlation_id,
            causation_id: view.causation_id,
            data: view.data.map(Json),
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
