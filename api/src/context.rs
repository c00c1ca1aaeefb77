//! Opening the data directory: the store, the key store, the event log and the ledger.
//!
//! Every command that needs the store opens it here, so every one of them explains a locked data
//! directory the same way: naming the running `journey serve` from `server.json` and what to do.

use std::path::PathBuf;
use std::sync::Arc;

use journey_core::clock::SystemClock;
use journey_core::erasure_register::{self, ErasureRegister};
use journey_core::keys::{self, KeyStore, MasterKeySource};
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::kurrent::{self, KurrentLog, RetryPolicy};
use journey_core::log::{CheckpointPrefetch, EventLog, LogError, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::server_file;

/// Where the data lives, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub master_key_file: Option<PathBuf>,
    /// Where the erasure register is; `None`: beside the master key (see
    /// [`Options::erasure_register_path`]).
    pub erasure_register: Option<PathBuf>,
    /// Where the event log lives; keys, vault, tokens and audit stay in the data directory.
    pub store: LogStore,
}

/// Where the event log lives (`--store`).
#[derive(Clone, PartialEq, Eq, Default)]
pub enum LogStore {
    /// The embedded sled log in the data directory.
    #[default]
    Sled,
    /// A KurrentDB server, by a connection string of the `kurrentdb` crate.
    Kurrent(String),
}

impl LogStore {
    /// `sled`, or a connection string `kurrentdb://…`, `kurrentdb+discover://…`, `esdb://…`,
    /// `esdb+discover://…`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "sled" {
            return Ok(LogStore::Sled);
        }
        if kurrent::is_connection_string(text) {
            return Ok(LogStore::Kurrent(text.to_owned()));
        }
        Err(format!(
            "`{}` is not a store: write `sled` (the embedded log, the default) or a KurrentDB connection string such as `kurrentdb://admin:changeit@localhost:2113?tlsCaFile=ca.crt` (also `esdb://…`, `kurrentdb+discover://…`)",
            kurrent::redact(text)
        ))
    }
}

/// Connection strings carry passwords: they are shown redacted, also in `{:?}`.
impl std::fmt::Debug for LogStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogStore::Sled => formatter.write_str("Sled"),
            LogStore::Kurrent(connection) => formatter
                .debug_tuple("Kurrent")
                .field(&kurrent::redact(connection))
                .finish(),
        }
    }
}

impl Options {
    /// Where the master key comes from: the file option, else `JOURNEY_MASTER_KEY`, else the
    /// data directory's generated `master.key`.
    pub fn master_key_source(&self) -> MasterKeySource {
        match (&self.master_key_file, std::env::var("JOURNEY_MASTER_KEY")) {
            (Some(path), _) => MasterKeySource::File(path.clone()),
            (None, Ok(hex)) => MasterKeySource::Hex(hex),
            (None, Err(_)) => MasterKeySource::DataDir,
        }
    }

    /// The erasure register: the configured file, else `<master-key-file>.erasures` beside the
    /// master key file, else `<data-dir>/master.key.erasures` beside the generated key (or, with a
    /// key from `JOURNEY_MASTER_KEY`, in the data directory, where backups still never copy it).
    /// It is kept with the master key because an administrator must keep both outside the data
    /// directory's backups anyway; see `docs/adr/0003-erasures-survive-restores.md`.
    pub fn erasure_register_path(&self) -> PathBuf {
        let beside = |key: &std::path::Path| {
            let mut name = key.as_os_str().to_owned();
            name.push(erasure_register::REGISTER_SUFFIX);
            PathBuf::from(name)
        };
        match (&self.erasure_register, &self.master_key_file) {
            (Some(path), _) => path.clone(),
            (None, Some(key)) => beside(key),
            (None, None) => beside(&self.data_dir.join(keys::MASTER_KEY_FILE)),
        }
    }
}

/// An opened data directory.
#[derive(Debug)]
pub struct Context {
    pub store: Store,
    pub log: Arc<dyn EventLog>,
    /// The embedded log when the log is embedded (`--store sled`): backups copy it.
    pub sled_log: Option<Arc<SledLog>>,
    pub ledger: Arc<Ledger>,
    /// The key of analyst pseudonyms, derived from the master key (so it changes with it).
    pub pseudonym_key: [u8; 32],
    pub data_dir: PathBuf,
}

/// Errors of the CLI: a message for a person, already saying what to do.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

