//! The gRPC endpoint (the KurrentDB client protocol, issue 9) through the official Rust client, the
//! `kurrentdb` crate, against the real binary over TLS with the CA it generates: connecting, server
//! features, discovery, credentials, refusals, audit, insecure mode, shutdown.
//!
//! The Python and Node clients run the same ground in `tests/clients/` (`.ci/run`).

use std::path::PathBuf;

use journey_tests::{create_token, graphql_ok, text, Scratch, Server};
use kurrentdb::{Client, ClientSettings, ReadStreamOptions};
use serde_json::{json, Value};

/// A server with the gRPC endpoint on a free loopback port, and what `server.json` says about it.
struct GrpcServer {
    server: Server,
    grpc: String,
    ca_file: Option<PathBuf>,
}

fn start(scratch: &Scratch, extra_args: &[&str]) -> GrpcServer {
    let mut args = vec!["--grpc-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra_args);
    let server = Server::start(scratch, &args);
    let info: Value = serde_json::from_slice(
        &std::fs::read(scratch.data_dir().join("server.json")).expect("server.json"),
    )
    .expect("server.json is JSON");
    GrpcServer {
        server,
        grpc: info["grpc_listen"]
            .as_str()
            .expect("server.json names the gRPC address")
            .to_owned(),
        ca_file: info["grpc_ca_file"].as_str().map(PathBuf::from),
    }
}

impl GrpcServer {
    fn port(&self) -> &str {
        self.grpc.rsplit(':').next().expect("a port")
    }

    /// A client of `token` over TLS, trusting only the generated CA.
    fn client(&self, host: &str, token: &str) -> Client {
        let ca = self.ca_file.as_ref().expect("a generated CA");
        let settings: ClientSettings = format!(
            "kurrentdb://anyone:{token}@{host}:{}?tls=true&tlsCaFile={}",
            self.port(),
            ca.display()
        )
        .parse()
        .expect("connection string");
        Client::new(settings).expect("client")
    }
}

async fn read_first(client: &Client, stream: &str) -> Result<(), kurrentdb::Error> {
    let mut read = client
        .read_stream(stream, &ReadStreamOptions::default())
        .await?;
    read.next().await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_connects_over_tls_with_the_generated_ca_and_learns_the_version() {
    let scratch = Scratch::new();
    let token = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    let grpc = start(&scratch, &[]);
    let ca_file = grpc.ca_file.clone().expect("server.json names the CA file");
    assert!(
        ca_file.starts_with(scratch.data_dir()),
        "the CA lives in the data directory"
    );

    for host in ["127.0.0.1", "localhost"] {
        let info = grpc
            .client(host, &token)
            .server_info()
            .await
            .expect("server features over TLS");
        assert_eq!(info.version(), (24, 10, 0), "connected by {host}");
    }

    // Discovery asks Gossip for the leader and connects to the endpoint it names.
    let ca = ca_file.display();
    let discover: ClientSettings = format!(
        "kurrentdb+discover://anyone:{token}@localhost:{}?tlsCaFile={ca}",
        grpc.port()
    )
    .parse()
    .expect("discover connection string");
    let info = Client::new(discover)
        .expect("client")
        .server_info()
        .await
        .expect("discovered the leader");
    assert_eq!(info.version(), (24, 10, 0));

    // A restart reuses the CA: a client configured with the file keeps working.
    let ca_before = std::fs::read(&ca_file).expect("ca");
    assert!(grpc.server.terminate().success());
    let again = start(&scratch, &[]);
    assert_eq!(again.ca_file.as_ref(), Some(&ca_file));
    assert_eq!(std::fs::read(&ca_file).expect("ca"), ca_before);
    again
        .client("127.0.0.1", &token)
        .server_info()
        .await
        .expect("the same CA after a restart");
    assert!(again.server.terminate().success());
    assert!(
        !scratch.data_dir().join("server.json").exists(),
        "server.json is removed on a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_revoked_tokens_are_refused_and_every_call_with_a_token_is_audited() {
    let scratch = Scratch::new();
    let admin = create_token(&scratch, &["--role", "admin", "--name", "grpc-admin"]);
    let revoked = create_token(&scratch, &["--role", "admin", "--name", "gone"]);
    let auditor = create_token(&scratch, &["--role", "auditor", "--name", "aud"]);
    let revoke = scratch.run(&["token", "revoke", "gone"]);
    assert!(revoke.status.success(), "{}", text(&revoke.stderr));
    let grpc = start(&scratch, &[]);

    let wrong = format!("jrn_{}", "0".repeat(64));
    for token in [wrong.as_str(), revoked.as_str()] {
        let refused = read_first(&grpc.client("127.0.0.1", token), "plain-1").await;
        assert!(
            matches!(refused, Err(kurrentdb::Error::AccessDenied)),
            "a bad token is refused: {refused:?}"
        );
    }

    // A service journey does not serve answers UNIMPLEMENTED, which the client reports as such.
    let client = grpc.client("127.0.0.1", &admin);
    let unserved = client
        .create_persistent_subscription("plain-1", "group", &Default::default())
        .await;
    assert!(
        matches!(unserved, Err(kurrentdb::Error::UnsupportedFeature)),
        "persistent subscriptions are not implemented: {unserved:?}"
    );

    let data = graphql_ok(
        &grpc.server,
        &auditor,
        "{ auditLog(first: 100) { edges { node { tokenName operation outcome } } } }",
        json!({}),
    )
    .await;
    let entries: Vec<&Value> = data["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"])
        .collect();
    let persistent = entries
        .iter()
        .find(|entry| entry["operation"] == "grpc PersistentSubscriptions.Create")
        .expect("the unserved call is audited");
    assert_eq!(persistent["tokenName"], "grpc-admin");
    assert_eq!(persistent["outcome"], "UNIMPLEMENTED");
    assert!(
        entries.iter().all(|entry| entry["tokenName"] != "gone"),
        "a refused token leaves no entry in its name"
    );
    assert!(grpc.server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_runs_every_call_as_its_role_or_refuses_it() {
    let scratch = Scratch::new();
    let server = Server::start(
        &scratch,
        &["--grpc-listen", "127.0.0.1:0", "--grpc-insecure"],
    );
    let info: Value = serde_json::from_slice(
        &std::fs::read(scratch.data_dir().join("server.json")).expect("server.json"),
    )
    .expect("json");
    assert!(info.get("grpc_ca_file").is_none(), "no TLS, no CA");
    let address = info["grpc_listen"]
        .as_str()
        .expect("grpc address")
        .to_owned();
    let settings: ClientSettings = format!("kurrentdb://{address}?tls=false")
        .parse()
        .expect("settings");
    let client = Client::new(settings).expect("client");
    client
        .server_info()
        .await
        .expect("server features answer without credentials");
    let refused = read_first(&client, "plain-1").await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "without --grpc-insecure-role every call is refused: {refused:?}"
    );
    assert!(server.terminate().success());
}

#[test]
fn insecure_mode_on_a_non_loopback_address_is_refused_before_anything_starts() {
    let scratch = Scratch::new();
    let output = scratch.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--grpc-listen",
        "0.0.0.0:0",
        "--grpc-insecure",
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("0.0.0.0:0 is not a loopback address"),
        "the error says what to fix: {stderr}"
    );
    assert!(!scratch.data_dir().join("server.json").exists());
}
