//! The gRPC benchmark: the KurrentDB Streams service driven by the official Rust client over a
//! loopback socket, next to the same work done in-process on the ledger, in one run.
//!
//!   cargo bench -p journey-tests --bench grpc [-- ROUNDS WRITERS SINGLE_PER_WRITER BATCHES_PER_WRITER BATCH PEOPLE]
//!
//! The endpoint is the one `journey serve --grpc-listen` runs: TLS with the CA it generates, a
//! token as the password of basic auth, every call audited. Scenarios (each round on fresh scratch
//! data directories, removed afterwards):
//! 1. single events from WRITERS concurrent writers (default 64), each append registering a new
//!    person through the ledger's write path (rules, sealing, chaining);
//! 2. batches of BATCH plain events (default 100) from WRITERS concurrent writers;
//! 3. a full read of `$all` (every event of 1 and 2): through the endpoint as admin, next to
//!    reading and decoding the same log in-process; the two alternate, repeated until the
//!    in-process reads add up to a second (at least three of each), and the summed rates are
//!    compared, so that a burst of other work on the machine does not decide a 0.1 s measurement;
//! 4. the same comparison of full `$all` reads on a log of a synthetic population of PEOPLE persons
//!    (default 1,000) seeded through the ledger (`journey_core::synth`, what `journey seed` writes
//!    and what analysts replay): sealed person events with their catalogue payloads, and the
//!    population's offers and volunteers, instead of scenario 3's mostly small plain events.
//!
//! Each line also gives the process's CPU time per event (client and server share the process and
//! the machine's cores), and a scenario of calls that do little (reads of a missing stream, audited
//! like every call) gives the fixed cost of one call, which single-event appends pay per event.
//!
//! Prints events per second of each and the ratio endpoint / in-process per round (default 5
//! rounds), then the median ratios (targets: appends and the reads at least 0.5).

use std::time::{Duration, Instant};

use journey_api::auth::{self, Role};
use journey_api::config::Limits;
use journey_api::context::{Context, Options};
use journey_api::grpc::server::{GrpcConfig, GrpcEndpoint, GrpcTransport};
use journey_api::AppState;
use journey_core::catalogue;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::ledger::Proposed;
use journey_core::log::{AllFrom, Direction, ExpectedRevision};
use journey_core::plain::PlainProposal;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions,
    StreamState,
};
use serde_json::json;
use uuid::Uuid;

/// The allocator of the `journey` binary, in which the endpoint runs: both sides of the comparison
/// allocate as in production (under glibc's malloc, the side that allocates more paid more).
#[global_allocator]
static ALLOCATOR: journey_api::memory::Counting = journey_api::memory::Counting;

struct Settings {
    rounds: usize,
    writers: usize,
    single_per_writer: usize,
    batches_per_writer: usize,
    batch: usize,
    people: usize,
}

fn settings() -> Settings {
    let numbers = journey_tests::bench_numbers();
    Settings {
        rounds: numbers.first().copied().unwrap_or(5).max(1),
        writers: numbers.get(1).copied().unwrap_or(64),
        single_per_writer: numbers.get(2).copied().unwrap_or(50),
        batches_per_writer: numbers.get(3).copied().unwrap_or(4),
        batch: numbers.get(4).copied().unwrap_or(100),
        people: numbers.get(5).copied().unwrap_or(1_000),
    }
}

const REGISTRATION: &str =
    r#"{"birth_year": 1990, "sex": "male", "nationality": "IRQ", "languages": ["ar"]}"#;

struct Scratch {
    _dir: tempfile::TempDir,
    state: AppState,
    context: Context,
}

async fn scratch() -> Scratch {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("master.hex");
    std::fs::write(&key_file, "2a".repeat(32)).expect("master key");
    let options = Options {
        data_dir: dir.path().join("data"),
        master_key_file: Some(key_file),
        erasure_register: None,
        store: Default::default(),
    };
    let context = Context::open(&options).await.expect("open");
    let state = AppState::new(&context, Limits::default())
        .await
        .expect("state");
    Scratch {
        _dir: dir,
        state,
        context,
    }
}

