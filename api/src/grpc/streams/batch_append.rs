//! `Streams.BatchAppend`: a bidirectional stream of appends, each named by a correlation id and
//! sent in one or more chunks until `is_final`; every append gets one answer with the same
//! correlation id. Failures are `google.rpc.Status` messages, a wrong expected version with the
//! `WrongExpectedVersion` detail, as KurrentDB sends them; the call itself goes on.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use journey_core::log::ExpectedRevision;
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::auth::Principal;
use crate::grpc::audit::CallNotes;
use crate::grpc::proto::event_store::client::streams::{
    batch_append_req, batch_append_resp, BatchAppendReq, BatchAppendResp,
};
use crate::grpc::proto::event_store::client::{
    self as client, AllStreamPosition, StreamIdentifier,
};
use crate::grpc::proto::google::rpc;
use crate::state::AppState;

use super::append::{self, Collector, Incoming, Outcome};
use super::convert::from_proto_uuid;

pub type BatchStream = Pin<Box<dyn Stream<Item = Result<BatchAppendResp, Status>> + Send>>;

/// Appends whose chunks are still arriving, at most this many at once per call.
const PENDING_MAX: usize = 64;
/// Appends of one call running at once.
const IN_FLIGHT_MAX: usize = 64;
/// Answers buffered for a client that does not read them.
const ANSWERS_BUFFERED: usize = 16;

/// An append being assembled from its chunks.
struct Pending {
    stream: String,
    expected: ExpectedRevision,
    collector: Collector,
}

/// Answers a `BatchAppend` call.
///
/// Appends run concurrently, up to [`IN_FLIGHT_MAX`] at once, so that a client streaming many
/// small appends gets them group-committed instead of one flush each; appends to the same stream
/// still run one after the other in the order they arrived, so a client's order within a stream
/// is the log's. Each append is answered when it is done (the correlation id says which). The call
/// reads no further request while [`IN_FLIGHT_MAX`] appends run, while an append waits for an
/// earlier one of its stream, or while the client leaves [`ANSWERS_BUFFERED`] answers unread: then
/// HTTP/2 flow control stops the client, and a flood of appends holds a bounded amount of memory.
pub fn batch_append(
    state: AppState,
    principal: Principal,
    requests: tonic::Streaming<BatchAppendReq>,
    notes: Option<Arc<CallNotes>>,
) -> BatchStream {
    let (sender, receiver) = mpsc::channel(ANSWERS_BUFFERED);
    tokio::spawn(run(state, principal, requests, notes, sender));
    Box::pin(ReceiverStream::new(receiver))
}

/// An append whose last chunk arrived, not yet started.
struct Ready {
    correlation: Option<client::Uuid>,
    stream: String,
    expected: ExpectedRevision,
    events: Vec<Incoming>,
}

/// A finished append: its stream (to free it) and its answer.
type Done = (String, BatchAppendResp);

