//! The input of every read model and indicator: each person's recorded events with both times
//! (valid time `occurred_on`, transaction time `recorded_at`).
//!
//! The projection runner keeps one [`Journal`] per person, fed only by the log subscription.
//! Everything else in this crate is a pure function of the journals and the cuts (`as_of`,
//! `known_at`), which is what makes answers for past cuts exactly reproducible and rebuilds equal.
//!
//! A journal holds its events and actors in one of two forms, named by a [`Store`]:
//! - [`Inline`]: each fact holds its decoded [`Event`] and [`Actor`]. This is the form tests and
//!   the reference folds build by hand.
//! - [`Interner`]: each fact holds a 4-byte symbol of its event and of its actor, and the state's
//!   one interner holds every distinct event and actor once. Events repeat across persons (the same
//!   course started, the same benefit ended, the same caseworker), so a million persons' journals
//!   cost their facts' times and ids plus the distinct events, not every decoded event with its
//!   strings. This is the form the runner keeps.
//!
//! Every fold reads events through [`Store::event`], so both forms are folded by the same code and
//! there is one definition of what a fact means: the catalogue's [`Event`].

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, RandomState};

use chrono::{DateTime, NaiveDate, Utc};
use hashbrown::HashTable;
use journey_core::catalogue::Event;
use journey_core::envelope::{Actor, PersonId};
use journey_core::log::Position;
use uuid::Uuid;

/// One recorded event as the projections see it; `E` and `A` are the event and actor as the
/// journal's [`Store`] keeps them (decoded by default).
///
/// A fact is one of the few dozen a person's journal holds, for every person a node holds, so its
/// fields take their compact forms: the stream revision as a `u32` and the transaction time as a
/// [`RecordedAt`] (8 bytes where a `DateTime<Utc>` takes 12). With 4-byte symbols for the event and
/// the actor an interned fact takes 48 bytes where it took 56 (`FACT_BYTES`, checked by a test).
/// [`Fact::new`] makes one from the ledger's values and says which of them does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact<E = Event, A = Actor> {
    /// Global position in the log.
    pub position: Position,
    /// Transaction time: when the ledger accepted the event.
    pub recorded_at: RecordedAt,
    pub id: Uuid,
    /// Position in the person's stream.
    pub revision: u32,
    /// Valid time: the business date.
    pub occurred_on: NaiveDate,
    pub actor: A,
    /// The event at its current version (upcast on read).
    pub event: E,
}

/// The bytes of an interned fact, as the memory figures count them.
pub const FACT_BYTES: usize = 48;

impl<E, A> Fact<E, A> {
    /// The fact of the event at `position`, the `revision`th of its person's stream, recorded at
    /// `recorded_at`. Fails, naming the value, when the revision or the time does not fit the
    /// fact's compact form; the ledger records neither (a stream of four billion events, a
    /// transaction time before 1677 or after 2262).
    pub fn new(
        position: Position,
        revision: u64,
        id: Uuid,
        occurred_on: NaiveDate,
        recorded_at: DateTime<Utc>,
        actor: A,
        event: E,
    ) -> Result<Self, FactError> {
        Ok(Self::stamped(
            position,
            Stamp::new(revision, recorded_at)?,
            id,
            occurred_on,
            actor,
            event,
        ))
    }

    /// The fact with the revision and transaction time `stamp` already checked.
    pub fn stamped(
        position: Position,
        stamp: Stamp,
        id: Uuid,
        occurred_on: NaiveDate,
        actor: A,
        event: E,
    ) -> Self {
        Self {
            position,
            recorded_at: stamp.recorded_at,
            id,
            revision: stamp.revision,
            occurred_on,
            actor,
            event,
        }
    }
}

/// A fact's revision and transaction time in their compact forms, checked: what [`Fact::new`]
/// checks, for a caller that must refuse an event before it changes anything else (the runner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    revision: u32,
    recorded_at: RecordedAt,
}

impl Stamp {
    /// The stamp of the `revision`th event of a stream, recorded at `recorded_at`.
    pub fn new(revision: u64, recorded_at: DateTime<Utc>) -> Result<Self, FactError> {
        Ok(Self {
            revision: u32::try_from(revision)
                .map_err(|_| FactError::RevisionTooLarge { revision })?,
            recorded_at: RecordedAt::new(recorded_at)?,
        })
    }
}

/// A value of a recorded event that a fact's compact form cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactError {
    #[error(
        "revision {revision} is beyond the {} events the projections hold for one person's stream",
        u32::MAX
    )]
    RevisionTooLarge { revision: u64 },
    #[error(
        "recorded_at {recorded_at} is not a transaction time the projections hold: they hold \
         nanoseconds from 1677-09-21 to 2262-04-11, without leap seconds"
    )]
    RecordedAtOutOfRange { recorded_at: DateTime<Utc> },
}

