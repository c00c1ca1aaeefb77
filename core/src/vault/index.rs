//! The vault's blind index: how a caseworker finds a person by name or birth date without the
//! names ever being stored in a form that reads back.
//!
//! Each name part (normalised by [`name_parts`]) and the birth date of a vault entry become a
//! *term*, and each term is stored only as its keyed hash (HMAC-SHA-256) under the blind-index key,
//! a subkey of the epoch key in force ([`KeyStore::blind_index_key`]). A search hashes the terms it
//! is given the same way and looks the hashes up; nothing in the index can be turned back into a
//! name without that key.
//!
//! The index lives in its own sled tree, beside the vault, and is derived from the vault alone:
//! - `t ‖ hash ‖ person` — one row per term of a person (the lookup);
//! - `p ‖ person` — the hashes of that person's terms (so their rows can be removed);
//! - `epoch` — the epoch whose key the rows are hashed under.
//!
//! Why the epoch key and not the master key: erasure rotates the epoch key and destroys the old
//! one, so index rows of an erased person that sled may still hold in old copies of its files are
//! hashes under a key that exists nowhere (like their wrapped data key and their sealed vault
//! entry); with a key derived from the master key they could be tested against a list of names
//! for as long as the master key lives. The price is that the index is rebuilt from the vault
//! after every rotation: a search that finds the `epoch` row behind the epoch in force rebuilds it
//! first, which also indexes a store written before the index existed. The erased person's rows
//! are removed together with their vault entry, in [`KeyStore::destroy`] and
//! [`KeyStore::finish_erasure`], so every erasure path, and the recovery of an interrupted one,
//! drops them.
//!
//! What the index gives away to someone with the data directory but without the keys: how many
//! terms each person has and which persons share a term (two persons with the same family name
//! have one hash in common). Matching is on whole name parts, exact after normalisation: a blind
//! index cannot answer prefixes or misspellings.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::PersonalData;
use crate::crypto::{keyed_hash, SecretKey};
use crate::envelope::PersonId;

pub(crate) const TREE: &str = "vault_index";
const TERM_PREFIX: u8 = b't';
const PERSON_PREFIX: u8 = b'p';
const EPOCH_KEY: &[u8] = b"epoch";
const HASH_LEN: usize = 32;
/// The most name parts a search takes (a vault name is at most 200 characters anyway).
pub const QUERY_PARTS_MAX: usize = 16;

