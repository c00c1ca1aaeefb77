//! The writer thread of the group commit: takes the queued appends, checks them against the index
//! and the earlier appends of its group, and applies one batch per group.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// What the writer knows about a stored (or group-pending) id, enough to answer a retry.
#[derive(Debug, Clone)]
pub(super) struct StoredId {
    /// Shared by the events of one append, so that the group's ids cost no string each.
    pub(super) stream: std::sync::Arc<str>,
    pub(super) revision: u64,
    pub(super) position: u64,
    pub(super) content_digest: [u8; 32],
}

/// The writer thread's state.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) state: WriterState,
    /// The store whose group commit makes the applied groups durable.
    pub(super) store: Store,
    pub(super) reader: Reader,
    pub(super) head: std::sync::Arc<watch::Sender<Head>>,
    pub(super) config: SledLogConfig,
    pub(super) stats: std::sync::Arc<WriterStats>,
    /// Set by the flusher when a flush failed: the writer then stops.
    pub(super) failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The changes a group makes, kept apart from [`WriterState`] until the group is durable.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) batch: sled::Batch,
    /// The group's index entries, in position order from the group's first position.
    pub(super) runs: Vec<IndexRun<'static>>,
    pub(super) heads: HashMap<String, StreamHead>,
    pub(super) ids: HashMap<Uuid, StoredId>,
    pub(super) next_position: u64,
    pub(super) last_hash: [u8; 32],
    /// The names and dictionary entries the group gives a number (their `n` and `d` keys are in
    /// its batch).
    pub(super) numbers: Numbers,
}