/// A transaction time as the journals keep it: nanoseconds since the Unix epoch, in 8 bytes where
/// a `DateTime<Utc>` takes 12. Exact for every time the ledger records: its clock reads
/// nanoseconds (the sled log keeps microseconds), and transaction times lie between 1677 and 2262.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordedAt(i64);

impl RecordedAt {
    /// The compact form of `time`; fails for a time outside 1677–2262 or within a leap second,
    /// which nanoseconds since the epoch cannot tell from the second after it.
    pub fn new(time: DateTime<Utc>) -> Result<Self, FactError> {
        let out_of_range = || FactError::RecordedAtOutOfRange { recorded_at: time };
        if time.timestamp_subsec_nanos() >= 1_000_000_000 {
            return Err(out_of_range());
        }
        time.timestamp_nanos_opt()
            .map(Self)
            .ok_or_else(out_of_range)
    }

    /// The time `nanos` nanoseconds after the Unix epoch (every `i64` is one).
    pub fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// The time, exactly as it was recorded.
    pub fn time(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// The latest transaction time a fact can hold that lies at or before `known_at` (`None`: every
    /// one lies after it), so that a cut compares facts as integers:
    /// `fact.recorded_at.time() <= known_at` exactly when `Some(fact.recorded_at) <= cut`. Any
    /// `known_at` is taken, `LIVE` and leap seconds included.
    pub fn cut(known_at: DateTime<Utc>) -> Option<Self> {
        // A leap second lies after every nanosecond of the second it extends and before the next.
        let subsec = known_at.timestamp_subsec_nanos().min(999_999_999);
        let nanos = i128::from(known_at.timestamp()) * 1_000_000_000 + i128::from(subsec);
        if nanos < i128::from(i64::MIN) {
            None
        } else {
            Some(Self(i64::try_from(nanos).unwrap_or(i64::MAX)))
        }
    }
}

impl From<RecordedAt> for DateTime<Utc> {
    fn from(recorded_at: RecordedAt) -> Self {
        recorded_at.time()
    }
}

/// Everything recorded about one person, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal<E = Event, A = Actor> {
    pub facts: Vec<Fact<E, A>>,
    /// Set when a `PersonalDataErased` was recorded: the person is then in no read model and no
    /// indicator, whatever the cut (the facts are dropped when the erasure is applied).
    pub erased: bool,
}

// Not derived: a derived `Default` would ask `E: Default`, which no event has.
impl<E, A> Default for Journal<E, A> {
    fn default() -> Self {
        Self {
            facts: Vec::new(),
            erased: false,
        }
    }
}

/// All journals, ordered by person so every iteration (and every answer) is deterministic.
pub type Journals<E = Event, A = Actor> = BTreeMap<PersonId, Journal<E, A>>;

/// Where the events and actors of a journal's facts are kept, and how a fold reads them.
pub trait Store: Debug + Clone + Send + Sync {
    /// What a fact holds for its event.
    type Event: Debug + Clone + PartialEq + Eq + Send + Sync;
    /// What a fact holds for its actor.
    type Actor: Debug + Clone + PartialEq + Eq + Send + Sync;

    /// The decoded event a fact holds.
    fn event<'a>(&'a self, event: &'a Self::Event) -> &'a Event;

    /// The actor a fact holds.
    fn actor<'a>(&'a self, actor: &'a Self::Actor) -> &'a Actor;
}

/// Journals whose facts hold their decoded events and actors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inline;

impl Store for Inline {
    type Event = Event;
    type Actor = Actor;

    fn event<'a>(&'a self, event: &'a Event) -> &'a Event {
        event
    }

    fn actor<'a>(&'a self, actor: &'a Actor) -> &'a Actor {
        actor
    }
}

/// An interned event: an index into the [`Interner`] of the state that holds the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSymbol(u32);

/// An interned actor: an index into the [`Interner`] of the state that holds the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActorSymbol(u32);

/// Every distinct event and actor of the runner's journals, each kept once and counted by the
/// facts that hold it. A value no fact holds any more (its person erased) is dropped at once, so an
/// erased person's events do not stay in memory behind their symbols; its slot is reused.
///
/// Equality is by content, not by symbol numbers: two interners holding the same values in other
/// slots (a state loaded from a snapshot against one folded from the log) are equal, and so are
/// journals compared through them (see `State`'s equality).
#[derive(Debug, Clone, Default)]
pub struct Interner {
    events: Table<Event>,
    actors: Table<Actor>,
}

impl Interner {
    /// The symbol of `event`, counting one more fact that holds it.
    pub fn intern_event(&mut self, event: Event) -> EventSymbol {
        EventSymbol(self.events.intern(event))
    }

