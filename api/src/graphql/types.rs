//! Output types of the schema.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use journey_core::catalogue::{Event, EventType as CoreEventType};
use journey_core::envelope::PersonId;
use journey_core::ledger::DecodedEvent;
use serde_json::Value;
use uuid::Uuid;

use super::enums::{ActorRole, Agency, EventStatus, Role};
use super::scalars::Date;
use super::{audit, principal, state};
use crate::audit::{AuditEntry as StoredAuditEntry, AuditRecord};
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::visibility::{self, Access};

/// The caller.
#[derive(SimpleObject, Debug, Clone)]
pub struct Me {
    pub token_id: String,
    pub name: Option<String>,
    pub role: Role,
    pub agency: Option<Agency>,
}

impl From<&Principal> for Me {
    fn from(principal: &Principal) -> Self {
        Self {
            token_id: principal.token_id.clone(),
            name: principal.name.clone(),
            role: principal.role.into(),
            agency: principal.agency.map(Agency::from),
        }
    }
}

/// What a mutation recorded.
#[derive(SimpleObject, Debug, Clone)]
pub struct Receipt {
    pub person_id: ID,
    pub event_id: Uuid,
    /// The stream's revision after the append (the revision of its last event).
    pub revision: u64,
    /// The event's position in the global log.
    pub position: u64,
    /// True when this event id was already recorded with the same content: nothing new was written.
    pub already_recorded: bool,
}

/// What `appendEvents` recorded.
#[derive(SimpleObject, Debug, Clone)]
pub struct BatchReceipt {
    pub person_id: ID,
    pub revision: u64,
    /// Positions of the newly written events; null when all were already recorded.
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
    pub written: u64,
    pub already_recorded: u64,
}

/// Who recorded an event.
#[derive(SimpleObject, Debug, Clone)]
pub struct EventActor {
    pub id: String,
    pub agency: Option<Agency>,
    pub role: ActorRole,
}

/// One event of a person's timeline, decoded. Corrections and retractions are events of their
/// own; `status` tells how each event stands after them.
#[derive(SimpleObject, Debug, Clone)]
pub struct TimelineEvent {
    pub position: u64,
    pub revision: u64,
    pub event_id: Uuid,
    #[graphql(name = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_on: Date,
    pub recorded_at: DateTime<Utc>,
    pub actor: EventActor,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The payload as recorded (wire form, at its recorded version); null once the person was erased.
    pub data: Option<Json<Value>>,
    pub status: EventStatus,
    /// For `EventCorrected` and `EventRetracted`: the event they are about.
    pub target_event_id: Option<Uuid>,
    pub prev_hash: String,
    pub hash: String,
}

/// The status of every event of a timeline: which were corrected or retracted later.
pub fn statuses(timeline: &[DecodedEvent]) -> HashMap<Uuid, EventStatus> {
    let mut corrected = HashSet::new();
    let mut retracted = HashSet::new();
    for decoded in timeline {
        match &decoded.event {
            Some(Event::EventCorrected(correction)) => {
                corrected.insert(correction.target_event_id);
            }
            Some(Event::EventRetracted(retraction)) => {
                retracted.insert(retraction.target_event_id);
            }
            _ => {}
        }
    }
    timeline
        .iter()
        .map(|decoded| {
            let id = decoded.recorded.event.id;
            let governance = CoreEventType::from_name(&decoded.recorded.event.event_type)
                .is_some_and(|event_type| event_type.is_governance());
            let status = if governance {
                EventStatus::Governance
            } else if retracted.contains(&id) {
                EventStatus::Retracted
            } else if corrected.contains(&id) {
                EventStatus::Corrected
            } else {
                EventStatus::Effective
            };
            (id, status)
        })
        .collect()
}

impl TimelineEvent {
    pub fn new(decoded: &DecodedEvent, status: EventStatus) -> Self {
        let recorded = &decoded.recorded;
        let event = &recorded.event;
        let target_event_id = match &decoded.event {
            Some(Event::EventCorrected(correction)) => Some(correction.target_event_id),
            Some(Event::EventRetracted(retraction)) => Some(retraction.target_event_id),
            _ => None,
        };
        Self {
            position: recorded.position.raw(),
            revision: recorded.revision,
            event_id: event.id,
            event_type: event.event_type.clone(),
            version: event.version,
            occurred_on: Date(event.occurred_on),
            recorded_at: event.recorded_at,
            actor: EventActor {
                id: decoded.actor.id.clone(),
                agency: decoded.actor.agency.map(Agency::from),
                role: decoded.actor.role.into(),
            },
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            data: decoded.data.clone().map(Json),
            status,
            target_event_id,
            prev_hash: hex::encode(event.prev_hash),
            hash: hex::encode(event.hash),
        }
    }
}

/// A consent as recorded, and its withdrawal.
#[derive(SimpleObject, Debug, Clone)]
pub struct Consent {
    pub consent_id: String,
    pub recipients: Vec<Agency>,
    pub purpose: String,
    pub form_version: String,
    pub given_on: Date,
    /// When the consent was recorded: it is in force from then.
    pub given_at: DateTime<Utc>,
    pub withdrawn_on: Option<Date>,
    /// When the withdrawal was recorded: from then on it is no longer in force.
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub active: bool,
}

