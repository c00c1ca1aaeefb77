//! The backup format: a directory of entry files and a manifest that names every file with its
//! size and SHA-256.
//!
//! ```text
//! manifest.json        format version, log head and chain head, audit head, time, files
//! log.entries          the log's stored records and index runs below the head (ciphertext)
//! keys.entries         the `keys` tree: wrapped data keys, tombstones, epoch number, check value
//! vault.entries        the `vault` tree: personal data sealed with each person's data key
//! audit.entries        the audit log's entries and prune anchor
//! epoch.key            the epoch key in force, sealed with the master key
//! tokens.json          the API's token hashes (when there are any)
//! journals.snapshot    the projections' snapshot (when its checkpoint is below the head)
//! ```
//!
//! An entry file is a sequence of frames `u32 key length ‖ key ‖ u32 value length ‖ value` (big
//! endian). The master key and the erasure register are never in a backup.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use journey_core::keys::TreeEntries;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One frame: a key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

pub const MANIFEST_FILE: &str = "manifest.json";
pub const LOG_FILE: &str = "log.entries";
pub const KEYS_FILE: &str = "keys.entries";
pub const VAULT_FILE: &str = "vault.entries";
pub const AUDIT_FILE: &str = "audit.entries";
pub const EPOCH_FILE: &str = "epoch.key";
pub const TOKENS_FILE: &str = "tokens.json";
pub const SNAPSHOT_FILE: &str = "journals.snapshot";

/// The files a backup must have; the others are optional.
pub const REQUIRED_FILES: [&str; 5] = [LOG_FILE, KEYS_FILE, VAULT_FILE, AUDIT_FILE, EPOCH_FILE];

/// What this code writes, in `manifest.json`'s `format`.
pub const FORMAT_NAME: &str = "journey-backup";
/// The version of the format; a restore refuses any other.
pub const FORMAT_VERSION: u32 = 1;

/// The largest key or value a frame may carry (a log record is at most a few MiB; this bounds what
/// a damaged length can make a restore allocate).
pub const FRAME_PART_BYTES_MAX: u32 = 64 * 1024 * 1024;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The version of journey that wrote it.
    pub journey_version: String,
    pub created_at: DateTime<Utc>,
    pub log: LogHead,
    pub audit: AuditHead,
    /// The epoch whose key `epoch.key` holds.
    pub epoch_number: u64,
    pub files: Vec<FileEntry>,
}

/// The log as of the backup: every position below `next_position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    pub next_position: u64,
    /// Hex global hash of the event at `next_position - 1` (zeros for an empty log).
    pub last_global_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    pub next_seq: u64,
    /// Hex hash of the last entry.
    pub last_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

impl Manifest {
    /// The sum of the sizes of the files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.bytes).sum()
    }

    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|file| file.name == name)
    }
}

/// Writes frames to a file and hashes them as they go.
#[derive(Debug)]
pub struct EntryWriter {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    bytes: u64,
    pub entries: u64,
}

impl EntryWriter {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            out: std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?),
            hasher: Sha256::new(),
            bytes: 0,
            entries: 0,
        })
    }

    pub fn entry(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        for part in [key, value] {
            let length = u32::try_from(part.len())
                .ok()
                .filter(|length| *length <= FRAME_PART_BYTES_MAX)
                .ok_or_else(|| std::io::Error::other("an entry larger than a frame may carry"))?;
            self.write(&length.to_be_bytes())?;
            self.write(part)?;
        }
        self.entries += 1;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the file and returns its manifest entry.
    pub fn finish(self) -> std::io::Result<FileEntry> {
        let file = self.out.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        Ok(FileEntry {
            name: file_name(&self.path),
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// Writes `bytes` as the file `name` in `dir`, synced, and returns its manifest entry.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<FileEntry> {
    let mut file = std::fs::File::create(dir.join(name))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(FileEntry {
        name: name.to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

/// The manifest entry of an existing file (size and SHA-256, read in one pass).
pub fn describe_file(path: &Path) -> std::io::Result<FileEntry> {
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        hasher.update(buffer);
        bytes += buffer.len() as u64;
        let consumed = buffer.len();
        reader.consume(consumed);
    }
    Ok(FileEntry {
        name: file_name(path),
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads the frames of an entry file one by one.
#[derive(Debug)]
pub struct EntryReader<R> {
    input: R,
    /// The byte offset of the next frame, for error messages.
    pub offset: u64,
}

impl EntryReader<std::io::BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path)?,
        )))
    }
}

impl<R: Read> EntryReader<R> {
    pub fn new(input: R) -> Self {
        Self { input, offset: 0 }
    }

    /// The next frame, `None` at the end; an error names what is wrong at which offset.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, String> {
        let start = self.offset;
        let Some(key) = self.part(start, true)? else {
            return Ok(None);
        };
        let value = self
            .part(start, false)?
            .ok_or_else(|| format!("the entry at byte {start} ends after its key"))?;
        Ok(Some((key, value)))
    }

    fn part(&mut self, start: u64, may_end: bool) -> Result<Option<Vec<u8>>, String> {
        let mut length = [0u8; 4];
        let mut read = 0;
        while read < 4 {
            match self.input.read(&mut length[read..]) {
                Ok(0) if read == 0 && may_end => return Ok(None),
                Ok(0) => return Err(format!("the entry at byte {start} is cut off")),
                Ok(n) => read += n,
                Err(error) => return Err(error.to_string()),
            }
        }
        let length = u32::from_be_bytes(length);
        if length > FRAME_PART_BYTES_MAX {
            return Err(format!(
                "the entry at byte {start} claims {length} bytes, more than any entry has"
            ));
        }
        let mut bytes = vec![0; length as usize];
        self.input
            .read_exact(&mut bytes)
            .map_err(|_| format!("the entry at byte {start} is cut off"))?;
        self.offset += 4 + u64::from(length);
        Ok(Some(bytes))
    }
}

/// Reads every frame of an entry file into memory (for the small files: keys, vault, audit).
pub fn read_entries(path: &Path) -> Result<TreeEntries, String> {
    let mut reader = EntryReader::open(path).map_err(|error| error.to_string())?;
    let mut entries = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_as_written_and_a_cut_frame_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(LOG_FILE);
        let mut writer = EntryWriter::create(&path).expect("create");
        writer.entry(b"e1", b"first").expect("write");
        writer.entry(b"", b"").expect("write");
        let entry = writer.finish().expect("finish");
        assert_eq!(entry, describe_file(&path).expect("describe"));
        assert_eq!(
            read_entries(&path).expect("read"),
            vec![(b"e1".to_vec(), b"first".to_vec()), (vec![], vec![])]
        );
        let bytes = std::fs::read(&path).expect("bytes");
        std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("cut");
        let error = read_entries(&path).expect_err("cut off");
        assert!(error.contains("byte 15"), "{error}");
    }
}
