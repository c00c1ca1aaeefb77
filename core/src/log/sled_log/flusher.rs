//! The flusher thread of the group commit: one flush for every applied group waiting, then the
//! new committed head, then the acknowledgements.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// How many applied groups may wait for the flusher before the writer waits too.
pub(super) const FLUSH_QUEUE_GROUPS: usize = 2;

pub(super) type Reply = oneshot::Sender<Result<AppendOutcome, LogError>>;

/// A group that is applied and waits to be flushed and acknowledged.
pub(super) struct Pending {
    pub(super) replies: Vec<(Reply, Result<AppendOutcome, LogError>)>,
    /// The committed head once this group is durable; `None` when the group wrote nothing.
    pub(super) next_position: Option<u64>,
    /// Taken after the group's batch was applied: a flush of the store that began after it (this
    /// thread's, or one the key store or the audit log ran meanwhile) makes the group durable.
    pub(super) ticket: FlushTicket,
}

/// The flusher: takes every applied group waiting, flushes once, publishes the new committed head,
/// then acknowledges them. On a storage error it fails them and marks the log failed.
pub(super) fn flush_loop(
    store: Store,
    head: std::sync::Arc<watch::Sender<Head>>,
    stats: std::sync::Arc<WriterStats>,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    from_writer: std::sync::mpsc::Receiver<Pending>,
) {
    while let Ok(first) = from_writer.recv() {
        let mut groups = vec![first];
        while let Ok(next) = from_writer.try_recv() {
            groups.push(next);
        }
        let next_position = groups.iter().filter_map(|group| group.next_position).max();
        let ticket = groups.iter().map(|group| group.ticket).max();
        if failed.load(std::sync::atomic::Ordering::Acquire) {
            // An earlier flush failed: what sled holds is unknown, so nothing is acknowledged any
            // more (a replay may point into a group that never became durable); rejections stay.
            for group in groups {
                for (reply, result) in group.replies {
                    let result = match result {
                        Ok(_) => Err(LogError::Closed),
                        rejection => rejection,
                    };
                    let _ = reply.send(result);
                }
            }
            continue;
        }
        let flushed = if let (Some(_), Some(ticket)) = (next_position, ticket) {
            let started = std::time::Instant::now();
            let result = store.flush_after(ticket);
            stats.flush_ns.fetch_add(
                started.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            result
        } else {
            Ok(())
        };
        match flushed {
            Ok(()) => {
                if let Some(next_position) = next_position {
                    // Publishing before replying means an acknowledged writer reads its own events.
                    head.send_modify(|head| head.next_position = next_position);
                }
                for group in groups {
                    for (reply, result) in group.replies {
                        // The appender may have gone away; the write stands regardless.
                        let _ = reply.send(result);
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "the event log stops after a failed flush");
                failed.store(true, std::sync::atomic::Ordering::Release);
                for group in groups {
                    for (reply, result) in group.replies {
                        let result = match result {
                            Err(rejection) => Err(rejection),
                            Ok(_) => Err(LogError::from(error.clone())),
                        };
                        let _ = reply.send(result);
                    }
                }
            }
        }
    }
}