async fn run(
    state: AppState,
    principal: Principal,
    mut requests: tonic::Streaming<BatchAppendReq>,
    notes: Option<Arc<CallNotes>>,
    sender: mpsc::Sender<Result<BatchAppendResp, Status>>,
) {
    let mut pending: HashMap<uuid::Uuid, Pending> = HashMap::new();
    let mut running: FuturesUnordered<JoinHandle<Done>> = FuturesUnordered::new();
    // Streams with an append running, and how many.
    let mut busy: HashMap<String, usize> = HashMap::new();
    // An append that waits for an earlier one of its stream; nothing more is read meanwhile.
    let mut waiting: Option<Ready> = None;
    let mut reading = true;
    loop {
        if let Some(ready) = waiting.take() {
            if busy.contains_key(&ready.stream) {
                waiting = Some(ready);
            } else {
                *busy.entry(ready.stream.clone()).or_default() += 1;
                running.push(start(&state, &principal, ready));
            }
        }
        let may_read = reading && waiting.is_none() && running.len() < IN_FLIGHT_MAX;
        if !may_read && running.is_empty() {
            return;
        }
        tokio::select! {
            // Answers first: they free streams and make room.
            Some(done) = running.next(), if !running.is_empty() => {
                let (stream, response) = match done {
                    Ok(done) => done,
                    Err(error) => {
                        let _ = sender.send(Err(Status::internal(format!("an append failed: {error}")))).await;
                        return;
                    }
                };
                if let Some(count) = busy.get_mut(&stream) {
                    *count -= 1;
                    if *count == 0 {
                        busy.remove(&stream);
                    }
                }
                if let Some(notes) = &notes {
                    notes.append_answered(refusal(&response));
                }
                if sender.send(Ok(response)).await.is_err() {
                    return;
                }
            }
            request = requests.message(), if may_read => {
                let request = match request {
                    Ok(Some(request)) => request,
                    Ok(None) => {
                        reading = false;
                        continue;
                    }
                    Err(status) => {
                        // The appends begun are answered first; then the call ends with the error.
                        while let Some(Ok((_, response))) = running.next().await {
                            if let Some(notes) = &notes {
                                notes.append_answered(refusal(&response));
                            }
                            if sender.send(Ok(response)).await.is_err() {
                                return;
                            }
                        }
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                };
                let correlation = request.correlation_id.clone();
                match chunk(&mut pending, request) {
                    Ok(None) => {}
                    Ok(Some(ready)) => waiting = Some(ready),
                    Err(status) => {
                        let response = answer(correlation, String::new(), ExpectedRevision::Any, Err(status));
                        if let Some(notes) = &notes {
                            notes.append_answered(refusal(&response));
                        }
                        if sender.send(Ok(response)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Runs `ready` as a task of its own, so concurrent appends use every core.
fn start(state: &AppState, principal: &Principal, ready: Ready) -> JoinHandle<Done> {
    let state = state.clone();
    let principal = principal.clone();
    tokio::spawn(async move {
        let result = append::append(
            &state,
            &principal,
            &ready.stream,
            ready.expected,
            ready.events,
        )
        .await;
        let response = answer(
            ready.correlation,
            ready.stream.clone(),
            ready.expected,
            result,
        );
        (ready.stream, response)
    })
}

/// The code an answer refused its append with, `None` for a written one.
fn refusal(response: &BatchAppendResp) -> Option<tonic::Code> {
    match &response.result {
        Some(batch_append_resp::Result::Error(status)) => Some(tonic::Code::from_i32(status.code)),
        _ => None,
    }
}

fn answer(
    correlation: Option<client::Uuid>,
    stream: String,
    expected: ExpectedRevision,
    result: Result<Outcome, Status>,
) -> BatchAppendResp {
    BatchAppendResp {
        correlation_id: correlation,
        stream_identifier: Some(StreamIdentifier {
            stream_name: stream.into_bytes(),
        }),
        expected_stream_position: Some(expected_position(expected)),
        result: Some(match result {
            Ok(outcome) => outcome_result(outcome),
            Err(status) => {
                batch_append_resp::Result::Error(rpc_status(&status, Some(error_detail(&status))))
            }
        }),
    }
}

/// Takes one chunk; the append when the chunk completes it.
fn chunk(
    pending: &mut HashMap<uuid::Uuid, Pending>,
    request: BatchAppendReq,
) -> Result<Option<Ready>, Status> {
    let correlation = from_proto_uuid(request.correlation_id.as_ref())?;
    // The answer echoes the id as the client sent it (string or structured).
    let echoed = request.correlation_id.clone();
    if let Some(options) = request.options {
        if pending.len() >= PENDING_MAX && !pending.contains_key(&correlation) {
            return Err(Status::resource_exhausted(format!(
                "at most {PENDING_MAX} batch appends may be open at once in one call; finish one (is_final) first"
            )));
        }
        let stream = String::from_utf8(
            options
                .stream_identifier
                .map(|identifier| identifier.stream_name)
                .unwrap_or_default(),
        )
        .map_err(|_| Status::invalid_argument("the stream name is not UTF-8"))?;
        use batch_append_req::options::ExpectedStreamPosition as E;
        let expected = match options.expected_stream_position {
            Some(E::StreamPosition(revision)) => ExpectedRevision::Exact(revision),
            Some(E::NoStream(())) => ExpectedRevision::NoStream,
            Some(E::StreamExists(())) => ExpectedRevision::StreamExists,
            Some(E::Any(())) | None => ExpectedRevision::Any,
        };
        pending.insert(
            correlation,
            Pending {
                stream,
                expected,
                collector: Collector::default(),
            },
        );
    }
    let Some(open) = pending.get_mut(&correlation) else {
        return Err(Status::invalid_argument(
            "a batch append's first chunk carries its options (the stream and the expected position)",
        ));
    };
    for message in request.proposed_messages {
        let incoming = Incoming {
            id: from_proto_uuid(message.id.as_ref())?,
            metadata: message.metadata,
            custom_metadata: message.custom_metadata,
            data: message.data,
        };
        if let Err(status) = open.collector.push(incoming) {
            pending.remove(&correlation);
            return Err(status);
        }
    }
    if !request.is_final {
        return Ok(None);
    }
    let Some(open) = pending.remove(&correlation) else {
        return Ok(None);
    };
    Ok(Some(Ready {
        correlation: echoed,
        stream: open.stream,
        expected: open.expected,
        events: open.collector.events,
    }))
}

fn expected_position(expected: ExpectedRevision) -> batch_append_resp::ExpectedStreamPosition {
    use batch_append_resp::ExpectedStreamPosition as E;
    match expected {
        ExpectedRevision::Any => E::Any(()),
        ExpectedRevision::NoStream => E::NoStream(()),
        ExpectedRevision::StreamExists => E::StreamExists(()),
        ExpectedRevision::Exact(revision) => E::StreamPosition(revision),
    }
}

fn outcome_result(outcome: Outcome) -> batch_append_resp::Result {
    match outcome {
        Outcome::Written { revision, position } => {
            batch_append_resp::Result::Success(batch_append_resp::Success {
                current_revision_option: Some(
                    batch_append_resp::success::CurrentRevisionOption::CurrentRevision(revision),
                ),
                position_option: Some(batch_append_resp::success::PositionOption::Position(
                    AllStreamPosition {
                        commit_position: position.raw(),
                        prepare_position: position.raw(),
                    },
                )),
            })
        }
        Outcome::WrongExpected { expected, current } => {
            use client::wrong_expected_version::{
                CurrentStreamRevisionOption as C, ExpectedStreamPositionOption as X,
            };
            let detail = client::WrongExpectedVersion {
                current_stream_revision_option: Some(match current {
                    Some(revision) => C::CurrentStreamRevision(revision),
                    None => C::CurrentNoStream(()),
                }),
                expected_stream_position_option: Some(match expected {
                    ExpectedRevision::Exact(revision) => X::ExpectedStreamPosition(revision),
                    ExpectedRevision::Any => X::ExpectedAny(()),
                    ExpectedRevision::StreamExists => X::ExpectedStreamExists(()),
                    ExpectedRevision::NoStream => X::ExpectedNoStream(()),
                }),
            };
            let status = Status::failed_precondition(format!(
                "Append failed due to WrongExpectedVersion. Expected: {expected:?}, current: {}",
                current.map_or_else(|| "no stream".to_owned(), |revision| revision.to_string())
            ));
            batch_append_resp::Result::Error(rpc_status(
                &status,
                Some(prost_types::Any {
                    type_url: "type.googleapis.com/event_store.client.WrongExpectedVersion".into(),
                    value: detail.encode_to_vec(),
                }),
            ))
        }
    }
}

/// The detail KurrentDB packs into every BatchAppend error, by code: the Node client reads the
/// detail's type to choose its error and fails on an error without one. Its message stays the
/// status's, so a refused rule's words reach the client.
fn error_detail(status: &Status) -> prost_types::Any {
    let (name, value) = match status.code() {
        tonic::Code::PermissionDenied => ("AccessDenied", client::AccessDenied {}.encode_to_vec()),
        tonic::Code::DeadlineExceeded => ("Timeout", client::Timeout {}.encode_to_vec()),
        tonic::Code::InvalidArgument => (
            "BadRequest",
            client::BadRequest {
                message: status.message().to_owned(),
            }
            .encode_to_vec(),
        ),
        _ => ("Unknown", client::Unknown {}.encode_to_vec()),
    };
    prost_types::Any {
        type_url: format!("type.googleapis.com/event_store.client.{name}"),
        value,
    }
}

fn rpc_status(status: &Status, details: Option<prost_types::Any>) -> rpc::Status {
    rpc::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details,
    }
}