    /// The symbol of an event hashed and boxed on another thread ([`Hashed`]), counting one
    /// more fact that holds it.
    pub(crate) fn intern_hashed_event(&mut self, event: Hashed<Event>) -> EventSymbol {
        EventSymbol(self.events.intern_hashed(event))
    }

    /// The hasher of the events' table, to make [`Hashed`] events for it on other threads.
    pub(crate) fn event_hasher(&self) -> RandomState {
        self.events.hasher.clone()
    }

    /// The symbol of `actor`, counting one more fact that holds it.
    pub fn intern_actor(&mut self, actor: &Actor) -> ActorSymbol {
        ActorSymbol(self.actors.intern_ref(actor))
    }

    /// Makes room for `events` more distinct events and `actors` more distinct actors (a
    /// snapshot's loader knows how many it will intern).
    pub(crate) fn reserve(&mut self, events: usize, actors: usize) {
        self.events.reserve(events);
        self.actors.reserve(actors);
    }

    /// Counts one more fact that holds `event`, a symbol this interner gave (a snapshot's loader
    /// names each event once and then holds it for every further fact).
    pub(crate) fn hold_event(&mut self, event: EventSymbol) {
        self.events.hold(event.0);
    }

    /// Counts one more fact that holds `actor`, a symbol this interner gave.
    pub(crate) fn hold_actor(&mut self, actor: ActorSymbol) {
        self.actors.hold(actor.0);
    }

    /// Gives back the symbols of a fact that is dropped (its person erased).
    pub fn release(&mut self, fact: &Fact<EventSymbol, ActorSymbol>) {
        self.events.release(fact.event.0);
        self.actors.release(fact.actor.0);
    }

    /// How many distinct events and actors are held.
    pub fn len(&self) -> (usize, usize) {
        (self.events.len(), self.actors.len())
    }

    /// Every distinct event held, each once (for measuring what the interner holds).
    pub fn events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.events.slots.iter().flatten().map(|slot| &*slot.value)
    }

    /// Every distinct actor held, each once (for measuring what the interner holds).
    pub fn actors(&self) -> impl Iterator<Item = &Actor> + '_ {
        self.actors.slots.iter().flatten().map(|slot| &*slot.value)
    }

    /// The bytes of the interner's own structure, exactly, counted from the capacities: the slot
    /// lists, the hash indexes and the free lists. The values themselves are not counted (measure
    /// them with [`Interner::events`] and [`Interner::actors`]).
    pub fn table_bytes(&self) -> u64 {
        self.events.table_bytes() + self.actors.table_bytes()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events.len() == 0 && self.actors.len() == 0
    }

    /// The fact `fact` with its event and actor interned.
    pub fn intern_fact(&mut self, fact: Fact) -> Fact<EventSymbol, ActorSymbol> {
        Fact {
            position: fact.position,
            recorded_at: fact.recorded_at,
            id: fact.id,
            revision: fact.revision,
            occurred_on: fact.occurred_on,
            actor: self.intern_actor(&fact.actor),
            event: self.intern_event(fact.event),
        }
    }
}

impl PartialEq for Interner {
    fn eq(&self, other: &Self) -> bool {
        self.events.same_values(&other.events) && self.actors.same_values(&other.actors)
    }
}

impl Eq for Interner {}

impl Store for Interner {
    type Event = EventSymbol;
    type Actor = ActorSymbol;

    fn event<'a>(&'a self, event: &'a EventSymbol) -> &'a Event {
        self.events.get(event.0)
    }

    fn actor<'a>(&'a self, actor: &'a ActorSymbol) -> &'a Actor {
        self.actors.get(actor.0)
    }
}

/// One kind of interned value: the values by symbol with the number of facts holding each, and an
/// index that finds a value's symbol by the value's hash. The index holds only symbols and compares
/// candidates through the slots, so a value is kept once, in its slot, and the index costs 4 bytes
/// a value (and a control byte) where a map keyed by the value kept a second pointer to it and the
/// value behind an `Arc` with its two counters.
#[derive(Debug, Clone)]
struct Table<T> {
    slots: Vec<Option<Slot<T>>>,
    index: HashTable<u32>,
    hasher: RandomState,
    /// Slots whose value was dropped, reused before the table grows.
    free: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    value: Box<T>,
    holders: u32,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            index: HashTable::new(),
            hasher: RandomState::new(),
            free: Vec::new(),
        }
    }
}

/// The value in `slot` of `slots`; every symbol in a table's index names a held slot.
fn held<T>(slots: &[Option<Slot<T>>], symbol: u32) -> &T {
    match slots.get(symbol as usize) {
        Some(Some(slot)) => &slot.value,
        // Symbols come only from this table and are released with the last fact holding them.
        _ => panic!("symbol {symbol} is not held by this interner"),
    }
}

