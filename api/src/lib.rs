//! `journey-api`: what the `journey` CLI shares with the server it is growing: opening a data
//! directory, and knowing which server holds it.

pub mod context;
pub mod server_file;
