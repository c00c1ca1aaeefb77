//! Copying the committed log out of sled and into a new store, entry by entry, for backups.
//!
//! A backup copies the log as the stored entries themselves (records and index runs, already
//! ciphertext), not sled's files: records never change once written and every key grows with the
//! position, so the entries below the committed head form a consistent log while appends go on
//! above it. The head is always the end of a group commit, so the `x` keys below it tile exactly the
//! positions below it. The meta record is not copied but written anew for the copied head.

use super::{
    decode_record, event_key, index_key, key_position, meta_value, LogError, Position, SledLog,
    Store, Tables, DICTIONARY_PREFIX, EVENT_PREFIX, INDEX_PREFIX, META_FORMAT_V2, META_KEY,
    NAME_PREFIX, TREE_NAME,
};
use crate::chain;

/// The end of a copied log: the position after its last event and that event's global hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCopyHead {
    pub next_position: u64,
    pub last_global_hash: [u8; 32],
}

/// The most entries [`LogRestore`] writes in one batch.
const RESTORE_BATCH_ENTRIES: usize = 4096;

impl SledLog {
    /// The committed head now, as a copy would end at it.
    pub fn committed_head(&self) -> Result<LogCopyHead, LogError> {
        let next_position = self.committed();
        let last_global_hash = match next_position.checked_sub(1) {
            None => chain::GENESIS,
            Some(last) => self.reader.stored_at(last)?.global_hash,
        };
        Ok(LogCopyHead {
            next_position,
            last_global_hash,
        })
    }

    /// Hands every stored entry of the log below `head` (taken from [`SledLog::committed_head`])
    /// to `sink`: the name table and the dictionary first (every name and entry a record below the
    /// head uses was written with or before that record; those of later records come along and
    /// are harmless), then records, then index runs, each in key order.
    pub fn copy_entries<E: From<LogError>>(
        &self,
        head: LogCopyHead,
        mut sink: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let tree = &self.reader.tree;
        for prefix in [NAME_PREFIX, DICTIONARY_PREFIX] {
            for item in tree.scan_prefix([prefix]) {
                let (key, value) = item.map_err(LogError::from)?;
                sink(&key, &value)?;
            }
        }
        for item in tree.range(event_key(0)..event_key(head.next_position)) {
            let (key, value) = item.map_err(LogError::from)?;
            sink(&key, &value)?;
        }
        for item in tree.range(index_key(0)..index_key(head.next_position)) {
            let (key, value) = item.map_err(LogError::from)?;
            sink(&key, &value)?;
        }
        Ok(())
    }
}

/// Writes copied entries into the `log` tree of a new, empty store, then the meta record.
#[derive(Debug)]
pub struct LogRestore {
    tree: sled::Tree,
    batch: sled::Batch,
    batched: usize,
    events: u64,
    /// The name table and the dictionary restored so far, which the records restored after them
    /// may use.
    tables: Tables,
}

impl LogRestore {
    /// Starts a restore into `store`, whose log must be empty.
    pub fn begin(store: &Store) -> Result<Self, LogError> {
        let tree = store.db().open_tree(TREE_NAME)?;
        if !tree.is_empty() {
            return Err(LogError::Corrupt {
                position: Position::from_raw(0),
                reason: "the log to restore into is not empty".into(),
            });
        }
        Ok(Self {
            tree,
            batch: sled::Batch::default(),
            batched: 0,
            events: 0,
            tables: Tables::default(),
        })
    }

    /// Adds one copied entry. Only name, dictionary, record and index keys are taken; the names and
    /// dictionary entries must come densely numbered before the records that use them, the records
    /// in position order without gaps, each decoding with the tables (the chain itself is checked
    /// by `verify` after the restore).
    pub fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), LogError> {
        match key.first() {
            Some(&NAME_PREFIX) => self.tables.add_stored_name(key, value)?,
            Some(&DICTIONARY_PREFIX) => self.tables.add_stored_entry(key, value)?,
            Some(&EVENT_PREFIX) => {
                let position = key_position(key)?;
                if position != self.events {
                    return Err(LogError::Corrupt {
                        position: Position::from_raw(position),
                        reason: format!("expected the record of position {}", self.events),
                    });
                }
                decode_record(position, value, &self.tables)?;
                self.events += 1;
            }
            Some(&INDEX_PREFIX) if key.len() == 9 => {}
            _ => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(self.events),
                    reason: format!("a log entry with the unknown key {}", hex::encode(key)),
                })
            }
        }
        self.batch.insert(key, value);
        self.batched += 1;
        if self.batched >= RESTORE_BATCH_ENTRIES {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<(), LogError> {
        self.tree.apply_batch(std::mem::take(&mut self.batch))?;
        self.batched = 0;
        Ok(())
    }

    /// Writes the meta record for `head` and flushes. The copied records must end at its position.
    pub fn finish(mut self, head: LogCopyHead) -> Result<(), LogError> {
        if self.events != head.next_position {
            return Err(LogError::Corrupt {
                position: Position::from_raw(self.events),
                reason: format!(
                    "the copy holds {} events, its head says {}",
                    self.events, head.next_position
                ),
            });
        }
        self.write_batch()?;
        self.tree.insert(
            META_KEY,
            meta_value(META_FORMAT_V2, head.next_position, &head.last_global_hash).as_slice(),
        )?;
        self.tree.flush()?;
        Ok(())
    }
}
