//! The `kurrentdb` backend next to the embedded log, in one run:
//!
//!   cargo build --release -p journey-api && cargo bench -p journey-tests --bench kurrent [-- WRITERS PER_WRITER PEOPLE]
//!
//! 1. appends: WRITERS concurrent writers (default 64), each appending PER_WRITER single events
//!    (default 20) to a stream of its own, on a `SledLog` in a scratch directory and on a
//!    `KurrentLog` talking to a log server (`journey serve --grpc-listen`, TLS, loopback);
//! 2. a projections rebuild (`journey projections rebuild`) of a seeded population of PEOPLE persons
//!    (default 200) on each.
//!
//! Prints events per second and seconds, and each kurrentdb figure as a ratio of the sled one. The
//! log server is journey's own endpoint, so the figures say what this backend costs against it, not
//! what a KurrentDB cluster would do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use journey_core::log::kurrent::{KurrentLog, RetryPolicy};
use journey_core::log::test_support::test_event;
use journey_core::log::{EventLog, ExpectedRevision, SledLog, SledLogConfig};
use journey_core::store::{Store, StoreConfig};
use journey_tests::log_server::LogServer;
use journey_tests::{text, Scratch};
use uuid::Uuid;

struct Settings {
    writers: usize,
    per_writer: usize,
    people: usize,
}

fn settings() -> Settings {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|argument| argument.parse().ok())
        .collect();
    Settings {
        writers: numbers.first().copied().unwrap_or(64),
        per_writer: numbers.get(1).copied().unwrap_or(20),
        people: numbers.get(2).copied().unwrap_or(200),
    }
}

/// WRITERS tasks appending PER_WRITER single events each, every task to its own stream.
async fn appends(log: Arc<dyn EventLog>, settings: &Settings) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..settings.writers {
        let log = log.clone();
        let per_writer = settings.per_writer;
        tasks.push(tokio::spawn(async move {
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
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    started.elapsed()
}

/// Seconds of `journey --store STORE ARGS` on `scratch`, which must succeed.
fn timed(scratch: &Scratch, store: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = scratch
        .command()
        .args(["--store", store])
        .args(args)
        .output()
        .expect("run journey");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        text(&output.stderr)
    );
    started.elapsed()
}

fn rate(events: usize, took: Duration) -> f64 {
    events as f64 / took.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let settings = settings();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let events = settings.writers * settings.per_writer;
    println!(
        "kurrentdb backend vs sled: {} writers x {} appends, then a rebuild of {} persons",
        settings.writers, settings.per_writer, settings.people
    );

    let sled_dir = tempfile::tempdir().expect("scratch");
    let store = Store::open(sled_dir.path(), &StoreConfig::default()).expect("store");
    let sled: Arc<dyn EventLog> =
        Arc::new(SledLog::open(&store, SledLogConfig::default()).expect("sled log"));
    let sled_appends = appends(sled.clone(), &settings).await;
    sled.close().await.expect("close");

    let server = LogServer::start();
    let kurrent: Arc<dyn EventLog> = Arc::new(
        KurrentLog::connect(&server.connection_string(), RetryPolicy::default()).expect("connect"),
    );
    let kurrent_appends = appends(kurrent.clone(), &settings).await;
    println!(
        "appends   sled {:>10.0} events/s   kurrentdb {:>10.0} events/s   ratio {:.3}",
        rate(events, sled_appends),
        rate(events, kurrent_appends),
        sled_appends.as_secs_f64() / kurrent_appends.as_secs_f64()
    );

    let people = settings.people.to_string();
    let seed = [
        "seed",
        "--people",
        people.as_str(),
        "--seed",
        "3",
        "--end",
        "2025-06-30",
    ];
    let embedded = Scratch::new();
    timed(&embedded, "sled", &seed);
    let sled_rebuild = timed(&embedded, "sled", &["projections", "rebuild"]);
    let log_server = LogServer::start();
    let remote = Scratch::new();
    timed(&remote, &log_server.connection_string(), &seed);
    let kurrent_rebuild = timed(
        &remote,
        &log_server.connection_string(),
        &["projections", "rebuild"],
    );
    println!(
        "rebuild   sled {:>10.2} s          kurrentdb {:>10.2} s          ratio {:.3}",
        sled_rebuild.as_secs_f64(),
        kurrent_rebuild.as_secs_f64(),
        sled_rebuild.as_secs_f64() / kurrent_rebuild.as_secs_f64()
    );
    println!("(ratios: sled time / kurrentdb time; 1.0 is parity, below it the backend is slower)");
}
