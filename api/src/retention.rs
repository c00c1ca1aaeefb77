//! Retention runs, shared by `journey retention run` and the server's daily task: select the persons
//! whose case closed at least the retention period ago and erase them with reason
//! `retention_expired` (see [`journey_core::retention`]). The server's daily task also prunes the
//! audit log past its own retention period ([`crate::audit::AuditLog::prune`]).

use std::time::Duration;

use journey_core::ledger::Ledger;
use journey_core::retention::{self, Expired};

/// The default retention period after a case closes, in years.
pub const RETENTION_YEARS_DEFAULT: u32 = 3;

/// The default retention period of audit entries, in years.
pub const AUDIT_RETENTION_YEARS_DEFAULT: u32 = 10;

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// Erased (or, in a dry run, due for erasure).
    pub expired: Vec<Expired>,
    pub dry_run: bool,
}

/// Selects and (unless `dry_run`) erases every expired person.
pub async fn run(
    ledger: &Ledger,
    years: u32,
    dry_run: bool,
) -> Result<RetentionReport, journey_core::ledger::LedgerError> {
    let today = ledger.clock().today();
    let expired = retention::select(ledger.log().as_ref(), today, years).await?;
    if !dry_run {
        for person in &expired {
            retention::erase(ledger, person.person).await?;
        }
    }
    Ok(RetentionReport { expired, dry_run })
}

/// Runs retention once a day until the server shuts down: erases expired persons when `years` is
/// set, and prunes audit entries older than `audit_years` when that is set. Each run is logged with
/// what it did; a failed run is logged and retried the next day.
pub async fn daily(
    state: crate::AppState,
    years: Option<u32>,
    audit_years: Option<u32>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + DAY, DAY);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        if let Some(years) = years {
            match run(&state.ledger, years, false).await {
                Ok(report) => {
                    for expired in &report.expired {
                        tracing::info!(person = %expired.person, closure = %expired.closure, "retention: erased (retention_expired)");
                    }
                    tracing::info!(erased = report.expired.len(), years, "retention run done");
                }
                Err(error) => tracing::error!(%error, "retention run failed; retrying tomorrow"),
            }
        }
        if let Some(audit_years) = audit_years {
            let now = chrono::Utc::now();
            let cutoff = crate::audit::retention_cutoff(now, audit_years);
            match state.audit.prune(cutoff, now) {
                Ok(report) => {
                    tracing::info!(
                        removed = report.removed,
                        audit_years,
                        "audit retention: pruned"
                    )
                }
                Err(error) => {
                    tracing::error!(%error, "audit prune failed; retrying tomorrow")
                }
            }
        }
    }
}
