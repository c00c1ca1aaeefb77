//! Queries answered from the projections: person status, the people list, caseloads, the course
//! waiting list, the idle list, and the indicators of the KPI catalogue.
//!
//! Person-level lists show a caseworker only the persons visible to their agency (decided on the
//! live view, see [`crate::visibility::sees_in_view`]); admins see everyone; the other roles see
//! none of them. Indicators are for every role, with small-cell suppression for everyone but
//! admins. Every request is audited.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use journey_core::envelope::PersonId;
use journey_projections::kpi::{self, KpiError, KpiResult as CoreKpiResult, Suppression};
use journey_projections::models::{self, PeopleFilter as CorePeopleFilter};
use journey_projections::view::PersonView;
use journey_projections::{KpiRequest, ProjectionError, ViewSet};

use super::enums::{
    ActivityKind, Agency, CountingUnit, CourseStatus, Dimension, ProtectionStatus, ResidenceStatus,
    Stage,
};
use super::scalars::Date;
use super::{audit, outcome, page_size, principal, state};
use crate::audit::AuditRecord;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::visibility;

/// Where a person stands on a reporting date, from the projections.
#[derive(SimpleObject, Debug, Clone)]
pub struct PersonStatus {
    pub as_of: Date,
    /// Arrived and not moved away by `asOf`.
    pub present: bool,
    pub stage: Stage,
    /// Activities open on `asOf`, by start date.
    pub open_activities: Vec<OpenActivity>,
    pub course_status: CourseStatus,
    pub residence_status: Option<ResidenceStatus>,
    pub protection_status: Option<ProtectionStatus>,
    /// The district as of `asOf` (the last known one for a person who moved away).
    pub district: Option<String>,
    /// Agencies involved by `asOf`, in the order they appeared.
    pub agencies: Vec<Agency>,
}

/// An activity open on the reporting date.
#[derive(SimpleObject, Debug, Clone)]
pub struct OpenActivity {
    pub kind: ActivityKind,
    pub since: Date,
    /// The course, measure, training or employment id; null for school and Kita.
    pub id: Option<String>,
    /// The course type, measure type, occupation code, employment kind or school type.
    pub detail: Option<String>,
}

impl PersonStatus {
    pub fn of(view: &PersonView, as_of: NaiveDate) -> Self {
        let status = models::person_status(view, as_of);
        Self {
            as_of: Date(as_of),
            present: status.present,
            stage: status.stage.into(),
            open_activities: status
                .open_activities
                .into_iter()
                .map(|activity| OpenActivity {
                    kind: activity.kind.into(),
                    since: Date(activity.since),
                    id: activity.id,
                    detail: activity.detail,
                })
                .collect(),
            course_status: status.course_status.into(),
            residence_status: status.residence_status.map(Into::into),
            protection_status: status.protection_status.map(Into::into),
            district: status.district,
            agencies: status.agencies.into_iter().map(Into::into).collect(),
        }
    }
}

/// A filter of `people`; every field given must match as of `asOf`.
#[derive(InputObject, Debug, Clone, Default)]
pub struct PeopleFilter {
    /// Also list persons not present on `asOf` (moved away, or not arrived yet).
    #[graphql(default)]
    pub include_absent: bool,
    pub district: Option<String>,
    pub stage: Option<Stage>,
    /// An agency involved with the person by `asOf`.
    pub agency: Option<Agency>,
    /// Idle more than this many days on `asOf`, by the same rule as `idleList`'s `minDays`.
    pub min_idle_days: Option<u32>,
    pub course_status: Option<CourseStatus>,
}

impl From<PeopleFilter> for CorePeopleFilter {
    fn from(filter: PeopleFilter) -> Self {
        Self {
            include_absent: filter.include_absent,
            district: filter.district,
            stage: filter.stage.map(Into::into),
            agency: filter.agency.map(Into::into),
            min_idle_days: filter.min_idle_days,
            course_status: filter.course_status.map(Into::into),
        }
    }
}

