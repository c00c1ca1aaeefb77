//! The `kurrentdb` backend next to the embedded log, in one run:
//!
//!   cargo build --profile bench -p journey-api -p journey-tests --bin journey --bench kurrent
//!   cargo bench -p journey-api -p journey-tests --bench kurrent [-- WRITERS PER_WRITER PEOPLE]
//!
//! (The two packages are named in both commands so that the `journey` binary, which the log
//! server runs, and the benchmark are built once, with the same features.)
//!
//! The log server is `journey serve --grpc-listen` of this build, a separate process, TLS on
//! loopback, the backend writing with a replication token; each section starts its own. Sections:
//!
//! 1. appends: WRITERS concurrent writers (default 64), each making PER_WRITER single-event
//!    appends (default 20), on the log alone (`EventLog::append`, each writer its own stream) and
//!    through the ledger (each append registers a new person: rules, sealing, chaining, the
//!    idempotency look-up), each on a fresh sled data directory and on the log server;
//! 2. a projections rebuild: the same seeded population of PEOPLE persons (default 300, `journey
//!    seed`, fixed seed) in a sled data directory and in a writer's data directory whose log is on
//!    the log server; the rebuild from position 0 (`Projections::rebuild`) is timed on each.
//! 3. a replica's catch-up: the writer of section 2 serves that population (`journey serve
//!    --store kurrentdb://… --grpc-listen`), and a read replica (`journey serve --replica-of`) is
//!    timed from its start until it has copied every event and its projections have applied them
//!    (`/readyz`); its rate is printed next to the writer's rebuild rate of section 2, as a ratio.
//!
//! Prints events per second of each, and each kurrentdb figure as a ratio of the sled one
//! (kurrentdb / sled; 1.0 is parity). A section added later takes what it needs from those before
//! it (the seeded population, its log server and its rebuild rates). The log server is journey's
//! own endpoint on the same two cores, so the figures say what this backend costs against it
//! (round trips, TLS, the server's own log and audit), not what a KurrentDB cluster would do.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use journey_api::context::{Context, LogStore, Options};
use journey_core::catalogue;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::ledger::Proposed;
use journey_core::log::kurrent::{KurrentLog, RetryPolicy};
use journey_core::log::test_support::test_event;
use journey_core::log::{EventLog, ExpectedRevision, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use journey_projections::{Projections, RunnerConfig};
use journey_tests::log_server::{server_info, LogServer};
use journey_tests::{create_token, text, Scratch, Server};
use uuid::Uuid;

/// The allocator of the `journey` binary, in which the backend runs: both sides of the comparison
/// allocate as in production (under glibc's malloc, the side that allocates more paid more).
#[global_allocator]
static ALLOCATOR: journey_api::memory::Counting = journey_api::memory::Counting;

struct Settings {
    writers: usize,
    per_writer: usize,
    people: usize,
}

fn settings() -> Settings {
    let numbers = journey_tests::bench_numbers();
    Settings {
        writers: numbers.first().copied().unwrap_or(64).max(1),
        per_writer: numbers.get(1).copied().unwrap_or(20).max(1),
        people: numbers.get(2).copied().unwrap_or(300).max(1),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sled,
    /// The kurrentdb backend on this log server.
    Kurrent,
}

impl Backend {
    /// The `--store` of a data directory on this backend.
    fn store(self, log_server: &LogServer) -> String {
        match self {
            Backend::Sled => "sled".to_owned(),
            Backend::Kurrent => log_server.connection_string(),
        }
    }
}

const BACKENDS: [Backend; 2] = [Backend::Sled, Backend::Kurrent];

/// Events per second of the same work on sled and on the kurrentdb backend.
#[derive(Debug, Clone, Copy)]
struct Rates {
    sled: f64,
    kurrent: f64,
}

impl Rates {
    fn ratio(&self) -> f64 {
        self.kurrent / self.sled
    }

    fn print(&self, name: &str, events: u64) {
        println!(
            "  {name:<32} {events:>7} events   sled {:>9.0}/s   kurrentdb {:>9.0}/s   kurrentdb/sled {:.3}",
            self.sled,
            self.kurrent,
            self.ratio()
        );
    }
}

fn rate(events: u64, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64()
}

/// Runs `writers` tasks of `work()` at once and answers how long they took together.
async fn concurrently<F, Fut>(writers: usize, work: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers).map(|_| tokio::spawn(work())).collect();
    for task in tasks {
        task.await.expect("a writer");
    }
    started.elapsed()
}

/// The log alone: every writer appends single events to a stream of its own.
async fn log_appends(log: Arc<dyn EventLog>, settings: &Settings) -> Duration {
    let per_writer = settings.per_writer;
    concurrently(settings.writers, || {
        let log = log.clone();
        async move {
            let stream = format!("person-{}", Uuid::new_v4());
            for revision in 0..per_writer {
                let expected = match revision {
                    0 => ExpectedRevision::NoStream,
                    _ => ExpectedRevision::Exact(revision as u64 - 1),
                };
                log.append(&stream, expected, vec![test_event(Uuid::new_v4())])
                    .await
                    .expect("append");
            }
        }
    })
    .await
}

const REGISTRATION: &str =
    r#"{"birth_year": 1990, "sex": "male", "nationality": "IRQ", "languages": ["ar"]}"#;

/// Through the ledger: every append registers a new person.
async fn ledger_appends(context: &Context, settings: &Settings) -> Duration {
    let per_writer = settings.per_writer;
    let ledger = context.ledger.clone();
    concurrently(settings.writers, || {
        let ledger = ledger.clone();
        async move {
            for _ in 0..per_writer {
                let event = catalogue::decode(
                    "PersonRegistered",
                    1,
                    serde_json::from_str(REGISTRATION).expect("json"),
                )
                .expect("a registration");
                let proposed = Proposed {
                    id: Uuid::new_v4(),
                    occurred_on: chrono::NaiveDate::from_ymd_opt(2023, 1, 10).expect("date"),
                    event,
                    actor: Actor {
                        id: "bench".into(),
                        agency: None,
                        role: ActorRole::Admin,
                    },
                    correlation_id: None,
                    causation_id: None,
                };
                ledger
                    .append(
                        PersonId(Uuid::new_v4()),
                        ExpectedRevision::NoStream,
                        vec![proposed],
                    )
                    .await
                    .expect("a ledger append");
            }
        }
    })
    .await
}

/// A data directory in `dir` with its log on `backend`, opened in this process.
async fn open(dir: &Path, backend: Backend, log_server: &LogServer) -> Context {
    Context::open(&Options {
        data_dir: dir.to_owned(),
        master_key_file: None,
        erasure_register: None,
        store: LogStore::parse(&backend.store(log_server)).expect("a store"),
    })
    .await
    .expect("the data directory opens")
}

/// Section 1: appends of single events by many writers, on the log alone and through the ledger,
/// on sled and on a log server of their own.
async fn appends(settings: &Settings) {
    let log_server = LogServer::start();
    let events = (settings.writers * settings.per_writer) as u64;
    println!(
        "appends: {} writers x {} single-event appends",
        settings.writers, settings.per_writer
    );

    let sled_dir = tempfile::tempdir().expect("scratch");
    let store = Store::open(sled_dir.path(), &StoreConfig::default()).expect("store");
    let sled: Arc<dyn EventLog> =
        Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("sled log"));
    let sled_took = log_appends(sled.clone(), settings).await;
    sled.close().await.expect("close");
    let kurrent: Arc<dyn EventLog> = Arc::new(
        KurrentLog::connect(&log_server.connection_string(), RetryPolicy::default())
            .expect("connect"),
    );
    // Connected (TLS handshake and all) before the clock starts, as sled is opened before it.
    kurrent
        .last_position()
        .await
        .expect("the log server answers");
    let kurrent_took = log_appends(kurrent.clone(), settings).await;
    kurrent.close().await.expect("close");
    Rates {
        sled: rate(events, sled_took),
        kurrent: rate(events, kurrent_took),
    }
    .print("the log alone", events);

    let mut took = Vec::new();
    for backend in BACKENDS {
        let dir = tempfile::tempdir().expect("scratch");
        let context = open(dir.path(), backend, &log_server).await;
        context.log.last_position().await.expect("the log answers");
        took.push(ledger_appends(&context, settings).await);
        context.close().await.expect("close");
    }
    Rates {
        sled: rate(events, took[0]),
        kurrent: rate(events, took[1]),
    }
    .print("through the ledger", events);
}