/// Names, birth date, phone and address from the vault.
#[derive(SimpleObject, Debug, Clone)]
pub struct PersonalData {
    pub given_names: String,
    pub family_name: String,
    pub birth_date: Option<Date>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// A person as the caller may see them, at one revision of their stream (the last event visible at
/// `knownAt`). Visibility and the revision are decided before the `Person` exists (from the
/// projections' journal or from the ledger's timeline, see `query::read_person`); the timeline
/// itself is read from the ledger only when a field needs it, and then cut at that revision, so
/// every field of one answer describes the same events.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: PersonId,
    /// The revision of the last event visible at `knownAt`.
    pub revision: u64,
    pub access: Access,
    pub erased: bool,
    /// The timeline through `revision`, once read.
    timeline: Arc<tokio::sync::OnceCell<Arc<Vec<DecodedEvent>>>>,
}

impl Person {
    /// A person whose timeline (cut at `knownAt`, not empty) was already read.
    pub fn with_timeline(
        id: PersonId,
        timeline: Vec<DecodedEvent>,
        access: Access,
        erased: bool,
    ) -> Self {
        let revision = timeline
            .last()
            .map_or(0, |decoded| decoded.recorded.revision);
        Self {
            id,
            revision,
            access,
            erased,
            timeline: Arc::new(tokio::sync::OnceCell::new_with(Some(Arc::new(timeline)))),
        }
    }

