//! Reads of events, streams and ids, cut at the committed head.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// Read access to the log tree and the index. The callers pass the committed head as `bound` where
/// it matters.
#[derive(Debug, Clone)]
pub(super) struct Reader {
    pub(super) tree: sled::Tree,
    pub(super) index: SharedIndex,
    pub(super) tables: SharedTables,
}

impl Reader {
    /// Decodes the record `bytes` stored at `position` with the tables, taking their lock for it.
    pub(super) fn decode(&self, position: u64, bytes: &[u8]) -> Result<Decoded, LogError> {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        decode_record(position, bytes, &tables)
    }

    /// The decoded record at `position`, which must exist, its global link not yet added.
    pub(super) fn stored_at(&self, position: u64) -> Result<Decoded, LogError> {
        let bytes = self
            .tree
            .get(event_key(position))?
            .ok_or_else(|| LogError::Corrupt {
                position: Position::from_raw(position),
                reason: "an index points at a missing event".to_owned(),
            })?;
        self.decode(position, &bytes)
    }

    /// The global hash before `position`: the genesis hash at 0, else the stored global hash of
    /// the record at the position before, which must exist. A format-2 record that a read starts
    /// at takes its link's `prev_hash` from here (one extra read).
    pub(super) fn global_hash_before(&self, position: u64) -> Result<[u8; 32], LogError> {
        match position.checked_sub(1) {
            None => Ok(chain::GENESIS),
            Some(before) => Ok(self.stored_at(before)?.global_hash),
        }
    }

    /// The event at `position`, which must exist, with its global link.
    pub(super) fn event_at(&self, position: u64) -> Result<RecordedEvent, LogError> {
        self.stored_at(position)?
            .linked(|| self.global_hash_before(position))
    }

