//! Snapshots of the journals, so that a restart resumes from its checkpoint instead of position 0.
//!
//! A snapshot is one file holding the checkpoint (the last applied position) together with every
//! journal as of that position, so state and checkpoint are stored atomically: the file is written
//! to a temporary name, synced and renamed over the previous one. After a crash the last complete
//! snapshot is loaded and the log is replayed from the position after its checkpoint, so no event is
//! applied twice and none is skipped.
//!
//! The file keeps the journals in the interned form the runner holds them in, so that a load
//! decodes each distinct event once and hands the runner its interner ready made, instead of
//! decoding every fact's event and interning it again:
//! - the events and actors that the facts of **two persons or more** hold are stored once, in the
//!   shared table (each as its type and JSON payload at the current version, as the catalogue
//!   reads it), sealed with the snapshot key of the key epoch in force
//!   ([`KeyStore::snapshot_shared_key`], a subkey of the epoch key); they are values that belong to
//!   no single person;
//! - everything else about a person, their facts and every event and actor that only their facts
//!   hold, is that person's entry, sealed with their data key (the same key as their events). A
//!   fact names its event and actor by a [`ValueRef`]: an index into the shared table or into the
//!   entry's own values.
//!
//! So nothing in a snapshot is readable without the master key (as in the log), and nothing about a
//! person once their key is destroyed by erasure: what only they held is sealed under the destroyed
//! key, and the erasure rotates the epoch, whose snapshot key sealed the shared table; a snapshot
//! of an earlier epoch is refused with [`SnapshotError::EpochRotated`] and the projections are
//! rebuilt from the log (the runner writes the next snapshot under the new epoch).
//!
//! The kept rows of the past cuts ([`History`], `crate::kept_rows`) go in too, when they are up to
//! date with the checkpoint, so that a start with a snapshot serves a past `known_at` from them
//! once it has refreshed the persons touched since, instead of building them again: one section,
//! sealed with the same snapshot key of the epoch as the shared table (an erasure rotates the
//! epoch, so a file written before it cannot be opened after it; and no file is written with kept
//! rows that still hold an erased person's rows, even ones a refresh replaced: an erasure builds
//! the kept rows again, `crate::kept_rows`, and `crate::runner::with_kept_rows` checks). The
//! section is compact (`crate::kpi::compact`: dates as day numbers, times as differences, what a
//! person's next row repeats written once), about 13 bytes an event where their memory layout
//! written as it lies took 53.
//!
//! Layout: magic `JRNYSNP3`, then a postcard [`Header`], then the sealed postcard [`Shared`] table,
//! then per person a postcard [`Entry`], then the sealed kept rows ([`History::to_snapshot_bytes`])
//! or an empty frame for none, then the SHA-256 of everything before it. A file of the layout
//! before (`JRNYSNP2`, the same without the kept rows' frame) loads without kept rows, which are
//! then built as after a start without snapshot. A kept rows' section that does not open is
//! refused with [`SnapshotError::KeptRows`], and the projections are rebuilt from the log; one
//! that opens is decoded and checked later, off the start ([`KeptRowsBytes::decode`]), and when
//! it does not hold kept rows as they are built they are built again: never served. A file of an
//! earlier layout (`JRNYSNP1`, whose entries held every fact with its JSON payload) is refused with
//! [`SnapshotError::ForeignFormat`] and the projections are rebuilt from the log.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use journey_core::catalogue::{self, Agency, Event};
use journey_core::crypto;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::fault::{self, FaultPoint};
use journey_core::keys::{KeyState, KeyStore};
use journey_core::log::Position;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::journal::{
    ActorSymbol, EventSymbol, Fact, Hashed, Inline, Interner, Journal, Journals, RecordedAt, Store,
};
use crate::kpi::history::History;

const MAGIC: &[u8; 8] = b"JRNYSNP3";

/// The layout before the kept rows: read as this one without them.
const MAGIC_WITHOUT_KEPT_ROWS: &[u8; 8] = b"JRNYSNP2";

/// The magics of earlier layouts: such a file is no damage, only older than this build.
const EARLIER_MAGICS: [&[u8; 8]; 1] = [b"JRNYSNP1"];

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "snapshot {path}: written in the earlier layout `{found}` (this build reads `JRNYSNP2`); \
         the projections are rebuilt from the log and the next snapshot is written in the new layout"
    )]
    ForeignFormat { path: PathBuf, found: String },
    #[error(
        "snapshot {path}: its kept rows of the past cuts are unusable ({message}); the snapshot is \
         not used and the projections are rebuilt from the log"
    )]
    KeptRows { path: PathBuf, message: String },
    #[error(
        "snapshot {path}: its shared table is sealed under key epoch {written}, the key store is at \
         epoch {current} (an erasure or an epoch rotation since it was written); the projections \
         are rebuilt from the log"
    )]
    EpochRotated {
        path: PathBuf,
        written: u64,
        current: u64,
    },
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
    /// The key epoch whose snapshot key ([`KeyStore::snapshot_shared_key`]) sealed the shared
    /// table; a file of an earlier epoch cannot be opened any more (an erasure rotated the epoch
    /// since) and the projections are rebuilt from the log.
    pub shared_epoch: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry<'a> {
    person: [u8; 16],
    erased: bool,
    /// `seal(person key, postcard(Own))`; empty for erased persons.
    #[serde(borrow)]
    sealed: &'a [u8],
}

