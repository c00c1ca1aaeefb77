//! One `$all` subscription to the log, fanned out to every live GraphQL subscription.
//!
//! A log subscription per WebSocket client would have every client read every event from the store;
//! the hub reads each event once and broadcasts it. A subscriber that falls more than
//! [`HUB_BUFFER_EVENTS`] events behind is told it lagged and its subscription ends with an error,
//! rather than silently missing events.

use std::sync::{Arc, Mutex, PoisonError};

use journey_core::log::{AllFrom, EventLog, Position, RecordedEvent};
use tokio::sync::{broadcast, watch};

/// Events buffered per subscriber.
pub const HUB_BUFFER_EVENTS: usize = 4096;

/// The fan-out of committed events.
#[derive(Debug, Clone)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<RecordedEvent>>,
    /// The position of the last event the hub has seen (at start: the log's head then).
    last_position: Arc<Mutex<Option<Position>>>,
}

impl EventHub {
    /// Subscribes to the log from its current end and broadcasts until the log closes or
    /// `shutdown` turns true.
    pub async fn start(
        log: Arc<dyn EventLog>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Self, journey_core::log::LogError> {
        let head = log.last_position().await?;
        let mut subscription = log.subscribe_all(AllFrom::after(head)).await?;
        let (sender, _) = broadcast::channel(HUB_BUFFER_EVENTS);
        let last_position = Arc::new(Mutex::new(head));
        let hub = Self {
            sender: sender.clone(),
            last_position: last_position.clone(),
        };
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = subscription.next() => next,
                    _ = shutdown.wait_for(|stopping| *stopping) => None,
                };
                match next {
                    Some(Ok(event)) => {
                        *last_position.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(event.position);
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

    /// The position of the last event the hub has seen (`None`: the log was empty and nothing came).
    pub fn last_position(&self) -> Option<Position> {
        *self
            .last_position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
