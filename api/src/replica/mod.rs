//! A read replica (`journey serve --replica-of CONN`): a node that follows a writer's `$all` over
//! the KurrentDB protocol, builds its own projections from it and answers every query, while it
//! refuses every write (`graphql::read_replica`). The shape and its reasons are in
//! `docs/adr/0005-read-replicas.md`.
//!
//! The replica holds none of the writer's secrets. Its token at the writer has the `replica` role,
//! which reads person, register, offer and volunteer events with their payloads opened (never the
//! vault). What it receives it keeps in memory only, in an [`InMemoryLog`] at the writer's
//! positions ([`InMemoryLog::mirror`]), under a ledger whose log refuses appends ([`ReplicaLog`]);
//! the projections run on that ledger exactly as on the writer, without snapshots. Its data
//! directory holds its own tokens, audit log and a key store with nothing but tombstones of erased
//! persons: the ledger reads an erased person's events as "no data" only where their key is
//! destroyed, so an erasure arriving from the writer destroys the (never created) key here too and
//! drops the payloads of the person's events from memory ([`follow`]).

pub mod follow;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use journey_core::clock::SystemClock;
use journey_core::keys::{self, KeyStore, MasterKeySource};
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::{
    AllFrom, AppendOutcome, Direction, EventLog, ExpectedRevision, InMemoryLog, LogError, NewEvent,
    Position, RecordedEvent, StreamFrom, Subscription,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

use crate::context::{derive_pseudonym_key, open_store, CliError, Context, LogStore, Options};

/// How a replica finds its writer.
#[derive(Clone)]
pub struct ReplicaConfig {
    /// A `kurrentdb` connection string to the writer's gRPC endpoint, with a `replica` token.
    pub connection: String,
    /// Where clients send writes (the writer's GraphQL URL), named in every refusal; without it
    /// the refusal names the writer's gRPC address.
    pub writer_url: Option<String>,
    /// The writer's key of the analysts' pseudonyms (`journey keys pseudonym-key`); without it
    /// the replica derives its own from its own master key, and its pseudonyms differ.
    pub pseudonym_key_file: Option<PathBuf>,
}

/// Connection strings carry tokens: shown redacted.
impl std::fmt::Debug for ReplicaConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReplicaConfig")
            .field(
                "connection",
                &journey_core::log::kurrent::redact(&self.connection),
            )
            .field("writer_url", &self.writer_url)
            .field("pseudonym_key_file", &self.pseudonym_key_file)
            .finish()
    }
}

impl ReplicaConfig {
    /// The writer as refusals name it: the given URL, else the hosts of the connection string.
    pub fn writer(&self) -> String {
        if let Some(url) = &self.writer_url {
            return url.clone();
        }
        let rest = self
            .connection
            .split_once("://")
            .map_or(self.connection.as_str(), |(_, rest)| rest);
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let hosts = authority
            .rsplit_once('@')
            .map_or(authority, |(_, hosts)| hosts);
        format!("the writer at {hosts}")
    }
}

/// How far the replica follows its writer; shared by the follower, `/readyz` and GraphQL.
#[derive(Debug)]
pub struct ReplicaStatus {
    writer: String,
    /// Whether the follower has reached the writer's head once since the start.
    caught_up: AtomicBool,
    /// The writer's position of the last event received.
    last_position: Mutex<Option<Position>>,
    /// Events received since the start.
    events: AtomicU64,
    /// Why the follower stopped for good (a refused token, an event it cannot copy).
    failure: Mutex<Option<String>>,
}

impl ReplicaStatus {
    pub fn new(writer: String) -> Self {
        Self {
            writer,
            caught_up: AtomicBool::new(false),
            last_position: Mutex::new(None),
            events: AtomicU64::new(0),
            failure: Mutex::new(None),
        }
    }

    /// The writer, as refusals name it.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    pub fn last_position(&self) -> Option<Position> {
        *self
            .last_position
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Acquire)
    }

    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn received(&self, position: Position) {
        *self
            .last_position
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(position);
        self.events.fetch_add(1, Ordering::AcqRel);
    }

    fn reached_head(&self) {
        self.caught_up.store(true, Ordering::Release);
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "the replica stopped following its writer");
        *self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
    }

    /// The replica's part of `/readyz`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "writer": self.writer,
            "caught_up": self.caught_up(),
            "last_position": self.last_position(),
            "events": self.events(),
            "failure": self.failure(),
        })
    }
}