/// An event as stored: its type and its JSON payload at its current version. A load borrows both
/// from the unsealed bytes (postcard writes a `Vec<u8>` and a `&[u8]` alike), so decoding an event
/// allocates only the event.
#[derive(Debug, Serialize, Deserialize)]
struct StoredEvent<'a> {
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    data: Cow<'a, [u8]>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredActor<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    agency: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Cow<'a, str>,
}

/// The events and actors that the facts of two persons or more hold, each once, sealed with the
/// snapshot key of the key epoch in force.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Shared<'a> {
    #[serde(borrow)]
    events: Vec<StoredEvent<'a>>,
    #[serde(borrow)]
    actors: Vec<StoredActor<'a>>,
}

/// Where a fact's event or actor is: in the shared table or among its person's own values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum ValueRef {
    Shared(u32),
    Own(u32),
}

/// A fact as stored. Position and transaction time are kept as the difference from the person's
/// previous fact (the first: from 0), which a person's facts keep small; both wrap, so every value
/// comes back exactly.
#[derive(Debug, Serialize, Deserialize)]
struct StoredFact {
    position_delta: u64,
    revision: u32,
    id: [u8; 16],
    occurred_on_days: i32,
    recorded_at_delta_nanos: i64,
    actor: ValueRef,
    event: ValueRef,
}

/// A person's sealed part: the events and actors only their facts hold, and the facts.
#[derive(Debug, Serialize, Deserialize)]
struct Own<'a> {
    #[serde(borrow)]
    events: Vec<StoredEvent<'a>>,
    #[serde(borrow)]
    actors: Vec<StoredActor<'a>>,
    facts: Vec<StoredFact>,
}

/// The associated data of the sealed shared table.
const SHARED_AAD: &[u8] = b"journey/v1/projection-snapshot/shared";

/// The associated data of the sealed kept rows.
const KEPT_ROWS_AAD: &[u8] = b"journey/v1/projection-snapshot/kept-rows";

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

fn to_stored_event(event: &Event) -> StoredEvent<'static> {
    StoredEvent {
        event_type: Cow::Borrowed(event.event_type().name()),
        data: Cow::Owned(serde_json::to_vec(&event.to_data()).unwrap_or_default()),
    }
}

/// The event of `stored`, its payload read straight into its type: the file holds each event as
/// [`Event::to_data`] wrote it, at the current version, so nothing is upcast.
fn from_stored_event(stored: &StoredEvent<'_>) -> Result<Event, String> {
    let event_type = catalogue::EventType::from_name(&stored.event_type)
        .ok_or_else(|| format!("unknown event type `{}`", stored.event_type))?;
    catalogue::decode_current_json(event_type, &stored.data).map_err(|error| error.to_string())
}

fn to_stored_actor(actor: &Actor) -> StoredActor<'_> {
    StoredActor {
        id: Cow::Borrowed(&actor.id),
        agency: actor.agency.map(|agency| Cow::Borrowed(agency.as_str())),
        role: Cow::Borrowed(role_name(actor.role)),
    }
}

fn from_stored_actor(stored: StoredActor<'_>) -> Result<Actor, String> {
    let agency = match stored.agency {
        Some(name) => Some(Agency::parse(&name).ok_or_else(|| format!("unknown agency `{name}`"))?),
        None => None,
    };
    let role =
        role_from_name(&stored.role).ok_or_else(|| format!("unknown role `{}`", stored.role))?;
    Ok(Actor {
        id: stored.id.into_owned(),
        agency,
        role,
    })
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

/// Which values the facts of two persons or more hold, and their places in the shared table.
/// A value is known by its address in the store: the interner keeps each distinct value at one
/// address, so its facts share it; journals with their events inline give every fact a value of
/// its own, which then is shared by no one (and stays sealed with its person).
struct Sharing<'a, T> {
    /// The persons holding each value (each counted once) and the last of them seen.
    holders: HashMap<usize, (u32, usize)>,
    /// Every value, in the order first seen (person order, then fact order).
    seen: Vec<&'a T>,
}

impl<'a, T> Sharing<'a, T> {
    fn new() -> Self {
        Self {
            holders: HashMap::new(),
            seen: Vec::new(),
        }
    }

