//! The stored form of the sled log: the keys of the `log` tree, the meta value, the records and the
//! index values (see the storage layout in the parent module's documentation).

// One concern of the sled log; it shares the module's private items.
use super::*;

/// The name of the sled tree that holds the log.
pub(super) const TREE_NAME: &str = "log";

pub(super) const EVENT_PREFIX: u8 = b'e';
pub(super) const INDEX_PREFIX: u8 = b'x';
/// The name table: `n` ‖ stream number (u32 BE) → the stream's name.
pub(super) const NAME_PREFIX: u8 = b'n';
/// The dictionary: `d` ‖ entry number (u32 BE) → an event type or an actor (see `tables.rs`).
pub(super) const DICTIONARY_PREFIX: u8 = b'd';
/// The stream and id index keys of meta format 1, removed by the migration.
pub(super) const LEGACY_STREAM_PREFIX: u8 = b's';
pub(super) const LEGACY_ID_PREFIX: u8 = b'i';
pub(super) const META_KEY: &[u8] = b"m";

/// The format of a stored record. A new format gets a new number, and the reader decodes by number.
/// Format 1 stores the global chain's `global_prev_hash`; format 2 does not (see [`StoredRecord`]);
/// format 3 names the stream by its number in the name table instead; format 4, which the writer
/// writes, also names the event type and the actor by their numbers in the dictionary.
pub(super) const RECORD_FORMAT_V1: u8 = 1;
pub(super) const RECORD_FORMAT_V2: u8 = 2;
pub(super) const RECORD_FORMAT_V3: u8 = 3;
pub(super) const RECORD_FORMAT_V4: u8 = 4;
/// The meta format of the layout with an `s` and an `i` key per event (migrated at open).
pub(super) const META_FORMAT_V1: u8 = 1;
/// The meta format of the layout with one `x` index key per group.
pub(super) const META_FORMAT_V2: u8 = 2;
/// The format of an `x` value.
pub(super) const INDEX_FORMAT_V1: u8 = 1;

pub(super) fn event_key(position: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = EVENT_PREFIX;
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

pub(super) fn name_key(number: u32) -> [u8; 5] {
    table_key(NAME_PREFIX, number)
}

pub(super) fn dictionary_key(number: u32) -> [u8; 5] {
    table_key(DICTIONARY_PREFIX, number)
}

fn table_key(prefix: u8, number: u32) -> [u8; 5] {
    let mut key = [0; 5];
    key[0] = prefix;
    key[1..].copy_from_slice(&number.to_be_bytes());
    key
}

/// Checks a name-table entry read at open or restored: it must be the next number, and a valid
/// stream name.
pub(super) fn decode_name(key: &[u8], value: &[u8], expected: u32) -> Result<Arc<str>, LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        position: Position::from_raw(u64::MAX),
        reason: format!("name table: {reason}"),
    };
    if key != name_key(expected) {
        return Err(corrupt(format!(
            "the key {key:?} where the name of stream {expected} was due"
        )));
    }
    match std::str::from_utf8(value) {
        Ok(name) if is_valid_stream_name(name) => Ok(name.into()),
        _ => Err(corrupt(format!(
            "stream {expected} has an invalid name {value:?}"
        ))),
    }
}

pub(super) fn index_key(first_position: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = INDEX_PREFIX;
    key[1..].copy_from_slice(&first_position.to_be_bytes());
    key
}

pub(super) fn meta_value(format: u8, next_position: u64, last_hash: &[u8; 32]) -> [u8; 41] {
    let mut value = [0; 41];
    value[0] = format;
    value[1..9].copy_from_slice(&next_position.to_be_bytes());
    value[9..].copy_from_slice(last_hash);
    value
}

/// Reads a big-endian u64 at `offset` of `bytes`, `None` when it is too short.
pub(super) fn be_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let slice = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_be_bytes(slice.try_into().ok()?))
}

