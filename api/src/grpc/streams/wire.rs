//! The messages of `Read`'s response stream, encoded where they are made.
//!
//! tonic encodes a response stream's messages on the task that writes the response, the task the
//! connection's writer and the response's encoder take turns on. A read of `$all` makes its
//! messages a page at a time on a thread of the blocking pool (see `read.rs`); encoding them there
//! too leaves the response's task nothing to do per message but copy bytes, so the encoding runs on
//! the machine's other core instead of in turn with the writing.
//!
//! The generated server's `Read` answers [`EncodedReadResp`] instead of `ReadResp` (`build.rs`
//! gives the method this output type; the protocol's descriptor is otherwise the vendored one): its
//! bytes are those of the `ReadResp` it was made of, so the wire carries exactly what it carried
//! when tonic encoded the `ReadResp` itself (`tests::encoded_is_the_message_byte_for_byte`).
//!
//! Events, nearly every message a read sends, are written straight from what the caller sees of
//! them ([`EncodedReadResp::event`]) instead of through the generated message, whose map of
//! `String`s, nested options and per-level length sums cost more than the bytes themselves; the
//! bytes are prost's (`tests::a_viewed_event_is_prost_s_bytes`).

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use crate::grpc::proto::event_store::client::streams::{read_resp::Content, ReadResp};

use super::convert::Viewed;

/// The key of `ReadResp`'s field 1 (`event`, a message, so length-delimited): `1 << 3 | 2`.
const EVENT_KEY: u8 = 0x0A;

/// A `ReadResp`, encoded: its protobuf bytes, written to the wire as they are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EncodedReadResp {
    bytes: Vec<u8>,
}

impl EncodedReadResp {
    /// The encoding of `message`.
    pub fn of(message: &ReadResp) -> Self {
        Self {
            bytes: message.encode_to_vec(),
        }
    }

    /// The encoding of a `ReadResp` with `content`.
    pub fn of_content(content: Content) -> Self {
        Self::of(&ReadResp {
            content: Some(content),
        })
    }

    /// Whether the message is an event (its one field is `event`), which the closing audit entry
    /// counts.
    pub fn is_event(&self) -> bool {
        self.bytes.first() == Some(&EVENT_KEY)
    }
}

impl EncodedReadResp {
    /// A `ReadResp` with the event `viewed` at its commit position, written straight from its
    /// fields: the bytes prost writes for the message [`Viewed::proto`] makes
    /// (`tests::a_viewed_event_is_prost_s_bytes`), without the message's strings, map and nested
    /// options being made first and its nested lengths being summed once per level.
    pub fn event(viewed: &Viewed) -> Self {
        let created = Decimal::of(viewed.created);
        let metadata = [
            ("content-type", viewed.content_type().as_bytes()),
            ("created", created.digits()),
            ("type", viewed.event_type.as_bytes()),
        ];
        let id = uuid_len(viewed);
        let stream = len_field_len(STREAM_NAME, viewed.stream.len());
        let recorded = message_field_len(RECORDED_ID, id)
            + message_field_len(RECORDED_STREAM, stream)
            + varint_field_len(RECORDED_REVISION, viewed.revision)
            + 2 * varint_field_len(RECORDED_PREPARE, viewed.position)
            + metadata
                .iter()
                .map(|(key, value)| message_field_len(RECORDED_METADATA, entry_len(key, value)))
                .sum::<usize>()
            + len_field_len(RECORDED_CUSTOM_METADATA, viewed.custom_metadata.len())
            + len_field_len(RECORDED_DATA, viewed.data.len());
        let read_event = message_field_len(READ_EVENT_EVENT, recorded)
            + encoding::key_len(READ_EVENT_COMMIT_POSITION)
            + encoding::encoded_len_varint(viewed.position);
        let total = message_field_len(READ_RESP_EVENT, read_event);
        let mut bytes = Vec::with_capacity(total);
        let buf = &mut bytes;
        message_header(READ_RESP_EVENT, read_event, buf);
        message_header(READ_EVENT_EVENT, recorded, buf);
        message_header(RECORDED_ID, id, buf);
        let (most, least) = viewed.id.as_u64_pair();
        if viewed.structured_id {
            message_header(UUID_STRUCTURED, structured_len(most, least), buf);
            varint_field(STRUCTURED_MOST, most, buf);
            varint_field(STRUCTURED_LEAST, least, buf);
        } else {
            let mut text = uuid::Uuid::encode_buffer();
            let text = viewed.id.hyphenated().encode_lower(&mut text);
            // A field of a oneof is written even when empty.
            message_header(UUID_STRING, text.len(), buf);
            buf.put_slice(text.as_bytes());
        }
        message_header(RECORDED_STREAM, stream, buf);
        len_field(STREAM_NAME, viewed.stream.as_bytes(), buf);
        varint_field(RECORDED_REVISION, viewed.revision, buf);
        varint_field(RECORDED_PREPARE, viewed.position, buf);
        varint_field(RECORDED_COMMIT, viewed.position, buf);
        for (key, value) in metadata {
            message_header(RECORDED_METADATA, entry_len(key, value), buf);
            len_field(MAP_KEY, key.as_bytes(), buf);
            len_field(MAP_VALUE, value, buf);
        }
        len_field(RECORDED_CUSTOM_METADATA, &viewed.custom_metadata, buf);
        len_field(RECORDED_DATA, &viewed.data, buf);
        // A field of a oneof is written even when zero.
        encoding::encode_key(READ_EVENT_COMMIT_POSITION, WireType::Varint, buf);
        encoding::encode_varint(viewed.position, buf);
        debug_assert_eq!(bytes.len(), total);
        Self { bytes }
    }
}

