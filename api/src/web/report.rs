//! `GET /report?asOf=DATE[&knownAt=TIME][&lang=de|en|both]`: the council report for the
//! dashboard's download button, made by the same [`crate::report`] code as `journey report`.
//!
//! Authenticated, rate-limited, audited and suppressed as the `kpi` query is: the bearer token in
//! `Authorization`, small cells suppressed for every role but admins, one audit entry per report.
//! Errors are GraphQL-shaped (`{"errors": [{"message", "extensions": {"code", ...}}]}`) with the
//! HTTP status of their code.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Code};
use crate::graphql::readmodels::{kpi_error, reach_cut, suppression_for};
use crate::report::{self, Language, ReportRequest};
use crate::state::AppState;

pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let principal = match authenticate(&state, &headers) {
        Ok(principal) => principal,
        Err(error) => return error_response(&error),
    };
    let parsed = parse(&params);
    let query = format!(
        "asOf {} knownAt {} lang {}",
        params.get("asOf").map_or("-", String::as_str),
        params.get("knownAt").map_or("-", String::as_str),
        params.get("lang").map_or("-", String::as_str),
    );
    let result = match parsed {
        Ok((as_of, known_at, language)) => {
            build(&state, &principal, as_of, known_at, language).await
        }
        Err(error) => Err(error),
    };
    let audited = state.audit(AuditRecord {
        principal: Some(principal.clone()),
        operation: "report".into(),
        query: Some(query),
        outcome: match &result {
            Ok(_) => "ok".to_owned(),
            Err(error) => error.code.as_str().to_owned(),
        },
        ..AuditRecord::default()
    });
    match (result, audited) {
        (Ok((html, as_of)), Ok(_)) => {
            let mut response = (StatusCode::OK, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            if let Ok(value) = HeaderValue::from_str(&format!(
                "attachment; filename=\"journey-report-{as_of}.html\""
            )) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        (Err(error), _) | (_, Err(error)) => error_response(&error),
    }
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            Code::Unauthenticated,
            "the report needs a token: send `Authorization: Bearer <token>`",
        ));
    };
    let value = value.to_str().map_err(|_| {
        ApiError::new(
            Code::Unauthenticated,
            "the Authorization header must be `Bearer <token>`",
        )
    })?;
    let principal = state
        .tokens
        .authenticate_header(value)
        .map_err(|error| ApiError::new(Code::Unauthenticated, error.to_string()))?;
    if let Err(wait) = state.rate.check(&principal.token_id, Instant::now()) {
        return Err(ApiError::limit(
            "rateLimit",
            format!(
                "too many requests for this token; retry after {} ms",
                wait.as_millis().max(1)
            ),
        ));
    }
    Ok(principal)
}

fn parse(
    params: &HashMap<String, String>,
) -> ApiResult<(NaiveDate, Option<DateTime<Utc>>, Language)> {
    let as_of = params
        .get("asOf")
        .ok_or_else(|| ApiError::validation("asOf", "give the reporting date: ?asOf=YYYY-MM-DD"))?
        .parse::<NaiveDate>()
        .map_err(|error| {
            ApiError::validation("asOf", format!("`asOf` must be a date YYYY-MM-DD: {error}"))
        })?;
    let known_at = params
        .get("knownAt")
        .filter(|text| !text.is_empty())
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|error| {
                    ApiError::validation(
                        "knownAt",
                        format!("`knownAt` must be an RFC 3339 time such as 2025-01-31T23:59:59Z: {error}"),
                    )
                })
        })
        .transpose()?;
    let language = params
        .get("lang")
        .map(|text| text.parse::<Language>())
        .transpose()
        .map_err(|message| ApiError::validation("lang", message))?
        .unwrap_or_default();
    Ok((as_of, known_at, language))
}

async fn build(
    state: &AppState,
    principal: &Principal,
    as_of: NaiveDate,
    known_at: Option<DateTime<Utc>>,
    language: Language,
) -> ApiResult<(String, NaiveDate)> {
    reach_cut(state, known_at).await?;
    let projections = state.projections()?.clone();
    let request = ReportRequest {
        as_of,
        known_at,
        suppression: suppression_for(state, principal),
    };
    // Seventeen indicators are CPU work; they run off the request threads.
    let computed = tokio::task::spawn_blocking(move || report::compute(&projections, &request))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(kpi_error)?;
    Ok((report::render(&computed, language), as_of))
}

fn error_response(error: &ApiError) -> Response {
    let status = match error.code {
        Code::Validation | Code::RuleViolation => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Conflict => StatusCode::CONFLICT,
        Code::LimitExceeded => StatusCode::TOO_MANY_REQUESTS,
        Code::ReadReplica => StatusCode::CONFLICT,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body =
        json!({"errors": [{"message": error.message, "extensions": error.extensions_json()}]});
    (status, axum::Json(body)).into_response()
}
