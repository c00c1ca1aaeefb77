//! `journey-api`: the GraphQL server of the ledger and what the `journey` CLI shares with it.
//!
//! Start reading at [`http::app`] (the routes) and [`graphql`] (the schema). [`state::AppState`] is
//! what every request shares; [`visibility`] decides who sees which person; [`audit`] records every
//! read of person-level data and every write; [`auth`] holds the bearer tokens.
//!
//! Invariant: no business rules here (they are `journey_core::rules`) and no KPI math (it belongs to
//! `journey-projections`). The API translates, authorizes, audits and limits.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod config;
pub mod context;
pub mod demo;
pub mod error;
pub mod graphql;
pub mod grpc;
pub mod http;
pub mod hub;
pub mod kpi_push;
pub mod kpi_rows;
pub mod memory;
pub mod metrics;
pub mod parquet;
pub mod pseudonym;
pub mod rate_limit;
pub mod replica;
pub mod report;
pub mod retention;
pub mod server;
pub mod server_file;
pub mod state;
pub mod visibility;
pub mod web;

pub use http::app;
pub use state::AppState;
