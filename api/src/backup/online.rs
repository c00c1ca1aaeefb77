//! Backups taken by the running server: sled admits one process, so while `journey serve` holds the
//! data directory, only the server can read it. `POST /admin/backup` (admin tokens only, audited)
//! takes one on request, `--backup-every` on a schedule with retention; `/metrics` shows the last
//! one's age and size.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::format::Manifest;
use super::take::{take_backup, BackupError, BackupSources};
use crate::audit::AuditRecord;
use crate::auth::Role;
use crate::state::AppState;

/// The path of the admin endpoint.
pub const BACKUP_PATH: &str = "/admin/backup";

/// What the last successful backup was, for `/metrics`; and the lock that lets one backup run at a
/// time (two would only compete for the disk).
#[derive(Debug, Default)]
pub struct BackupStatus {
    last: std::sync::Mutex<Option<LastBackup>>,
    running: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Copy)]
pub struct LastBackup {
    pub at: DateTime<Utc>,
    pub bytes: u64,
    pub next_position: u64,
}

impl BackupStatus {
    pub fn last(&self) -> Option<LastBackup> {
        *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, manifest: &Manifest) {
        *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(LastBackup {
            at: manifest.created_at,
            bytes: manifest.total_bytes(),
            next_position: manifest.log.next_position,
        });
    }

    /// The metrics of the last backup in the text exposition format.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let Some(last) = self.last() else {
            return String::new();
        };
        let age_seconds = (now - last.at).num_milliseconds().max(0) as f64 / 1000.0;
        format!(
            "# HELP journey_backup_last_age_seconds Seconds since the last successful backup.\n\
             # TYPE journey_backup_last_age_seconds gauge\n\
             journey_backup_last_age_seconds {age_seconds}\n\
             # HELP journey_backup_last_size_bytes The size of the last successful backup.\n\
             # TYPE journey_backup_last_size_bytes gauge\n\
             journey_backup_last_size_bytes {}\n\
             # HELP journey_backup_last_position The log position the last backup ends at.\n\
             # TYPE journey_backup_last_position gauge\n\
             journey_backup_last_position {}\n",
            last.bytes, last.next_position
        )
    }
}

/// Takes a backup of the server's data directory into `out` while it serves.
pub async fn backup_now(state: &AppState, out: PathBuf) -> Result<Manifest, BackupError> {
    let _one_at_a_time = state.backups.running.lock().await;
    let now = state.ledger.clock().now();
    let worker = state.clone();
    let Some(sled_log) = worker.sled_log.clone() else {
        return Err(BackupError::RemoteLog);
    };
    let manifest = tokio::task::spawn_blocking(move || {
        take_backup(
            BackupSources {
                log: &sled_log,
                keys: worker.ledger.keys(),
                audit: &worker.audit,
                data_dir: &worker.data_dir,
            },
            &out,
            now,
            &|_, _| {},
        )
    })
    .await
    .map_err(|error| BackupError::Target {
        path: PathBuf::new(),
        message: format!("the backup task failed: {error}"),
    })??;
    state.backups.record(&manifest);
    Ok(manifest)
}

/// The body of `POST /admin/backup`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// The directory to write, on the server's machine; it must not exist or be empty.
    pub out: PathBuf,
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `POST /admin/backup`: an admin's token, a JSON body `{"out": DIR}`; answers the manifest.
pub async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let principal = match headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(|header| state.tokens.authenticate_header(header))
    {
        Some(Ok(principal)) => principal,
        _ => {
            return refusal(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "send an admin token: Authorization: Bearer jrn_...".into(),
            )
        }
    };
    let request: Result<BackupRequest, _> = serde_json::from_slice(body);
    let record = |outcome: &str, query: Option<String>| AuditRecord {
        principal: Some(principal.clone()),
        operation: "backup".into(),
        person: None,
        query,
        reason: None,
        outcome: outcome.to_owned(),
    };
    if principal.role != Role::Admin {
        let _ = state.audit(record("FORBIDDEN", None));
        return refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "only admin tokens may take backups".into(),
        );
    }
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            let _ = state.audit(record("BAD_USER_INPUT", None));
            return refusal(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                format!("the body must be {{\"out\": \"/path/to/new/dir\"}}: {error}"),
            );
        }
    };
    let query = Some(format!("out {}", request.out.display()));
    if state.audit(record("started", query.clone())).is_err() {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the audit log cannot be written".into(),
        );
    }
    match backup_now(state, request.out).await {
        Ok(manifest) => {
            let _ = state.audit(record("ok", query));
            Json(manifest).into_response()
        }
        Err(error @ BackupError::Target { .. }) => {
            let _ = state.audit(record("BAD_USER_INPUT", query));
            refusal(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", error.to_string())
        }
        Err(error) => {
            tracing::error!(%error, "backup failed");
            let _ = state.audit(record("INTERNAL", query));
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                error.to_string(),
            )
        }
    }
}

