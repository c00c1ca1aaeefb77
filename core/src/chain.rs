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
use crate::sorted_json::SortedObject;

/// The hash before the first event of a chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The canonical envelope bytes of an event at `revision` of `stream`: the JSON object of these
/// keys, sorted, without whitespace (written by [`SortedObject`], byte for byte what a
/// `serde_json::Value` object gives, which is how the envelope was first defined).
pub fn canonical_envelope(stream: &str, revision: u64, event: &NewEvent) -> Vec<u8> {
    // The envelope names the actor as the domain does (role and agency by name). An actor this build
    // cannot read keeps its stored form, so its hash differs and `verify` reports the event.
    // Written sorted without a `Value` (`to_vec_sorted`): the same bytes as `json!(actor)`.
    let actor = match Actor::from_log(&event.actor) {
        Ok(actor) => crate::sorted_json::to_vec_sorted(&actor),
        Err(_) => serde_json::to_vec(&json!({
            "id": event.actor.id,
            "agency": event.actor.agency,
            "role": event.actor.role,
        }))
        .ok(),
    }
    .unwrap_or_else(|| b"null".to_vec());
    let mut content_digest = [0u8; 64];
    // Encoding 32 bytes into 64 hex digits cannot fail.
    let content_digest = match hex::encode_to_slice(event.content_digest, &mut content_digest) {
        Ok(()) => std::str::from_utf8(&content_digest).unwrap_or_default(),
        Err(_) => "",
    };
    SortedObject::with_capacity(512)
        .raw_field("actor", &actor)
        .field("causation_id", &event.causation_id)
        .field("content_digest", content_digest)
        .field("correlation_id", &event.correlation_id)
        .field(
            "encoding",
            match event.encoding {
                PayloadEncoding::Json => "json",
                PayloadEncoding::Sealed => "sealed",
                PayloadEncoding::Opaque => "opaque",
            },
        )
        .field("id", &event.id)
        .field("occurred_on", &event.occurred_on)
        .field(
            "recorded_at",
            &event
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        )
        .field("revision", &revision)
        .field("stream", stream)
        .field("type", &event.event_type)
        .field("version", &event.version)
        .finish()
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;
    use crate::log::LogActor;

    /// The canonical envelope as first defined: a `Value` object, serialized. Every stored stream
    /// hash covers these bytes.
    fn as_value_object(stream: &str, revision: u64, event: &NewEvent) -> Vec<u8> {
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

    fn event() -> impl Strategy<Value = NewEvent> {
        (
            (
                any::<u128>(),
                ".{0,12}",
                any::<u32>(),
                -1_000_000i32..1_000_000,
            ),
            (
                0i64..4_000_000_000_000_000,
                ".{0,8}",
                prop::option::of(prop_oneof![
                    Just("jobcenter".to_owned()),
                    Just("kommune".to_owned()),
                    ".{0,6}".boxed(),
                ]),
                0u8..9,
            ),
            (
                prop::option::of(any::<u128>()),
                prop::option::of(any::<u128>()),
                0u8..3,
            ),
            any::<[u8; 32]>(),
        )
            .prop_map(
                |(
                    (id, event_type, version, day),
                    (micros, actor, agency, role),
                    (correlation, causation, encoding),
                    digest,
                )| NewEvent {
                    id: Uuid::from_u128(id),
                    event_type,
                    version,
                    occurred_on: NaiveDate::from_num_days_from_ce_opt(738_000 + day)
                        .unwrap_or_default(),
                    recorded_at: DateTime::from_timestamp_micros(micros).unwrap_or_default(),
                    actor: LogActor {
                        id: actor,
                        agency,
                        role,
                    },
                    correlation_id: correlation.map(Uuid::from_u128),
                    causation_id: causation.map(Uuid::from_u128),
                    encoding: [
                        PayloadEncoding::Json,
                        PayloadEncoding::Sealed,
                        PayloadEncoding::Opaque,
                    ][usize::from(encoding)],
                    payload: vec![1, 2, 3],
                    content_digest: digest,
                    prev_hash: GENESIS,
                    hash: GENESIS,
                },
            )
    }

    proptest! {
        #[test]
        fn the_canonical_envelope_is_the_sorted_value_object(
            event in event(),
            stream in ".{0,50}",
            revision in any::<u64>(),
        ) {
            let written = canonical_envelope(&stream, revision, &event);
            let reference = as_value_object(&stream, revision, &event);
            prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&reference));
        }
    }
}
