//! The embedded store: one sled database in the data directory, shared by the event log, the key
//! store, the vault and the audit log, so that one flush makes all of them durable.
//!
//! sled's flush is database-wide, whichever tree it is called on. The store therefore runs every
//! flush of its users through one group commit ([`Store::flush_after`]): a writer that needs its
//! writes durable takes a [`FlushTicket`] after writing, and any flush that began after that (the
//! log's next group commit, another caller's) covers it, so the log, the keys and the audit log
//! share their flushes instead of each paying its own.
//!
//! Async callers wait with [`Store::flushed_after`]: while any flush is under way they wait for it
//! on the runtime instead of parking a thread of the blocking pool on the flush lock, and only when
//! none is does one of them start a flush.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::log::LogError;

/// How often opening retries while the database lock is held, and how long it pauses in between.
const LOCK_ATTEMPTS: u32 = 20;
const LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// The sled database under `<data-dir>/ledger`.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    flushes: Arc<Flushes>,
}

/// The group commit of the whole database (see the module).
#[derive(Debug, Default)]
struct Flushes {
    /// How many flushes have begun; the n-th flush to begin has the number n.
    begun: AtomicU64,
    /// The number of the last flush that finished. Flushes run one at a time (`one_at_a_time`), so
    /// this only grows, and every flush numbered up to it has finished.
    finished: AtomicU64,
    one_at_a_time: Mutex<()>,
    /// How many callers are inside [`Store::flush_after`] past its first check: flushing, or about
    /// to flush or to find themselves covered once the flush ahead of them is done.
    under_way: AtomicUsize,
    /// Woken whenever a caller leaves [`Store::flush_after`] (after it flushed or found itself
    /// covered), so that async waiters look again.
    left: tokio::sync::Notify,
}

/// Counts a caller of [`Store::flush_after`] as under way until it leaves, and wakes the async
/// waiters when it does, whichever way it leaves (covered, flushed or failed).
struct UnderWay<'a>(&'a Flushes);

impl<'a> UnderWay<'a> {
    fn enter(flushes: &'a Flushes) -> Self {
        flushes.under_way.fetch_add(1, Ordering::SeqCst);
        Self(flushes)
    }
}

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.0.under_way.fetch_sub(1, Ordering::SeqCst);
        self.0.left.notify_waiters();
    }
}

/// What a writer holds after writing: the number of flushes begun by then. Every flush numbered
/// above it began after the writes, so it makes them durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(u64);

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
        let path = Self::path_in(data_dir);
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
                Ok(db) => {
                    return Ok(Self {
                        db,
                        path,
                        flushes: Arc::default(),
                    })
                }
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

    /// The directory of the sled database files of the store in `data_dir` ([`Store::path`]).
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("ledger")
    }

    /// The directory of the sled database files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every write so far durable, sharing a flush with concurrent callers.
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_after(self.ticket())?;
        Ok(())
    }

    /// The ticket of every write done before this call (see [`FlushTicket`]).
    pub fn ticket(&self) -> FlushTicket {
        FlushTicket(self.flushes.begun.load(Ordering::SeqCst))
    }

    /// Makes the writes done before `ticket` was taken durable: returns at once when a flush that
    /// began after the ticket has finished, else waits for the flush running now (which may have
    /// begun after the ticket, and then covers it) and flushes itself only when that one did not.
    /// Blocks the calling thread for the length of a flush; async callers run it on the blocking pool.
    pub fn flush_after(&self, ticket: FlushTicket) -> sled::Result<()> {
        if self.covers(ticket) {
            return Ok(());
        }
        let _under_way = UnderWay::enter(&self.flushes);
        let _one_at_a_time = self
            .flushes
            .one_at_a_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.covers(ticket) {
            return Ok(());
        }
        let number = self.flushes.begun.fetch_add(1, Ordering::SeqCst) + 1;
        self.db.flush()?;
        self.flushes.finished.store(number, Ordering::Release);
        Ok(())
    }

    /// [`Store::flush_after`] for async callers. While a flush is under way (the log's group
    /// commit, another caller's) the caller waits for it on the runtime and looks again when it is
    /// done, since that flush or the next may cover the ticket; only when none is under way does it
    /// flush, on the blocking pool. Under a steady stream of writes the log's flusher is nearly
    /// always flushing, so the waiters ride on its flushes instead of each sending a thread to
    /// queue for the flush lock.
    pub async fn flushed_after(&self, ticket: FlushTicket) -> Result<(), LogError> {
        loop {
            if self.covers(ticket) {
                return Ok(());
            }
            // Registered before the checks below, so that a caller leaving `flush_after` between
            // them and the wait still wakes this one.
            let left = self.flushes.left.notified();
            tokio::pin!(left);
            left.as_mut().enable();
            if self.covers(ticket) {
                return Ok(());
            }
            if self.flushes.under_way.load(Ordering::SeqCst) > 0 {
                left.await;
                continue;
            }
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.flush_after(ticket))
                .await
                .map_err(|error| {
                    LogError::Storage(format!("the flush did not finish: {error}").into())
                })??;
        }
    }

    /// True when a flush that began after `ticket` was taken has finished.
    pub fn covers(&self, ticket: FlushTicket) -> bool {
        self.flushes.finished.load(Ordering::Acquire) > ticket.0
    }

    /// How many flushes of the database have run through [`Store::flush_after`] (for benchmarks and
    /// tests that check flushes are shared).
    pub fn flushes_finished(&self) -> u64 {
        self.flushes.finished.load(Ordering::Acquire)
    }
}

