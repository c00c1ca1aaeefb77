//! The names of the ledger's streams in the KurrentDB server.
//!
//! Every stream of the ledger (`person-<uuid>`, `register-…`, `offer-<uuid>`, plain streams and
//! their `$$` metadata streams) is stored under the prefix [`LEDGER_STREAM_PREFIX`]. The prefix
//! does three things. It makes the ledger's streams one category of their own in a cluster that other
//! applications share, so that reads of `$all` filter on it server-side. It keeps the ledger's `$$`
//! streams from being taken for the server's own metadata streams. And when the log server is
//! another `journey serve --grpc-listen` process (the only KurrentDB-protocol server these machines
//! run), it makes every stream of the writer a *plain* stream there (`plain::classify`): the log
//! server stores the writer's records as opaque bytes, never decodes them as its own person events,
//! never projects them, and serves them only to its admin and replication roles. Its own ledger
//! (`person-<uuid>` without the prefix) stays apart.

/// The prefix of every ledger stream in the server.
pub const LEDGER_STREAM_PREFIX: &str = "ledger.";

/// The longest stream name journey's KurrentDB-protocol endpoint takes (KurrentDB itself takes
/// longer ones).
const SERVER_STREAM_NAME_MAX: usize = 255;

/// The longest ledger stream name this backend takes: the server's limit less the prefix, so that
/// the ledger runs on journey's endpoint and on KurrentDB alike.
pub const STREAM_NAME_MAX: usize = SERVER_STREAM_NAME_MAX - LEDGER_STREAM_PREFIX.len();

/// The server's name of the ledger's `stream`.
pub fn server_stream(stream: &str) -> String {
    format!("{LEDGER_STREAM_PREFIX}{stream}")
}

/// The ledger's name of the server's `stream`; `None` when it is not one of the ledger's.
pub fn ledger_stream(stream: &str) -> Option<&str> {
    stream
        .strip_prefix(LEDGER_STREAM_PREFIX)
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_stream_name_goes_there_and_back() {
        for stream in ["person-1", "$$orders", "register-planets"] {
            assert_eq!(ledger_stream(&server_stream(stream)), Some(stream));
        }
        assert_eq!(ledger_stream("person-1"), None);
        assert_eq!(
            server_stream(&"x".repeat(STREAM_NAME_MAX)).len(),
            SERVER_STREAM_NAME_MAX
        );
        assert_eq!(ledger_stream(LEDGER_STREAM_PREFIX), None);
    }
}
