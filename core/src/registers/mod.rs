//! Registers: the municipality's reference data (districts with their areas, course providers) as
//! validated, versioned code lists kept in the ledger.
//!
//! Each register lives in a stream of its own, `register-<name>` (for example `register-districts`),
//! next to the person streams. Its events ([`RegisterEvent`]) add a code from a date, retire a code
//! on a date naming its successors (a rename, merge or split), or map a stray value found in old
//! records to a code. They are stored as plain JSON (reference data is not personal), chained like
//! every stream, and never rewritten: a change is a new event with its date, so the register as of
//! any date can be rebuilt and every change is audited.
//!
//! The person rules ([`crate::rules`]) never see these events. The ledger folds them into
//! [`Registers`] and checks every coded field of a proposed person event against the register
//! valid on the event's date ([`Registers::check_event`]); an unknown code is refused with the
//! closest known values. A register that holds no code yet does not constrain its fields, so an
//! installation that never imported a register keeps accepting any well-formed value (and
//! `journey registers check` shows what it has). See `docs/adr/0002-registers-as-streams.md`.
//!
//! The register file a municipality edits ([`RegisterFile`]) is the whole register in one JSON
//! document; importing it appends only the differences to what the ledger already holds.

mod check;
mod events;
mod file;
pub mod schema;
mod state;
mod suggest;
mod write;

pub use check::{stray_values, StrayValue};
pub use events::{
    decode_register_event, RegisterEntryAdded, RegisterEntryRetired, RegisterEvent,
    RegisterEventType, RegisterKind, RegisterValueMapped, REGISTER_STREAM_PREFIX,
};
pub use file::{EntrySpec, MappingSpec, RegisterFile, RegisterFileError, SALZGITTER_JSON};
pub use state::{coded_values, CodedValue, Entry, Register, RegisterError, Registers, UnknownCode};
pub use suggest::closest;
pub use write::{RegisterCache, RegisterProposal, RegisterReceipt};
