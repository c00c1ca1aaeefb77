//! The log's tables of numbered strings: the name table of streams (`n` keys, records of formats 3
//! and 4) and the dictionary of event types and actors (`d` keys, records of format 4).
//!
//! Each table is numbered densely from 0 in the order the writer first needs an entry, and each
//! entry is written in the same sled batch as the first record that uses it, so a crash never
//! leaves a record whose number is missing. Both are held in memory ([`Tables`] for the readers,
//! [`Numbers`] for the writer), loaded at open, and copied by backups ahead of the records.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// The kind byte of a dictionary value naming an event type (followed by the type's UTF-8 name).
const ENTRY_EVENT_TYPE: u8 = b't';
/// The kind byte of a dictionary value naming an actor (followed by the postcard [`StoredActor`]).
const ENTRY_ACTOR: u8 = b'a';

/// One entry of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DictionaryEntry {
    EventType(Arc<str>),
    Actor(Arc<LogActor>),
}

impl DictionaryEntry {
    /// The stored value of the entry: its kind byte, then its content.
    pub(super) fn encode(&self) -> Result<Vec<u8>, LogError> {
        match self {
            Self::EventType(name) => {
                let mut value = Vec::with_capacity(1 + name.len());
                value.push(ENTRY_EVENT_TYPE);
                value.extend_from_slice(name.as_bytes());
                Ok(value)
            }
            Self::Actor(actor) => postcard::to_io(&StoredActor::borrowed(actor), vec![ENTRY_ACTOR])
                .map_err(|error| LogError::Corrupt {
                    position: Position::from_raw(u64::MAX),
                    reason: format!("cannot encode the dictionary entry of an actor: {error}"),
                }),
        }
    }

    /// Decodes the entry stored under `key`, which must be that of entry number `expected`.
    pub(super) fn decode(key: &[u8], value: &[u8], expected: u32) -> Result<Self, LogError> {
        let corrupt = |reason: String| LogError::Corrupt {
            position: Position::from_raw(u64::MAX),
            reason: format!("dictionary: {reason}"),
        };
        if key != dictionary_key(expected) {
            return Err(corrupt(format!(
                "the key {key:?} where entry {expected} was due"
            )));
        }
        match value.split_first() {
            Some((&ENTRY_EVENT_TYPE, name)) => match std::str::from_utf8(name) {
                Ok(name) if !name.is_empty() => Ok(Self::EventType(name.into())),
                _ => Err(corrupt(format!(
                    "entry {expected} has an invalid event type {name:?}"
                ))),
            },
            Some((&ENTRY_ACTOR, actor)) => {
                let (stored, rest) =
                    postcard::take_from_bytes::<StoredActor<'_>>(actor).map_err(|error| {
                        corrupt(format!(
                            "entry {expected}, an actor, does not decode: {error}"
                        ))
                    })?;
                if !rest.is_empty() {
                    return Err(corrupt(format!(
                        "entry {expected}, an actor, has {} trailing bytes",
                        rest.len()
                    )));
                }
                Ok(Self::Actor(Arc::new(stored.into_log())))
            }
            _ => Err(corrupt(format!("entry {expected} is of no known kind"))),
        }
    }

    /// The heap bytes the entry holds (its string bytes and the `Arc`'s counts).
    fn heap_bytes(&self) -> usize {
        let counts = 2 * std::mem::size_of::<usize>();
        counts
            + match self {
                Self::EventType(name) => name.len(),
                Self::Actor(actor) => {
                    std::mem::size_of::<LogActor>()
                        + actor.id.capacity()
                        + actor.agency.as_ref().map_or(0, String::capacity)
                }
            }
    }
}

/// The tables in memory as the readers use them: the name of each stream number and the entry of
/// each dictionary number.
#[derive(Debug, Default)]
pub(super) struct Tables {
    names: Vec<Arc<str>>,
    dictionary: Vec<DictionaryEntry>,
}

/// The tables, shared by the readers and the writer (which extends them after each group). Apart
/// from the index, so that a decode takes only this lock, briefly.
pub(super) type SharedTables = std::sync::Arc<RwLock<Tables>>;

