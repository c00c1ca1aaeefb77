//! Work on every core, in shares: the one way this crate spreads independent work over threads.
//!
//! Decoding a page of the log, building the views of a cut, serializing journals for a snapshot and
//! opening them again are each a map over independent items whose results must come back in order
//! (log order, person order). Each splits its items into one contiguous share per thread, maps every
//! share on a thread of its own, and joins the shares in order; [`map_shares`] is that split and
//! join, so the rules below hold everywhere alike:
//!
//! - Contiguous shares, not interleaved items: each thread walks its part of a `BTreeMap` or a
//!   vector in order, and joining the results in share order restores the whole order.
//! - A panic on a thread is a bug; it surfaces on the caller as it would have without threads.
//! - One thread, or nothing to share, runs on the calling thread: starting a thread then only costs.

use std::ops::Range;

/// The cores to work on: what the machine offers.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `0..len` cut into at most `threads` contiguous, non-empty ranges of nearly equal length, in
/// order. Empty when `len` is 0.
pub fn shares(len: usize, threads: usize) -> Vec<Range<usize>> {
    let share = len.div_ceil(threads.max(1)).max(1);
    (0..len)
        .step_by(share)
        .map(|start| start..(start + share).min(len))
        .collect()
}

/// Maps each of the [`shares`] of `0..len` with `work`, each share on a thread of its own, and
/// returns the results in share order. With one share (or none) `work` runs on the calling thread.
pub fn map_shares<R, F>(len: usize, threads: usize, work: F) -> Vec<R>
where
    R: Send,
    F: Fn(Range<usize>) -> R + Sync,
{
    each_on_a_thread(shares(len, threads), &work)
}

/// [`map_shares`] for work that consumes its items: `work` gets each share's items, owned.
pub fn map_owned<T, R, F>(items: Vec<T>, threads: usize, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(Vec<T>) -> R + Sync,
{
    each_on_a_thread(split_owned(items, threads), &work)
}

/// Runs `work` on each part, each on a thread of its own (one part on the calling thread), and
/// returns the results in the parts' order.
fn each_on_a_thread<P, R, F>(parts: Vec<P>, work: &F) -> Vec<R>
where
    P: Send,
    R: Send,
    F: Fn(P) -> R + Sync,
{
    if parts.len() <= 1 {
        return parts.into_iter().map(work).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// `items` cut into the owned parts [`shares`] describes.
fn split_owned<T>(mut items: Vec<T>, threads: usize) -> Vec<Vec<T>> {
    let ranges = shares(items.len(), threads);
    let mut parts = Vec::with_capacity(ranges.len());
    // Taken from the back, so each split moves only the part it cuts off.
    for range in ranges.into_iter().rev() {
        parts.push(items.split_off(range.start));
    }
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_index_once_in_order_and_are_never_empty() {
        for len in 0..40 {
            for threads in 0..9 {
                let ranges = shares(len, threads);
                let covered: Vec<usize> = ranges.iter().cloned().flatten().collect();
                assert_eq!(covered, (0..len).collect::<Vec<_>>(), "{len} on {threads}");
                assert!(ranges.len() <= threads.max(1), "{len} on {threads}");
                assert!(ranges.iter().all(|range| !range.is_empty()));
            }
        }
    }

    #[test]
    fn results_come_back_in_share_order_whatever_the_thread_count() {
        let items: Vec<u64> = (0..1000).collect();
        for threads in 1..6 {
            let mapped: Vec<u64> = map_shares(items.len(), threads, |range| {
                items[range].iter().map(|item| item * 3).collect::<Vec<_>>()
            })
            .into_iter()
            .flatten()
            .collect();
            assert_eq!(
                mapped,
                items.iter().map(|item| item * 3).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn owned_items_are_mapped_in_order_in_one_part_per_share() {
        for threads in 1..6 {
            let parts = map_owned((0..11).collect::<Vec<u32>>(), threads, |part| part);
            assert_eq!(parts.len(), shares(11, threads).len());
            assert_eq!(parts.concat(), (0..11).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panic_on_a_share_reaches_the_caller() {
        let outcome = std::panic::catch_unwind(|| {
            map_shares(100, 4, |range| {
                assert!(!range.contains(&60), "share with 60");
                range.len()
            })
        });
        let panic = outcome.expect_err("the panic of the third share");
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied());
        assert_eq!(message, Some("share with 60"));
    }
}
