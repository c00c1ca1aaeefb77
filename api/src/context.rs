//! Opening the data directory: the store, the key store, the event log and the ledger.

use std::path::PathBuf;
use std::sync::Arc;

use journey_core::clock::SystemClock;
use journey_core::keys::{self, KeyStore, MasterKeySource};
use journey_core::ledger::{Ledger, LedgerConfig};
use journey_core::log::{EventLog, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Where the data lives, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub master_key_file: Option<PathBuf>,
}

/// An opened data directory.
#[derive(Debug)]
pub struct Context {
    pub store: Store,
    pub log: Arc<SledLog>,
    pub ledger: Arc<Ledger>,
}

/// Errors of the CLI: a message for a person, already saying what to do.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

impl Context {
    pub async fn open(options: &Options) -> Result<Self, CliError> {
        let source = match (
            &options.master_key_file,
            std::env::var("JOURNEY_MASTER_KEY"),
        ) {
            (Some(path), _) => MasterKeySource::File(path.clone()),
            (None, Ok(hex)) => MasterKeySource::Hex(hex),
            (None, Err(_)) => MasterKeySource::DataDir,
        };
        let mut rng = StdRng::from_entropy();
        let store = Store::open(&options.data_dir, &StoreConfig::default())?;
        let (master, generated) = keys::load_master_key(&source, &options.data_dir, &mut rng)?;
        if generated {
            eprintln!(
                "warning: generated a new master key in {}; back it up — without it the data cannot be read",
                options.data_dir.join(keys::MASTER_KEY_FILE).display()
            );
        }
        let keys = Arc::new(KeyStore::open(&store, master, &mut rng)?);
        let log = Arc::new(SledLog::open(&store, SledLogConfig::default())?);
        let ledger = Arc::new(Ledger::new(
            log.clone() as Arc<dyn EventLog>,
            keys,
            Arc::new(SystemClock),
            Box::new(StdRng::from_entropy()),
            LedgerConfig::default(),
        ));
        Ok(Self { store, log, ledger })
    }

    /// Flushes and closes the log.
    pub async fn close(self) -> Result<(), CliError> {
        self.log.close().await?;
        self.store.flush()?;
        Ok(())
    }
}