/// The parts of a name as the index compares them: lower case; the German umlauts and ß spelled
/// out (ä → ae, ö → oe, ü → ue, ß → ss, whether written precomposed or with a combining
/// diaeresis), so "Müller" and "Mueller" are one name; other diacritics dropped (é → e); apostrophes
/// dropped (O'Brien → obrien); split at whitespace, hyphens and every other character that is not
/// a letter or digit. Duplicates removed, in order of first appearance.
pub fn name_parts(name: &str) -> Vec<String> {
    let mut folded = String::with_capacity(name.len());
    let mut previous: Option<char> = None;
    for character in name.nfd() {
        if is_combining_mark(character) {
            // A diaeresis over a, o or u is an umlaut, spelled with an e in German.
            if character == '\u{0308}' && matches!(previous, Some('a' | 'o' | 'u')) {
                folded.push('e');
            }
            continue;
        }
        let lower: Vec<char> = character.to_lowercase().collect();
        for character in lower {
            match character {
                'ß' => folded.push_str("ss"),
                'æ' => folded.push_str("ae"),
                'ø' | 'œ' => folded.push_str("oe"),
                '\'' | '’' | 'ʼ' => {}
                character if character.is_alphanumeric() => folded.push(character),
                _ => folded.push(' '),
            }
            previous = Some(character);
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for part in folded.split_whitespace() {
        if !parts.iter().any(|known| known == part) {
            parts.push(part.to_owned());
        }
    }
    parts
}

/// What is looked up: every given name part and the birth date, if given, must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameQuery {
    pub name: Option<String>,
    pub birth_date: Option<NaiveDate>,
}

fn name_term(part: &str) -> Vec<u8> {
    [b"name\0".as_slice(), part.as_bytes()].concat()
}

fn birth_date_term(date: NaiveDate) -> Vec<u8> {
    [b"birth\0".as_slice(), date.to_string().as_bytes()].concat()
}

/// The terms of a vault entry: every part of the given names and the family name, and the birth
/// date.
pub(crate) fn entry_terms(data: &PersonalData) -> Vec<Vec<u8>> {
    let mut parts = name_parts(&data.given_names);
    for part in name_parts(&data.family_name) {
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    let mut terms: Vec<Vec<u8>> = parts.iter().map(|part| name_term(part)).collect();
    terms.extend(data.birth_date.map(birth_date_term));
    terms
}

/// The terms of a query; empty when it names nothing.
pub(crate) fn query_terms(query: &NameQuery) -> Vec<Vec<u8>> {
    let mut terms: Vec<Vec<u8>> = query
        .name
        .as_deref()
        .map(name_parts)
        .unwrap_or_default()
        .iter()
        .map(|part| name_term(part))
        .collect();
    terms.extend(query.birth_date.map(birth_date_term));
    terms
}

pub(crate) fn hash(key: &SecretKey, term: &[u8]) -> [u8; HASH_LEN] {
    keyed_hash(key, term)
}

fn term_row(hash: &[u8; HASH_LEN], person: PersonId) -> Vec<u8> {
    let mut row = Vec::with_capacity(1 + HASH_LEN + 16);
    row.push(TERM_PREFIX);
    row.extend_from_slice(hash);
    row.extend_from_slice(person.0.as_bytes());
    row
}

fn person_row(person: PersonId) -> Vec<u8> {
    let mut row = Vec::with_capacity(17);
    row.push(PERSON_PREFIX);
    row.extend_from_slice(person.0.as_bytes());
    row
}

/// Adds to `batch` the removal of every row of `person`.
fn remove_person_rows(
    tree: &sled::Tree,
    person: PersonId,
    batch: &mut sled::Batch,
) -> Result<bool, sled::Error> {
    let Some(hashes) = tree.get(person_row(person))? else {
        return Ok(false);
    };
    for hash in hashes.chunks_exact(HASH_LEN) {
        let hash: [u8; HASH_LEN] = hash.try_into().unwrap_or([0; HASH_LEN]);
        batch.remove(term_row(&hash, person));
    }
    batch.remove(person_row(person));
    Ok(true)
}

/// Removes every row of `person` in one atomic batch (not flushed); whether there were any.
pub(crate) fn remove_person(tree: &sled::Tree, person: PersonId) -> Result<bool, sled::Error> {
    let mut batch = sled::Batch::default();
    let found = remove_person_rows(tree, person, &mut batch)?;
    if found {
        tree.apply_batch(batch)?;
    }
    Ok(found)
}

/// Replaces the rows of `person` by those of `terms`, hashed under `key`, in one atomic batch
/// (not flushed).
pub(crate) fn put_person(
    tree: &sled::Tree,
    key: &SecretKey,
    person: PersonId,
    terms: &[Vec<u8>],
) -> Result<(), sled::Error> {
    let mut batch = sled::Batch::default();
    remove_person_rows(tree, person, &mut batch)?;
    let mut hashes = Vec::with_capacity(terms.len() * HASH_LEN);
    for term in terms {
        let hash = hash(key, term);
        batch.insert(term_row(&hash, person), &[]);
        hashes.extend_from_slice(&hash);
    }
    batch.insert(person_row(person), hashes);
    tree.apply_batch(batch)
}

/// The epoch the rows are hashed under; `None` for an index never built.
pub(crate) fn built_for_epoch(tree: &sled::Tree) -> Result<Option<u64>, sled::Error> {
    Ok(tree
        .get(EPOCH_KEY)?
        .and_then(|value| value.as_ref().try_into().ok().map(u64::from_be_bytes)))
}

/// Replaces the whole index, in one atomic batch, by `entries` hashed under `key` of `epoch`.
pub(crate) fn rebuild(
    tree: &sled::Tree,
    epoch: u64,
    key: &SecretKey,
    entries: &[(PersonId, Vec<Vec<u8>>)],
) -> Result<(), sled::Error> {
    let mut batch = sled::Batch::default();
    for row in tree.iter().keys() {
        batch.remove(row?);
    }
    for (person, terms) in entries {
        let mut hashes = Vec::with_capacity(terms.len() * HASH_LEN);
        for term in terms {
            let hash = hash(key, term);
            batch.insert(term_row(&hash, *person), &[]);
            hashes.extend_from_slice(&hash);
        }
        batch.insert(person_row(*person), hashes);
    }
    batch.insert(EPOCH_KEY, &epoch.to_be_bytes());
    tree.apply_batch(batch)
}

/// The persons who have every one of `terms` (at least one term), in uuid order.
pub(crate) fn lookup(
    tree: &sled::Tree,
    key: &SecretKey,
    terms: &[Vec<u8>],
) -> Result<Vec<PersonId>, sled::Error> {
    let mut found: Option<BTreeSet<uuid::Uuid>> = None;
    for term in terms {
        let hash = hash(key, term);
        let mut prefix = vec![TERM_PREFIX];
        prefix.extend_from_slice(&hash);
        let mut persons = BTreeSet::new();
        for row in tree.scan_prefix(&prefix).keys() {
            let row = row?;
            if let Ok(bytes) = <[u8; 16]>::try_from(&row[prefix.len()..]) {
                persons.insert(uuid::Uuid::from_bytes(bytes));
            }
        }
        found = Some(match found {
            None => persons,
            Some(before) => before.intersection(&persons).copied().collect(),
        });
    }
    Ok(found
        .unwrap_or_default()
        .into_iter()
        .map(PersonId)
        .collect())
}

/// The hashes stored for `person`, for the tests that look for them in the data directory.
pub fn stored_hashes(tree: &sled::Tree, person: PersonId) -> Result<Vec<[u8; 32]>, sled::Error> {
    Ok(tree
        .get(person_row(person))?
        .map(|hashes| {
            hashes
                .chunks_exact(HASH_LEN)
                .filter_map(|hash| hash.try_into().ok())
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_parts_fold_case_umlauts_diacritics_and_separators() {
        assert_eq!(
            name_parts("Müller-Lüdenscheidt"),
            ["mueller", "luedenscheidt"]
        );
        assert_eq!(name_parts("MUELLER"), ["mueller"]);
        // A decomposed ü (u + combining diaeresis) is the same name.
        assert_eq!(name_parts("Mu\u{0308}ller"), ["mueller"]);
        assert_eq!(name_parts("  Strauß  "), ["strauss"]);
        assert_eq!(name_parts("José  Ángel"), ["jose", "angel"]);
        assert_eq!(name_parts("O'Brien"), ["obrien"]);
        assert_eq!(name_parts("Amina amina"), ["amina"]);
        assert!(name_parts(" - ").is_empty());
    }
}
