//! The in-memory index of every id and stream revision, and its loading from the `x` keys at open.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// The in-memory index of the whole log: what the `x` keys hold, applied and not yet committed
/// alike (readers cut it at the committed head).
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Event id → position.
    pub(super) ids: HashMap<Uuid, u64>,
    /// Stream → the position of each revision (revision = offset).
    pub(super) streams: HashMap<String, Vec<u64>>,
}

impl Index {
    pub(super) fn with_capacity(events: u64) -> Self {
        Self {
            ids: HashMap::with_capacity(usize::try_from(events).unwrap_or(0)),
            streams: HashMap::new(),
        }
    }

    /// Adds the event `id` at `revision` of `stream` and at `position`, which must be the stream's
    /// next revision and a later position than its last, with an id not indexed yet.
    pub(super) fn add(
        &mut self,
        id: Uuid,
        stream: &str,
        revision: u64,
        position: u64,
    ) -> Result<(), String> {
        let positions = match self.streams.get_mut(stream) {
            Some(positions) => positions,
            None => self.streams.entry(stream.to_owned()).or_default(),
        };
        if positions.len() as u64 != revision {
            return Err(format!(
                "`{stream}` revision {revision} does not follow {} stored revisions",
                positions.len()
            ));
        }
        if positions.last().is_some_and(|&last| last >= position) {
            return Err(format!(
                "`{stream}` revision {revision} at position {position} is not after its revision before"
            ));
        }
        match self.ids.entry(id) {
            std::collections::hash_map::Entry::Occupied(stored) => {
                return Err(format!(
                    "event id {id} at position {position} is already indexed at position {}",
                    stored.get()
                ));
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(position);
            }
        }
        positions.push(position);
        Ok(())
    }

    /// The stream's last revision and its position, committed or not.
    pub(super) fn head(&self, stream: &str) -> Option<StreamHead> {
        let positions = self.streams.get(stream)?;
        let position = *positions.last()?;
        Some(StreamHead {
            revision: positions.len() as u64 - 1,
            position,
        })
    }

    /// How many revisions of `stream` lie below `bound`.
    pub(super) fn visible_revisions(&self, stream: &str, bound: u64) -> usize {
        self.streams.get(stream).map_or(0, |positions| {
            positions.partition_point(|&position| position < bound)
        })
    }

    /// An estimate of the heap bytes the index holds: the hash tables at their capacity (a control
    /// byte per bucket), the position vectors at theirs, and the stream names.
    pub(super) fn heap_bytes(&self) -> u64 {
        let ids = self.ids.capacity() * (std::mem::size_of::<(Uuid, u64)>() + 1);
        let streams = self.streams.capacity() * (std::mem::size_of::<(String, Vec<u64>)>() + 1);
        let owned: usize = self
            .streams
            .iter()
            .map(|(name, positions)| name.capacity() + positions.capacity() * 8)
            .sum();
        (ids + streams + owned) as u64
    }
}

pub(super) type SharedIndex = std::sync::Arc<RwLock<Index>>;

pub(super) fn read_index(index: &SharedIndex) -> std::sync::RwLockReadGuard<'_, Index> {
    index.read().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamHead {
    pub(super) revision: u64,
    pub(super) position: u64,
}

/// Builds the index from the `x` keys, which must tile the positions below `next_position`.
pub(super) fn load_index(tree: &sled::Tree, next_position: u64) -> Result<Index, LogError> {
    let mut index = Index::with_capacity(next_position);
    let mut expected = 0u64;
    for entry in tree.scan_prefix([INDEX_PREFIX]) {
        let (key, value) = entry?;
        let first = match (key.len(), be_u64(&key, 1)) {
            (9, Some(first)) => first,
            _ => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(expected),
                    reason: format!("malformed index key {key:?}"),
                })
            }
        };
        if first != expected {
            return Err(LogError::Corrupt {
                position: Position::from_raw(expected),
                reason: format!("the next index key starts at position {first}"),
            });
        }
        for run in decode_index_value(first, &value)? {
            for (offset, id) in (0u64..).zip(&run.ids) {
                if expected >= next_position {
                    return Err(LogError::Corrupt {
                        position: Position::from_raw(expected),
                        reason: format!(
                            "the index goes beyond the last event (the meta value says {next_position} events)"
                        ),
                    });
                }
                let revision =
                    run.first_revision
                        .checked_add(offset)
                        .ok_or_else(|| LogError::Corrupt {
                            position: Position::from_raw(expected),
                            reason: "an index revision overflows".to_owned(),
                        })?;
                index
                    .add(Uuid::from_bytes(*id), &run.stream, revision, expected)
                    .map_err(|reason| LogError::Corrupt {
                        position: Position::from_raw(expected),
                        reason: format!("index: {reason}"),
                    })?;
                expected += 1;
            }
        }
    }
    if expected != next_position {
        return Err(LogError::Corrupt {
            position: Position::from_raw(expected),
            reason: format!(
                "the index ends at position {expected}, the meta value says {next_position} events"
            ),
        });
    }
    Ok(index)
}
