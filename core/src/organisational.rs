//! Organisational streams: the write path of the streams that hold no personal data but are the
//! ledger's own, checked by rules (the registers' `register-<name>`, the offers' `offer-<uuid>`,
//! the volunteers' pseudonymous `volunteer-<uuid>`).
//! Not to be confused with `crate::plain`, the KurrentDB-like streams no rule reads.
//!
//! Their payloads are stored as plain JSON under the same envelope, the same stream chain and the
//! same audit as a person's events, but with no data key: what they record is about the
//! municipality and its organisations, never about a person, so there is nothing to seal and
//! nothing to erase. Their content digest needs no key either (there is no secret to keep), and it
//! is the idempotency check of a retried append, as for person events.
//!
//! Each stream kind keeps its own event types, fold and rules (`crate::registers`,
//! `crate::offers`); this module is only what they share: the digest, the duplicate check and the
//! chained append with the exact revision the caller checked against.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::chain;
use crate::envelope::Actor;
use crate::ledger::{Ledger, LedgerError};
use crate::log::{Direction, ExpectedRevision, NewEvent, PayloadEncoding, Position, StreamFrom};
use crate::offers::OfferId;
use crate::plain::StreamKind;
use crate::registers::RegisterKind;

/// Whether `stream` is an organisational stream: a register's or an offer's. What a name names is
/// decided once, by [`crate::plain::classify`].
pub fn is_organisational_stream(stream: &str) -> bool {
    matches!(
        crate::plain::classify(stream),
        Ok(StreamKind::Register(_) | StreamKind::Offer(_) | StreamKind::Volunteer(_))
    )
}

/// Checks a stored organisational event's payload against its stream kind's event types.
pub fn check_payload(
    stream: &str,
    event_type: &str,
    version: u32,
    data: Value,
) -> Result<(), String> {
    if RegisterKind::from_stream_name(stream).is_some() {
        crate::registers::decode_register_event(event_type, version, data).map(drop)
    } else if OfferId::from_stream_name(stream).is_some() {
        crate::offers::decode_offer_event(event_type, version, data).map(drop)
    } else if crate::volunteers::VolunteerId::from_stream_name(stream).is_some() {
        crate::volunteers::decode_volunteer_event(event_type, version, data).map(drop)
    } else {
        Err(format!("`{stream}` is not an organisational stream"))
    }
}

/// One event proposed for an organisational stream, already checked by its stream kind.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganisationalEvent {
    pub id: Uuid,
    pub stream: String,
    pub event_type: &'static str,
    pub version: u32,
    pub occurred_on: chrono::NaiveDate,
    pub data: Value,
}

/// What an id already in the log means for a proposed organisational event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Not in the log: append it.
    No,
    /// In the same stream with the same content: a retry, skip it.
    Same,
}

fn canonical_content(event: &OrganisationalEvent, actor: &Actor) -> Vec<u8> {
    let canonical = json!({
        "actor": actor,
        "data": event.data,
        "occurred_on": event.occurred_on,
        "stream": event.stream,
        "type": event.event_type,
        "version": event.version,
    });
    serde_json::to_vec(&canonical).unwrap_or_default()
}

/// The keyless digest of an organisational event's content.
fn content_digest(event: &OrganisationalEvent, actor: &Actor) -> [u8; 32] {
    Sha256::digest(canonical_content(event, actor)).into()
}

impl Ledger {
    /// Whether `event`'s id is already recorded: [`Recorded::Same`] for the same content in the
    /// same stream (a retry), an [`LedgerError::IdConflict`] for anything else.
    pub(crate) async fn organisational_recorded(
        &self,
        index: usize,
        event: &OrganisationalEvent,
    ) -> Result<Recorded, LedgerError> {
        let Some(stored) = self.log().find_event(&event.stream, event.id).await? else {
            return Ok(Recorded::No);
        };
        let stored_actor =
            Actor::from_log(&stored.event.actor).map_err(|error| LedgerError::Corrupt {
                position: stored.position,
                reason: error.to_string(),
            })?;
        if stored.event.content_digest == content_digest(event, &stored_actor) {
            return Ok(Recorded::Same);
        }
        Err(LedgerError::IdConflict {
            index,
            id: event.id,
            message: format!(
                "this event id is already recorded (position {}) with different content; \
                 every event needs its own id",
                stored.position
            ),
        })
    }

    /// Appends checked events to one organisational stream whose last revision was `head` when they were
    /// checked (`None`: the stream did not exist). The log refuses the append when another writer
    /// got there first, so a check is never applied to a stream it did not see.
    pub(crate) async fn append_organisational_stream(
        &self,
        stream: &str,
        head: Option<(u64, [u8; 32])>,
        events: &[OrganisationalEvent],
        actor: &Actor,
    ) -> Result<(Position, Position), LedgerError> {
        let (expected, mut revision, mut prev_hash) = match head {
            Some((last, hash)) => (ExpectedRevision::Exact(last), last + 1, hash),
            None => (ExpectedRevision::NoStream, 0, chain::GENESIS),
        };
        // In flight until the log has it, like a person append (`crate::in_flight`).
        let stamp = self.in_flight().stamp(self.clock().as_ref());
        let recorded_at = stamp.recorded_at;
        let mut new_events = Vec::with_capacity(events.len());
        for event in events {
            debug_assert_eq!(event.stream, stream);
            let mut new_event = NewEvent {
                id: event.id,
                event_type: event.event_type.to_owned(),
                version: event.version,
                occurred_on: event.occurred_on,
                recorded_at,
                actor: actor.to_log(),
                correlation_id: None,
                causation_id: None,
                encoding: PayloadEncoding::Json,
                payload: serde_json::to_vec(&event.data).unwrap_or_default(),
                content_digest: content_digest(event, actor),
                prev_hash,
                hash: [0; 32],
            };
            new_event.hash = chain::stream_hash(&prev_hash, stream, revision, &new_event);
            prev_hash = new_event.hash;
            revision += 1;
            new_events.push(new_event);
        }
        let outcome = self.log().append(stream, expected, new_events).await?;
        drop(stamp);
        Ok((outcome.first_position, outcome.last_position))
    }

    /// The last revision and hash of a stream, `None` when it does not exist.
    pub(crate) async fn organisational_head(
        &self,
        stream: &str,
    ) -> Result<Option<(u64, [u8; 32])>, LedgerError> {
        let head = self
            .log()
            .read_stream(stream, StreamFrom::End, Direction::Backwards, 1)
            .await?;
        Ok(head.first().map(|last| (last.revision, last.event.hash)))
    }
}