impl Writer {
    pub(super) fn run(mut self, mut receiver: mpsc::Receiver<Request>) {
        // Groups are flushed by a second thread, so the writer checks and applies the next group
        // while the previous one is being flushed. A group is acknowledged only after a flush that
        // began after its batch was applied.
        let (to_flusher, from_writer) =
            std::sync::mpsc::sync_channel::<Pending>(FLUSH_QUEUE_GROUPS);
        let flusher = {
            let store = self.store.clone();
            let head = self.head.clone();
            let stats = self.stats.clone();
            let failed = self.failed.clone();
            std::thread::Builder::new()
                .name("journey-log-flush".to_owned())
                .spawn(move || flush_loop(store, head, stats, failed, from_writer))
        };
        let flusher = match flusher {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(%error, "cannot start the flush thread; the event log stays closed");
                self.head.send_modify(|head| head.closed = true);
                return;
            }
        };
        // How many requests a group usually gathers (an exponential moving average). While appenders
        // are concurrent, the writer lingers briefly for that many, because one flush for many
        // appends is the whole point of group commit; a lone appender never waits.
        let mut usual_group_requests = 1.0f64;
        let mut stopped_on_error = false;
        while let Some(first) = receiver.blocking_recv() {
            let mut events = first.events.len();
            let mut requests = vec![first];
            let linger_until = std::time::Instant::now() + self.config.group_linger;
            while requests.len() < self.config.group_max_requests
                && events < self.config.group_max_events
            {
                match receiver.try_recv() {
                    Ok(request) => {
                        events += request.events.len();
                        requests.push(request);
                    }
                    Err(mpsc::error::TryRecvError::Empty)
                        if (requests.len() as f64) < usual_group_requests * 0.8
                            && std::time::Instant::now() < linger_until =>
                    {
                        std::thread::sleep(std::time::Duration::from_micros(20));
                    }
                    Err(_) => break,
                }
            }
            usual_group_requests = 0.8 * usual_group_requests + 0.2 * requests.len() as f64;
            if self.failed.load(std::sync::atomic::Ordering::Acquire) {
                for request in requests {
                    let _ = request.reply.send(Err(LogError::Closed));
                }
                break;
            }
            if let Err(error) = self.commit(requests, &to_flusher) {
                // The store failed to apply or flush a group. What sled holds now is unknown to this
                // process, so the writer stops; reopening recovers the last consistent state.
                tracing::error!(%error, "the event log writer stops after a storage error");
                stopped_on_error = true;
                break;
            }
        }
        // Dropping the receiver fails the requests still queued (after a storage error) with
        // `Closed`; after a close the queue is already empty.
        drop(receiver);
        // The flusher acknowledges what is still pending, then ends.
        drop(to_flusher);
        if flusher.join().is_err() {
            tracing::error!("the event log flush thread panicked");
        }
        match self.state.db.flush() {
            Err(error) => tracing::error!(%error, "the final flush of the event log failed"),
            // Every applied group is durable now, so the index is that of the stored log.
            Ok(_)
                if !stopped_on_error && !self.failed.load(std::sync::atomic::Ordering::Acquire) =>
            {
                self.checkpoint_if_due();
            }
            Ok(_) => {}
        }
        self.head.send_modify(|head| head.closed = true);
    }

    /// Writes the index checkpoint when enough events were added since the one the log opened
    /// with. A failure costs only the next open's time, so it is logged, not returned.
    fn checkpoint_if_due(&self) {
        let index = read_index(&self.reader.index);
        // A checkpoint of the first format, without the tables, is replaced once.
        let without_tables = index.base.next_position > 0 && !index.base.with_tables;
        if index.tail_events() < self.config.index_checkpoint_min_events && !without_tables {
            return;
        }
        let tables = self
            .reader
            .tables
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let started = std::time::Instant::now();
        let path = checkpoint_path(self.store.path());
        match write_checkpoint(
            &path,
            &index,
            &tables,
            self.state.next_position,
            &self.state.last_hash,
        ) {
            Ok(bytes) => tracing::info!(
                events = self.state.next_position,
                bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "the index checkpoint is written"
            ),
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "the index checkpoint is not written; the next open reads more index keys"
            ),
        }
    }

    /// Validates and applies one group, then hands it to the flusher, which acknowledges it once it
    /// is durable. An error means the store failed; every request of the group has been told so.
    pub(super) fn commit(
        &mut self,
        requests: Vec<Request>,
        to_flusher: &std::sync::mpsc::SyncSender<Pending>,
    ) -> Result<(), LogError> {
        let mut group = Group {
            batch: sled::Batch::default(),
            runs: Vec::new(),
            heads: HashMap::new(),
            ids: HashMap::new(),
            next_position: self.state.next_position,
            last_hash: self.state.last_hash,
            numbers: self.state.numbers.group(),
        };
        let started = std::time::Instant::now();
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            let result = self.prepare(&request, &mut group);
            replies.push((request.reply, result));
        }
        let prepared = std::time::Instant::now();
        let writes = group.next_position != self.state.next_position;
        if writes {
            let first_position = self.state.next_position;
            match encode_index_value(first_position, &group.runs) {
                Ok(value) => group.batch.insert(&index_key(first_position)[..], value),
                Err(error) => {
                    for (reply, _) in replies {
                        let _ = reply.send(Err(LogError::Closed));
                    }
                    return Err(error);
                }
            }
            group.batch.insert(
                META_KEY,
                &meta_value(META_FORMAT_V2, group.next_position, &group.last_hash)[..],
            );
            if let Err(error) = self.reader.tree.apply_batch(group.batch) {
                for (reply, result) in replies {
                    // Rejections stay as they are; everything else shares the storage error,
                    // including replays, which may point into the failed batch.
                    let result = match result {
                        Err(rejection) => Err(rejection),
                        Ok(_) => Err(LogError::from(error.clone())),
                    };
                    let _ = reply.send(result);
                }
                return Err(LogError::from(error));
            }
            let nanos = |from: std::time::Instant, to: std::time::Instant| {
                to.saturating_duration_since(from).as_nanos() as u64
            };
            let applied = std::time::Instant::now();
            self.stats.prepare_ns.fetch_add(
                nanos(started, prepared),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.stats.apply_ns.fetch_add(
                nanos(prepared, applied),
                std::sync::atomic::Ordering::Relaxed,
            );
            self.stats
                .groups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.stats.events.fetch_add(
                group.next_position - self.state.next_position,
                std::sync::atomic::Ordering::Relaxed,
            );
            // Readers cut the index at the committed head, which moves only after the flush.
            let mut index = self
                .reader
                .index
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let mut position = first_position;
            for run in &group.runs {
                for (revision, id) in (run.first_revision..).zip(&run.ids) {
                    if let Err(reason) =
                        index.add(Uuid::from_bytes(*id), &run.stream, revision, position)
                    {
                        // The group was validated against the index, so this is a bug.
                        tracing::error!(position, %reason, "the index refuses a validated event");
                    }
                    position += 1;
                }
            }
            drop(index);
            // The new names and entries before the head moves (after the flush), so that every
            // committed record's numbers have their names and entries for the readers.
            let (names, entries) = self.state.numbers.commit(group.numbers);
            self.reader
                .tables
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(names, entries);
            self.state.next_position = group.next_position;
            self.state.last_hash = group.last_hash;
        }
        // Every reply goes through the flusher, also rejections and replays: a replay may point into
        // a group that is applied but not yet durable, and replies keep their order that way.
        let pending = Pending {
            replies,
            next_position: writes.then_some(self.state.next_position),
            ticket: self.store.ticket(),
        };
        to_flusher.send(pending).map_err(|_| LogError::Closed)
    }

    /// What is known about `id`: first the current group, then the index (and the stored record,
    /// for a retry only).
    pub(super) fn lookup_id(
        &self,
        id: Uuid,
        group: &Group,
        index: &Index,
    ) -> Result<Option<StoredId>, LogError> {
        if let Some(stored) = group.ids.get(&id) {
            return Ok(Some(stored.clone()));
        }
        let Some(position) = index.id_position(id) else {
            return Ok(None);
        };
        let event = self.reader.indexed_event(id, position)?;
        Ok(Some(StoredId {
            stream: event.stream.into(),
            revision: event.revision,
            position: event.position.raw(),
            content_digest: event.event.content_digest,
        }))
    }

    /// Validates `request` against the state plus the group so far and, if it holds, adds its writes
    /// to the group. A rejected request leaves the group untouched.
    pub(super) fn prepare(
        &self,
        request: &Request,
        group: &mut Group,
    ) -> Result<AppendOutcome, LogError> {
        let stream = request.stream.as_str();
        let index = read_index(&self.reader.index);

        // Idempotency first (the contract's rule). The index knows every id, so an id stored in
        // another stream is refused as well, for free.
        let replay = check_retry(&request.events, |id| {
            match self.lookup_id(id, group, &index)? {
                Some(found) if &*found.stream != stream => {
                    Err(LogError::DuplicateIdInOtherStream {
                        id,
                        stream: stream.to_owned(),
                        stored_stream: found.stream.to_string(),
                    })
                }
                Some(found) => Ok(Some(crate::log::StoredId {
                    position: Position(found.position),
                    revision: found.revision,
                    content_digest: found.content_digest,
                })),
                None => Ok(None),
            }
        })?;
        if let Some(outcome) = replay {
            return Ok(outcome);
        }

        let current = group
            .heads
            .get(stream)
            .copied()
            .or_else(|| index.head(stream))
            .map(|head| head.revision);
        drop(index);
        if !request.expected.holds(current) {
            return Err(LogError::WrongExpectedRevision {
                stream: stream.to_owned(),
                expected: request.expected,
                actual: current,
            });
        }

        // The numbers of the stream, the event types and the actors in the tables, new ones where
        // they have none yet, whose `n` and `d` keys go into the group's batch with the first
        // record that uses them. Encode everything before touching the group, so that a failure
        // leaves it unchanged.
        let mut draft = Draft::new(&self.state.numbers, &group.numbers);
        let stream_number = draft.stream(stream)?;
        let first_position = group.next_position;
        let first_revision = current.map_or(0, |revision| revision + 1);
        let mut prev = group.last_hash;
        let mut records = Vec::with_capacity(request.events.len());
        for (offset, event) in (0u64..).zip(&request.events) {
            let position = first_position + offset;
            let revision = first_revision + offset;
            let (event_type, actor) = draft.event(event)?;
            let numbers = RecordNumbers {
                stream: stream_number,
                event_type,
                actor,
            };
            let hash = chain::global_hash(&prev, position, &event.hash);
            let bytes = encode_record(position, numbers, revision, event, &hash)?;
            records.push((position, revision, bytes));
            prev = hash;
        }
        let drafted = draft.finish()?;

        let mut last = StreamHead {
            revision: first_revision,
            position: first_position,
        };
        let shared_stream: std::sync::Arc<str> = stream.into();
        drafted.add_to(&mut group.numbers, &mut group.batch);
        for ((position, revision, bytes), event) in records.into_iter().zip(&request.events) {
            group.batch.insert(&event_key(position)[..], bytes);
            push_run(&mut group.runs, stream, revision, event.id);
            group.ids.insert(
                event.id,
                StoredId {
                    stream: shared_stream.clone(),
                    revision,
                    position,
                    content_digest: event.content_digest,
                },
            );
            last = StreamHead { revision, position };
        }
        group.heads.insert(stream.to_owned(), last);
        group.next_position = last.position + 1;
        group.last_hash = prev;

        Ok(AppendOutcome {
            first_position: Position(first_position),
            last_position: Position(last.position),
            stream_revision: last.revision,
            replayed: false,
        })
    }
}
