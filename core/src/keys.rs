//! The key store: one data key per person, wrapped by an epoch key that is wrapped by the master key.
//!
//! A person's data key is created with the first event of their stream and destroyed on erasure, which
//! leaves a tombstone so that `verify` can tell an erased person (key destroyed on purpose) from a lost
//! key (damage). Unwrapped keys are cached in memory; the cache is bounded.
//!
//! Why an epoch key: sled keeps old versions of values in its segment files until it rewrites them, so
//! a tombstone alone leaves the destroyed person's wrapped key on disk for a while, and the master key
//! would still unwrap it. The data keys are therefore wrapped by an *epoch key*, which lives outside
//! sled in `<data-dir>/keys/epoch-<n>.key` (itself sealed with the master key). Destroying a person's
//! key generates epoch `n + 1`, re-wraps every remaining data key under it in one sled batch, and then
//! deletes the file of epoch `n`. Every copy of a wrapped key that sled may still hold was wrapped by an
//! epoch whose key no longer exists anywhere, so it cannot be opened, with or without the master key.
//!
//! Crash safety of a rotation: (1) the new epoch file is written atomically (temporary file, fsync,
//! rename, fsync of the directory); (2) one sled batch tombstones the person, re-wraps the other keys
//! and records the new epoch number, then sled is flushed; (3) the old epoch file is deleted. On open,
//! the epoch recorded in sled is the one in force and every other epoch file is deleted: a crash
//! between (1) and (2) leaves an unused newer file, one between (2) and (3) an old file that must go.
//!
//! Crash safety of an erasure: the ledger records an *erasure intent* (`!erasing/` ‖ person, flushed)
//! before it appends the `PersonalDataErased` event, and the rotation that destroys the key removes
//! the intent in its batch. An intent found at open is an erasure cut off somewhere between the two:
//! the ledger finishes it when the event is in the log and drops the intent when it is not
//! ([`crate::ledger::Ledger::finish_interrupted_erasures`]). A store written before intents existed
//! is searched once for erasures whose key survived; `!erasures-reconciled` records that it was.
//!
//! Master-key rotation ([`KeyStore::rotate_master`]) re-seals only what the master key seals: the
//! epoch key file and the check value. (1) The epoch key, sealed with the new master key, is written
//! atomically to `epoch-<n>.key.rewrap`; (2) the check value sealed with the new master key replaces
//! the old one in sled, flushed: this is the switch; (3) the `.rewrap` file is renamed over
//! `epoch-<n>.key` and the directory synced. On open, an epoch file that does not open with the
//! (checked) master key is replaced by its `.rewrap` file when that one does (a crash between (2) and
//! (3)), and a `.rewrap` file beside an epoch file that opens is a rotation that never switched and
//! is deleted (a crash before (2)). So a crash at any point leaves a store that opens with the old
//! master key (before the switch) or the new one (after it).
//!
//! A store written before epoch keys (data keys wrapped directly by the master key) is migrated on
//! open: epoch 1 is created and every key is re-wrapped under it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use rand::{CryptoRng, RngCore};
use uuid::Uuid;

use crate::crypto::{self, CryptoError, SecretKey};
use crate::envelope::PersonId;
use crate::erasure_register::ErasureRegister;
use crate::fault::{self, FaultPoint};
use crate::log::LogError;
use crate::store::Store;

const TREE: &str = "keys";
/// The key under which a value sealed with the master key proves that the configured master key is
/// the one this data directory was created with.
const MASTER_CHECK_KEY: &[u8] = b"!master-check";
const MASTER_CHECK_PLAINTEXT: &[u8] = b"journey master key check v1";
/// The key of the epoch in force (a big-endian `u64`).
const EPOCH_KEY: &[u8] = b"!epoch";
/// The prefix of an erasure intent: `!erasing/` ‖ the person's uuid (see the module documentation).
const ERASING_PREFIX: &[u8] = b"!erasing/";
/// Present once every erasure in the log is known to have its key destroyed, so that from then on
/// the erasure intents alone say which erasures may be unfinished.
const ERASURES_RECONCILED_KEY: &[u8] = b"!erasures-reconciled";
/// A data key wrapped directly by the master key (stores written before epoch keys).
const WRAPPED_BY_MASTER_TAG: u8 = 1;
const DESTROYED_TAG: u8 = 2;
/// A data key wrapped by an epoch key: the tag, the epoch number (big-endian `u64`), the sealed key.
const WRAPPED_BY_EPOCH_TAG: u8 = 3;
/// The label of the vault's blind-index subkey of the epoch key.
const BLIND_INDEX_LABEL: &[u8] = b"journey/v1/vault-blind-index";
const SNAPSHOT_SHARED_LABEL: &[u8] = b"journey/v1/projection-snapshot-shared";
/// The directory of the epoch key files, inside the data directory.
pub const EPOCH_DIR: &str = "keys";
const EPOCH_FILE_MAGIC: &[u8; 8] = b"JRNYEPK1";
/// The most unwrapped data keys kept in memory.
pub const KEY_CACHE_ENTRIES_MAX: usize = 200_000;

/// The file the master key is generated into when none is configured.
pub const MASTER_KEY_FILE: &str = "master.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key does not open this data directory's keys: configure the master key it was created with")]
    WrongMasterKey,
    #[error("the data key of {0} was destroyed (the person was erased)")]
    Destroyed(PersonId),
    #[error("the data key of {person} is damaged: {source}")]
    Damaged {
        person: PersonId,
        #[source]
        source: CryptoError,
    },
    #[error("master key file `{path}`: {message}")]
    MasterKeyFile { path: PathBuf, message: String },
    #[error("epoch key file `{path}`: {message}")]
    EpochFile { path: PathBuf, message: String },
    #[error("the key store entry {0} (hex) is malformed")]
    Malformed(String),
    #[error(transparent)]
    Storage(#[from] LogError),
    #[error(transparent)]
    Register(#[from] crate::erasure_register::RegisterError),
}

impl From<sled::Error> for KeyError {
    fn from(error: sled::Error) -> Self {
        KeyError::Storage(LogError::from(error))
    }
}

/// What the key store holds for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    Absent,
    Present(SecretKey),
    Destroyed,
}

/// The epoch key in force.
#[derive(Debug)]
struct Epoch {
    number: u64,
    key: SecretKey,
}

