//! The in-memory index of every id and stream revision: a base of sorted arrays loaded from the
//! index checkpoint (`checkpoint.rs`), and hash maps of what the `x` keys hold after it, loaded at
//! open and extended by the writer.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// The in-memory index of the whole log: what the `x` keys hold, applied and not yet committed
/// alike (readers cut it at the committed head). The events below `base.next_position` are in the
/// base, the later ones in the tail maps.
#[derive(Debug, Default)]
pub(super) struct Index {
    pub(super) base: Base,
    /// Event id → position, of the events after the base.
    ids: HashMap<Uuid, u64>,
    /// Stream → the positions of its revisions after those in the base (the first one here is
    /// revision `base revisions`, and so on).
    streams: HashMap<String, Vec<u64>>,
}

/// The index of the events below `next_position` in sorted arrays (as the checkpoint stores it):
/// no per-entry allocation or hashing, lookups by binary search.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Base {
    /// The events below this position are in the base, and no other.
    pub(super) next_position: u64,
    /// The global hash of the event at `next_position - 1` (the genesis hash for none): what ties
    /// a checkpoint to the log it was written from.
    pub(super) last_hash: [u8; 32],
    /// Every event id as its big-endian `u128` (so numeric order is byte order), ascending.
    pub(super) ids: Vec<u128>,
    /// The position of each id in `ids`.
    pub(super) id_positions: Vec<u64>,
    /// Every stream's name, concatenated in ascending order; stream `i` is
    /// `names[name_ends[i - 1]..name_ends[i]]`.
    pub(super) names: String,
    pub(super) name_ends: Vec<usize>,
    /// Every stream's positions by revision, concatenated in the order of the names; stream `i`'s
    /// are `positions[position_ends[i - 1]..position_ends[i]]`.
    pub(super) positions: Vec<u64>,
    pub(super) position_ends: Vec<usize>,
    /// Whether the base came from a checkpoint of the format that also holds the log's tables
    /// (the first one, which does not, is written again at the next close).
    pub(super) with_tables: bool,
}

impl Base {
    pub(super) fn streams(&self) -> usize {
        self.name_ends.len()
    }

    pub(super) fn name(&self, stream: usize) -> &str {
        let start = stream
            .checked_sub(1)
            .map_or(0, |before| self.name_ends[before]);
        &self.names[start..self.name_ends[stream]]
    }

    pub(super) fn positions_of(&self, stream: usize) -> &[u64] {
        let start = stream
            .checked_sub(1)
            .map_or(0, |before| self.position_ends[before]);
        &self.positions[start..self.position_ends[stream]]
    }

    /// The number of `name` among the base's streams.
    fn find(&self, name: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.streams());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.name(middle).cmp(name) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// The first stream whose name is not below `name`.
    fn first_from(&self, name: &str) -> usize {
        let (mut low, mut high) = (0, self.streams());
        while low < high {
            let middle = low + (high - low) / 2;
            if self.name(middle) < name {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    fn id_position(&self, id: Uuid) -> Option<u64> {
        let found = self.ids.binary_search(&id.as_u128()).ok()?;
        Some(self.id_positions[found])
    }

    /// The positions of `name`'s revisions in the base (none when it has none there).
    pub(super) fn positions_in(&self, name: &str) -> &[u64] {
        self.find(name)
            .map_or(&[], |stream| self.positions_of(stream))
    }

    fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 16
            + self.id_positions.capacity() * 8
            + self.names.capacity()
            + self.name_ends.capacity() * std::mem::size_of::<usize>()
            + self.positions.capacity() * 8
            + self.position_ends.capacity() * std::mem::size_of::<usize>()
    }
}

/// A stream's positions by revision: those in the base, then those after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Positions<'a> {
    base: &'a [u64],
    tail: &'a [u64],
}

impl Positions<'_> {
    pub(super) fn len(&self) -> usize {
        self.base.len() + self.tail.len()
    }

    /// The position of `revision`, which must be below [`Positions::len`].
    pub(super) fn at(&self, revision: usize) -> u64 {
        match revision.checked_sub(self.base.len()) {
            None => self.base[revision],
            Some(offset) => self.tail[offset],
        }
    }

    pub(super) fn last(&self) -> Option<u64> {
        self.tail.last().or(self.base.last()).copied()
    }

    /// How many positions lie below `bound` (they ascend, so they are a prefix).
    pub(super) fn below(&self, bound: u64) -> usize {
        let base = self.base.partition_point(|&position| position < bound);
        if base < self.base.len() {
            base
        } else {
            base + self.tail.partition_point(|&position| position < bound)
        }
    }
}

impl Index {
    /// The index of `base` alone, to which the events after it are added.
    pub(super) fn on(base: Base) -> Self {
        Self {
            base,
            ids: HashMap::new(),
            streams: HashMap::new(),
        }
    }

    /// How many events the index holds.
    pub(super) fn events(&self) -> u64 {
        (self.base.ids.len() + self.ids.len()) as u64
    }

    /// How many events were added after the base.
    pub(super) fn tail_events(&self) -> u64 {
        self.ids.len() as u64
    }

    /// The position of the event with `id`, committed or not.
    pub(super) fn id_position(&self, id: Uuid) -> Option<u64> {
        self.ids
            .get(&id)
            .copied()
            .or_else(|| self.base.id_position(id))
    }