    /// A person decided at `revision` whose timeline is read when a field asks for it.
    pub fn at_revision(id: PersonId, revision: u64, access: Access, erased: bool) -> Self {
        Self {
            id,
            revision,
            access,
            erased,
            timeline: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The timeline through `revision`, read and decoded from the ledger on first use.
    pub async fn timeline_cut(&self, ctx: &Context<'_>) -> Result<Arc<Vec<DecodedEvent>>> {
        let state = state(ctx);
        let timeline = self
            .timeline
            .get_or_try_init(|| async {
                let mut timeline = state.timeline(self.id).await?;
                timeline.retain(|decoded| decoded.recorded.revision <= self.revision);
                Ok::<_, ApiError>(Arc::new(timeline))
            })
            .await?;
        Ok(timeline.clone())
    }
}

#[Object]
impl Person {
    /// `person-<uuid>`.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The revision of the last event visible at `knownAt`; null for a coordinator.
    async fn revision(&self) -> Option<u64> {
        match self.access {
            Access::Full => Some(self.revision),
            _ => None,
        }
    }

    /// Whether the person's personal data was erased (events remain, their payloads are unreadable).
    async fn erased(&self) -> bool {
        self.erased
    }

    /// Every event recorded up to `knownAt`, in stream order; a coordinator sees the mentoring
    /// events only.
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Vec<TimelineEvent>> {
        let timeline = self.timeline_cut(ctx).await?;
        let statuses = statuses(&timeline);
        Ok(timeline
            .iter()
            .filter(|decoded| match self.access {
                Access::Full => true,
                _ => visibility::is_mentoring(&decoded.recorded.event.event_type),
            })
            .map(|decoded| {
                TimelineEvent::new(
                    decoded,
                    statuses
                        .get(&decoded.recorded.event.id)
                        .copied()
                        .unwrap_or(EventStatus::Effective),
                )
            })
            .collect())
    }

    /// Where the person stands on `asOf` (default: today) in the records known at `knownAt`
    /// (default: now), from the projections; null when the person is not in that cut (not yet
    /// registered, or erased). Not for coordinators. Audited.
    async fn status(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Option<super::readmodels::PersonStatus>> {
        let state = state(ctx);
        let principal = principal(ctx)?;
        // Refused before any wait for the cut.
        let result = if self.access != Access::Full {
            Err(ApiError::forbidden("coordinators see mentoring facts only"))
        } else if let Err(error) = super::readmodels::reach_cut(state, known_at).await {
            Err(error)
        } else {
            state.projections().map(|projections| {
                let as_of = as_of.map_or_else(|| projections.today(), |date| date.0);
                let views = projections.views(known_at);
                views
                    .view(self.id)
                    .map(|view| super::readmodels::PersonStatus::of(view, as_of))
            })
        };
        // A status served is part of the `person` read, whose entry names the field and its
        // arguments; a refused or failed one gets its own entry.
        if result.is_err() {
            audit(
                ctx,
                AuditRecord {
                    principal: Some(principal.clone()),
                    operation: "person.status".into(),
                    person: Some(self.id.to_string()),
                    query: Some(format!(
                        "asOf {} knownAt {}",
                        as_of.map_or_else(|| "-".to_owned(), |date| date.0.to_string()),
                        known_at.map_or_else(|| "-".to_owned(), |time| time.to_rfc3339())
                    )),
                    outcome: super::outcome(&result),
                    ..AuditRecord::default()
                },
            )?;
        }
        Ok(result?)
    }

    /// Consents given, active or withdrawn, as recorded up to `knownAt`.
    async fn consents(&self, ctx: &Context<'_>) -> Result<Vec<Consent>> {
        if self.access != Access::Full {
            return Err(ApiError::forbidden("coordinators see mentoring facts only").into());
        }
        let timeline = self.timeline_cut(ctx).await?;
        Ok(visibility::consents(&timeline)
            .into_iter()
            .map(|consent| Consent {
                active: consent.is_active(),
                consent_id: consent.consent_id,
                recipients: consent.recipients.into_iter().map(Agency::from).collect(),
                purpose: consent.purpose,
                form_version: consent.form_version,
                given_on: Date(consent.given_on),
                given_at: consent.given_at,
                withdrawn_on: consent.withdrawn_on.map(Date),
                withdrawn_at: consent.withdrawn_at,
            })
            .collect())
    }

    /// The person's direct identifiers from the vault (every read is audited); null when none were
    /// stored or the person was erased.
    async fn personal_data(&self, ctx: &Context<'_>) -> Result<Option<PersonalData>> {
        let state = state(ctx);
        let principal = principal(ctx)?;
        let outcome = if self.access == Access::Full {
            "ok"
        } else {
            Code::Forbidden.as_str()
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "person.personalData".into(),
                person: Some(self.id.to_string()),
                outcome: outcome.into(),
                ..AuditRecord::default()
            },
        )?;
        if self.access != Access::Full {
            return Err(ApiError::forbidden("coordinators see mentoring facts only").into());
        }
        if self.erased {
            return Ok(None);
        }
        let data = match state.vault.get(state.ledger.keys(), self.id) {
            Ok(data) => data,
            Err(journey_core::vault::VaultError::Erased(_)) => None,
            Err(error) => return Err(ApiError::internal(&error).into()),
        };
        Ok(data.map(|data| PersonalData {
            given_names: data.given_names,
            family_name: data.family_name,
            birth_date: data.birth_date.map(Date),
            phone: data.phone,
            address: data.address,
        }))
    }
}

/// Pagination of a connection.
#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Pass as `after` to get the next page.
    pub end_cursor: Option<String>,
}

/// An event with pseudonyms instead of ids and only the payload fields analysts may see.
#[derive(SimpleObject, Debug, Clone)]
pub struct AnalystEvent {
    pub position: u64,
    /// A stable pseudonym of the person (`p-…`).
    pub person: String,
    pub revision: u64,
    pub event_id: Uuid,
    #[graphql(name = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_on: Date,
    pub recorded_at: DateTime<Utc>,
    pub actor: AnalystActor,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    /// The filtered payload (see README: analyst view); null once the person was erased.
    pub data: Option<Json<Value>>,
}

/// The actor of an analyst event: a pseudonym with agency and role.
#[derive(SimpleObject, Debug, Clone)]
pub struct AnalystActor {
    pub pseudonym: String,
    pub agency: Option<Agency>,
    pub role: ActorRole,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AnalystEventEdge {
    pub cursor: String,
    pub node: AnalystEvent,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AnalystEventConnection {
    pub edges: Vec<AnalystEventEdge>,
    pub page_info: PageInfo,
}

/// One entry of the audit log.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    pub role: Option<String>,
    pub agency: Option<String>,
    pub operation: String,
    pub person_id: Option<String>,
    pub query: Option<String>,
    pub reason: Option<String>,
    /// `ok` or the error code the caller received.
    pub outcome: String,
    pub prev_hash: String,
    pub hash: String,
}

#[ComplexObject]
impl AuditEntry {
    /// Whether `hash` is what this entry's content and `prevHash` hash to.
    async fn hash_valid(&self) -> bool {
        let stored = StoredAuditEntry::from(self.clone());
        crate::audit::entry_hash_matches(&stored)
    }
}

impl From<StoredAuditEntry> for AuditEntry {
    fn from(entry: StoredAuditEntry) -> Self {
        Self {
            seq: entry.seq,
            at: entry.at,
            token_id: entry.token_id,
            token_name: entry.token_name,
            role: entry.role,
            agency: entry.agency,
            operation: entry.operation,
            person_id: entry.person,
            query: entry.query,
            reason: entry.reason,
            outcome: entry.outcome,
            prev_hash: entry.prev_hash,
            hash: entry.hash,
        }
    }
}

impl From<AuditEntry> for StoredAuditEntry {
    fn from(entry: AuditEntry) -> Self {
        Self {
            seq: entry.seq,
            at: entry.at,
            token_id: entry.token_id,
            token_name: entry.token_name,
            role: entry.role,
            agency: entry.agency,
            operation: entry.operation,
            person: entry.person_id,
            query: entry.query,
            reason: entry.reason,
            outcome: entry.outcome,
            prev_hash: entry.prev_hash,
            hash: entry.hash,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntryEdge {
    pub cursor: String,
    pub node: AuditEntry,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntryConnection {
    pub edges: Vec<AuditEntryEdge>,
    pub page_info: PageInfo,
}