/// One person of `people`.
#[derive(SimpleObject, Debug, Clone)]
pub struct PersonSummary {
    pub id: ID,
    pub status: PersonStatus,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PersonSummaryEdge {
    /// The person id: pass it as `after` to continue behind it.
    pub cursor: String,
    pub node: PersonSummary,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PersonSummaryConnection {
    pub edges: Vec<PersonSummaryEdge>,
    pub page_info: super::types::PageInfo,
    /// The transaction-time cut this page was taken at: the `knownAt` asked for, or for a live
    /// answer the time of the latest record it covers. Asking again with it gives the same page.
    pub known_at: DateTime<Utc>,
}

/// The persons of one caseworker.
#[derive(SimpleObject, Debug, Clone)]
pub struct CaseworkerCaseload {
    pub caseworker_id: String,
    pub person_count: u64,
    pub persons: Vec<ID>,
}

/// The persons present on `asOf` whom an agency works with, and the same per caseworker of it.
#[derive(SimpleObject, Debug, Clone)]
pub struct AgencyCaseload {
    pub agency: Agency,
    pub person_count: u64,
    pub persons: Vec<ID>,
    pub caseworkers: Vec<CaseworkerCaseload>,
}

/// A course registration waiting for its course to start.
#[derive(SimpleObject, Debug, Clone)]
pub struct WaitingEntry {
    pub person_id: ID,
    pub course_id: String,
    pub course_type: super::enums::CourseType,
    pub provider: String,
    pub registered_on: Date,
    pub days_waiting: i64,
    pub district: Option<String>,
}

/// A person idle for longer than the list's minimum.
#[derive(SimpleObject, Debug, Clone)]
pub struct IdleEntry {
    pub person_id: ID,
    pub idle_days: i64,
    pub idle_since: Date,
    pub last_activity: Option<ActivityKind>,
    pub stage: Stage,
    pub district: Option<String>,
}

/// One value of one dimension of a cell.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct KpiDimensionValue {
    pub dimension: Dimension,
    /// As written on the wire; `unknown` (recorded as unknown) and `none` (nothing recorded) differ.
    pub value: String,
}

/// One figure of a cell. A suppressed figure has `suppressed: true` and null value, numerator,
/// denominator and persons: never a number.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct KpiMeasure {
    pub name: String,
    pub value: Option<f64>,
    pub numerator: Option<u64>,
    pub denominator: Option<u64>,
    /// The persons the figure is about (the count disclosure control compares with k).
    pub persons: Option<u64>,
    pub suppressed: bool,
}

/// A cell of an indicator's table. `value`, `numerator`, `denominator` and `suppressed` are those of
/// the indicator's first measure; `measures` has every one.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct KpiCell {
    /// One value per dimension; a margin lists only the dimension it keeps, the total none.
    pub dimensions: Vec<KpiDimensionValue>,
    pub counting_unit: CountingUnit,
    pub value: Option<f64>,
    pub numerator: Option<u64>,
    pub denominator: Option<u64>,
    pub suppressed: bool,
    pub measures: Vec<KpiMeasure>,
}

/// The answer of `kpi` and `chainFunnel`.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct KpiResult {
    pub key: String,
    pub as_of: Date,
    /// The transaction-time cut of the answer: the `knownAt` asked for, or for a live answer the
    /// time of the latest record it covers. Asking again with it gives the same answer, also after
    /// later records and restarts, unless a person was erased since (see `metadata.erasedPersons`).
    pub known_at: DateTime<Utc>,
    pub counting_unit: CountingUnit,
    /// What the shares and durations are taken over.
    pub denominator: String,
    /// The dimensions of the table, an implicit one first.
    pub by: Vec<Dimension>,
    /// The suppression threshold applied (cells about fewer persons are suppressed), or null when
    /// the caller sees unsuppressed figures.
    pub suppression_k: Option<u32>,
    pub cells: Vec<KpiCell>,
    /// The margins of a two-way table (first dimension, then second); empty otherwise.
    pub margins: Vec<KpiCell>,
    pub total: KpiCell,
    /// Counts about the answer as a whole: persons it leaves out or places approximately.
    pub metadata: KpiMetadata,
}