    /// The positions of `stream`'s revisions, committed or not; `None` for a stream without any.
    pub(super) fn positions(&self, stream: &str) -> Option<Positions<'_>> {
        let positions = Positions {
            base: self.base.positions_in(stream),
            tail: self.streams.get(stream).map_or(&[], Vec::as_slice),
        };
        (positions.len() > 0).then_some(positions)
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
        let base = self.base.positions_in(stream);
        let tail = match self.streams.get_mut(stream) {
            Some(tail) => tail,
            None => self.streams.entry(stream.to_owned()).or_default(),
        };
        let revisions = base.len() + tail.len();
        if revisions as u64 != revision {
            return Err(format!(
                "`{stream}` revision {revision} does not follow {revisions} stored revisions"
            ));
        }
        if tail
            .last()
            .or(base.last())
            .is_some_and(|&last| last >= position)
        {
            return Err(format!(
                "`{stream}` revision {revision} at position {position} is not after its revision before"
            ));
        }
        if let Some(stored) = self.base.id_position(id) {
            return Err(format!(
                "event id {id} at position {position} is already indexed at position {stored}"
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
        tail.push(position);
        Ok(())
    }

    /// The stream's last revision and its position, committed or not.
    pub(super) fn head(&self, stream: &str) -> Option<StreamHead> {
        let positions = self.positions(stream)?;
        Some(StreamHead {
            revision: positions.len() as u64 - 1,
            position: positions.last()?,
        })
    }

    /// How many revisions of `stream` lie below `bound`.
    pub(super) fn visible_revisions(&self, stream: &str, bound: u64) -> usize {
        self.positions(stream)
            .map_or(0, |positions| positions.below(bound))
    }

    /// The streams beginning with `prefix` whose first event lies below `bound`, sorted.
    pub(super) fn stream_names(&self, prefix: &str, bound: u64) -> Vec<String> {
        let base = (self.base.first_from(prefix)..self.base.streams())
            .map(|stream| (self.base.name(stream), self.base.positions_of(stream)[0]))
            .take_while(|(name, _)| name.starts_with(prefix));
        let tail = self
            .streams
            .iter()
            .filter(|(name, _)| name.starts_with(prefix) && self.base.find(name).is_none())
            .filter_map(|(name, positions)| Some((name.as_str(), *positions.first()?)));
        let mut names: Vec<String> = base
            .chain(tail)
            .filter(|(_, first)| *first < bound)
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort_unstable();
        names
    }

    /// The tail's ids with their positions, ascending by id (for a checkpoint).
    pub(super) fn sorted_tail_ids(&self) -> Vec<(u128, u64)> {
        let mut ids: Vec<(u128, u64)> = self
            .ids
            .iter()
            .map(|(id, &position)| (id.as_u128(), position))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The tail's streams with their positions after the base, ascending by name (for a
    /// checkpoint).
    pub(super) fn sorted_tail_streams(&self) -> Vec<(&str, &[u64])> {
        let mut streams: Vec<(&str, &[u64])> = self
            .streams
            .iter()
            .map(|(name, positions)| (name.as_str(), positions.as_slice()))
            .collect();
        streams.sort_unstable_by_key(|(name, _)| *name);
        streams
    }

    /// Every id with its position and every stream with its positions by revision, however the
    /// index holds them (for tests comparing indexes).
    #[cfg(test)]
    #[allow(clippy::type_complexity)]
    pub(super) fn entries(
        &self,
    ) -> (
        std::collections::BTreeMap<u128, u64>,
        std::collections::BTreeMap<String, Vec<u64>>,
    ) {
        let base_ids = self
            .base
            .ids
            .iter()
            .copied()
            .zip(self.base.id_positions.iter().copied());
        let tail_ids = self
            .ids
            .iter()
            .map(|(id, &position)| (id.as_u128(), position));
        let names = (0..self.base.streams())
            .map(|stream| self.base.name(stream))
            .chain(self.streams.keys().map(String::as_str));
        let streams = names
            .map(|name| {
                let positions = self.positions(name).map_or_else(Vec::new, |positions| {
                    (0..positions.len())
                        .map(|revision| positions.at(revision))
                        .collect()
                });
                (name.to_owned(), positions)
            })
            .collect();
        (base_ids.chain(tail_ids).collect(), streams)
    }

    /// An estimate of the heap bytes the index holds: the base's arrays, the tail's hash tables
    /// at their capacity (a control byte per bucket), its position vectors at theirs, and the
    /// stream names.
    pub(super) fn heap_bytes(&self) -> u64 {
        let ids = self.ids.capacity() * (std::mem::size_of::<(Uuid, u64)>() + 1);
        let streams = self.streams.capacity() * (std::mem::size_of::<(String, Vec<u64>)>() + 1);
        let owned: usize = self
            .streams
            .iter()
            .map(|(name, positions)| name.capacity() + positions.capacity() * 8)
            .sum();
        (self.base.heap_bytes() + ids + streams + owned) as u64
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

/// Adds to `index` the events of the `x` keys from its base's next position on, which must tile
/// the positions up to `next_position`.
pub(super) fn load_index(
    tree: &sled::Tree,
    mut index: Index,
    next_position: u64,
) -> Result<Index, LogError> {
    let mut expected = index.base.next_position;
    index
        .ids
        .reserve(usize::try_from(next_position.saturating_sub(expected)).unwrap_or(0));
    // Every `x` key from the base's next position on (from the first `x` key without a base, so
    // that a malformed key below position 0's is seen).
    let start = match expected {
        0 => vec![INDEX_PREFIX],
        _ => index_key(expected).to_vec(),
    };
    for entry in tree.range(start..vec![INDEX_PREFIX + 1]) {
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