impl Context {
    pub async fn open(options: &Options) -> Result<Self, CliError> {
        let started = std::time::Instant::now();
        let source = options.master_key_source();
        let mut rng = StdRng::from_entropy();
        // The embedded log's index checkpoint is read beside sled's open (both read files for
        // seconds at a million persons), and handed to the log's open below.
        let prefetched = match options.store {
            LogStore::Sled => SledLog::prefetch_checkpoint(&options.data_dir),
            LogStore::Kurrent(_) => None,
        };
        let store = open_store(&options.data_dir)?;
        let store_ms = started.elapsed().as_millis() as u64;
        let (master, generated) = keys::load_master_key(&source, &options.data_dir, &mut rng)?;
        if generated {
            eprintln!(
                "warning: generated a new master key in {}; back it up — without it the data cannot be read",
                options.data_dir.join(keys::MASTER_KEY_FILE).display()
            );
        }
        let pseudonym_key = derive_pseudonym_key(master.as_bytes());
        let register = ErasureRegister::open(&options.erasure_register_path())?;
        let keys = KeyStore::open(&store, master, &mut rng)?.with_erasure_register(register);
        // Before anything reads or writes: a data directory restored (or copied back) from before
        // an erasure must not serve the erased person for a moment.
        let reapplied = keys.apply_erasure_register(&mut rng)?;
        if !reapplied.is_empty() {
            tracing::warn!(
                persons = reapplied.len(),
                "destroyed the data keys of persons the erasure register lists as erased (a restored or copied-back data directory)"
            );
        }
        let keys = Arc::new(keys);
        let keys_ms = started.elapsed().as_millis() as u64;
        let (log, sled_log) = open_log(&options.store, &store, prefetched)?;
        let log_ms = started.elapsed().as_millis() as u64;
        let ledger = Arc::new(Ledger::new(
            log.clone(),
            keys,
            Arc::new(SystemClock),
            Box::new(StdRng::from_entropy()),
            LedgerConfig::default(),
        ));
        let finished = ledger.finish_interrupted_erasures().await?;
        if !finished.is_empty() {
            tracing::warn!(
                persons = finished.len(),
                "finished erasures that a crash had cut off before their data keys were destroyed"
            );
        }
        tracing::info!(
            store_ms,
            keys_ms = keys_ms - store_ms,
            log_ms = log_ms - keys_ms,
            erasures_ms = started.elapsed().as_millis() as u64 - log_ms,
            "the data directory is open"
        );
        Ok(Self {
            store,
            log,
            sled_log,
            ledger,
            pseudonym_key,
            data_dir: options.data_dir.clone(),
        })
    }

    /// Flushes and closes the log.
    pub async fn close(self) -> Result<(), CliError> {
        self.log.close().await?;
        self.store.flush()?;
        Ok(())
    }
}

/// The data directory's store; a store another process holds is explained from its
/// `server.json`.
pub(crate) fn open_store(data_dir: &std::path::Path) -> Result<Store, CliError> {
    match Store::open(data_dir, &StoreConfig::default()) {
        Ok(store) => Ok(store),
        Err(LogError::Locked { .. }) => Err(server_file::locked_message(data_dir).into()),
        Err(error) => Err(error.into()),
    }
}

/// An opened event log, and the same log as the embedded one when it is embedded.
type OpenedLog = (Arc<dyn EventLog>, Option<Arc<SledLog>>);

/// The event log `store` names (the embedded one with its index checkpoint as `prefetched` read
/// it).
fn open_log(
    store: &LogStore,
    embedded: &Store,
    prefetched: Option<CheckpointPrefetch>,
) -> Result<OpenedLog, CliError> {
    match store {
        LogStore::Sled => {
            let log = Arc::new(SledLog::open_prefetched(
                embedded,
                SledLogConfig::default(),
                prefetched,
            )?);
            Ok((log.clone(), Some(log)))
        }
        LogStore::Kurrent(connection) => {
            // The client's TLS needs a process-wide provider when the build enables more than
            // one; a second install (the gRPC endpoint's) is refused, which is fine.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let log = KurrentLog::connect(connection, RetryPolicy::default())?;
            Ok((Arc::new(log), None))
        }
    }
}

/// HMAC-SHA-256 of a fixed label under the master key: a key for pseudonyms that is never the master
/// key itself.
pub fn derive_pseudonym_key(master: &[u8; 32]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(master)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"journey/v1/analyst-pseudonyms");
    mac.finalize().into_bytes().into()
}
