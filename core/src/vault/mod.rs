//! The personal-data vault (DOMAIN.md section 6): names, birth date, phone and address of a person,
//! which never go into events.
//!
//! Each entry is sealed with the person's own data key (the key that seals their event payloads), so
//! erasure, which destroys that key, makes the entry unreadable even where sled still holds an old
//! copy of it (that key is wrapped by an epoch key which erasure rotates, see [`crate::keys`]).
//! Destroying the key ([`KeyStore::destroy`]) also removes the entry, so every erasure path drops it;
//! [`Vault::erase`] removes it explicitly. Entries live in the sled tree `vault`, keyed by the
//! person's uuid. Persons are found by name and birth date through the blind index beside it
//! ([`index`], [`Vault::find`]), whose rows go with the entry.

pub mod index;
pub mod volunteer;

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError};
use crate::envelope::PersonId;
use crate::keys::{KeyError, KeyState, KeyStore};
use crate::log::LogError;
use crate::store::Store;
pub use index::NameQuery;

pub(crate) const TREE: &str = "vault";
/// The format byte in front of every sealed entry.
const ENTRY_FORMAT_V1: u8 = 1;

/// The longest name, phone number or address the vault accepts, in characters.
pub const FIELD_LEN_MAX: usize = 200;

/// The direct identifiers of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalData {
    pub given_names: String,
    pub family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl PersonalData {
    /// The first field that cannot be stored, with what to fix.
    pub fn check(&self) -> Result<(), crate::catalogue::Check> {
        use crate::catalogue::Check;
        let fields = [
            ("given_names", Some(&self.given_names)),
            ("family_name", Some(&self.family_name)),
            ("phone", self.phone.as_ref()),
            ("address", self.address.as_ref()),
        ];
        for (field, value) in fields {
            let Some(value) = value else { continue };
            if value.trim().is_empty() {
                return Err(Check::new(field, "must not be empty"));
            }
            let len = value.chars().count();
            if len > FIELD_LEN_MAX {
                return Err(Check::new(
                    field,
                    format!("must be at most {FIELD_LEN_MAX} characters, is {len}"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(Check::new(field, "must not contain control characters"));
            }
        }
        if let Some(birth_date) = self.birth_date {
            // The same range as a registration's birth year; a later date than today is refused by
            // the write path, which knows the clock.
            if !(1900..=2100).contains(&chrono::Datelike::year(&birth_date)) {
                return Err(Check::new(
                    "birth_date",
                    format!("must be a date between 1900-01-01 and today, is {birth_date}"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the personal data of {0} was erased")]
    Erased(PersonId),
    #[error("{0} has no data key yet: record their registration before storing personal data")]
    NoDataKey(PersonId),
    #[error("the vault entry of {person} is damaged: {reason}")]
    Damaged { person: PersonId, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl From<sled::Error> for VaultError {
    fn from(error: sled::Error) -> Self {
        VaultError::Storage(LogError::from(error))
    }
}

/// The vault over the embedded store.
#[derive(Debug, Clone)]
pub struct Vault {
    tree: sled::Tree,
    index: sled::Tree,
    /// Held while the index is written, so that a rebuild and a `put` never interleave: a row
    /// hashed under one epoch's key is never written after a rebuild under the next.
    index_lock: Arc<Mutex<()>>,
}

fn aad(person: PersonId) -> Vec<u8> {
    let mut aad = b"journey/v1/vault/".to_vec();
    aad.extend_from_slice(person.0.as_bytes());
    aad
}

impl Vault {
    pub fn open(store: &Store) -> Result<Self, VaultError> {
        Ok(Self {
            tree: store.db().open_tree(TREE)?,
            index: store.db().open_tree(index::TREE)?,
            index_lock: Arc::new(Mutex::new(())),
        })
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, ()> {
        self.index_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The persons whose entry matches `query`: every name part of it is one of theirs (in any
    /// order, case, umlaut spelling, see [`index::name_parts`]) and the birth date, if given, is
    /// theirs. In uuid order. An index behind the epoch in force is rebuilt first (see [`index`]).
    /// Erased persons are never found.
    pub fn find(&self, keys: &KeyStore, query: &NameQuery) -> Result<Vec<PersonId>, VaultError> {
        let terms = index::query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.lock_index();
        let (epoch, key) = keys.blind_index_key();
        if index::built_for_epoch(&self.index)? != Some(epoch) {
            self.rebuild_index(keys, epoch, &key)?;
        }
        Ok(index::lookup(&self.index, &key, &terms)?)
    }

    /// Indexes every readable entry under the key of `epoch`, replacing the whole index, and flushes.
    fn rebuild_index(
        &self,
        keys: &KeyStore,
        epoch: u64,
        key: &crypto::SecretKey,
    ) -> Result<(), VaultError> {
        let mut entries = Vec::new();
        for row in self.tree.iter().keys() {
            let row = row?;
            let Ok(bytes) = <[u8; 16]>::try_from(row.as_ref()) else {
                continue;
            };
            let person = PersonId(uuid::Uuid::from_bytes(bytes));
            if volunteer::is_volunteer_entry(&self.tree, &row)? {
                // Volunteers are not found by the persons' search.
                continue;
            }
            match self.get(keys, person) {
                Ok(Some(data)) => entries.push((person, index::entry_terms(&data))),
                Ok(None) | Err(VaultError::Erased(_)) => {}
                Err(error) => return Err(error),
            }
        }
        index::rebuild(&self.index, epoch, key, &entries)?;
        self.index.flush()?;
        Ok(())
    }

    /// The keyed hashes the index holds for `person` (empty when none), for the tests that look for
    /// them in the files of the data directory.
    pub fn index_hashes(&self, person: PersonId) -> Result<Vec<[u8; 32]>, VaultError> {
        Ok(index::stored_hashes(&self.index, person)?)
    }

    /// The hash `query`'s terms have under the blind-index key in force, for the same tests.
    pub fn query_hashes(&self, keys: &KeyStore, query: &NameQuery) -> Vec<[u8; 32]> {
        let (_, key) = keys.blind_index_key();
        index::query_terms(query)
            .iter()
            .map(|term| index::hash(&key, term))
            .collect()
    }

    /// Seals and stores `data` for `person`, replacing what was there. The person must have a data
    /// key, which their first recorded event creates. Durable after [`Vault::flush`].
    pub fn put(
        &self,
        keys: &KeyStore,
        person: PersonId,
        data: &PersonalData,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), VaultError> {
        let key = match keys.state(person)? {
            KeyState::Present(key) => key,
            KeyState::Destroyed => return Err(VaultError::Erased(person)),
            KeyState::Absent => return Err(VaultError::NoDataKey(person)),
        };
        let plaintext = serde_json::to_vec(data).map_err(|error| VaultError::Damaged {
            person,
            reason: error.to_string(),
        })?;
        let sealed = crypto::seal(&key, &aad(person), &plaintext, rng).map_err(|error| {
            VaultError::Damaged {
                person,
                reason: error.to_string(),
            }
        })?;
        let mut value = Vec::with_capacity(1 + sealed.len());
        value.push(ENTRY_FORMAT_V1);
        value.extend_from_slice(&sealed);
        let _guard = self.lock_index();
        self.tree.insert(person.0.as_bytes(), value)?;
        let (_, index_key) = keys.blind_index_key();
        index::put_person(&self.index, &index_key, person, &index::entry_terms(data))?;
        Ok(())
    }

    /// Makes every entry written so far durable, with its index rows.
    pub async fn flush(&self) -> Result<(), VaultError> {
        self.tree.flush_async().await?;
        self.index.flush_async().await?;
        Ok(())
    }

    /// The person's personal data; `None` when none was stored.
    pub fn get(
        &self,
        keys: &KeyStore,
        person: PersonId,
    ) -> Result<Option<PersonalData>, VaultError> {
        let Some(value) = self.tree.get(person.0.as_bytes())? else {
            return Ok(None);
        };
        let key = match keys.state(person)? {
            KeyState::Present(key) => key,
            // An entry whose key is gone is unreadable by design: it reads as erased.
            KeyState::Destroyed => return Err(VaultError::Erased(person)),
            KeyState::Absent => {
                return Err(VaultError::Damaged {
                    person,
                    reason: "an entry exists but the person has no data key".into(),
                })
            }
        };
        let damaged = |reason: String| VaultError::Damaged { person, reason };
        let sealed = match value.split_first() {
            Some((&ENTRY_FORMAT_V1, sealed)) => sealed,
            _ => return Err(damaged("unknown entry format".into())),
        };
        let plaintext = crypto::open(&key, &aad(person), sealed)
            .map_err(|error: CryptoError| damaged(error.to_string()))?;
        serde_json::from_slice(&plaintext)
            .map(Some)
            .map_err(|error| damaged(error.to_string()))
    }

    /// Removes the person's entry and index rows, and flushes.
    pub async fn erase(&self, person: PersonId) -> Result<(), VaultError> {
        {
            let _guard = self.lock_index();
            self.tree.remove(person.0.as_bytes())?;
            index::remove_person(&self.index, person)?;
        }
        self.tree.flush_async().await?;
        self.index.flush_async().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    use super::*;
    use crate::crypto::SecretKey;
    use crate::store::StoreConfig;

    fn sample() -> PersonalData {
        PersonalData {
            given_names: "Amina".into(),
            family_name: "Haddad".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 4, 1),
            phone: Some("+49 5341 000000".into()),
            address: None,
        }
    }

    #[tokio::test]
    async fn entries_round_trip_are_sealed_and_die_with_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(9);
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let keys = KeyStore::open(&store, SecretKey::generate(&mut rng), &mut rng).expect("keys");
        let vault = Vault::open(&store).expect("vault");
        let person = PersonId(Uuid::from_u128(5));

        assert!(matches!(
            vault.put(&keys, person, &sample(), &mut rng),
            Err(VaultError::NoDataKey(_))
        ));
        keys.data_key_or_create(person, &mut rng).expect("key");
        vault.put(&keys, person, &sample(), &mut rng).expect("put");
        vault.flush().await.expect("flush");
        assert_eq!(vault.get(&keys, person).expect("get"), Some(sample()));
        let raw = store
            .db()
            .open_tree(TREE)
            .expect("tree")
            .get(person.0.as_bytes())
            .expect("raw")
            .expect("stored");
        assert!(
            !raw.windows(6).any(|window| window == b"Haddad"),
            "the entry is sealed"
        );

        // Destroying the key removes the entry too, whichever path erased the person.
        keys.destroy(person, &mut rng).expect("destroy");
        assert_eq!(vault.get(&keys, person).expect("get"), None);
        vault.erase(person).await.expect("erase again");
        assert_eq!(vault.get(&keys, person).expect("get"), None);
        // An entry put back under the old key (as an old sled version would hold it) reads as erased.
        vault
            .tree
            .insert(person.0.as_bytes(), raw)
            .expect("old copy");
        assert!(matches!(
            vault.get(&keys, person),
            Err(VaultError::Erased(_))
        ));
    }

    #[tokio::test]
    async fn the_blind_index_finds_by_name_parts_and_birth_date_and_forgets_the_erased() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rng = StdRng::seed_from_u64(11);
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        let keys = KeyStore::open(&store, SecretKey::generate(&mut rng), &mut rng).expect("keys");
        let vault = Vault::open(&store).expect("vault");
        let amina = PersonId(Uuid::from_u128(1));
        let other = PersonId(Uuid::from_u128(2));
        for person in [amina, other] {
            keys.data_key_or_create(person, &mut rng).expect("key");
        }
        let mut data = sample();
        data.family_name = "Haddad-Müller".into();
        vault.put(&keys, amina, &data, &mut rng).expect("put");
        let mut other_data = sample();
        other_data.given_names = "Omar".into();
        other_data.birth_date = NaiveDate::from_ymd_opt(1985, 1, 2);
        vault.put(&keys, other, &other_data, &mut rng).expect("put");
        let find = |name: Option<&str>, birth_date: Option<NaiveDate>| {
            vault
                .find(
                    &keys,
                    &NameQuery {
                        name: name.map(str::to_owned),
                        birth_date,
                    },
                )
                .expect("find")
        };

        assert_eq!(find(Some("mueller AMINA"), None), [amina]);
        assert_eq!(find(Some("haddad"), None), [amina, other]);
        assert_eq!(
            find(Some("Haddad"), NaiveDate::from_ymd_opt(1985, 1, 2)),
            [other]
        );
        assert_eq!(find(Some("Amina Omar"), None), Vec::<PersonId>::new());
        assert_eq!(find(None, None), Vec::<PersonId>::new());

        // A store written before the index (or an index of an older epoch) is indexed on first use.
        vault.index.clear().expect("clear");
        assert_eq!(find(Some("amina"), None), [amina]);

        // Erasure drops the rows with the key and the entry, and the next epoch rehashes the rest.
        let before = vault.index_hashes(amina).expect("hashes");
        assert!(!before.is_empty());
        keys.destroy(amina, &mut rng).expect("destroy");
        assert!(vault.index_hashes(amina).expect("hashes").is_empty());
        assert_eq!(find(Some("amina"), None), Vec::<PersonId>::new());
        assert_eq!(find(Some("haddad"), None), [other]);
        let after = vault.index_hashes(other).expect("hashes");
        assert!(
            after.iter().all(|hash| !before.contains(hash)),
            "rehashed under the new epoch"
        );
    }

    #[test]
    fn checks_name_the_field() {
        let mut data = sample();
        data.family_name = " ".into();
        assert_eq!(data.check().expect_err("empty").field, "family_name");
        let mut data = sample();
        data.phone = Some("x".repeat(FIELD_LEN_MAX + 1));
        assert_eq!(data.check().expect_err("long").field, "phone");
    }
}