#[derive(Debug)]
pub struct KeyStore {
    tree: sled::Tree,
    /// The vault tree, whose entry for a person goes with their key (see [`KeyStore::destroy`]).
    vault: sled::Tree,
    /// The vault's blind index, whose entries for a person go with their key too.
    vault_index: sled::Tree,
    /// The master key in force (replaced by [`KeyStore::rotate_master`]).
    master: RwLock<SecretKey>,
    epoch_dir: PathBuf,
    /// Readers unwrap under the epoch in force; a rotation holds the write lock from the new epoch
    /// file to the deletion of the old one, so no key is created under an epoch that is going away.
    epoch: RwLock<Epoch>,
    cache: RwLock<HashMap<Uuid, SecretKey>>,
    /// The register every erasure is written to before the key goes, when one is configured (see
    /// [`crate::erasure_register`]).
    erasure_register: Option<ErasureRegister>,
    /// How many keys were created, and how many of them a flush is known to cover (see
    /// [`KeyStore::make_durable`]).
    keys_created: AtomicU64,
    keys_durable: AtomicU64,
    /// Held by the one flush of [`KeyStore::make_durable`] in progress.
    flushing: std::sync::Mutex<()>,
}

/// The entries of a sled tree, key and value, in key order (what a backup copies of a tree).
pub type TreeEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// What a backup copies of the key store, all read under one epoch: the epoch number and its key
/// file (sealed with the master key), the `keys` tree and the `vault` tree, entry by entry.
#[derive(Debug, Clone, Default)]
pub struct KeyMaterial {
    pub epoch_number: u64,
    pub epoch_file: Vec<u8>,
    pub keys: TreeEntries,
    pub vault: TreeEntries,
}

fn sealing_error(source: CryptoError) -> KeyError {
    KeyError::Damaged {
        person: PersonId(Uuid::nil()),
        source,
    }
}

fn epoch_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("epoch-{number}.key"))
}

/// Where a master-key rotation writes the epoch key sealed with the new master key.
fn rewrap_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("epoch-{number}.key.rewrap"))
}

fn epoch_aad(number: u64) -> Vec<u8> {
    let mut aad = b"journey/v1/epoch-key/".to_vec();
    aad.extend_from_slice(&number.to_be_bytes());
    aad
}

/// The epoch numbers of the files in `dir`.
fn epoch_files(dir: &Path) -> Result<Vec<u64>, KeyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(KeyError::EpochFile {
                path: dir.to_owned(),
                message: error.to_string(),
            })
        }
    };
    let mut numbers = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name
            .strip_prefix("epoch-")
            .and_then(|rest| rest.strip_suffix(".key"))
            .and_then(|number| number.parse().ok())
        {
            numbers.push(number);
        }
    }
    Ok(numbers)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes epoch `number`'s key, sealed with the master key, atomically.
