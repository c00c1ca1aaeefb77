//! The personal-data vault (DOMAIN.md section 6): names, birth date, phone and address of a person,
//! which never go into events.
//!
//! Each entry is sealed with the person's own data key (the key that seals their event payloads), so
//! erasure, which destroys that key, makes the entry unreadable even where sled still holds an old
//! copy of it (that key is wrapped by an epoch key which erasure rotates, see [`crate::keys`]).
//! Destroying the key ([`KeyStore::destroy`]) also removes the entry, so every erasure path drops it;
//! [`Vault::erase`] removes it explicitly. Entries live in the sled tree `vault`, keyed by the
//! person's uuid.

use chrono::NaiveDate;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError};
use crate::envelope::PersonId;
use crate::keys::{KeyError, KeyState, KeyStore};
use crate::log::LogError;
use crate::store::Store;

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
        VaultError::Storage(LogError::Storage(error))
    }
}

/// The vault over the embedded store.
#[derive(Debug, Clone)]
pub struct Vault {
    tree: sled::Tree,
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
        })
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
        self.tree.insert(person.0.as_bytes(), value)?;
        Ok(())
    }

    /// Makes every entry written so far durable.
    pub async fn flush(&self) -> Result<(), VaultError> {
        self.tree.flush_async().await?;
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

    /// Removes the person's entry and flushes.
    pub async fn erase(&self, person: PersonId) -> Result<(), VaultError> {
        self.tree.remove(person.0.as_bytes())?;
        self.tree.flush_async().await?;
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
