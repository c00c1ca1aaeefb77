//! The event log in a KurrentDB (EventStoreDB) server, through the `kurrentdb` client.
//!
//! One server stream per ledger stream, named with the prefix of [`names`]; each record as the
//! ledger stores it ([`codec`]: the payload, sealed above the log, is the event's data, so the
//! server holds ciphertext only). Expected revisions are the server's stream states, event ids its
//! idempotency key, and the server's commit positions the log's positions: ordered, not dense.
//! Reads and subscriptions of `$all` are filtered server-side to the ledger's prefix.
//!
//! An append is one round trip when it carries one event: the server's answer names the stream's
//! new revision and the position of the append's last event, which for one event is all the
//! outcome needs. An append of several events reads them back (a second round trip) for the
//! positions of the others, which the answer does not carry. The server keeps idempotency on event
//! ids: a retry is answered with the original revision and position. An answer naming a position
//! this handle had already seen stored when it sent the append is such a retry; then the events
//! are read back and their content digests compared, because KurrentDB compares ids only (journey's
//! endpoint also refuses other content under a stored id itself).
//!
//! A lost connection (the server restarting, the leader changing) is [`LogError::Unavailable`].
//! Calls are retried with back-off ([`RetryPolicy`]) where that is safe, which is every call here:
//! reads change nothing, and an append carries its event ids, so a retry after a lost answer is
//! answered with the original outcome instead of writing twice. A subscription reconnects from the
//! position after the last event it delivered, so its reader sees no gap and no duplicate.

mod codec;
pub mod names;
mod subscription;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, EventData, Position,
    ReadAllOptions, ReadStreamOptions, StreamPosition, StreamState, SubscriptionFilter,
};
use uuid::Uuid;

use super::{
    check_append_within, AllFrom, AppendOutcome, Direction, EventLog, ExpectedRevision, LogError,
    NewEvent, Position as LogPosition, RecordedEvent, StreamFrom, Subscription, READ_LIMIT_MAX,
};

pub use names::LEDGER_STREAM_PREFIX;

/// The largest append in bytes of data and metadata: KurrentDB's default `MaxAppendSize`, which
/// journey's endpoint keeps too. A larger one is refused before it is sent, with what to do.
pub const APPEND_BYTES_MAX: usize = 1024 * 1024;

/// How calls that found the server unavailable are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts of one call before it fails with [`LogError::Unavailable`] (subscriptions retry
    /// for as long as they are read).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after each further one.
    pub first_pause: Duration,
    /// The longest pause.
    pub pause_max: Duration,
    /// How long one call may take before it counts as failed.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// About half a minute of retries: long enough for a server restart or a leader election.
    fn default() -> Self {
        Self {
            attempts: 20,
            first_pause: Duration::from_millis(50),
            pause_max: Duration::from_secs(2),
            deadline: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after `failures` failures in a row.
    fn pause(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.first_pause.saturating_mul(factor).min(self.pause_max)
    }
}

/// Why a connection string was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("`{connection}` is not a KurrentDB connection string ({reason}); write for example `kurrentdb://admin:changeit@localhost:2113?tlsCaFile=ca.crt`")]
    Invalid { connection: String, reason: String },
    #[error("the KurrentDB client for `{connection}` could not be created: {reason}")]
    Client { connection: String, reason: String },
}

/// The event log in a KurrentDB server.
pub struct KurrentLog {
    client: Client,
    /// The connection string without its password, for messages.
    connection: String,
    retry: RetryPolicy,
    closed: Arc<AtomicBool>,
    /// One more than the highest position this handle has seen stored (acknowledged or read), 0
    /// before it has seen any: an append answered with a position at or below what was seen before
    /// it was sent is answered from events stored before it, a retry.
    seen: AtomicU64,
}

impl std::fmt::Debug for KurrentLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KurrentLog")
            .field("connection", &self.connection)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Whether `store` is a connection string of this backend (`kurrentdb://`, `kurrentdb+discover://`,
/// `esdb://`, `esdb+discover://`).
pub fn is_connection_string(store: &str) -> bool {
    [
        "kurrentdb://",
        "kurrentdb+discover://",
        "esdb://",
        "esdb+discover://",
    ]
    .iter()
    .any(|scheme| store.starts_with(scheme))
}

/// `connection` with the password of its credentials replaced by `***`.
pub fn redact(connection: &str) -> String {
    let Some((scheme, rest)) = connection.split_once("://") else {
        return connection.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => connection.to_owned(),
        },
        None => connection.to_owned(),
    }
}

