//! How a streaming gRPC call ended, in the audit log.
//!
//! The credentials layer ([`super::auth`]) audits every call when its answer begins: a refused call
//! there and then, with its code. `Streams.Read` (reads and subscriptions) and `Streams.BatchAppend`
//! go on answering after that, and may still end badly: a slow subscriber is dropped with
//! `RESOURCE_EXHAUSTED`, the server shuts down, the client goes away, a batch append is refused in
//! the middle of the call. For these calls the layer wraps the response body in an
//! [`AuditedBody`], which writes a closing entry with the call's final status when the last frame
//! (the trailers) goes out, or `CANCELLED` when the body is dropped before it (the client reset
//! the stream or the connection closed). The closing entry names the opening entry's sequence
//! number and what the call did ([`CallNotes`]: events sent, appends written and refused by code).
//!
//! As for the opening entry, an audit log that cannot be written refuses the call: the trailers
//! then carry `INTERNAL` instead of the call's own status. (A client that went away cannot be told.)
//!
//! Calls that write ([`WRITE_CALLS`]) are audited before they run (write-ahead): the opening entry,
//! with the outcome `begun`, is written before the service acts, and every call that writes gets a
//! closing entry with its outcome (a unary call's when its answer begins). The opening entry is
//! durable before the answer goes out, and costs no flush of its own when the call wrote: it is in
//! the store before the call's events, so the event log's group commit that makes them durable
//! makes it durable too ([`crate::audit::AuditLog::flush_through`]). Writing the entry after the
//! append instead cost every append a second flush, and concurrent writers fell into step waiting
//! for one flush and then the other. A refused call wrote nothing, so its two entries are flushed
//! before the refusal; the closing entry of a `BatchAppend` is flushed before its trailers; the
//! closing entry of an accepted unary call reaches the disk with the next flush (a crash in between
//! leaves its durable opening entry and its durable events).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::http::HeaderMap;
use bytes::Bytes;
use http_body::Frame;
use tonic::body::Body;
use tonic::{Code, Status};

use crate::audit::{AuditRecord, Written};
use crate::auth::Principal;
use crate::state::AppState;

use super::auth::code_name;

/// The calls whose answer is a stream of messages, which get a closing entry.
pub const STREAMING_CALLS: [&str; 2] = [
    "/event_store.client.streams.Streams/Read",
    "/event_store.client.streams.Streams/BatchAppend",
];

/// The calls that write: their audit entries are flushed before the answer.
pub const WRITE_CALLS: [&str; 4] = [
    "/event_store.client.streams.Streams/Append",
    "/event_store.client.streams.Streams/BatchAppend",
    "/event_store.client.streams.Streams/Delete",
    "/event_store.client.streams.Streams/Tombstone",
];

/// What a streaming call did, noted by the service as it goes (the layer puts one into every
/// request's extensions; a service without one notes nothing).
#[derive(Debug, Default)]
pub struct CallNotes {
    events_sent: AtomicU64,
    appends_written: AtomicU64,
    appends_refused: Mutex<BTreeMap<String, u64>>,
}

impl CallNotes {
    /// One event sent to the client.
    pub fn event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// One append of a BatchAppend call answered: written, or refused with `code`.
    pub fn append_answered(&self, refused: Option<Code>) {
        match refused {
            None => {
                self.appends_written.fetch_add(1, Ordering::Relaxed);
            }
            Some(code) => {
                *self
                    .appends_refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(code_name(code))
                    .or_default() += 1;
            }
        }
    }

    /// `3 events sent; 2 appends written, 1 refused (FAILED_PRECONDITION 1)`: what was noted.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let sent = self.events_sent.load(Ordering::Relaxed);
        if sent > 0 {
            parts.push(format!("{sent} events sent"));
        }
        let written = self.appends_written.load(Ordering::Relaxed);
        let refused = self
            .appends_refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let refused_total: u64 = refused.values().sum();
        if written > 0 || refused_total > 0 {
            let codes: Vec<String> = refused
                .iter()
                .map(|(code, count)| format!("{code} {count}"))
                .collect();
            let mut part = format!("{written} appends written, {refused_total} refused");
            if !codes.is_empty() {
                part.push_str(&format!(" ({})", codes.join(", ")));
            }
            parts.push(part);
        }
        if parts.is_empty() {
            "nothing sent".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// What the closing entry needs to know about the call.
#[derive(Debug)]
pub struct Closing {
    pub state: AppState,
    pub principal: Principal,
    pub operation: String,
    pub reason: Option<String>,
    /// The sequence number of the call's opening entry.
    pub opened_as: u64,
    pub notes: Arc<CallNotes>,
    /// Whether the closing entry is flushed before the last frame goes out (a call that writes).
    pub durable: bool,
}

/// A flush of the audit log under way, and the frame that waits for it (`None`: the end of the
/// body).
struct Flushing {
    flushed: Pin<Box<dyn Future<Output = bool> + Send>>,
    then: Option<Result<Frame<Bytes>, Status>>,
}

impl std::fmt::Debug for Flushing {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Flushing").finish_non_exhaustive()
    }
}

impl Closing {
    /// Writes the closing entry with the call's `outcome`.
    pub(crate) fn write(self, outcome: String) -> Result<Written, ()> {
        let query = format!(
            "end of the call audited as entry {}: {}",
            self.opened_as,
            self.notes.summary()
        );
        self.state
            .audit_written(AuditRecord {
                principal: Some(self.principal),
                operation: self.operation,
                query: Some(query),
                reason: self.reason,
                outcome,
                ..AuditRecord::default()
            })
            .map_err(|error| {
                tracing::error!(message = %error.message, "cannot audit the end of a gRPC call");
            })
    }
}

/// A streaming call's response body that writes the closing entry (see the module documentation).
#[derive(Debug)]
pub struct AuditedBody {
    inner: Body,
    /// `None` once the closing entry is written.
    closing: Option<Closing>,
    /// The flush of a durable closing entry, with the frame that goes out after it.
    flushing: Option<Flushing>,
}

/// What writing the closing entry asks of the body.
enum Closed {
    /// Written (or written before): the frame may go out.
    Written,
    /// Written; the frame goes out once this flush is done (`true`: it succeeded).
    Flush(Pin<Box<dyn Future<Output = bool> + Send>>),
    /// The audit log could not be written.
    Failed,
}

impl AuditedBody {
    pub fn wrap(inner: Body, closing: Closing) -> Body {
        Body::new(Self {
            inner,
            closing: Some(closing),
            flushing: None,
        })
    }

