//! `journey restore`: a backup into a new data directory, checked before anything is written and
//! verified before it is put in place.
//!
//! In order: the target must not exist or be empty; the manifest must parse, be of this format
//! version and list every required file and no unknown one; every file must have the size and the
//! SHA-256 the manifest gives, and the backup directory must hold no other file; the master key must
//! be configured and the erasure register readable. Only then is anything written, and only into a
//! hidden sibling of the target: the log, key, vault and audit entries, the epoch key file, the
//! tokens and the snapshot. The key and vault entries of every person the erasure register lists are
//! left out. The sibling is then opened like any data directory (which tombstones those persons'
//! keys, see [`crate::context::Context::open`]), `verify` walks the log, the log's head must be the
//! manifest's, and the audit chain must verify. Only a restore that passed all of this is renamed to
//! the target; any failure removes the sibling, so a refused restore writes nothing.

use std::path::{Path, PathBuf};

use journey_core::keys::{KeyMaterial, KeyStore, MasterKeySource};
use journey_core::log::{LogCopyHead, LogRestore};
use journey_core::store::{Store, StoreConfig};
use journey_core::verify::{verify, VerifyOptions};
use sha2::{Digest, Sha256};

use super::format::{self, EntryReader, Manifest};
use crate::audit::AuditLog;
use crate::context::{Context, Options};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("restore target `{path}` {message}")]
    Target { path: PathBuf, message: String },
    #[error("backup `{path}`: {message}; nothing was restored")]
    Backup { path: PathBuf, message: String },
    #[error(
        "restore needs the master key the backup was taken with: pass --master-key-file FILE (for \
         a data directory that generated its key, that is OLD-DATA-DIR/master.key) or set \
         JOURNEY_MASTER_KEY; a backup never holds the master key"
    )]
    MasterKeyNeeded,
    #[error(
        "restore needs the erasure register to re-apply every erasure: pass --erasure-register FILE \
         (with a key from JOURNEY_MASTER_KEY there is no master key file to find it beside)"
    )]
    RegisterNeeded,
    #[error("the restored copy does not verify: {message}; nothing was restored")]
    Verify { message: String },
    #[error("restoring into `{path}`: {message}; nothing was restored")]
    Write { path: PathBuf, message: String },
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub manifest: Manifest,
    /// Events in the restored log (the manifest's head).
    pub events: u64,
    /// Persons the erasure register made erased in the restored copy (erased after the backup).
    pub erased_by_register: usize,
}

/// Progress of a restore: a phase and how far it is, of how much.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// Checks `dir` as a backup without writing anything: the manifest, every file's size and SHA-256,
/// and that no file is missing or unknown. Returns the manifest.
pub fn check_backup(dir: &Path, progress: Progress<'_>) -> Result<Manifest, RestoreError> {
    let refused = |message: String| RestoreError::Backup {
        path: dir.to_owned(),
        message,
    };
    let manifest_path = dir.join(format::MANIFEST_FILE);
    let bytes = std::fs::read(&manifest_path)
        .map_err(|error| refused(format!("{}: {error}", format::MANIFEST_FILE)))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|error| refused(format!("{} does not parse: {error}", format::MANIFEST_FILE)))?;
    if manifest.format != format::FORMAT_NAME {
        return Err(refused(format!(
            "{} says format `{}`, not `{}`",
            format::MANIFEST_FILE,
            manifest.format,
            format::FORMAT_NAME
        )));
    }
    if manifest.format_version != format::FORMAT_VERSION {
        return Err(refused(format!(
            "format version {} is not the version this journey reads ({})",
            manifest.format_version,
            format::FORMAT_VERSION
        )));
    }
    let known = [
        format::LOG_FILE,
        format::KEYS_FILE,
        format::VAULT_FILE,
        format::AUDIT_FILE,
        format::EPOCH_FILE,
        format::TOKENS_FILE,
        format::SNAPSHOT_FILE,
    ];
    for file in &manifest.files {
        if !known.contains(&file.name.as_str()) {
            return Err(refused(format!(
                "{} lists `{}`, which is no file of a backup",
                format::MANIFEST_FILE,
                file.name
            )));
        }
    }
    for required in format::REQUIRED_FILES {
        if manifest.file(required).is_none() {
            return Err(refused(format!(
                "{} does not list `{required}`",
                format::MANIFEST_FILE
            )));
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|error| refused(error.to_string()))?;
    for entry in entries {
        let name = entry
            .map_err(|error| refused(error.to_string()))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name != format::MANIFEST_FILE && manifest.file(&name).is_none() {
            return Err(refused(format!(
                "`{name}` is not in {}: the directory holds more than the backup",
                format::MANIFEST_FILE
            )));
        }
    }
    let total = manifest.total_bytes();
    let mut checked = 0u64;
    for file in &manifest.files {
        let path = dir.join(&file.name);
        let found = describe_with_progress(&path, &mut |bytes| {
            progress("checking", checked + bytes, total)
        })
        .map_err(|error| refused(format!("`{}`: {error}", file.name)))?;
        if found.0 != file.bytes {
            return Err(refused(format!(
                "`{}` has {} bytes, the manifest says {}: the file is damaged or cut off",
                file.name, found.0, file.bytes
            )));
        }
        if found.1 != file.sha256 {
            return Err(refused(format!(
                "`{}` has SHA-256 {}, the manifest says {}: the file is damaged",
                file.name, found.1, file.sha256
            )));
        }
        checked += file.bytes;
    }
    parse_hash(&manifest.log.last_global_hash).ok_or_else(|| {
        refused("the manifest's log.last_global_hash is not 64 hex digits".into())
    })?;
    Ok(manifest)
}