/// A run of consecutive events of one stream in an `x` value: the events at the next
/// `ids.len()` positions have revisions `first_revision`, `first_revision + 1`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IndexRun<'a> {
    pub(super) stream: Cow<'a, str>,
    pub(super) first_revision: u64,
    pub(super) ids: Vec<[u8; 16]>,
}

/// Appends the event `id` at `revision` of `stream` to `runs`, extending the last run if it can.
pub(super) fn push_run(runs: &mut Vec<IndexRun<'static>>, stream: &str, revision: u64, id: Uuid) {
    if let Some(last) = runs.last_mut() {
        if last.stream == stream && last.first_revision + last.ids.len() as u64 == revision {
            last.ids.push(id.into_bytes());
            return;
        }
    }
    runs.push(IndexRun {
        stream: Cow::Owned(stream.to_owned()),
        first_revision: revision,
        ids: vec![id.into_bytes()],
    });
}

/// The stored bytes of an `x` value.
pub(super) fn encode_index_value(
    first_position: u64,
    runs: &[IndexRun<'_>],
) -> Result<Vec<u8>, LogError> {
    let mut bytes = vec![INDEX_FORMAT_V1];
    postcard::to_io(runs, &mut bytes).map_err(|error| LogError::Corrupt {
        position: Position::from_raw(first_position),
        reason: format!("cannot encode the index entries: {error}"),
    })?;
    Ok(bytes)
}

/// Decodes the `x` value of the key at `first_position`.
pub(super) fn decode_index_value(
    first_position: u64,
    bytes: &[u8],
) -> Result<Vec<IndexRun<'_>>, LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        position: Position::from_raw(first_position),
        reason: format!("index entries: {reason}"),
    };
    match bytes.first() {
        Some(&INDEX_FORMAT_V1) => {}
        Some(other) => return Err(corrupt(format!("unknown format {other}"))),
        None => return Err(corrupt("empty value".to_owned())),
    }
    let (runs, rest) = postcard::take_from_bytes::<Vec<IndexRun<'_>>>(&bytes[1..])
        .map_err(|error| corrupt(format!("do not decode: {error}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    if runs.is_empty() {
        return Err(corrupt("no entries".to_owned()));
    }
    for run in &runs {
        if run.ids.is_empty() {
            return Err(corrupt(format!("an empty run of `{}`", run.stream)));
        }
        if !is_valid_stream_name(&run.stream) {
            return Err(corrupt(format!("invalid stream name {:?}", run.stream)));
        }
    }
    Ok(runs)
}

/// Who recorded an event, as records of formats 1 to 3 store it: three fields in a row (postcard
/// writes a nested struct as its fields, so the bytes are those of the three fields inline).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredActor<'a> {
    pub(super) id: Cow<'a, str>,
    /// The agency's wire name, so that reordering the catalogue cannot change stored meaning.
    pub(super) agency: Option<Cow<'a, str>>,
    pub(super) role: u8,
}

impl<'a> StoredActor<'a> {
    pub(super) fn borrowed(actor: &'a LogActor) -> Self {
        Self {
            id: Cow::Borrowed(&actor.id),
            agency: actor.agency.as_deref().map(Cow::Borrowed),
            role: actor.role,
        }
    }

    pub(super) fn into_log(self) -> LogActor {
        LogActor {
            id: self.id.into_owned(),
            agency: self.agency.map(Cow::into_owned),
            role: self.role,
        }
    }
}

