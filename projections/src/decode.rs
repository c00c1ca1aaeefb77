//! Decoding a page of the log on every core, for the rebuild and the live loop alike.
//!
//! Opening an event (decrypting its payload, parsing and upcasting it) costs several times what
//! applying it to the journals does, and each event is opened on its own, so a page splits into one
//! contiguous chunk per core, decoded at once and put back in log order. Applying stays sequential:
//! positions must come in order ([`crate::State::apply`]).

use std::sync::Arc;

use journey_core::ledger::{DecodedEvent, Ledger, LedgerError};
use journey_core::log::RecordedEvent;

use crate::runner::ProjectionError;

/// Pages shorter than this are decoded on the calling thread: starting threads would cost more
/// than they save (the live loop's usual batch is one append of a few events).
const PARALLEL_FROM_EVENTS: usize = 64;

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

/// [`decode_page`] off the async workers (a page of thousands of events takes milliseconds).
pub async fn decode_page_blocking(
    ledger: Arc<Ledger>,
    page: Vec<RecordedEvent>,
) -> Result<Vec<DecodedEvent>, ProjectionError> {
    if page.len() < PARALLEL_FROM_EVENTS {
        return Ok(decode_page(&ledger, page, 1)?);
    }
    let threads = decode_threads();
    match tokio::task::spawn_blocking(move || decode_page(&ledger, page, threads)).await {
        Ok(decoded) => Ok(decoded?),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Only a runtime shutting down cancels a blocking task.
        Err(error) => Err(ProjectionError::Stopped(format!(
            "decoding a page was cancelled: {error}"
        ))),
    }
}