    /// Notes that the person numbered `person` holds `value`.
    fn note(&mut self, value: &'a T, person: usize) {
        let address = value as *const T as usize;
        let seen = &mut self.seen;
        let (persons, last) = self.holders.entry(address).or_insert_with(|| {
            seen.push(value);
            (0, usize::MAX)
        });
        if *last != person {
            *persons += 1;
            *last = person;
        }
    }

    /// The shared values in table order, and each one's index by address.
    fn table(self) -> (Vec<&'a T>, HashMap<usize, u32>) {
        let mut table = Vec::new();
        let mut index = HashMap::new();
        for value in self.seen {
            let address = value as *const T as usize;
            if self.holders[&address].0 >= 2 {
                index.insert(address, table.len() as u32);
                table.push(value);
            }
        }
        (table, index)
    }
}

/// A person's values that are not shared, numbered as their facts first name them.
struct OwnValues<'a, T> {
    index: HashMap<usize, u32>,
    values: Vec<&'a T>,
}

impl<'a, T> OwnValues<'a, T> {
    fn new() -> Self {
        Self {
            index: HashMap::new(),
            values: Vec::new(),
        }
    }

    fn reference(&mut self, value: &'a T, shared: &HashMap<usize, u32>) -> ValueRef {
        let address = value as *const T as usize;
        if let Some(&index) = shared.get(&address) {
            return ValueRef::Shared(index);
        }
        let values = &mut self.values;
        ValueRef::Own(*self.index.entry(address).or_insert_with(|| {
            values.push(value);
            (values.len() - 1) as u32
        }))
    }
}

/// One person's journal made ready for a snapshot: its facts serialized but not yet sealed.
#[derive(Debug)]
pub struct PreparedEntry {
    person: PersonId,
    erased: bool,
    /// `postcard(Own)`; empty for erased persons.
    plain: Vec<u8>,
}

/// Every journal made ready for a snapshot: the shared table and each person's entry, and the
/// kept rows when they go in.
#[derive(Debug)]
pub struct Prepared {
    /// `postcard(Shared)`.
    shared: Vec<u8>,
    entries: Vec<PreparedEntry>,
    /// [`History::to_snapshot_bytes`] of kept rows up to date with the journals, if any.
    kept_rows: Option<Vec<u8>>,
}

impl Prepared {
    /// The snapshot with `history`, the kept rows of the past cuts up to date with the journals
    /// prepared (the caller vouches for that, and that they hold nothing of an erased person).
    pub fn with_kept_rows(mut self, history: &History) -> Self {
        self.kept_rows = Some(history.to_snapshot_bytes());
        self
    }

    /// The bytes of the kept rows, before sealing (none when they do not go in).
    pub fn kept_rows_bytes(&self) -> usize {
        self.kept_rows.as_ref().map_or(0, Vec::len)
    }
}

