//! A flood of tiny appends against the whole gRPC endpoint as `journey serve` runs it (transport,
//! credentials layer, audit; insecure mode on loopback, every call as admin), over a real socket.
//!
//! One client streams a million tiny events through one `BatchAppend` call, as a hundred thousand
//! appends of ten events, each with its own correlation id, the way a replicating system or a
//! runaway script does, and encodes them efficiently (a hundred appends per write). (One append
//! per event works the same and takes several minutes in a debug build: the cost is per append.)
//! Another client keeps appending and reading meanwhile. The server must stay up, answer the other
//! client, hold the flood back instead of buffering it (HTTP/2 flow control once its bounded
//! queues are full), and lose nothing: every acknowledged event is in the log exactly once, with
//! its content, and in the order sent within its stream.

// A tonic interceptor returns `tonic::Status` as its error, whatever its size.
#![allow(clippy::result_large_err)]

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use journey_api::auth::Role;
use journey_api::grpc::proto::event_store::client::streams::{
    batch_append_req, batch_append_resp, BatchAppendReq, BatchAppendResp,
};
use journey_api::grpc::proto::event_store::client::{uuid, StreamIdentifier, Uuid as ProtoUuid};
use journey_api::grpc::server::{GrpcConfig, GrpcEndpoint, GrpcTransport};
use journey_core::log::{AllFrom, Direction, StreamFrom};
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadStreamOptions, StreamPosition,
};
use prost::Message;
use support::Harness;
use tokio_stream::wrappers::ReceiverStream;

/// The events of the flood.
const EVENTS: usize = 1_000_000;
/// Events per append.
const PER_APPEND: usize = 10;
/// The appends of the flood.
const FLOOD: usize = EVENTS / PER_APPEND;
/// Appends per write of the flooding client.
const PER_WRITE: usize = 100;
/// The flood's streams: enough that the server's concurrent appends rarely wait for one another.
const FLOOD_STREAMS: usize = 256;
/// Event ids of the flood are this plus the event's number; correlation ids are the append's.
const ID_BASE: u128 = 1 << 64;

