//! The follower: a catch-up subscription to the writer's `$all` over the KurrentDB protocol that
//! copies each event into the replica's log at the writer's position.
//!
//! The checkpoint is the commit position of the last event copied. When the connection is lost
//! (the writer restarting, or its own log server gone for longer than the writer's retries) the
//! follower waits with back-off and subscribes again after that position; the writer's
//! subscriptions start after the position they are given, and an event at or before the
//! checkpoint is dropped, so the copy has no gap and no duplicate. A refused token, or an event the
//! copy cannot take, stops the follower for good: the replica then reports the failure in
//! `/readyz` instead of serving a copy that disagrees with the writer.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use journey_core::catalogue::EventType;
use journey_core::envelope::{Actor, PersonId};
use journey_core::keys::KeyState;
use journey_core::ledger::Ledger;
use journey_core::log::{InMemoryLog, NewEvent, PayloadEncoding, Position, RecordedEvent};
use journey_core::plain::{self, StreamKind};
use kurrentdb::{Client, ClientSettings, ReadAllOptions, StreamPosition, SubscribeToAllOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use tokio::sync::watch;
use uuid::Uuid;

use super::ReplicaStatus;
use crate::context::CliError;

/// The pause after the first lost connection; it doubles after each further one, up to
/// [`PAUSE_MAX`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const PAUSE_MAX: Duration = Duration::from_secs(2);

/// The envelope's fields as the writer sends them in an event's custom metadata
/// (`grpc::streams::convert`).
#[derive(Debug, Deserialize)]
struct Envelope {
    version: u32,
    occurred_on: NaiveDate,
    recorded_at: DateTime<Utc>,
    #[serde(default)]
    correlation_id: Option<Uuid>,
    #[serde(default)]
    causation_id: Option<Uuid>,
    actor: Actor,
    #[serde(default)]
    prev_hash: Option<String>,
    #[serde(default)]
    hash: Option<String>,
    /// Set on an erased person's events, which come without data.
    #[serde(default)]
    erased: bool,
}

/// Follows one writer into one copy.
pub struct Follower {
    client: Client,
    copy: Arc<InMemoryLog>,
    ledger: Arc<Ledger>,
    status: Arc<ReplicaStatus>,
    rng: StdRng,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Follower")
            .field("writer", &self.status.writer())
            .finish_non_exhaustive()
    }
}

/// Why an event could not be copied.
#[derive(Debug, thiserror::Error)]
#[error("the writer's event {id} at position {position}: {reason}")]
struct CopyError {
    id: Uuid,
    position: u64,
    reason: String,
}

impl Follower {
    /// A follower of the writer `connection` names; connects lazily.
    pub fn connect(
        connection: &str,
        copy: Arc<InMemoryLog>,
        ledger: Arc<Ledger>,
        status: Arc<ReplicaStatus>,
    ) -> Result<Self, CliError> {
        // The client's TLS needs a process-wide provider when the build enables more than one.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let redacted = journey_core::log::kurrent::redact(connection);
        let settings: ClientSettings = connection.parse().map_err(
            |error: kurrentdb::ClientSettingsParseError| {
                format!(
                    "--replica-of: `{redacted}` is not a KurrentDB connection string ({}); write for example `kurrentdb://replica:TOKEN@writer:2113?tlsCaFile=ca.pem`",
                    error.to_string().replace(connection, &redacted)
                )
            },
        )?;
        let client =
            Client::new(settings).map_err(|error| format!("--replica-of `{redacted}`: {error}"))?;
        Ok(Self {
            client,
            copy,
            ledger,
            status,
            rng: StdRng::from_entropy(),
        })
    }

    /// Refuses to start with a token the writer does not accept for this; a writer out of reach
    /// is not an error (the follower retries), only a warning.
    pub async fn check_access(&self) -> Result<(), CliError> {
        let options = ReadAllOptions::default().max_count(1);
        let first = match self.client.read_all(&options).await {
            Ok(mut read) => read.next().await.map(|_| ()),
            Err(error) => Err(error),
        };
        match first {
            Ok(()) => Ok(()),
            Err(error) if is_refusal(&error) => Err(refusal_message(&self.status, &error).into()),
            Err(error) => {
                tracing::warn!(%error, writer = self.status.writer(), "the writer does not answer yet; the replica follows it once it does");
                Ok(())
            }
        }
    }

