//! The ledger: the one write path, and the decoding read path.
//!
//! `append` = validate → idempotency → expected revision → [`rules::decide`] → seal with the person's
//! data key → chain → [`EventLog::append`]. A rejected append returns a typed [`LedgerError`] naming
//! the rule, the event and the field, and writes nothing.
//!
//! Appends to one person are serialized inside the process by a per-person lock, and the stream state
//! (the folded journey, its revision and last hash) is cached per person, so an append costs no read
//! of the stream. The log append always carries the exact revision the state was built from, so a
//! writer in another process (a second API replica on a shared KurrentDB) is detected, never overwritten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::catalogue::{self, DecodeError, Event, EventType};
use crate::chain;
use crate::clock::Clock;
use crate::crypto::{self, CryptoError, SecretKey};
use crate::envelope::{Actor, PersonId};
use crate::fault::{self, FaultPoint};
use crate::in_flight::InFlight;
use crate::keys::{KeyError, KeyState, KeyStore};
use crate::log::{
    AllFrom, Direction, EventLog, ExpectedRevision, LogError, NewEvent, PayloadEncoding, Position,
    RecordedEvent, StreamFrom, APPEND_EVENTS_MAX,
};
use crate::offers::OfferViolation;
use crate::registers::{RegisterCache, RegisterError, RegisterFileError, UnknownCode};
use crate::rules::{self, JourneyEvent, JourneyState, RuleViolation};
use crate::sorted_json::SortedObject;
use crate::volunteers::{VolunteerId, VolunteerViolation};

/// A cryptographically secure random number generator that can be shared across threads.
pub trait SecureRng: RngCore + CryptoRng + Send {}
impl<T: RngCore + CryptoRng + Send> SecureRng for T {}

/// Settings of the ledger.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// The most person states kept in memory.
    pub stream_cache_entries_max: usize,
    /// How often an append is retried when another process wrote to the same stream in between.
    pub conflict_retries_max: u32,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            stream_cache_entries_max: 100_000,
            conflict_retries_max: 3,
        }
    }
}

/// An event a caller proposes to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub id: Uuid,
    pub occurred_on: NaiveDate,
    pub event: Event,
    pub actor: Actor,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

/// One event in the export format (DOMAIN.md section 2), also what `journey import` reads. On import
/// only `stream`, `id`, `type`, `version`, `occurred_on`, `actor` and `data` are required; what the
/// ledger assigns (`position`, `revision`, `recorded_at`, the hashes) is ignored when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    pub stream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
    pub actor: Actor,
    #[serde(default)]
    pub correlation_id: Option<Uuid>,
    #[serde(default)]
    pub causation_id: Option<Uuid>,
    /// The decrypted payload; `null` for an erased person's events.
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl WireEvent {
    /// The person this event belongs to.
    pub fn person(&self) -> Result<PersonId, LedgerError> {
        PersonId::from_stream_name(&self.stream).map_err(|error| LedgerError::Invalid {
            index: 0,
            event_id: Some(self.id),
            field: Some("stream".into()),
            message: error.to_string(),
        })
    }

    /// Decodes (and upcasts) the payload into a proposal.
    pub fn to_proposed(&self) -> Result<Proposed, LedgerError> {
        let event = catalogue::decode(&self.event_type, self.version, self.data.clone())
            .map_err(|error| LedgerError::decode(0, self.id, error))?;
        Ok(Proposed {
            id: self.id,
            occurred_on: self.occurred_on,
            event,
            actor: self.actor.clone(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        })
    }
}

/// A stored event, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    pub recorded: RecordedEvent,
    /// Who recorded it, read from the log's plain form of the actor.
    pub actor: Actor,
    /// The payload as stored (decrypted, before upcasting); `None` when the person was erased.
    pub data: Option<Value>,
    /// The event at its current version; `None` when the person was erased, and for the events of
    /// a register stream (`crate::registers`), which are not person events.
    pub event: Option<Event>,
}

impl DecodedEvent {
    /// The export form of this event.
    pub fn to_wire(&self) -> WireEvent {
        let event = &self.recorded.event;
        WireEvent {
            position: Some(self.recorded.position.raw()),
            stream: self.recorded.stream.clone(),
            revision: Some(self.recorded.revision),
            id: event.id,
            event_type: event.event_type.clone(),
            version: event.version,
            occurred_on: event.occurred_on,
            recorded_at: Some(event.recorded_at),
            actor: self.actor.clone(),
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            data: self.data.clone().unwrap_or(Value::Null),
            prev_hash: Some(hex::encode(event.prev_hash)),
            hash: Some(hex::encode(event.hash)),
        }
    }
}

/// What an accepted append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub person: PersonId,
    /// The stream's revision after the append.
    pub stream_revision: u64,
    /// Positions of the newly written events (empty when everything was already recorded).
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    /// How many events this append wrote (positions are not dense, so they do not say).
    pub written: usize,
    /// How many proposed events were already recorded with the same content (idempotent retries).
    pub already_recorded: usize,
}

