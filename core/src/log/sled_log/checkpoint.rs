//! The index checkpoint: the in-memory index as sorted arrays in a file of the store's directory,
//! written when the log closes, and loaded at open as the index's [`Base`], so that only the `x`
//! keys after it are scanned.
//!
//! The file (integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | the magic `jlogidx1` (the format's version is its last byte) |
//! | 8 | `P`, the next position: the file indexes the events below it, and no other |
//! | 32 | the global hash of the event at `P - 1` (the genesis hash when `P` is 0) |
//! | 8 | `S`, the number of streams |
//! | `P` × 24 | every event id (16 bytes) with its position (u64), ascending by id |
//! | `S` × … | every stream ascending by name: name length (u32), name, revisions `n` (u64), `n` positions (u64) |
//! | 8 | `N`, the entries of the name table it holds: the first `N`, or none |
//! | `N` × 4 | for each number of the name table in turn, its stream among the `S` above (u32) |
//! | 8 | `D`, the entries of the dictionary it holds (the first `D`) |
//! | `D` × … | each entry in number order: its stored value's length (u32), the value (as under its `d` key) |
//! | 32 | SHA-256 of everything before |
//!
//! The tables (`tables.rs`) are there because reading them from their keys at open is a random read
//! of the store per few entries: at a million persons most of the open's time before this format
//! (`jlogidx1`, which ends after the streams and is still read: the tables then come from their
//! keys, and the next close writes the file again in this format). The open reads the entries
//! after `N` and `D` from their keys; the last entry of each it takes from the file must equal the
//! one stored. A log's tables number their entries in the order its events first use them, so the
//! log's hash at `P - 1`, which ties the file to every event before, ties its tables too.
//!
//! A file is used only when it is whole (its digest), consistent (ids ascending and distinct, names
//! ascending and valid, every position below `P` exactly once among the ids and once among the
//! streams, ascending within a stream) and of this log (`P` at most the log's next position, and the
//! hash the log's event at `P - 1` carries: the global chain ties it to every event before).
//! Otherwise the open scans every `x` key, as without a file. It is written under a temporary name,
//! synced, then renamed, so a crash leaves the previous file or the new one.

// One concern of the sled log; it shares the module's private items.
use super::*;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub(super) const MAGIC: &[u8; 8] = b"jlogidx2";
/// The first format: the same without the tables.
pub(super) const MAGIC_WITHOUT_TABLES: &[u8; 8] = b"jlogidx1";
/// The checkpoint's file name in the store's directory (beside sled's files).
const FILE_NAME: &str = "journey-index";
pub(super) const HEADER_BYTES: u64 = 8 + 8 + 32 + 8;
const ID_ENTRY_BYTES: usize = 24;
/// Ids read at a time, so that the digest and the reads go by large pieces.
const IDS_PER_READ: usize = 1 << 16;
/// Bytes gathered before they are digested and written.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// Where the checkpoint of the store at `store_path` lives.
pub(super) fn checkpoint_path(store_path: &Path) -> PathBuf {
    store_path.join(FILE_NAME)
}

/// Writes the checkpoint of `index` (the base and the tail merged) and `tables`, which must hold
/// every event below `next_position` and their tables, whose last global hash is `last_hash`.
/// Returns the file's bytes. A failure leaves the previous checkpoint, if any, and no temporary
/// file.
pub(super) fn write_checkpoint(
    path: &Path,
    index: &Index,
    tables: &Tables,
    next_position: u64,
    last_hash: &[u8; 32],
) -> std::io::Result<u64> {
    let temporary = path.with_extension("tmp");
    let written = write_temporary(&temporary, index, tables, next_position, last_hash);
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    let bytes = written?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        // Makes the rename durable; a failure only risks the previous checkpoint after a crash.
        let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(bytes)
}