fn describe_with_progress(
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
        progress(bytes);
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Restores the backup in `from` into the data directory of `options` (see the module
/// documentation for the order of checks).
pub async fn restore(
    from: &Path,
    options: &Options,
    progress: Progress<'_>,
) -> Result<RestoreReport, RestoreError> {
    let target = options.data_dir.clone();
    super::check_empty_target(&target).map_err(|message| RestoreError::Target {
        path: target.clone(),
        message,
    })?;
    match options.master_key_source() {
        MasterKeySource::DataDir => return Err(RestoreError::MasterKeyNeeded),
        MasterKeySource::Hex(_) if options.erasure_register.is_none() => {
            return Err(RestoreError::RegisterNeeded)
        }
        _ => {}
    }
    let register_path = options.erasure_register_path();
    let register =
        journey_core::erasure_register::ErasureRegister::open(&register_path).map_err(|error| {
            RestoreError::Backup {
                path: register_path.clone(),
                message: error.to_string(),
            }
        })?;
    let manifest = check_backup(from, progress)?;
    let erased = register.persons();

    let staging = super::staging_path(&target, "restoring");
    let _ = std::fs::remove_dir_all(&staging);
    let staged_options = Options {
        data_dir: staging.clone(),
        master_key_file: options.master_key_file.clone(),
        erasure_register: Some(register_path),
        // A backup holds the embedded log: it is restored as one.
        store: crate::context::LogStore::Sled,
    };
    let outcome = async {
        let erased_by_register = write_staging(from, &manifest, &staging, &erased, progress)?;
        verify_staging(&manifest, &staged_options, progress).await?;
        super::move_into_place(&staging, &target).map_err(|error| RestoreError::Write {
            path: target.clone(),
            message: error.to_string(),
        })?;
        Ok(erased_by_register)
    }
    .await;
    match outcome {
        Ok(erased_by_register) => Ok(RestoreReport {
            events: manifest.log.next_position,
            manifest,
            erased_by_register,
        }),
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

/// Writes the checked backup into `staging`, leaving out the keys and vault entries of `erased`.
/// Returns how many persons' keys it left out (persons erased after the backup was taken).
fn write_staging(
    from: &Path,
    manifest: &Manifest,
    staging: &Path,
    erased: &std::collections::BTreeSet<journey_core::envelope::PersonId>,
    progress: Progress<'_>,
) -> Result<usize, RestoreError> {
    let write_error = |message: String| RestoreError::Write {
        path: staging.to_owned(),
        message,
    };
    let damaged = |file: &str, message: String| RestoreError::Backup {
        path: from.join(file),
        message,
    };
    let store = Store::open(staging, &StoreConfig::default())
        .map_err(|error| write_error(error.to_string()))?;

    let head = LogCopyHead {
        next_position: manifest.log.next_position,
        last_global_hash: parse_hash(&manifest.log.last_global_hash).unwrap_or_default(),
    };
    let mut log = LogRestore::begin(&store).map_err(|error| write_error(error.to_string()))?;
    let mut reader = EntryReader::open(&from.join(format::LOG_FILE))
        .map_err(|error| damaged(format::LOG_FILE, error.to_string()))?;
    let mut events = 0u64;
    while let Some((key, value)) = reader
        .next_entry()
        .map_err(|message| damaged(format::LOG_FILE, message))?
    {
        log.entry(&key, &value)
            .map_err(|error| damaged(format::LOG_FILE, error.to_string()))?;
        if key.first() == Some(&b'e') {
            events += 1;
            if events.is_multiple_of(4096) {
                progress("restoring the log", events, head.next_position);
            }
        }
    }
    log.finish(head)
        .map_err(|error| damaged(format::LOG_FILE, error.to_string()))?;

    let entries = |file: &str| {
        format::read_entries(&from.join(file)).map_err(|message| damaged(file, message))
    };
    let epoch_file = std::fs::read(from.join(format::EPOCH_FILE))
        .map_err(|error| damaged(format::EPOCH_FILE, error.to_string()))?;
    let material = KeyMaterial {
        epoch_number: manifest.epoch_number,
        epoch_file,
        keys: entries(format::KEYS_FILE)?,
        vault: entries(format::VAULT_FILE)?,
    };
    let keys_left_out = KeyStore::restore_material(&store, &material, erased)
        .map_err(|error| write_error(error.to_string()))?;
    AuditLog::restore(&store, &entries(format::AUDIT_FILE)?)
        .map_err(|error| write_error(error.to_string()))?;
    store
        .flush()
        .map_err(|error| write_error(error.to_string()))?;
    drop(store);

    let copy = |name: &str, to: PathBuf| -> Result<(), RestoreError> {
        if manifest.file(name).is_none() {
            return Ok(());
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|error| write_error(error.to_string()))?;
        }
        std::fs::copy(from.join(name), &to)
            .and_then(|_| std::fs::File::open(&to)?.sync_all())
            .map_err(|error| write_error(format!("{}: {error}", to.display())))
    };
    copy(format::TOKENS_FILE, staging.join(crate::auth::TOKENS_FILE))?;
    copy(
        format::SNAPSHOT_FILE,
        staging
            .join("projections")
            .join(journey_projections::runner::SNAPSHOT_FILE),
    )?;
    Ok(keys_left_out)
}

/// Opens the staged copy as a data directory (which applies the erasure register), verifies the
/// log, its head against the manifest, and the audit chain.
async fn verify_staging(
    manifest: &Manifest,
    options: &Options,
    progress: Progress<'_>,
) -> Result<(), RestoreError> {
    let failed = |message: String| RestoreError::Verify { message };
    let context = Context::open(options)
        .await
        .map_err(|error| failed(error.to_string()))?;
    let head = context
        .sled_log
        .as_ref()
        .ok_or_else(|| failed("a backup is restored as an embedded log".to_owned()))?
        .committed_head()
        .map_err(|error| failed(error.to_string()))?;
    if head.next_position != manifest.log.next_position
        || hex::encode(head.last_global_hash) != manifest.log.last_global_hash
    {
        return Err(failed(format!(
            "the restored log ends at position {} with global hash {}, the manifest says {} and {}",
            head.next_position,
            hex::encode(head.last_global_hash),
            manifest.log.next_position,
            manifest.log.last_global_hash
        )));
    }
    // The restored sled log numbers its events densely: its head is their count.
    let total = head.next_position;
    let report = verify(&context.ledger, VerifyOptions::default(), |checked| {
        progress("verifying", checked, total)
    })
    .await
    .map_err(|error| failed(error.to_string()))?;
    if let Some(problem) = report.first_problem {
        return Err(failed(format!("{} ({})", problem, format::LOG_FILE)));
    }
    let audit = AuditLog::open(&context.store).map_err(|error| failed(error.to_string()))?;
    match audit.verify().map_err(|error| failed(error.to_string()))? {
        Ok(_) => {}
        Err(broken) => {
            return Err(failed(format!(
                "the audit chain is broken at entry {}: {} ({})",
                broken.seq,
                broken.reason,
                format::AUDIT_FILE
            )))
        }
    }
    if audit.len() != manifest.audit.next_seq {
        return Err(failed(format!(
            "the restored audit log ends at entry {}, the manifest says {} ({})",
            audit.len(),
            manifest.audit.next_seq,
            format::AUDIT_FILE
        )));
    }
    drop(audit);
    context
        .close()
        .await
        .map_err(|error| failed(error.to_string()))
}