impl KurrentLog {
    /// A log in the server `connection` names (any connection string the `kurrentdb` crate
    /// accepts). Connects lazily: the first call finds out whether the server answers.
    pub fn connect(connection: &str, retry: RetryPolicy) -> Result<Self, ConnectError> {
        let redacted = redact(connection);
        let settings: ClientSettings =
            connection
                .parse()
                .map_err(
                    |error: kurrentdb::ClientSettingsParseError| ConnectError::Invalid {
                        connection: redacted.clone(),
                        // The parser's message quotes the whole string, password included.
                        reason: error.to_string().replace(connection, &redacted),
                    },
                )?;
        let client = Client::new(settings).map_err(|error| ConnectError::Client {
            connection: redacted.clone(),
            reason: error.to_string(),
        })?;
        Ok(Self {
            client,
            connection: redacted,
            retry,
            closed: Arc::new(AtomicBool::new(false)),
            seen: AtomicU64::new(0),
        })
    }

    /// The connection string, without its password.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// Notes that events up to `position` are stored.
    fn saw(&self, position: LogPosition) {
        self.seen
            .fetch_max(position.raw().saturating_add(1), Ordering::AcqRel);
    }

    /// The highest position this handle has seen stored, `None` before it has seen any.
    fn seen(&self) -> Option<LogPosition> {
        self.seen
            .load(Ordering::Acquire)
            .checked_sub(1)
            .map(LogPosition::from_raw)
    }

    /// Notes the positions of `events`, which were just read.
    fn saw_all(&self, events: &[RecordedEvent]) {
        if let Some(highest) = events.iter().map(|event| event.position).max() {
            self.saw(highest);
        }
    }

