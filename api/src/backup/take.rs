//! Taking a backup from an open data directory: by `journey backup` on a stopped server's
//! directory, or by the running server (its admin endpoint and its schedule), while appends go on.
//!
//! The copy is as of one log position: the committed head when the backup starts. Everything below
//! it never changes, so the log needs no lock. The key material is copied under the epoch in force
//! (no erasure can rotate it meanwhile) after the head was taken, so every person with an event
//! below the head has their key in the copy. The audit log is copied under its own lock. The vault,
//! the audit log, the tokens and the snapshot are as of the moment each is copied, a little after
//! the head: the manifest says where the log ends, which is what a restore reproduces.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use journey_core::keys::{KeyError, KeyStore};
use journey_core::log::{LogError, SledLog};

use super::format::{self, EntryWriter, FileEntry, Manifest};
use crate::audit::{AuditError, AuditLog};

/// What a backup reads from.
#[derive(Debug, Clone, Copy)]
pub struct BackupSources<'a> {
    pub log: &'a SledLog,
    pub keys: &'a KeyStore,
    pub audit: &'a AuditLog,
    pub data_dir: &'a Path,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup target `{path}`: {message}")]
    Target { path: PathBuf, message: String },
    #[error("writing the backup file `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading `{path}` for the backup: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the event log is in a KurrentDB server (`--store kurrentdb://…`): a journey backup copies the embedded log only; back the log up with the cluster's own backups, and the data directory (keys, vault, tokens, audit) with `journey backup` on a data directory whose log is embedded")]
    RemoteLog,
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Progress of a backup: events copied so far, of how many.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Writes a full backup of `sources` to `out` (which must not exist or be an empty directory) and
/// returns its manifest. The files are written into a hidden sibling directory first and renamed
/// to `out` when complete, so `out` never holds a partial backup.
pub fn take_backup(
    sources: BackupSources<'_>,
    out: &Path,
    now: DateTime<Utc>,
    progress: Progress<'_>,
) -> Result<Manifest, BackupError> {
    super::check_empty_target(out).map_err(|message| BackupError::Target {
        path: out.to_owned(),
        message,
    })?;
    let staging = super::staging_path(out, "partial");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .and_then(|()| private_dir(&staging))
        .map_err(|source| BackupError::Write {
            path: staging.clone(),
            source,
        })?;
    match write_files(sources, &staging, now, progress) {
        Ok(manifest) => {
            super::move_into_place(&staging, out).map_err(|source| BackupError::Write {
                path: out.to_owned(),
                source,
            })?;
            Ok(manifest)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

/// A backup holds the epoch key and every sealed record, so only its owner may read it (the data
/// directory's files are as private; without the master key none of it opens, see SECURITY.md).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn write_files(
    sources: BackupSources<'_>,
    dir: &Path,
    now: DateTime<Utc>,
    progress: Progress<'_>,
) -> Result<Manifest, BackupError> {
    let write_error = |path: PathBuf| move |source| BackupError::Write { path, source };
    let mut files = Vec::new();

    let head = sources.log.committed_head()?;
    let log_path = dir.join(format::LOG_FILE);
    let mut log = EntryWriter::create(&log_path).map_err(write_error(log_path.clone()))?;
    let mut events = 0u64;
    sources
        .log
        .copy_entries::<BackupError>(head, |key, value| {
            log.entry(key, value)
                .map_err(write_error(log_path.clone()))?;
            if key.first() == Some(&b'e') {
                events += 1;
                if events.is_multiple_of(4096) {
                    progress(events, head.next_position);
                }
            }
            Ok(())
        })?;
    files.push(log.finish().map_err(write_error(log_path.clone()))?);
    progress(head.next_position, head.next_position);

    let material = sources.keys.copy_material()?;
    files.push(write_entries(dir, format::KEYS_FILE, &material.keys)?);
    files.push(write_entries(dir, format::VAULT_FILE, &material.vault)?);
    files.push(
        format::write_file(dir, format::EPOCH_FILE, &material.epoch_file)
            .map_err(write_error(dir.join(format::EPOCH_FILE)))?,
    );

    let audit = sources.audit.copy()?;
    files.push(write_entries(dir, format::AUDIT_FILE, &audit.entries)?);

    let tokens = sources.data_dir.join(crate::auth::TOKENS_FILE);
    match std::fs::read(&tokens) {
        Ok(bytes) => files.push(
            format::write_file(dir, format::TOKENS_FILE, &bytes)
                .map_err(write_error(dir.join(format::TOKENS_FILE)))?,
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BackupError::Read {
                path: tokens,
                source,
            })
        }
    }
    if let Some(entry) = copy_snapshot(sources.data_dir, dir, head.next_position)? {
        files.push(entry);
    }

    let manifest = Manifest {
        format: format::FORMAT_NAME.to_owned(),
        format_version: format::FORMAT_VERSION,
        journey_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: now,
        log: format::LogHead {
            next_position: head.next_position,
            last_global_hash: hex::encode(head.last_global_hash),
        },
        audit: format::AuditHead {
            next_seq: audit.next_seq,
            last_hash: hex::encode(audit.last_hash),
        },
        epoch_number: material.epoch_number,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    format::write_file(dir, format::MANIFEST_FILE, &json)
        .map_err(write_error(dir.join(format::MANIFEST_FILE)))?;
    Ok(manifest)
}

fn write_entries(
    dir: &Path,
    name: &str,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> Result<FileEntry, BackupError> {
    let path = dir.join(name);
    let error = |source| BackupError::Write {
        path: path.clone(),
        source,
    };
    let mut writer = EntryWriter::create(&path).map_err(error)?;
    for (key, value) in entries {
        writer.entry(key, value).map_err(error)?;
    }
    writer.finish().map_err(error)
}

/// Copies the projections' snapshot when it was taken below `next_position` (a snapshot ahead of
/// the copied log could not be loaded with it; without one, the restored store's projections
/// rebuild from the log). The file is copied first and its header read from the copy, because the
/// server may replace the original meanwhile.
fn copy_snapshot(
    data_dir: &Path,
    dir: &Path,
    next_position: u64,
) -> Result<Option<FileEntry>, BackupError> {
    let source = data_dir
        .join("projections")
        .join(journey_projections::runner::SNAPSHOT_FILE);
    let target = dir.join(format::SNAPSHOT_FILE);
    match std::fs::copy(&source, &target) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source_error) => {
            return Err(BackupError::Read {
                path: source,
                source: source_error,
            })
        }
    }
    let usable = match journey_projections::snapshot::read_header(&target) {
        Ok(Some(header)) => header
            .checkpoint
            // The copied sled log holds the positions below its `next_position`.
            .is_none_or(|checkpoint| checkpoint.raw() < next_position),
        _ => false,
    };
    if !usable {
        let _ = std::fs::remove_file(&target);
        return Ok(None);
    }
    std::fs::File::open(&target)
        .and_then(|file| file.sync_all())
        .and_then(|()| format::describe_file(&target))
        .map(Some)
        .map_err(|source| BackupError::Write {
            path: target,
            source,
        })
}