/// Counts about a KPI answer as a whole rather than about a cell.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct KpiMetadata {
    /// Persons present on the reporting date left out of the indicator's age group (working age,
    /// children) because their birth year is unknown; 0 for indicators that do not depend on age.
    pub unknown_birth_year_excluded: u64,
    /// When the table is laid out by `YEARS_SINCE_ENTRY`: the persons in it whose years were counted
    /// from their first arrival because no entry date into Germany is recorded; null otherwise.
    pub entry_date_fallbacks: Option<u64>,
    /// Persons erased so far. Erasure removes a person from every cut, past `knownAt`s included,
    /// so an earlier answer asked again may count fewer persons; this says how many are missing
    /// for that reason.
    pub erased_persons: u64,
}

impl KpiResult {
    pub fn from_core(result: &CoreKpiResult) -> Self {
        let unit = CountingUnit::from(result.counting_unit);
        let cell = |cell: &kpi::Cell| {
            let measures: Vec<KpiMeasure> = cell
                .measures
                .iter()
                .map(|measure| {
                    // A suppressed measure carries no number, whatever the engine left in it.
                    let shown = !measure.suppressed;
                    KpiMeasure {
                        name: measure.name.clone(),
                        value: measure.value.filter(|_| shown),
                        numerator: measure.numerator.filter(|_| shown),
                        denominator: measure.denominator.filter(|_| shown),
                        persons: measure.persons.filter(|_| shown),
                        suppressed: measure.suppressed,
                    }
                })
                .collect();
            let first = measures.first();
            KpiCell {
                dimensions: cell
                    .dimensions
                    .iter()
                    .map(|value| KpiDimensionValue {
                        dimension: value.dimension.into(),
                        value: value.value.clone(),
                    })
                    .collect(),
                counting_unit: unit,
                value: first.and_then(|measure| measure.value),
                numerator: first.and_then(|measure| measure.numerator),
                denominator: first.and_then(|measure| measure.denominator),
                suppressed: first.is_some_and(|measure| measure.suppressed),
                measures,
            }
        };
        Self {
            key: result.key.clone(),
            as_of: Date(result.as_of),
            known_at: result.known_at,
            counting_unit: unit,
            denominator: result.denominator.clone(),
            by: result.by.iter().copied().map(Into::into).collect(),
            suppression_k: result.suppression.map(|suppression| suppression.k),
            cells: result.cells.iter().map(cell).collect(),
            margins: result.margins.iter().map(cell).collect(),
            total: cell(&result.total),
            metadata: KpiMetadata {
                unknown_birth_year_excluded: result.metadata.unknown_birth_year_excluded,
                entry_date_fallbacks: result.metadata.entry_date_fallbacks,
                erased_persons: result.metadata.erased_persons,
            },
        }
    }
}

/// One figure an indicator reports per cell.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiMeasureDefinition {
    pub name: String,
    pub description: String,
}

/// An indicator of the catalogue (`schemas/kpis.json` has the same text).
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiDefinition {
    pub key: String,
    pub title: String,
    /// The exact definition, with every decision the domain description leaves open.
    pub definition: String,
    pub unit: String,
    pub counting_unit: CountingUnit,
    pub denominator: String,
    /// The count disclosure control compares with k, per measure.
    pub disclosure_count: String,
    pub measures: Vec<KpiMeasureDefinition>,
    /// The dimensions `by` may name.
    pub disaggregations: Vec<Dimension>,
    /// A dimension every result is broken down by, first.
    pub implicit_dimension: Option<Dimension>,
    /// A person-level list (a read model for caseworkers), not an aggregate: `kpi` refuses it.
    pub person_level: bool,
}

#[derive(Debug, Default)]
pub struct ReadModelQuery;

