//! Snapshots of the journals, so that a restart resumes from its checkpoint instead of position 0.
//!
//! A snapshot is one file holding the checkpoint (the last applied position) together with every
//! journal as of that position, so state and checkpoint are stored atomically: the file is written
//! to a temporary name, synced and renamed over the previous one. After a crash the last complete
//! snapshot is loaded and the log is replayed from the position after its checkpoint, so no event is
//! applied twice and none is skipped.
//!
//! Each person's journal is sealed with that person's data key (the same key as their events), so a
//! snapshot holds nothing readable about a person once their key is destroyed by erasure.
//!
//! Layout: magic `JRNYSNP1`, then a postcard [`Header`], then per person a postcard [`Entry`], then
//! the SHA-256 of everything before it.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::{self, Agency};
use journey_core::crypto;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::fault::{self, FaultPoint};
use journey_core::keys::{KeyState, KeyStore};
use journey_core::log::Position;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::journal::{Fact, Inline, Journal, Journals, Store};

const MAGIC: &[u8; 8] = b"JRNYSNP1";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] journey_core::keys::KeyError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The projection version the snapshot was made by.
    pub version: u32,
    /// The last applied position, `None` for an empty log.
    pub checkpoint: Option<Position>,
    pub persons: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    person: [u8; 16],
    erased: bool,
    /// `seal(person key, postcard(Vec<StoredFact>))`; empty for erased persons.
    sealed: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredFact {
    position: u64,
    revision: u64,
    id: [u8; 16],
    occurred_on_days: i32,
    recorded_at_micros: i64,
    actor_id: String,
    actor_agency: Option<String>,
    actor_role: String,
    event_type: String,
    /// The event's JSON payload at its current version.
    data: Vec<u8>,
}

fn aad(person: PersonId) -> Vec<u8> {
    let mut aad = b"journey/v1/projection-snapshot/".to_vec();
    aad.extend_from_slice(person.0.as_bytes());
    aad
}

fn role_name(role: ActorRole) -> &'static str {
    match role {
        ActorRole::Caseworker => "caseworker",
        ActorRole::Coordinator => "coordinator",
        ActorRole::Analyst => "analyst",
        ActorRole::Auditor => "auditor",
        ActorRole::Admin => "admin",
        ActorRole::System => "system",
    }
}

fn role_from_name(name: &str) -> Option<ActorRole> {
    Some(match name {
        "caseworker" => ActorRole::Caseworker,
        "coordinator" => ActorRole::Coordinator,
        "analyst" => ActorRole::Analyst,
        "auditor" => ActorRole::Auditor,
        "admin" => ActorRole::Admin,
        "system" => ActorRole::System,
        _ => return None,
    })
}

/// The stored form of `fact`, whose event and actor `store` keeps: the snapshot holds every fact
/// whole, sealed with its person's key, whatever form the journals keep in memory (an interner's
/// table is shared between persons and could not be sealed per person).
fn to_stored<S: Store>(store: &S, fact: &Fact<S::Event, S::Actor>) -> StoredFact {
    let actor = store.actor(&fact.actor);
    let event = store.event(&fact.event);
    StoredFact {
        position: fact.position.raw(),
        revision: u64::from(fact.revision),
        id: *fact.id.as_bytes(),
        occurred_on_days: chrono::Datelike::num_days_from_ce(&fact.occurred_on),
        recorded_at_micros: fact.recorded_at.time().timestamp_micros(),
        actor_id: actor.id.clone(),
        actor_agency: actor.agency.map(|agency| agency.as_str().to_owned()),
        actor_role: role_name(actor.role).to_owned(),
        event_type: event.event_type().name().to_owned(),
        data: serde_json::to_vec(&event.to_data()).unwrap_or_default(),
    }
}

fn from_stored(stored: StoredFact) -> Result<Fact, String> {
    let occurred_on = NaiveDate::from_num_days_from_ce_opt(stored.occurred_on_days)
        .ok_or("occurred_on out of range")?;
    let recorded_at: DateTime<Utc> = DateTime::from_timestamp_micros(stored.recorded_at_micros)
        .ok_or("recorded_at out of range")?;
    let agency = match stored.actor_agency {
        Some(name) => Some(Agency::parse(&name).ok_or_else(|| format!("unknown agency `{name}`"))?),
        None => None,
    };
    let role = role_from_name(&stored.actor_role)
        .ok_or_else(|| format!("unknown role `{}`", stored.actor_role))?;
    let data: serde_json::Value =
        serde_json::from_slice(&stored.data).map_err(|error| error.to_string())?;
    let event_type = catalogue::EventType::from_name(&stored.event_type)
        .ok_or_else(|| format!("unknown event type `{}`", stored.event_type))?;
    let event = catalogue::decode(event_type.name(), event_type.current_version(), data)
        .map_err(|e| e.to_string())?;
    Fact::new(
        Position::from_raw(stored.position),
        stored.revision,
        Uuid::from_bytes(stored.id),
        occurred_on,
        recorded_at,
        Actor {
            id: stored.actor_id,
            agency,
            role,
        },
        event,
    )
    .map_err(|error| error.to_string())
}

