//! One `$all` subscription to the log, fanned out to every live GraphQL subscription.
//!
//! A log subscription per WebSocket client would have every client read every event from the store;
//! the hub reads each event once and broadcasts it. A subscriber that falls more than
//! [`HUB_BUFFER_EVENTS`] events behind is told it lagged and its subscription ends with an error,
//! rather than silently missing events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use journey_core::log::{EventLog, RecordedEvent};
use tokio::sync::{broadcast, watch};

/// Events buffered per subscriber.
pub const HUB_BUFFER_EVENTS: usize = 4096;

/// The fan-out of committed events.
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<RecordedEvent>>,
    /// The position after the last event broadcast.
    next_position: Arc<AtomicU64>,
}

impl EventHub {
    /// Subscribes to the log from its current end and broadcasts until the log closes or
    /// `shutdown` turns true.
    pub async fn start(
        log: Arc<dyn EventLog>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Self, journey_core::log::LogError> {
        let from = log.next_position().await?;
        let mut subscription = log.subscribe_all(from).await?;
        let (sender, _) = broadcast::channel(HUB_BUFFER_EVENTS);
        let next_position = Arc::new(AtomicU64::new(from));
        let hub = Self {
            sender: sender.clone(),
            next_position: next_position.clone(),
        };
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = subscription.next() => next,
                    _ = shutdown.wait_for(|stopping| *stopping) => None,
                };
                match next {
                    Some(Ok(event)) => {
                        next_position.store(event.position + 1, Ordering::Release);
                        // No receiver is fine: nobody is subscribed right now.
                        let _ = sender.send(Arc::new(event));
                    }
                    Some(Err(error)) => {
                        tracing::error!(%error, "the log subscription of the event hub failed");
                        break;
                    }
                    None => break,
                }
            }
            tracing::debug!("event hub stopped");
        });
        Ok(hub)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RecordedEvent>> {
        self.sender.subscribe()
    }

    /// The position after the last event the hub has seen.
    pub fn next_position(&self) -> u64 {
        self.next_position.load(Ordering::Acquire)
    }
}
