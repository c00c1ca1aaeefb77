//! Projections of the journey ledger: read models and the KPI catalogue.
//!
//! Projections are fed only by subscribing to the event log (see `ARCHITECTURE.md`).
