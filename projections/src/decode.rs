//! Decoding the log ahead of applying it, on every core, for the rebuild and the live loop alike.
//!
//! Opening an event (decrypting its payload, parsing and upcasting it) and reading it from the
//! store each cost several times what applying it to the journals does, and each event is opened on
//! its own. Applying stays sequential: positions must come in order ([`crate::State::apply`]). So
//! the three overlap: [`LogPages`] reads pages in a task of its own, [`DecodeAhead`] decodes as many
//! pages at once as there are cores (each page on a blocking thread of its own), and the caller
//! applies the oldest decoded page meanwhile. Pages come back in the order they were read.

use std::collections::VecDeque;
use std::sync::Arc;

use journey_core::ledger::{DecodedEvent, Ledger, LedgerError};
use journey_core::log::{AllFrom, Direction, EventLog, LogError, Position, RecordedEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::runner::ProjectionError;

/// Pages shorter than this are decoded on the calling thread: handing them to another thread would
/// cost more than it saves (the live loop's usual batch is one append of a few events).
const PARALLEL_FROM_EVENTS: usize = 64;

/// Pages read ahead of the decoding: enough that a decoding thread never waits for the reader
/// while the reader is no slower than it, few enough to bound the memory they hold.
const READ_AHEAD_PAGES: usize = 2;

/// The cores to decode on: what the machine offers.
pub use crate::parallel::threads as decode_threads;

/// Decodes `page` in log order, on up to `threads` threads. The first error in log order is the
/// one returned, as a decoding loop would have stopped there.
pub fn decode_page(
    ledger: &Ledger,
    page: Vec<RecordedEvent>,
    threads: usize,
) -> Result<Vec<DecodedEvent>, LedgerError> {
    let decode_all = |part: Vec<RecordedEvent>| -> Result<Vec<DecodedEvent>, LedgerError> {
        part.into_iter()
            .map(|recorded| ledger.decode(recorded))
            .collect()
    };
    if threads <= 1 || page.len() < PARALLEL_FROM_EVENTS {
        return decode_all(page);
    }
    let len = page.len();
    let decoded = crate::parallel::map_owned(page, threads, decode_all);
    let mut events = Vec::with_capacity(len);
    for part in decoded {
        events.extend(part?);
    }
    Ok(events)
}

/// A page handed to [`DecodeAhead`]: decoded already (a short one) or being decoded.
#[derive(Debug)]
enum Pending {
    Decoded(Result<Vec<DecodedEvent>, LedgerError>),
    Decoding(JoinHandle<Result<Vec<DecodedEvent>, LedgerError>>),
}

/// Pages being decoded while the caller applies the oldest one: up to one page per core at once,
/// each on a blocking thread of its own, handed back in the order they were pushed.
///
/// A page is decoded whole on one thread rather than split over every core: with as many pages in
/// flight as cores, every core decodes without a thread started or joined per page, and the
/// applying thread takes its share of the cores between them.
#[derive(Debug)]
pub struct DecodeAhead {
    ledger: Arc<Ledger>,
    depth: usize,
    pending: VecDeque<Pending>,
}

impl DecodeAhead {
    /// Up to [`decode_threads`] pages in flight.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self::with_depth(ledger, decode_threads())
    }

    /// Up to `depth` pages in flight (at least one).
    pub fn with_depth(ledger: Arc<Ledger>, depth: usize) -> Self {
        Self {
            ledger,
            depth: depth.max(1),
            pending: VecDeque::new(),
        }
    }

    /// Whether another page may be pushed before the oldest is taken.
    pub fn has_room(&self) -> bool {
        self.pending.len() < self.depth
    }

    /// Whether no page is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Starts decoding `page` (a short page is decoded here and now).
    pub fn push(&mut self, page: Vec<RecordedEvent>) {
        let pending = if page.len() < PARALLEL_FROM_EVENTS {
            Pending::Decoded(decode_page(&self.ledger, page, 1))
        } else {
            let ledger = self.ledger.clone();
            Pending::Decoding(tokio::task::spawn_blocking(move || {
                decode_page(&ledger, page, 1)
            }))
        };
        self.pending.push_back(pending);
    }

    /// The oldest pending page, decoded; `None` when none is pending. Cancel safe: a call dropped
    /// before it returns leaves the page pending.
    pub async fn next(&mut self) -> Option<Result<Vec<DecodedEvent>, ProjectionError>> {
        let decoded = match self.pending.front_mut()? {
            Pending::Decoded(decoded) => std::mem::replace(decoded, Ok(Vec::new())),
            Pending::Decoding(handle) => match handle.await {
                Ok(decoded) => decoded,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                // Only a runtime shutting down cancels a blocking task.
                Err(error) => {
                    self.pending.pop_front();
                    return Some(Err(ProjectionError::Stopped(format!(
                        "decoding a page was cancelled: {error}"
                    ))));
                }
            },
        };
        self.pending.pop_front();
        Some(decoded.map_err(ProjectionError::from))
    }
}

/// The log after a position, read, decoded and handed out page by page, each step ahead of the
/// next: the rebuild's source. Reading ends at the first empty page (the log's end as then read).
#[derive(Debug)]
pub struct LogPages {
    read: mpsc::Receiver<Result<Vec<RecordedEvent>, LogError>>,
    reading: bool,
    decoding: DecodeAhead,
}

impl LogPages {
    /// The log's events after `checkpoint` (all of them when `None`), in pages of `page_events`.
    pub fn after(ledger: Arc<Ledger>, checkpoint: Option<Position>, page_events: usize) -> Self {
        let (sender, read) = mpsc::channel(READ_AHEAD_PAGES);
        tokio::spawn(read_pages(
            ledger.log().clone(),
            checkpoint,
            page_events,
            sender,
        ));
        Self {
            read,
            reading: true,
            decoding: DecodeAhead::new(ledger),
        }
    }

    /// The next page, decoded; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<Vec<DecodedEvent>, ProjectionError>> {
        // Keep every core decoding: hand over the pages read so far, and wait for the reader only
        // when nothing is being decoded.
        while self.reading && self.decoding.has_room() {
            let read = if self.decoding.is_empty() {
                self.read.recv().await
            } else {
                match self.read.try_recv() {
                    Ok(page) => Some(page),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            };
            match read {
                Some(Ok(page)) => self.decoding.push(page),
                Some(Err(error)) => {
                    self.reading = false;
                    return Some(Err(error.into()));
                }
                None => self.reading = false,
            }
        }
        self.decoding.next().await
    }
}

/// Reads the log after `checkpoint` page by page into `sender` until a page comes back empty, a
/// read fails (the error is sent) or the receiver is gone.
async fn read_pages(
    log: Arc<dyn EventLog>,
    mut checkpoint: Option<Position>,
    page_events: usize,
    sender: mpsc::Sender<Result<Vec<RecordedEvent>, LogError>>,
) {
    loop {
        let page = log
            .read_all(AllFrom::after(checkpoint), Direction::Forwards, page_events)
            .await;
        let page = match page {
            Ok(page) if page.is_empty() => return,
            Ok(page) => page,
            Err(error) => {
                let _ = sender.send(Err(error)).await;
                return;
            }
        };
        checkpoint = page.last().map(|last| last.position);
        if sender.send(Ok(page)).await.is_err() {
            return;
        }
    }
}