/// The record as stored under `e` ‖ position, formats 2 to 4. Only primitive fields, so that the
/// bytes do not change when a Rust type gains a serde attribute; `format` comes first so that a
/// reader can tell formats apart before decoding the rest. Borrowed on the write path, owned on the
/// read path.
///
/// Format 2 is format 1 ([`StoredRecordV1`]) without `global_prev_hash`: that is the `global_hash`
/// of the record at the position before (the genesis hash at position 0), so the reader takes it
/// from there, and `verify` still recomputes every `global_hash` from the one before. Format 2
/// stores the stream's name (`S` = `Cow<str>`); format 3 its number in the name table (`S` = `u32`,
/// a varint of 1 to 3 bytes for a few million streams instead of 44 bytes for `person-<uuid>`),
/// whose `n` key the writer puts in the same batch as the stream's first format-3 record. Format 4
/// also stores the event type and the actor as numbers of the dictionary (`T` = `A` = `u32`, a
/// varint of 1 or 2 bytes for a few hundred entries instead of about 40 bytes), whose `d` keys go
/// into the batch of the first record that uses them.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredRecord<'a, S, T = Cow<'a, str>, A = StoredActor<'a>> {
    pub(super) format: u8,
    pub(super) position: u64,
    pub(super) stream: S,
    pub(super) revision: u64,
    pub(super) id: [u8; 16],
    pub(super) event_type: T,
    pub(super) version: u32,
    /// Days since 0001-01-01 (chrono's `num_days_from_ce`).
    pub(super) occurred_on_days: i32,
    /// Microseconds since the Unix epoch: the precision of the chain's canonical envelope.
    pub(super) recorded_at_micros: i64,
    pub(super) actor: A,
    pub(super) correlation_id: Option<[u8; 16]>,
    pub(super) causation_id: Option<[u8; 16]>,
    pub(super) encoding: u8,
    pub(super) payload: Cow<'a, [u8]>,
    pub(super) content_digest: [u8; 32],
    pub(super) prev_hash: [u8; 32],
    pub(super) hash: [u8; 32],
    pub(super) global_hash: [u8; 32],
}

/// The record of format 1, which stores `global_prev_hash` too. Stores written before format 2
/// hold such records, and they stay readable as they are.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredRecordV1<'a> {
    pub(super) format: u8,
    pub(super) position: u64,
    pub(super) stream: Cow<'a, str>,
    pub(super) revision: u64,
    pub(super) id: [u8; 16],
    pub(super) event_type: Cow<'a, str>,
    pub(super) version: u32,
    pub(super) occurred_on_days: i32,
    pub(super) recorded_at_micros: i64,
    pub(super) actor: StoredActor<'a>,
    pub(super) correlation_id: Option<[u8; 16]>,
    pub(super) causation_id: Option<[u8; 16]>,
    pub(super) encoding: u8,
    pub(super) payload: Cow<'a, [u8]>,
    pub(super) content_digest: [u8; 32],
    pub(super) prev_hash: [u8; 32],
    pub(super) hash: [u8; 32],
    pub(super) global_prev_hash: [u8; 32],
    pub(super) global_hash: [u8; 32],
}

impl<'a> StoredRecordV1<'a> {
    /// The fields format 2 keeps, and the stored `global_prev_hash`.
    fn split(self) -> (StoredRecord<'a, Cow<'a, str>>, [u8; 32]) {
        let record = StoredRecord {
            format: self.format,
            position: self.position,
            stream: self.stream,
            revision: self.revision,
            id: self.id,
            event_type: self.event_type,
            version: self.version,
            occurred_on_days: self.occurred_on_days,
            recorded_at_micros: self.recorded_at_micros,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            encoding: self.encoding,
            payload: self.payload,
            content_digest: self.content_digest,
            prev_hash: self.prev_hash,
            hash: self.hash,
            global_hash: self.global_hash,
        };
        (record, self.global_prev_hash)
    }
}

impl<'a, S, T, A> StoredRecord<'a, S, T, A> {
    /// The same record naming its stream, event type and actor by what `name` makes of them.
    fn named<S2, T2, A2>(
        self,
        name: impl FnOnce(S, T, A) -> (S2, T2, A2),
    ) -> StoredRecord<'a, S2, T2, A2> {
        let (stream, event_type, actor) = name(self.stream, self.event_type, self.actor);
        StoredRecord {
            format: self.format,
            position: self.position,
            stream,
            revision: self.revision,
            id: self.id,
            event_type,
            version: self.version,
            occurred_on_days: self.occurred_on_days,
            recorded_at_micros: self.recorded_at_micros,
            actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            encoding: self.encoding,
            payload: self.payload,
            content_digest: self.content_digest,
            prev_hash: self.prev_hash,
            hash: self.hash,
            global_hash: self.global_hash,
        }
    }
}

