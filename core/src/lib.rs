//! `journey-core`: the event catalogue, the journey rules, the event log and the ledger.
//!
//! Start reading at [`ledger::Ledger`], the one write path: it validates proposed events against the
//! [`catalogue`], asks [`rules::decide`] whether the journey allows them, seals the payload with the
//! person's data key ([`crypto`]), chains it ([`chain`]) and appends it to an [`log::EventLog`].
//!
//! Invariant: this crate does no IO except through the event log and the key store, and reads the
//! clock and random numbers only through the injected [`clock::Clock`] and RNG.

#![forbid(unsafe_code)]

pub mod accepted_next;
pub mod catalogue;
pub mod chain;
pub mod clock;
pub mod crypto;
pub mod envelope;
pub mod erasure_register;
pub mod fault;
pub mod in_flight;
pub mod involvement;
pub mod keys;
pub mod ledger;
pub mod log;
pub mod offers;
pub mod organisational;
pub mod plain;
pub mod registers;
pub mod retention;
pub mod rules;
pub mod sample;
pub mod sorted_json;
pub mod store;
pub mod synth;
pub mod vault;
pub mod verify;
pub mod volunteers;