impl Tables {
    /// Loads both tables from the `n` and `d` keys, which must number their entries densely from 0.
    pub(super) fn load(tree: &sled::Tree) -> Result<Self, LogError> {
        Self::default().load_after(tree)
    }

    /// Tables whose first entries are known (from the index checkpoint), to be completed from the
    /// keys after them ([`Tables::load_after`]).
    pub(super) fn of(names: Vec<Arc<str>>, dictionary: Vec<DictionaryEntry>) -> Self {
        Self { names, dictionary }
    }

    /// These tables completed from the `n` and `d` keys numbered after their entries, which must
    /// go on densely. The last entry of each table held here must be the one stored under its key
    /// (an entry never changes once written), so tables of another store are refused.
    pub(super) fn load_after(mut self, tree: &sled::Tree) -> Result<Self, LogError> {
        let differs = |table: &str, number: usize| LogError::Corrupt {
            position: Position::from_raw(u64::MAX),
            reason: format!("{table}: entry {number} differs from the one stored"),
        };
        if let Some(last) = self.names.len().checked_sub(1) {
            let number = next_number(last, "the name table")?;
            if tree.get(name_key(number))?.as_deref() != Some(self.names[last].as_bytes()) {
                return Err(differs("the name table", last));
            }
        }
        if let Some(last) = self.dictionary.len().checked_sub(1) {
            let number = next_number(last, "the dictionary")?;
            if tree.get(dictionary_key(number))?.as_deref()
                != Some(&self.dictionary[last].encode()?[..])
            {
                return Err(differs("the dictionary", last));
            }
        }
        let names_from = next_number(self.names.len(), "the name table")?;
        for entry in tree.range(name_key(names_from)..=name_key(u32::MAX)) {
            let (key, value) = entry?;
            self.add_stored_name(&key, &value)?;
        }
        let entries_from = next_number(self.dictionary.len(), "the dictionary")?;
        for entry in tree.range(dictionary_key(entries_from)..=dictionary_key(u32::MAX)) {
            let (key, value) = entry?;
            self.add_stored_entry(&key, &value)?;
        }
        Ok(self)
    }

    /// The name table, in number order.
    pub(super) fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// The dictionary, in number order.
    pub(super) fn dictionary(&self) -> &[DictionaryEntry] {
        &self.dictionary
    }

    /// Adds a stored `n` key and value (at open, or restored), which must be the next number.
    pub(super) fn add_stored_name(&mut self, key: &[u8], value: &[u8]) -> Result<(), LogError> {
        let expected = next_number(self.names.len(), "the name table")?;
        self.names.push(decode_name(key, value, expected)?);
        Ok(())
    }

    /// Adds a stored `d` key and value (at open, or restored), which must be the next number.
    pub(super) fn add_stored_entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), LogError> {
        let expected = next_number(self.dictionary.len(), "the dictionary")?;
        self.dictionary
            .push(DictionaryEntry::decode(key, value, expected)?);
        Ok(())
    }

    /// Adds what a group committed, in number order after the entries there are.
    pub(super) fn extend(&mut self, names: Vec<Arc<str>>, entries: Vec<DictionaryEntry>) {
        self.names.extend(names);
        self.dictionary.extend(entries);
    }

    pub(super) fn stream_name(&self, number: u32) -> Option<&Arc<str>> {
        self.names.get(usize::try_from(number).ok()?)
    }

    /// The event type of dictionary entry `number`, if it is one.
    pub(super) fn event_type(&self, number: u32) -> Option<&Arc<str>> {
        match self.dictionary.get(usize::try_from(number).ok()?)? {
            DictionaryEntry::EventType(name) => Some(name),
            DictionaryEntry::Actor(_) => None,
        }
    }

    /// The actor of dictionary entry `number`, if it is one.
    pub(super) fn actor(&self, number: u32) -> Option<&LogActor> {
        match self.dictionary.get(usize::try_from(number).ok()?)? {
            DictionaryEntry::Actor(actor) => Some(actor),
            DictionaryEntry::EventType(_) => None,
        }
    }

    /// An estimate of the heap bytes of both tables and of the writer's maps of the same entries
    /// to their numbers ([`Numbers`], counted at the tables' lengths).
    pub(super) fn heap_bytes(&self) -> u64 {
        let counts = 2 * std::mem::size_of::<usize>();
        let map_slot = std::mem::size_of::<(Arc<str>, u32)>() + 1;
        let names = self.names.capacity() * std::mem::size_of::<Arc<str>>()
            + self
                .names
                .iter()
                .map(|name| name.len() + counts)
                .sum::<usize>()
            + self.names.len() * map_slot;
        let dictionary = self.dictionary.capacity() * std::mem::size_of::<DictionaryEntry>()
            + self
                .dictionary
                .iter()
                .map(DictionaryEntry::heap_bytes)
                .sum::<usize>()
            + self.dictionary.len() * map_slot;
        (names + dictionary) as u64
    }
}

