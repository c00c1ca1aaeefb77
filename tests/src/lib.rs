//! Helpers for the end-to-end tests of journey: run the real `journey` binary on a scratch data
//! directory, and build NDJSON event lines.

#![forbid(unsafe_code)]

pub mod log_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use uuid::Uuid;

/// The `journey` binary built by this workspace (or `JOURNEY_BIN`).
pub fn journey_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("JOURNEY_BIN") {
        return PathBuf::from(path);
    }
    // Test executables live in target/<profile>/deps; the binary one level up.
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable sits in target/<profile>/deps");
    let bin = profile_dir.join(format!("journey{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: build it with `cargo build -p journey-api` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// A scratch data directory and the binary to run on it.
#[derive(Debug)]
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("scratch dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `journey` command on this data directory.
    pub fn command(&self) -> Command {
        let mut command = Command::new(journey_bin());
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .env_remove("JOURNEY_MASTER_KEY")
            .env_remove("JOURNEY_MASTER_KEY_FILE")
            .env_remove("JOURNEY_DATA_DIR")
            .env("RUST_LOG", "error");
        command
    }

    /// Runs `journey ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run journey")
    }

    /// Runs `journey ARGS` with the fault point `fault` armed and checks that it aborted there.
    pub fn run_to_fault(&self, fault: &str, args: &[&str]) -> Output {
        let output = self
            .command()
            .env(FAULT_ENV, fault)
            .args(args)
            .output()
            .expect("run journey");
        assert_aborted(output.status, fault, &text(&output.stderr));
        output
    }

    /// Writes `lines` to a file in the scratch dir and returns its path.
    pub fn write_ndjson(&self, name: &str, lines: &[Value]) -> PathBuf {
        let path = self.dir.path().join(name);
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        std::fs::write(&path, text).expect("write ndjson");
        path
    }

    /// Every exported event.
    pub fn export(&self) -> Vec<Value> {
        let output = self.run(&["export", "--format", "ndjson"]);
        assert!(
            output.status.success(),
            "export failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("export line is JSON"))
            .collect()
    }
}

/// The numbers on a benchmark's command line, in order (`cargo bench … -- 3 64`); other arguments
/// (cargo's own `--bench`) are skipped.
pub fn bench_numbers() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .filter_map(|argument| argument.parse().ok())
        .collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A deterministic uuid for test fixtures.
pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | n)
}

/// One NDJSON import line with the required fields only.
pub fn line(person: Uuid, id: Uuid, event_type: &str, occurred_on: &str, data: Value) -> Value {
    let version = if event_type == "EmploymentStarted" {
        2
    } else {
        1
    };
    json!({
        "stream": format!("person-{person}"),
        "id": id,
        "type": event_type,
        "version": version,
        "occurred_on": occurred_on,
        "actor": {"id": "cw-17", "agency": "jobcenter", "role": "caseworker"},
        "data": data,
    })
}

/// A small valid journey of `events` lines for `person`, ids `base..base+events`.
pub fn journey(person: Uuid, base: u128, events: usize) -> Vec<Value> {
    let mut lines = vec![
        line(
            person,
            uuid(base),
            "PersonRegistered",
            "2023-01-10",
            json!({"birth_year": 1990, "sex": "female", "nationality": "SYR", "languages": ["ar"]}),
        ),
        line(
            person,
            uuid(base + 1),
            "ArrivalRecorded",
            "2023-01-10",
            json!({"origin": "reception_centre", "accommodation": "shared", "district": "Lebenstedt"}),
        ),
    ];
    for n in 2..events {
        lines.push(line(
            person,
            uuid(base + n as u128),
            "CounsellingContact",
            "2023-02-01",
            json!({"agency": "jobcenter", "topic": "language"}),
        ));
    }
    lines.truncate(events);
    lines
}

/// The environment variable that arms a fault point of a binary built with `fault-injection`.
pub const FAULT_ENV: &str = "JOURNEY_FAULT";

/// Checks that a `journey` process armed with `fault` died by `abort()` there, and says how to get a
/// binary with fault points when it did not.
pub fn assert_aborted(status: std::process::ExitStatus, fault: &str, stderr: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(nix::sys::signal::Signal::SIGABRT as i32),
        "journey armed with {FAULT_ENV}={fault} ended with {status} instead of aborting there \
         (a binary built without the fault-injection feature ignores it: run `cargo test --workspace`, \
         or build with `cargo build -p journey-api --features fault-injection`); stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("aborting at {fault}")),
        "journey aborted, but not at {fault}: {stderr}"
    );
}

