//! The hash chains of DOMAIN.md section 2.
//!
//! Stream chain (computed by the ledger, so every backend carries it):
//! `hash = SHA-256(prev_hash ‖ canonical envelope ‖ stored payload bytes)`, where the first event of a
//! stream has `prev_hash` all zeros and the canonical envelope is the JSON object of the envelope fields
//! below with keys sorted and no whitespace. The stored payload bytes are the ciphertext, so the chain
//! stays verifiable after a person's key is destroyed.
//!
//! Global chain (embedded log only): `global_hash = SHA-256(global_prev_hash ‖ position as 8 bytes
//! big-endian ‖ stream hash)`.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::envelope::Actor;
use crate::log::{NewEvent, PayloadEncoding};

/// The hash before the first event of a chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The canonical envelope bytes of an event at `revision` of `stream`.
pub fn canonical_envelope(stream: &str, revision: u64, event: &NewEvent) -> Vec<u8> {
    // serde_json's Map is a BTreeMap here (no `preserve_order`), so keys come out sorted.
    // The envelope names the actor as the domain does (role and agency by name). An actor this build
    // cannot read keeps its stored form, so its hash differs and `verify` reports the event.
    let actor = match Actor::from_log(&event.actor) {
        Ok(actor) => json!(actor),
        Err(_) => json!({
            "id": event.actor.id,
            "agency": event.actor.agency,
            "role": event.actor.role,
        }),
    };
    let envelope = json!({
        "actor": actor,
        "causation_id": event.causation_id,
        "content_digest": hex::encode(event.content_digest),
        "correlation_id": event.correlation_id,
        "encoding": match event.encoding {
            PayloadEncoding::Json => "json",
            PayloadEncoding::Sealed => "sealed",
            PayloadEncoding::Opaque => "opaque",
        },
        "id": event.id,
        "occurred_on": event.occurred_on,
        "recorded_at": event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "revision": revision,
        "stream": stream,
        "type": event.event_type,
        "version": event.version,
    });
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// The stream-chain hash of `event` at `revision`, given the previous event's hash.
pub fn stream_hash(
    prev_hash: &[u8; 32],
    stream: &str,
    revision: u64,
    event: &NewEvent,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical_envelope(stream, revision, event));
    hasher.update(&event.payload);
    hasher.finalize().into()
}

/// The global-chain hash of the event at `position` whose stream hash is `stream_hash`.
pub fn global_hash(global_prev_hash: &[u8; 32], position: u64, stream_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(global_prev_hash);
    hasher.update(position.to_be_bytes());
    hasher.update(stream_hash);
    hasher.finalize().into()
}