/// The number the next entry of a table of `len` entries gets.
fn next_number(len: usize, table: &str) -> Result<u32, LogError> {
    u32::try_from(len).map_err(|_| LogError::Corrupt {
        position: Position::from_raw(u64::MAX),
        reason: format!("{table} holds more than 2^32 entries"),
    })
}

/// The writer's side of the tables: the number of each name and entry, and how many there are.
/// One for the committed tables, one for what the group being prepared adds.
#[derive(Debug, Default)]
pub(super) struct Numbers {
    streams: HashMap<Arc<str>, u32>,
    event_types: HashMap<Arc<str>, u32>,
    actors: HashMap<Arc<LogActor>, u32>,
    /// The names and entries, in number order: the group's additions, or nothing for the
    /// committed tables (whose entries the readers' [`Tables`] hold).
    new_names: Vec<Arc<str>>,
    new_entries: Vec<DictionaryEntry>,
    /// How many names and entries the tables hold with these.
    names_len: u32,
    entries_len: u32,
}

impl Numbers {
    /// The committed numbers of `tables`.
    pub(super) fn of(tables: &Tables) -> Result<Self, LogError> {
        let mut numbers = Self {
            names_len: next_number(tables.names.len(), "the name table")?,
            entries_len: next_number(tables.dictionary.len(), "the dictionary")?,
            ..Self::default()
        };
        for (number, name) in (0u32..).zip(&tables.names) {
            numbers.streams.insert(name.clone(), number);
        }
        for (number, entry) in (0u32..).zip(&tables.dictionary) {
            match entry {
                DictionaryEntry::EventType(name) => {
                    numbers.event_types.insert(name.clone(), number)
                }
                DictionaryEntry::Actor(actor) => numbers.actors.insert(actor.clone(), number),
            };
        }
        Ok(numbers)
    }

    /// The group's additions after the committed `self`: empty, numbered from where it ends.
    pub(super) fn group(&self) -> Self {
        Self {
            names_len: self.names_len,
            entries_len: self.entries_len,
            ..Self::default()
        }
    }

    /// Adds the additions of a group to the committed `self`, and returns the names and entries
    /// for the readers' tables.
    pub(super) fn commit(&mut self, group: Numbers) -> (Vec<Arc<str>>, Vec<DictionaryEntry>) {
        self.streams.extend(group.streams);
        self.event_types.extend(group.event_types);
        self.actors.extend(group.actors);
        self.names_len = group.names_len;
        self.entries_len = group.entries_len;
        (group.new_names, group.new_entries)
    }
}

/// The numbers one append's records use, drawn from the committed tables, the group's additions
/// and its own: an append that fails leaves the group as it was, because its own additions enter
/// the group only through [`DraftedEntries::add_to`].
#[derive(Debug)]
pub(super) struct Draft<'a> {
    committed: &'a Numbers,
    group: &'a Numbers,
    new_name: Option<(Arc<str>, u32)>,
    new_entries: Vec<(DictionaryEntry, u32)>,
}

impl<'a> Draft<'a> {
    pub(super) fn new(committed: &'a Numbers, group: &'a Numbers) -> Self {
        Self {
            committed,
            group,
            new_name: None,
            new_entries: Vec::new(),
        }
    }

