//! The vault entries of volunteers: the name and contact of a volunteer, which never go into their
//! pseudonymous stream (`crate::volunteers`).
//!
//! They live in the same sled tree as the persons' entries, keyed by the volunteer's uuid and
//! sealed with the volunteer's own data key (the key store's key of [`VolunteerId::key_owner`]),
//! so everything that keeps a person's entry keeps a volunteer's without knowing the difference:
//! backups and restores copy the tree, every erasure path ([`crate::keys::KeyStore::destroy`],
//! `finish_erasure`, the erasure register applied at open) removes the entry with the key, and an
//! old copy that sled may still hold is sealed under a key that exists nowhere. A format byte of
//! their own tells them apart: the persons' blind index passes over them, and a person's reader
//! never mistakes one for a person.

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::{Vault, VaultError, FIELD_LEN_MAX};
use crate::catalogue::Check;
use crate::crypto;
use crate::keys::{KeyState, KeyStore};
use crate::volunteers::VolunteerId;

/// The format byte in front of a volunteer's sealed entry (a person's is 1).
const VOLUNTEER_ENTRY_FORMAT_V1: u8 = 2;

/// The direct identifiers of a volunteer: a name and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolunteerData {
    pub given_names: String,
    pub family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl VolunteerData {
    /// The first field that cannot be stored, with what to fix.
    pub fn check(&self) -> Result<(), Check> {
        let fields = [
            ("given_names", Some(&self.given_names)),
            ("family_name", Some(&self.family_name)),
            ("phone", self.phone.as_ref()),
            ("email", self.email.as_ref()),
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
        if let Some(email) = &self.email {
            if !email.contains('@') {
                return Err(Check::new(
                    "email",
                    "must be an e-mail address (name@domain)",
                ));
            }
        }
        Ok(())
    }
}

fn aad(volunteer: VolunteerId) -> Vec<u8> {
    let mut aad = b"journey/v1/vault/volunteer/".to_vec();
    aad.extend_from_slice(volunteer.0.as_bytes());
    aad
}

/// Whether the vault row `key` holds a volunteer's entry.
pub(super) fn is_volunteer_entry(tree: &sled::Tree, key: &[u8]) -> Result<bool, VaultError> {
    Ok(tree
        .get(key)?
        .is_some_and(|value| value.first() == Some(&VOLUNTEER_ENTRY_FORMAT_V1)))
}

impl Vault {
    /// Seals and stores `data` for `volunteer`, replacing what was there; creates the volunteer's
    /// data key on first use (the caller checked that the volunteer is in the register). Durable
    /// after [`Vault::flush`].
    pub fn put_volunteer(
        &self,
        keys: &KeyStore,
        volunteer: VolunteerId,
        data: &VolunteerData,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), VaultError> {
        let owner = volunteer.key_owner();
        let key = match keys.state(owner)? {
            KeyState::Destroyed => return Err(VaultError::Erased(owner)),
            _ => keys.data_key_or_create(owner, rng)?,
        };
        let damaged = |reason: String| VaultError::Damaged {
            person: owner,
            reason,
        };
        let plaintext = serde_json::to_vec(data).map_err(|error| damaged(error.to_string()))?;
        let sealed = crypto::seal(&key, &aad(volunteer), &plaintext, rng)
            .map_err(|error| damaged(error.to_string()))?;
        let mut value = Vec::with_capacity(1 + sealed.len());
        value.push(VOLUNTEER_ENTRY_FORMAT_V1);
        value.extend_from_slice(&sealed);
        self.tree.insert(volunteer.0.as_bytes(), value)?;
        Ok(())
    }

    /// The volunteer's name and contact; `None` when none was stored, [`VaultError::Erased`] once
    /// they were erased.
    pub fn get_volunteer(
        &self,
        keys: &KeyStore,
        volunteer: VolunteerId,
    ) -> Result<Option<VolunteerData>, VaultError> {
        let owner = volunteer.key_owner();
        let key = match keys.state(owner)? {
            KeyState::Present(key) => key,
            KeyState::Destroyed => return Err(VaultError::Erased(owner)),
            KeyState::Absent => return Ok(None),
        };
        let Some(value) = self.tree.get(volunteer.0.as_bytes())? else {
            return Ok(None);
        };
        let damaged = |reason: String| VaultError::Damaged {
            person: owner,
            reason,
        };
        let sealed = match value.split_first() {
            Some((&VOLUNTEER_ENTRY_FORMAT_V1, sealed)) => sealed,
            _ => return Err(damaged("not a volunteer's entry".into())),
        };
        let plaintext = crypto::open(&key, &aad(volunteer), sealed)
            .map_err(|error| damaged(error.to_string()))?;
        serde_json::from_slice(&plaintext)
            .map(Some)
            .map_err(|error| damaged(error.to_string()))
    }
}