/// Writes the checkpoint to `temporary` and syncs it.
fn write_temporary(
    temporary: &Path,
    index: &Index,
    tables: &Tables,
    next_position: u64,
    last_hash: &[u8; 32],
) -> std::io::Result<u64> {
    if index.events() != next_position {
        return Err(std::io::Error::other(format!(
            "the index holds {} events, the log {next_position}",
            index.events()
        )));
    }
    let mut out = Out {
        file: std::fs::File::create(temporary)?,
        hasher: Sha256::new(),
        chunk: Vec::with_capacity(WRITE_CHUNK_BYTES + 64),
        bytes: 0,
    };
    let base = &index.base;
    let tail_streams = index.sorted_tail_streams();
    let new_streams = tail_streams
        .iter()
        .filter(|(name, _)| base.positions_in(name).is_empty())
        .count();
    out.put(MAGIC)?;
    out.put(&next_position.to_le_bytes())?;
    out.put(last_hash)?;
    out.put(&((base.streams() + new_streams) as u64).to_le_bytes())?;

    // The ids: the base's and the tail's merged (no id is in both).
    let tail_ids = index.sorted_tail_ids();
    let base_ids = base
        .ids
        .iter()
        .copied()
        .zip(base.id_positions.iter().copied());
    let mut base_ids = base_ids.peekable();
    let mut tail_ids = tail_ids.into_iter().peekable();
    loop {
        let next = match (base_ids.peek(), tail_ids.peek()) {
            (Some(from_base), Some(from_tail)) if from_base.0 < from_tail.0 => base_ids.next(),
            (_, Some(_)) => tail_ids.next(),
            (Some(_), None) => base_ids.next(),
            (None, None) => break,
        };
        if let Some((id, position)) = next {
            out.put(&id.to_be_bytes())?;
            out.put(&position.to_le_bytes())?;
        }
    }

    // The name table's names by name, to give each number its stream as the streams go by.
    let mut by_name: Vec<(&str, usize)> = tables
        .names()
        .iter()
        .enumerate()
        .map(|(number, name)| (&**name, number))
        .collect();
    by_name.sort_unstable();
    let mut by_name = by_name.into_iter().peekable();
    let mut stream_of = vec![None; tables.names().len()];
    let mut first_positions = Vec::with_capacity(base.streams() + new_streams);
    let mut written: u32 = 0;

    // The streams: the base's and the tail's merged by name, a stream in both with the base's
    // positions first.
    let mut base_streams = (0..base.streams()).peekable();
    let mut tail_streams = tail_streams.into_iter().peekable();
    loop {
        let (name, before, after): (&str, &[u64], &[u64]) =
            match (base_streams.peek(), tail_streams.peek()) {
                (None, None) => break,
                (Some(&stream), None) => {
                    base_streams.next();
                    (base.name(stream), base.positions_of(stream), &[])
                }
                (None, Some(_)) => match tail_streams.next() {
                    Some((name, positions)) => (name, &[], positions),
                    None => break,
                },
                (Some(&stream), Some(&(tail_name, tail_positions))) => {
                    match base.name(stream).cmp(tail_name) {
                        std::cmp::Ordering::Less => {
                            base_streams.next();
                            (base.name(stream), base.positions_of(stream), &[])
                        }
                        std::cmp::Ordering::Greater => {
                            tail_streams.next();
                            (tail_name, &[], tail_positions)
                        }
                        std::cmp::Ordering::Equal => {
                            base_streams.next();
                            tail_streams.next();
                            (tail_name, base.positions_of(stream), tail_positions)
                        }
                    }
                }
            };
        let name_bytes = u32::try_from(name.len()).map_err(std::io::Error::other)?;
        out.put(&name_bytes.to_le_bytes())?;
        out.put(name.as_bytes())?;
        out.put(&((before.len() + after.len()) as u64).to_le_bytes())?;
        for position in before.iter().chain(after) {
            out.put(&position.to_le_bytes())?;
        }
        first_positions.push(
            before
                .first()
                .or(after.first())
                .copied()
                .unwrap_or(u64::MAX),
        );
        while by_name
            .next_if(|(table_name, _)| *table_name < name)
            .is_some()
        {}
        if let Some((_, number)) = by_name.next_if(|(table_name, _)| *table_name == name) {
            stream_of[number] = Some(written);
        }
        written = written
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("more than 2^32 streams"))?;
    }

    // The tables, when every name is a stream's and they are numbered in the order of their
    // streams' first events (as a log's are: a name is written with its stream's first event);
    // otherwise none, and the open reads them from their keys.
    let streams_of_names: Option<Vec<u32>> = stream_of
        .into_iter()
        .collect::<Option<Vec<u32>>>()
        .filter(|streams| {
            in_first_use_order(
                streams
                    .iter()
                    .map(|&stream| first_positions[stream as usize]),
            )
        });
    let (streams_of_names, entries) = match &streams_of_names {
        Some(streams) => (streams.as_slice(), tables.dictionary()),
        None => (&[][..], &[][..]),
    };
    out.put(&(streams_of_names.len() as u64).to_le_bytes())?;
    for stream in streams_of_names {
        out.put(&stream.to_le_bytes())?;
    }
    out.put(&(entries.len() as u64).to_le_bytes())?;
    for entry in entries {
        let value = entry.encode().map_err(std::io::Error::other)?;
        let length = u32::try_from(value.len()).map_err(std::io::Error::other)?;
        out.put(&length.to_le_bytes())?;
        out.put(&value)?;
    }
    out.finish()
}

