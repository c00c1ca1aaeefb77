//! The erasure register: every person ever erased, kept outside the data directory so that no
//! backup of the data directory can undo an erasure (see `docs/adr/0003-erasures-survive-restores.md`).
//!
//! A backup taken before a person was erased still holds that person's wrapped data key and vault
//! entry, and the epoch key that opens them. Restoring it would bring the person back. The register
//! is the one thing a restore cannot take from the backup: it lives beside the master key (by default
//! `<master-key-file>.erasures`), and the key store reads it when it opens and destroys the key of
//! every person it lists that still has one ([`crate::keys::KeyStore::apply_erasure_register`]).
//!
//! The file is append-only text, one line per erased person: `person-<uuid>`. A line is written and
//! synced before the person's key is destroyed, so an acknowledged erasure is always in the register
//! (the erasure intent makes the open that follows a crash write it, see [`crate::keys`]). The person
//! id is no personal data in the sense of the vault: it is the stream name every event envelope of
//! the log already carries in clear.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use uuid::Uuid;

use crate::envelope::PersonId;

/// The default name of the register beside a master key file: `<master-key-file>` plus this suffix.
pub const REGISTER_SUFFIX: &str = ".erasures";

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("erasure register `{path}`: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "erasure register `{path}`, line {line}: `{text}` is not `person-<uuid>`; the register is \
         damaged: restore it from where you keep its copies (it must never lose a line)"
    )]
    Malformed {
        path: PathBuf,
        line: usize,
        text: String,
    },
}

/// The register file and the persons it lists (read once, then kept in memory).
#[derive(Debug)]
pub struct ErasureRegister {
    path: PathBuf,
    persons: Mutex<BTreeSet<PersonId>>,
}

impl ErasureRegister {
    /// Opens the register at `path`; a file that does not exist is an empty register (it is created
    /// with the first erasure).
    pub fn open(path: &Path) -> Result<Self, RegisterError> {
        let persons = read_persons(path)?;
        Ok(Self {
            path: path.to_owned(),
            persons: Mutex::new(persons),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every person the register lists.
    pub fn persons(&self) -> BTreeSet<PersonId> {
        self.lock().clone()
    }

    pub fn contains(&self, person: PersonId) -> bool {
        self.lock().contains(&person)
    }

    /// Adds `person`, durably (the line is synced, and the directory when the file is new), unless
    /// the register lists them already.
    pub fn record(&self, person: PersonId) -> Result<(), RegisterError> {
        let mut persons = self.lock();
        if persons.contains(&person) {
            return Ok(());
        }
        let error = |e: std::io::Error| RegisterError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let created = !self.path.exists();
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.path).map_err(error)?;
        file.write_all(format!("{person}\n").as_bytes())
            .map_err(error)?;
        file.sync_all().map_err(error)?;
        if created {
            if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|dir| dir.sync_all())
                    .map_err(error)?;
            }
        }
        persons.insert(person);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<PersonId>> {
        self.persons
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_persons(path: &Path) -> Result<BTreeSet<PersonId>, RegisterError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(error) => {
            return Err(RegisterError::Io {
                path: path.to_owned(),
                message: error.to_string(),
            })
        }
    };
    let mut persons = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let person = trimmed
            .strip_prefix(crate::envelope::PERSON_STREAM_PREFIX)
            .and_then(|uuid| Uuid::parse_str(uuid).ok())
            .ok_or_else(|| RegisterError::Malformed {
                path: path.to_owned(),
                line: index + 1,
                text: trimmed.chars().take(80).collect(),
            })?;
        persons.insert(PersonId(person));
    }
    Ok(persons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_person_is_listed_after_reopening_and_recorded_once() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("master.key.erasures");
        let person = PersonId(Uuid::from_u128(7));
        let register = ErasureRegister::open(&path).expect("open");
        assert!(!register.contains(person));
        register.record(person).expect("record");
        register.record(person).expect("again");
        let reopened = ErasureRegister::open(&path).expect("reopen");
        assert_eq!(reopened.persons(), BTreeSet::from([person]));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn a_damaged_line_is_refused_with_its_number() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("register");
        std::fs::write(
            &path,
            format!("{}\nperson-not-a-uuid\n", PersonId(Uuid::from_u128(1))),
        )
        .expect("write");
        match ErasureRegister::open(&path) {
            Err(RegisterError::Malformed { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a malformed line, got {other:?}"),
        }
    }
}
