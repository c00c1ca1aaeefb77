//! A subscription to the ledger's part of `$all` that survives the server going away.
//!
//! A task follows the server's filtered `$all` subscription and hands each ledger event to the
//! reader. When the connection is lost (a restart, a leader change) it waits with back-off and
//! subscribes again from the position of the last event it delivered; the server's subscriptions
//! start after the position they are given, so the reader sees no gap and no duplicate. Positions
//! are checked on the way through: an event at or before one already delivered is dropped, so that
//! a server which repeats itself cannot make the reader see an event twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kurrentdb::{Client, StreamPosition, SubscribeToAllOptions, SubscriptionEvent};
use tokio::sync::mpsc;

use super::{at, codec, is_unavailable, ledger_filter, RetryPolicy};
use crate::log::{LogError, RecordedEvent, Subscription};

/// Events buffered between the task and the reader.
const BUFFER_EVENTS: usize = 1024;

/// A subscription from position `from` (inclusive).
pub fn follow(
    client: Client,
    from: u64,
    retry: RetryPolicy,
    closed: Arc<AtomicBool>,
) -> Subscription {
    let (sender, receiver) = mpsc::channel(BUFFER_EVENTS);
    tokio::spawn(run(client, from, retry, closed, sender));
    Subscription::new(receiver)
}

type Sender = mpsc::Sender<Result<RecordedEvent, LogError>>;

async fn run(
    client: Client,
    from: u64,
    retry: RetryPolicy,
    closed: Arc<AtomicBool>,
    sender: Sender,
) {
    // The first position the reader has not seen yet.
    let mut next = from;
    let mut failures = 0u32;
    while !closed.load(Ordering::Acquire) && !sender.is_closed() {
        // Subscriptions start after the position given, so the one before `next` is given.
        let start = match next.checked_sub(1) {
            None => StreamPosition::Start,
            Some(before) => at(before),
        };
        let options = SubscribeToAllOptions::default()
            .position(start)
            .filter(ledger_filter(""));
        let mut subscription = client.subscribe_to_all(&options).await;
        loop {
            if closed.load(Ordering::Acquire) {
                return;
            }
            let event = tokio::select! {
                event = subscription.next_subscription_event() => event,
                () = sender.closed() => return,
            };
            match event {
                Ok(SubscriptionEvent::EventAppeared(resolved)) => {
                    failures = 0;
                    match codec::decode(&resolved) {
                        Ok(Some(recorded)) if recorded.position >= next => {
                            next = recorded.position + 1;
                            if sender.send(Ok(recorded)).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            return;
                        }
                    }
                }
                Ok(SubscriptionEvent::Confirmed(_) | SubscriptionEvent::CaughtUp(_)) => {
                    failures = 0;
                }
                Ok(_) => {}
                Err(error) if is_unavailable(&error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, next, "the KurrentDB subscription lost its server; subscribing again");
                    tokio::select! {
                        () = tokio::time::sleep(retry.pause(failures)) => {}
                        () = sender.closed() => return,
                    }
                    break;
                }
                Err(error) => {
                    let _ = sender
                        .send(Err(LogError::Backend(format!(
                            "the KurrentDB server ended the subscription: {error}"
                        ))))
                        .await;
                    return;
                }
            }
        }
    }
}
