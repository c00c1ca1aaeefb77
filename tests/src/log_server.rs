//! A `journey serve --grpc-listen` process as the KurrentDB-protocol server that a writer's
//! `kurrentdb` backend (and its conformance suite) talks to: the only one these machines can run.

use std::path::PathBuf;

use serde_json::Value;

use crate::{create_token, Scratch, Server};

/// A log server on a scratch data directory, with the replication token the backend uses.
#[derive(Debug)]
pub struct LogServer {
    pub scratch: Scratch,
    pub server: Option<Server>,
    /// The gRPC port, kept across restarts so that a client's connection string stays valid.
    pub port: u16,
    pub ca_file: PathBuf,
    pub token: String,
}

impl LogServer {
    /// Starts a log server on a free loopback port.
    pub fn start() -> LogServer {
        let scratch = Scratch::new();
        let token = create_token(
            &scratch,
            &["--role", "replication", "--name", "ledger-backend"],
        );
        let server = Server::start(&scratch, &["--grpc-listen", "127.0.0.1:0"]);
        let info = server_info(&scratch);
        let grpc = info["grpc_listen"]
            .as_str()
            .expect("server.json names the gRPC address");
        let port = grpc
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a gRPC port");
        let ca_file = PathBuf::from(info["grpc_ca_file"].as_str().expect("a generated CA"));
        LogServer {
            scratch,
            server: Some(server),
            port,
            ca_file,
            token,
        }
    }

    /// The connection string of the `kurrentdb` backend: TLS with the generated CA, the token as
    /// the password.
    pub fn connection_string(&self) -> String {
        format!(
            "kurrentdb://ledger:{}@127.0.0.1:{}?tls=true&tlsCaFile={}",
            self.token,
            self.port,
            self.ca_file.display()
        )
    }

    /// Kills the server (SIGKILL: no clean shutdown, as a crash or a lost machine).
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.child.kill().expect("kill the log server");
            server.child.wait().expect("reap the log server");
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "kill the log server first");
        let listen = format!("127.0.0.1:{}", self.port);
        self.server = Some(Server::start(&self.scratch, &["--grpc-listen", &listen]));
    }
}

/// The `server.json` a running server wrote into `scratch`'s data directory.
pub fn server_info(scratch: &Scratch) -> Value {
    serde_json::from_slice(
        &std::fs::read(scratch.data_dir().join("server.json")).expect("server.json"),
    )
    .expect("server.json is JSON")
}
