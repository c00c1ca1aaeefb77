//! The audit log: who read or wrote what, when and why (DOMAIN.md section 6).
//!
//! Entries live in the sled tree `audit`, keyed by a gap-free sequence number, and are only ever
//! appended. Each entry carries the SHA-256 of the previous one, and its own hash covers that and
//! every other field, so removing or changing an entry breaks the chain at that entry
//! ([`AuditLog::verify`]). Appends are serialized by one mutex, which is what makes the chain a
//! chain.
//!
//! Retention ([`AuditLog::prune`]): entries older than the audit retention period are removed from
//! the front of the chain. Before removing them, the log writes a prune anchor (tree
//! `audit_anchor`): "pruned through sequence number S, whose hash was H", itself hashed. Verification
//! then starts at the anchor: the first remaining entry must be S + 1 and carry H as its
//! `prev_hash`. Each prune is itself recorded as an `auditPrune` entry.
//!
//! A prune writes three times, each flushed: the anchor, then its `auditPrune` entry, then the
//! removal of the entries at or below the anchor, all under the lock that keeps other appends out.
//! Entries left at or below the anchor are therefore a prune cut off by a crash; opening the log
//! finishes it ([`AuditLog::open`]): it writes the `auditPrune` entry unless it is the last entry,
//! and removes the leftovers.
//!
//! Durability: entries of mutations are flushed before the mutation's answer is sent. Entries of
//! reads are written before the data is returned and reach the disk with sled's periodic flush
//! (every 500 ms), because an fsync per read would cap the read rate at the disk's sync rate.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use journey_core::fault::{self, FaultPoint};
use journey_core::log::LogError;
use journey_core::store::{FlushTicket, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Principal;

const TREE: &str = "audit";
const ANCHOR_TREE: &str = "audit_anchor";
/// The operation of the entry that records a prune.
const PRUNE_OPERATION: &str = "auditPrune";
const ANCHOR_KEY: &[u8] = b"anchor";
const GENESIS: [u8; 32] = [0; 32];
const ENTRY_FORMAT_V1: u8 = 1;

/// What an entry records, before the log gives it a place in the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord {
    pub principal: Option<Principal>,
    /// The GraphQL field (`person`, `startCourse`, ...) or another operation name.
    pub operation: String,
    /// The person concerned, as `person-<uuid>`.
    pub person: Option<String>,
    /// What was asked when it is not one person (`events after 120 first 100`).
    pub query: Option<String>,
    /// The client's `X-Journey-Reason`.
    pub reason: Option<String>,
    /// `ok` or the error code the client received.
    pub outcome: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub token_id: Option<String>,
    pub token_name: Option<String>,
    pub role: Option<String>,
    pub agency: Option<String>,
    pub operation: String,
    pub person: Option<String>,
    pub query: Option<String>,
    pub reason: Option<String>,
    pub outcome: String,
    /// Hex SHA-256 of the previous entry (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash` and this entry's canonical content.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry must carry: SHA-256 over the previous hash and the canonical JSON of every
    /// other field (struct order, so the encoding is stable).
    fn compute_hash(&self) -> [u8; 32] {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let canonical = serde_json::to_vec(&unhashed).unwrap_or_default();
        chain_hash(&self.prev_hash, &canonical)
    }
}