pub(super) fn encoding_code(encoding: PayloadEncoding) -> u8 {
    match encoding {
        PayloadEncoding::Json => 0,
        PayloadEncoding::Sealed => 1,
        PayloadEncoding::Opaque => 2,
    }
}

pub(super) fn encoding_from_code(code: u8) -> Option<PayloadEncoding> {
    match code {
        0 => Some(PayloadEncoding::Json),
        1 => Some(PayloadEncoding::Sealed),
        2 => Some(PayloadEncoding::Opaque),
        _ => None,
    }
}

/// The record of `event` at `position` / `revision` of formats 1 to 3, naming its stream by
/// `stream` (a name or a number) and its event type and actor by their strings, borrowing from
/// them.
fn stored_record<'a, S>(
    format: u8,
    position: u64,
    stream: S,
    revision: u64,
    event: &'a NewEvent,
    global_hash: &[u8; 32],
) -> StoredRecord<'a, S> {
    StoredRecord {
        format,
        position,
        stream,
        revision,
        id: event.id.into_bytes(),
        event_type: Cow::Borrowed(&event.event_type),
        version: event.version,
        occurred_on_days: event.occurred_on.num_days_from_ce(),
        recorded_at_micros: event.recorded_at.timestamp_micros(),
        actor: StoredActor::borrowed(&event.actor),
        correlation_id: event.correlation_id.map(Uuid::into_bytes),
        causation_id: event.causation_id.map(Uuid::into_bytes),
        encoding: encoding_code(event.encoding),
        payload: Cow::Borrowed(&event.payload),
        content_digest: event.content_digest,
        prev_hash: event.prev_hash,
        hash: event.hash,
        global_hash: *global_hash,
    }
}

/// Encodes `record` into a buffer sized for it at once (the fixed fields take under 300 bytes
/// besides the strings and the payload), so that encoding does not grow the buffer step by step.
fn encode<T: Serialize>(position: u64, record: &T, strings: usize) -> Result<Vec<u8>, LogError> {
    postcard::to_io(record, Vec::with_capacity(320 + strings)).map_err(|error| LogError::Corrupt {
        position: Position::from_raw(position),
        reason: format!("cannot encode the record: {error}"),
    })
}

/// The numbers a format-4 record names its stream (name table), event type and actor
/// (dictionary) by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordNumbers {
    pub(super) stream: u32,
    pub(super) event_type: u32,
    pub(super) actor: u32,
}

/// The stored bytes of `event` at `position` / `revision` as a format-4 record naming its stream,
/// event type and actor by `numbers`, whose global chain hash is `global_hash`.
pub(super) fn encode_record(
    position: u64,
    numbers: RecordNumbers,
    revision: u64,
    event: &NewEvent,
    global_hash: &[u8; 32],
) -> Result<Vec<u8>, LogError> {
    let record = stored_record(
        RECORD_FORMAT_V4,
        position,
        numbers.stream,
        revision,
        event,
        global_hash,
    )
    .named(|stream, _, _| (stream, numbers.event_type, numbers.actor));
    encode(position, &record, event.payload.len())
}

/// The stored bytes of `event` as a format-3 record, as the build before format 4 wrote them: the
/// tests write stores of every format with it.
#[cfg(test)]
pub(super) fn encode_record_v3(
    position: u64,
    stream: u32,
    revision: u64,
    event: &NewEvent,
    global_hash: &[u8; 32],
) -> Result<Vec<u8>, LogError> {
    let record = stored_record(
        RECORD_FORMAT_V3,
        position,
        stream,
        revision,
        event,
        global_hash,
    );
    let strings = event.event_type.len() + event.actor.id.len() + event.payload.len();
    encode(position, &record, strings)
}