/// The replica's event log: the copy of the writer's, which nothing but the follower writes.
/// Every append is refused, so that no path of the server (a mutation that slipped past the
/// GraphQL refusal, a retention run) can write into the copy.
#[derive(Debug)]
pub struct ReplicaLog {
    copy: Arc<InMemoryLog>,
    writer: String,
}

impl ReplicaLog {
    pub fn new(copy: Arc<InMemoryLog>, writer: String) -> Self {
        Self { copy, writer }
    }
}

#[async_trait]
impl EventLog for ReplicaLog {
    async fn append(
        &self,
        stream: &str,
        _expected: ExpectedRevision,
        _events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, LogError> {
        Err(LogError::Storage(
            format!(
                "this node is a read replica of {}; it appends nothing (refused an append to `{stream}`)",
                self.writer
            )
            .into(),
        ))
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        self.copy.read_stream(stream, from, direction, limit).await
    }

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        self.copy.read_all(from, direction, limit).await
    }

    async fn subscribe_all(&self, from: AllFrom) -> Result<Subscription, LogError> {
        self.copy.subscribe_all(from).await
    }

    async fn find_event(&self, stream: &str, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        self.copy.find_event(stream, id).await
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError> {
        self.copy.stream_revision(stream).await
    }

    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, LogError> {
        self.copy.stream_names(prefix).await
    }

    async fn last_position(&self) -> Result<Option<Position>, LogError> {
        self.copy.last_position().await
    }

    async fn close(&self) -> Result<(), LogError> {
        self.copy.close().await
    }
}

/// An opened replica: the context the server runs on, and the follower that fills its log.
#[derive(Debug)]
pub struct Opened {
    pub context: Context,
    pub follower: follow::Follower,
    pub status: Arc<ReplicaStatus>,
}

/// Opens the replica's data directory (its own tokens, audit log and key store) with an empty
/// copy of the writer's log, and a follower for `config`'s writer.
pub async fn open(options: &Options, config: &ReplicaConfig) -> Result<Opened, CliError> {
    if options.store != LogStore::Sled {
        return Err("--replica-of keeps the writer's log in memory, so --store does not apply: leave it out (the writer has the --store)".into());
    }
    let mut rng = StdRng::from_entropy();
    let store = open_store(&options.data_dir)?;
    // The replica's own master key seals its own key store (tombstones of erased persons); it
    // is not the writer's and opens nothing of the writer's.
    let (master, generated) =
        keys::load_master_key(&options.master_key_source(), &options.data_dir, &mut rng)?;
    if generated {
        tracing::info!(
            data_dir = %options.data_dir.display(),
            "generated this replica's own master key"
        );
    }
    let pseudonym_key = match &config.pseudonym_key_file {
        None => derive_pseudonym_key(master.as_bytes()),
        Some(path) => *keys::load_master_key(&MasterKeySource::File(path.clone()), &options.data_dir, &mut rng)
            .map_err(|error| {
                format!(
                    "--pseudonym-key-file: {error}; give the file `journey keys pseudonym-key --out FILE` wrote on the writer"
                )
            })?
            .0
            .as_bytes(),
    };
    let keys = Arc::new(KeyStore::open(&store, master, &mut rng)?);
    let writer = config.writer();
    let copy = Arc::new(InMemoryLog::default());
    let log: Arc<dyn EventLog> = Arc::new(ReplicaLog::new(copy.clone(), writer.clone()));
    let ledger = Arc::new(Ledger::new(
        log.clone(),
        keys,
        Arc::new(SystemClock),
        Box::new(StdRng::from_entropy()),
        LedgerConfig::default(),
    ));
    let status = Arc::new(ReplicaStatus::new(writer));
    let follower =
        follow::Follower::connect(&config.connection, copy, ledger.clone(), status.clone())?;
    follower.check_access().await?;
    Ok(Opened {
        context: Context {
            store,
            log,
            sled_log: None,
            ledger,
            pseudonym_key,
            data_dir: options.data_dir.clone(),
        },
        follower,
        status,
    })
}