/// Settings of scheduled backups.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub every: Duration,
    pub dir: PathBuf,
    /// How many backups to keep; older ones are removed after each new one.
    pub keep: usize,
}

/// The shortest and longest `--backup-every`.
pub const BACKUP_INTERVAL_MIN: Duration = Duration::from_secs(1);
pub const BACKUP_INTERVAL_MAX: Duration = Duration::from_secs(366 * 86_400);

/// Reads `--backup-every`: a whole number of seconds, minutes, hours or days (`30m`, `6h`, `1d`).
pub fn parse_backup_interval(text: &str) -> Result<Duration, String> {
    crate::config::parse_whole_duration(text)
        .filter(|every| (BACKUP_INTERVAL_MIN..=BACKUP_INTERVAL_MAX).contains(every))
        .ok_or_else(|| {
            format!(
                "`{text}` is not a backup interval: give a whole number of seconds, minutes,                  hours or days from 1s to 366d, for example 30m, 6h or 1d"
            )
        })
}

/// The prefix of scheduled backups' directory names: `backup-<UTC time>-<position>`, so that the
/// names sort by time.
const SCHEDULED_PREFIX: &str = "backup-";

/// Takes a backup every `config.every` until `stop` turns true, keeping the newest `config.keep`.
pub async fn scheduled(
    state: AppState,
    config: ScheduleConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(config.every) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        let now = state.ledger.clock().now();
        let out = config.dir.join(format!(
            "{SCHEDULED_PREFIX}{}",
            now.format("%Y%m%dT%H%M%S%.3fZ")
        ));
        match backup_now(&state, out.clone()).await {
            Ok(manifest) => {
                tracing::info!(
                    out = %out.display(),
                    next_position = manifest.log.next_position,
                    bytes = manifest.total_bytes(),
                    "scheduled backup written"
                );
                if let Err(error) = prune(&config.dir, config.keep) {
                    tracing::error!(%error, "cannot remove old backups");
                }
            }
            Err(error) => tracing::error!(%error, out = %out.display(), "scheduled backup failed"),
        }
    }
}

/// Removes all but the newest `keep` complete scheduled backups in `dir` (those with a manifest;
/// anything else there is left alone).
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(SCHEDULED_PREFIX))
                && path.join(super::format::MANIFEST_FILE).is_file()
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for path in &removed {
        std::fs::remove_dir_all(path)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_intervals_take_units_and_refuse_what_is_out_of_bounds() {
        assert_eq!(
            parse_backup_interval("6h"),
            Ok(Duration::from_secs(6 * 3600))
        );
        assert_eq!(parse_backup_interval("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_backup_interval("90"), Ok(Duration::from_secs(90)));
        for bad in ["0s", "", "h", "1.5h", "-1m", "400d", "6 hours"] {
            let error = parse_backup_interval(bad).expect_err(bad);
            assert!(error.contains("not a backup interval"), "{error}");
        }
    }

    #[test]
    fn pruning_keeps_the_newest_complete_backups_and_leaves_other_files() {
        let dir = tempfile::tempdir().expect("dir");
        for name in [
            "backup-20260101T000000.000Z",
            "backup-20260102T000000.000Z",
            "backup-20260103T000000.000Z",
        ] {
            std::fs::create_dir(dir.path().join(name)).expect("dir");
            std::fs::write(dir.path().join(name).join("manifest.json"), "{}").expect("manifest");
        }
        std::fs::create_dir(dir.path().join("backup-20250101T000000.000Z")).expect("partial");
        std::fs::create_dir(dir.path().join("other")).expect("other");
        let removed = prune(dir.path(), 2).expect("prune");
        assert_eq!(
            removed,
            vec![dir.path().join("backup-20260101T000000.000Z")]
        );
        assert!(dir.path().join("backup-20260103T000000.000Z").exists());
        assert!(dir.path().join("backup-20250101T000000.000Z").exists());
        assert!(dir.path().join("other").exists());
    }
}