/// The stored bytes of `event` as a format-2 record, as the build before format 3 wrote them.
#[cfg(test)]
pub(super) fn encode_record_v2(
    position: u64,
    stream: &str,
    revision: u64,
    event: &NewEvent,
    global_hash: &[u8; 32],
) -> Result<Vec<u8>, LogError> {
    let record = stored_record(
        RECORD_FORMAT_V2,
        position,
        Cow::Borrowed(stream),
        revision,
        event,
        global_hash,
    );
    let strings =
        stream.len() + event.event_type.len() + event.actor.id.len() + event.payload.len();
    encode(position, &record, strings)
}

/// The stored bytes of `event` as a format-1 record, as builds before format 2 wrote them: the
/// tests write stores of both formats with it.
#[cfg(test)]
pub(super) fn encode_record_v1(
    position: u64,
    stream: &str,
    revision: u64,
    event: &NewEvent,
    global_prev_hash: &[u8; 32],
    global_hash: &[u8; 32],
) -> Result<Vec<u8>, LogError> {
    let record = stored_record(
        RECORD_FORMAT_V1,
        position,
        Cow::Borrowed(stream),
        revision,
        event,
        global_hash,
    );
    let record = StoredRecordV1 {
        format: RECORD_FORMAT_V1,
        position: record.position,
        stream: record.stream,
        revision: record.revision,
        id: record.id,
        event_type: record.event_type,
        version: record.version,
        occurred_on_days: record.occurred_on_days,
        recorded_at_micros: record.recorded_at_micros,
        actor: record.actor,
        correlation_id: record.correlation_id,
        causation_id: record.causation_id,
        encoding: record.encoding,
        payload: record.payload,
        content_digest: record.content_digest,
        prev_hash: record.prev_hash,
        hash: record.hash,
        global_prev_hash: *global_prev_hash,
        global_hash: record.global_hash,
    };
    let strings =
        stream.len() + event.event_type.len() + event.actor.id.len() + event.payload.len();
    encode(position, &record, strings)
}

/// A decoded record whose event still lacks its global link where the record does not store the
/// link's `prev_hash` (formats 2 to 4): the reader adds it from the record before
/// ([`Decoded::linked`]).
#[derive(Debug)]
pub(super) struct Decoded {
    /// The event, with `global_link` `None` until linked.
    pub(super) event: RecordedEvent,
    pub(super) global_hash: [u8; 32],
    /// The `global_prev_hash` a format-1 record stores.
    pub(super) stored_global_prev: Option<[u8; 32]>,
}

impl Decoded {
    /// The event with its global link. `global_prev` gives the global hash of the record before
    /// (the genesis hash at position 0); it is asked only when the record does not store it.
    pub(super) fn linked(
        self,
        global_prev: impl FnOnce() -> Result<[u8; 32], LogError>,
    ) -> Result<RecordedEvent, LogError> {
        let prev_hash = match self.stored_global_prev {
            Some(stored) => stored,
            None => global_prev()?,
        };
        Ok(RecordedEvent {
            global_link: Some(GlobalLink {
                prev_hash,
                hash: self.global_hash,
            }),
            ..self.event
        })
    }
}

/// Decodes `bytes` whole as a `T`, or says why not.
fn decode_whole<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let (record, rest) = postcard::take_from_bytes::<T>(bytes)
        .map_err(|error| format!("record does not decode: {error}"))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after the record", rest.len()));
    }
    Ok(record)
}

/// The name of the stream numbered `number` in `tables`, or why the record is corrupt.
fn table_stream(tables: &Tables, number: u32) -> Result<Cow<'static, str>, String> {
    tables
        .stream_name(number)
        .map(|name| Cow::Owned(String::from(&**name)))
        .ok_or_else(|| format!("the stream number {number} has no name in the name table"))
}