/// The seeded population on the kurrentdb backend, for the sections after the rebuild.
struct Seeded {
    /// The log server that holds the population's log, and nothing else.
    log_server: LogServer,
    /// The writer's data directory whose log is on `log_server`.
    remote: Scratch,
    /// The events of the population (each directory holds them all).
    events: u64,
    /// The rate of a projections rebuild on each.
    rebuild: Rates,
}

/// Seeds the population into a fresh data directory on `backend` with the `journey` binary and
/// answers the directory and the number of events written.
fn seed(people: usize, backend: Backend, log_server: &LogServer) -> (Scratch, u64) {
    let scratch = Scratch::new();
    let people = people.to_string();
    let output = scratch
        .command()
        .args(["--store", &backend.store(log_server)])
        .args([
            "seed",
            "--people",
            &people,
            "--seed",
            "3",
            "--end",
            "2025-06-30",
        ])
        .output()
        .expect("run journey seed");
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "seed on {backend:?}: {}",
        text(&output.stderr)
    );
    // "seeded N persons: E events written, A already recorded"
    let events = stdout
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|written| written.parse().ok())
        .unwrap_or_else(|| panic!("seed on {backend:?} said {stdout:?}"));
    (scratch, events)
}

/// Seconds of a projections rebuild from position 0 in `scratch`, and the events it applied.
async fn rebuild_once(
    scratch: &Scratch,
    backend: Backend,
    log_server: &LogServer,
) -> (u64, Duration) {
    let context = open(&scratch.data_dir(), backend, log_server).await;
    let projections = Projections::start(
        context.ledger.clone(),
        RunnerConfig::new(scratch.data_dir().join("projections")),
    )
    .await
    .expect("the projections start");
    projections.caught_up().await.expect("caught up");
    let applied = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    projections
        .rebuild(|progress| {
            applied.store(progress.applied, std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .expect("the rebuild");
    let took = started.elapsed();
    projections.shutdown().await.expect("shutdown");
    context.close().await.expect("close");
    (applied.into_inner(), took)
}

/// Section 2: a projections rebuild of the same seeded population on sled and on a log server of
/// its own (whose `$all` then holds the population only).
async fn rebuild(settings: &Settings) -> Seeded {
    println!(
        "projections rebuild: {} persons seeded (seed 3) on each backend",
        settings.people
    );
    let log_server = LogServer::start();
    let (embedded, sled_events) = seed(settings.people, Backend::Sled, &log_server);
    let (remote, kurrent_events) = seed(settings.people, Backend::Kurrent, &log_server);
    assert_eq!(sled_events, kurrent_events, "the same population on both");
    let (sled_applied, sled_took) = rebuild_once(&embedded, Backend::Sled, &log_server).await;
    let (kurrent_applied, kurrent_took) =
        rebuild_once(&remote, Backend::Kurrent, &log_server).await;
    assert_eq!(
        sled_applied, kurrent_applied,
        "both rebuilds applied the same events"
    );
    let rebuild = Rates {
        sled: rate(sled_applied, sled_took),
        kurrent: rate(kurrent_applied, kurrent_took),
    };
    rebuild.print("rebuild of every projection", sled_applied);
    drop(embedded);
    Seeded {
        log_server,
        remote,
        events: sled_applied,
        rebuild,
    }
}

async fn readyz(server: &Server) -> serde_json::Value {
    reqwest::get(server.url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("readyz JSON")
}

/// Section 3: a read replica of the seeded writer catches up (every event copied and applied),
/// next to the writer's own rebuild of the same events.
async fn replica_catch_up(seeded: &Seeded) {
    let token = create_token(
        &seeded.remote,
        &["--role", "replica", "--name", "bench-replica"],
    );
    let store = seeded.log_server.connection_string();
    let writer = Server::start(
        &seeded.remote,
        &["--store", &store, "--grpc-listen", "127.0.0.1:0"],
    );
    // The writer has loaded its projections before the replica starts, so the replica's clock
    // measures the replica's work (and the writer's serving of it), not the writer's start.
    while readyz(&writer).await["ready"] != true {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = readyz(&writer).await["log"]["last_position"].clone();
    let info = server_info(&seeded.remote);
    let connection = format!(
        "kurrentdb://replica:{token}@{}?tls=true&tlsCaFile={}",
        info["grpc_listen"].as_str().expect("gRPC address"),
        info["grpc_ca_file"].as_str().expect("CA file")
    );
    let replica_dir = Scratch::new();
    let started = Instant::now();
    let replica = Server::start(&replica_dir, &["--replica-of", &connection]);
    let copied = loop {
        let status = readyz(&replica).await;
        if status["ready"] == true && status["projections"]["checkpoint"] == head {
            break status["replica"]["events"].as_u64().expect("events copied");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    assert_eq!(copied, seeded.events, "the replica copied every event once");
    let catch_up = rate(copied, took);
    println!(
        "  {:<32} {copied:>7} events   replica {catch_up:>9.0}/s   writer's rebuild {:>9.0}/s   replica/rebuild {:.3}",
        "replica catch-up (from start)",
        seeded.rebuild.kurrent,
        catch_up / seeded.rebuild.kurrent
    );
    assert!(replica.terminate().success());
    assert!(writer.terminate().success());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // As the `journey` binary runs: without transparent huge pages (`memory.rs` says why).
    journey_api::memory::no_transparent_huge_pages();
    // The client's TLS needs a process-wide provider when the build enables more than one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let settings = settings();
    println!(
        "kurrentdb backend (log server: journey serve --grpc-listen, TLS, loopback) next to sled"
    );
    appends(&settings).await;
    let seeded = rebuild(&settings).await;
    println!("replica catch-up: a read replica of the writer on the log server, over TLS");
    replica_catch_up(&seeded).await;
    let Seeded {
        log_server,
        remote,
        events,
        rebuild,
    } = seeded;
    drop((remote, log_server));
    println!(
        "(rates in events/s; ratios kurrentdb / sled, measured in this run; the writer on the log server rebuilt {events} events at {:.0}/s)",
        rebuild.kurrent
    );
}