/// A value hashed with an interner's hasher and boxed, ready to intern: a snapshot's loader makes
/// these on every core, so the one thread that interns them into the one table only looks each
/// up and inserts it (hashing an event and allocating its box were most of a load's serial
/// part).
#[derive(Debug)]
pub(crate) struct Hashed<T> {
    hash: u64,
    value: Box<T>,
}

impl<T: Hash> Hashed<T> {
    pub(crate) fn new(hasher: &RandomState, value: T) -> Self {
        Self {
            hash: hasher.hash_one(&value),
            value: Box::new(value),
        }
    }
}

impl<T: Hash + Eq + Clone> Table<T> {
    /// [`Table::intern`] of a value hashed with this table's hasher ([`Interner::event_hasher`]).
    fn intern_hashed(&mut self, hashed: Hashed<T>) -> u32 {
        let Hashed { hash, value } = hashed;
        debug_assert_eq!(
            hash,
            self.hasher.hash_one(&*value),
            "hashed by this table's hasher"
        );
        match self.find(hash, &value) {
            Some(symbol) => {
                self.hold(symbol);
                symbol
            }
            None => self.insert(hash, value),
        }
    }

    fn intern(&mut self, value: T) -> u32 {
        let hash = self.hasher.hash_one(&value);
        match self.find(hash, &value) {
            Some(symbol) => {
                self.hold(symbol);
                symbol
            }
            None => self.insert(hash, Box::new(value)),
        }
    }

    fn intern_ref(&mut self, value: &T) -> u32 {
        let hash = self.hasher.hash_one(value);
        match self.find(hash, value) {
            Some(symbol) => {
                self.hold(symbol);
                symbol
            }
            None => self.insert(hash, Box::new(value.clone())),
        }
    }

    /// Makes room for `additional` more values, so that adding them does not grow the index step
    /// by step (each step hashes every value held again).
    fn reserve(&mut self, additional: usize) {
        let Self {
            slots,
            index,
            hasher,
            ..
        } = self;
        slots.reserve(additional);
        index.reserve(additional, |&symbol| hasher.hash_one(held(slots, symbol)));
    }

    /// The symbol of `value`, when it is held.
    fn symbol_of(&self, value: &T) -> Option<u32> {
        self.find(self.hasher.hash_one(value), value)
    }

    /// The symbol of `value`, whose hash is `hash`, when it is held.
    fn find(&self, hash: u64, value: &T) -> Option<u32> {
        self.index
            .find(hash, |&symbol| held(&self.slots, symbol) == value)
            .copied()
    }

    fn hold(&mut self, symbol: u32) {
        if let Some(Some(slot)) = self.slots.get_mut(symbol as usize) {
            slot.holders = slot.holders.saturating_add(1);
        }
    }

    /// Holds `value`, whose hash is `hash`, in a slot of its own (it is not held yet).
    fn insert(&mut self, hash: u64, value: Box<T>) -> u32 {
        let slot = Slot { value, holders: 1 };
        let symbol = match self.free.pop() {
            Some(symbol) => {
                self.slots[symbol as usize] = Some(slot);
                symbol
            }
            None => {
                // More than four billion distinct values would be a store no single node holds.
                let symbol = u32::try_from(self.slots.len())
                    .expect("fewer than 2^32 distinct interned values");
                self.slots.push(Some(slot));
                symbol
            }
        };
        let Self {
            slots,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(hash, symbol, |&symbol| hasher.hash_one(held(slots, symbol)));
        symbol
    }

    fn release(&mut self, symbol: u32) {
        let Some(entry) = self.slots.get_mut(symbol as usize) else {
            return;
        };
        let Some(slot) = entry else {
            return;
        };
        slot.holders -= 1;
        if slot.holders == 0 {
            if let Some(slot) = entry.take() {
                let hash = self.hasher.hash_one(&*slot.value);
                if let Ok(found) = self.index.find_entry(hash, |&other| other == symbol) {
                    found.remove();
                }
            }
            self.free.push(symbol);
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// The bytes of the table's own structure: the slots (a value's box pointer and its count), the
    /// free list and the index, each at its capacity. The values' boxes are not counted.
    fn table_bytes(&self) -> u64 {
        use std::mem::size_of;
        let slots = self.slots.capacity() * size_of::<Option<Slot<T>>>();
        let free = self.free.capacity() * size_of::<u32>();
        (slots + free + self.index.allocation_size()) as u64
    }

    fn get(&self, symbol: u32) -> &T {
        held(&self.slots, symbol)
    }

    /// The same values held by the same number of facts, whatever their symbols.
    fn same_values(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.slots.iter().flatten().all(|slot| {
                other
                    .symbol_of(&slot.value)
                    .is_some_and(|theirs| slot.holders == other.holders(theirs))
            })
    }

    fn holders(&self, symbol: u32) -> u32 {
        match self.slots.get(symbol as usize) {
            Some(Some(slot)) => slot.holders,
            _ => 0,
        }
    }
}