/// The checkpoint's bytes on their way to the file, digested as they go.
struct Out {
    file: std::fs::File,
    hasher: Sha256,
    chunk: Vec<u8>,
    bytes: u64,
}

impl Out {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= WRITE_CHUNK_BYTES {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.chunk);
        self.file.write_all(&self.chunk)?;
        self.bytes += self.chunk.len() as u64;
        self.chunk.clear();
        Ok(())
    }

    /// Writes the rest and the digest, and syncs the file.
    fn finish(mut self) -> std::io::Result<u64> {
        self.spill()?;
        let digest = self.hasher.finalize();
        self.file.write_all(&digest)?;
        self.file.sync_all()?;
        Ok(self.bytes + digest.len() as u64)
    }
}

/// Why a checkpoint is not used (the open then scans every `x` key).
pub(super) type Unusable = String;

/// The index checkpoint of a store, read on a thread of its own that was started before the store
/// was opened ([`SledLog::prefetch_checkpoint`]), so that reading and checking the file (at a
/// million persons about 1.2 GB, seconds when it is not in the page cache) overlaps sled's own
/// open (seconds too, reading its segments); [`SledLog::open_prefetched`] takes it. What it read
/// is checked at the open exactly as a file read there would be: against the log's next position,
/// then the log's hash before it.
#[derive(Debug)]
pub struct CheckpointPrefetch {
    path: PathBuf,
    read: std::thread::JoinHandle<Result<Option<Checkpoint>, Unusable>>,
}

impl CheckpointPrefetch {
    /// Starts reading the checkpoint of the store in `data_dir` (the directory [`Store::open`]
    /// opens); when the thread cannot be started, the open reads the file itself.
    pub(super) fn start(data_dir: &Path) -> Option<Self> {
        let path = checkpoint_path(&Store::path_in(data_dir));
        let file = path.clone();
        std::thread::Builder::new()
            .name("journey-index-read".to_owned())
            .spawn(move || read_checkpoint_file(&file))
            .ok()
            .map(|read| Self { path, read })
    }

    /// What was read, for the checkpoint at `path` of a log whose next position is
    /// `log_next_position`: `None` when it was read for another path (the caller then reads the
    /// file itself).
    pub(super) fn take(
        self,
        path: &Path,
        log_next_position: u64,
    ) -> Option<Result<Option<Checkpoint>, Unusable>> {
        if self.path != path {
            return None;
        }
        let read = match self.read.join() {
            Ok(read) => read,
            Err(_) => Err("the thread reading it panicked".to_owned()),
        };
        Some(read.and_then(|read| within_log(read, log_next_position)))
    }
}

/// What a whole and consistent checkpoint holds: the index's base and the first entries of the
/// log's tables (none from a file of the first format).
#[derive(Debug)]
pub(super) struct Checkpoint {
    pub(super) base: Base,
    pub(super) tables: Tables,
}

/// Reads the checkpoint at `path` for a log whose next position is `log_next_position`: `Ok(None)`
/// without a file, an error saying why a file is not usable. Whether it is this log's (the log's
/// global hash of the event at `P - 1` equal to the base's `last_hash`) is for the caller to check,
/// with the tables completed from their keys.
pub(super) fn read_checkpoint(
    path: &Path,
    log_next_position: u64,
) -> Result<Option<Checkpoint>, Unusable> {
    within_log(read_checkpoint_file(path)?, log_next_position)
}

/// A checkpoint read from its file (or none), refused when it indexes more events than the log
/// holds.
fn within_log(
    read: Option<Checkpoint>,
    log_next_position: u64,
) -> Result<Option<Checkpoint>, Unusable> {
    match read {
        Some(checkpoint) if checkpoint.base.next_position > log_next_position => Err(format!(
            "it indexes {} events, the log holds {log_next_position}",
            checkpoint.base.next_position
        )),
        read => Ok(read),
    }
}