/// The endpoint as `journey serve --grpc-insecure --grpc-insecure-role admin` runs it.
async fn endpoint(h: &Harness) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let config = GrpcConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        transport: GrpcTransport::Insecure {
            role: Some(Role::Admin),
        },
    };
    let endpoint = GrpcEndpoint::bind(&config, h.state.data_dir())
        .await
        .expect("bind");
    let address = endpoint.address();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = h.state.clone();
    tokio::spawn(async move {
        endpoint
            .serve(state, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    (address, stop)
}

fn structured(value: u128) -> ProtoUuid {
    ProtoUuid {
        value: Some(uuid::Value::Structured(uuid::Structured {
            most_significant_bits: (value >> 64) as u64 as i64,
            least_significant_bits: value as u64 as i64,
        })),
    }
}

fn number_of(id: &ProtoUuid) -> u128 {
    match &id.value {
        Some(uuid::Value::Structured(parts)) => {
            (u128::from(parts.most_significant_bits as u64) << 64)
                | u128::from(parts.least_significant_bits as u64)
        }
        Some(uuid::Value::String(text)) => ::uuid::Uuid::parse_str(text).expect("a uuid").as_u128(),
        None => panic!("an answer without a correlation id"),
    }
}

fn flood_stream(n: usize) -> String {
    format!("flood-{}", n % FLOOD_STREAMS)
}

/// Append number `n` (events `n * PER_APPEND` on) as one length-prefixed gRPC message.
fn encode_append(n: usize, into: &mut BytesMut) {
    let request = BatchAppendReq {
        correlation_id: Some(structured(n as u128)),
        options: Some(batch_append_req::Options {
            stream_identifier: Some(StreamIdentifier {
                stream_name: flood_stream(n).into_bytes(),
            }),
            expected_stream_position: Some(batch_append_req::options::ExpectedStreamPosition::Any(
                (),
            )),
            deadline_option: None,
        }),
        proposed_messages: (n * PER_APPEND..(n + 1) * PER_APPEND)
            .map(|event| batch_append_req::ProposedMessage {
                id: Some(structured(ID_BASE + event as u128)),
                metadata: HashMap::from([
                    ("type".to_owned(), "t".to_owned()),
                    (
                        "content-type".to_owned(),
                        "application/octet-stream".to_owned(),
                    ),
                ]),
                custom_metadata: Vec::new(),
                data: (event as u32).to_be_bytes().to_vec(),
            })
            .collect(),
        is_final: true,
    };
    let length = request.encoded_len();
    into.extend_from_slice(&[0]);
    into.extend_from_slice(&(length as u32).to_be_bytes());
    request.encode(into).expect("encode");
}

/// Reads the answers of the flood: every correlation id answered with success, once.
async fn read_answers(mut body: hyper::body::Incoming) -> Vec<bool> {
    let mut answered = vec![false; FLOOD];
    let mut buffer = BytesMut::new();
    let mut count = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("the answers' stream");
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while buffer.len() >= 5 {
            let length = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
            if buffer.len() < 5 + length {
                break;
            }
            buffer.advance(5);
            let message = buffer.split_to(length);
            let answer = BatchAppendResp::decode(message.freeze()).expect("an answer");
            let n = number_of(answer.correlation_id.as_ref().expect("correlation")) as usize;
            assert!(
                matches!(answer.result, Some(batch_append_resp::Result::Success(_))),
                "append {n} was refused: {:?}",
                answer.result
            );
            assert!(!answered[n], "append {n} answered twice");
            answered[n] = true;
            count += 1;
        }
    }
    assert_eq!(count, FLOOD, "every append is answered");
    answered
}

/// The other client's round: one append, then its stream and `$all`'s head read back.
async fn other_round(client: &Client, round: usize) {
    client
        .append_to_stream(
            "other-1",
            &AppendToStreamOptions::default(),
            vec![EventData::binary("o", Bytes::from(round.to_string())).id(::uuid::Uuid::new_v4())],
        )
        .await
        .expect("the other client's append is answered during the flood");
    let mut read = client
        .read_stream(
            "other-1",
            &ReadStreamOptions::default()
                .position(StreamPosition::End)
                .backwards()
                .max_count(1),
        )
        .await
        .expect("the other client's read is answered during the flood");
    let last = read
        .next()
        .await
        .expect("read")
        .expect("an event")
        .get_original_event()
        .data
        .clone();
    assert_eq!(last, Bytes::from(round.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_tiny_events_in_tiny_appends_are_held_back_stored_once_and_others_are_served_meanwhile(
) {
    let h = Harness::new().await;
    let (address, stop) = endpoint(&h).await;
    let other = Client::new(
        format!("kurrentdb://{address}?tls=false")
            .parse::<ClientSettings>()
            .expect("settings"),
    )
    .expect("client");

    // The flooding client: one HTTP/2 connection, one BatchAppend call, whose request body is fed
    // a thousand appends per write through a channel of one write.
    let socket = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    // hyper's default windows: with a much smaller receive window, the answers the server sends
    // as the window reopens come in DATA frames so small that h2's flood protection of this very
    // client ends the connection (ENHANCE_YOUR_CALM) while answers wait unread.
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(socket),
    )
    .await
    .expect("HTTP/2");
    tokio::spawn(connection);
    let (writes, body) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let request = hyper::Request::post(format!(
        "http://{address}/event_store.client.streams.Streams/BatchAppend"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(StreamBody::new(ReceiverStream::new(body)))
    .expect("request");
    let handed_over = Arc::new(AtomicUsize::new(0));
    let producer = {
        let handed_over = handed_over.clone();
        tokio::spawn(async move {
            for first in (0..FLOOD).step_by(PER_WRITE) {
                let mut chunk = BytesMut::with_capacity(PER_WRITE * PER_APPEND * 60);
                for n in first..(first + PER_WRITE).min(FLOOD) {
                    encode_append(n, &mut chunk);
                }
                writes
                    .send(Ok(Frame::data(chunk.freeze())))
                    .await
                    .expect("the request body");
                handed_over.store(first + PER_WRITE, Ordering::SeqCst);
            }
        })
    };
    let response = sender.send_request(request).await.expect("answer headers");
    assert_eq!(response.status(), 200);

    // While nobody reads the answers, the server takes only what its bounded queues and the
    // HTTP/2 windows hold (the client's receive windows take some 50,000 answers, the server's
    // 1 MiB some 3,000 appends), and then stops the flood: the client can hand over no more. A
    // server that read requests whatever became of its answers would take all of them.
    let mut last = 0;
    let mut unchanged = 0;
    while unchanged < 20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = handed_over.load(Ordering::SeqCst);
        if now == last {
            unchanged += 1;
        } else {
            (last, unchanged) = (now, 0);
        }
        if now >= FLOOD {
            break;
        }
    }
    let held_back_at = handed_over.load(Ordering::SeqCst);
    assert!(
        held_back_at <= FLOOD * 3 / 4,
        "the server took {held_back_at} of {FLOOD} appends whose answers nobody read"
    );
    // Meanwhile the server answers another client.
    for round in 0..20 {
        other_round(&other, round).await;
    }

    // Once the answers are read, the flood flows, and the other client is still served.
    let answers = tokio::spawn(read_answers(response.into_body()));
    let mut rounds = 20;
    while !answers.is_finished() {
        other_round(&other, rounds).await;
        rounds += 1;
    }
    let answered = answers.await.expect("answers");
    producer.await.expect("producer");
    assert!(answered.iter().all(|answered| *answered));

    // Every acknowledged event is in the log exactly once, in its stream, with its content.
    let log = h.state.ledger.log();
    let mut stored = vec![false; EVENTS];
    let mut from = AllFrom::Start;
    loop {
        let page = log
            .read_all(from, Direction::Forwards, 4096)
            .await
            .expect("read");
        let Some(last) = page.last() else { break };
        from = AllFrom::Excluding(last.position);
        for event in page {
            if !event.stream.starts_with("flood-") {
                continue;
            }
            let n = (event.event.id.as_u128() - ID_BASE) as usize;
            assert!(!stored[n], "event {n} is stored twice");
            stored[n] = true;
            assert_eq!(event.stream, flood_stream(n / PER_APPEND));
            let content = journey_core::plain::unframe(&event.event.payload).expect("plain");
            assert_eq!(content.data, (n as u32).to_be_bytes());
        }
    }
    assert!(stored.iter().all(|stored| *stored), "every event is stored");
    // Within a stream, the appends are in the order they were sent.
    let first = log
        .read_stream(
            &flood_stream(7),
            StreamFrom::Start,
            Direction::Forwards,
            10_000,
        )
        .await
        .expect("read");
    let order: Vec<u128> = first
        .iter()
        .map(|event| event.event.id.as_u128() - ID_BASE)
        .collect();
    assert_eq!(
        order.len(),
        (0..FLOOD).filter(|n| n % FLOOD_STREAMS == 7).count() * PER_APPEND
    );
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]));
    // And the other client's appends are all there.
    let others = log
        .read_stream("other-1", StreamFrom::Start, Direction::Forwards, 100_000)
        .await
        .expect("read");
    assert_eq!(others.len(), rounds);
    let _ = stop.send(());
}