/// A `journey serve` child process on a scratch data directory.
#[derive(Debug)]
pub struct Server {
    pub child: std::process::Child,
    /// `127.0.0.1:<port>` as the server bound it.
    pub address: String,
}

impl Server {
    /// Starts `journey serve --listen 127.0.0.1:0 EXTRA_ARGS` and waits (at most 30 s) until it has
    /// written `server.json` with its address and answers `/healthz`.
    pub fn start(scratch: &Scratch, extra_args: &[&str]) -> Server {
        Self::start_with(
            scratch,
            scratch.command(),
            std::process::Stdio::inherit(),
            extra_args,
        )
    }

    /// [`Server::start`] with the fault point `fault` armed; its standard error goes to a file in
    /// the scratch directory, which [`Server::wait_for_fault`] reads.
    pub fn start_with_fault(scratch: &Scratch, fault: &str, extra_args: &[&str]) -> Server {
        let mut command = scratch.command();
        command.env(FAULT_ENV, fault);
        let stderr = std::fs::File::create(Self::fault_log(scratch)).expect("server stderr file");
        Self::start_with(scratch, command, stderr.into(), extra_args)
    }

    fn fault_log(scratch: &Scratch) -> PathBuf {
        scratch.dir.path().join("fault-server.stderr")
    }

    /// Waits (at most 30 s) for a server started with [`Server::start_with_fault`] to abort at its
    /// fault point, and checks that it did.
    pub fn wait_for_fault(mut self, scratch: &Scratch, fault: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll server") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "journey serve did not reach the fault point {fault} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let stderr = std::fs::read(Self::fault_log(scratch)).unwrap_or_default();
        assert_aborted(status, fault, &text(&stderr));
    }

    fn start_with(
        scratch: &Scratch,
        mut command: Command,
        stderr: std::process::Stdio,
        extra_args: &[&str],
    ) -> Server {
        let server_file = scratch.data_dir().join("server.json");
        let _ = std::fs::remove_file(&server_file);
        let child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra_args)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start journey serve");
        let mut server = Server {
            child,
            address: String::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().expect("poll server") {
                panic!("journey serve exited early: {status}");
            }
            let info = std::fs::read(&server_file)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
            if let Some(info) = info {
                let pid = info["pid"].as_u64().unwrap_or_default();
                if pid == u64::from(server.child.id()) {
                    server.address = info["listen"].as_str().unwrap_or_default().to_owned();
                    if std::net::TcpStream::connect(&server.address).is_ok() {
                        return server;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "journey serve did not start within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends SIGTERM and waits (at most 30 s) for a clean exit; returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll server") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "journey serve did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    /// A server left running by a failed test is killed, so it does not outlive the test.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Creates a token with `journey token create` and returns it (the last word of the output).
pub fn create_token(scratch: &Scratch, args: &[&str]) -> String {
    let output = scratch
        .command()
        .args(["token", "create"])
        .args(args)
        .output()
        .expect("run journey token create");
    assert!(
        output.status.success(),
        "token create failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
        .split_whitespace()
        .last()
        .expect("a token")
        .to_owned()
}

/// Posts a GraphQL request with `token` and returns the whole response body (`data` and `errors`).
pub async fn graphql_response(
    server: &Server,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .header("accept", "application/graphql-response+json")
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request");
    response.json().await.expect("json body")
}

/// Sends a GraphQL mutation again while the answer is an error that says the log is unavailable
/// (a writer whose log server is restarting; a retry with the same event ids is idempotent), at
/// most 50 times; any other error fails the test.
pub async fn record_retrying(server: &Server, token: &str, query: &str, variables: Value) {
    for _ in 0..50 {
        let body = graphql_response(server, token, query, variables.clone()).await;
        match body.get("errors") {
            None => return,
            Some(errors) => {
                assert!(
                    errors.to_string().contains("unavailable"),
                    "only an unavailable log may fail a record: {errors}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    panic!("{variables} was not recorded after 50 attempts");
}

/// Posts a GraphQL request that must succeed and returns its `data`.
pub async fn graphql_ok(server: &Server, token: &str, query: &str, variables: Value) -> Value {
    let body = graphql_response(server, token, query, variables).await;
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            let kind = std::fs::symlink_metadata(&path)
                .expect("metadata")
                .file_type();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The files under `dir` whose raw bytes contain `needle` anywhere.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    assert!(!needle.is_empty(), "an empty needle matches everything");
    files_under(dir)
        .into_iter()
        .filter(|path| {
            let bytes = std::fs::read(path).expect("read file");
            bytes.windows(needle.len()).any(|window| window == needle)
        })
        .collect()
}