/// A writer that hashes everything it writes.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_frame(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)
}

/// Where a snapshot for `path` is written before it is renamed over `path`.
fn temporary_path(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

/// Deletes what a snapshot write for `path` that never reached its rename left behind (a crash
/// between the two): it is never loaded, and it would keep journals on disk that the next snapshot
/// no longer holds. Returns whether there was one.
pub fn discard_unfinished(path: &Path) -> Result<bool, SnapshotError> {
    let temporary = temporary_path(path);
    match std::fs::remove_file(&temporary) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SnapshotError::Io {
            path: temporary,
            source,
        }),
    }
}

/// One person's journal made ready for a snapshot: its facts serialized but not yet sealed.
#[derive(Debug)]
pub struct PreparedEntry {
    person: PersonId,
    erased: bool,
    /// `postcard(Vec<StoredFact>)`; empty for erased persons.
    plain: Vec<u8>,
}

/// Serializes every journal for a snapshot, on up to `threads` threads. This is the part that must
/// see the journals; the runner does it under its read lock and seals and writes afterwards, so a
/// snapshot needs no copy of the journals (which would double their memory for a moment, and the
/// allocator keeps such a peak) and the live loop waits only for the serialization.
pub fn prepare<S: Store>(
    store: &S,
    journals: &Journals<S::Event, S::Actor>,
    threads: usize,
) -> Vec<PreparedEntry> {
    let prepare_one =
        |(person, journal): (&PersonId, &Journal<S::Event, S::Actor>)| PreparedEntry {
            person: *person,
            erased: journal.erased,
            plain: if journal.erased {
                Vec::new()
            } else {
                let facts: Vec<StoredFact> = journal
                    .facts
                    .iter()
                    .map(|fact| to_stored(store, fact))
                    .collect();
                postcard::to_allocvec(&facts).unwrap_or_default()
            },
        };
    let persons = journals.len();
    let threads = if persons < 2048 { 1 } else { threads };
    let shares = crate::parallel::map_shares(persons, threads, |range| {
        journals
            .iter()
            .skip(range.start)
            .take(range.len())
            .map(prepare_one)
            .collect::<Vec<_>>()
    });
    let mut entries = Vec::with_capacity(persons);
    for share in shares {
        entries.extend(share);
    }
    entries
}