    /// The number of the stream named `stream`, a new one if it has none yet.
    pub(super) fn stream(&mut self, stream: &str) -> Result<u32, LogError> {
        if let Some(&number) = self
            .committed
            .streams
            .get(stream)
            .or_else(|| self.group.streams.get(stream))
        {
            return Ok(number);
        }
        if let Some((name, number)) = &self.new_name {
            if &**name == stream {
                return Ok(*number);
            }
        }
        let number = self.group.names_len;
        if number == u32::MAX {
            return Err(LogError::Storage(
                "the name table holds 2^32 - 1 streams, its most".into(),
            ));
        }
        self.new_name = Some((stream.into(), number));
        Ok(number)
    }

    /// The dictionary numbers of `event`'s type and actor, new ones where they have none yet.
    pub(super) fn event(&mut self, event: &NewEvent) -> Result<(u32, u32), LogError> {
        let event_type = match self
            .committed
            .event_types
            .get(event.event_type.as_str())
            .or_else(|| self.group.event_types.get(event.event_type.as_str()))
        {
            Some(&number) => number,
            None => self.entry(
                |entry| matches!(entry, DictionaryEntry::EventType(name) if **name == *event.event_type),
                || DictionaryEntry::EventType(event.event_type.as_str().into()),
            )?,
        };
        let actor = match self
            .committed
            .actors
            .get(&event.actor)
            .or_else(|| self.group.actors.get(&event.actor))
        {
            Some(&number) => number,
            None => self.entry(
                |entry| matches!(entry, DictionaryEntry::Actor(actor) if **actor == event.actor),
                || DictionaryEntry::Actor(Arc::new(event.actor.clone())),
            )?,
        };
        Ok((event_type, actor))
    }

    /// The number of the entry of this append that `is` finds, else of a new entry `make`.
    fn entry(
        &mut self,
        is: impl Fn(&DictionaryEntry) -> bool,
        make: impl FnOnce() -> DictionaryEntry,
    ) -> Result<u32, LogError> {
        if let Some((_, number)) = self.new_entries.iter().find(|(entry, _)| is(entry)) {
            return Ok(*number);
        }
        let number = u32::try_from(self.new_entries.len())
            .ok()
            .and_then(|added| self.group.entries_len.checked_add(added))
            .filter(|&number| number < u32::MAX)
            .ok_or_else(|| {
                LogError::Storage("the dictionary holds 2^32 - 1 entries, its most".into())
            })?;
        self.new_entries.push((make(), number));
        Ok(number)
    }

    /// The keys and values this append adds to the tables, encoded, ready for [`DraftedEntries::add_to`].
    pub(super) fn finish(self) -> Result<DraftedEntries, LogError> {
        let mut keys =
            Vec::with_capacity(usize::from(self.new_name.is_some()) + self.new_entries.len());
        if let Some((name, number)) = &self.new_name {
            keys.push((name_key(number.to_owned()), name.as_bytes().to_vec()));
        }
        for (entry, number) in &self.new_entries {
            keys.push((dictionary_key(*number), entry.encode()?));
        }
        Ok(DraftedEntries {
            new_name: self.new_name,
            new_entries: self.new_entries,
            keys,
        })
    }
}

/// What an append adds to the tables, with the keys and values to write for it.
#[derive(Debug)]
pub(super) struct DraftedEntries {
    new_name: Option<(Arc<str>, u32)>,
    new_entries: Vec<(DictionaryEntry, u32)>,
    keys: Vec<([u8; 5], Vec<u8>)>,
}

impl DraftedEntries {
    /// Puts the additions into the group's `numbers` and their keys into its `batch`.
    pub(super) fn add_to(self, numbers: &mut Numbers, batch: &mut sled::Batch) {
        for (key, value) in self.keys {
            batch.insert(&key[..], value);
        }
        if let Some((name, number)) = self.new_name {
            numbers.streams.insert(name.clone(), number);
            numbers.new_names.push(name);
            numbers.names_len = number + 1;
        }
        for (entry, number) in self.new_entries {
            match &entry {
                DictionaryEntry::EventType(name) => {
                    numbers.event_types.insert(name.clone(), number);
                }
                DictionaryEntry::Actor(actor) => {
                    numbers.actors.insert(actor.clone(), number);
                }
            }
            numbers.new_entries.push(entry);
            numbers.entries_len = number + 1;
        }
    }
}
