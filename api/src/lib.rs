//! `journey-api`: what the `journey` CLI shares with the server it is growing: opening a data
//! directory, knowing which server holds it, the API's bearer tokens, its audit log, who may see
//! which person, and the pseudonymised view for analysts.

pub mod audit;
pub mod auth;
pub mod context;
pub mod pseudonym;
pub mod server_file;
pub mod visibility;