    /// Writes the closing entry with `outcome`.
    fn close(&mut self, outcome: String) -> Closed {
        let Some(closing) = self.closing.take() else {
            return Closed::Written;
        };
        let flush = closing.durable.then(|| closing.state.clone());
        if closing.write(outcome).is_err() {
            return Closed::Failed;
        }
        match flush {
            None => Closed::Written,
            Some(state) => Closed::Flush(Box::pin(async move {
                state.audit.flush().await.map_err(|error| {
                    tracing::error!(%error, "cannot flush the audit entry of a gRPC call's end");
                }).is_ok()
            })),
        }
    }

    /// Sends `frame` once the closing entry (with `outcome`) is written and, for a call that
    /// writes, flushed; `failed` is what goes out instead when the audit log cannot be written.
    fn close_then(
        &mut self,
        outcome: String,
        frame: Option<Result<Frame<Bytes>, Status>>,
        failed: Option<Result<Frame<Bytes>, Status>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        match self.close(outcome) {
            Closed::Written => Poll::Ready(frame),
            Closed::Failed => Poll::Ready(failed),
            Closed::Flush(flushed) => {
                self.flushing = Some(Flushing {
                    flushed,
                    then: frame,
                });
                self.poll_flushing(cx)
            }
        }
    }

    fn poll_flushing(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let Some(flushing) = self.flushing.as_mut() else {
            return Poll::Ready(None);
        };
        match flushing.flushed.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(flushed) => {
                let then = flushing.then.take();
                self.flushing = None;
                if flushed {
                    Poll::Ready(then)
                } else {
                    Poll::Ready(Some(Ok(Frame::trailers(refused_trailers()))))
                }
            }
        }
    }
}

/// `ok` or the code's name, as the opening entries write outcomes.
fn outcome_of(trailers: &HeaderMap) -> String {
    match Status::from_header_map(trailers) {
        Some(status) if status.code() != Code::Ok => code_name(status.code()),
        _ => "ok".to_owned(),
    }
}

fn refused_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    // Adding a status to an empty map fails only for a message that is not a valid header value,
    // which this fixed text is.
    let _ = Status::internal("the audit log cannot be written; the call is refused")
        .add_header(&mut trailers);
    trailers
}

impl http_body::Body for AuditedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.flushing.is_some() {
            return self.poll_flushing(cx);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => {
                let outcome = frame.trailers_ref().map(outcome_of).unwrap_or_default();
                self.close_then(
                    outcome,
                    Some(Ok(frame)),
                    Some(Ok(Frame::trailers(refused_trailers()))),
                    cx,
                )
            }
            Poll::Ready(Some(Err(status))) => {
                let outcome = code_name(status.code());
                self.close_then(
                    outcome,
                    Some(Err(status)),
                    Some(Err(Status::internal(
                        "the audit log cannot be written; the call is refused",
                    ))),
                    cx,
                )
            }
            Poll::Ready(None) => {
                // A body that ends without trailers ended without an error.
                self.close_then(
                    "ok".to_owned(),
                    None,
                    Some(Ok(Frame::trailers(refused_trailers()))),
                    cx,
                )
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.closing.is_none() && self.flushing.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        // Dropped before its last frame: the client reset the stream or the connection closed.
        // Nobody waits for an answer any more, so the entry reaches the disk with the next flush.
        let _ = self.close(code_name(Code::Cancelled));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_the_call_did() {
        let notes = CallNotes::default();
        assert_eq!(notes.summary(), "nothing sent");
        notes.event_sent();
        notes.event_sent();
        assert_eq!(notes.summary(), "2 events sent");
        let notes = CallNotes::default();
        notes.append_answered(None);
        notes.append_answered(Some(Code::FailedPrecondition));
        notes.append_answered(Some(Code::InvalidArgument));
        notes.append_answered(Some(Code::FailedPrecondition));
        assert_eq!(
            notes.summary(),
            "1 appends written, 3 refused (FAILED_PRECONDITION 2, INVALID_ARGUMENT 1)"
        );
    }
}