/// Reads the checkpoint at `path`, whole and consistent in itself, before the log it belongs to is
/// known ([`read_checkpoint`] checks it against the log's next position).
fn read_checkpoint_file(path: &Path) -> Result<Option<Checkpoint>, Unusable> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot open it: {error}")),
    };
    let length = file
        .metadata()
        .map_err(|error| format!("cannot read its length: {error}"))?
        .len();
    let body = length
        .checked_sub(32)
        .filter(|body| *body >= HEADER_BYTES)
        .ok_or_else(|| format!("{length} bytes are too few"))?;
    let mut input = In {
        file: std::io::BufReader::with_capacity(WRITE_CHUNK_BYTES, file),
        hasher: Sha256::new(),
        left: body,
    };
    let mut header = [0u8; HEADER_BYTES as usize];
    input.take(&mut header)?;
    let with_tables = match &header[..8] {
        magic if magic == MAGIC => true,
        magic if magic == MAGIC_WITHOUT_TABLES => false,
        magic => return Err(format!("unknown magic {magic:?}")),
    };
    let le_u64 = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or([0xff; 8]));
    let next_position = le_u64(&header[8..16]);
    let mut last_hash = [0u8; 32];
    last_hash.copy_from_slice(&header[16..48]);
    let streams = le_u64(&header[48..56]);
    let events = usize::try_from(next_position).map_err(|error| error.to_string())?;
    if (events as u64).saturating_mul(ID_ENTRY_BYTES as u64 + 8) > input.left {
        return Err(format!("{length} bytes are too few for {events} events"));
    }
    if streams > next_position {
        return Err(format!("{streams} streams for {next_position} events"));
    }

    // Every position once among the ids (set here) and once among the streams (cleared there).
    let mut seen = vec![0u64; events.div_ceil(64)];
    let mut base = Base {
        next_position,
        last_hash,
        ids: Vec::with_capacity(events),
        id_positions: Vec::with_capacity(events),
        names: String::new(),
        name_ends: Vec::with_capacity(streams as usize),
        positions: Vec::with_capacity(events),
        position_ends: Vec::with_capacity(streams as usize),
        with_tables,
    };
    let mut chunk = vec![0u8; IDS_PER_READ.min(events.max(1)) * ID_ENTRY_BYTES];
    let mut left = events;
    while left > 0 {
        let count = left.min(IDS_PER_READ);
        let bytes = &mut chunk[..count * ID_ENTRY_BYTES];
        input.take(bytes)?;
        for entry in bytes.chunks_exact(ID_ENTRY_BYTES) {
            let id = u128::from_be_bytes(entry[..16].try_into().unwrap_or_default());
            let position = le_u64(&entry[16..]);
            if base.ids.last().is_some_and(|&last| last >= id) {
                return Err(format!("the ids do not ascend at {}", Uuid::from_u128(id)));
            }
            if position >= next_position || !flip(&mut seen, position, false) {
                return Err(format!("the id position {position} is out of place"));
            }
            base.ids.push(id);
            base.id_positions.push(position);
        }
        left -= count;
    }

    let mut name = Vec::new();
    for _ in 0..streams {
        let mut length = [0u8; 4];
        input.take(&mut length)?;
        let length = u32::from_le_bytes(length) as usize;
        if length as u64 > input.left {
            return Err(format!("a stream name of {length} bytes overruns the file"));
        }
        name.resize(length, 0);
        input.take(&mut name)?;
        let name = match std::str::from_utf8(&name) {
            Ok(name) if is_valid_stream_name(name) => name,
            _ => return Err(format!("an invalid stream name {name:?}")),
        };
        if base.streams() > 0 && base.name(base.streams() - 1) >= name {
            return Err(format!("the streams do not ascend at `{name}`"));
        }
        let mut count = [0u8; 8];
        input.take(&mut count)?;
        let count = le_u64(&count);
        let room = (events - base.positions.len()) as u64;
        if count == 0 || count > room {
            return Err(format!("`{name}` has {count} revisions, {room} are left"));
        }
        let mut positions = vec![0u8; count as usize * 8];
        input.take(&mut positions)?;
        let first = base.positions.len();
        for position in positions.chunks_exact(8).map(le_u64) {
            if base.positions[first..]
                .last()
                .is_some_and(|&last| last >= position)
            {
                return Err(format!("the positions of `{name}` do not ascend"));
            }
            if position >= next_position || !flip(&mut seen, position, true) {
                return Err(format!(
                    "the position {position} of `{name}` is out of place"
                ));
            }
            base.positions.push(position);
        }
        base.names.push_str(name);
        base.name_ends.push(base.names.len());
        base.position_ends.push(base.positions.len());
    }
    if base.positions.len() != events {
        return Err(format!(
            "the streams hold {} positions, not {events}",
            base.positions.len()
        ));
    }
    let tables = if with_tables {
        read_tables(&mut input, &base)?
    } else {
        Tables::default()
    };
    if input.left != 0 {
        return Err(format!("{} bytes follow the last section", input.left));
    }
    let digest = input.hasher.finalize();
    let mut stored = [0u8; 32];
    input
        .file
        .read_exact(&mut stored)
        .map_err(|error| format!("cannot read its digest: {error}"))?;
    if stored[..] != digest[..] {
        return Err("its digest differs from its content's".to_owned());
    }
    Ok(Some(Checkpoint { base, tables }))
}