/// Decodes the record stored under the key of `key_position`, of any format, checking what the
/// writer guaranteed. `tables` name the numbers of formats 3 and 4.
pub(super) fn decode_record(
    key_position: u64,
    bytes: &[u8],
    tables: &Tables,
) -> Result<Decoded, LogError> {
    let corrupt = |reason: String| LogError::Corrupt {
        position: Position::from_raw(key_position),
        reason,
    };
    let (record, stored_global_prev) = match bytes.first() {
        Some(&RECORD_FORMAT_V1) => {
            let (record, global_prev) = decode_whole::<StoredRecordV1<'_>>(bytes)
                .map_err(corrupt)?
                .split();
            (record, Some(global_prev))
        }
        Some(&RECORD_FORMAT_V2) => (
            decode_whole::<StoredRecord<'_, Cow<'_, str>>>(bytes).map_err(corrupt)?,
            None,
        ),
        Some(&RECORD_FORMAT_V3) => {
            let record = decode_whole::<StoredRecord<'_, u32>>(bytes).map_err(corrupt)?;
            let stream = table_stream(tables, record.stream).map_err(corrupt)?;
            (
                record.named(|_, event_type, actor| (stream, event_type, actor)),
                None,
            )
        }
        Some(&RECORD_FORMAT_V4) => {
            let record = decode_whole::<StoredRecord<'_, u32, u32, u32>>(bytes).map_err(corrupt)?;
            let stream = table_stream(tables, record.stream).map_err(corrupt)?;
            let event_type = tables.event_type(record.event_type).ok_or_else(|| {
                corrupt(format!(
                    "the event type number {} is not an event type of the dictionary",
                    record.event_type
                ))
            })?;
            let actor = tables.actor(record.actor).ok_or_else(|| {
                corrupt(format!(
                    "the actor number {} is not an actor of the dictionary",
                    record.actor
                ))
            })?;
            let actor = StoredActor {
                id: Cow::Owned(actor.id.clone()),
                agency: actor.agency.clone().map(Cow::Owned),
                role: actor.role,
            };
            let event_type = Cow::Owned(String::from(&**event_type));
            (record.named(|_, _, _| (stream, event_type, actor)), None)
        }
        Some(other) => return Err(corrupt(format!("unknown record format {other}"))),
        None => return Err(corrupt("empty record".to_owned())),
    };
    if record.position != key_position {
        return Err(corrupt(format!(
            "the record says position {}",
            record.position
        )));
    }
    let occurred_on = NaiveDate::from_num_days_from_ce_opt(record.occurred_on_days)
        .ok_or_else(|| corrupt(format!("invalid date {}", record.occurred_on_days)))?;
    let recorded_at = DateTime::from_timestamp_micros(record.recorded_at_micros)
        .ok_or_else(|| corrupt(format!("invalid timestamp {}", record.recorded_at_micros)))?;
    let encoding = encoding_from_code(record.encoding)
        .ok_or_else(|| corrupt(format!("unknown payload encoding {}", record.encoding)))?;
    let event = RecordedEvent {
        position: Position(record.position),
        stream: record.stream.into_owned(),
        revision: record.revision,
        event: NewEvent {
            id: Uuid::from_bytes(record.id),
            event_type: record.event_type.into_owned(),
            version: record.version,
            occurred_on,
            recorded_at,
            actor: record.actor.into_log(),
            correlation_id: record.correlation_id.map(Uuid::from_bytes),
            causation_id: record.causation_id.map(Uuid::from_bytes),
            encoding,
            payload: record.payload.into_owned(),
            content_digest: record.content_digest,
            prev_hash: record.prev_hash,
            hash: record.hash,
        },
        global_link: None,
    };
    Ok(Decoded {
        event,
        global_hash: record.global_hash,
        stored_global_prev,
    })
}

/// The position in an event key.
pub(super) fn key_position(key: &[u8]) -> Result<u64, LogError> {
    match (key.first(), key.len(), be_u64(key, 1)) {
        (Some(&EVENT_PREFIX), 9, Some(position)) => Ok(position),
        _ => Err(LogError::Corrupt {
            position: Position::from_raw(u64::MAX),
            reason: format!("unexpected key {key:?} among the events"),
        }),
    }
}