#[Object]
impl ReadModelQuery {
    /// The persons matching `filter` as of `asOf` (default: today) in the records known at
    /// `knownAt` (default: now), ordered by person id. Caseworkers see the persons visible to their
    /// agency, admins everyone; the other roles are refused. Audited.
    async fn people(
        &self,
        ctx: &Context<'_>,
        filter: Option<PeopleFilter>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PersonSummaryConnection> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = match person_level_cut(state, principal, "the people list", known_at).await {
            Ok(()) => people(
                state,
                principal,
                filter.unwrap_or_default(),
                as_of,
                known_at,
                first,
                after.as_deref(),
            ),
            Err(error) => Err(error),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "people".into(),
                query: Some(format!(
                    "asOf {} knownAt {} first {} after {}",
                    describe(as_of.map(|date| date.0)),
                    describe(known_at.map(|time| time.to_rfc3339())),
                    describe(first),
                    after.as_deref().unwrap_or("-")
                )),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// Caseloads as of `asOf` (default: today) in the records known at `knownAt` (default: now):
    /// per agency the persons present whom it works with, and per caseworker of it the persons they
    /// recorded events for. A caseworker sees their own agency's; admins every agency's; the other
    /// roles are refused. Audited.
    async fn caseload(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<AgencyCaseload>> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = match person_level_cut(state, principal, "the caseload", known_at).await {
            Ok(()) => caseload(state, principal, as_of, known_at),
            Err(error) => Err(error),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "caseload".into(),
                query: Some(cuts_text(as_of, known_at)),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// Course registrations of persons present on `asOf` (default: today) that have not started by
    /// then, in the records known at `knownAt` (default: now), longest wait first. Caseworkers see
    /// the persons visible to their agency, admins everyone; the other roles are refused. Audited.
    async fn course_waiting_list(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<WaitingEntry>> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result =
            match person_level_cut(state, principal, "the course waiting list", known_at).await {
                Ok(()) => waiting_list(state, principal, as_of, known_at),
                Err(error) => Err(error),
            };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "courseWaitingList".into(),
                query: Some(cuts_text(as_of, known_at)),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// Working-age persons present on `asOf` (default: today) with no activity for more than
    /// `minDays` days, in the records known at `knownAt` (default: now), longest first.
    /// Person-level: caseworkers see the persons their agency is involved with, admins everyone;
    /// the other roles are refused. Audited.
    async fn idle_list(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 90)] min_days: u32,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<IdleEntry>> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = match person_level_cut(state, principal, "the idle list", known_at).await {
            Ok(()) => idle_list(state, principal, min_days, as_of, known_at),
            Err(error) => Err(error),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "idleList".into(),
                query: Some(format!("minDays {min_days} {}", cuts_text(as_of, known_at))),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// An indicator of the catalogue as of `asOf` (default: today) in the records known at
    /// `knownAt` (default: now), broken down by up to two dimensions. For every role but admins,
    /// cells about fewer than k persons (and the cells that would reveal them) are suppressed: their
    /// figures are null and `suppressed` is true. Audited.
    async fn kpi(
        &self,
        ctx: &Context<'_>,
        key: String,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
        by: Option<Vec<Dimension>>,
    ) -> Result<KpiResult> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let by = by.unwrap_or_default();
        let result = match reach_kpi_cut(state, &key, known_at).await {
            Ok(()) => compute_kpi(state, principal, &key, as_of, known_at, &by),
            Err(error) => Err(error),
        }
        .map(|result| KpiResult::from_core(&result));
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "kpi".into(),
                query: Some(kpi_query_text(&key, as_of, known_at, &by)),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }

    /// The indicators of the catalogue, with their exact definitions.
    async fn kpi_catalogue(&self, ctx: &Context<'_>) -> Result<Vec<KpiDefinition>> {
        principal(ctx)?;
        Ok(kpi::catalogue()
            .iter()
            .map(|definition| KpiDefinition {
                key: definition.key.to_owned(),
                title: definition.title.to_owned(),
                definition: definition.definition.to_owned(),
                unit: definition.unit.to_owned(),
                counting_unit: definition.counting_unit.into(),
                denominator: definition.denominator.to_owned(),
                disclosure_count: definition.disclosure_count.to_owned(),
                measures: definition
                    .measures
                    .iter()
                    .map(|measure| KpiMeasureDefinition {
                        name: measure.name.to_owned(),
                        description: measure.description.to_owned(),
                    })
                    .collect(),
                disaggregations: definition
                    .disaggregations
                    .iter()
                    .copied()
                    .map(Into::into)
                    .collect(),
                implicit_dimension: definition.implicit_dimension.map(Into::into),
                person_level: definition.person_level,
            })
            .collect())
    }

    /// The prevention chain funnel (`chain_funnel`) as of `asOf` (default: today): per arrival
    /// cohort, the share who reached each stage and the days between stages. With `cohort`, only
    /// that cohort's cells (the total stays the total over every cohort). Suppressed like `kpi`.
    async fn chain_funnel(
        &self,
        ctx: &Context<'_>,
        cohort: Option<i32>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
    ) -> Result<KpiResult> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = match reach_kpi_cut(state, "chain_funnel", known_at).await {
            Ok(()) => compute_kpi(state, principal, "chain_funnel", as_of, known_at, &[]),
            Err(error) => Err(error),
        }
        .map(|result| {
            let mut result = KpiResult::from_core(&result);
            if let Some(cohort) = cohort {
                let cohort = cohort.to_string();
                result.cells.retain(|cell| {
                    cell.dimensions.iter().any(|value| {
                        value.dimension == Dimension::ArrivalCohort && value.value == cohort
                    })
                });
            }
            result
        });
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "chainFunnel".into(),
                query: Some(format!(
                    "cohort {} {}",
                    describe(cohort),
                    kpi_query_text("chain_funnel", as_of, known_at, &[])
                )),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }
}

pub(crate) fn describe<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

/// The two cuts of a read-model request, as its audit entry records them.
pub(crate) fn cuts_text(as_of: Option<Date>, known_at: Option<DateTime<Utc>>) -> String {
    format!(
        "asOf {} knownAt {}",
        describe(as_of.map(|date| date.0)),
        describe(known_at.map(|time| time.to_rfc3339()))
    )
}

pub(crate) fn kpi_query_text(
    key: &str,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
    by: &[Dimension],
) -> String {
    let by: Vec<&str> = by
        .iter()
        .map(|dimension| kpi::Dimension::from(*dimension).as_str())
        .collect();
    format!(
        "{key} asOf {} knownAt {} by [{}]",
        describe(as_of.map(|date| date.0)),
        describe(known_at.map(|time| time.to_rfc3339())),
        by.join(",")
    )
}

/// The suppression a principal's indicators get: none for admins (who see every person), k for
/// everyone else, including caseworkers, whose agencies do not see every person an indicator
/// counts.
pub(crate) fn suppression_for(state: &AppState, principal: &Principal) -> Option<Suppression> {
    match principal.role {
        Role::Admin => None,
        _ => (state.suppression.k > 0).then_some(state.suppression),
    }
}

pub(crate) fn compute_kpi(
    state: &AppState,
    principal: &Principal,
    key: &str,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
    by: &[Dimension],
) -> ApiResult<std::sync::Arc<CoreKpiResult>> {
    let projections = state.projections()?;
    let request = KpiRequest {
        key: key.to_owned(),
        as_of: as_of.map_or_else(|| projections.today(), |date| date.0),
        known_at,
        by: by.iter().copied().map(Into::into).collect(),
        suppression: suppression_for(state, principal),
    };
    projections
        .kpi(request)
        .map(std::sync::Arc::new)
        .map_err(kpi_error)
}

/// Before answering at an explicit cut `known_at`: waits (at most `knownAtWait`) until the
/// projections have applied everything recorded by then, so that the answer is the whole cut and not
/// the part applied so far. Refuses a `knownAt` in the future (VALIDATION) and one the projections
/// do not reach in time (LIMIT_EXCEEDED, `limit: knownAtWait`, with `lagEvents` and
/// `appliedThrough`). Without `knownAt` nothing waits: a live answer reports the time it covers.
pub(crate) async fn reach_cut(state: &AppState, known_at: Option<DateTime<Utc>>) -> ApiResult<()> {
    let Some(known_at) = known_at else {
        return Ok(());
    };
    let projections = state.projections()?;
    projections
        .reach(known_at, state.limits.known_at_wait)
        .await
        .map_err(|error| match &error {
            ProjectionError::KnownAtInFuture { .. } => {
                ApiError::validation("knownAt", error.to_string())
            }
            ProjectionError::Behind {
                lag_events,
                applied_through,
                ..
            } => ApiError::limit("knownAtWait", error.to_string())
                .with("lagEvents", *lag_events)
                .with(
                    "appliedThrough",
                    applied_through.map(|time| time.to_rfc3339()),
                ),
            _ => ApiError::internal(&error),
        })
}

/// [`reach_cut`] before the indicator `key` at `known_at`, then, in the seconds after a start
/// while the kept rows are taken from the snapshot, a wait for them when they would answer it
/// (`Projections::settle_past_cut`, at most the request timeout): folding every person's view at
/// the cut instead would take longer.
pub(crate) async fn reach_kpi_cut(
    state: &AppState,
    key: &str,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<()> {
    reach_cut(state, known_at).await?;
    state
        .projections()?
        .settle_past_cut(key, known_at, state.limits.request_timeout)
        .await;
    Ok(())
}

pub(crate) fn kpi_error(error: KpiError) -> ApiError {
    match &error {
        KpiError::UnknownKey { .. } | KpiError::PersonLevel { .. } => {
            ApiError::validation("key", error.to_string())
        }
        KpiError::UnknownDimension { .. }
        | KpiError::TooManyDimensions { .. }
        | KpiError::RepeatedDimension { .. }
        | KpiError::DimensionNotAllowed { .. } => ApiError::validation("by", error.to_string()),
        KpiError::ViewsOutOfCut { .. } => ApiError::internal(&error),
    }
}

/// Before a person-level list: refuses the roles that never see one (without waiting), then
/// [`reach_cut`].
pub(crate) async fn person_level_cut(
    state: &AppState,
    principal: &Principal,
    what: &str,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<()> {
    person_level_gate(principal, what)?;
    reach_cut(state, known_at).await
}

/// Refuses the roles that never see person-level lists.
fn person_level_gate(principal: &Principal, what: &str) -> ApiResult<()> {
    match principal.role {
        Role::Admin | Role::Caseworker => Ok(()),
        Role::Coordinator => Err(ApiError::forbidden(format!(
            "coordinators see mentoring facts only, not {what}"
        ))),
        Role::Analyst => Err(ApiError::forbidden(format!(
            "{what} is person-level; analysts see aggregates (`kpi`) and pseudonymised events"
        ))),
        Role::Auditor => Err(ApiError::forbidden(format!(
            "{what} is person-level; auditors see the audit log"
        ))),
        Role::Replication => Err(ApiError::forbidden(format!(
            "{what} is person-level; the replication role sees plain streams only"
        ))),
        Role::Replica => Err(ApiError::forbidden(format!(
            "{what} is person-level; the replica role follows `$all` over the KurrentDB protocol and asks the replica's own GraphQL"
        ))),
    }
}

pub(crate) fn reporting_date(state: &AppState, as_of: Option<Date>) -> ApiResult<NaiveDate> {
    as_of.map_or_else(|| state.projections().map(|p| p.today()), |date| Ok(date.0))
}

fn people(
    state: &AppState,
    principal: &Principal,
    filter: PeopleFilter,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
    first: Option<i32>,
    after: Option<&str>,
) -> ApiResult<PersonSummaryConnection> {
    let size = page_size(first, &state.limits)?;
    let after = after
        .map(|cursor| {
            cursor.parse::<PersonId>().map_err(|_| {
                ApiError::validation(
                    "after",
                    format!(
                        "`{cursor}` is not a cursor: pass the `endCursor` of the previous page"
                    ),
                )
            })
        })
        .transpose()?;
    let projections = state.projections()?;
    let as_of = reporting_date(state, as_of)?;
    let (views, live) = cut_and_live(projections, known_at);
    let filter = CorePeopleFilter::from(filter);
    let start = after.map_or(0, |after| {
        views.views.partition_point(|view| view.person <= after)
    });
    let mut edges = Vec::with_capacity(size);
    let mut has_next_page = false;
    for view in models::people(&views.views[start..], &views.households, as_of, &filter)
        .filter(|view| visible(principal, &live, view.person, false))
    {
        if edges.len() == size {
            has_next_page = true;
            break;
        }
        edges.push(PersonSummaryEdge {
            cursor: view.person.to_string(),
            node: PersonSummary {
                id: ID(view.person.to_string()),
                status: PersonStatus::of(view, as_of),
            },
        });
    }
    Ok(PersonSummaryConnection {
        known_at: views.answer_known_at(),
        page_info: super::types::PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
    })
}

/// The views at the cut `known_at` (the list's content) and the live views (who may see it: access
/// is decided on what is recorded now, also for a past cut, so a withdrawn consent hides a person
/// from old cuts too).
pub(crate) fn cut_and_live(
    projections: &journey_projections::Projections,
    known_at: Option<DateTime<Utc>>,
) -> (std::sync::Arc<ViewSet>, std::sync::Arc<ViewSet>) {
    let views = projections.views(known_at);
    let live = match known_at {
        None => views.clone(),
        Some(_) => projections.views(None),
    };
    (views, live)
}

/// Whether a caseworker (or admin) sees `person`, decided on the live views: what is recorded now.
/// With `involved_only`, a consent does not suffice (the idle list is for involved agencies).
pub(crate) fn visible(
    principal: &Principal,
    live: &ViewSet,
    person: PersonId,
    involved_only: bool,
) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::Caseworker => live.view(person).is_some_and(|view| {
            if involved_only {
                visibility::involved_in_view(principal, view)
            } else {
                visibility::sees_in_view(principal, view)
            }
        }),
        _ => false,
    }
}

fn caseload(
    state: &AppState,
    principal: &Principal,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<Vec<AgencyCaseload>> {
    let projections = state.projections()?;
    let as_of = reporting_date(state, as_of)?;
    // Which agencies' caseloads a caseworker sees is decided by their token, not by the persons.
    let views = projections.views(known_at);
    let ids = |persons: Vec<PersonId>| -> Vec<ID> {
        persons
            .into_iter()
            .map(|person| ID(person.to_string()))
            .collect()
    };
    Ok(models::caseloads(&views.views, as_of)
        .into_iter()
        .filter(|load| principal.role == Role::Admin || principal.agency == Some(load.agency))
        .map(|load| AgencyCaseload {
            agency: load.agency.into(),
            person_count: load.persons.len() as u64,
            persons: ids(load.persons),
            caseworkers: load
                .caseworkers
                .into_iter()
                .map(|caseworker| CaseworkerCaseload {
                    caseworker_id: caseworker.caseworker_id,
                    person_count: caseworker.persons.len() as u64,
                    persons: ids(caseworker.persons),
                })
                .collect(),
        })
        .collect())
}

fn waiting_list(
    state: &AppState,
    principal: &Principal,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<Vec<WaitingEntry>> {
    let projections = state.projections()?;
    let as_of = reporting_date(state, as_of)?;
    let (views, live) = cut_and_live(projections, known_at);
    Ok(models::course_waiting_list(&views.views, as_of)
        .into_iter()
        .filter(|entry| visible(principal, &live, entry.person, false))
        .map(|entry| WaitingEntry {
            person_id: ID(entry.person.to_string()),
            course_id: entry.course_id,
            course_type: entry.course_type.into(),
            provider: entry.provider,
            registered_on: Date(entry.registered_on),
            days_waiting: entry.days_waiting,
            district: entry.district,
        })
        .collect())
}

fn idle_list(
    state: &AppState,
    principal: &Principal,
    min_days: u32,
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
) -> ApiResult<Vec<IdleEntry>> {
    let projections = state.projections()?;
    let as_of = reporting_date(state, as_of)?;
    let (views, live) = cut_and_live(projections, known_at);
    Ok(
        models::idle_list(&views.views, &views.households, as_of, min_days)
            .into_iter()
            .filter(|entry| visible(principal, &live, entry.person, true))
            .map(|entry| IdleEntry {
                person_id: ID(entry.person.to_string()),
                idle_days: entry.idle_days,
                idle_since: Date(entry.idle_since),
                last_activity: entry.last_activity.map(Into::into),
                stage: entry.stage.into(),
                district: entry.district,
            })
            .collect(),
    )
}
