//! Payload sealing with per-person data keys (DOMAIN.md section 6).
//!
//! Each person has a 32-byte data key. Two subkeys are derived from it with HMAC-SHA-256 under fixed
//! labels, so one key never serves two primitives: the sealing key (XChaCha20-Poly1305, a random
//! 24-byte nonce per payload, the stream name and event id as associated data) and the digest key
//! (HMAC-SHA-256 over an event's canonical content, used for idempotent appends). Once the data key is
//! destroyed, neither the ciphertext nor the digest says anything about the payload.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of the nonce prefixed to every sealed payload.
pub const NONCE_LEN: usize = 24;
/// Length of the authentication tag appended by the AEAD.
pub const TAG_LEN: usize = 16;

const SEAL_LABEL: &[u8] = b"journey/v1/seal";
const DIGEST_LABEL: &[u8] = b"journey/v1/digest";

/// A 32-byte secret key, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, label)
    }

    /// The subkey of this key for one purpose, named by `label` (HMAC-SHA-256 of the label).
    pub fn subkey(&self, label: &[u8]) -> SecretKey {
        SecretKey(self.derive(label))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed payload is too short ({0} bytes)")]
    TooShort(usize),
    #[error("payload does not open with this key: it was tampered with, or sealed for another event or person")]
    Open,
    #[error("sealing failed")]
    Seal,
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn cipher(key: &SecretKey, label: &[u8]) -> XChaCha20Poly1305 {
    let mut subkey = key.derive(label);
    let cipher = XChaCha20Poly1305::new((&subkey).into());
    subkey.zeroize();
    cipher
}

/// Seals `plaintext` under `key`, bound to `associated_data`: returns `nonce ‖ ciphertext ‖ tag`.
pub fn seal(
    key: &SecretKey,
    associated_data: &[u8],
    plaintext: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let ciphertext = cipher(key, SEAL_LABEL)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: associated_data,
            },
        )
        .map_err(|_| CryptoError::Seal)?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Opens what [`seal`] produced with the same key and associated data.
pub fn open(
    key: &SecretKey,
    associated_data: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::TooShort(sealed.len()));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    cipher(key, SEAL_LABEL)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: associated_data,
            },
        )
        .map_err(|_| CryptoError::Open)
}

/// HMAC-SHA-256 of `message` under `key`: a keyed hash that says nothing about the message to
/// anyone without the key.
pub fn keyed_hash(key: &SecretKey, message: &[u8]) -> [u8; 32] {
    hmac_sha256(&key.0, message)
}

/// The keyed digest of an event's canonical content (see `ledger`).
pub fn content_digest(key: &SecretKey, canonical_content: &[u8]) -> [u8; 32] {
    let mut subkey = key.derive(DIGEST_LABEL);
    let digest = hmac_sha256(&subkey, canonical_content);
    subkey.zeroize();
    digest
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn sealed_payloads_open_only_with_their_key_and_associated_data() {
        let mut rng = StdRng::seed_from_u64(7);
        let key = SecretKey::generate(&mut rng);
        let other = SecretKey::generate(&mut rng);
        let sealed = seal(&key, b"person-1/event-1", b"{\"a\":1}", &mut rng).expect("seals");
        assert_eq!(
            open(&key, b"person-1/event-1", &sealed).expect("opens"),
            b"{\"a\":1}"
        );
        assert_eq!(
            open(&other, b"person-1/event-1", &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            open(&key, b"person-1/event-2", &sealed),
            Err(CryptoError::Open)
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            open(&key, b"person-1/event-1", &tampered),
            Err(CryptoError::Open)
        );
        assert_eq!(
            open(&key, b"x", &sealed[..10]),
            Err(CryptoError::TooShort(10))
        );
    }

    #[test]
    fn the_same_plaintext_seals_differently_each_time() {
        let mut rng = StdRng::seed_from_u64(1);
        let key = SecretKey::generate(&mut rng);
        let first = seal(&key, b"", b"same", &mut rng).expect("seals");
        let second = seal(&key, b"", b"same", &mut rng).expect("seals");
        assert_ne!(first, second);
    }

    #[test]
    fn digests_depend_on_key_and_content() {
        let mut rng = StdRng::seed_from_u64(2);
        let key = SecretKey::generate(&mut rng);
        let other = SecretKey::generate(&mut rng);
        assert_eq!(content_digest(&key, b"x"), content_digest(&key, b"x"));
        assert_ne!(content_digest(&key, b"x"), content_digest(&key, b"y"));
        assert_ne!(content_digest(&key, b"x"), content_digest(&other, b"x"));
    }
}