/// Reads the tables' section: the name table as streams of `base` (each at most once), then the
/// dictionary's stored values.
fn read_tables(input: &mut In, base: &Base) -> Result<Tables, Unusable> {
    let mut count = [0u8; 8];
    input.take(&mut count)?;
    let names = u64::from_le_bytes(count);
    if names > base.streams() as u64 {
        return Err(format!("{names} names for {} streams", base.streams()));
    }
    let mut named = vec![false; base.streams()];
    let mut table = Vec::with_capacity(names as usize);
    for _ in 0..names {
        let mut stream = [0u8; 4];
        input.take(&mut stream)?;
        let stream = u32::from_le_bytes(stream) as usize;
        match named.get_mut(stream) {
            Some(seen @ false) => *seen = true,
            _ => return Err(format!("the name table's stream {stream} is out of place")),
        }
        table.push((stream, Arc::<str>::from(base.name(stream))));
    }
    let firsts = table
        .iter()
        .map(|&(stream, _)| base.positions_of(stream)[0]);
    if !in_first_use_order(firsts) {
        return Err("the name table is not in the order of its streams' first events".to_owned());
    }
    let table = table.into_iter().map(|(_, name)| name).collect();
    input.take(&mut count)?;
    let entries = u64::from_le_bytes(count);
    if entries.saturating_mul(4) > input.left {
        return Err(format!("{entries} dictionary entries overrun the file"));
    }
    let mut dictionary = Vec::with_capacity(entries as usize);
    let mut value = Vec::new();
    for number in 0..entries {
        let mut length = [0u8; 4];
        input.take(&mut length)?;
        let length = u32::from_le_bytes(length) as usize;
        if length as u64 > input.left {
            return Err(format!(
                "a dictionary entry of {length} bytes overruns the file"
            ));
        }
        value.resize(length, 0);
        input.take(&mut value)?;
        let number = u32::try_from(number).map_err(|error| error.to_string())?;
        let entry = DictionaryEntry::decode(&dictionary_key(number), &value, number)
            .map_err(|error| error.to_string())?;
        dictionary.push(entry);
    }
    Ok(Tables::of(table, dictionary))
}

/// Whether the first positions of the name table's streams, in number order, ascend: a log numbers
/// a stream's name when it writes the stream's first event.
fn in_first_use_order(mut first_positions: impl Iterator<Item = u64>) -> bool {
    let Some(mut before) = first_positions.next() else {
        return true;
    };
    first_positions.all(|position| std::mem::replace(&mut before, position) < position)
}

/// Flips bit `position` of `bits` from `was` to the other value; false when it was not `was`.
fn flip(bits: &mut [u64], position: u64, was: bool) -> bool {
    let (word, bit) = ((position / 64) as usize, 1u64 << (position % 64));
    let Some(word) = bits.get_mut(word) else {
        return false;
    };
    if (*word & bit != 0) != was {
        return false;
    }
    *word ^= bit;
    true
}

/// The checkpoint's body on its way from the file, digested as it goes.
struct In {
    file: std::io::BufReader<std::fs::File>,
    hasher: Sha256,
    /// The body's bytes not read yet.
    left: u64,
}

impl In {
    fn take(&mut self, bytes: &mut [u8]) -> Result<(), Unusable> {
        if bytes.len() as u64 > self.left {
            return Err("it ends early".to_owned());
        }
        self.file
            .read_exact(bytes)
            .map_err(|error| format!("cannot read it: {error}"))?;
        self.hasher.update(&*bytes);
        self.left -= bytes.len() as u64;
        Ok(())
    }
}