/// The endpoint as `journey serve --grpc-listen 127.0.0.1:0` runs it (TLS with the generated CA,
/// credentials, audit), and an admin's client of it; the endpoint stops when `Served` is dropped.
struct Served {
    client: Client,
    /// The connection string of `client`, for clients of their own (one connection each).
    settings: ClientSettings,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn endpoint(scratch: &Scratch) -> Served {
    let token = auth::create_token(
        scratch.state.data_dir(),
        Role::Admin,
        None,
        Some("bench".into()),
        chrono::Utc::now(),
        &mut rand::rngs::OsRng,
    )
    .expect("token")
    .token;
    let config = GrpcConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        transport: GrpcTransport::Tls {
            given: None,
            extra_names: Vec::new(),
        },
    };
    let endpoint = GrpcEndpoint::bind(&config, scratch.state.data_dir())
        .await
        .expect("bind");
    let port = endpoint.address().port();
    let ca_file = endpoint.ca_file().expect("a generated CA").to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = scratch.state.clone();
    tokio::spawn(async move {
        endpoint
            .serve(state, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    let settings: ClientSettings = format!(
        "kurrentdb://bench:{token}@localhost:{port}?tls=true&tlsCaFile={}",
        ca_file.display()
    )
    .parse()
    .expect("settings");
    Served {
        client: Client::new(settings.clone()).expect("client"),
        settings,
        _stop: stop,
    }
}

/// CPU time this process has used so far (user and system, every thread: the server, the client
/// and the in-process ledger share the process), from `/proc/self/stat`; zero where it cannot be
/// read.
fn cpu_time() -> Duration {
    let ticks_per_second = 100.0;
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The fields after the command name in parentheses; utime and stime are the 14th and
            // 15th fields of the whole line.
            let after_name = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some(Duration::from_secs_f64((user + system) / ticks_per_second))
        })
        .unwrap_or_default()
}

/// The wall time and the process's CPU time of `work`.
async fn measured<T>(work: impl std::future::Future<Output = T>) -> (T, Duration, Duration) {
    let cpu = cpu_time();
    let started = Instant::now();
    let output = work.await;
    (output, started.elapsed(), cpu_time().saturating_sub(cpu))
}

fn rate(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// Prints one scenario's figures and answers its ratio endpoint / in-process. The CPU time per
/// event (client and server together for the endpoint) tells whether the two sides were bound by
/// the machine's cores or by waiting (flushes, round trips).
fn report(
    name: &str,
    events: usize,
    (endpoint, endpoint_cpu): (Duration, Duration),
    (in_process, in_process_cpu): (Duration, Duration),
) -> f64 {
    let endpoint_rate = rate(events, endpoint);
    let in_process_rate = rate(events, in_process);
    let ratio = endpoint_rate / in_process_rate;
    let per_event = |cpu: Duration| cpu.as_secs_f64() * 1e6 / events as f64;
    println!(
        "{name:<36} {events:>7} events  endpoint {endpoint_rate:>8.0}/s ({:>5.1} µs CPU/event)  in-process {in_process_rate:>8.0}/s ({:>5.1} µs CPU/event)  ratio {ratio:.2}",
        per_event(endpoint_cpu),
        per_event(in_process_cpu),
    );
    ratio
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn singles_in_process(scratch: &Scratch, settings: &Settings, count: usize) -> Duration {
    let ledger = scratch.context.ledger.clone();
    let actor = Actor {
        id: "bench".into(),
        agency: None,
        role: ActorRole::Admin,
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..settings.writers)
        .map(|_| {
            let ledger = ledger.clone();
            let actor = actor.clone();
            tokio::spawn(async move {
                for _ in 0..count {
                    let event = catalogue::decode(
                        "PersonRegistered",
                        1,
                        serde_json::from_str(REGISTRATION).expect("json"),
                    )
                    .expect("registration");
                    let proposed = Proposed {
                        id: Uuid::new_v4(),
                        occurred_on: chrono::NaiveDate::from_ymd_opt(2023, 1, 10).expect("date"),
                        event,
                        actor: actor.clone(),
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
                        .expect("in-process append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    started.elapsed()
}

/// Single appends through the endpoint by WRITERS concurrent writers; writer `i` uses
/// `clients[i % clients.len()]`, so one client is one shared connection and WRITERS clients are
/// a connection each.
async fn singles_endpoint(clients: &[Client], settings: &Settings, count: usize) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..settings.writers)
        .map(|writer| {
            let client = clients[writer % clients.len()].clone();
            tokio::spawn(async move {
                for _ in 0..count {
                    let event = EventData::json(
                        "PersonRegistered",
                        &serde_json::from_str::<serde_json::Value>(REGISTRATION).expect("json"),
                    )
                    .expect("event")
                    .metadata_as_json(&json!({"occurred_on": "2023-01-10"}))
                    .expect("metadata")
                    .id(Uuid::new_v4());
                    client
                        .append_to_stream(
                            format!("person-{}", Uuid::new_v4()).as_str(),
                            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
                            vec![event],
                        )
                        .await
                        .expect("endpoint append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    started.elapsed()
}

/// The fixed cost of a call: WRITERS concurrent clients each making SINGLE_PER_WRITER calls that do
/// little but pass the transport, the credentials layer and the audit (a read of a stream that does
/// not exist); answers the wall time and the process's CPU time per call.
async fn empty_calls(client: &Client, settings: &Settings) -> (Duration, Duration) {
    let calls = settings.writers * settings.single_per_writer;
    let ((), elapsed, cpu) = measured(async {
        let tasks: Vec<_> = (0..settings.writers)
            .map(|_| {
                let client = client.clone();
                let count = settings.single_per_writer;
                tokio::spawn(async move {
                    for _ in 0..count {
                        let mut read = client
                            .read_stream("nothing-here", &ReadStreamOptions::default())
                            .await
                            .expect("read");
                        let missing = read.next().await;
                        assert!(
                            matches!(missing, Err(kurrentdb::Error::ResourceNotFound)),
                            "{missing:?}"
                        );
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("caller");
        }
    })
    .await;
    (elapsed / calls as u32, cpu / calls as u32)
}

async fn batches_in_process(scratch: &Scratch, settings: &Settings) -> Duration {
    let ledger = scratch.context.ledger.clone();
    let started = Instant::now();
    let tasks: Vec<_> = (0..settings.writers)
        .map(|writer| {
            let ledger = ledger.clone();
            let (batches, size) = (settings.batches_per_writer, settings.batch);
            tokio::spawn(async move {
                let actor = Actor::system("bench");
                for _ in 0..batches {
                    let proposed = (0..size)
                        .map(|n| PlainProposal {
                            id: Uuid::new_v4(),
                            event_type: "Measured".into(),
                            json: true,
                            data: format!("{{\"n\":{n}}}").into_bytes(),
                            metadata: Vec::new(),
                        })
                        .collect();
                    ledger
                        .append_plain(
                            &format!("bench-{writer}"),
                            ExpectedRevision::Any,
                            proposed,
                            &actor,
                        )
                        .await
                        .expect("in-process batch");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    started.elapsed()
}

async fn batches_endpoint(client: &Client, settings: &Settings) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..settings.writers)
        .map(|writer| {
            let client = client.clone();
            let (batches, size) = (settings.batches_per_writer, settings.batch);
            tokio::spawn(async move {
                for _ in 0..batches {
                    let events: Vec<EventData> = (0..size)
                        .map(|n| {
                            EventData::json("Measured", &json!({"n": n}))
                                .expect("event")
                                .id(Uuid::new_v4())
                        })
                        .collect();
                    client
                        .append_to_stream(
                            format!("bench-{writer}").as_str(),
                            &AppendToStreamOptions::default(),
                            events,
                        )
                        .await
                        .expect("endpoint batch");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    started.elapsed()
}

/// The full reads repeat until both hold: at least this many of each side…
const READ_REPEATS_MIN: usize = 3;
/// …and at least this long in-process in total.
const READ_IN_PROCESS_MIN: Duration = Duration::from_secs(1);

async fn read_in_process(scratch: &Scratch) -> (usize, Duration) {
    let ledger = scratch.context.ledger.clone();
    let started = Instant::now();
    let mut from = AllFrom::Start;
    let mut events = 0;
    loop {
        let page = ledger
            .log()
            .read_all(from, Direction::Forwards, 4096)
            .await
            .expect("read");
        let Some(last) = page.last() else { break };
        from = AllFrom::Excluding(last.position);
        for recorded in page {
            std::hint::black_box(ledger.decode(recorded).expect("decode"));
            events += 1;
        }
    }
    (events, started.elapsed())
}

async fn read_endpoint(client: &Client) -> (usize, Duration) {
    let started = Instant::now();
    let mut stream = client
        .read_all(&ReadAllOptions::default())
        .await
        .expect("read $all");
    let mut events = 0;
    while let Some(event) = stream.next().await.expect("event") {
        std::hint::black_box(event);
        events += 1;
    }
    (events, started.elapsed())
}

/// Full reads of `$all` of `scratch`'s log, in-process (read and decode) and through `client`, an
/// admin's client of the endpoint serving it; prints and answers the ratio.
/// How many times the single appends alternate between the two sides in a round.
const SINGLES_ALTERNATIONS: usize = 4;

/// Single appends in-process and through `clients`, alternating (in-process first)
/// [`SINGLES_ALTERNATIONS`] times with a share of SINGLE_PER_WRITER appends per writer each, so that
/// a burst of other work on the shared cores falls on both sides; the ratio is that of the summed
/// rates.
async fn compare_singles(
    name: &str,
    direct: &Scratch,
    clients: &[Client],
    settings: &Settings,
) -> f64 {
    let share = settings.single_per_writer.div_ceil(SINGLES_ALTERNATIONS);
    let (mut in_process, mut in_process_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut through, mut through_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut per_writer = 0;
    while per_writer < settings.single_per_writer {
        let count = share.min(settings.single_per_writer - per_writer);
        let (wall, _, cpu) = measured(singles_in_process(direct, settings, count)).await;
        (in_process, in_process_cpu) = (in_process + wall, in_process_cpu + cpu);
        let (wall, _, cpu) = measured(singles_endpoint(clients, settings, count)).await;
        (through, through_cpu) = (through + wall, through_cpu + cpu);
        per_writer += count;
    }
    report(
        name,
        settings.writers * settings.single_per_writer,
        (through, through_cpu),
        (in_process, in_process_cpu),
    )
}

///
/// One read of a few tens of thousands of events takes a tenth of a second in-process, short
/// enough that a burst of other work on the shared cores decides the ratio. The two reads
/// therefore alternate, in-process first, until the in-process side has read for a second and each
/// side at least three times, and the ratio is that of the summed rates.
async fn compare_reads(name: &str, scratch: &Scratch, client: &Client) -> f64 {
    let (mut in_process, mut in_process_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut through, mut through_cpu) = (Duration::ZERO, Duration::ZERO);
    let (mut read_events, mut repeats) = (0, 0);
    while repeats < READ_REPEATS_MIN || in_process < READ_IN_PROCESS_MIN {
        let ((read_direct, direct_wall), _, direct_cpu) = measured(read_in_process(scratch)).await;
        let ((read_served, served_wall), _, served_cpu) = measured(read_endpoint(client)).await;
        assert_eq!(
            read_direct, read_served,
            "the endpoint reads every event of the log"
        );
        (in_process, in_process_cpu) = (in_process + direct_wall, in_process_cpu + direct_cpu);
        (through, through_cpu) = (through + served_wall, through_cpu + served_cpu);
        read_events += read_served;
        repeats += 1;
    }
    report(
        &format!("{name} ×{repeats} (read, decode)"),
        read_events,
        (through, through_cpu),
        (in_process, in_process_cpu),
    )
}

/// One round of the four scenarios on fresh stores; answers the four ratios.
async fn round(settings: &Settings) -> [f64; 5] {
    // Each side appends to its own scratch store, so neither finds the other's streams.
    let direct = scratch().await;
    let served = scratch().await;
    let served_endpoint = endpoint(&served).await;
    let client = &served_endpoint.client;
    // The client connects (TLS handshake, server features) before the clock starts.
    client.server_info().await.expect("server info");
    let singles = settings.writers * settings.single_per_writer;
    // The issue's scenario: WRITERS concurrent writers sharing the client (one HTTP/2 connection,
    // as a client library is used in a process).
    let direct_flushes = direct.context.store.flushes_finished();
    let served_flushes = served.context.store.flushes_finished();
    let single_ratio = compare_singles(
        "single person appends (rules, sealing)",
        &direct,
        std::slice::from_ref(client),
        settings,
    )
    .await;
    let direct_flushes = direct.context.store.flushes_finished() - direct_flushes;
    let served_flushes = served.context.store.flushes_finished() - served_flushes;
    // Each flush is an fsync of the store: more than one per group of concurrent appends means
    // the audit log's entries paid flushes of their own.
    println!(
        "{:<36} endpoint {:.2} flushes/append ({served_flushes}), in-process {:.2} ({direct_flushes})",
        "  store flushes",
        served_flushes as f64 / singles as f64,
        direct_flushes as f64 / singles as f64,
    );
    // The same with WRITERS clients of their own (a connection each, connected before the clock
    // starts), as many agencies' systems appending at once would.
    let mut own_clients = Vec::with_capacity(settings.writers);
    for _ in 0..settings.writers {
        let own = Client::new(served_endpoint.settings.clone()).expect("client");
        own.server_info().await.expect("server info");
        own_clients.push(own);
    }
    let own_ratio = compare_singles(
        &format!("  … from {} clients, a connection each", settings.writers),
        &direct,
        &own_clients,
        settings,
    )
    .await;
    drop(own_clients);

    let (wall, cpu) = empty_calls(client, settings).await;
    println!(
        "{:<36} {:>7} calls   endpoint {:>8.0}/s ({:>5.1} µs CPU/call, client and server)",
        "reads of a missing stream",
        settings.writers * settings.single_per_writer,
        1.0 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6,
    );

    let batched = settings.writers * settings.batches_per_writer * settings.batch;
    let (in_process, _, in_process_cpu) = measured(batches_in_process(&direct, settings)).await;
    let (through, _, through_cpu) = measured(batches_endpoint(client, settings)).await;
    let batch_ratio = report(
        &format!("batches of {} plain events", settings.batch),
        batched,
        (through, through_cpu),
        (in_process, in_process_cpu),
    );

    let read_ratio = compare_reads("full $all read", &served, client).await;

    // The same reads of a seeded population, on a store of its own.
    let seeded = scratch().await;
    let today = chrono::Utc::now().date_naive();
    journey_core::synth::seed(
        &seeded.context.ledger,
        &journey_core::synth::SynthConfig::new(settings.people, 7, today),
        |_| {},
    )
    .await
    .expect("seed");
    let seeded_endpoint = endpoint(&seeded).await;
    seeded_endpoint
        .client
        .server_info()
        .await
        .expect("server info");
    let seeded_ratio = compare_reads(
        &format!("seeded $all read ({} persons)", settings.people),
        &seeded,
        &seeded_endpoint.client,
    )
    .await;
    [
        single_ratio,
        own_ratio,
        batch_ratio,
        read_ratio,
        seeded_ratio,
    ]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // As the `journey` binary runs: without transparent huge pages (`memory.rs` says why).
    journey_api::memory::no_transparent_huge_pages();
    // The client's TLS needs a process-wide provider when the build enables more than one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let settings = settings();
    println!(
        "journey gRPC benchmark: {} rounds; {} writers, {} single appends each, {} batches of {} each; {} seeded persons",
        settings.rounds,
        settings.writers,
        settings.single_per_writer,
        settings.batches_per_writer,
        settings.batch,
        settings.people
    );
    let mut ratios = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for number in 1..=settings.rounds {
        println!("round {number}");
        for (all, ratio) in ratios.iter_mut().zip(round(&settings).await) {
            all.push(ratio);
        }
    }
    let [single, own, batch, read, seeded] = ratios.map(median);
    println!(
        "median ratios endpoint / in-process: single appends {single:.2} (from {} clients of their own: {own:.2}), batches {batch:.2}, $all read {read:.2}, seeded $all read {seeded:.2} (targets: 0.50 each)",
        settings.writers
    );
}