    fn check_open(&self) -> Result<(), LogError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed);
        }
        Ok(())
    }

    /// Runs `call` until it succeeds, fails with something other than a lost connection, or the
    /// attempts are used up.
    async fn retrying<T, F, Fut>(&self, mut call: F) -> Result<T, LogError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LogError>>,
    {
        let mut failures = 0;
        loop {
            self.check_open()?;
            match call().await {
                Err(LogError::Unavailable { reason }) => {
                    failures += 1;
                    if failures >= self.retry.attempts {
                        return Err(LogError::Unavailable {
                            reason: format!(
                                "{reason}, after {failures} attempts at {}",
                                self.connection
                            ),
                        });
                    }
                    tracing::warn!(connection = %self.connection, failures, %reason, "the KurrentDB server is unavailable; retrying");
                    tokio::time::sleep(self.retry.pause(failures)).await;
                }
                other => return other,
            }
        }
    }

    async fn append_once(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: &[NewEvent],
        data: Vec<EventData>,
    ) -> Result<AppendOutcome, LogError> {
        // Taken before the append is sent: every position seen by then is of an event stored
        // before the server took this append, so a fresh append's position is beyond it.
        let seen_before = self.seen();
        let options = AppendToStreamOptions::default()
            .stream_state(stream_state(expected))
            .deadline(self.retry.deadline);
        let written = match self
            .client
            .append_to_stream(names::server_stream(stream), &options, data)
            .await
        {
            Ok(written) => written,
            Err(error) => {
                let error = server_error(error, stream, expected);
                if matches!(error, LogError::Storage(_)) {
                    // A refusal may be a stored id with other content, which the log names.
                    return Err(self.duplicate(stream, events).await?.unwrap_or(error));
                }
                return Err(error);
            }
        };
        let count = events.len() as u64;
        let last_revision = written.next_expected_version;
        let answered = LogPosition::from_raw(written.position.commit);
        let replayed = seen_before.is_some_and(|seen| answered <= seen);
        // KurrentDB answers some appends without a position, which the client reports as the
        // start of the log; then the position is read, as it is for the first event of several.
        let has_position = written.position != Position::start();
        let outcome = if count == 1 && has_position && !replayed {
            AppendOutcome {
                first_position: answered,
                last_position: answered,
                stream_revision: last_revision,
                replayed: false,
            }
        } else {
            self.read_back(stream, events, last_revision, answered, replayed)
                .await?
        };
        self.saw(outcome.last_position);
        Ok(outcome)
    }

    /// The outcome of an append of `events` that the server answered with `last_revision` (and
    /// `answered`, for messages): the events are read at their revisions, which checks that they
    /// hold the ids this append sent (a server that answered for other events is caught here) and,
    /// for a retry, that they hold the same content (KurrentDB answers a stored id without
    /// comparing it).
    async fn read_back(
        &self,
        stream: &str,
        events: &[NewEvent],
        last_revision: u64,
        answered: LogPosition,
        replayed: bool,
    ) -> Result<AppendOutcome, LogError> {
        let count = events.len() as u64;
        let first_revision =
            (last_revision + 1)
                .checked_sub(count)
                .ok_or_else(|| LogError::Corrupt {
                    position: answered,
                    reason: format!(
                    "the server put {count} events into `{stream}` ending at revision {last_revision}"
                ),
                })?;
        let stored = self
            .read_stream_once(
                stream,
                StreamFrom::Revision(first_revision),
                Direction::Forwards,
                events.len(),
            )
            .await?;
        let matches = stored.len() == events.len()
            && stored
                .iter()
                .zip(events)
                .all(|(stored, sent)| stored.event.id == sent.id);
        let (Some(first), Some(last), true) = (stored.first(), stored.last(), matches) else {
            return Err(LogError::Corrupt {
                position: answered,
                reason: format!(
                    "`{stream}` revisions {first_revision}..={last_revision} do not hold the events just appended"
                ),
            });
        };
        if let Some((stored, _)) = stored
            .iter()
            .zip(events)
            .find(|(stored, sent)| stored.event.content_digest != sent.content_digest)
        {
            return Err(LogError::DuplicateIdConflict {
                id: stored.event.id,
                position: stored.position,
            });
        }
        Ok(AppendOutcome {
            first_position: first.position,
            last_position: last.position,
            stream_revision: last_revision,
            replayed,
        })
    }

    /// Why an append of `events` to `stream` that the server refused conflicts with what is
    /// stored: an id stored with other content, or some ids stored and others not. `None` when
    /// none of the ids is stored.
    async fn duplicate(
        &self,
        stream: &str,
        events: &[NewEvent],
    ) -> Result<Option<LogError>, LogError> {
        let mut stored_id = None;
        let mut new_id = None;
        for event in events {
            match self.find_event(stream, event.id).await? {
                Some(stored) if stored.event.content_digest != event.content_digest => {
                    return Ok(Some(LogError::DuplicateIdConflict {
                        id: event.id,
                        position: stored.position,
                    }));
                }
                Some(_) => stored_id = stored_id.or(Some(event.id)),
                None => new_id = new_id.or(Some(event.id)),
            }
        }
        Ok(match (stored_id, new_id) {
            (Some(stored), Some(new)) => Some(LogError::PartialDuplicate { stored, new }),
            _ => None,
        })
    }

    async fn read_stream_once(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let options = ReadStreamOptions::default()
            .position(match from {
                StreamFrom::Start => StreamPosition::Start,
                StreamFrom::End => StreamPosition::End,
                StreamFrom::Revision(revision) => StreamPosition::Position(revision),
            })
            .max_count(limit)
            .deadline(self.retry.deadline);
        let options = match direction {
            Direction::Forwards => options.forwards(),
            Direction::Backwards => options.backwards(),
        };
        let read = self
            .client
            .read_stream(names::server_stream(stream), &options)
            .await;
        let mut read = match read {
            Ok(read) => read,
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(error) => return Err(read_error(error)),
        };
        let mut events = Vec::new();
        loop {
            match read.next().await {
                Ok(Some(resolved)) => {
                    if let Some(event) = codec::decode(&resolved)? {
                        events.push(event);
                    }
                }
                Ok(None) => {
                    self.saw_all(&events);
                    return Ok(events);
                }
                Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
                Err(error) => return Err(read_error(error)),
            }
        }
    }

    /// Reads `$all` filtered to the ledger's streams (and to `prefix` within them).
    async fn read_all_once(
        &self,
        from: StreamPosition<Position>,
        backwards: bool,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let options = ReadAllOptions::default()
            .position(from)
            .filter(ledger_filter(prefix))
            .max_count(limit)
            .deadline(self.retry.deadline);
        let options = if backwards {
            options.backwards()
        } else {
            options.forwards()
        };
        let mut read = self.client.read_all(&options).await.map_err(read_error)?;
        let mut events = Vec::new();
        while let Some(resolved) = read.next().await.map_err(read_error)? {
            if let Some(event) = codec::decode(&resolved)? {
                events.push(event);
            }
        }
        self.saw_all(&events);
        Ok(events)
    }

    /// The position of the ledger's last event, `None` when it has none.
    async fn last_position_once(&self) -> Result<Option<LogPosition>, LogError> {
        Ok(self
            .read_all_once(StreamPosition::End, true, "", 1)
            .await?
            .first()
            .map(|event| event.position))
    }
}

