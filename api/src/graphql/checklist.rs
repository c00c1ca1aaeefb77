//! `checklistOverdue`: the new arrivals with checklist steps past their due day (the rule lives in
//! `journey_projections::checklist`). Visible like the other person-level lists: caseworkers see
//! the persons their agency works with or who consented to it, admins everyone, the other roles
//! are refused. Every request is audited.

use async_graphql::{Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use journey_projections::checklist::{self, OverdueEntry, Step};

use super::readmodels::{
    cut_and_live, cuts_text, describe, person_level_cut, reporting_date, visible,
};
use super::scalars::Date;
use super::{audit, outcome, principal, ranked_page, state};
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// A step of the municipal checklist (`schemas/kpis.json`, `checklist_completion`, says which
/// event marks each done, whom it is for and by when it is due).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecklistStep {
    StartFolder,
    Counselling,
    HealthCheck,
    Vaccination,
    CompetenceAssessment,
    CourseEntitlement,
    StartCourse,
    GermanLessons,
    Kita,
    School,
}

impl From<Step> for ChecklistStep {
    fn from(step: Step) -> Self {
        match step {
            Step::StartFolder => ChecklistStep::StartFolder,
            Step::Counselling => ChecklistStep::Counselling,
            Step::HealthCheck => ChecklistStep::HealthCheck,
            Step::Vaccination => ChecklistStep::Vaccination,
            Step::CompetenceAssessment => ChecklistStep::CompetenceAssessment,
            Step::CourseEntitlement => ChecklistStep::CourseEntitlement,
            Step::StartCourse => ChecklistStep::StartCourse,
            Step::GermanLessons => ChecklistStep::GermanLessons,
            Step::Kita => ChecklistStep::Kita,
            Step::School => ChecklistStep::School,
        }
    }
}

/// A step past its due day and not done by `asOf`.
#[derive(SimpleObject, Debug, Clone)]
pub struct OverdueStep {
    pub step: ChecklistStep,
    pub due_on: Date,
    pub days_overdue: i64,
}

/// A new arrival with overdue steps.
#[derive(SimpleObject, Debug, Clone)]
pub struct ChecklistOverdueEntry {
    pub person_id: ID,
    pub arrived_on: Date,
    pub days_since_arrival: i64,
    pub overdue: Vec<OverdueStep>,
    pub district: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ChecklistOverdueEdge {
    /// The person id: pass it as `after` to continue behind it (with the page's `knownAt`).
    pub cursor: String,
    pub node: ChecklistOverdueEntry,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ChecklistOverdueConnection {
    pub edges: Vec<ChecklistOverdueEdge>,
    pub page_info: super::types::PageInfo,
    /// The transaction-time cut this page was taken at; ask for the next page with it.
    pub known_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct ChecklistQuery;

#[Object]
impl ChecklistQuery {
    /// New arrivals present on `asOf` (default: today), first arrived in the 12 months up to it, with
    /// checklist steps past their due day and not done, in the records known at `knownAt` (default:
    /// now); optionally in one `district`. Longest since arrival first. Caseworkers see the persons
    /// visible to their agency, admins everyone; the other roles are refused. Audited.
    async fn checklist_overdue(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
        district: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ChecklistOverdueConnection> {
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = match person_level_cut(
            state,
            principal,
            "the checklist's overdue list",
            known_at,
        )
        .await
        {
            Ok(()) => list(
                state,
                principal,
                (as_of, known_at),
                district.as_deref(),
                first,
                after.as_deref(),
            ),
            Err(error) => Err(error),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "checklistOverdue".into(),
                query: Some(format!(
                    "district {} first {} after {} {}",
                    district.as_deref().unwrap_or("-"),
                    describe(first),
                    after.as_deref().unwrap_or("-"),
                    cuts_text(as_of, known_at)
                )),
                outcome: outcome(&result),
                ..AuditRecord::default()
            },
        )?;
        Ok(result?)
    }
}

fn list(
    state: &AppState,
    principal: &Principal,
    (as_of, known_at): (Option<Date>, Option<DateTime<Utc>>),
    district: Option<&str>,
    first: Option<i32>,
    after: Option<&str>,
) -> ApiResult<ChecklistOverdueConnection> {
    let projections = state.projections()?;
    let as_of = reporting_date(state, as_of)?;
    let (views, live) = cut_and_live(projections, known_at);
    let rows: Vec<OverdueEntry> = checklist::overdue(&views.views, as_of)
        .into_iter()
        .filter(|entry| district.is_none_or(|district| entry.district.as_deref() == Some(district)))
        .filter(|entry| visible(principal, &live, entry.person, false))
        .collect();
    let (rows, has_next_page) =
        ranked_page::page(rows, |entry| entry.person, first, after, &state.limits)?;
    let edges: Vec<ChecklistOverdueEdge> = rows
        .into_iter()
        .map(|entry| ChecklistOverdueEdge {
            cursor: entry.person.to_string(),
            node: ChecklistOverdueEntry {
                person_id: ID(entry.person.to_string()),
                arrived_on: Date(entry.arrived_on),
                days_since_arrival: entry.days_since_arrival,
                overdue: entry
                    .overdue
                    .into_iter()
                    .map(|step| OverdueStep {
                        step: step.step.into(),
                        due_on: Date(step.due_on),
                        days_overdue: step.days_overdue,
                    })
                    .collect(),
                district: entry.district,
            },
        })
        .collect();
    Ok(ChecklistOverdueConnection {
        known_at: views.answer_known_at(),
        page_info: super::types::PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
    })
}
