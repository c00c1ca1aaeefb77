//! `journey-api`: what the `journey` CLI shares with the server it is growing: opening a data
//! directory, knowing which server holds it, the API's bearer tokens and its audit log.

pub mod audit;
pub mod auth;
pub mod context;
pub mod server_file;