/// Serializes every journal for a snapshot, on up to `threads` threads. This is the part that must
/// see the journals; the runner does it under its read lock and seals and writes afterwards, so a
/// snapshot needs no copy of the journals (which would double their memory for a moment, and the
/// allocator keeps such a peak) and the live loop waits only for the serialization.
pub fn prepare<S: Store>(
    store: &S,
    journals: &Journals<S::Event, S::Actor>,
    threads: usize,
) -> Prepared {
    let mut event_sharing = Sharing::new();
    let mut actor_sharing = Sharing::new();
    for (person, journal) in journals.values().enumerate() {
        if journal.erased {
            continue;
        }
        for fact in &journal.facts {
            event_sharing.note(store.event(&fact.event), person);
            actor_sharing.note(store.actor(&fact.actor), person);
        }
    }
    let (shared_events, event_index) = event_sharing.table();
    let (shared_actors, actor_index) = actor_sharing.table();
    let shared = Shared {
        events: shared_events.into_iter().map(to_stored_event).collect(),
        actors: shared_actors.into_iter().map(to_stored_actor).collect(),
    };
    let prepare_one =
        |(person, journal): (&PersonId, &Journal<S::Event, S::Actor>)| PreparedEntry {
            person: *person,
            erased: journal.erased,
            plain: if journal.erased {
                Vec::new()
            } else {
                let mut events = OwnValues::new();
                let mut actors = OwnValues::new();
                let mut position = 0u64;
                let mut recorded_at = 0i64;
                let facts: Vec<StoredFact> = journal
                    .facts
                    .iter()
                    .map(|fact| {
                        let stored = StoredFact {
                            position_delta: fact.position.raw().wrapping_sub(position),
                            revision: fact.revision,
                            id: *fact.id.as_bytes(),
                            occurred_on_days: chrono::Datelike::num_days_from_ce(&fact.occurred_on),
                            recorded_at_delta_nanos: fact
                                .recorded_at
                                .nanos()
                                .wrapping_sub(recorded_at),
                            actor: actors.reference(store.actor(&fact.actor), &actor_index),
                            event: events.reference(store.event(&fact.event), &event_index),
                        };
                        position = fact.position.raw();
                        recorded_at = fact.recorded_at.nanos();
                        stored
                    })
                    .collect();
                let own = Own {
                    events: events.values.into_iter().map(to_stored_event).collect(),
                    actors: actors.values.into_iter().map(to_stored_actor).collect(),
                    facts,
                };
                postcard::to_allocvec(&own).unwrap_or_default()
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
    Prepared {
        shared: postcard::to_allocvec(&shared).unwrap_or_default(),
        entries,
        kept_rows: None,
    }
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
    prepared: Prepared,
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
    let (shared_epoch, shared_key) = keys.snapshot_shared_key();
    let header = Header {
        version,
        checkpoint,
        persons: prepared.entries.len() as u64,
        shared_epoch,
    };
    let shared = crypto::seal(&shared_key, SHARED_AAD, &prepared.shared, rng).map_err(|error| {
        SnapshotError::Invalid {
            path: path.to_owned(),
            message: error.to_string(),
        }
    })?;
    write_frame(
        &mut out,
        &postcard::to_allocvec(&header).unwrap_or_default(),
    )
    .map_err(io)?;
    write_frame(&mut out, &shared).map_err(io)?;
    for entry in prepared.entries {
        let person = entry.person;
        let sealed = if entry.erased {
            Vec::new()
        } else {
            match keys.state(person)? {
                KeyState::Present(key) => crypto::seal(&key, &aad(person), &entry.plain, rng)
                    .map_err(|error| SnapshotError::Invalid {
                        path: path.to_owned(),
                        message: error.to_string(),
                    })?,
                // The key went while the snapshot was being written: the person is being erased.
                KeyState::Destroyed | KeyState::Absent => Vec::new(),
            }
        };
        let stored = Entry {
            person: *person.0.as_bytes(),
            erased: entry.erased || sealed.is_empty(),
            sealed: &sealed,
        };
        write_frame(
            &mut out,
            &postcard::to_allocvec(&stored).unwrap_or_default(),
        )
        .map_err(io)?;
    }
    let kept_rows = match prepared.kept_rows {
        Some(plain) => crypto::seal(&shared_key, KEPT_ROWS_AAD, &plain, rng).map_err(|error| {
            SnapshotError::Invalid {
                path: path.to_owned(),
                message: error.to_string(),
            }
        })?,
        None => Vec::new(),
    };
    write_frame(&mut out, &kept_rows).map_err(io)?;
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

/// Checks a snapshot's magic: this layout's, the one before (without kept rows), an earlier
/// one's, or none. Returns whether the file has the kept rows' frame.
fn check_magic(path: &Path, magic: &[u8]) -> Result<bool, SnapshotError> {
    if magic == MAGIC {
        return Ok(true);
    }
    if magic == MAGIC_WITHOUT_KEPT_ROWS {
        return Ok(false);
    }
    if EARLIER_MAGICS.iter().any(|earlier| magic == *earlier) {
        return Err(SnapshotError::ForeignFormat {
            path: path.to_owned(),
            found: String::from_utf8_lossy(magic).into_owned(),
        });
    }
    Err(SnapshotError::Invalid {
        path: path.to_owned(),
        message: "not a journey snapshot".into(),
    })
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
    check_magic(path, &magic)?;
    let frame = read_frame_owned(&mut input).map_err(invalid)?;
    postcard::from_bytes(&frame)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// The bytes of a snapshot file by section, each frame with its length: the magic and header,
/// the shared table, the persons' entries, the kept rows of the past cuts (0 in a file of layout
/// 2) and the digest. For the benchmark's split of the bytes per event; reads the file once, and
/// opens nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sections {
    pub header: u64,
    pub shared: u64,
    pub entries: u64,
    pub kept_rows: u64,
    pub digest: u64,
}

/// A snapshot file's bytes split into its body (from the magic on) and its digest, once its magic
/// is checked; answers whether its layout holds kept rows.
fn split_file<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<(bool, &'a [u8], &'a [u8]), SnapshotError> {
    if bytes.len() < MAGIC.len() + 32 {
        return Err(SnapshotError::Invalid {
            path: path.to_owned(),
            message: "not a journey snapshot".into(),
        });
    }
    let has_kept_rows = check_magic(path, &bytes[..MAGIC.len()])?;
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    Ok((has_kept_rows, body, digest))
}

/// The [`Sections`] of the snapshot at `path`.
pub fn sections(path: &Path) -> Result<Sections, SnapshotError> {
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        message,
    };
    let (has_kept_rows, body, _) = split_file(path, &bytes)?;
    let mut input = &body[MAGIC.len()..];
    let left = |input: &[u8]| input.len() as u64;
    let header: Header = postcard::from_bytes(read_frame(&mut input).map_err(invalid)?)
        .map_err(|e| invalid(e.to_string()))?;
    let mut sections = Sections {
        header: body.len() as u64 - left(input),
        digest: 32,
        ..Sections::default()
    };
    let before = left(input);
    read_frame(&mut input).map_err(invalid)?;
    sections.shared = before - left(input);
    let before = left(input);
    for _ in 0..header.persons {
        read_frame(&mut input).map_err(invalid)?;
    }
    sections.entries = before - left(input);
    if has_kept_rows {
        let before = left(input);
        read_frame(&mut input).map_err(invalid)?;
        sections.kept_rows = before - left(input);
    }
    Ok(sections)
}

fn read_frame_owned(input: &mut impl Read) -> Result<Vec<u8>, String> {
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

/// The next frame of `input`, borrowed, and `input` moved past it.
fn read_frame<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let Some((len, rest)) = input.split_first_chunk::<8>() else {
        return Err("the file ends inside a frame's length".into());
    };
    let len = u64::from_le_bytes(*len);
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= rest.len())
        .ok_or_else(|| format!("frame of {len} bytes runs past the end of the file"))?;
    let (frame, rest) = rest.split_at(len);
    *input = rest;
    Ok(frame)
}

/// A person's entry opened: their own values decoded and their facts still naming them by
/// [`ValueRef`]; `None` for an erased person.
struct Opened {
    person: PersonId,
    own: Option<OpenedOwn>,
}

struct OpenedOwn {
    events: Vec<Option<Hashed<Event>>>,
    actors: Vec<Option<Actor>>,
    facts: Vec<Fact<PackedRef, PackedRef>>,
}

/// A [`ValueRef`] in 4 bytes (the top bit: the person's own values), the size of a symbol: a
/// fact opened on any core names its values so, and the one thread that interns them turns it
/// into the interned fact in place (the same size), instead of building each fact there.
#[derive(Debug, Clone, Copy)]
struct PackedRef(u32);

// An opened fact is the interned fact's size, so that interning it reuses its vector.
const _: () = assert!(
    std::mem::size_of::<Fact<PackedRef, PackedRef>>()
        == std::mem::size_of::<Fact<EventSymbol, ActorSymbol>>()
);

impl PackedRef {
    const OWN: u32 = 1 << 31;

    fn pack(value: ValueRef) -> Result<Self, String> {
        let (own, index) = match value {
            ValueRef::Shared(index) => (0, index),
            ValueRef::Own(index) => (Self::OWN, index),
        };
        if index >= Self::OWN {
            return Err(format!("a fact names value {index}, which is not stored"));
        }
        Ok(Self(own | index))
    }

    fn unpack(self) -> ValueRef {
        if self.0 & Self::OWN == 0 {
            ValueRef::Shared(self.0)
        } else {
            ValueRef::Own(self.0 & !Self::OWN)
        }
    }
}

/// A person's stored facts as facts, their values still named where they are stored: positions
/// and transaction times summed from their differences, dates from their day numbers.
fn opened_facts(stored: Vec<StoredFact>) -> Result<Vec<Fact<PackedRef, PackedRef>>, String> {
    let mut position = 0u64;
    let mut recorded_at = 0i64;
    stored
        .into_iter()
        .map(|stored| {
            position = position.wrapping_add(stored.position_delta);
            recorded_at = recorded_at.wrapping_add(stored.recorded_at_delta_nanos);
            Ok(Fact {
                position: Position::from_raw(position),
                recorded_at: RecordedAt::from_nanos(recorded_at),
                id: Uuid::from_bytes(stored.id),
                revision: stored.revision,
                occurred_on: NaiveDate::from_num_days_from_ce_opt(stored.occurred_on_days)
                    .ok_or("occurred_on out of range")?,
                actor: PackedRef::pack(stored.actor)?,
                event: PackedRef::pack(stored.event)?,
            })
        })
        .collect()
}

/// Every entry of `entries` unsealed and decoded (as [`open_entry`]), their persons' keys read
/// together ([`KeyStore::states`]: one walk of the key tree for the file's ascending persons).
fn open_entries(
    entries: &[Entry<'_>],
    keys: &KeyStore,
    hasher: &std::hash::RandomState,
    invalid: &(impl Fn(String) -> SnapshotError + Sync),
) -> Result<Vec<Opened>, SnapshotError> {
    let sealed: Vec<PersonId> = entries
        .iter()
        .filter(|entry| !entry.erased)
        .map(|entry| PersonId(Uuid::from_bytes(entry.person)))
        .collect();
    let mut states = keys.states(&sealed)?.into_iter();
    entries
        .iter()
        .map(|entry| {
            let state =
                (!entry.erased).then(|| states.next().expect("a state for every sealed entry"));
            open_entry(entry, state, hasher, invalid)
        })
        .collect()
}

/// One person's entry unsealed with their key's `state` (`None` for an entry written erased) and
/// decoded, their events hashed for the interner with `hasher` (all but the interning, which is
/// one table for all).
fn open_entry(
    entry: &Entry<'_>,
    state: Option<KeyState>,
    hasher: &std::hash::RandomState,
    invalid: &(impl Fn(String) -> SnapshotError + Sync),
) -> Result<Opened, SnapshotError> {
    let person = PersonId(Uuid::from_bytes(entry.person));
    let Some(state) = state else {
        return Ok(Opened { person, own: None });
    };
    let own = match state {
        KeyState::Present(key) => {
            let plain = crypto::open(&key, &aad(person), entry.sealed)
                .map_err(|e| invalid(format!("{person}: {e}")))?;
            let own: Own =
                postcard::from_bytes(&plain).map_err(|e| invalid(format!("{person}: {e}")))?;
            let in_person = |message: String| invalid(format!("{person}: {message}"));
            let events = own
                .events
                .iter()
                .map(|event| from_stored_event(event).map(|event| Some(Hashed::new(hasher, event))))
                .collect::<Result<Vec<_>, _>>()
                .map_err(in_person)?;
            let actors = own
                .actors
                .into_iter()
                .map(|actor| from_stored_actor(actor).map(Some))
                .collect::<Result<Vec<_>, _>>()
                .map_err(in_person)?;
            Some(OpenedOwn {
                events,
                actors,
                facts: opened_facts(own.facts).map_err(in_person)?,
            })
        }
        // Erased after the snapshot was written: nothing of the person may come back.
        KeyState::Destroyed => None,
        KeyState::Absent => return Err(invalid(format!("{person} has no data key"))),
    };
    Ok(Opened { person, own })
}

/// The symbol of the value at `index` of `values`: interned with the first fact that names it
/// (taken out of `values`), held again by every later one.
fn symbol_of<T, Symbol: Copy>(
    values: &mut [Option<T>],
    symbols: &mut [Option<Symbol>],
    index: u32,
    store: &mut Interner,
    intern: fn(&mut Interner, T) -> Symbol,
    hold: fn(&mut Interner, Symbol),
) -> Result<Symbol, String> {
    let index = index as usize;
    let (Some(slot), Some(value)) = (symbols.get_mut(index), values.get_mut(index)) else {
        return Err(format!("a fact names value {index}, which is not stored"));
    };
    match *slot {
        Some(symbol) => {
            hold(store, symbol);
            Ok(symbol)
        }
        None => {
            let value = value
                .take()
                .ok_or_else(|| format!("value {index} is named but was taken"))?;
            let symbol = intern(store, value);
            *slot = Some(symbol);
            Ok(symbol)
        }
    }
}

/// Values of one kind and the symbols they were interned as, for [`symbol_of`].
struct Resolving<T, Symbol> {
    values: Vec<Option<T>>,
    symbols: Vec<Option<Symbol>>,
}

impl<T, Symbol: Copy> Resolving<T, Symbol> {
    fn new(values: Vec<Option<T>>) -> Self {
        let symbols = vec![None; values.len()];
        Self { values, symbols }
    }
}

fn intern_event(store: &mut Interner, event: Hashed<Event>) -> EventSymbol {
    store.intern_hashed_event(event)
}

fn intern_actor(store: &mut Interner, actor: Actor) -> ActorSymbol {
    store.intern_actor(&actor)
}

/// A person's facts with their values interned into `store`: each fact becomes its interned
/// self in place (the vector is reused, not built again).
fn intern_facts(
    own: OpenedOwn,
    shared_events: &mut Resolving<Hashed<Event>, EventSymbol>,
    shared_actors: &mut Resolving<Actor, ActorSymbol>,
    store: &mut Interner,
) -> Result<Vec<Fact<EventSymbol, ActorSymbol>>, String> {
    let mut own_events = Resolving::new(own.events);
    let mut own_actors = Resolving::new(own.actors);
    own.facts
        .into_iter()
        .map(|fact| {
            let (events, index) = match fact.event.unpack() {
                ValueRef::Shared(index) => (&mut *shared_events, index),
                ValueRef::Own(index) => (&mut own_events, index),
            };
            let event = symbol_of(
                &mut events.values,
                &mut events.symbols,
                index,
                store,
                intern_event,
                Interner::hold_event,
            )?;
            let (actors, index) = match fact.actor.unpack() {
                ValueRef::Shared(index) => (&mut *shared_actors, index),
                ValueRef::Own(index) => (&mut own_actors, index),
            };
            let actor = symbol_of(
                &mut actors.values,
                &mut actors.symbols,
                index,
                store,
                intern_actor,
                Interner::hold_actor,
            )?;
            Ok(Fact {
                position: fact.position,
                recorded_at: fact.recorded_at,
                id: fact.id,
                revision: fact.revision,
                occurred_on: fact.occurred_on,
                actor,
                event,
            })
        })
        .collect()
}

/// A loaded snapshot: its header and the journals with their events and actors interned, and
/// the kept rows of the past cuts up to date with them when the file held them.
#[derive(Debug)]
pub struct Loaded {
    pub header: Header,
    pub journals: Journals<EventSymbol, ActorSymbol>,
    pub store: Interner,
    pub kept_rows: Option<KeptRowsBytes>,
}

/// The kept rows of a snapshot, opened (their seal checked at the load) but not yet decoded:
/// decoding them takes longer than the rest of a load, so the runner does it off the start, in
/// the kept rows' task, after the catch-up and the live views (`crate::kept_rows`).
#[derive(Debug)]
pub struct KeptRowsBytes(Vec<u8>);

impl KeptRowsBytes {
    /// The kept rows, decoded and checked ([`History::from_snapshot_bytes`]); what is wrong when
    /// they do not check (then they are built as after a start without them, never served).
    pub fn decode(self) -> Result<History, String> {
        History::from_snapshot_bytes(&self.0)
    }
}

/// Loads a snapshot; `None` when there is none. The whole file is checked against its digest
/// first. Unsealing and decoding the entries runs on every core; interning them into the one
/// interner runs on one, and decodes nothing: each distinct event was decoded once.
pub fn load(path: &Path, keys: &KeyStore) -> Result<Option<Loaded>, SnapshotError> {
    let started = std::time::Instant::now();
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
    let (has_kept_rows, body, digest) = split_file(path, &bytes)?;
    if Sha256::digest(body).as_slice() != digest {
        return Err(invalid(
            "digest mismatch: the file is incomplete or damaged".into(),
        ));
    }
    let read_ms = started.elapsed().as_millis() as u64;
    let mut input = &body[MAGIC.len()..];
    let header: Header = postcard::from_bytes(read_frame(&mut input).map_err(invalid)?)
        .map_err(|e| invalid(e.to_string()))?;
    let (current, shared_key) = keys.snapshot_shared_key();
    if header.shared_epoch != current {
        return Err(SnapshotError::EpochRotated {
            path: path.to_owned(),
            written: header.shared_epoch,
            current,
        });
    }
    let shared = crypto::open(
        &shared_key,
        SHARED_AAD,
        read_frame(&mut input).map_err(invalid)?,
    )
    .map_err(|e| invalid(format!("shared table: {e}")))?;
    let shared: Shared = postcard::from_bytes(&shared).map_err(|e| invalid(e.to_string()))?;
    // The count is only as trustworthy as the file's digest, so the room reserved is bounded by
    // what the file can hold (a frame takes at least its 8-byte length).
    let mut entries = Vec::with_capacity(
        usize::try_from(header.persons)
            .unwrap_or(0)
            .min(input.len() / 8),
    );
    for _ in 0..header.persons {
        let entry: Entry<'_> = postcard::from_bytes(read_frame(&mut input).map_err(invalid)?)
            .map_err(|e| invalid(e.to_string()))?;
        entries.push(entry);
    }
    let kept_rows = if has_kept_rows {
        let sealed = read_frame(&mut input).map_err(invalid)?;
        open_kept_rows(path, &shared_key, sealed)?
    } else {
        None
    };
    let threads = crate::parallel::threads();
    // The events are hashed for the interner as they are decoded, on every core.
    let mut store = Interner::default();
    let hasher = store.event_hasher();
    let shared_events = crate::parallel::map_shares(shared.events.len(), threads, |range| {
        shared.events[range]
            .iter()
            .map(|event| from_stored_event(event).map(|event| Some(Hashed::new(&hasher, event))))
            .collect::<Result<Vec<_>, _>>()
    })
    .into_iter()
    .try_fold(Vec::new(), |mut all, share| {
        all.extend(share?);
        Ok::<_, String>(all)
    })
    .map_err(|message| invalid(format!("shared table: {message}")))?;
    let shared_actors = shared
        .actors
        .into_iter()
        .map(|actor| from_stored_actor(actor).map(Some))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| invalid(format!("shared table: {message}")))?;
    // Opening and decoding every journal is most of a load; persons are independent, so each core
    // takes a contiguous share and the shares are joined in the file's (person) order.
    let opened = crate::parallel::map_shares(entries.len(), threads, |range| {
        open_entries(&entries[range], keys, &hasher, &invalid)
    });
    let opened = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
    let opened_ms = started.elapsed().as_millis() as u64;
    // Every value of the file is interned once: room for all of them up front, so the interner's
    // index never grows (growing hashes every value held again).
    let (own_events, own_actors) = opened
        .iter()
        .flatten()
        .filter_map(|opened| opened.own.as_ref())
        .fold((0, 0), |(events, actors), own| {
            (events + own.events.len(), actors + own.actors.len())
        });
    let mut shared_events = Resolving::new(shared_events);
    let mut shared_actors = Resolving::new(shared_actors);
    store.reserve(
        shared_events.values.len() + own_events,
        shared_actors.values.len() + own_actors,
    );
    let mut journals = Vec::with_capacity(entries.len());
    for share in opened {
        for opened in share {
            let journal = match opened.own {
                None => Journal {
                    facts: Vec::new(),
                    erased: true,
                },
                Some(own) => Journal {
                    facts: intern_facts(own, &mut shared_events, &mut shared_actors, &mut store)
                        .map_err(|message| invalid(format!("{}: {message}", opened.person)))?,
                    erased: false,
                },
            };
            journals.push((opened.person, journal));
        }
    }
    let journals: Journals<EventSymbol, ActorSymbol> = journals.into_iter().collect();
    tracing::info!(
        bytes = bytes.len(),
        persons = header.persons,
        read_and_checked_ms = read_ms,
        opened_and_decoded_ms = opened_ms - read_ms,
        interned_ms = started.elapsed().as_millis() as u64 - opened_ms,
        "the projections snapshot is loaded"
    );
    Ok(Some(Loaded {
        header,
        journals,
        store,
        kept_rows,
    }))
}

/// The kept rows of a snapshot's frame `sealed` (`None`: the frame is empty, none were written),
/// opened with the snapshot key of its epoch (decoded later, [`KeptRowsBytes::decode`]).
fn open_kept_rows(
    path: &Path,
    shared_key: &crypto::SecretKey,
    sealed: &[u8],
) -> Result<Option<KeptRowsBytes>, SnapshotError> {
    if sealed.is_empty() {
        return Ok(None);
    }
    let refused = |message: String| SnapshotError::KeptRows {
        path: path.to_owned(),
        message,
    };
    let plain = crypto::open(shared_key, KEPT_ROWS_AAD, sealed)
        .map_err(|error| refused(error.to_string()))?;
    Ok(Some(KeptRowsBytes(plain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_reference_packs_into_four_bytes_and_back_or_is_refused() {
        for value in [
            ValueRef::Shared(0),
            ValueRef::Own(0),
            ValueRef::Shared(PackedRef::OWN - 1),
            ValueRef::Own(PackedRef::OWN - 1),
        ] {
            assert_eq!(PackedRef::pack(value).expect("fits").unpack(), value);
        }
        for value in [ValueRef::Shared(PackedRef::OWN), ValueRef::Own(u32::MAX)] {
            assert!(PackedRef::pack(value).is_err(), "{value:?} does not fit");
        }
    }

    #[test]
    fn a_stored_event_and_actor_written_owned_read_borrowed_from_the_same_bytes() {
        // Given: an event and an actor as the layout's writers before wrote them (owned strings
        // and bytes).
        #[derive(Serialize)]
        struct OwnedEvent {
            event_type: String,
            data: Vec<u8>,
        }
        #[derive(Serialize)]
        struct OwnedActor {
            id: String,
            agency: Option<String>,
            role: String,
        }
        let bytes = postcard::to_allocvec(&(
            OwnedEvent {
                event_type: "ConsentWithdrawn".into(),
                data: br#"{"consent_id":"C-1"}"#.to_vec(),
            },
            OwnedActor {
                id: "cw-jc-07".into(),
                agency: Some("jobcenter".into()),
                role: "caseworker".into(),
            },
        ))
        .expect("postcard");

        // When: read as a load reads them.
        let (event, actor): (StoredEvent<'_>, StoredActor<'_>) =
            postcard::from_bytes(&bytes).expect("the same layout");

        // Then: borrowed from the bytes, the same values.
        assert!(matches!(
            event.event_type,
            Cow::Borrowed("ConsentWithdrawn")
        ));
        assert!(matches!(event.data, Cow::Borrowed(data) if data == br#"{"consent_id":"C-1"}"#));
        assert_eq!(
            to_stored_event(&from_stored_event(&event).expect("decodes")).data,
            event.data
        );
        let actor = from_stored_actor(actor).expect("an actor");
        assert_eq!(actor.id, "cw-jc-07");
        assert_eq!(actor.role, ActorRole::Caseworker);
        assert_eq!(
            actor.agency.map(|agency| agency.as_str()),
            Some("jobcenter")
        );
    }

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
