//! The key store: one data key per person, wrapped by the master key and kept in the embedded store.
//!
//! A person's data key is created with the first event of their stream and destroyed on erasure, which
//! leaves a tombstone so that `verify` can tell an erased person (key destroyed on purpose) from a lost
//! key (damage). Unwrapped keys are cached in memory; the cache is bounded.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rand::{CryptoRng, RngCore};
use uuid::Uuid;

use crate::crypto::{self, CryptoError, SecretKey};
use crate::envelope::PersonId;
use crate::log::LogError;
use crate::store::Store;

const TREE: &str = "keys";
/// The key under which a value sealed with the master key proves that the configured master key is
/// the one this data directory was created with.
const MASTER_CHECK_KEY: &[u8] = b"!master-check";
const MASTER_CHECK_PLAINTEXT: &[u8] = b"journey master key check v1";
const WRAPPED_TAG: u8 = 1;
const DESTROYED_TAG: u8 = 2;
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
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl From<sled::Error> for KeyError {
    fn from(error: sled::Error) -> Self {
        KeyError::Storage(LogError::Storage(error))
    }
}

/// What the key store holds for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    Absent,
    Present(SecretKey),
    Destroyed,
}

#[derive(Debug)]
pub struct KeyStore {
    tree: sled::Tree,
    master: SecretKey,
    cache: RwLock<HashMap<Uuid, SecretKey>>,
}

impl KeyStore {
    /// Opens the key store, checking that `master` is this store's master key.
    pub fn open(
        store: &Store,
        master: SecretKey,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self, KeyError> {
        let tree = store.db().open_tree(TREE)?;
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
                    .map_err(|source| KeyError::Damaged {
                    person: PersonId(Uuid::nil()),
                    source,
                })?;
                tree.insert(MASTER_CHECK_KEY, sealed)?;
            }
        }
        Ok(Self {
            tree,
            master,
            cache: RwLock::new(HashMap::new()),
        })
    }

    fn wrap_aad(person: PersonId) -> Vec<u8> {
        let mut aad = b"journey/v1/data-key/".to_vec();
        aad.extend_from_slice(person.0.as_bytes());
        aad
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

    /// The person's data key, if it exists.
    pub fn state(&self, person: PersonId) -> Result<KeyState, KeyError> {
        if let Some(key) = self.cached(person) {
            return Ok(KeyState::Present(key));
        }
        let Some(value) = self.tree.get(person.0.as_bytes())? else {
            return Ok(KeyState::Absent);
        };
        match value.split_first() {
            Some((&WRAPPED_TAG, wrapped)) => {
                let bytes = crypto::open(&self.master, &Self::wrap_aad(person), wrapped)
                    .map_err(|source| KeyError::Damaged { person, source })?;
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Damaged {
                    person,
                    source: CryptoError::Open,
                })?;
                let key = SecretKey::from_bytes(bytes);
                self.remember(person, &key);
                Ok(KeyState::Present(key))
            }
            Some((&DESTROYED_TAG, _)) => Ok(KeyState::Destroyed),
            _ => Err(KeyError::Damaged {
                person,
                source: CryptoError::Open,
            }),
        }
    }

    /// The person's data key; created when the person has none yet. The new key is written to the
    /// store but not flushed: the append that first uses it flushes the store before it is acknowledged.
    pub fn data_key_or_create(
        &self,
        person: PersonId,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<SecretKey, KeyError> {
        match self.state(person)? {
            KeyState::Present(key) => Ok(key),
            KeyState::Destroyed => Err(KeyError::Destroyed(person)),
            KeyState::Absent => {
                let key = SecretKey::generate(rng);
                let wrapped =
                    crypto::seal(&self.master, &Self::wrap_aad(person), key.as_bytes(), rng)
                        .map_err(|source| KeyError::Damaged { person, source })?;
                let mut value = Vec::with_capacity(1 + wrapped.len());
                value.push(WRAPPED_TAG);
                value.extend_from_slice(&wrapped);
                // Another task may have created the key in the meantime; keep whichever came first.
                match self.tree.compare_and_swap(
                    person.0.as_bytes(),
                    None as Option<&[u8]>,
                    Some(value),
                )? {
                    Ok(()) => {
                        self.remember(person, &key);
                        Ok(key)
                    }
                    Err(_) => match self.state(person)? {
                        KeyState::Present(key) => Ok(key),
                        _ => Err(KeyError::Destroyed(person)),
                    },
                }
            }
        }
    }

    /// Destroys the person's data key, leaving a tombstone, and flushes. (Old versions of the wrapped key
    /// may linger in sled's files until they are compacted; the privacy work rotates the wrapping key.)
    pub fn destroy(&self, person: PersonId) -> Result<(), KeyError> {
        self.tree.insert(person.0.as_bytes(), &[DESTROYED_TAG])?;
        // Durable before anyone is told the person is erased.
        self.tree.flush()?;
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&person.0);
        Ok(())
    }
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
        keys.destroy(person).expect("destroy");
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
}
