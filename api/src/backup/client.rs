//! How `journey backup` asks the running server for a backup: one HTTP/1.1 request to the address
//! in `<data-dir>/server.json`, written by hand because it is a single request to the loopback
//! interface on the same machine (the data directory is local), which does not warrant an HTTP
//! client dependency.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::format::Manifest;
use super::online::{BackupRequest, BACKUP_PATH};
use crate::server_file::ServerInfo;

/// The most bytes of an answer read (a manifest is a few KiB).
const ANSWER_BYTES_MAX: u64 = 1 << 20;

/// Asks `server` to write a backup to `out` with `token`; returns the manifest, or the server's
/// refusal as a message.
pub async fn request_backup(
    server: &ServerInfo,
    token: &str,
    out: &Path,
) -> Result<Manifest, String> {
    let body = serde_json::to_vec(&BackupRequest {
        out: out.to_owned(),
    })
    .map_err(|error| error.to_string())?;
    let mut stream = tokio::net::TcpStream::connect(&server.listen)
        .await
        .map_err(|error| {
            format!(
                "cannot reach the server at {} (pid {}) named in server.json: {error}",
                server.listen, server.pid
            )
        })?;
    let head = format!(
        "POST {BACKUP_PATH} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.listen,
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    stream
        .write_all(&body)
        .await
        .map_err(|error| error.to_string())?;
    let mut answer = Vec::new();
    stream
        .take(ANSWER_BYTES_MAX)
        .read_to_end(&mut answer)
        .await
        .map_err(|error| error.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "the server's answer has no body".to_owned())?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("the server's answer has no status: {head}"))?;
    if status == 200 {
        serde_json::from_str(body)
            .map_err(|error| format!("the server's manifest does not parse: {error}"))
    } else {
        let message = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.to_owned());
        Err(format!(
            "the server refused the backup ({status}): {message}"
        ))
    }
}