/// The server's filter for the ledger's streams whose names begin with `prefix`.
fn ledger_filter(prefix: &str) -> SubscriptionFilter {
    SubscriptionFilter::on_stream_name().add_prefix(names::server_stream(prefix))
}

/// A position as the client takes it: commit and prepare positions are the same for the events
/// of one append, which is all the ledger writes.
fn at(position: u64) -> StreamPosition<Position> {
    StreamPosition::Position(Position {
        commit: position,
        prepare: position,
    })
}

/// Where the server's read of `$all` starts for the log's `from` in `direction`. The server reads
/// forwards from a position inclusive and backwards from before it; positions are integers, so
/// the one after `p` is `p + 1` whether or not an event is there. `None`: nothing to read.
fn read_start(from: AllFrom, direction: Direction) -> Option<StreamPosition<Position>> {
    let raw = |position: LogPosition| position.raw();
    match (direction, from) {
        (Direction::Forwards, AllFrom::Start) => Some(StreamPosition::Start),
        (Direction::Forwards, AllFrom::End) | (Direction::Backwards, AllFrom::Start) => None,
        (Direction::Forwards, AllFrom::Including(position)) => Some(at(raw(position))),
        (Direction::Forwards, AllFrom::Excluding(position)) => {
            Some(at(raw(position).saturating_add(1)))
        }
        (Direction::Backwards, AllFrom::End) => Some(StreamPosition::End),
        (Direction::Backwards, AllFrom::Including(position)) => {
            Some(at(raw(position).saturating_add(1)))
        }
        (Direction::Backwards, AllFrom::Excluding(position)) => Some(at(raw(position))),
    }
}

/// A server refusal, as the source of [`LogError::Storage`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

fn refused(message: String) -> LogError {
    LogError::Storage(Box::new(Refused(message)))
}

fn unavailable(error: &kurrentdb::Error) -> LogError {
    LogError::Unavailable {
        reason: error.to_string(),
    }
}

fn stream_state(expected: ExpectedRevision) -> StreamState {
    match expected {
        ExpectedRevision::Any => StreamState::Any,
        ExpectedRevision::NoStream => StreamState::NoStream,
        ExpectedRevision::StreamExists => StreamState::StreamExists,
        ExpectedRevision::Exact(revision) => StreamState::StreamRevision(revision),
    }
}

/// Whether the client's error means the server could not be reached or did not answer in time
/// (worth a retry), as opposed to an answer.
fn is_unavailable(error: &kurrentdb::Error) -> bool {
    use kurrentdb::Error;
    match error {
        Error::ConnectionClosed
        | Error::GrpcConnectionError(_)
        | Error::DeadlineExceeded
        | Error::NotLeaderException(_) => true,
        // The client folds the gRPC codes Unavailable, Unknown (a transport error such as a
        // refused connection), Internal and DataLoss into this one case, keeping only the status
        // as text; the first two are a server out of reach.
        Error::ServerError(status) => {
            status.starts_with("status: Unavailable") || status.starts_with("status: Unknown")
        }
        Error::Grpc { code, .. } => matches!(
            code,
            tonic::Code::Unavailable
                | tonic::Code::Unknown
                | tonic::Code::Cancelled
                | tonic::Code::Aborted
                | tonic::Code::DeadlineExceeded
        ),
        _ => false,
    }
}

/// The log's error for a failed read.
fn read_error(error: kurrentdb::Error) -> LogError {
    if is_unavailable(&error) {
        return unavailable(&error);
    }
    refused(format!("the KurrentDB server refused a read: {error}"))
}

/// The log's error for a failed append to `stream`.
fn server_error(error: kurrentdb::Error, stream: &str, expected: ExpectedRevision) -> LogError {
    match error {
        kurrentdb::Error::WrongExpectedVersion { current, .. } => LogError::WrongExpectedRevision {
            stream: stream.to_owned(),
            expected,
            actual: match current {
                CurrentRevision::Current(revision) => Some(revision),
                CurrentRevision::NoStream => None,
            },
        },
        error if is_unavailable(&error) => unavailable(&error),
        error => refused(format!(
            "the KurrentDB server refused the append to `{stream}`: {error}"
        )),
    }
}

