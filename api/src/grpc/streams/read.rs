//! `Streams.Read`: reads of a stream or of `$all` with a count, and catch-up subscriptions.
//!
//! Every read runs in a task that writes into a bounded channel the response stream drains, so a
//! client that reads slowly slows the task down instead of growing a buffer. A read with a count
//! sends the visible events of each page it reads from the log as one batch, so the task and the
//! response stream meet once per page rather than once per event. A subscription whose
//! client reads nothing for `stall` while the channel is full is dropped: its response stream ends
//! with `RESOURCE_EXHAUSTED` once the client drains what was buffered.
//!
//! Positions are the log's: `commit_position` = `prepare_position` = the global position. As in
//! KurrentDB, reads start at the given revision or position (inclusive; backwards reads of `$all`
//! from a position return the events before it) and subscriptions after it (exclusive).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use journey_core::log::{AllFrom, Direction, Position, StreamFrom};
use journey_core::plain::{self, Deletion, StreamKind};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::auth::Principal;
use crate::grpc::proto::event_store::client::{streams, StreamIdentifier};
use crate::state::AppState;

use super::convert::{Decided, Sight, Viewed, Viewer};
use super::filter::Filter;
use super::wire::EncodedReadResp;
use super::StreamsService;

use streams::read_req::options::{
    all_options::AllOption, stream_options::RevisionOption, CountOption, FilterOption,
    ReadDirection, StreamOption,
};
use streams::read_resp::{self, Content};
use streams::ReadReq;

pub type ReadStream = Pin<Box<dyn Stream<Item = Result<EncodedReadResp, Status>> + Send>>;

/// Events read from the log per page.
const PAGE: usize = 512;
/// Messages buffered between a subscription's task and its client.
const BUFFER: usize = 256;
/// Pages (of at most [`PAGE`] messages) buffered between a read's task and its client.
const PAGES_BUFFERED: usize = 4;

type Message = Result<EncodedReadResp, Status>;

/// Where a read of `$all` starts, as the client asked. A position is the log's own (the commit
/// position the client was given): a forward read includes the event there, a backward read and a
/// subscription start after it, as KurrentDB's do.
#[derive(Debug, Clone, Copy)]
enum AllStart {
    Start,
    End,
    Position(Position),
}

/// Where a read of a stream starts.
#[derive(Debug, Clone, Copy)]
enum RevisionFrom {
    Start,
    End,
    Revision(u64),
}

/// The sending half of a read, with the slot where a dropped subscription leaves its error.
struct Out {
    /// Batches of messages: one per page for reads, one message each for subscriptions.
    sender: mpsc::Sender<Vec<Message>>,
    failure: Arc<Mutex<Option<Status>>>,
    /// How long a full channel may stay full before a subscription is dropped; `None` for reads
    /// with a count, which simply wait.
    stall: Option<Duration>,
}

/// Why a read's task stops early.
struct Stop;

impl Out {
    async fn send(&self, content: Content) -> Result<(), Stop> {
        self.send_message(EncodedReadResp::of_content(content))
            .await
    }

    async fn send_message(&self, message: EncodedReadResp) -> Result<(), Stop> {
        let message = vec![Ok(message)];
        match self.stall {
            None => self.sender.send(message).await.map_err(|_| Stop),
            Some(stall) => match self.sender.send_timeout(message, stall).await {
                Ok(()) => Ok(()),
                Err(SendTimeoutError::Closed(_)) => Err(Stop),
                Err(SendTimeoutError::Timeout(_)) => {
                    *self
                        .failure
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Status::resource_exhausted(format!(
                        "the subscriber read nothing for {} s while {BUFFER} messages waited, so it was dropped; subscribe again from the last position it processed",
                        stall.as_secs()
                    )));
                    Err(Stop)
                }
            },
        }
    }

    /// Sends a page's messages at once (reads with a count, which have no stall to watch).
    async fn send_page(&self, page: Vec<EncodedReadResp>) -> Result<(), Stop> {
        if page.is_empty() {
            return Ok(());
        }
        let messages = page.into_iter().map(Ok).collect();
        self.sender.send(messages).await.map_err(|_| Stop)
    }

    async fn fail(&self, status: Status) {
        let _ = self.sender.send(vec![Err(status)]).await;
    }
}