fn write_epoch_file(
    dir: &Path,
    master: &SecretKey,
    number: u64,
    key: &SecretKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(), KeyError> {
    write_epoch_file_at(&epoch_path(dir, number), dir, master, number, key, rng)
}

/// Writes epoch `number`'s key, sealed with `master`, atomically to `path` (in `dir`).
fn write_epoch_file_at(
    path: &Path,
    dir: &Path,
    master: &SecretKey,
    number: u64,
    key: &SecretKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(), KeyError> {
    let path = path.to_owned();
    let error = |message: String| KeyError::EpochFile {
        path: path.clone(),
        message,
    };
    let sealed =
        crypto::seal(master, &epoch_aad(number), key.as_bytes(), rng).map_err(sealing_error)?;
    let mut contents = EPOCH_FILE_MAGIC.to_vec();
    contents.extend_from_slice(&sealed);
    std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
    let temporary = dir.join(format!("epoch-{number}.key.tmp"));
    let _ = std::fs::remove_file(&temporary);
    write_private_file(&temporary, &contents).map_err(|e| error(e.to_string()))?;
    std::fs::rename(&temporary, &path).map_err(|e| error(e.to_string()))?;
    sync_dir(dir).map_err(|e| error(e.to_string()))
}

fn read_epoch_file(dir: &Path, master: &SecretKey, number: u64) -> Result<SecretKey, KeyError> {
    read_epoch_file_at(&epoch_path(dir, number), master, number)
}

fn read_epoch_file_at(path: &Path, master: &SecretKey, number: u64) -> Result<SecretKey, KeyError> {
    let path = path.to_owned();
    let error = |message: String| KeyError::EpochFile {
        path: path.clone(),
        message,
    };
    let contents = std::fs::read(&path).map_err(|e| {
        error(format!(
            "{e}: the epoch key in force is missing, so no person's data key can be unwrapped"
        ))
    })?;
    let sealed = contents
        .strip_prefix(EPOCH_FILE_MAGIC.as_slice())
        .ok_or_else(|| error("not an epoch key file".into()))?;
    let bytes = crypto::open(master, &epoch_aad(number), sealed)
        .map_err(|_| error("does not open with the master key".into()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| error("an epoch key is 32 bytes".into()))?;
    Ok(SecretKey::from_bytes(bytes))
}

/// Deletes every epoch file but `keep`, then syncs the directory.
fn delete_other_epochs(dir: &Path, keep: u64) -> Result<(), KeyError> {
    let mut deleted = false;
    for number in epoch_files(dir)? {
        if number != keep {
            let path = epoch_path(dir, number);
            std::fs::remove_file(&path).map_err(|e| KeyError::EpochFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            deleted = true;
        }
    }
    if deleted {
        sync_dir(dir).map_err(|e| KeyError::EpochFile {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

fn data_key_aad(person: PersonId) -> Vec<u8> {
    let mut aad = b"journey/v1/data-key/".to_vec();
    aad.extend_from_slice(person.0.as_bytes());
    aad
}

fn epoch_wrap_aad(person: PersonId, epoch: u64) -> Vec<u8> {
    let mut aad = b"journey/v2/data-key/".to_vec();
    aad.extend_from_slice(person.0.as_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

/// `tag ‖ epoch ‖ seal(epoch key, data key)`.
fn wrap(
    epoch: &Epoch,
    person: PersonId,
    key: &SecretKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, KeyError> {
    let sealed = crypto::seal(
        &epoch.key,
        &epoch_wrap_aad(person, epoch.number),
        key.as_bytes(),
        rng,
    )
    .map_err(|source| KeyError::Damaged { person, source })?;
    let mut value = Vec::with_capacity(9 + sealed.len());
    value.push(WRAPPED_BY_EPOCH_TAG);
    value.extend_from_slice(&epoch.number.to_be_bytes());
    value.extend_from_slice(&sealed);
    Ok(value)
}

fn key_from(bytes: Vec<u8>, person: PersonId) -> Result<SecretKey, KeyError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Damaged {
        person,
        source: CryptoError::Open,
    })?;
    Ok(SecretKey::from_bytes(bytes))
}

/// Opens a stored value wrapped by `epoch`.
fn unwrap_value(epoch: &Epoch, person: PersonId, value: &[u8]) -> Result<KeyState, KeyError> {
    let damaged = |source| KeyError::Damaged { person, source };
    match value.split_first() {
        Some((&WRAPPED_BY_EPOCH_TAG, rest)) if rest.len() >= 8 => {
            let (number, sealed) = rest.split_at(8);
            let number =
                u64::from_be_bytes(number.try_into().map_err(|_| damaged(CryptoError::Open))?);
            if number != epoch.number {
                // Written under an epoch that is gone: the rotation would have re-wrapped it.
                return Err(damaged(CryptoError::Open));
            }
            let bytes = crypto::open(&epoch.key, &epoch_wrap_aad(person, number), sealed)
                .map_err(damaged)?;
            key_from(bytes, person).map(KeyState::Present)
        }
        Some((&DESTROYED_TAG, _)) => Ok(KeyState::Destroyed),
        _ => Err(damaged(CryptoError::Open)),
    }
}

fn erasing_key(person: PersonId) -> Vec<u8> {
    let mut key = ERASING_PREFIX.to_vec();
    key.extend_from_slice(person.0.as_bytes());
    key
}

fn person_of(key: &[u8]) -> Option<PersonId> {
    Some(PersonId(Uuid::from_bytes(key.try_into().ok()?)))
}

impl KeyStore {
    /// Opens the key store, checking that `master` is this store's master key. The epoch key files
    /// live in `<data-dir>/keys`, next to the store's `ledger` directory. A store whose data keys are
    /// still wrapped by the master key is migrated to epoch 1 here.
    pub fn open(
        store: &Store,
        master: SecretKey,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, KeyError> {
        let tree = store.db().open_tree(TREE)?;
        let vault = store.db().open_tree(crate::vault::TREE)?;
        let vault_index = store.db().open_tree(crate::vault::index::TREE)?;
        match tree.get(MASTER_CHECK_KEY)? {
            Some(sealed) => {
                let opened = crypto::open(&master, MASTER_CHECK_KEY, &sealed)
                    .map_err(|_| KeyError::WrongMasterKey)?;
                if opened != MASTER_CHECK_PLAINTEXT {
                    return Err(KeyError::WrongMasterKey);
                }
            }
            None => {
                let sealed = crypto::seal(&master, MASTER_CHECK_KEY, MASTER_CHECK_PLAINTEXT, rng)
                    .map_err(sealing_error)?;
                tree.insert(MASTER_CHECK_KEY, sealed)?;
            }
        }
        let data_dir = store.path().parent().unwrap_or(store.path());
        let epoch_dir = data_dir.join(EPOCH_DIR);
        let epoch = match tree.get(EPOCH_KEY)? {
            Some(number) => {
                let number = u64::from_be_bytes(number.as_ref().try_into().map_err(|_| {
                    KeyError::EpochFile {
                        path: epoch_dir.clone(),
                        message: "the epoch number in the store is malformed".into(),
                    }
                })?);
                let key = Self::epoch_key_on_open(&epoch_dir, &master, number)?;
                Epoch { number, key }
            }
            None => Self::migrate(&tree, &master, &epoch_dir, rng)?,
        };
        // Files of other epochs are leftovers of an interrupted rotation; the old one must go.
        delete_other_epochs(&epoch_dir, epoch.number)?;
        Ok(Self {
            tree,
            vault,
            vault_index,
            master: RwLock::new(master),
            epoch_dir,
            epoch: RwLock::new(epoch),
            cache: RwLock::new(HashMap::new()),
            erasure_register: None,
            keys_created: AtomicU64::new(0),
            keys_durable: AtomicU64::new(0),
            flushing: std::sync::Mutex::new(()),
        })
    }

    /// The same key store, writing every erasure to `register` before the key is destroyed.
    pub fn with_erasure_register(mut self, register: ErasureRegister) -> Self {
        self.erasure_register = Some(register);
        self
    }

    pub fn erasure_register(&self) -> Option<&ErasureRegister> {
        self.erasure_register.as_ref()
    }

    /// Destroys the data key of every person the erasure register lists who still has one (or has
    /// none yet: their key can then never be created), with one epoch rotation for all of them, and
    /// removes their vault entries. This is what makes an erasure survive a restore of a backup
    /// taken before it. Returns the persons whose key it destroyed; durable when it returns.
    pub fn apply_erasure_register(
        &self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<PersonId>, KeyError> {
        let Some(register) = &self.erasure_register else {
            return Ok(Vec::new());
        };
        let mut pending = Vec::new();
        for person in register.persons() {
            if self.state(person)? != KeyState::Destroyed {
                pending.push(person);
            } else if self.vault.contains_key(person.0.as_bytes())? {
                self.vault.remove(person.0.as_bytes())?;
                self.vault.flush()?;
            }
        }
        if !pending.is_empty() {
            self.rotate(&pending, rng)?;
        }
        Ok(pending)
    }

    /// A copy of the key material for a backup: the epoch in force is held (no rotation, so no
    /// erasure, can run meanwhile), so the key file, the wrapped keys and the vault belong together.
    /// Keys created during the copy may or may not be in it; they are those of events after the
    /// position the backup was taken at, since a key is created before its person's first event.
    pub fn copy_material(&self) -> Result<KeyMaterial, KeyError> {
        let epoch = self.read_epoch();
        let path = epoch_path(&self.epoch_dir, epoch.number);
        let epoch_file = std::fs::read(&path).map_err(|e| KeyError::EpochFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let entries = |tree: &sled::Tree| -> Result<TreeEntries, KeyError> {
            tree.iter()
                .map(|item| {
                    let (key, value) = item?;
                    Ok((key.to_vec(), value.to_vec()))
                })
                .collect()
        };
        Ok(KeyMaterial {
            epoch_number: epoch.number,
            epoch_file,
            keys: entries(&self.tree)?,
            vault: entries(&self.vault)?,
        })
    }

    /// Writes key material copied by [`KeyStore::copy_material`] into a new, empty `store` (whose
    /// epoch files go to `<data-dir>/keys`), leaving out the key and the vault entry of every
    /// person in `erased`: what a restore must never bring back is never written. Open the store
    /// with [`KeyStore::open`] and [`KeyStore::apply_erasure_register`] afterwards, which tombstones
    /// those persons. Returns how many keys it left out.
    pub fn restore_material(
        store: &Store,
        material: &KeyMaterial,
        erased: &std::collections::BTreeSet<PersonId>,
    ) -> Result<usize, KeyError> {
        let tree = store.db().open_tree(TREE)?;
        let vault = store.db().open_tree(crate::vault::TREE)?;
        if !tree.is_empty() || !vault.is_empty() {
            return Err(KeyError::Malformed(
                "the key store to restore into is not empty".into(),
            ));
        }
        let left_out = |key: &[u8]| person_of(key).is_some_and(|person| erased.contains(&person));
        let mut batch = sled::Batch::default();
        let mut keys_left_out = 0;
        for (key, value) in &material.keys {
            if left_out(key) {
                keys_left_out += 1;
            } else {
                batch.insert(key.as_slice(), value.as_slice());
            }
        }
        tree.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        for (key, value) in &material.vault {
            if !left_out(key) {
                batch.insert(key.as_slice(), value.as_slice());
            }
        }
        vault.apply_batch(batch)?;
        let data_dir = store.path().parent().unwrap_or(store.path());
        let epoch_dir = data_dir.join(EPOCH_DIR);
        let path = epoch_path(&epoch_dir, material.epoch_number);
        let error = |e: std::io::Error| KeyError::EpochFile {
            path: path.clone(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&epoch_dir).map_err(error)?;
        write_private_file(&path, &material.epoch_file).map_err(error)?;
        sync_dir(&epoch_dir).map_err(error)?;
        store.flush()?;
        Ok(keys_left_out)
    }

    /// Reads the epoch key in force, finishing or dropping an interrupted master-key rotation (see
    /// the module documentation). `master` has passed the check value.
    fn epoch_key_on_open(
        epoch_dir: &Path,
        master: &SecretKey,
        number: u64,
    ) -> Result<SecretKey, KeyError> {
        let rewrap = rewrap_path(epoch_dir, number);
        let sync = |result: std::io::Result<()>| {
            result
                .and_then(|()| sync_dir(epoch_dir))
                .map_err(|e| KeyError::EpochFile {
                    path: rewrap.clone(),
                    message: e.to_string(),
                })
        };
        match read_epoch_file(epoch_dir, master, number) {
            Ok(key) => {
                if rewrap.exists() {
                    // A rotation that never switched: the check value is still the old key's.
                    sync(std::fs::remove_file(&rewrap))?;
                }
                Ok(key)
            }
            Err(error) => match read_epoch_file_at(&rewrap, master, number) {
                // The switch happened, the rename did not: finish it.
                Ok(key) => {
                    sync(std::fs::rename(&rewrap, epoch_path(epoch_dir, number)))?;
                    Ok(key)
                }
                Err(_) => Err(error),
            },
        }
    }

    /// Creates epoch 1 and re-wraps every key wrapped by the master key under it, in one batch.
    fn migrate(
        tree: &sled::Tree,
        master: &SecretKey,
        epoch_dir: &Path,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Epoch, KeyError> {
        let epoch = Epoch {
            number: 1,
            key: SecretKey::generate(rng),
        };
        write_epoch_file(epoch_dir, master, epoch.number, &epoch.key, rng)?;
        let mut batch = sled::Batch::default();
        for item in tree.iter() {
            let (key, value) = item?;
            let Some(person) = person_of(&key) else {
                continue;
            };
            if let Some((&WRAPPED_BY_MASTER_TAG, wrapped)) = value.split_first() {
                let bytes = crypto::open(master, &data_key_aad(person), wrapped)
                    .map_err(|source| KeyError::Damaged { person, source })?;
                let data_key = key_from(bytes, person)?;
                batch.insert(key.as_ref(), wrap(&epoch, person, &data_key, rng)?);
            }
        }
        batch.insert(EPOCH_KEY, &epoch.number.to_be_bytes());
        tree.apply_batch(batch)?;
        tree.flush()?;
        Ok(epoch)
    }

    fn read_epoch(&self) -> std::sync::RwLockReadGuard<'_, Epoch> {
        self.epoch
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The number of the epoch in force (it grows by one with every destroyed key).
    pub fn epoch_number(&self) -> u64 {
        self.read_epoch().number
    }

    /// The directory of the epoch key files.
    pub fn epoch_dir(&self) -> &Path {
        &self.epoch_dir
    }

    fn master(&self) -> SecretKey {
        self.master
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-seals the epoch key and the check value under `new_master`, crash-safely (see the module
    /// documentation); from then on only `new_master` opens the store. The data keys, the events and
    /// the vault are untouched: they hang off the epoch key, which stays the same. Durable when it
    /// returns.
    pub fn rotate_master(
        &self,
        new_master: &SecretKey,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), KeyError> {
        self.rotate_master_until(new_master, rng, MasterRotationStep::Done)
    }

    /// [`KeyStore::rotate_master`], stopping after `last` as if the process had died there (for
    /// the crash tests).
    #[doc(hidden)]
    pub fn rotate_master_until(
        &self,
        new_master: &SecretKey,
        rng: &mut (impl RngCore + CryptoRng),
        last: MasterRotationStep,
    ) -> Result<(), KeyError> {
        let epoch = self
            .epoch
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *new_master == self.master() {
            return Err(KeyError::MasterKeyFile {
                path: PathBuf::from("new master key"),
                message: "the new master key is the master key in force; generate a new one".into(),
            });
        }
        let rewrap = rewrap_path(&self.epoch_dir, epoch.number);
        write_epoch_file_at(
            &rewrap,
            &self.epoch_dir,
            new_master,
            epoch.number,
            &epoch.key,
            rng,
        )?;
        if last == MasterRotationStep::NewEpochFileWritten {
            return Ok(());
        }
        let check = crypto::seal(new_master, MASTER_CHECK_KEY, MASTER_CHECK_PLAINTEXT, rng)
            .map_err(sealing_error)?;
        self.tree.insert(MASTER_CHECK_KEY, check)?;
        self.tree.flush()?;
        *self
            .master
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = new_master.clone();
        if last == MasterRotationStep::Switched {
            return Ok(());
        }
        let path = epoch_path(&self.epoch_dir, epoch.number);
        std::fs::rename(&rewrap, &path)
            .and_then(|()| sync_dir(&self.epoch_dir))
            .map_err(|e| KeyError::EpochFile {
                path,
                message: e.to_string(),
            })
    }

    /// Rotates the epoch key without erasing anyone: a new epoch key, every data key re-wrapped
    /// under it, the old epoch file deleted (as on every erasure). Durable when it returns.
    pub fn rotate_epoch(&self, rng: &mut (impl RngCore + CryptoRng)) -> Result<(), KeyError> {
        self.rotate(&[], rng)
    }

    fn cached(&self, person: PersonId) -> Option<SecretKey> {
        self.cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&person.0)
            .cloned()
    }

    fn remember(&self, person: PersonId, key: &SecretKey) {
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= KEY_CACHE_ENTRIES_MAX {
            // Unwrapping a key again is cheap; an unbounded cache is not.
            cache.clear();
        }
        cache.insert(person.0, key.clone());
    }

    /// The person's state under `epoch` (which the caller holds locked).
    fn state_under(&self, epoch: &Epoch, person: PersonId) -> Result<KeyState, KeyError> {
        if let Some(key) = self.cached(person) {
            return Ok(KeyState::Present(key));
        }
        let Some(value) = self.tree.get(person.0.as_bytes())? else {
            return Ok(KeyState::Absent);
        };
        let state = unwrap_value(epoch, person, &value)?;
        if let KeyState::Present(key) = &state {
            self.remember(person, key);
        }
        Ok(state)
    }

    /// The person's data key, if it exists.
    pub fn state(&self, person: PersonId) -> Result<KeyState, KeyError> {
        let epoch = self.read_epoch();
        self.state_under(&epoch, person)
    }

    /// The states of `persons`, each equal to [`KeyStore::state`] of it, for a read of many persons
    /// at once such as a projections snapshot's load. Given in strictly ascending order (as a snapshot lists
    /// them), they are read in one walk of the key tree over their range instead of a lookup each,
    /// under one hold of the epoch; in any other order, one lookup each. Nothing is put into the
    /// cache: it is for the persons being worked on, and a load that reads every person once would
    /// only churn it (and contend for its write lock on every core).
    pub fn states(&self, persons: &[PersonId]) -> Result<Vec<KeyState>, KeyError> {
        let epoch = self.read_epoch();
        let (Some(first), Some(last)) = (persons.first(), persons.last()) else {
            return Ok(Vec::new());
        };
        if !persons.windows(2).all(|pair| pair[0] < pair[1]) {
            return persons
                .iter()
                .map(|person| self.state_under(&epoch, *person))
                .collect();
        }
        let mut stored = self
            .tree
            .range(first.0.as_bytes().as_slice()..=last.0.as_bytes().as_slice());
        let mut next = stored.next().transpose()?;
        let mut states = Vec::with_capacity(persons.len());
        for person in persons {
            let wanted = person.0.as_bytes().as_slice();
            let mut state = KeyState::Absent;
            // Byte order is the tree's order; its other keys (erasures under way) never equal a
            // person's and are passed like any key before it.
            while let Some((key, value)) = &next {
                match key.as_ref().cmp(wanted) {
                    std::cmp::Ordering::Less => next = stored.next().transpose()?,
                    std::cmp::Ordering::Equal => {
                        state = unwrap_value(&epoch, *person, value)?;
                        next = stored.next().transpose()?;
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            states.push(state);
        }
        Ok(states)
    }

    /// The person's data key; created when the person has none yet. The new key is written to the
    /// store but not flushed: the caller makes it durable with [`KeyStore::make_durable`] before it
    /// appends the first event sealed under it (the log may live elsewhere and flush nothing here).
    pub fn data_key_or_create(
        &self,
        person: PersonId,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<SecretKey, KeyError> {
        let epoch = self.read_epoch();
        match self.state_under(&epoch, person)? {
            KeyState::Present(key) => Ok(key),
            KeyState::Destroyed => Err(KeyError::Destroyed(person)),
            KeyState::Absent => {
                let key = SecretKey::generate(rng);
                let value = wrap(&epoch, person, &key, rng)?;
                // Another task may have created the key in the meantime; keep whichever came first.
                match self.tree.compare_and_swap(
                    person.0.as_bytes(),
                    None as Option<&[u8]>,
                    Some(value),
                )? {
                    Ok(()) => {
                        if fault::is_armed(FaultPoint::AbortAfterKeyCreation) {
                            // The worst case of a crash here: sled's periodic flush has made the
                            // new key durable, and the first event never comes.
                            self.tree.flush()?;
                            fault::hit(FaultPoint::AbortAfterKeyCreation);
                        }
                        self.remember(person, &key);
                        self.keys_created.fetch_add(1, Ordering::AcqRel);
                        Ok(key)
                    }
                    Err(_) => match self.state_under(&epoch, person)? {
                        KeyState::Present(key) => Ok(key),
                        _ => Err(KeyError::Destroyed(person)),
                    },
                }
            }
        }
    }

    /// Whether a key was created since the last flush that covers it, so that
    /// [`KeyStore::make_durable`] would flush.
    pub fn has_keys_to_make_durable(&self) -> bool {
        self.keys_durable.load(Ordering::Acquire) < self.keys_created.load(Ordering::Acquire)
    }

    /// Makes every key created so far durable: the explicit step between creating a person's key and
    /// appending the first event sealed under it, so that no acknowledged event is ever sealed under a
    /// key a crash could lose. Flushes only when a key was created since the last flush that began
    /// after it; concurrent callers share one flush.
    pub fn make_durable(&self) -> Result<(), KeyError> {
        let created = self.keys_created.load(Ordering::Acquire);
        if self.keys_durable.load(Ordering::Acquire) >= created {
            return Ok(());
        }
        // One flush at a time: while it runs, the keys created meanwhile wait for the next one,
        // which covers all of them, instead of each starting a flush of its own (seeding creates
        // a key per person, hundreds of them per flush).
        let _flushing = self
            .flushing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.keys_durable.load(Ordering::Acquire) >= created {
            // The flush we waited for began after our keys were counted, so it covers them.
            return Ok(());
        }
        // Every key counted here was inserted before, so this flush covers it.
        let covered = self.keys_created.load(Ordering::Acquire);
        self.tree.flush()?;
        self.keys_durable.fetch_max(covered, Ordering::AcqRel);
        Ok(())
    }

    /// Destroys the person's data key, leaving a tombstone, removes their vault entry, and rotates the
    /// epoch key (see the module documentation), so that no old copy of the wrapped key that sled may
    /// still hold in its files can be unwrapped. Durable when it returns.
    pub fn destroy(
        &self,
        person: PersonId,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), KeyError> {
        self.record_erasure(person)?;
        self.rotate(&[person], rng)
    }

    /// The key of the vault's blind index and the number of the epoch it belongs to: a subkey of the
    /// epoch key in force, so that every epoch rotation (every erasure) leaves the index entries that
    /// sled may still hold in old copies hashed under a key that no longer exists anywhere (see
    /// [`crate::vault::index`]).
    pub fn blind_index_key(&self) -> (u64, SecretKey) {
        let epoch = self
            .epoch
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (epoch.number, epoch.key.subkey(BLIND_INDEX_LABEL))
    }

    /// The key that seals the shared table of a projections snapshot (the values the facts of two
    /// persons or more hold) and the number of the epoch it belongs to: a subkey of the epoch key in
    /// force, so that a snapshot file is as unreadable without the master key as the log, and every
    /// epoch rotation (every erasure) leaves the shared tables of older snapshot files sealed under
    /// a key that no longer exists anywhere.
    pub fn snapshot_shared_key(&self) -> (u64, SecretKey) {
        let epoch = self
            .epoch
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (epoch.number, epoch.key.subkey(SNAPSHOT_SHARED_LABEL))
    }

    /// Records, durably, that `person` is about to be erased: the ledger calls this before it appends
    /// the erasure, so that a crash before the key is destroyed is found and finished at the next
    /// open (see the module documentation).
    pub fn begin_erasure(&self, person: PersonId) -> Result<(), KeyError> {
        self.tree.insert(erasing_key(person), &[])?;
        self.tree.flush()?;
        Ok(())
    }

    /// The persons whose erasure began and was not finished or dropped.
    pub fn pending_erasures(&self) -> Result<Vec<PersonId>, KeyError> {
        self.tree
            .scan_prefix(ERASING_PREFIX)
            .map(|item| {
                let (key, _) = item?;
                let uuid = Uuid::from_slice(&key[ERASING_PREFIX.len()..])
                    .map_err(|_| KeyError::Malformed(hex::encode(&key)))?;
                Ok(PersonId(uuid))
            })
            .collect()
    }

    /// Drops the erasure intent of `person`, whose erasure never reached the log.
    pub fn abandon_erasure(&self, person: PersonId) -> Result<(), KeyError> {
        if self.tree.remove(erasing_key(person))?.is_some() {
            self.tree.flush()?;
        }
        Ok(())
    }

    /// Brings `person`, whose erasure is in the log, to the erased state, whatever part of it was
    /// done: a key that still exists (or none at all) is destroyed with the epoch rotation, and a
    /// vault entry or erasure intent left behind is removed. Idempotent; durable when it returns.
    pub fn finish_erasure(
        &self,
        person: PersonId,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), KeyError> {
        // Into the register first: once it is there, no restore brings the person back, and a crash
        // before the key is gone leaves the erasure intent, so the next open comes here again.
        self.record_erasure(person)?;
        match self.state(person)? {
            KeyState::Present(_) | KeyState::Absent => self.rotate(&[person], rng),
            KeyState::Destroyed => {
                let vault_entry = self.vault.remove(person.0.as_bytes())?.is_some();
                let index_entries = crate::vault::index::remove_person(&self.vault_index, person)?;
                let intent = self.tree.remove(erasing_key(person))?.is_some();
                if vault_entry || index_entries || intent {
                    self.vault.flush()?;
                    self.vault_index.flush()?;
                    self.tree.flush()?;
                }
                Ok(())
            }
        }
    }

    fn record_erasure(&self, person: PersonId) -> Result<(), KeyError> {
        if let Some(register) = &self.erasure_register {
            register.record(person)?;
        }
        Ok(())
    }

    /// Whether every erasure in the log is known to have its key destroyed (see
    /// [`KeyStore::mark_erasures_reconciled`]).
    pub fn erasures_reconciled(&self) -> Result<bool, KeyError> {
        Ok(self.tree.contains_key(ERASURES_RECONCILED_KEY)?)
    }

    /// Records that every erasure in the log has its key destroyed, so that erasure intents alone
    /// say from now on which erasures may be unfinished.
    pub fn mark_erasures_reconciled(&self) -> Result<(), KeyError> {
        self.tree.insert(ERASURES_RECONCILED_KEY, &[])?;
        self.tree.flush()?;
        Ok(())
    }

    /// A new epoch; `erased`, if any, tombstoned and their vault entries removed.
    fn rotate(
        &self,
        erased: &[PersonId],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), KeyError> {
        let master = self.master();
        let mut epoch = self
            .epoch
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = Epoch {
            number: epoch.number + 1,
            key: SecretKey::generate(rng),
        };
        write_epoch_file(&self.epoch_dir, &master, next.number, &next.key, rng)?;
        fault::hit(FaultPoint::AbortAfterEpochFile);
        let batch = match self.rewrap_batch(&epoch, &next, erased, rng) {
            Ok(batch) => batch,
            Err(error) => {
                // Nothing was written under the new epoch: drop its file and keep the old one.
                let _ = std::fs::remove_file(epoch_path(&self.epoch_dir, next.number));
                return Err(error);
            }
        };
        self.tree.apply_batch(batch)?;
        for person in erased {
            self.vault.remove(person.0.as_bytes())?;
            crate::vault::index::remove_person(&self.vault_index, *person)?;
        }
        // Durable before anyone is told the person is erased, and before the old epoch goes.
        self.tree.flush()?;
        self.vault.flush()?;
        self.vault_index.flush()?;
        if !erased.is_empty() {
            let mut cache = self
                .cache
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for person in erased {
                cache.remove(&person.0);
            }
        }
        *epoch = next;
        fault::hit(FaultPoint::AbortAfterEpochSwitch);
        delete_other_epochs(&self.epoch_dir, epoch.number)
    }

    /// The batch that tombstones `erased`, re-wraps every other key from `current` to `next` and
    /// records `next` as the epoch in force.
    fn rewrap_batch(
        &self,
        current: &Epoch,
        next: &Epoch,
        erased: &[PersonId],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<sled::Batch, KeyError> {
        let mut batch = sled::Batch::default();
        for item in self.tree.iter() {
            let (key, value) = item?;
            let Some(person) = person_of(&key) else {
                continue;
            };
            if erased.contains(&person) {
                continue;
            }
            if let KeyState::Present(data_key) = unwrap_value(current, person, &value)? {
                batch.insert(key.as_ref(), wrap(next, person, &data_key, rng)?);
            }
        }
        for erased in erased {
            batch.insert(erased.0.as_bytes().as_slice(), &[DESTROYED_TAG]);
            // The erasure is done with this batch: its intent goes in the same atomic write.
            batch.remove(erasing_key(*erased));
        }
        batch.insert(EPOCH_KEY, &next.number.to_be_bytes());
        Ok(batch)
    }
}

/// The steps of a master-key rotation, to stop after one in the crash tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterRotationStep {
    /// The epoch key sealed with the new master key is on disk beside the old file.
    NewEpochFileWritten,
    /// The check value of the new master key is in sled, flushed.
    Switched,
    /// The new epoch file replaced the old one.
    Done,
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// 64 hex digits (for example from the `JOURNEY_MASTER_KEY` environment variable).
    Hex(String),
    /// A file holding 64 hex digits.
    File(PathBuf),
    /// `<data-dir>/master.key`, generated on first start.
    DataDir,
}

/// Loads the master key; generates it into the data directory when the source is [`MasterKeySource::DataDir`]
/// and the file does not exist yet. Returns the key and whether it was generated.
pub fn load_master_key(
    source: &MasterKeySource,
    data_dir: &Path,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(SecretKey, bool), KeyError> {
    let (path, generate) = match source {
        MasterKeySource::Hex(hex) => {
            return parse_master_key(hex.trim())
                .map(|key| (key, false))
                .map_err(|message| KeyError::MasterKeyFile {
                    path: PathBuf::from("JOURNEY_MASTER_KEY"),
                    message,
                })
        }
        MasterKeySource::File(path) => (path.clone(), false),
        MasterKeySource::DataDir => (data_dir.join(MASTER_KEY_FILE), true),
    };
    let file_error = |message: String| KeyError::MasterKeyFile {
        path: path.clone(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_master_key(text.trim())
            .map(|key| (key, false))
            .map_err(file_error),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && generate => {
            let key = SecretKey::generate(rng);
            std::fs::create_dir_all(data_dir).map_err(|error| file_error(error.to_string()))?;
            write_private_file(
                &path,
                format!("{}\n", hex::encode(key.as_bytes())).as_bytes(),
            )
            .map_err(|error| file_error(error.to_string()))?;
            Ok((key, true))
        }
        Err(error) => Err(file_error(error.to_string())),
    }
}

/// Writes `key` as 64 hex digits to a new file `path` (mode 0600), synced; with `replace`, an
/// existing file is replaced atomically (temporary file, rename, sync of the directory).
pub fn write_master_key_file(path: &Path, key: &SecretKey, replace: bool) -> Result<(), KeyError> {
    let error = |e: std::io::Error| KeyError::MasterKeyFile {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let contents = format!("{}\n", hex::encode(key.as_bytes()));
    if !replace {
        return write_private_file(path, contents.as_bytes()).map_err(error);
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    write_private_file(&temporary, contents.as_bytes()).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    sync_dir(dir).map_err(error)
}

fn parse_master_key(hex_text: &str) -> Result<SecretKey, String> {
    let bytes = hex::decode(hex_text).map_err(|error| format!("not hex: {error}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        format!(
            "a master key is 32 bytes (64 hex digits), got {} bytes",
            bytes.len()
        )
    })?;
    Ok(SecretKey::from_bytes(bytes))
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::store::StoreConfig;

    #[test]
    fn keys_survive_reopen_and_a_wrong_master_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(3);
        let (master, generated) =
            load_master_key(&MasterKeySource::DataDir, dir.path(), &mut rng).expect("master");
        assert!(generated);
        let person = PersonId(Uuid::from_u128(1));
        let key = {
            let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
            let keys = KeyStore::open(&store, master.clone(), &mut rng).expect("keys");
            let key = keys.data_key_or_create(person, &mut rng).expect("create");
            store.flush().expect("flush");
            key
        };
        let (again, generated) =
            load_master_key(&MasterKeySource::DataDir, dir.path(), &mut rng).expect("master");
        assert!(!generated);
        assert_eq!(again, master);
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let keys = KeyStore::open(&store, master, &mut rng).expect("keys");
        assert_eq!(keys.state(person).expect("state"), KeyState::Present(key));
        keys.destroy(person, &mut rng).expect("destroy");
        assert_eq!(keys.state(person).expect("state"), KeyState::Destroyed);
        assert!(matches!(
            keys.data_key_or_create(person, &mut rng),
            Err(KeyError::Destroyed(_))
        ));
        let wrong = SecretKey::generate(&mut rng);
        assert!(matches!(
            KeyStore::open(&store, wrong, &mut rng),
            Err(KeyError::WrongMasterKey)
        ));
    }

    fn open_keys(dir: &Path, master: &SecretKey, rng: &mut StdRng) -> (Store, KeyStore) {
        let store = Store::open(dir, &StoreConfig::default()).expect("store");
        let keys = KeyStore::open(&store, master.clone(), rng).expect("keys");
        (store, keys)
    }

    #[test]
    fn old_copies_of_a_destroyed_key_do_not_open_after_the_epoch_rotates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(11);
        let master = SecretKey::generate(&mut rng);
        let (erased, kept) = (PersonId(Uuid::from_u128(1)), PersonId(Uuid::from_u128(2)));
        let (old_copy, kept_key) = {
            let (store, keys) = open_keys(dir.path(), &master, &mut rng);
            assert_eq!(keys.epoch_number(), 1);
            keys.data_key_or_create(erased, &mut rng).expect("create");
            let kept_key = keys.data_key_or_create(kept, &mut rng).expect("create");
            // What sled may keep in an old segment after the tombstone is written.
            let old_copy = keys
                .tree
                .get(erased.0.as_bytes())
                .expect("get")
                .expect("wrapped");
            keys.destroy(erased, &mut rng).expect("destroy");
            assert_eq!(keys.epoch_number(), 2);
            assert_eq!(epoch_files(keys.epoch_dir()).expect("files"), vec![2]);
            store.flush().expect("flush");
            (old_copy, kept_key)
        };
        let (_store, keys) = open_keys(dir.path(), &master, &mut rng);
        assert_eq!(keys.state(erased).expect("state"), KeyState::Destroyed);
        assert_eq!(
            keys.state(kept).expect("state"),
            KeyState::Present(kept_key)
        );
        // Put the old wrapped key back, as if sled had recovered an old version of it: it belongs to
        // an epoch whose key exists nowhere any more, so neither the store nor the master key opens it.
        keys.tree
            .insert(erased.0.as_bytes(), old_copy.as_ref())
            .expect("restore");
        assert!(matches!(keys.state(erased), Err(KeyError::Damaged { .. })));
        let sealed = &old_copy[9..];
        assert!(crypto::open(&master, &epoch_wrap_aad(erased, 1), sealed).is_err());
        assert!(crypto::open(&master, &data_key_aad(erased), sealed).is_err());
    }

    #[test]
    fn keys_wrapped_by_the_master_key_are_migrated_to_an_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(12);
        let master = SecretKey::generate(&mut rng);
        let person = PersonId(Uuid::from_u128(3));
        let data_key = SecretKey::generate(&mut rng);
        {
            // The layout before epoch keys: the check value and a key wrapped by the master key.
            let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
            let tree = store.db().open_tree(TREE).expect("tree");
            let check = crypto::seal(&master, MASTER_CHECK_KEY, MASTER_CHECK_PLAINTEXT, &mut rng)
                .expect("seal");
            tree.insert(MASTER_CHECK_KEY, check).expect("insert");
            let mut value = vec![WRAPPED_BY_MASTER_TAG];
            value.extend(
                crypto::seal(
                    &master,
                    &data_key_aad(person),
                    data_key.as_bytes(),
                    &mut rng,
                )
                .expect("seal"),
            );
            tree.insert(person.0.as_bytes(), value).expect("insert");
            store.flush().expect("flush");
        }
        let (_store, keys) = open_keys(dir.path(), &master, &mut rng);
        assert_eq!(keys.epoch_number(), 1);
        assert_eq!(
            keys.state(person).expect("state"),
            KeyState::Present(data_key)
        );
        let stored = keys
            .tree
            .get(person.0.as_bytes())
            .expect("get")
            .expect("value");
        assert_eq!(stored[0], WRAPPED_BY_EPOCH_TAG);
        assert!(dir.path().join(EPOCH_DIR).join("epoch-1.key").exists());
    }

    #[test]
    fn leftover_epoch_files_go_and_a_missing_epoch_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(13);
        let master = SecretKey::generate(&mut rng);
        drop(open_keys(dir.path(), &master, &mut rng));
        let epochs = dir.path().join(EPOCH_DIR);
        std::fs::write(epochs.join("epoch-7.key"), b"left over").expect("write");
        drop(open_keys(dir.path(), &master, &mut rng));
        assert_eq!(epoch_files(&epochs).expect("files"), vec![1]);
        std::fs::remove_file(epochs.join("epoch-1.key")).expect("remove");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let error = KeyStore::open(&store, master, &mut rng).expect_err("missing epoch");
        assert!(error.to_string().contains("epoch-1.key"), "{error}");
    }

    #[test]
    fn a_master_key_rotation_interrupted_at_any_step_opens_with_the_old_or_the_new_key() {
        for last in [
            MasterRotationStep::NewEpochFileWritten,
            MasterRotationStep::Switched,
            MasterRotationStep::Done,
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut rng = StdRng::seed_from_u64(21);
            let old = SecretKey::generate(&mut rng);
            let new = SecretKey::generate(&mut rng);
            let (erased, kept) = (PersonId(Uuid::from_u128(1)), PersonId(Uuid::from_u128(2)));
            let kept_key = {
                let (store, keys) = open_keys(dir.path(), &old, &mut rng);
                keys.data_key_or_create(erased, &mut rng).expect("create");
                let kept_key = keys.data_key_or_create(kept, &mut rng).expect("create");
                keys.destroy(erased, &mut rng).expect("destroy");
                assert!(keys.rotate_master_until(&old, &mut rng, last).is_err());
                keys.rotate_master_until(&new, &mut rng, last)
                    .expect("rotate");
                store.flush().expect("flush");
                kept_key
            };
            let opens = |master: &SecretKey, rng: &mut StdRng| {
                let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
                KeyStore::open(&store, master.clone(), rng).map(|keys| {
                    assert_eq!(
                        keys.state(kept).expect("state"),
                        KeyState::Present(kept_key.clone())
                    );
                    assert_eq!(keys.state(erased).expect("state"), KeyState::Destroyed);
                    assert_eq!(keys.epoch_number(), 2);
                })
            };
            let switched = last != MasterRotationStep::NewEpochFileWritten;
            // Exactly one of the two keys opens the store, whichever the switch says.
            assert!(matches!(
                opens(if switched { &old } else { &new }, &mut rng),
                Err(KeyError::WrongMasterKey)
            ));
            opens(if switched { &new } else { &old }, &mut rng).expect("opens");
            // Opening finished or dropped the rotation: one epoch file, no leftover.
            let mut files: Vec<_> = std::fs::read_dir(dir.path().join(EPOCH_DIR))
                .expect("dir")
                .map(|entry| {
                    entry
                        .expect("entry")
                        .file_name()
                        .into_string()
                        .expect("name")
                })
                .collect();
            files.sort();
            assert_eq!(files, vec!["epoch-2.key".to_owned()], "{last:?}");
            opens(if switched { &new } else { &old }, &mut rng).expect("opens again");
            // An epoch rotation afterwards keeps every key under the key in force.
            let master = if switched { &new } else { &old };
            {
                let (_store, keys) = open_keys(dir.path(), master, &mut rng);
                keys.rotate_epoch(&mut rng).expect("rotate epoch");
                assert_eq!(keys.epoch_number(), 3);
                assert_eq!(
                    keys.state(kept).expect("state"),
                    KeyState::Present(kept_key.clone())
                );
            }
            let (_store, keys) = open_keys(dir.path(), master, &mut rng);
            assert_eq!(keys.epoch_number(), 3);
            assert_eq!(
                keys.state(kept).expect("state"),
                KeyState::Present(kept_key)
            );
            assert_eq!(epoch_files(keys.epoch_dir()).expect("files"), vec![3]);
        }
    }

    #[test]
    fn master_keys_must_be_32_bytes_of_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(4);
        let error = load_master_key(&MasterKeySource::Hex("abcd".into()), dir.path(), &mut rng)
            .expect_err("short");
        assert!(error.to_string().contains("32 bytes"), "{error}");
        let error = load_master_key(&MasterKeySource::Hex("zz".into()), dir.path(), &mut rng)
            .expect_err("not hex");
        assert!(error.to_string().contains("not hex"), "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

        /// Given persons with keys, persons whose key was destroyed, erasures under way (other keys
        /// in the same tree, sorted among the persons') and persons never seen, when their states are
        /// read together, in ascending or any other order, then each is the state a single read gives.
        #[test]
        fn states_read_together_equal_each_read_alone(
            known in proptest::collection::btree_set(0u8..64, 1..24),
            destroyed in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..3),
            erasing in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..3),
            asked in proptest::collection::btree_set(0u8..64, 0..40),
            shuffle in proptest::prelude::any::<u64>(),
        ) {
            // The first byte spans the erasure keys' first byte (b'!' = 33), so both kinds interleave.
            let person = |n: u8| PersonId(Uuid::from_u128((u128::from(n) << 120) | u128::from(n)));
            let dir = tempfile::tempdir().expect("tempdir");
            let mut rng = StdRng::seed_from_u64(5);
            let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
            let keys = KeyStore::open(&store, SecretKey::generate(&mut rng), &mut rng).expect("keys");
            let known: Vec<u8> = known.into_iter().collect();
            for n in &known {
                keys.data_key_or_create(person(*n), &mut rng).expect("create");
            }
            for index in &destroyed {
                keys.destroy(person(*index.get(&known)), &mut rng).expect("destroy");
            }
            for index in &erasing {
                keys.begin_erasure(person(*index.get(&known))).expect("erasing");
            }
            let mut asked: Vec<PersonId> = asked.into_iter().chain(known.iter().copied()).map(person).collect();
            asked.sort();
            asked.dedup();
            let alone = |persons: &[PersonId]| -> Vec<KeyState> {
                persons.iter().map(|p| keys.state(*p).expect("state")).collect()
            };
            proptest::prop_assert_eq!(keys.states(&asked).expect("in order"), alone(&asked));
            let mut shuffled = asked.clone();
            let len = shuffled.len();
            for i in 0..len {
                shuffled.swap(i, (shuffle.rotate_left(i as u32) as usize) % len);
            }
            proptest::prop_assert_eq!(keys.states(&shuffled).expect("any order"), alone(&shuffled));
        }
    }
}
