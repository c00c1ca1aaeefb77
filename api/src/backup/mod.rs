//! Online backups and verified restores of the embedded store (issue 15).
//!
//! - `format.rs`: the backup directory (entry files, `manifest.json` with sizes and SHA-256).
//! - `take.rs`: a consistent copy as of one log position, from an open data directory.
//! - `restore.rs`: every check before anything is written, then the restore into a hidden
//!   sibling, the erasure register applied, `verify`, and only then the rename into place.
//! - `online.rs`: the running server's side: `POST /admin/backup` and `--backup-every`.
//! - `client.rs`: how `journey backup` asks a running server for a backup.
//!
//! The erasure register is never in a backup and always applied by a restore: see
//! `docs/adr/0003-erasures-survive-restores.md`.

pub mod client;
pub mod format;
pub mod online;
pub mod restore;
pub mod take;

use std::path::{Path, PathBuf};

pub use format::Manifest;
pub use take::{take_backup, BackupError, BackupSources};

/// `Ok` when `path` does not exist or is an empty directory; otherwise why it cannot be written.
pub fn check_empty_target(path: &Path) -> Result<(), String> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err("is not empty; name a new or empty directory".into()),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            Err("is a file; name a new or empty directory".into())
        }
        Err(error) => Err(error.to_string()),
    }
}

/// A hidden sibling of `target` to write into before the rename: `.<name>.<what>-<pid>`.
pub(crate) fn staging_path(target: &Path, what: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let parent = target.parent().unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{what}-{}", std::process::id()))
}

/// Renames the complete `staging` directory to `target` (an empty `target` is removed first) and
/// syncs the parent, so `target` appears whole or not at all.
pub(crate) fn move_into_place(staging: &Path, target: &Path) -> std::io::Result<()> {
    if target.exists() {
        std::fs::remove_dir(target)?;
    }
    std::fs::rename(staging, target)?;
    let parent = target
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(parent)?.sync_all()
}