/// Why the ledger refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("event {index}{}: {}{message}", describe_id(*event_id), describe_field(field))]
    Invalid {
        index: usize,
        event_id: Option<Uuid>,
        field: Option<String>,
        message: String,
    },
    /// A coded field's value is not in its register on the event's date.
    #[error("event {index}{}: field `data.{}`: {unknown}", describe_id(*event_id), unknown.field)]
    UnknownCode {
        index: usize,
        event_id: Option<Uuid>,
        unknown: UnknownCode,
    },
    /// A register event that does not fit the registers it is appended to.
    #[error("register event {index}: {error}")]
    Register { index: usize, error: RegisterError },
    /// A register file that cannot be imported.
    #[error(transparent)]
    RegisterFile(RegisterFileError),
    #[error("{0}")]
    Rule(RuleViolation),
    /// A proposed offer event that breaks a rule of offer streams (`crate::offers`).
    #[error("{0}")]
    Offer(OfferViolation),
    /// A proposed volunteer event that breaks a rule of volunteer streams (`crate::volunteers`).
    #[error("{0}")]
    Volunteer(VolunteerViolation),
    #[error("{0} is not in the volunteer register")]
    VolunteerNotFound(VolunteerId),
    #[error("the personal data of {0} was erased")]
    VolunteerErased(VolunteerId),
    #[error("conflict on {person}: expected {expected:?}, the stream is at {}", describe_revision(*actual))]
    Conflict {
        person: PersonId,
        expected: ExpectedRevision,
        actual: Option<u64>,
    },
    #[error("event {index} ({id}): {message}")]
    IdConflict {
        index: usize,
        id: Uuid,
        message: String,
    },
    #[error("{0} is not in the ledger")]
    NotFound(PersonId),
    #[error("the data of {0} was erased")]
    Erased(PersonId),
    #[error("event at position {position} cannot be read: {reason}")]
    Corrupt { position: Position, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Log(#[from] LogError),
}

fn describe_id(id: Option<Uuid>) -> String {
    id.map(|id| format!(" ({id})")).unwrap_or_default()
}

fn describe_field(field: &Option<String>) -> String {
    field
        .as_ref()
        .filter(|field| !field.is_empty())
        .map(|field| format!("field `{field}`: "))
        .unwrap_or_default()
}

fn describe_revision(revision: Option<u64>) -> String {
    revision.map_or_else(
        || "no stream".to_owned(),
        |revision| format!("revision {revision}"),
    )
}

impl LedgerError {
    pub fn decode(index: usize, event_id: Uuid, error: DecodeError) -> Self {
        LedgerError::Invalid {
            index,
            event_id: Some(event_id),
            field: match &error {
                DecodeError::UnknownType(_) => Some("type".into()),
                DecodeError::UnknownVersion { .. } => Some("version".into()),
                DecodeError::InvalidField { field, .. } => {
                    Some(format!("data.{field}").trim_end_matches('.').to_owned())
                }
            },
            message: error.to_string(),
        }
    }

    /// A stable machine-readable code, mapped to GraphQL's `extensions.code` at the edge.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Invalid { .. }
            | LedgerError::UnknownCode { .. }
            | LedgerError::Register { .. }
            | LedgerError::RegisterFile(_) => "VALIDATION",
            LedgerError::Rule(_) | LedgerError::Offer(_) | LedgerError::Volunteer(_) => {
                "RULE_VIOLATION"
            }
            LedgerError::Conflict { .. } | LedgerError::IdConflict { .. } => "CONFLICT",
            LedgerError::NotFound(_)
            | LedgerError::Erased(_)
            | LedgerError::VolunteerNotFound(_)
            | LedgerError::VolunteerErased(_) => "NOT_FOUND",
            LedgerError::Corrupt { .. } | LedgerError::Key(_) | LedgerError::Log(_) => "INTERNAL",
        }
    }

    /// Which proposed event the error is about, when it is about one.
    pub fn index(&self) -> Option<usize> {
        match self {
            LedgerError::Invalid { index, .. }
            | LedgerError::IdConflict { index, .. }
            | LedgerError::UnknownCode { index, .. }
            | LedgerError::Register { index, .. } => Some(*index),
            LedgerError::Rule(violation) => Some(violation.index),
            LedgerError::Offer(violation) => Some(violation.index),
            LedgerError::Volunteer(violation) => Some(violation.index),
            _ => None,
        }
    }
}

/// A dry run on one person's stream (see [`Ledger::simulate`]).
#[derive(Debug)]
pub struct Simulation {
    person: PersonId,
    head: StreamHead,
    /// Ids accepted in this dry run, with their canonical content.
    accepted: HashMap<Uuid, Vec<u8>>,
}

impl Simulation {
    pub fn person(&self) -> PersonId {
        self.person
    }

    /// The simulated journey state.
    pub fn state(&self) -> &JourneyState {
        &self.head.state
    }
}

/// The cached state of one person's stream.
#[derive(Debug, Clone)]
struct StreamHead {
    state: JourneyState,
    /// The last revision, `None` for a stream without events.
    revision: Option<u64>,
    last_hash: [u8; 32],
}

type StreamSlot = Arc<tokio::sync::Mutex<Option<StreamHead>>>;

/// Stripes of the plain streams' writer locks: enough that concurrent writers of different
/// streams rarely share one.
const PLAIN_WRITER_STRIPES: usize = 64;

/// The ledger service. Cheap to share behind an `Arc`.
pub struct Ledger {
    log: Arc<dyn EventLog>,
    keys: Arc<KeyStore>,
    clock: Arc<dyn Clock>,
    rng: Mutex<Box<dyn SecureRng>>,
    streams: Mutex<HashMap<PersonId, StreamSlot>>,
    /// The registers (`crate::registers`), folded from their streams.
    registers: RegisterCache,
    /// Held while an offer's events are checked and appended (`crate::offers`).
    offer_writer: tokio::sync::Mutex<()>,
    /// Held while a volunteer's stream is checked and appended to (`crate::volunteers`).
    volunteer_writer: tokio::sync::Mutex<()>,
    /// The transaction times of live appends not yet in the log.
    in_flight: InFlight,
    /// Held while a plain stream's head is read and appended to (`crate::plain`), one lock per
    /// stripe of stream names: appends to one stream are serialized (the head read is the one
    /// appended to), appends to different streams mostly are not, so they share group commits.
    plain_writers: Box<[tokio::sync::Mutex<()>]>,
    config: LedgerConfig,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("log", &self.log)
            .field("config", &self.config)
            .finish()
    }
}