fn channel(stall: Option<Duration>) -> (Out, ReadStream) {
    let capacity = if stall.is_some() {
        BUFFER
    } else {
        PAGES_BUFFERED
    };
    let (sender, receiver) = mpsc::channel(capacity);
    let failure = Arc::new(Mutex::new(None));
    let tail_failure = failure.clone();
    let tail = futures_util::stream::once(async move {
        tail_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    })
    .filter_map(|failure| async move { failure.map(Err) });
    let stream = ReceiverStream::new(receiver)
        .flat_map(futures_util::stream::iter)
        .chain(tail);
    (
        Out {
            sender,
            failure,
            stall,
        },
        Box::pin(stream),
    )
}

fn stream_not_found(stream: &str) -> Content {
    Content::StreamNotFound(read_resp::StreamNotFound {
        stream_identifier: Some(StreamIdentifier {
            stream_name: stream.as_bytes().to_vec(),
        }),
    })
}

fn now_timestamp() -> prost_types::Timestamp {
    let now = chrono::Utc::now();
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: now.timestamp_subsec_nanos() as i32,
    }
}

fn internal(error: impl std::fmt::Display) -> Status {
    Status::internal(error.to_string())
}

/// Answers a `Read` call.
pub async fn read(
    service: &StreamsService,
    principal: Principal,
    request: ReadReq,
) -> Result<ReadStream, Status> {
    let options = request
        .options
        .ok_or_else(|| Status::invalid_argument("a read needs its options"))?;
    let structured = matches!(
        options
            .uuid_option
            .as_ref()
            .and_then(|option| option.content.as_ref()),
        Some(streams::read_req::options::uuid_option::Content::Structured(()))
    );
    let filter = match &options.filter_option {
        Some(FilterOption::Filter(filter)) => Filter::from_options(Some(filter))?.map(Arc::new),
        _ => None,
    };
    let backwards = options.read_direction == ReadDirection::Backwards as i32;
    let mut viewer = Viewer::new(service.state.clone(), principal, structured);
    let state = service.state.clone();
    let subscription = match options.count_option {
        Some(CountOption::Count(_)) => None,
        Some(CountOption::Subscription(_)) => Some(()),
        None => {
            return Err(Status::invalid_argument(
                "a read needs a count or a subscription",
            ))
        }
    };
    let count = match options.count_option {
        Some(CountOption::Count(count)) => count,
        _ => u64::MAX,
    };
    match options.stream_option {
        Some(StreamOption::All(all)) => {
            viewer.may_read_all()?;
            let from = match all.all_option {
                Some(AllOption::Start(())) | None => AllStart::Start,
                Some(AllOption::End(())) => AllStart::End,
                Some(AllOption::Position(position)) => {
                    AllStart::Position(Position::from_raw(position.commit_position))
                }
            };
            if subscription.is_some() {
                let permit = service.subscription_permit()?;
                let (out, stream) = channel(Some(service.config.subscriber_stall));
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(status) =
                        subscribe_all(&state, &mut viewer, from, filter.as_deref(), &out).await
                    {
                        out.fail(status).await;
                    }
                });
                return Ok(stream);
            }
            let (out, stream) = channel(None);
            tokio::spawn(async move {
                let result = if backwards {
                    read_all_backwards(&state, &mut viewer, from, filter.as_ref(), count, &out)
                        .await
                } else {
                    read_all_forwards(&state, &mut viewer, from, filter.as_ref(), count, &out).await
                };
                if let Err(status) = result {
                    out.fail(status).await;
                }
            });
            Ok(stream)
        }
        Some(StreamOption::Stream(options)) => {
            let name = options
                .stream_identifier
                .map(|identifier| identifier.stream_name)
                .unwrap_or_default();
            let stream = String::from_utf8(name)
                .map_err(|_| Status::invalid_argument("the stream name is not UTF-8"))?;
            let from = match options.revision_option {
                Some(RevisionOption::Start(())) | None => RevisionFrom::Start,
                Some(RevisionOption::End(())) => RevisionFrom::End,
                Some(RevisionOption::Revision(revision)) => RevisionFrom::Revision(revision),
            };
            let kind = plain::classify(&stream)
                .map_err(|error| Status::invalid_argument(error.to_string()))?;
            let exists = state
                .log
                .stream_revision(&stream)
                .await
                .map_err(internal)?
                .is_some();
            // An unknown person answers "not found" to every role, as GraphQL does, before the
            // question whether the role may see them.
            if exists || !matches!(kind, StreamKind::Person(_)) {
                viewer.may_read_stream(&stream).await?;
            }
            let truncate_before = if matches!(kind, StreamKind::Plain) {
                match state
                    .ledger
                    .plain_deletion(&stream)
                    .await
                    .map_err(internal)?
                {
                    Deletion::Tombstoned => return Err(super::status::stream_deleted(&stream)),
                    Deletion::Live { truncate_before } => truncate_before,
                }
            } else {
                0
            };
            if subscription.is_some() {
                let permit = service.subscription_permit()?;
                let (out, response) = channel(Some(service.config.subscriber_stall));
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(status) =
                        subscribe_stream(&state, &mut viewer, &stream, from, truncate_before, &out)
                            .await
                    {
                        out.fail(status).await;
                    }
                });
                return Ok(response);
            }
            let (out, response) = channel(None);
            tokio::spawn(async move {
                if let Err(status) = read_stream(
                    &state,
                    &mut viewer,
                    &stream,
                    from,
                    backwards,
                    truncate_before,
                    count,
                    &out,
                )
                .await
                {
                    out.fail(status).await;
                }
            });
            Ok(response)
        }
        None => Err(Status::invalid_argument("a read names a stream or `$all`")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_stream(
    state: &AppState,
    viewer: &mut Viewer,
    stream: &str,
    from: RevisionFrom,
    backwards: bool,
    truncate_before: u64,
    mut count: u64,
    out: &Out,
) -> Result<(), Status> {
    let last = state.log.stream_revision(stream).await.map_err(internal)?;
    let Some(last) = last.filter(|last| *last >= truncate_before) else {
        let _ = out.send(stream_not_found(stream)).await;
        return Ok(());
    };
    let mut next = match (from, backwards) {
        (RevisionFrom::Start, false) => Some(truncate_before),
        (RevisionFrom::End, false) => None,
        (RevisionFrom::Revision(revision), false) => Some(revision.max(truncate_before)),
        // Backwards from the start reads the first event only, as KurrentDB does.
        (RevisionFrom::Start, true) => Some(truncate_before),
        (RevisionFrom::End, true) => Some(last),
        (RevisionFrom::Revision(revision), true) => Some(revision.min(last)),
    };
    if matches!((from, backwards), (RevisionFrom::Start, true)) {
        count = count.min(1);
    }
    while let Some(from) = next {
        if count == 0 {
            break;
        }
        let direction = if backwards {
            Direction::Backwards
        } else {
            Direction::Forwards
        };
        let page = state
            .log
            .read_stream(stream, StreamFrom::Revision(from), direction, PAGE)
            .await
            .map_err(internal)?;
        let full = page.len() == PAGE;
        next = None;
        let mut visible = Vec::new();
        let mut done = false;
        for recorded in page {
            if recorded.revision < truncate_before {
                done = true;
                break;
            }
            next = if backwards {
                recorded.revision.checked_sub(1)
            } else {
                Some(recorded.revision + 1)
            };
            if let Some(event) = view_in_page(viewer, recorded, &mut visible, out).await? {
                visible.push(EncodedReadResp::event(&event));
                count -= 1;
                if count == 0 {
                    done = true;
                    break;
                }
            }
        }
        if out.send_page(visible).await.is_err() || done || !full {
            break;
        }
    }
    Ok(())
}

/// [`Viewer::view`] for an event of a page being collected: when the view fails, the events of
/// the page before it are sent first, as they would have been one by one.
async fn view_in_page(
    viewer: &mut Viewer,
    recorded: journey_core::log::RecordedEvent,
    visible: &mut Vec<EncodedReadResp>,
    out: &Out,
) -> Result<Option<Viewed>, Status> {
    match viewer.view(recorded).await {
        Ok(viewed) => Ok(viewed),
        Err(status) => {
            let _ = out.send_page(std::mem::take(visible)).await;
            Err(status)
        }
    }
}

async fn read_all_forwards(
    state: &AppState,
    viewer: &mut Viewer,
    from: AllStart,
    filter: Option<&Arc<Filter>>,
    count: u64,
    out: &Out,
) -> Result<(), Status> {
    let from = match from {
        AllStart::Start => AllFrom::Start,
        AllStart::Position(position) => AllFrom::Including(position),
        AllStart::End => return Ok(()),
    };
    read_all_pages(state, viewer, from, Direction::Forwards, filter, count, out).await
}

async fn read_all_backwards(
    state: &AppState,
    viewer: &mut Viewer,
    from: AllStart,
    filter: Option<&Arc<Filter>>,
    count: u64,
    out: &Out,
) -> Result<(), Status> {
    let from = match from {
        AllStart::End => AllFrom::End,
        AllStart::Position(position) => AllFrom::Excluding(position),
        AllStart::Start => return Ok(()),
    };
    read_all_pages(
        state,
        viewer,
        from,
        Direction::Backwards,
        filter,
        count,
        out,
    )
    .await
}

/// Sends up to `count` visible events of `$all` from `from` in `direction`, a page at a time; each
/// page goes on after the last event of the one before, as the log says.
///
/// While a page is turned into messages and sent, the log already reads the next one (on its own
/// task, which the log hands to the blocking pool), so the two overlap on the machine's cores
/// instead of taking turns. A read whose count ends within the page reads nothing ahead.
///
/// A page is turned into messages on the blocking pool too, not on this task: tokio runs a task
/// woken by the task running on the same worker next, on that worker (its LIFO slot, which no other
/// worker may steal), so this task, the response's encoder and the connection's writer would take
/// turns on one core while the other core idles. On a thread of its own the page's views (opening,
/// JSON, the message) run on the other core while the worker encodes and writes the page before.
async fn read_all_pages(
    state: &AppState,
    viewer: &mut Viewer,
    mut from: AllFrom,
    direction: Direction,
    filter: Option<&Arc<Filter>>,
    mut count: u64,
    out: &Out,
) -> Result<(), Status> {
    let mut ahead: Option<PageReading> = None;
    while count > 0 {
        let page = match ahead.take() {
            Some(reading) => reading.await.map_err(internal)?,
            None => state.log.read_all(from, direction, PAGE).await,
        }
        .map_err(internal)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        from = AllFrom::Excluding(last.position);
        if count > page.len() as u64 {
            ahead = Some(read_ahead(state, from, direction));
        }
        // What may need a read (a person's timeline) is decided here; the rest of the views, the
        // filter and the messages are made on a thread of the blocking pool (see above).
        let mut decided = Vec::with_capacity(page.len());
        let mut failure = None;
        for recorded in page {
            match viewer.decide(recorded).await {
                Ok(event) => decided.push(event),
                Err(status) => {
                    failure = Some(status);
                    break;
                }
            }
        }
        let sight = viewer.sight();
        let page_filter = filter.cloned();
        let wanted = count;
        let (visible, view_failure) = tokio::task::spawn_blocking(move || {
            page_messages(&sight, decided, page_filter.as_deref(), wanted)
        })
        .await
        .map_err(internal)?;
        count -= visible.len() as u64;
        // The events before a failed view are sent first, as they would have been one by one.
        let sent = out.send_page(visible).await;
        if let Some(status) = view_failure.or(failure) {
            return Err(status);
        }
        if sent.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The messages of the events of a page the caller sees and the filter passes, at most `wanted`
/// of them, encoded, and the failure of the view that stopped the page early, if one did.
fn page_messages(
    sight: &Sight,
    decided: Vec<Decided>,
    filter: Option<&Filter>,
    wanted: u64,
) -> (Vec<EncodedReadResp>, Option<Status>) {
    let mut visible = Vec::with_capacity(decided.len());
    for event in decided {
        if visible.len() as u64 == wanted {
            break;
        }
        match sight.view(event) {
            Ok(Some(event)) if filter.is_none_or(|filter| filter.matches(&event)) => {
                visible.push(EncodedReadResp::event(&event));
            }
            Ok(_) => {}
            Err(status) => return (visible, Some(status)),
        }
    }
    (visible, None)
}

/// A page of `$all` being read on a task of its own.
type PageReading = tokio::task::JoinHandle<
    Result<Vec<journey_core::log::RecordedEvent>, journey_core::log::LogError>,
>;

/// Reads the page of `$all` from `from` on a task of its own; what it read waits in the handle.
fn read_ahead(state: &AppState, from: AllFrom, direction: Direction) -> PageReading {
    let log = state.log.clone();
    tokio::spawn(async move { log.read_all(from, direction, PAGE).await })
}

fn confirmation() -> Content {
    Content::Confirmation(read_resp::SubscriptionConfirmation {
        subscription_id: uuid::Uuid::new_v4().to_string(),
    })
}

fn checkpoint(position: Position) -> Content {
    Content::Checkpoint(read_resp::Checkpoint {
        commit_position: position.raw(),
        prepare_position: position.raw(),
        timestamp: Some(now_timestamp()),
    })
}

/// A subscription to `$all`: the past from `from`, `caught_up`, then live. One log subscription
/// serves both, so nothing falls between the past and the live events, and nothing comes twice.
async fn subscribe_all(
    state: &AppState,
    viewer: &mut Viewer,
    from: AllStart,
    filter: Option<&Filter>,
    out: &Out,
) -> Result<(), Status> {
    // The head when the subscription starts: once the event there has come, the past is over.
    let head = state.log.last_position().await.map_err(internal)?;
    let (start, mut caught_up) = match from {
        AllStart::Start => (AllFrom::Start, head.is_none()),
        AllStart::End => (AllFrom::End, true),
        AllStart::Position(position) => (
            AllFrom::Excluding(position),
            head.is_none_or(|head| position >= head),
        ),
    };
    if out.send(confirmation()).await.is_err() {
        return Ok(());
    }
    let mut subscription = state.log.subscribe_all(start).await.map_err(internal)?;
    if caught_up && out.send(caught_up_content()).await.is_err() {
        return Ok(());
    }
    let mut scanned = 0u64;
    loop {
        let next = tokio::select! {
            next = subscription.next() => next,
            () = state.shutting_down() => return Err(Status::unavailable("the server is shutting down")),
        };
        let Some(recorded) = next else {
            return Err(Status::unavailable("the event log was closed"));
        };
        let recorded = recorded.map_err(internal)?;
        let position = recorded.position;
        if let Some(event) = viewer.view(recorded).await? {
            if filter.is_none_or(|filter| filter.matches(&event))
                && out
                    .send_message(EncodedReadResp::event(&event))
                    .await
                    .is_err()
            {
                return Ok(());
            }
        }
        scanned += 1;
        if let Some(filter) = filter {
            if scanned.is_multiple_of(filter.checkpoint_every)
                && out.send(checkpoint(position)).await.is_err()
            {
                return Ok(());
            }
        }
        if !caught_up && head.is_some_and(|head| position >= head) {
            caught_up = true;
            if let Some(_filter) = filter {
                if out.send(checkpoint(position)).await.is_err() {
                    return Ok(());
                }
            }
            if out.send(caught_up_content()).await.is_err() {
                return Ok(());
            }
        }
    }
}

fn caught_up_content() -> Content {
    Content::CaughtUp(read_resp::CaughtUp {
        timestamp: Some(now_timestamp()),
        stream_revision: None,
        position: None,
    })
}

/// A subscription to one stream: its past from the stream, then live from the log subscription
/// that starts where the past was read up to.
async fn subscribe_stream(
    state: &AppState,
    viewer: &mut Viewer,
    stream: &str,
    from: RevisionFrom,
    truncate_before: u64,
    out: &Out,
) -> Result<(), Status> {
    // Everything up to the head comes from the stream read, everything after it from the
    // subscription: the head is taken first, so no event falls between the two.
    let head = state.log.last_position().await.map_err(internal)?;
    if out.send(confirmation()).await.is_err() {
        return Ok(());
    }
    let last = state.log.stream_revision(stream).await.map_err(internal)?;
    let mut next = match from {
        RevisionFrom::Start => Some(truncate_before),
        RevisionFrom::Revision(revision) => Some(revision.saturating_add(1).max(truncate_before)),
        RevisionFrom::End => None,
    };
    let mut skip_through = match from {
        RevisionFrom::End => last,
        RevisionFrom::Revision(revision) => Some(revision),
        RevisionFrom::Start => None,
    };
    while let Some(revision) = next {
        let page = state
            .log
            .read_stream(
                stream,
                StreamFrom::Revision(revision),
                Direction::Forwards,
                PAGE,
            )
            .await
            .map_err(internal)?;
        let full = page.len() == PAGE;
        next = None;
        for recorded in page {
            if head.is_none_or(|head| recorded.position > head) {
                break;
            }
            next = Some(recorded.revision + 1);
            skip_through = Some(recorded.revision);
            if let Some(event) = viewer.view(recorded).await? {
                if out
                    .send_message(EncodedReadResp::event(&event))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
        if !full {
            break;
        }
    }
    if out.send(caught_up_content()).await.is_err() {
        return Ok(());
    }
    let mut subscription = state
        .log
        .subscribe_all(AllFrom::after(head))
        .await
        .map_err(internal)?;
    loop {
        let next = tokio::select! {
            next = subscription.next() => next,
            () = state.shutting_down() => return Err(Status::unavailable("the server is shutting down")),
        };
        let Some(recorded) = next else {
            return Err(Status::unavailable("the event log was closed"));
        };
        let recorded = recorded.map_err(internal)?;
        if recorded.stream != stream
            || skip_through.is_some_and(|through| recorded.revision <= through)
        {
            continue;
        }
        if let Some(event) = viewer.view(recorded).await? {
            if out
                .send_message(EncodedReadResp::event(&event))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    }
}