// The field numbers of the messages an event is written as (`proto/streams.proto`,
// `proto/shared.proto`).
const READ_RESP_EVENT: u32 = 1;
const READ_EVENT_EVENT: u32 = 1;
const READ_EVENT_COMMIT_POSITION: u32 = 3;
const RECORDED_ID: u32 = 1;
const RECORDED_STREAM: u32 = 2;
const RECORDED_REVISION: u32 = 3;
const RECORDED_PREPARE: u32 = 4;
const RECORDED_COMMIT: u32 = 5;
const RECORDED_METADATA: u32 = 6;
const RECORDED_CUSTOM_METADATA: u32 = 7;
const RECORDED_DATA: u32 = 8;
const UUID_STRUCTURED: u32 = 1;
const UUID_STRING: u32 = 2;
const STRUCTURED_MOST: u32 = 1;
const STRUCTURED_LEAST: u32 = 2;
const STREAM_NAME: u32 = 3;
const MAP_KEY: u32 = 1;
const MAP_VALUE: u32 = 2;

/// The length of the `UUID` message of the event's id, in the form asked for.
fn uuid_len(viewed: &Viewed) -> usize {
    if viewed.structured_id {
        let (most, least) = viewed.id.as_u64_pair();
        message_field_len(UUID_STRUCTURED, structured_len(most, least))
    } else {
        // The hyphenated form: 36 characters.
        message_field_len(UUID_STRING, 36)
    }
}

/// The length of a `UUID.Structured`: its two `int64`s, as their `u64` bit patterns (a negative
/// `int64` is written as the ten-byte varint of its bits).
fn structured_len(most: u64, least: u64) -> usize {
    varint_field_len(STRUCTURED_MOST, most) + varint_field_len(STRUCTURED_LEAST, least)
}

/// The length of a map entry: key and value, each left out when empty, as prost writes maps.
fn entry_len(key: &str, value: &[u8]) -> usize {
    len_field_len(MAP_KEY, key.len()) + len_field_len(MAP_VALUE, value.len())
}

/// The length of a message field (written even when the message is empty).
fn message_field_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// The length of a proto3 `bytes` or `string` field: nothing when empty.
fn len_field_len(tag: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        message_field_len(tag, len)
    }
}

/// The length of a proto3 integer field: nothing when zero.
fn varint_field_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        encoding::key_len(tag) + encoding::encoded_len_varint(value)
    }
}