    /// Up to `limit` events from `from` (inclusive) below `bound`, checking that there is no gap.
    pub(super) fn read_forwards(
        &self,
        from: u64,
        limit: usize,
        bound: u64,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let mut events = Vec::with_capacity(limit.min(1024));
        if from >= bound {
            return Ok(events);
        }
        let mut expected = from;
        // The global hash of the record before, known from the second record of the page on.
        let mut global_prev = None;
        for item in self
            .tree
            .range(event_key(from)..event_key(bound))
            .take(limit)
        {
            let (key, value) = item?;
            let position = key_position(&key)?;
            if position != expected {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(expected),
                    reason: "the event is missing below the committed head".to_owned(),
                });
            }
            let decoded = self.decode(position, &value)?;
            let global_hash = decoded.global_hash;
            events.push(decoded.linked(|| match global_prev {
                Some(hash) => Ok(hash),
                None => self.global_hash_before(position),
            })?);
            global_prev = Some(global_hash);
            expected += 1;
        }
        // The range must have yielded every position up to the bound or the limit.
        let wanted = bound.saturating_sub(from).min(limit as u64);
        if (events.len() as u64) < wanted {
            return Err(LogError::Corrupt {
                position: Position::from_raw(expected),
                reason: "the event is missing below the committed head".to_owned(),
            });
        }
        Ok(events)
    }

    /// Up to `limit` events from `start` (inclusive) downwards, checking that there is no gap.
    pub(super) fn read_backwards(
        &self,
        start: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let mut decoded = Vec::with_capacity(limit.min(1024));
        let mut expected = start;
        for item in self
            .tree
            .range(event_key(0)..=event_key(start))
            .rev()
            .take(limit)
        {
            let (key, value) = item?;
            let position = key_position(&key)?;
            if position != expected {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(expected),
                    reason: "the event is missing below the committed head".to_owned(),
                });
            }
            decoded.push(self.decode(position, &value)?);
            expected = expected.wrapping_sub(1);
        }
        let wanted = (start + 1).min(limit as u64);
        if (decoded.len() as u64) < wanted {
            return Err(LogError::Corrupt {
                position: Position::from_raw(expected),
                reason: "the event is missing below the committed head".to_owned(),
            });
        }
        // Each record's global link takes its `prev_hash` from the next one read (the position
        // before); the last one read, from one more read.
        let befores: Vec<Option<[u8; 32]>> = decoded
            .iter()
            .skip(1)
            .map(|before| Some(before.global_hash))
            .chain([None])
            .collect();
        decoded
            .into_iter()
            .zip(befores)
            .map(|(record, before)| {
                let position = record.event.position.raw();
                record.linked(|| match before {
                    Some(hash) => Ok(hash),
                    None => self.global_hash_before(position),
                })
            })
            .collect()
    }

    /// The (revision, position) of each event a read of `stream` answers, from the in-memory
    /// index alone: empty for a stream without events below `bound`, which then needs no read of
    /// the store. [`Reader::read_wanted`] reads them.
    pub(super) fn stream_wanted(
        &self,
        stream: &str,
        from: StreamFrom,
        direction: Direction,
        limit: usize,
        bound: u64,
    ) -> Vec<(u64, u64)> {
        {
            let index = read_index(&self.index);
            let Some(positions) = index.positions(stream) else {
                return Vec::new();
            };
            // Revisions and positions grow together, so the committed revisions are a prefix.
            let visible = positions.below(bound);
            let revision = |from: u64| usize::try_from(from).unwrap_or(usize::MAX);
            let pick = |offset: usize| (offset as u64, positions.at(offset));
            match direction {
                Direction::Forwards => {
                    let start = match from {
                        StreamFrom::Start => 0,
                        StreamFrom::End => usize::MAX,
                        StreamFrom::Revision(from) => revision(from),
                    };
                    (start.min(visible)..visible)
                        .take(limit)
                        .map(pick)
                        .collect()
                }
                Direction::Backwards => {
                    let Some(last) = visible.checked_sub(1) else {
                        return Vec::new();
                    };
                    let start = match from {
                        StreamFrom::Start => 0,
                        StreamFrom::End => last,
                        StreamFrom::Revision(from) => revision(from).min(last),
                    };
                    (0..=start).rev().take(limit).map(pick).collect()
                }
            }
        }
    }

    /// The events of `stream` that [`Reader::stream_wanted`] picked, each checked against the
    /// index's revision.
    pub(super) fn read_wanted(
        &self,
        stream: &str,
        wanted: Vec<(u64, u64)>,
    ) -> Result<Vec<RecordedEvent>, LogError> {
        let mut events = Vec::with_capacity(wanted.len());
        for (revision, position) in wanted {
            let event = self.event_at(position)?;
            if event.stream != stream || event.revision != revision {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(position),
                    reason: format!(
                        "the index says `{stream}`@{revision}, the record says `{}`@{}",
                        event.stream, event.revision
                    ),
                });
            }
            events.push(event);
        }
        Ok(events)
    }

    /// The last revision of `stream` among the events below `bound`.
    pub(super) fn stream_revision(&self, stream: &str, bound: u64) -> Option<u64> {
        let visible = read_index(&self.index).visible_revisions(stream, bound);
        (visible as u64).checked_sub(1)
    }

    /// The streams beginning with `prefix` whose first event lies below `bound`, sorted.
    pub(super) fn stream_names(&self, prefix: &str, bound: u64) -> Vec<String> {
        read_index(&self.index).stream_names(prefix, bound)
    }

    /// The position of the event with `id`, committed or not (the caller applies the bound).
    pub(super) fn id_position(&self, id: Uuid) -> Option<u64> {
        read_index(&self.index).id_position(id)
    }

    /// The stored event at `position`, which the index says has `id`.
    pub(super) fn indexed_event(&self, id: Uuid, position: u64) -> Result<RecordedEvent, LogError> {
        let event = self.event_at(position)?;
        if event.event.id != id {
            return Err(LogError::Corrupt {
                position: Position::from_raw(position),
                reason: format!("the index says {id}, the record says {}", event.event.id),
            });
        }
        Ok(event)
    }
}
