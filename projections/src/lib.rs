//! Projections of the journey ledger: read models and the KPI catalogue.
//!
//! Projections are fed only by subscribing to the event log (see `ARCHITECTURE.md`). The runner keeps
//! one [`journal::Journal`] per person; read models and indicators are pure functions of the journals
//! and the two cuts `as_of` (valid time) and `known_at` (transaction time).

pub mod journal;
pub mod temporal;
pub mod view;
pub mod models;