/// SHA-256 over the previous entry's hash (hex) and an entry's canonical JSON (with an empty `hash`).
fn chain_hash(prev_hash: &str, canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update([0u8]);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// The bytes an entry's JSON usually fits in (the two hashes alone are 128).
const ENTRY_JSON_CAPACITY: usize = 512;

/// A hash as the entries write it: 64 lowercase hex digits. Written into a buffer of the exact
/// size in one pass, where `hex::encode` collects characters one at a time (this runs twice per
/// entry, and every gRPC write call writes two entries).
fn hash_hex(hash: &[u8; 32]) -> String {
    let mut digits = [0u8; 64];
    // The buffer is exactly twice the input, the only way `encode_to_slice` can fail.
    let _ = hex::encode_to_slice(hash, &mut digits);
    std::str::from_utf8(&digits)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The stored form of an entry from its canonical JSON and its hash: the format byte, then the
/// canonical JSON with the empty `hash` (the last field, so the JSON ends with `"hash":""}`) filled
/// in. A hex hash needs no escaping, so this is the entry's own JSON.
fn stored_value(canonical: &[u8], hash: &str) -> Vec<u8> {
    const EMPTY_HASH_TAIL: &[u8] = b"\"hash\":\"\"}";
    let mut value = Vec::with_capacity(1 + canonical.len() + hash.len());
    value.push(ENTRY_FORMAT_V1);
    match canonical.strip_suffix(EMPTY_HASH_TAIL) {
        Some(head) => {
            value.extend_from_slice(head);
            value.extend_from_slice(b"\"hash\":\"");
            value.extend_from_slice(hash.as_bytes());
            value.extend_from_slice(b"\"}");
        }
        // Unreachable while `hash` is the last field of `AuditEntry`; the test below checks it.
        None => value.extend_from_slice(canonical),
    }
    value
}

/// Whether an entry's `hash` matches its content and `prev_hash` (it says nothing about the link to
/// the previous entry; [`AuditLog::verify`] checks the whole chain).
pub fn entry_hash_matches(entry: &AuditEntry) -> bool {
    entry.hash == hex::encode(entry.compute_hash())
}

/// Where the chain starts after a prune: every entry up to `pruned_through` was removed, and the
/// last of them had the hash `last_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneAnchor {
    /// The sequence number of the last removed entry.
    pub pruned_through: u64,
    /// Hex SHA-256 of the last removed entry, the `prev_hash` of the next one.
    pub last_hash: String,
    /// When the prune ran.
    pub pruned_at: DateTime<Utc>,
    /// Entries were removed if they were older than this.
    pub cutoff: DateTime<Utc>,
    /// Hex SHA-256 of every other field of the anchor.
    pub hash: String,
}

impl PruneAnchor {
    fn compute_hash(&self) -> [u8; 32] {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let canonical = serde_json::to_vec(&unhashed).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(b"journey/v1/audit-prune-anchor");
        hasher.update([0u8]);
        hasher.update(&canonical);
        hasher.finalize().into()
    }
}

/// What a prune did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// The number of entries removed.
    pub removed: u64,
    /// The anchor the chain now starts at (`None` when nothing has ever been pruned).
    pub anchor: Option<PruneAnchor>,
}