#[async_trait]
impl EventLog for KurrentLog {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, LogError> {
        check_append_within(stream, &events, names::STREAM_NAME_MAX)?;
        let mut data = Vec::with_capacity(events.len());
        let mut bytes = 0;
        for event in &events {
            let (encoded, size) = codec::encode(event)?;
            data.push(encoded);
            bytes += size;
        }
        if bytes > APPEND_BYTES_MAX {
            return Err(LogError::AppendTooLarge {
                bytes,
                max: APPEND_BYTES_MAX,
            });
        }
        self.retrying(|| self.append_once(stream, expected, &events, data.clone()))
            .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.retrying(|| self.read_stream_once(stream, from, direction, limit))
            .await
    }

    async fn read_all(
        &self,
        from: AllFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let limit = limit.min(READ_LIMIT_MAX);
        let Some(start) = read_start(from, direction).filter(|_| limit > 0) else {
            return Ok(Vec::new());
        };
        let backwards = direction == Direction::Backwards;
        self.retrying(|| self.read_all_once(start, backwards, "", limit))
            .await
    }

    async fn subscribe_all(&self, from: AllFrom) -> Result<Subscription, LogError> {
        self.check_open()?;
        Ok(subscription::follow(
            self.client.clone(),
            from,
            self.retry,
            self.closed.clone(),
        ))
    }

    async fn find_event(&self, stream: &str, id: Uuid) -> Result<Option<RecordedEvent>, LogError> {
        // KurrentDB has no index by event id; idempotency is scoped to the stream, and a retry
        // concerns its latest events, so the stream is searched from its end.
        let mut from = StreamFrom::End;
        loop {
            let page = self
                .read_stream(stream, from, Direction::Backwards, READ_LIMIT_MAX)
                .await?;
            let Some(oldest) = page.last().map(|event| event.revision) else {
                return Ok(None);
            };
            if let Some(found) = page.into_iter().find(|event| event.event.id == id) {
                return Ok(Some(found));
            }
            match oldest.checked_sub(1) {
                Some(before) => from = StreamFrom::Revision(before),
                None => return Ok(None),
            }
        }
    }

    async fn stream_revision(&self, stream: &str) -> Result<Option<u64>, LogError> {
        Ok(self
            .read_stream(stream, StreamFrom::End, Direction::Backwards, 1)
            .await?
            .first()
            .map(|event| event.revision))
    }

    async fn stream_names(&self, prefix: &str) -> Result<Vec<String>, LogError> {
        let mut names = std::collections::BTreeSet::new();
        let mut from = StreamPosition::Start;
        loop {
            let page = self
                .retrying(|| self.read_all_once(from, false, prefix, READ_LIMIT_MAX))
                .await?;
            let Some(last) = page.last() else {
                return Ok(names.into_iter().collect());
            };
            from = at(last.position.raw().saturating_add(1));
            names.extend(page.into_iter().map(|event| event.stream));
        }
    }

    async fn last_position(&self) -> Result<Option<LogPosition>, LogError> {
        self.retrying(|| self.last_position_once()).await
    }

    fn stream_name_max(&self) -> usize {
        names::STREAM_NAME_MAX
    }

    async fn close(&self) -> Result<(), LogError> {
        // Every acknowledged append is already durable in the server; closing stops new calls
        // and the subscriptions.
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redact("kurrentdb://admin:changeit@localhost:2113?tlsCaFile=/a@b"),
            "kurrentdb://admin:***@localhost:2113?tlsCaFile=/a@b"
        );
        assert_eq!(
            redact("esdb://localhost:2113?tls=false"),
            "esdb://localhost:2113?tls=false"
        );
    }

    #[test]
    fn a_bad_connection_string_is_refused_with_what_to_write() {
        let error = KurrentLog::connect("kurrentdb://admin:secret@", RetryPolicy::default())
            .expect_err("no host");
        let message = error.to_string();
        assert!(message.contains("kurrentdb://admin:***@"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!(message.contains("for example"), "{message}");
    }

    #[test]
    fn back_off_doubles_up_to_its_cap() {
        let policy = RetryPolicy {
            attempts: 10,
            first_pause: Duration::from_millis(100),
            pause_max: Duration::from_millis(500),
            deadline: Duration::from_secs(1),
        };
        let pauses: Vec<_> = (1..=5)
            .map(|failures| policy.pause(failures).as_millis())
            .collect();
        assert_eq!(pauses, vec![100, 200, 400, 500, 500]);
    }
}
