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

use super::{at, codec, is_unavailable, ledger_filter, refused, RetryPolicy};
use crate::log::{AllFrom, LogError, Position, RecordedEvent, Subscription};

/// Events buffered between the task and the reader.
const BUFFER_EVENTS: usize = 1024;

/// A subscription from `from`.
pub fn follow(
    client: Client,
    from: AllFrom,
    retry: RetryPolicy,
    closed: Arc<AtomicBool>,
) -> Subscription {
    let (sender, receiver) = mpsc::channel(BUFFER_EVENTS);
    tokio::spawn(run(client, from, retry, closed, sender));
    Subscription::new(receiver)
}

type Sender = mpsc::Sender<Result<RecordedEvent, LogError>>;

/// Where the server's subscription starts for the log's `from`: the server starts after the
/// position it is given (positions are integers, so "after p - 1" includes p).
fn start(from: AllFrom) -> StreamPosition<kurrentdb::Position> {
    match from {
        AllFrom::Start => StreamPosition::Start,
        AllFrom::End => StreamPosition::End,
        AllFrom::Including(position) => match position.raw().checked_sub(1) {
            Some(before) => at(before),
            None => StreamPosition::Start,
        },
        AllFrom::Excluding(position) => at(position.raw()),
    }
}

async fn run(
    client: Client,
    from: AllFrom,
    retry: RetryPolicy,
    closed: Arc<AtomicBool>,
    sender: Sender,
) {
    // The last position delivered to the reader; a new subscription continues after it.
    let mut last: Option<Position> = None;
    let mut failures = 0u32;
    while !closed.load(Ordering::Acquire) && !sender.is_closed() {
        let start = start(last.map_or(from, AllFrom::Excluding));
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
                        Ok(Some(recorded)) if last.is_none_or(|last| recorded.position > last) => {
                            last = Some(recorded.position);
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
                    tracing::warn!(%error, failures, ?last, "the KurrentDB subscription lost its server; subscribing again");
                    tokio::select! {
                        () = tokio::time::sleep(retry.pause(failures)) => {}
                        () = sender.closed() => return,
                    }
                    break;
                }
                Err(error) => {
                    let _ = sender
                        .send(Err(refused(format!(
                            "the KurrentDB server ended the subscription: {error}"
                        ))))
                        .await;
                    return;
                }
            }
        }
    }
}