/// Associated data binding a sealed payload to its stream and event id.
pub fn seal_aad(stream: &str, id: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(stream.len() + 17);
    aad.extend_from_slice(stream.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// The canonical content of a proposed event: what the idempotency digest covers.
fn canonical_content(proposed: &Proposed) -> Vec<u8> {
    canonical_content_with_data(proposed, &proposed.event.to_data_bytes())
}

/// [`canonical_content`] around the event's data already serialized (sealing needs those bytes
/// too), so that the payload is built and serialized once per event. The bytes are those of the
/// JSON object of these keys, sorted, as every stored content digest covers them.
fn canonical_content_with_data(proposed: &Proposed, data: &[u8]) -> Vec<u8> {
    let event_type = proposed.event.event_type();
    // The actor's keys are sorted as well.
    let actor =
        crate::sorted_json::to_vec_sorted(&proposed.actor).unwrap_or_else(|| b"null".to_vec());
    SortedObject::with_capacity(data.len() + 192)
        .raw_field("actor", &actor)
        .field("causation_id", &proposed.causation_id)
        .field("correlation_id", &proposed.correlation_id)
        .raw_field("data", data)
        .field("occurred_on", &proposed.occurred_on)
        .field("type", event_type.name())
        .field("version", &event_type.current_version())
        .finish()
}

impl Ledger {
    pub fn new(
        log: Arc<dyn EventLog>,
        keys: Arc<KeyStore>,
        clock: Arc<dyn Clock>,
        rng: Box<dyn SecureRng>,
        config: LedgerConfig,
    ) -> Self {
        Self {
            log,
            keys,
            clock,
            rng: Mutex::new(rng),
            streams: Mutex::new(HashMap::new()),
            registers: RegisterCache::default(),
            offer_writer: tokio::sync::Mutex::new(()),
            volunteer_writer: tokio::sync::Mutex::new(()),
            in_flight: InFlight::default(),
            plain_writers: (0..PLAIN_WRITER_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            config,
        }
    }

    /// The lock of the plain `stream`'s stripe.
    pub(crate) fn plain_writer(&self, stream: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        stream.hash(&mut hasher);
        &self.plain_writers[(hasher.finish() % PLAIN_WRITER_STRIPES as u64) as usize]
    }

    pub(crate) fn register_cache(&self) -> &RegisterCache {
        &self.registers
    }

    pub(crate) fn offer_writer(&self) -> &tokio::sync::Mutex<()> {
        &self.offer_writer
    }

    pub(crate) fn volunteer_writer(&self) -> &tokio::sync::Mutex<()> {
        &self.volunteer_writer
    }

    /// Destroys the data key of `owner` (a person, or a volunteer's [`VolunteerId::key_owner`])
    /// whose erasure is in the log, with the epoch rotation; removes the vault entry and the
    /// erasure intent. Idempotent.
    pub(crate) fn finish_key_erasure(&self, owner: PersonId) -> Result<(), LedgerError> {
        self.with_rng(|rng| self.keys.finish_erasure(owner, rng))?;
        Ok(())
    }

    /// Seals and stores a volunteer's name and contact in the vault under their data key, after
    /// checking that they are in the register and not erased. Durable when it returns.
    pub async fn put_volunteer_data(
        &self,
        vault: &crate::vault::Vault,
        volunteer: VolunteerId,
        data: &crate::vault::volunteer::VolunteerData,
    ) -> Result<(), LedgerError> {
        let (state, _) = self.read_volunteer(volunteer).await?;
        if state.recruited.is_none() {
            return Err(LedgerError::VolunteerNotFound(volunteer));
        }
        if state.erased {
            return Err(LedgerError::VolunteerErased(volunteer));
        }
        data.check().map_err(|check| LedgerError::Invalid {
            index: 0,
            event_id: None,
            field: Some(check.field.to_string()),
            message: check.message.to_string(),
        })?;
        let stored = self.with_rng(|rng| vault.put_volunteer(&self.keys, volunteer, data, rng));
        match stored {
            Ok(()) => {}
            Err(crate::vault::VaultError::Erased(_)) => {
                return Err(LedgerError::VolunteerErased(volunteer))
            }
            Err(error) => {
                return Err(LedgerError::Corrupt {
                    position: Position::from_raw(0),
                    reason: error.to_string(),
                })
            }
        }
        vault.flush().await.map_err(|error| LedgerError::Corrupt {
            position: Position::from_raw(0),
            reason: error.to_string(),
        })
    }

    /// A random event id from the ledger's RNG, for events the ledger itself proposes.
    pub fn new_event_id(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.with_rng(|rng| rng.fill_bytes(&mut bytes));
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The transaction times of live appends stamped but not yet in the log.
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    fn slot(&self, person: PersonId) -> StreamSlot {
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if streams.len() >= self.config.stream_cache_entries_max && !streams.contains_key(&person) {
            // Drop the states nobody is appending to right now; they are rebuilt from the log on demand.
            streams.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        streams.entry(person).or_default().clone()
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut Box<dyn SecureRng>) -> T) -> T {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut rng)
    }

    /// Appends `proposed` to the person's stream if `expected` holds and every rule accepts them.
    /// Proposed events whose ids are already recorded with the same content are not written again.
    pub async fn append(
        &self,
        person: PersonId,
        expected: ExpectedRevision,
        proposed: Vec<Proposed>,
    ) -> Result<Receipt, LedgerError> {
        self.append_inner(person, expected, proposed, None).await
    }

    /// Appends events with the transaction times they had where they come from (a synthetic
    /// population, or a migration from another system), one per event, instead of the clock's now.
    /// The rules see the latest of those times as "now", so nothing may occur after it is recorded.
    /// Only tools acting as the system use this; every user-facing path uses [`Ledger::append`].
    pub async fn append_historical(
        &self,
        person: PersonId,
        expected: ExpectedRevision,
        proposed: Vec<(Proposed, DateTime<Utc>)>,
    ) -> Result<Receipt, LedgerError> {
        let (proposed, times): (Vec<_>, Vec<_>) = proposed.into_iter().unzip();
        self.append_inner(person, expected, proposed, Some(times))
            .await
    }

    async fn append_inner(
        &self,
        person: PersonId,
        expected: ExpectedRevision,
        proposed: Vec<Proposed>,
        recorded_at: Option<Vec<DateTime<Utc>>>,
    ) -> Result<Receipt, LedgerError> {
        check_batch(&proposed)?;
        let slot = self.slot(person);
        let mut head = slot.lock().await;
        let mut attempt = 0;
        loop {
            if head.is_none() {
                *head = Some(self.load_head(person).await?);
            }
            let current = head
                .as_ref()
                .map(Clone::clone)
                .ok_or(LedgerError::NotFound(person))?;
            match self
                .try_append(
                    person,
                    expected,
                    &proposed,
                    &current,
                    recorded_at.as_deref(),
                )
                .await
            {
                Ok((receipt, new_head)) => {
                    if let Some(new_head) = new_head {
                        *head = Some(new_head);
                    }
                    return Ok(receipt);
                }
                Err(LedgerError::Log(LogError::WrongExpectedRevision { .. }))
                    if attempt < self.config.conflict_retries_max =>
                {
                    // Another writer appended to this stream since the state was cached: reload, decide again.
                    attempt += 1;
                    *head = None;
                }
                Err(LedgerError::Log(LogError::WrongExpectedRevision { actual, .. })) => {
                    *head = None;
                    return Err(LedgerError::Conflict {
                        person,
                        expected,
                        actual,
                    });
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Checks `proposed` like [`Ledger::append`] would, without writing anything.
    pub async fn check(&self, person: PersonId, proposed: &[Proposed]) -> Result<(), LedgerError> {
        let mut simulation = self.simulate(person).await?;
        self.simulate_append(&mut simulation, proposed).await
    }

    /// Starts a dry run on the person's current stream: appends to the [`Simulation`] are checked like
    /// real ones, and accepted ones are remembered, but nothing is written.
    pub async fn simulate(&self, person: PersonId) -> Result<Simulation, LedgerError> {
        let slot = self.slot(person);
        let mut head = slot.lock().await;
        if head.is_none() {
            *head = Some(self.load_head(person).await?);
        }
        let head = head
            .as_ref()
            .map(Clone::clone)
            .ok_or(LedgerError::NotFound(person))?;
        Ok(Simulation {
            person,
            head,
            accepted: HashMap::new(),
        })
    }

    /// Checks `proposed` against the simulated stream and, when accepted, applies them to it.
    pub async fn simulate_append(
        &self,
        simulation: &mut Simulation,
        proposed: &[Proposed],
    ) -> Result<(), LedgerError> {
        check_batch(proposed)?;
        let mut pending = Vec::with_capacity(proposed.len());
        for (index, event) in proposed.iter().enumerate() {
            match simulation.accepted.get(&event.id) {
                Some(content) if *content == canonical_content(event) => {}
                Some(_) => {
                    return Err(LedgerError::IdConflict {
                        index,
                        id: event.id,
                        message: "this event id was already used with different content; every event needs its own id".into(),
                    })
                }
                None => pending.push(event.clone()),
            }
        }
        let (fresh, _) = self
            .split_recorded(simulation.person, &pending, &simulation.head)
            .await?;
        if fresh.is_empty() {
            return Ok(());
        }
        // `fresh` is indexed among `pending`; an unknown code names the caller's index.
        let fresh_by_caller: Vec<(usize, &Proposed)> = fresh
            .iter()
            .map(|(index, event)| {
                let caller = proposed
                    .iter()
                    .position(|candidate| candidate.id == event.id)
                    .unwrap_or(*index);
                (caller, *event)
            })
            .collect();
        self.check_codes(&fresh_by_caller).await?;
        let journey: Vec<JourneyEvent> = fresh
            .iter()
            .map(|(_, event)| journey_event(event))
            .collect();
        let state = rules::decide(&simulation.head.state, &journey, self.clock.as_ref()).map_err(
            |violation| {
                let fresh_index = violation.index;
                let mut error = remap(violation, &fresh);
                // Map the index among `pending` back to the caller's index.
                if let (LedgerError::Rule(violation), Some((pending_index, _))) =
                    (&mut error, fresh.get(fresh_index))
                {
                    let id = pending[*pending_index].id;
                    violation.index = proposed
                        .iter()
                        .position(|event| event.id == id)
                        .unwrap_or(violation.index);
                }
                error
            },
        )?;
        simulation.head.state = state;
        simulation.head.revision = Some(
            simulation
                .head
                .revision
                .map_or(fresh.len() as u64 - 1, |revision| {
                    revision + fresh.len() as u64
                }),
        );
        for (_, event) in &fresh {
            simulation
                .accepted
                .insert(event.id, canonical_content(event));
        }
        Ok(())
    }

    /// Splits proposals into those not yet recorded (with their index) and the count already recorded.
    async fn split_recorded<'a>(
        &self,
        person: PersonId,
        proposed: &'a [Proposed],
        _head: &StreamHead,
    ) -> Result<(Vec<(usize, &'a Proposed)>, Vec<RecordedEvent>), LedgerError> {
        let stream = person.stream_name();
        let mut fresh = Vec::with_capacity(proposed.len());
        let mut recorded = Vec::new();
        for (index, event) in proposed.iter().enumerate() {
            match self.log.find_event(&stream, event.id).await? {
                None => fresh.push((index, event)),
                Some(stored) => {
                    let key = match self.keys.state(person)? {
                        KeyState::Present(key) => key,
                        KeyState::Destroyed
                            if event.event.event_type() == EventType::PersonalDataErased
                                && stored.event.event_type
                                    == EventType::PersonalDataErased.name() =>
                        {
                            // Retrying an erasure: its content can no longer be compared, its effect stands.
                            recorded.push(stored);
                            continue;
                        }
                        KeyState::Destroyed => return Err(LedgerError::Erased(person)),
                        KeyState::Absent => {
                            return Err(LedgerError::Corrupt {
                                position: stored.position,
                                reason: format!("{person} has events but no data key"),
                            })
                        }
                    };
                    if crypto::content_digest(&key, &canonical_content(event))
                        != stored.event.content_digest
                    {
                        return Err(LedgerError::IdConflict {
                            index,
                            id: event.id,
                            message: format!(
                                "this event id is already recorded (position {}) with different content; \
                                 use a new id for a new event, or EventCorrected to correct the recorded one",
                                stored.position
                            ),
                        });
                    }
                    recorded.push(stored);
                }
            }
        }
        Ok((fresh, recorded))
    }

    async fn try_append(
        &self,
        person: PersonId,
        expected: ExpectedRevision,
        proposed: &[Proposed],
        head: &StreamHead,
        historical_times: Option<&[DateTime<Utc>]>,
    ) -> Result<(Receipt, Option<StreamHead>), LedgerError> {
        let (fresh, recorded) = self.split_recorded(person, proposed, head).await?;
        if recorded
            .iter()
            .any(|stored| stored.event.event_type == EventType::PersonalDataErased.name())
        {
            // A retried erasure: the first attempt may have stopped before the key was destroyed.
            self.with_rng(|rng| self.keys.finish_erasure(person, rng))?;
        }
        if fresh.is_empty() {
            let revision = head.revision.unwrap_or_default();
            return Ok((
                Receipt {
                    person,
                    stream_revision: revision,
                    first_position: None,
                    last_position: None,
                    written: 0,
                    already_recorded: recorded.len(),
                },
                None,
            ));
        }
        if !expected.holds(head.revision) {
            return Err(LedgerError::Conflict {
                person,
                expected,
                actual: head.revision,
            });
        }
        self.check_codes(&fresh).await?;
        let journey: Vec<JourneyEvent> = fresh
            .iter()
            .map(|(_, event)| journey_event(event))
            .collect();
        // A live append's time is registered as in flight until the log has it (or it failed), so
        // that readers reporting "everything recorded by T" can wait for it (`crate::in_flight`).
        let stamp = historical_times
            .is_none()
            .then(|| self.in_flight.stamp(self.clock.as_ref()));
        let now = stamp
            .as_ref()
            .map_or_else(|| self.clock.now(), |stamp| stamp.recorded_at);
        let time_of = |index: usize| {
            historical_times
                .and_then(|times| times.get(index).copied())
                .unwrap_or(now)
        };
        let state = match historical_times {
            None => rules::decide(&head.state, &journey, self.clock.as_ref()),
            Some(times) => {
                let latest = times.iter().copied().max().unwrap_or(now);
                rules::decide(
                    &head.state,
                    &journey,
                    &crate::clock::FixedClock::new(latest),
                )
            }
        }
        .map_err(|violation| remap(violation, &fresh))?;

        let stream = person.stream_name();
        let key = self.with_rng(|rng| self.keys.data_key_or_create(person, rng))?;
        // The key must be durable before an event sealed under it is: the log may be remote and its
        // acknowledgement says nothing about this store.
        self.make_keys_durable().await?;
        let mut prev_hash = head.last_hash;
        let first_revision = head.revision.map_or(0, |revision| revision + 1);
        let mut events = Vec::with_capacity(fresh.len());
        for (revision, (index, proposal)) in (first_revision..).zip(&fresh) {
            let event = self.seal(
                &stream,
                &key,
                proposal,
                time_of(*index),
                prev_hash,
                revision,
                *index,
            )?;
            prev_hash = event.hash;
            events.push(event);
        }
        let log_expected = match head.revision {
            Some(revision) => ExpectedRevision::Exact(revision),
            None => ExpectedRevision::NoStream,
        };
        let erasing = fresh
            .iter()
            .any(|(_, proposal)| proposal.event.event_type() == EventType::PersonalDataErased);
        if erasing {
            // The intent is durable before the event, so whatever stops us between the event and the
            // key's destruction, the next open finds the erasure and finishes it.
            self.keys.begin_erasure(person)?;
        }
        let outcome = match self.log.append(&stream, log_expected, events).await {
            Ok(outcome) => outcome,
            // Idempotency is scoped to the stream; a backend that also knows the ids of other
            // streams (the embedded log) refuses another person's id, which the caller must fix.
            Err(LogError::DuplicateIdInOtherStream { id, .. }) => {
                return Err(LedgerError::IdConflict {
                    index: fresh
                        .iter()
                        .find(|(_, proposal)| proposal.id == id)
                        .map_or(0, |(index, _)| *index),
                    id,
                    message: "this event id is already recorded for another person; every event needs a new id"
                        .into(),
                })
            }
            Err(error) => return Err(error.into()),
        };
        drop(stamp);
        if erasing {
            fault::hit(FaultPoint::AbortAfterErasureAppend);
            // Crypto-shredding: the erasure is durable, so the key that opens everything before it goes.
            self.with_rng(|rng| self.keys.finish_erasure(person, rng))?;
        }
        let new_head = StreamHead {
            state,
            revision: Some(outcome.stream_revision),
            last_hash: prev_hash,
        };
        Ok((
            Receipt {
                person,
                stream_revision: outcome.stream_revision,
                first_position: Some(outcome.first_position),
                last_position: Some(outcome.last_position),
                written: fresh.len(),
                already_recorded: recorded.len(),
            },
            Some(new_head),
        ))
    }

    /// [`KeyStore::make_durable`] off the async workers. Its flush waits for the disk, and a worker
    /// blocked in it stalls every other append on that worker: with the runtime's two workers on
    /// two cores, seeding (a new key per person) spent most of its time waiting so, one flush per
    /// person. On the blocking pool the waits overlap, sled lets concurrent flushes share one
    /// write, and the workers check and seal other appends meanwhile.
    async fn make_keys_durable(&self) -> Result<(), LedgerError> {
        if !self.keys.has_keys_to_make_durable() {
            return Ok(());
        }
        let keys = self.keys.clone();
        match tokio::task::spawn_blocking(move || keys.make_durable()).await {
            Ok(result) => Ok(result?),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down: nothing was appended.
            Err(_) => Err(LedgerError::Log(LogError::Closed)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seal(
        &self,
        stream: &str,
        key: &SecretKey,
        proposal: &Proposed,
        recorded_at: DateTime<Utc>,
        prev_hash: [u8; 32],
        revision: u64,
        index: usize,
    ) -> Result<NewEvent, LedgerError> {
        let event_type = proposal.event.event_type();
        let plaintext = proposal.event.to_data_bytes();
        let canonical = canonical_content_with_data(proposal, &plaintext);
        let (encoding, payload) = if event_type.is_stored_plain() {
            (PayloadEncoding::Json, plaintext)
        } else {
            let sealed = self
                .with_rng(|rng| crypto::seal(key, &seal_aad(stream, proposal.id), &plaintext, rng))
                .map_err(|error| LedgerError::Invalid {
                    index,
                    event_id: Some(proposal.id),
                    field: None,
                    message: error.to_string(),
                })?;
            (PayloadEncoding::Sealed, sealed)
        };
        let mut event = NewEvent {
            id: proposal.id,
            event_type: event_type.name().to_owned(),
            version: event_type.current_version(),
            occurred_on: proposal.occurred_on,
            recorded_at,
            actor: proposal.actor.to_log(),
            correlation_id: proposal.correlation_id,
            causation_id: proposal.causation_id,
            encoding,
            payload,
            content_digest: crypto::content_digest(key, &canonical),
            prev_hash,
            hash: [0; 32],
        };
        event.hash = chain::stream_hash(&prev_hash, stream, revision, &event);
        Ok(event)
    }

    /// Reads the whole stream of `person`, decodes it and folds it.
    async fn load_head(&self, person: PersonId) -> Result<StreamHead, LedgerError> {
        let events = self.read_person(person).await?;
        let mut head = StreamHead {
            state: JourneyState::default(),
            revision: None,
            last_hash: chain::GENESIS,
        };
        let erased = events
            .iter()
            .any(|event| event.recorded.event.event_type == EventType::PersonalDataErased.name());
        for decoded in &events {
            head.revision = Some(decoded.recorded.revision);
            head.last_hash = decoded.recorded.event.hash;
            if erased {
                continue;
            }
            if let Some(event) = &decoded.event {
                rules::evolve(
                    &mut head.state,
                    &JourneyEvent {
                        id: decoded.recorded.event.id,
                        occurred_on: decoded.recorded.event.occurred_on,
                        event: event.clone(),
                    },
                );
            }
        }
        if erased {
            // The sealed history cannot be read any more; only the fact of erasure remains.
            head.state = JourneyState::erased(head.revision.unwrap_or_default());
        }
        Ok(head)
    }

    /// Every event of `person`, decoded, in stream order. Empty when the person is unknown.
    pub async fn read_person(&self, person: PersonId) -> Result<Vec<DecodedEvent>, LedgerError> {
        self.read_whole_stream(&person.stream_name())
            .await?
            .into_iter()
            .map(|recorded| self.decode(recorded))
            .collect()
    }

    /// Every stored event of `stream`, in stream order, read in pages; empty for an unknown stream.
    pub async fn read_whole_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, LedgerError> {
        const PAGE: usize = 1024;
        let mut events = Vec::new();
        let mut from = 0u64;
        loop {
            let page = self
                .log
                .read_stream(
                    stream,
                    StreamFrom::Revision(from),
                    Direction::Forwards,
                    PAGE,
                )
                .await?;
            let done = page.len() < PAGE;
            if let Some(last) = page.last() {
                from = last.revision + 1;
            }
            events.extend(page);
            if done {
                return Ok(events);
            }
        }
    }

    /// Opens and decodes a stored event. An erased person's sealed events decode with no data.
    pub fn decode(&self, recorded: RecordedEvent) -> Result<DecodedEvent, LedgerError> {
        let position = recorded.position;
        let corrupt = |reason: String| LedgerError::Corrupt { position, reason };
        let actor =
            Actor::from_log(&recorded.event.actor).map_err(|error| corrupt(error.to_string()))?;
        if crate::organisational::is_organisational_stream(&recorded.stream) {
            // Register and offer events are not in the person catalogue, and carry no person
            // event: their stream kind reads them (`crate::organisational`).
            let data: Value = serde_json::from_slice(&recorded.event.payload)
                .map_err(|error| corrupt(format!("payload is not JSON: {error}")))?;
            crate::organisational::check_payload(
                &recorded.stream,
                &recorded.event.event_type,
                recorded.event.version,
                data.clone(),
            )
            .map_err(corrupt)?;
            return Ok(DecodedEvent {
                recorded,
                actor: actor.clone(),
                data: Some(data),
                event: None,
            });
        }
        if crate::plain::is_plain(&recorded.stream) {
            // Plain streams hold what KurrentDB clients wrote: no person event, nothing to open.
            if recorded.event.encoding != PayloadEncoding::Opaque {
                return Err(corrupt(
                    "a plain stream's event is not stored opaque".into(),
                ));
            }
            return Ok(DecodedEvent {
                recorded,
                actor: actor.clone(),
                data: None,
                event: None,
            });
        }
        let Some(plaintext) = self.open_payload(&recorded)? else {
            return Ok(DecodedEvent {
                recorded,
                actor: actor.clone(),
                data: None,
                event: None,
            });
        };
        let data: Value = serde_json::from_slice(&plaintext)
            .map_err(|error| corrupt(format!("payload is not JSON: {error}")))?;
        let event = catalogue::decode(
            &recorded.event.event_type,
            recorded.event.version,
            data.clone(),
        )
        .map_err(|error| corrupt(error.to_string()))?;
        Ok(DecodedEvent {
            recorded,
            actor: actor.clone(),
            data: Some(data),
            event: Some(event),
        })
    }

    /// The payload of a stored person event as it was recorded (JSON bytes), opened with the
    /// person's data key; `None` once the person was erased. Readers that pass the payload on
    /// without interpreting it (the KurrentDB protocol) take this instead of [`Ledger::decode`].
    pub fn open_payload(&self, recorded: &RecordedEvent) -> Result<Option<Vec<u8>>, LedgerError> {
        let corrupt = |reason: String| LedgerError::Corrupt {
            position: recorded.position,
            reason,
        };
        match recorded.event.encoding {
            PayloadEncoding::Opaque => {
                Err(corrupt("an opaque payload outside a plain stream".into()))
            }
            PayloadEncoding::Json => Ok(Some(recorded.event.payload.clone())),
            PayloadEncoding::Sealed => {
                let person = PersonId::from_stream_name(&recorded.stream)
                    .map_err(|error| corrupt(error.to_string()))?;
                match self.keys.state(person)? {
                    KeyState::Present(key) => crypto::open(
                        &key,
                        &seal_aad(&recorded.stream, recorded.event.id),
                        &recorded.event.payload,
                    )
                    .map(Some)
                    .map_err(|error: CryptoError| corrupt(error.to_string())),
                    KeyState::Destroyed => Ok(None),
                    KeyState::Absent => Err(corrupt(format!("{person} has no data key"))),
                }
            }
        }
    }

    /// Finishes every erasure that is in the log but whose key survived, because the process stopped
    /// between the durable `PersonalDataErased` event and the key's destruction; drops the intents of
    /// erasures that never reached the log. Run it when the data directory is opened, before anything
    /// else reads or writes. Returns the persons whose erasure it finished.
    ///
    /// Erasure intents say which persons to look at (see [`crate::keys`]). A store written before
    /// intents existed is searched once, event by event, for erasures whose key is still there.
    pub async fn finish_interrupted_erasures(&self) -> Result<Vec<PersonId>, LedgerError> {
        let mut erased = Vec::new();
        for person in self.keys.pending_erasures()? {
            if self.stream_has_erasure(person).await? {
                self.with_rng(|rng| self.keys.finish_erasure(person, rng))?;
                erased.push(person);
            } else {
                self.keys.abandon_erasure(person)?;
            }
        }
        if !self.keys.erasures_reconciled()? {
            const PAGE: usize = 4096;
            let mut from = AllFrom::Start;
            let mut persons = std::collections::BTreeSet::new();
            loop {
                let page = self.log.read_all(from, Direction::Forwards, PAGE).await?;
                let Some(last) = page.last() else { break };
                from = AllFrom::Excluding(last.position);
                for recorded in &page {
                    if recorded.event.event_type == EventType::PersonalDataErased.name()
                        && !crate::plain::is_plain(&recorded.stream)
                    {
                        let person =
                            PersonId::from_stream_name(&recorded.stream).map_err(|error| {
                                LedgerError::Corrupt {
                                    position: recorded.position,
                                    reason: error.to_string(),
                                }
                            })?;
                        persons.insert(person);
                    }
                }
            }
            for person in persons {
                if self.keys.state(person)? != KeyState::Destroyed {
                    erased.push(person);
                }
                self.with_rng(|rng| self.keys.finish_erasure(person, rng))?;
            }
            self.keys.mark_erasures_reconciled()?;
        }
        if !erased.is_empty() {
            // Cached states were folded while the keys still opened the payloads.
            self.forget_cached_states();
        }
        Ok(erased)
    }

    /// Whether the stream of the key's owner holds its erasure: `PersonalDataErased` in the
    /// person's stream, or `VolunteerErased` in the volunteer's (a volunteer's key is owned by
    /// their uuid, see [`VolunteerId::key_owner`]).
    async fn stream_has_erasure(&self, person: PersonId) -> Result<bool, LedgerError> {
        let erased_person = self
            .read_whole_stream(&person.stream_name())
            .await?
            .iter()
            .any(|recorded| recorded.event.event_type == EventType::PersonalDataErased.name());
        if erased_person {
            return Ok(true);
        }
        let volunteer = VolunteerId(person.0);
        Ok(self
            .read_whole_stream(&volunteer.stream_name())
            .await?
            .iter()
            .any(|recorded| {
                recorded.event.event_type
                    == crate::volunteers::VolunteerEventType::VolunteerErased.name()
            }))
    }

    /// Forgets cached stream states (for example after another process wrote to the log).
    pub fn forget_cached_states(&self) {
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        self.registers.forget();
    }
}

fn check_batch(proposed: &[Proposed]) -> Result<(), LedgerError> {
    let ids: Vec<Uuid> = proposed.iter().map(|event| event.id).collect();
    check_batch_ids(&ids)
}

/// An append carries 1 to [`APPEND_EVENTS_MAX`] events, each with its own id (person and plain
/// streams alike).
pub(crate) fn check_batch_ids(ids: &[Uuid]) -> Result<(), LedgerError> {
    if ids.is_empty() || ids.len() > APPEND_EVENTS_MAX {
        return Err(LedgerError::Invalid {
            index: 0,
            event_id: None,
            field: None,
            message: format!(
                "an append carries 1 to {APPEND_EVENTS_MAX} events, this one carries {}",
                ids.len()
            ),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            return Err(LedgerError::Invalid {
                index,
                event_id: Some(*id),
                field: Some("id".into()),
                message: "this id appears twice in one append; every event needs its own id".into(),
            });
        }
    }
    Ok(())
}

fn journey_event(proposed: &Proposed) -> JourneyEvent {
    JourneyEvent {
        id: proposed.id,
        occurred_on: proposed.occurred_on,
        event: proposed.event.clone(),
    }
}

/// Maps a violation's index among the fresh events back to the caller's index.
fn remap(mut violation: RuleViolation, fresh: &[(usize, &Proposed)]) -> LedgerError {
    if let Some((index, _)) = fresh.get(violation.index) {
        violation.index = *index;
    }
    LedgerError::Rule(violation)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::envelope::ActorRole;
    use crate::synth::{households, SynthConfig, SynthEvent};

    /// The canonical content as it was first defined: a `Value` object, serialized. Every content
    /// digest already stored was computed over these bytes.
    fn as_value_object(proposed: &Proposed) -> Vec<u8> {
        let event_type = proposed.event.event_type();
        let content = json!({
            "actor": proposed.actor,
            "causation_id": proposed.causation_id,
            "correlation_id": proposed.correlation_id,
            "data": proposed.event.to_data(),
            "occurred_on": proposed.occurred_on,
            "type": event_type.name(),
            "version": event_type.current_version(),
        });
        serde_json::to_vec(&content).unwrap_or_default()
    }

    #[test]
    fn canonical_content_is_the_sorted_json_object() {
        // Given every event of a synthetic population (all event types, caseworkers of every
        // agency), and the same events with causation and correlation ids and a system actor
        let end = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap_or_default();
        let mut proposals = Vec::new();
        for household in households(&SynthConfig::new(300, 11, end)) {
            proposals.extend(household.into_iter().map(SynthEvent::proposed));
        }
        let types: std::collections::HashSet<_> = proposals
            .iter()
            .map(|proposed| proposed.event.event_type())
            .collect();
        assert!(types.len() > 30, "only {} event types", types.len());
        let with_ids: Vec<Proposed> = proposals
            .iter()
            .take(500)
            .map(|proposed| Proposed {
                correlation_id: Some(Uuid::from_u128(7)),
                causation_id: Some(Uuid::from_u128(8)),
                actor: Actor {
                    id: "system \"import\" \u{e9}".into(),
                    agency: None,
                    role: ActorRole::System,
                },
                ..proposed.clone()
            })
            .collect();
        for proposed in proposals.iter().chain(&with_ids) {
            // When the canonical content is built around the serialized data
            let data = serde_json::to_vec(&proposed.event.to_data()).unwrap_or_default();
            let built = canonical_content_with_data(proposed, &data);
            // And the data written without the `Value` is the same bytes
            assert_eq!(
                String::from_utf8_lossy(&proposed.event.to_data_bytes()),
                String::from_utf8_lossy(&data),
            );
            // Then it is byte for byte the object built as a `Value`
            assert_eq!(
                String::from_utf8_lossy(&built),
                String::from_utf8_lossy(&as_value_object(proposed)),
            );
            assert_eq!(canonical_content(proposed), built);
        }
    }
}
