//! Projections of the journey ledger: read models and the KPI catalogue.
//!
//! Projections are fed only by subscribing to the event log (see `ARCHITECTURE.md`). The runner keeps
//! one [`journal::Journal`] per person; read models and indicators are pure functions of the journals
//! and the two cuts `as_of` (valid time) and `known_at` (transaction time):
//!
//! 1. [`temporal::effective`] applies the transaction-time cut: the facts recorded by `known_at`,
//!    with the corrections and retractions known by then applied.
//! 2. [`view::PersonView::build`] folds those into a compact record that answers "as of D" for any
//!    D by comparing business dates; [`view::Households`] indexes households across views.
//! 3. [`models`] (person status, caseloads, waiting list, idle list, people filter), [`promising`]
//!    (the joint case management's promising applicants) and
//!    [`kpi::compute`] (the catalogue) read the views of one cut.

#![forbid(unsafe_code)]

pub mod checklist;
pub mod code;
pub mod decode;
pub mod id;
pub mod journal;
pub mod kept_rows;
mod kept_steps;
pub mod kpi;
pub mod list;
pub mod models;
pub mod offers;
pub mod parallel;
pub mod promising;
pub mod query;
mod registers;
pub mod runner;
pub mod snapshot;
pub mod temporal;
pub mod view;
pub mod volunteers;

pub use kept_rows::KeptRowsStatus;
pub use query::{KeptCut, ViewSet, LIVE};
pub use runner::{
    KpiRequest, ProjectionError, Projections, RunnerConfig, State, LAG_COUNTED_MAX,
    PROJECTION_VERSION,
};