fn is_lock_error(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::WouldBlock
        || error.raw_os_error() == Some(11)
        || error.to_string().contains("lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreConfig::default()).expect("store");
        (dir, store)
    }

    #[test]
    fn a_flush_that_began_after_a_ticket_covers_it_and_no_other_does() {
        let (_dir, store) = store();
        // Given a ticket taken before any flush.
        let first = store.ticket();
        assert!(!store.covers(first));
        // When someone flushes.
        store.flush().expect("flush");
        // Then the ticket is covered, and asking for it again flushes nothing.
        assert!(store.covers(first));
        store.flush_after(first).expect("flush");
        assert_eq!(store.flushes_finished(), 1);
        // But a ticket taken after that flush began is not covered by it, and gets a flush.
        let second = store.ticket();
        assert!(!store.covers(second));
        store.flush_after(second).expect("flush");
        assert!(store.covers(second));
        assert_eq!(store.flushes_finished(), 2);
    }

    #[tokio::test]
    async fn an_async_waiter_with_no_flush_under_way_flushes() {
        let (_dir, store) = store();
        // Given a write and its ticket, and no flush under way.
        store.db().insert("k", "v").expect("insert");
        let ticket = store.ticket();
        // When an async caller waits for it.
        store.flushed_after(ticket).await.expect("flush");
        // Then it ran the one flush that covers it.
        assert!(store.covers(ticket));
        assert_eq!(store.flushes_finished(), 1);
    }

    // The test holds the flush lock across its waits on purpose: it stands for the log's flusher
    // thread in the middle of a flush, and the waiters under test must never take it.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn async_waiters_ride_on_the_flush_under_way_instead_of_starting_their_own() {
        let (_dir, store) = store();
        // Given a flush under way: a caller inside `flush_after` holding the flush lock, as the
        // log's flusher thread is during its group commit (held here by hand, so the test decides
        // when it ends).
        let under_way = UnderWay::enter(&store.flushes);
        let lock = store.flushes.one_at_a_time.lock().expect("lock");
        let number = store.flushes.begun.fetch_add(1, Ordering::SeqCst) + 1;
        // And writers whose tickets were taken after that flush began.
        let waiters: Vec<_> = (0..8)
            .map(|writer| {
                store
                    .db()
                    .insert(format!("k{writer}"), "v")
                    .expect("insert");
                let ticket = store.ticket();
                let store = store.clone();
                tokio::spawn(async move { store.flushed_after(ticket).await })
            })
            .collect();
        // When they wait, none of them finishes, and none queues for the flush lock or starts a
        // flush of its own while that one runs: they wait on the runtime.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(waiters.iter().all(|waiter| !waiter.is_finished()));
        assert_eq!(store.flushes.under_way.load(Ordering::SeqCst), 1);
        assert_eq!(store.flushes.begun.load(Ordering::SeqCst), number);
        // When the flusher, finding more groups, begins its next flush as the first one ends.
        let next = UnderWay::enter(&store.flushes);
        store.db().flush().expect("flush");
        store.flushes.finished.store(number, Ordering::Release);
        let next_number = store.flushes.begun.fetch_add(1, Ordering::SeqCst) + 1;
        drop(under_way);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Then the first one, begun before their tickets, released none of them.
        assert!(waiters.iter().all(|waiter| !waiter.is_finished()));
        assert_eq!(store.flushes.under_way.load(Ordering::SeqCst), 1);
        // And when the next one ends, every waiter returns covered by it, having run no flush.
        store.db().flush().expect("flush");
        store.flushes.finished.store(next_number, Ordering::Release);
        drop(lock);
        drop(next);
        for waiter in waiters {
            waiter.await.expect("task").expect("covered");
        }
        assert_eq!(store.flushes.begun.load(Ordering::SeqCst), next_number);
        assert_eq!(store.flushes_finished(), next_number);
    }

    #[test]
    fn concurrent_writers_each_return_covered_and_share_flushes() {
        let (_dir, store) = store();
        let writers = 16;
        let rounds = 20;
        std::thread::scope(|scope| {
            for writer in 0..writers {
                let store = store.clone();
                scope.spawn(move || {
                    for round in 0..rounds {
                        let key = format!("{writer}-{round}");
                        store.db().insert(key.as_bytes(), "v").expect("insert");
                        let ticket = store.ticket();
                        store.flush_after(ticket).expect("flush");
                        assert!(store.covers(ticket), "returned before a covering flush");
                    }
                });
            }
        });
        assert!(store.flushes_finished() <= (writers * rounds) as u64);
    }
}