/// Writes a snapshot atomically to `path`.
pub fn write(
    path: &Path,
    version: u32,
    checkpoint: Option<Position>,
    journals: &Journals,
    keys: &KeyStore,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(), SnapshotError> {
    write_prepared(
        path,
        version,
        checkpoint,
        prepare(&Inline, journals, 1),
        keys,
        rng,
    )
}

/// Seals the prepared journals, each with its person's key, and writes them atomically to `path`.
pub fn write_prepared(
    path: &Path,
    version: u32,
    checkpoint: Option<Position>,
    entries: Vec<PreparedEntry>,
    keys: &KeyStore,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<(), SnapshotError> {
    let io = |source: std::io::Error| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let temporary = temporary_path(path);
    let file = std::fs::File::create(&temporary).map_err(io)?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
    };
    out.write_all(MAGIC).map_err(io)?;
    let header = Header {
        version,
        checkpoint,
        persons: entries.len() as u64,
    };
    write_frame(
        &mut out,
        &postcard::to_allocvec(&header).unwrap_or_default(),
    )
    .map_err(io)?;
    for prepared in entries {
        let person = prepared.person;
        let sealed = if prepared.erased {
            Vec::new()
        } else {
            match keys.state(person)? {
                KeyState::Present(key) => crypto::seal(&key, &aad(person), &prepared.plain, rng)
                    .map_err(|error| SnapshotError::Invalid {
                        path: path.to_owned(),
                        message: error.to_string(),
                    })?,
                // The key went while the snapshot was being written: the person is being erased.
                KeyState::Destroyed | KeyState::Absent => Vec::new(),
            }
        };
        let entry = Entry {
            person: *person.0.as_bytes(),
            erased: prepared.erased || sealed.is_empty(),
            sealed,
        };
        write_frame(&mut out, &postcard::to_allocvec(&entry).unwrap_or_default()).map_err(io)?;
    }
    let digest = out.hasher.clone().finalize();
    let mut inner = out.inner;
    inner.write_all(&digest).map_err(io)?;
    let file = inner.into_inner().map_err(|error| io(error.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    fault::hit(FaultPoint::AbortBeforeSnapshotRename);
    std::fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            // Make the rename durable too; a failure here only risks the older snapshot on a crash.
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Reads only the header of a snapshot.
pub fn read_header(path: &Path) -> Result<Option<Header>, SnapshotError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let mut input = BufReader::new(file);
    let mut magic = [0u8; 8];
    let invalid = |message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        message,
    };
    input
        .read_exact(&mut magic)
        .map_err(|e| invalid(e.to_string()))?;
    if &magic != MAGIC {
        return Err(invalid("not a journey snapshot".into()));
    }
    let frame = read_frame(&mut input).map_err(invalid)?;
    postcard::from_bytes(&frame)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

fn read_frame(input: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len).map_err(|e| e.to_string())?;
    let len = u64::from_le_bytes(len);
    if len > 1 << 32 {
        return Err(format!("frame of {len} bytes is implausible"));
    }
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// One person's journal from its snapshot entry.
fn open_entry(
    entry: &Entry,
    keys: &KeyStore,
    invalid: &(impl Fn(String) -> SnapshotError + Sync),
) -> Result<(PersonId, Journal), SnapshotError> {
    let person = PersonId(Uuid::from_bytes(entry.person));
    let journal = if entry.erased {
        Journal {
            facts: Vec::new(),
            erased: true,
        }
    } else {
        match keys.state(person)? {
            KeyState::Present(key) => {
                let plain = crypto::open(&key, &aad(person), &entry.sealed)
                    .map_err(|e| invalid(format!("{person}: {e}")))?;
                let stored: Vec<StoredFact> =
                    postcard::from_bytes(&plain).map_err(|e| invalid(e.to_string()))?;
                let facts = stored
                    .into_iter()
                    .map(from_stored)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|message| invalid(format!("{person}: {message}")))?;
                Journal {
                    facts,
                    erased: false,
                }
            }
            // Erased after the snapshot was written: nothing of the person may come back.
            KeyState::Destroyed => Journal {
                facts: Vec::new(),
                erased: true,
            },
            KeyState::Absent => return Err(invalid(format!("{person} has no data key"))),
        }
    };
    Ok((person, journal))
}

/// Loads a snapshot; `None` when there is none. The whole file is checked against its digest first.
pub fn load(path: &Path, keys: &KeyStore) -> Result<Option<(Header, Journals)>, SnapshotError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let invalid = |message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        message,
    };
    if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(invalid("not a journey snapshot".into()));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(invalid(
            "digest mismatch: the file is incomplete or damaged".into(),
        ));
    }
    let mut input = &body[MAGIC.len()..];
    let header: Header = postcard::from_bytes(&read_frame(&mut input).map_err(invalid)?)
        .map_err(|e| invalid(e.to_string()))?;
    // The count is only as trustworthy as the file's digest, so the room reserved is bounded by
    // what the file can hold (a frame takes at least its 8-byte length).
    let mut entries = Vec::with_capacity(
        usize::try_from(header.persons)
            .unwrap_or(0)
            .min(input.len() / 8),
    );
    for _ in 0..header.persons {
        let entry: Entry = postcard::from_bytes(&read_frame(&mut input).map_err(invalid)?)
            .map_err(|e| invalid(e.to_string()))?;
        entries.push(entry);
    }
    // Opening and decoding every journal is nearly all of a load; persons are independent, so
    // each core takes a contiguous share and the shares are joined in the file's (person) order.
    let opened = crate::parallel::map_shares(entries.len(), crate::parallel::threads(), |range| {
        entries[range]
            .iter()
            .map(|entry| open_entry(entry, keys, &invalid))
            .collect::<Result<Vec<(PersonId, Journal)>, SnapshotError>>()
    });
    let mut journals = Journals::new();
    for share in opened {
        journals.extend(share?);
    }
    Ok(Some((header, journals)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_snapshot_is_discarded_and_the_finished_one_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journals.snapshot");
        std::fs::write(&path, b"the last complete snapshot").expect("snapshot");
        std::fs::write(temporary_path(&path), b"cut off before its rename").expect("leftover");

        assert!(discard_unfinished(&path).expect("discard"));

        assert!(!temporary_path(&path).exists());
        assert_eq!(
            std::fs::read(&path).expect("snapshot"),
            b"the last complete snapshot"
        );
        assert!(!discard_unfinished(&path).expect("nothing left"));
    }
}
