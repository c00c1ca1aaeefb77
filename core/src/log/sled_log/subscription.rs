//! `$all` subscriptions: catch-up from the store, then every group as its head is published.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// Feeds one subscription: reads pages by position from the store up to the committed head, then
/// waits for the head to move. Reading by position (never from the write path) is what makes the
/// switch from catch-up to live free of gaps and duplicates.
#[derive(Debug)]
pub(super) struct SubscriptionTask {
    pub(super) reader: Reader,
    pub(super) head: watch::Receiver<Head>,
    /// The next position to deliver.
    pub(super) next: u64,
    pub(super) page_size: usize,
    pub(super) sender: mpsc::Sender<Result<RecordedEvent, LogError>>,
}

impl SubscriptionTask {
    pub(super) async fn run(mut self) {
        loop {
            let head = *self.head.borrow_and_update();
            while self.next < head.next_position {
                let reader = self.reader.clone();
                let (from, limit, bound) = (self.next, self.page_size, head.next_position);
                let page = run_blocking(move || reader.read_forwards(from, limit, bound)).await;
                match page {
                    Ok(events) => {
                        for event in events {
                            self.next = event.position.raw() + 1;
                            // The bounded channel waits here for a slow subscriber (backpressure).
                            if self.sender.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        let _ = self.sender.send(Err(error)).await;
                        return;
                    }
                }
            }
            if head.closed {
                return;
            }
            tokio::select! {
                changed = self.head.changed() => {
                    if changed.is_err() {
                        // The writer is gone without marking the head closed (it panicked); deliver
                        // what was committed and end.
                        let last = self.head.borrow().next_position;
                        self.drain_to(last).await;
                        return;
                    }
                }
                () = self.sender.closed() => return,
            }
        }
    }

    /// Delivers the events below `bound` that are still due.
    pub(super) async fn drain_to(&mut self, bound: u64) {
        while self.next < bound {
            let reader = self.reader.clone();
            let (from, limit) = (self.next, self.page_size);
            match run_blocking(move || reader.read_forwards(from, limit, bound)).await {
                Ok(events) => {
                    for event in events {
                        self.next = event.position.raw() + 1;
                        if self.sender.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(error) => {
                    let _ = self.sender.send(Err(error)).await;
                    return;
                }
            }
        }
    }
}