fn message_header(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encoding::encode_key(tag, WireType::LengthDelimited, buf);
    encoding::encode_varint(len as u64, buf);
}

fn len_field(tag: u32, value: &[u8], buf: &mut Vec<u8>) {
    if !value.is_empty() {
        message_header(tag, value.len(), buf);
        buf.put_slice(value);
    }
}

fn varint_field(tag: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        encoding::encode_key(tag, WireType::Varint, buf);
        encoding::encode_varint(value, buf);
    }
}

/// An `i64` in decimal, as `to_string` writes it, without the string.
struct Decimal {
    text: [u8; 20],
    start: usize,
}

impl Decimal {
    fn of(value: i64) -> Self {
        let mut text = [0u8; 20];
        let mut start = text.len();
        let mut rest = value.unsigned_abs();
        loop {
            start -= 1;
            text[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if value < 0 {
            start -= 1;
            text[start] = b'-';
        }
        Self { text, start }
    }

    fn digits(&self) -> &[u8] {
        &self.text[self.start..]
    }
}

impl std::fmt::Debug for EncodedReadResp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EncodedReadResp")
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Message for EncodedReadResp {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    /// Keeps each field as it came (the server never decodes its own answers; this keeps a decode
    /// and an encode the identity, field by field).
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        _ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        encoding::encode_key(tag, wire_type, &mut self.bytes);
        let fixed = match wire_type {
            WireType::Varint => {
                let value = encoding::decode_varint(buf)?;
                encoding::encode_varint(value, &mut self.bytes);
                return Ok(());
            }
            WireType::LengthDelimited => {
                let length = encoding::decode_varint(buf)?;
                encoding::encode_varint(length, &mut self.bytes);
                usize::try_from(length)
                    .map_err(|_| DecodeError::new("a field longer than memory"))?
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::StartGroup | WireType::EndGroup => {
                return Err(DecodeError::new("groups are not part of the protocol"))
            }
        };
        if buf.remaining() < fixed {
            return Err(DecodeError::new("buffer underflow"));
        }
        let start = self.bytes.len();
        self.bytes.resize(start + fixed, 0);
        buf.copy_to_slice(&mut self.bytes[start..]);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::grpc::proto::event_store::client::streams::read_resp;
    use crate::grpc::proto::event_store::client::StreamIdentifier;

    fn recorded_event() -> impl Strategy<Value = read_resp::read_event::RecordedEvent> {
        (
            any::<u128>(),
            any::<bool>(),
            "[a-z$-]{0,20}",
            any::<u64>(),
            any::<u64>(),
            proptest::collection::btree_map("[a-z-]{0,12}", "[ -~é]{0,20}", 0..4),
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(
                |(id, structured, stream, revision, position, metadata, custom, data)| {
                    read_resp::read_event::RecordedEvent {
                        id: Some(super::super::convert::proto_uuid(
                            uuid::Uuid::from_u128(id),
                            structured,
                        )),
                        stream_identifier: Some(StreamIdentifier {
                            stream_name: stream.into_bytes(),
                        }),
                        stream_revision: revision,
                        prepare_position: position,
                        commit_position: position,
                        metadata,
                        custom_metadata: custom,
                        data,
                    }
                },
            )
    }

    fn content() -> impl Strategy<Value = Content> {
        let timestamp = (any::<i64>(), 0i32..1_000_000_000)
            .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos });
        prop_oneof![
            (recorded_event(), proptest::option::of(any::<u64>())).prop_map(|(event, position)| {
                Content::Event(read_resp::ReadEvent {
                    event: Some(event),
                    link: None,
                    position: Some(match position {
                        Some(position) => read_resp::read_event::Position::CommitPosition(position),
                        None => read_resp::read_event::Position::NoPosition(()),
                    }),
                })
            }),
            "[a-f0-9-]{0,36}".prop_map(|id| Content::Confirmation(
                read_resp::SubscriptionConfirmation {
                    subscription_id: id
                }
            )),
            (any::<u64>(), timestamp.clone()).prop_map(|(position, timestamp)| {
                Content::Checkpoint(read_resp::Checkpoint {
                    commit_position: position,
                    prepare_position: position,
                    timestamp: Some(timestamp),
                })
            }),
            "[a-z-]{0,20}".prop_map(|stream| Content::StreamNotFound(read_resp::StreamNotFound {
                stream_identifier: Some(StreamIdentifier {
                    stream_name: stream.into_bytes()
                }),
            })),
            any::<u64>().prop_map(Content::FirstStreamPosition),
            timestamp.prop_map(|timestamp| Content::CaughtUp(read_resp::CaughtUp {
                timestamp: Some(timestamp),
                stream_revision: None,
                position: None,
            })),
        ]
    }

    proptest! {
        /// What goes on the wire is what tonic wrote for the `ReadResp` itself, for every kind of
        /// message a read sends; it decodes to the same message, and decoding it as an encoded
        /// message and encoding it again changes no byte.
        #[test]
        fn encoded_is_the_message_byte_for_byte(content in content()) {
            let message = ReadResp { content: Some(content) };
            let encoded = EncodedReadResp::of(&message);
            let bytes = encoded.encode_to_vec();
            prop_assert_eq!(&bytes, &message.encode_to_vec());
            prop_assert_eq!(encoded.encoded_len(), bytes.len());
            prop_assert_eq!(ReadResp::decode(bytes.as_slice()).expect("decodes"), message.clone());
            prop_assert_eq!(
                EncodedReadResp::decode(bytes.as_slice()).expect("decodes").encode_to_vec(),
                bytes
            );
            prop_assert_eq!(
                encoded.is_event(),
                matches!(message.content, Some(Content::Event(_)))
            );
        }
    }

    fn viewed() -> impl Strategy<Value = Viewed> {
        (
            (
                any::<u128>(),
                any::<bool>(),
                "[a-z$-]{0,20}|person-[a-f0-9-]{36}",
            ),
            (
                prop_oneof![Just(0u64), any::<u64>()],
                prop_oneof![Just(0u64), 1u64..1_000_000, any::<u64>()],
            ),
            ("[A-Za-z$]{0,24}", any::<bool>(), any::<i64>()),
            (
                proptest::collection::vec(any::<u8>(), 0..300),
                proptest::collection::vec(any::<u8>(), 0..300),
            ),
        )
            .prop_map(
                |(
                    (id, structured_id, stream),
                    (revision, position),
                    (event_type, json, created),
                    (custom_metadata, data),
                )| Viewed {
                    id: uuid::Uuid::from_u128(id),
                    structured_id,
                    stream,
                    revision,
                    position,
                    event_type,
                    json,
                    created,
                    custom_metadata,
                    data,
                },
            )
    }

    proptest! {
        /// An event written straight from its fields is, byte for byte, what prost writes for the
        /// `ReadResp` of the message [`Viewed::proto`] makes of it: every view of every role ends
        /// in a `Viewed`, so this holds for all of them (ids in both forms, empty and zero fields,
        /// which proto3 leaves out, lengths past one varint byte, negative times).
        #[test]
        fn a_viewed_event_is_prost_s_bytes(viewed in viewed()) {
            let message = ReadResp {
                content: Some(Content::Event(read_resp::ReadEvent {
                    event: Some(viewed.proto()),
                    link: None,
                    position: Some(read_resp::read_event::Position::CommitPosition(
                        viewed.position,
                    )),
                })),
            };
            let encoded = EncodedReadResp::event(&viewed);
            prop_assert_eq!(encoded.encode_to_vec(), message.encode_to_vec());
            prop_assert!(encoded.is_event());
        }
    }

    #[test]
    fn a_truncated_field_is_refused() {
        let message = ReadResp {
            content: Some(Content::Confirmation(read_resp::SubscriptionConfirmation {
                subscription_id: "abc".into(),
            })),
        };
        let bytes = message.encode_to_vec();
        assert!(EncodedReadResp::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
