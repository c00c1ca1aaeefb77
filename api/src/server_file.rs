//! `<data-dir>/server.json`: which `journey serve` holds the data directory, so that other commands
//! that find the store locked can say who holds it and what to do.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const SERVER_FILE: &str = "server.json";

/// What a running server writes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub pid: u32,
    /// The address it listens on, as bound (so with the real port when started on port 0).
    pub listen: String,
    pub started_at: DateTime<Utc>,
    /// The gRPC endpoint's address as bound, with `--grpc-listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_listen: Option<String>,
    /// The CA that signed the gRPC endpoint's generated certificate: a client's `tlsCaFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_ca_file: Option<PathBuf>,
}

impl ServerInfo {
    /// The GraphQL endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}/graphql", self.listen)
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(SERVER_FILE)
}

/// Writes the file atomically (temporary file, then rename).
pub fn write(data_dir: &Path, info: &ServerInfo) -> std::io::Result<()> {
    let temporary = data_dir.join(format!(".{SERVER_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?;
    std::fs::write(&temporary, json)?;
    std::fs::rename(&temporary, path(data_dir))
}

/// The file's content, if there is a readable one.
pub fn read(data_dir: &Path) -> Option<ServerInfo> {
    let bytes = std::fs::read(path(data_dir)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn remove(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path(data_dir)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The message for a command that found the store locked.
pub fn locked_message(data_dir: &Path) -> String {
    match read(data_dir) {
        Some(info) => format!(
            "the data directory {} is in use by another process: `journey serve` (pid {}, listening on {}, started {}) holds it. \
             Stop the server first (`kill -TERM {}`; it shuts down cleanly), or work through its GraphQL API at {}",
            data_dir.display(),
            info.pid,
            info.listen,
            info.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
            info.pid,
            info.endpoint()
        ),
        None => format!(
            "the data directory {} is in use by another process (is `journey serve` running on it?); \
             stop that process or use another --data-dir",
            data_dir.display()
        ),
    }
}