/// The instant `years` years before `now`: entries older than it are due for pruning.
pub fn retention_cutoff(now: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    now.checked_sub_months(chrono::Months::new(years.saturating_mul(12)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit entry {seq} cannot be read: {reason}")]
    Damaged { seq: u64, reason: String },
    #[error("the audit chain is broken at entry {}: {}; nothing was pruned", .0.seq, .0.reason)]
    Broken(ChainBreak),
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl From<sled::Error> for AuditError {
    fn from(error: sled::Error) -> Self {
        AuditError::Storage(LogError::from(error))
    }
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: u64,
    pub reason: String,
}

#[derive(Debug)]
struct Head {
    next_seq: u64,
    last_hash: [u8; 32],
}

/// What a backup copies of the audit log: every entry and the prune anchor (its key prefixed with
/// [`ANCHOR_ENTRY_PREFIX`], which no entry key of 8 bytes can start with and be as long), and the
/// head the copy ends at.
#[derive(Debug, Clone)]
pub struct AuditCopy {
    pub next_seq: u64,
    pub last_hash: [u8; 32],
    pub entries: journey_core::keys::TreeEntries,
}

/// The prefix of the anchor tree's entries in an [`AuditCopy`].
const ANCHOR_ENTRY_PREFIX: &[u8] = b"!anchor/";

fn anchor_entry_key(key: &[u8]) -> Vec<u8> {
    [ANCHOR_ENTRY_PREFIX, key].concat()
}

/// An entry just written, and the store's flush ticket taken after it.
#[derive(Debug, Clone)]
pub struct Written {
    pub entry: AuditEntry,
    pub ticket: FlushTicket,
}

/// The audit log in the embedded store.
#[derive(Debug)]
pub struct AuditLog {
    tree: sled::Tree,
    anchors: sled::Tree,
    head: Mutex<Head>,
    /// The store whose group commit makes entries durable ([`AuditLog::flush`]).
    store: Store,
    /// The store's flush ticket taken after the latest entry was written (`None` before the first).
    written: Mutex<Option<FlushTicket>>,
}

fn decode(seq: u64, value: &[u8]) -> Result<AuditEntry, AuditError> {
    match value.split_first() {
        Some((&ENTRY_FORMAT_V1, json)) => {
            serde_json::from_slice(json).map_err(|error| AuditError::Damaged {
                seq,
                reason: error.to_string(),
            })
        }
        _ => Err(AuditError::Damaged {
            seq,
            reason: "unknown entry format".into(),
        }),
    }
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

fn decode_hash(seq: u64, hash: &str) -> Result<[u8; 32], AuditError> {
    hex::decode(hash)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| AuditError::Damaged {
            seq,
            reason: "malformed hash".into(),
        })
}

fn read_anchor(anchors: &sled::Tree) -> Result<Option<PruneAnchor>, AuditError> {
    match anchors.get(ANCHOR_KEY)? {
        None => Ok(None),
        Some(value) => {
            serde_json::from_slice(&value)
                .map(Some)
                .map_err(|error| AuditError::Damaged {
                    seq: 0,
                    reason: format!("the prune anchor does not decode: {error}"),
                })
        }
    }
}

impl AuditLog {
    pub fn open(store: &Store) -> Result<Self, AuditError> {
        let tree = store.db().open_tree(TREE)?;
        let anchors = store.db().open_tree(ANCHOR_TREE)?;
        let head = match tree.last()? {
            None => match read_anchor(&anchors)? {
                // Every entry was pruned: the chain continues from the anchor.
                Some(anchor) => Head {
                    next_seq: anchor.pruned_through + 1,
                    last_hash: decode_hash(anchor.pruned_through, &anchor.last_hash)?,
                },
                None => Head {
                    next_seq: 0,
                    last_hash: GENESIS,
                },
            },
            Some((key, value)) => {
                let seq = seq_of(&key).ok_or_else(|| AuditError::Damaged {
                    seq: 0,
                    reason: "malformed key".into(),
                })?;
                let entry = decode(seq, &value)?;
                let last_hash = decode_hash(seq, &entry.hash)?;
                Head {
                    next_seq: seq + 1,
                    last_hash,
                }
            }
        };
        let log = Self {
            tree,
            anchors,
            head: Mutex::new(head),
            store: store.clone(),
            written: Mutex::new(None),
        };
        log.finish_interrupted_prune(Utc::now())?;
        Ok(log)
    }

    /// Finishes a prune that a crash cut off after its anchor was durable (see the module
    /// documentation): the entries at or below the anchor are still there.
    fn finish_interrupted_prune(&self, now: DateTime<Utc>) -> Result<(), AuditError> {
        let Some(anchor) = read_anchor(&self.anchors)? else {
            return Ok(());
        };
        let leftovers = self
            .tree
            .range(..=anchor.pruned_through.to_be_bytes())
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        if leftovers.is_empty() {
            return Ok(());
        }
        // Only an anchor that matches its own hash and the entry it names is acted on: anything
        // else is damage or tampering, which `verify` reports and removing entries would hide.
        let anchored = self.tree.get(anchor.pruned_through.to_be_bytes())?;
        let consistent = anchor.hash == hex::encode(anchor.compute_hash())
            && anchored.is_some_and(|value| {
                decode(anchor.pruned_through, &value)
                    .is_ok_and(|entry| entry.hash == anchor.last_hash)
            });
        if !consistent {
            return Ok(());
        }
        let mut head = self
            .head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The prune held the lock until it stopped, so its entry, if written, is the last one.
        let recorded = match self.tree.last()? {
            Some((key, value)) => {
                let seq = seq_of(&key).unwrap_or_default();
                let entry = decode(seq, &value)?;
                seq > anchor.pruned_through
                    && entry.operation == PRUNE_OPERATION
                    && entry.at == anchor.pruned_at
            }
            None => false,
        };
        if !recorded {
            self.append_locked(
                &mut head,
                AuditRecord {
                    operation: PRUNE_OPERATION.into(),
                    query: Some(format!(
                        "finished a prune that stopped before removing its entries; the chain \
                         starts after entry {}",
                        anchor.pruned_through
                    )),
                    outcome: "ok".into(),
                    ..AuditRecord::default()
                },
                now,
            )?;
            self.tree.flush()?;
        }
        let mut batch = sled::Batch::default();
        for key in leftovers {
            batch.remove(key);
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Appends one entry at `at` and returns it.
    ///
    /// Only what depends on the chain happens under the lock: the entry is serialized once (its
    /// canonical JSON, which ends with the empty `hash`), hashed, and stored as that JSON with the
    /// hash filled in, which is exactly the entry's JSON.
    pub fn append(&self, record: AuditRecord, at: DateTime<Utc>) -> Result<AuditEntry, AuditError> {
        self.write(record, at).map(|written| written.entry)
    }

    /// [`AuditLog::append`], with the ticket that [`AuditLog::flush_through`] makes this entry
    /// durable by (and no later entry's durability waited for).
    pub fn write(&self, record: AuditRecord, at: DateTime<Utc>) -> Result<Written, AuditError> {
        let mut head = self
            .head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.append_locked(&mut head, record, at)
    }

    /// [`AuditLog::append`] for a caller that holds the head's lock.
    fn append_locked(
        &self,
        head: &mut Head,
        record: AuditRecord,
        at: DateTime<Utc>,
    ) -> Result<Written, AuditError> {
        // The principal's fields move into the entry: a call's record is written once.
        let (token_id, token_name, role, agency) = match record.principal {
            Some(principal) => (
                Some(principal.token_id),
                principal.name,
                Some(principal.role.as_str().to_owned()),
                principal.agency.map(|agency| agency.as_str().to_owned()),
            ),
            None => (None, None, None, None),
        };
        let mut entry = AuditEntry {
            seq: head.next_seq,
            at,
            token_id,
            token_name,
            role,
            agency,
            operation: record.operation,
            person: record.person,
            query: record.query,
            reason: record.reason,
            outcome: record.outcome,
            prev_hash: hash_hex(&head.last_hash),
            hash: String::new(),
        };
        // An entry's JSON is a few hundred bytes: one allocation instead of doubling from 128.
        let mut canonical = Vec::with_capacity(ENTRY_JSON_CAPACITY);
        // Serialising this struct into memory cannot fail; like `to_vec(..).unwrap_or_default()`
        // before, a failure would leave the JSON empty.
        if serde_json::to_writer(&mut canonical, &entry).is_err() {
            canonical.clear();
        }
        let hash = chain_hash(&entry.prev_hash, &canonical);
        entry.hash = hash_hex(&hash);
        let value = stored_value(&canonical, &entry.hash);
        // `insert` on a fresh key cannot clash: the mutex makes this the only writer of the tree.
        self.tree.insert(entry.seq.to_be_bytes(), value)?;
        let ticket = self.store.ticket();
        *self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(ticket);
        head.next_seq += 1;
        head.last_hash = hash;
        Ok(Written { entry, ticket })
    }

    /// A copy of the whole audit log for a backup, taken under the lock that orders appends and
    /// prunes, so the copy ends at one entry and holds the anchor its chain starts at.
    pub fn copy(&self) -> Result<AuditCopy, AuditError> {
        let head = self
            .head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut entries = Vec::new();
        for item in self.tree.iter() {
            let (key, value) = item?;
            entries.push((key.to_vec(), value.to_vec()));
        }
        for item in self.anchors.iter() {
            let (key, value) = item?;
            entries.push((anchor_entry_key(&key), value.to_vec()));
        }
        Ok(AuditCopy {
            next_seq: head.next_seq,
            last_hash: head.last_hash,
            entries,
        })
    }

    /// Writes a copy taken by [`AuditLog::copy`] into a new store whose audit log is empty. Open
    /// the log afterwards and [`AuditLog::verify`] it.
    pub fn restore(store: &Store, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<(), AuditError> {
        let tree = store.db().open_tree(TREE)?;
        let anchors = store.db().open_tree(ANCHOR_TREE)?;
        if !tree.is_empty() || !anchors.is_empty() {
            return Err(AuditError::Damaged {
                seq: 0,
                reason: "the audit log to restore into is not empty".into(),
            });
        }
        let (mut entry_batch, mut anchor_batch) = (sled::Batch::default(), sled::Batch::default());
        for (key, value) in entries {
            match key.strip_prefix(ANCHOR_ENTRY_PREFIX) {
                Some(anchor_key) => anchor_batch.insert(anchor_key, value.as_slice()),
                None => entry_batch.insert(key.as_slice(), value.as_slice()),
            }
        }
        tree.apply_batch(entry_batch)?;
        anchors.apply_batch(anchor_batch)?;
        tree.flush()?;
        anchors.flush()?;
        Ok(())
    }

    /// Makes every entry appended so far durable.
    ///
    /// Through the store's group commit (`Store::flush_after`): sled's flush is database-wide, so
    /// the event log's next group commit, begun after the entry was written, covers it as well as a
    /// flush of the audit log's own would. A mutation's entry, written after the ledger's append
    /// returned, thus rides on the flush of the appends that follow it instead of paying a second
    /// flush, and concurrent callers share one flush when nothing else flushes. While a flush is
    /// under way the caller waits for it on the runtime (`Store::flushed_after`), not on a thread.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let written = *self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Before the first entry of this process, whatever an earlier one left is made durable.
        let ticket = written.unwrap_or_else(|| self.store.ticket());
        self.store.flushed_after(ticket).await?;
        Ok(())
    }

    /// Makes the entries written before `ticket` was taken durable ([`AuditLog::write`]), at no cost
    /// when a flush that began after it has finished: the event log's group commit of a write
    /// call's events makes the call's opening entry, written before them, durable so.
    pub async fn flush_through(&self, ticket: FlushTicket) -> Result<(), AuditError> {
        self.store.flushed_after(ticket).await?;
        Ok(())
    }

    /// Up to `limit` entries with a sequence number above `after` (from the first when `None`).
    pub fn read(&self, after: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let start = match after {
            Some(seq) => match seq.checked_add(1) {
                Some(next) => next,
                None => return Ok(Vec::new()),
            },
            None => 0,
        };
        let mut entries = Vec::with_capacity(limit.min(1024));
        for item in self.tree.range(start.to_be_bytes()..).take(limit) {
            let (key, value) = item?;
            let seq = seq_of(&key).ok_or_else(|| AuditError::Damaged {
                seq: start,
                reason: "malformed key".into(),
            })?;
            entries.push(decode(seq, &value)?);
        }
        Ok(entries)
    }

    /// The number of entries.
    pub fn len(&self) -> u64 {
        self.head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The anchor the chain starts at, if entries were ever pruned.
    pub fn anchor(&self) -> Result<Option<PruneAnchor>, AuditError> {
        read_anchor(&self.anchors)
    }

    /// Walks the whole chain from its start (the genesis, or the prune anchor); returns the number of
    /// entries checked, or where the chain is broken.
    pub fn verify(&self) -> Result<Result<u64, ChainBreak>, AuditError> {
        let (mut expected_seq, mut expected_prev) = match read_anchor(&self.anchors) {
            Ok(None) => (0, hex::encode(GENESIS)),
            Ok(Some(anchor)) => {
                if anchor.hash != hex::encode(anchor.compute_hash()) {
                    return Ok(Err(ChainBreak {
                        seq: anchor.pruned_through,
                        reason: "the prune anchor does not match its hash".into(),
                    }));
                }
                (anchor.pruned_through + 1, anchor.last_hash)
            }
            Err(AuditError::Damaged { reason, .. }) => {
                return Ok(Err(ChainBreak { seq: 0, reason }))
            }
            Err(error) => return Err(error),
        };
        let mut count = 0u64;
        for item in self.tree.iter() {
            let (key, value) = item?;
            let Some(seq) = seq_of(&key) else {
                return Ok(Err(ChainBreak {
                    seq: expected_seq,
                    reason: "malformed key".into(),
                }));
            };
            // Entries at or below the anchor are left over from a prune that stopped between
            // writing its anchor and removing them; the next prune removes them.
            if seq < expected_seq && count == 0 {
                continue;
            }
            let broken = |reason: &str| {
                Ok(Err(ChainBreak {
                    seq,
                    reason: reason.to_owned(),
                }))
            };
            if seq != expected_seq {
                return broken("an entry is missing before this one");
            }
            let Ok(entry) = decode(seq, &value) else {
                return broken("the entry does not decode");
            };
            if entry.seq != seq {
                return broken("the entry's sequence number does not match its key");
            }
            if entry.prev_hash != expected_prev {
                return broken("prev_hash does not match the previous entry");
            }
            if entry.hash != hex::encode(entry.compute_hash()) {
                return broken("the entry's content does not match its hash");
            }
            expected_prev = entry.hash;
            expected_seq += 1;
            count += 1;
        }
        Ok(Ok(count))
    }

    /// Removes the entries older than `cutoff` from the front of the chain (stopping at the first
    /// entry that is not), after writing the anchor the chain then starts at and the `auditPrune`
    /// entry at `now` that records the prune (see the module documentation for the order). A
    /// broken chain is not pruned: that would hide the break.
    pub fn prune(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PruneReport, AuditError> {
        // Holding the head's lock keeps appends out while the front of the chain changes, and keeps
        // the prune's own entry the last one until the prune is done.
        let mut head = self
            .head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(broken) = self.verify()? {
            return Err(AuditError::Broken(broken));
        }
        let previous = read_anchor(&self.anchors)?;
        let mut due = Vec::new();
        let mut last: Option<(u64, String)> = None;
        for item in self.tree.iter() {
            let (key, value) = item?;
            let seq = seq_of(&key).ok_or_else(|| AuditError::Damaged {
                seq: 0,
                reason: "malformed key".into(),
            })?;
            let entry = decode(seq, &value)?;
            let below_anchor = previous
                .as_ref()
                .is_some_and(|anchor| seq <= anchor.pruned_through);
            if !below_anchor {
                if entry.at >= cutoff {
                    break;
                }
                last = Some((seq, entry.hash));
            }
            due.push(key);
        }
        let anchor = match last {
            None => previous,
            Some((pruned_through, last_hash)) => {
                let mut anchor = PruneAnchor {
                    pruned_through,
                    last_hash,
                    pruned_at: now,
                    cutoff,
                    hash: String::new(),
                };
                anchor.hash = hex::encode(anchor.compute_hash());
                let value = serde_json::to_vec(&anchor).unwrap_or_default();
                // The anchor is durable before any entry goes, so a prune that stops halfway
                // leaves a chain that still verifies, and that the next open finishes.
                self.anchors.insert(ANCHOR_KEY, value)?;
                self.anchors.flush()?;
                fault::hit(FaultPoint::AbortAfterAuditAnchor);
                Some(anchor)
            }
        };
        let report = PruneReport {
            removed: due.len() as u64,
            anchor,
        };
        let query = match &report.anchor {
            Some(anchor) => format!(
                "removed {} entries older than {}; the chain starts after entry {}",
                report.removed,
                cutoff.to_rfc3339(),
                anchor.pruned_through
            ),
            None => format!("removed no entries older than {}", cutoff.to_rfc3339()),
        };
        self.append_locked(
            &mut head,
            AuditRecord {
                operation: PRUNE_OPERATION.into(),
                query: Some(query),
                outcome: "ok".into(),
                ..AuditRecord::default()
            },
            now,
        )?;
        self.tree.flush()?;
        fault::hit(FaultPoint::AbortAfterAuditPruneEntry);
        let mut batch = sled::Batch::default();
        for key in due {
            batch.remove(key);
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use journey_core::store::StoreConfig;

    use super::*;

    fn record(operation: &str) -> AuditRecord {
        AuditRecord {
            operation: operation.into(),
            outcome: "ok".into(),
            ..AuditRecord::default()
        }
    }

    proptest::proptest! {
        /// The entries' hex is `hex::encode`'s, which older entries were written with.
        #[test]
        fn a_hash_is_written_as_hex_encode_writes_it(hash in proptest::array::uniform32(proptest::num::u8::ANY)) {
            proptest::prop_assert_eq!(hash_hex(&hash), hex::encode(hash));
        }
    }

    #[test]
    fn an_entry_names_its_principal_and_one_without_names_nobody() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let audit = AuditLog::open(&store).expect("audit");
        let principal = Principal {
            token_id: "tok-7".into(),
            name: Some("cw-7".into()),
            role: crate::auth::Role::Caseworker,
            agency: Some(journey_core::catalogue::Agency::Jobcenter),
        };
        let named = audit
            .append(
                AuditRecord {
                    principal: Some(principal),
                    ..record("person")
                },
                Utc::now(),
            )
            .expect("append");
        assert_eq!(named.token_id.as_deref(), Some("tok-7"));
        assert_eq!(named.token_name.as_deref(), Some("cw-7"));
        assert_eq!(named.role.as_deref(), Some("caseworker"));
        assert_eq!(named.agency.as_deref(), Some("jobcenter"));
        let anonymous = audit.append(record("person"), Utc::now()).expect("append");
        assert_eq!(
            (
                anonymous.token_id,
                anonymous.token_name,
                anonymous.role,
                anonymous.agency
            ),
            (None, None, None, None)
        );
        assert_eq!(anonymous.prev_hash, named.hash);
        assert!(audit.verify().expect("verify").is_ok());
    }

    #[test]
    fn the_stored_value_is_the_entrys_json_and_its_hash_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let audit = AuditLog::open(&store).expect("audit");
        let principal = Principal {
            token_id: "tok-1".into(),
            name: Some("n \"quoted\" \u{e9}".into()),
            role: crate::auth::Role::Caseworker,
            agency: Some(journey_core::catalogue::Agency::Jobcenter),
        };
        for reason in [None, Some("why\nnot".to_owned())] {
            let entry = audit
                .append(
                    AuditRecord {
                        principal: Some(principal.clone()),
                        reason,
                        person: Some("person-1".into()),
                        ..record("person")
                    },
                    Utc::now(),
                )
                .expect("append");
            assert!(entry_hash_matches(&entry));
            let stored = store
                .db()
                .open_tree(TREE)
                .expect("tree")
                .get(entry.seq.to_be_bytes())
                .expect("get")
                .expect("stored");
            let mut expected = vec![ENTRY_FORMAT_V1];
            expected.extend_from_slice(&serde_json::to_vec(&entry).expect("json"));
            assert_eq!(&stored[..], &expected[..]);
        }
        assert_eq!(audit.verify().expect("verify"), Ok(2));
    }

    #[tokio::test]
    async fn an_entry_rides_on_a_store_flush_that_began_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let audit = AuditLog::open(&store).expect("audit");
        // Given an entry, and nothing flushed since: the audit log's flush runs one.
        audit.append(record("a"), Utc::now()).expect("append");
        let before = store.flushes_finished();
        audit.flush().await.expect("flush");
        assert_eq!(store.flushes_finished(), before + 1);
        // Given another entry, then a flush of the store by someone else (the event log's group
        // commit of the appends that follow), begun after the entry was written.
        audit.append(record("b"), Utc::now()).expect("append");
        store.flush().expect("the log's flush");
        let before = store.flushes_finished();
        // When the audit log is asked to make its entries durable, it needs no flush of its own.
        audit.flush().await.expect("flush");
        assert_eq!(store.flushes_finished(), before);
    }

    #[test]
    fn entries_chain_survive_reopen_and_tampering_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Utc::now();
        {
            let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
            let audit = AuditLog::open(&store).expect("audit");
            let first = audit.append(record("a"), now).expect("append");
            let second = audit.append(record("b"), now).expect("append");
            assert_eq!(second.prev_hash, first.hash);
            store.flush().expect("flush");
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let audit = AuditLog::open(&store).expect("audit");
        let third = audit.append(record("c"), now).expect("append");
        assert_eq!(third.seq, 2);
        assert_eq!(audit.verify().expect("verify"), Ok(3));
        assert_eq!(audit.read(Some(0), 10).expect("read").len(), 2);

        let tree = store.db().open_tree(TREE).expect("tree");
        let key = 1u64.to_be_bytes();
        let mut entry = decode(1, &tree.get(key).expect("get").expect("entry")).expect("decode");
        entry.operation = "changed".into();
        let mut value = vec![ENTRY_FORMAT_V1];
        value.extend_from_slice(&serde_json::to_vec(&entry).expect("json"));
        tree.insert(key, value).expect("tamper");
        let broken = audit.verify().expect("verify").expect_err("broken");
        assert_eq!(broken.seq, 1);
    }

    #[test]
    fn prune_removes_old_entries_and_the_chain_still_verifies_from_its_anchor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Utc::now();
        let old = now - chrono::Duration::days(365 * 12);
        {
            let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
            let audit = AuditLog::open(&store).expect("audit");
            for operation in ["a", "b", "c"] {
                audit.append(record(operation), old).expect("append");
            }
            audit.append(record("recent"), now).expect("append");
            let report = audit.prune(retention_cutoff(now, 10), now).expect("prune");
            assert_eq!(report.removed, 3);
            assert_eq!(report.anchor.as_ref().map(|a| a.pruned_through), Some(2));
            // The recent entry and the prune's own entry remain, and the chain verifies.
            let left = audit.read(None, 10).expect("read");
            let operations: Vec<&str> = left.iter().map(|e| e.operation.as_str()).collect();
            assert_eq!(operations, ["recent", "auditPrune"]);
            assert_eq!(left[0].seq, 3);
            assert_eq!(audit.verify().expect("verify"), Ok(2));
            // A second prune with nothing due removes nothing and keeps the anchor.
            let again = audit.prune(retention_cutoff(now, 10), now).expect("prune");
            assert_eq!(again.removed, 0);
            assert_eq!(again.anchor, report.anchor);
            // Pruning everything leaves an empty tree; the chain continues from the anchor.
            let all = audit
                .prune(
                    now + chrono::Duration::seconds(1),
                    now + chrono::Duration::seconds(2),
                )
                .expect("prune all");
            assert_eq!(all.removed, 3);
            assert_eq!(audit.verify().expect("verify"), Ok(1));
            store.flush().expect("flush");
        }
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let audit = AuditLog::open(&store).expect("audit");
        let next = audit.append(record("after reopen"), now).expect("append");
        assert_eq!(next.seq, 7);
        assert_eq!(audit.verify().expect("verify"), Ok(2));

        // A changed anchor is found.
        let anchors = store.db().open_tree(ANCHOR_TREE).expect("anchors");
        let mut anchor = audit.anchor().expect("anchor").expect("some anchor");
        anchor.pruned_through -= 1;
        anchors
            .insert(ANCHOR_KEY, serde_json::to_vec(&anchor).expect("json"))
            .expect("tamper");
        let broken = audit.verify().expect("verify").expect_err("broken");
        assert_eq!(broken.seq, anchor.pruned_through);
        assert!(matches!(audit.prune(now, now), Err(AuditError::Broken(_))));
    }

    #[test]
    fn an_anchor_moved_forward_by_hand_does_not_make_the_open_remove_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Utc::now();
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let audit = AuditLog::open(&store).expect("audit");
        for operation in ["a", "b", "c"] {
            audit.append(record(operation), now).expect("append");
        }
        // An anchor naming entry 1, rehashed, but not carrying entry 1's hash: not one that a
        // prune wrote, so the entries it would cover are evidence, not leftovers.
        let mut anchor = PruneAnchor {
            pruned_through: 1,
            last_hash: hex::encode([0u8; 32]),
            pruned_at: now,
            cutoff: now,
            hash: String::new(),
        };
        anchor.hash = hex::encode(anchor.compute_hash());
        audit
            .anchors
            .insert(ANCHOR_KEY, serde_json::to_vec(&anchor).expect("json"))
            .expect("tamper");
        drop(audit);

        let audit = AuditLog::open(&store).expect("audit");

        assert_eq!(
            audit.read(None, 10).expect("read").len(),
            3,
            "nothing was removed"
        );
        assert!(audit.verify().expect("verify").is_err());
    }
}
