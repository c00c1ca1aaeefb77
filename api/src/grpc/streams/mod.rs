//! The `event_store.client.streams.Streams` service: Read (streams, `$all`, subscriptions),
//! Append, BatchAppend, Delete and Tombstone over the ledger and the plain streams.
//!
//! Mount it with [`streams_server`]: the transport (TLS, authentication, audit, message-size
//! limits) is the server's; this service expects every request to carry a
//! [`Caller`](crate::grpc::Caller) in its extensions and refuses one without with
//! `UNAUTHENTICATED`.
//!
//! Files by concern: [`read`] (reads and catch-up subscriptions), [`filter`] (server-side filters),
//! [`convert`] (what a role sees of an event), [`wire`] (read answers encoded where they are made),
//! [`append`], [`batch_append`], [`delete`], and
//! [`status`] (errors as KurrentDB sends them).

// `tonic::Status` is what every service method returns; boxing it in the helpers would only move
// the unboxing to each call site.
#![allow(clippy::result_large_err)]

pub mod append;
pub mod batch_append;
pub mod convert;
pub mod delete;
pub mod filter;
pub mod read;
pub mod status;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Request, Response, Status, Streaming};

use crate::auth::Principal;
use crate::grpc::audit::CallNotes;
use crate::grpc::proto::event_store::client::streams::{
    self, delete_resp, streams_server::StreamsServer, tombstone_resp, AppendReq, AppendResp,
    BatchAppendReq, DeleteReq, DeleteResp, ReadReq, TombstoneReq, TombstoneResp,
};
use crate::grpc::Caller;
use crate::state::AppState;

/// Limits of the Streams service.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// The most subscriptions open at once; one more is refused with `RESOURCE_EXHAUSTED`.
    pub subscriptions_max: usize,
    /// How long a subscriber may leave a full buffer unread before it is dropped.
    pub subscriber_stall: Duration,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            subscriptions_max: 1024,
            subscriber_stall: Duration::from_secs(60),
        }
    }
}

/// The Streams service over the server's state.
#[derive(Debug, Clone)]
pub struct StreamsService {
    state: AppState,
    config: StreamsConfig,
    subscriptions: Arc<Semaphore>,
}

/// The Streams service with the default limits, ready to be added to a `tonic` router.
pub fn streams_server(state: AppState) -> StreamsServer<StreamsService> {
    streams_server_with(state, StreamsConfig::default())
}

/// The Streams service with `config`'s limits.
pub fn streams_server_with(
    state: AppState,
    config: StreamsConfig,
) -> StreamsServer<StreamsService> {
    StreamsServer::new(StreamsService {
        state,
        subscriptions: Arc::new(Semaphore::new(config.subscriptions_max)),
        config,
    })
    // Matches KurrentDB's default gRPC receive limit, so that an append of the largest accepted size
    // (1 MiB of data and metadata plus framing) gets through to the append-size check.
    .max_decoding_message_size(17 * 1024 * 1024)
}

impl StreamsService {
    fn subscription_permit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.subscriptions.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "the server holds its most subscriptions ({}); close one or try again later",
                self.config.subscriptions_max
            ))
        })
    }
}

fn caller<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Caller>()
        .map(|caller| caller.principal.clone())
        .ok_or_else(|| Status::unauthenticated("this call carries no credentials"))
}

/// Where the call notes what it did for its closing audit entry (`crate::grpc::audit`); tests
/// and benchmarks that serve without the credentials layer have none.
fn notes<T>(request: &Request<T>) -> Option<Arc<CallNotes>> {
    request.extensions().get::<Arc<CallNotes>>().cloned()
}

#[tonic::async_trait]
impl streams::streams_server::Streams for StreamsService {
    type ReadStream = read::ReadStream;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        let principal = caller(&request)?;
        let notes = notes(&request);
        let stream = read::read(self, principal, request.into_inner()).await?;
        Ok(Response::new(match notes {
            // The closing audit entry counts the events sent.
            Some(notes) => Box::pin(stream.inspect(move |message| {
                if message.as_ref().is_ok_and(wire::EncodedReadResp::is_event) {
                    notes.event_sent();
                }
            })),
            None => stream,
        }))
    }

    async fn append(
        &self,
        request: Request<Streaming<AppendReq>>,
    ) -> Result<Response<AppendResp>, Status> {
        let principal = caller(&request)?;
        let notes = notes(&request);
        let answer = append::append_call(&self.state, &principal, request.into_inner()).await;
        if let Some(notes) = notes {
            // The closing audit entry tells whether the append was written.
            notes.append_answered(match &answer {
                Ok(response) => append::refusal(response),
                Err(status) => Some(status.code()),
            });
        }
        answer.map(Response::new)
    }

    async fn delete(&self, request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        let principal = caller(&request)?;
        let options = request
            .into_inner()
            .options
            .ok_or_else(|| Status::invalid_argument("a delete needs its options"))?;
        let stream = delete::stream_name(options.stream_identifier)?;
        let expected = delete::expected_of_delete(options.expected_stream_revision);
        let position = delete::delete(
            &self.state,
            &principal,
            &stream,
            expected,
            delete::Kind::Soft,
        )
        .await?;
        Ok(Response::new(DeleteResp {
            position_option: Some(delete_resp::PositionOption::Position(
                delete_resp::Position {
                    commit_position: position.commit_position,
                    prepare_position: position.prepare_position,
                },
            )),
        }))
    }

    async fn tombstone(
        &self,
        request: Request<TombstoneReq>,
    ) -> Result<Response<TombstoneResp>, Status> {
        let principal = caller(&request)?;
        let options = request
            .into_inner()
            .options
            .ok_or_else(|| Status::invalid_argument("a tombstone needs its options"))?;
        let stream = delete::stream_name(options.stream_identifier)?;
        let expected = delete::expected_of_tombstone(options.expected_stream_revision);
        let position = delete::delete(
            &self.state,
            &principal,
            &stream,
            expected,
            delete::Kind::Tombstone,
        )
        .await?;
        Ok(Response::new(TombstoneResp {
            position_option: Some(tombstone_resp::PositionOption::Position(
                tombstone_resp::Position {
                    commit_position: position.commit_position,
                    prepare_position: position.prepare_position,
                },
            )),
        }))
    }

    type BatchAppendStream = batch_append::BatchStream;

    async fn batch_append(
        &self,
        request: Request<Streaming<BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        let principal = caller(&request)?;
        let notes = notes(&request);
        Ok(Response::new(batch_append::batch_append(
            self.state.clone(),
            principal,
            request.into_inner(),
            notes,
        )))
    }
}

/// Serves the Streams service alone on `listener` (plain HTTP/2), every call as `principal`: for
/// tests and benchmarks, which run without the server's TLS and authentication layer.
#[doc(hidden)]
pub async fn serve_as(
    listener: tokio::net::TcpListener,
    state: AppState,
    principal: Principal,
    config: StreamsConfig,
) -> Result<(), tonic::transport::Error> {
    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(socket, _)| socket);
        Some((accepted, listener))
    });
    let layer = tonic::service::InterceptorLayer::new(move |mut request: Request<()>| {
        request.extensions_mut().insert(Caller {
            principal: principal.clone(),
        });
        Ok(request)
    });
    tonic::transport::Server::builder()
        .layer(layer)
        .add_service(streams_server_with(state, config))
        .serve_with_incoming(incoming)
        .await
}