    /// Follows the writer until `stop` turns true or the follower fails for good.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let start = match self.status.last_position() {
                None => StreamPosition::Start,
                Some(position) => StreamPosition::Position(kurrentdb::Position {
                    commit: position.raw(),
                    prepare: position.raw(),
                }),
            };
            let options = SubscribeToAllOptions::default().position(start);
            let mut subscription = self.client.subscribe_to_all(&options).await;
            loop {
                let event = tokio::select! {
                    event = subscription.next_subscription_event() => event,
                    _ = stop.changed() => return,
                };
                match event {
                    Ok(kurrentdb::SubscriptionEvent::EventAppeared(resolved)) => {
                        failures = 0;
                        let Some(recorded) = resolved.event else {
                            continue;
                        };
                        if let Err(error) = self.copy_event(&recorded) {
                            self.status.fail(error.to_string());
                            return;
                        }
                    }
                    Ok(kurrentdb::SubscriptionEvent::CaughtUp(_)) => {
                        failures = 0;
                        self.status.reached_head();
                    }
                    Ok(_) => failures = 0,
                    Err(error) if is_refusal(&error) => {
                        self.status.fail(refusal_message(&self.status, &error));
                        return;
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let pause = pause(failures);
                        tracing::warn!(%error, failures, ?pause, last = ?self.status.last_position(), "the replica lost its writer; subscribing again");
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            _ = stop.changed() => return,
                        }
                        break;
                    }
                }
            }
        }
    }

    /// Copies one event of the writer, unless it is already held.
    fn copy_event(&mut self, recorded: &kurrentdb::RecordedEvent) -> Result<(), CopyError> {
        let position = Position::from_raw(recorded.position.commit);
        let failed = |reason: String| CopyError {
            id: recorded.id,
            position: position.raw(),
            reason,
        };
        if self
            .status
            .last_position()
            .is_some_and(|last| position <= last)
        {
            return Ok(());
        }
        let stream = recorded.stream_id().to_owned();
        let person = match plain::classify(&stream) {
            Ok(StreamKind::Person(person)) => Some(person),
            Ok(StreamKind::Register(_) | StreamKind::Offer(_) | StreamKind::Volunteer(_)) => None,
            // The writer sends a `replica` token nothing else: another role's token (an analyst's
            // pseudonymised streams, an admin's plain streams) would build a copy that is not
            // the writer's ledger.
            _ => {
                return Err(failed(format!(
                    "the writer sent stream `{stream}`, which it never sends a `replica` token: give --replica-of a token of the writer's `replica` role (`journey token create --role replica`)"
                )))
            }
        };
        let envelope: Envelope = serde_json::from_slice(&recorded.custom_metadata)
            .map_err(|error| failed(format!("its metadata is not the envelope: {error}")))?;
        let hash = |text: &Option<String>| -> Result<[u8; 32], CopyError> {
            let Some(text) = text else {
                return Ok([0; 32]);
            };
            hex::decode(text)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| failed(format!("the hash `{text}` is not 32 bytes of hex")))
        };
        let (encoding, payload) = if envelope.erased {
            // Nothing to hold: the ledger reads a sealed event whose key is destroyed as erased.
            (PayloadEncoding::Sealed, Vec::new())
        } else {
            (PayloadEncoding::Json, recorded.data.to_vec())
        };
        if let Some(person) = person {
            if envelope.erased || recorded.event_type == EventType::PersonalDataErased.name() {
                self.erase(person, &stream)
                    .map_err(|error| failed(format!("erasing {person} here: {error}")))?;
            }
        }
        let event = NewEvent {
            id: recorded.id,
            event_type: recorded.event_type.clone(),
            version: envelope.version,
            occurred_on: envelope.occurred_on,
            recorded_at: envelope.recorded_at,
            actor: envelope.actor.to_log(),
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            encoding,
            payload,
            // Only appends compare digests, and nothing appends to the copy.
            content_digest: [0; 32],
            prev_hash: hash(&envelope.prev_hash)?,
            hash: hash(&envelope.hash)?,
        };
        self.copy
            .mirror(RecordedEvent {
                position,
                stream,
                revision: recorded.revision,
                event,
                global_link: None,
            })
            .map_err(|error| failed(error.to_string()))?;
        self.status.received(position);
        Ok(())
    }

    /// Brings `person` to the erased state here, as the writer did: a tombstone in the replica's
    /// key store (so the ledger reads their sealed events as erased), and the payloads of their
    /// events dropped from the copy. Idempotent.
    fn erase(
        &mut self,
        person: PersonId,
        stream: &str,
    ) -> Result<(), journey_core::keys::KeyError> {
        let keys = self.ledger.keys();
        if keys.state(person)? != KeyState::Destroyed {
            keys.finish_erasure(person, &mut self.rng)?;
        }
        self.copy.rewrite_stream(stream, |event| {
            let stored_plain = EventType::from_name(&event.event_type)
                .is_some_and(|event_type| event_type.is_stored_plain());
            if !stored_plain {
                event.encoding = PayloadEncoding::Sealed;
                event.payload = Vec::new();
            }
        });
        // States folded while the payloads were held.
        self.ledger.forget_cached_states();
        Ok(())
    }
}

/// The pause after `failures` lost connections in a row.
fn pause(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_PAUSE.saturating_mul(factor).min(PAUSE_MAX)
}

/// Whether the writer refused the replica's token (retrying cannot help).
fn is_refusal(error: &kurrentdb::Error) -> bool {
    matches!(
        error,
        kurrentdb::Error::AccessDenied
            | kurrentdb::Error::Grpc {
                code: tonic::Code::Unauthenticated | tonic::Code::PermissionDenied,
                ..
            }
    )
}

fn refusal_message(status: &ReplicaStatus, error: &kurrentdb::Error) -> String {
    format!(
        "{} refused the replica's token ({error}): create one there with `journey token create --role replica --name <this replica>` and put it in --replica-of as `kurrentdb://<name>:<token>@host:port?tlsCaFile=…`",
        status.writer()
    )
}
