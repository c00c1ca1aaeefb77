//! The embedded store: one sled database in the data directory, shared by the event log and the key
//! store, so that one flush makes both durable.

use std::path::{Path, PathBuf};

use crate::log::LogError;

/// How often opening retries while the database lock is held, and how long it pauses in between.
const LOCK_ATTEMPTS: u32 = 20;
const LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// The sled database under `<data-dir>/ledger`.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
}

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// sled's page cache in bytes.
    pub cache_capacity_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `data_dir`. Fails with [`LogError::Locked`] when another process
    /// holds it.
    pub fn open(data_dir: &Path, config: &StoreConfig) -> Result<Self, LogError> {
        let path = data_dir.join("ledger");
        std::fs::create_dir_all(data_dir).map_err(|error| LogError::Storage(error.into()))?;
        // sled releases its file lock from a background thread a moment after the last handle of a
        // database is dropped, so reopening in the same process can briefly find it held. A short,
        // bounded wait covers that; a lock another process holds is still reported within a second.
        let mut attempts_left = LOCK_ATTEMPTS;
        loop {
            let opened = sled::Config::new()
                .path(&path)
                .cache_capacity(config.cache_capacity_bytes)
                .mode(sled::Mode::HighThroughput)
                .open();
            match opened {
                Ok(db) => return Ok(Self { db, path }),
                Err(sled::Error::Io(io)) if is_lock_error(&io) && attempts_left > 1 => {
                    attempts_left -= 1;
                    std::thread::sleep(LOCK_RETRY_PAUSE);
                }
                Err(error) => {
                    return Err(match &error {
                        sled::Error::Io(io) if is_lock_error(io) => LogError::Locked {
                            path: data_dir.display().to_string(),
                            source: Box::new(error),
                        },
                        _ => LogError::from(error),
                    })
                }
            }
        }
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The directory of the sled database files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), LogError> {
        self.db.flush()?;
        Ok(())
    }
}

fn is_lock_error(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
        || error.raw_os_error() == Some(11)
        || error.to_string().contains("lock")
}
