//! `promisingApplicants`: the joint case management list of the Jobcenter and the Arbeitsagentur
//! (the rule lives in `journey_projections::promising`).
//!
//! Who sees it: caseworkers of those two agencies, each only the persons their agency works with or
//! who consented to it (the same visibility as a person read, decided on the live views), and
//! admins everyone. Every other role and agency is refused: the list is a tool of the joint case
//! management, not a caseload of the others. Every request is audited.

use async_graphql::{Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use journey_core::catalogue::Agency as CoreAgency;
use journey_projections::promising::{self, PromisingEntry, PROMISING_MIN_IDLE_DAYS};

use super::enums::{Exam, Level, RecognitionOutcome, Stage};
use super::readmodels::{cut_and_live, cuts_text, describe, reach_cut, reporting_date, visible};
use super::scalars::Date;
use super::{audit, outcome, principal, ranked_page, state};
use crate::audit::AuditRecord;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The agencies whose caseworkers run the joint case management.
const JOINT_CASE_MANAGEMENT: [CoreAgency; 2] = [CoreAgency::Jobcenter, CoreAgency::Arbeitsagentur];

/// The facts that put a person on the list: each the first such fact by `asOf`, null when none.
#[derive(SimpleObject, Debug, Clone)]
pub struct PromisingFacts {
    /// The first language test at B1 or better.
    pub b1_on: Option<Date>,
    pub b1_exam: Option<Exam>,
    pub b1_level: Option<Level>,
    /// The first recognition decided `FULL` or `PARTIAL`.
    pub recognition_on: Option<Date>,
    pub recognition_outcome: Option<RecognitionOutcome>,
    pub recognition_occupation_code: Option<String>,
    /// The first training ended `COMPLETED`.
    pub training_completed_on: Option<Date>,
    pub training_occupation_code: Option<String>,
    /// The first measure ended `COMPLETED`.
    pub measure_completed_on: Option<Date>,
    pub measure_id: Option<String>,
}

/// A promising applicant on `asOf`.
#[derive(SimpleObject, Debug, Clone)]
pub struct PromisingApplicant {
    pub person_id: ID,
    /// Days from entering the list to `asOf`: the order of the list.
    pub waiting_days: i64,
    /// Days since the last activity ended or the stay began.
    pub idle_days: i64,
    pub idle_since: Date,
    /// The first day of the current idle spell on which the person was on the list.
    pub entered_on: Date,
    /// Age on `asOf` (year of `asOf` minus birth year).
    pub age: Option<i32>,
    pub stage: Stage,
    pub district: Option<String>,
    pub facts: PromisingFacts,
}

impl PromisingApplicant {
    fn of(entry: PromisingEntry) -> Self {
        let facts = entry.membership.qualifications;
        let (b1_on, b1_exam, b1_level) = match facts.b1 {
            Some((on, exam, level)) => (Some(Date(on)), Some(exam.into()), Some(level.into())),
            None => (None, None, None),
        };
        let (recognition_on, recognition_outcome, recognition_occupation_code) =
            match facts.recognition {
                Some((on, outcome, code)) => (Some(Date(on)), Some(outcome.into()), Some(code)),
                None => (None, None, None),
            };
        let (training_completed_on, training_occupation_code) = match facts.training {
            Some((on, code)) => (Some(Date(on)), Some(code)),
            None => (None, None),
        };
        let (measure_completed_on, measure_id) = match facts.measure {
            Some((on, id)) => (Some(Date(on)), Some(id)),
            None => (None, None),
        };
        Self {
            person_id: ID(entry.person.to_string()),
            waiting_days: entry.waiting_days,
            idle_days: entry.idle_days,
            idle_since: Date(entry.membership.idle_since),
            entered_on: Date(entry.membership.entered_on),
            age: entry.age,
            stage: entry.stage.into(),
            district: entry.district,
            facts: PromisingFacts {
                b1_on,
                b1_exam,
                b1_level,
                recognition_on,
                recognition_outcome,
                recognition_occupation_code,
                training_completed_on,
                training_occupation_code,
                measure_completed_on,
                measure_id,
            },
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PromisingApplicantEdge {
    /// The person id: pass it as `after` to continue behind it (with the page's `knownAt`).
    pub cursor: String,
    pub node: PromisingApplicant,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PromisingApplicantConnection {
    pub edges: Vec<PromisingApplicantEdge>,
    pub page_info: super::types::PageInfo,
    /// The transaction-time cut this page was taken at: the `knownAt` asked for, or for a live
    /// answer the time of the latest record it covers. Asking again with it gives the same page, so
    /// the next page is asked with it too.
    pub known_at: DateTime<Utc>,
    /// The N the list was taken with.
    pub min_idle_days: u32,
}

#[derive(Debug, Default)]
pub struct PromisingQuery;

#[Object]
impl PromisingQuery {
    /// Promising applicants on `asOf` (default: today) in the records known at `knownAt` (default:
    /// now): working-age persons present, idle (no activity, so no job subject to social insurance)
    /// for more than `minIdleDays` days (default 90, the projections' `PROMISING_MIN_IDLE_DAYS`), with B1 or better, a recognised
    /// qualification, or a completed training or measure; optionally in one `district`. Longest
    /// waiting on the list first. For the joint case management: caseworkers of the Jobcenter and
    /// the Arbeitsagentur see the persons their agency works with or who consented to it, admins
    /// everyone; the others are refused. Audited.
    #[allow(clippy::too_many_arguments)]
    async fn promising_applicants(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        known_at: Option<DateTime<Utc>>,
        district: Option<String>,
        min_idle_days: Option<u32>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PromisingApplicantConnection> {
        let min_idle_days = min_idle_days.unwrap_or(PROMISING_MIN_IDLE_DAYS);
        let principal = principal(ctx)?;
        let state = state(ctx);
        let result = match gate(principal) {
            Ok(()) => match reach_cut(state, known_at).await {
                Ok(()) => list(
                    state,
                    principal,
                    Request {
                        as_of,
                        known_at,
                        district: district.as_deref(),
                        min_idle_days,
                        first,
                        after: after.as_deref(),
                    },
                ),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        audit(
            ctx,
            AuditRecord {
                principal: Some(principal.clone()),
                operation: "promisingApplicants".into(),
                query: Some(format!(
                    "minIdleDays {min_idle_days} district {} first {} after {} {}",
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

/// Refuses every role but admins and the joint case management's caseworkers, without waiting.
fn gate(principal: &Principal) -> ApiResult<()> {
    match (principal.role, principal.agency) {
        (Role::Admin, _) => Ok(()),
        (Role::Caseworker, Some(agency)) if JOINT_CASE_MANAGEMENT.contains(&agency) => Ok(()),
        (Role::Caseworker, _) => Err(ApiError::forbidden(
            "promising applicants are for the joint case management: caseworkers of the jobcenter and the arbeitsagentur",
        )),
        _ => Err(ApiError::forbidden(
            "promising applicants are person-level, for the caseworkers of the jobcenter and the arbeitsagentur",
        )),
    }
}

struct Request<'a> {
    as_of: Option<Date>,
    known_at: Option<DateTime<Utc>>,
    district: Option<&'a str>,
    min_idle_days: u32,
    first: Option<i32>,
    after: Option<&'a str>,
}

fn list(
    state: &AppState,
    principal: &Principal,
    request: Request<'_>,
) -> ApiResult<PromisingApplicantConnection> {
    let projections = state.projections()?;
    let as_of = reporting_date(state, request.as_of)?;
    let (views, live) = cut_and_live(projections, request.known_at);
    let visible_entries: Vec<PromisingEntry> = promising::promising_applicants(
        &views.views,
        &views.households,
        as_of,
        request.min_idle_days,
        request.district,
    )
    .into_iter()
    .filter(|entry| visible(principal, &live, entry.person, false))
    .collect();
    let (rows, has_next_page) = ranked_page::page(
        visible_entries,
        |entry| entry.person,
        request.first,
        request.after,
        &state.limits,
    )?;
    let edges: Vec<PromisingApplicantEdge> = rows
        .into_iter()
        .map(|entry| PromisingApplicantEdge {
            cursor: entry.person.to_string(),
            node: PromisingApplicant::of(entry),
        })
        .collect();
    Ok(PromisingApplicantConnection {
        known_at: views.answer_known_at(),
        page_info: super::types::PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        },
        edges,
        min_idle_days: request.min_idle_days,
    })
}
