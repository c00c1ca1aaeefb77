//! The gRPC benchmark: the KurrentDB Streams service driven by the official Rust client over a
//! loopback socket, next to the same work done in-process on the ledger, in one run.
//!
//!   cargo bench -p journey-tests --bench grpc [-- WRITERS SINGLE_PER_WRITER BATCHES_PER_WRITER BATCH]
//!
//! Scenarios (each on its own scratch data directory, removed afterwards):
//! 1. single events from WRITERS concurrent writers (default 64), each append registering a new
//!    person through the ledger's write path (rules, sealing, chaining);
//! 2. batches of BATCH plain events (default 100) from WRITERS concurrent writers;
//! 3. a full read of `$all` (every event of 1 and 2): through the endpoint as admin, next to
//!    reading and decoding the same log in-process.
//!
//! Prints events per second of each and the ratio endpoint / in-process (targets: appends and the
//! read at least 0.5).

use std::time::{Duration, Instant};

use journey_api::auth::{self, Role};
use journey_api::config::Limits;
use journey_api::context::{Context, Options};
use journey_api::grpc::StreamsConfig;
use journey_api::AppState;
use journey_core::catalogue;
use journey_core::envelope::{Actor, ActorRole, PersonId};
use journey_core::ledger::Proposed;
use journey_core::log::{AllFrom, Direction, ExpectedRevision};
use journey_core::plain::PlainProposal;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, StreamState,
};
use serde_json::json;
use uuid::Uuid;

struct Settings {
    writers: usize,
    single_per_writer: usize,
    batches_per_writer: usize,
    batch: usize,
}

fn settings() -> Settings {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|argument| argument.parse().ok())
        .collect();
    Settings {
        writers: numbers.first().copied().unwrap_or(64),
        single_per_writer: numbers.get(1).copied().unwrap_or(50),
        batches_per_writer: numbers.get(2).copied().unwrap_or(4),
        batch: numbers.get(3).copied().unwrap_or(100),
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

async fn endpoint(scratch: &Scratch) -> Client {
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
    let principal = scratch
        .state
        .tokens
        .authenticate(&token)
        .expect("principal");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let state = scratch.state.clone();
    tokio::spawn(async move {
        journey_api::grpc::streams::serve_as(listener, state, principal, StreamsConfig::default())
            .await
            .expect("serve");
    });
    let settings: ClientSettings = format!("esdb://127.0.0.1:{port}?tls=false")
        .parse()
        .expect("settings");
    Client::new(settings).expect("client")
}

fn rate(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn report(name: &str, events: usize, endpoint: Duration, in_process: Duration) {
    let endpoint_rate = rate(events, endpoint);
    let in_process_rate = rate(events, in_process);
    println!(
        "{name:<36} {events:>8} events  endpoint {endpoint_rate:>10.0}/s  in-process {in_process_rate:>10.0}/s  ratio {:.2}",
        endpoint_rate / in_process_rate
    );
}

async fn singles_in_process(scratch: &Scratch, settings: &Settings) -> Duration {
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
            let count = settings.single_per_writer;
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

async fn singles_endpoint(client: &Client, settings: &Settings) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..settings.writers)
        .map(|_| {
            let client = client.clone();
            let count = settings.single_per_writer;
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

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let settings = settings();
    println!(
        "journey gRPC benchmark: {} writers, {} single appends each, {} batches of {} each",
        settings.writers, settings.single_per_writer, settings.batches_per_writer, settings.batch
    );
    // Each side appends to its own scratch store, so neither finds the other's streams.
    let direct = scratch().await;
    let served = scratch().await;
    let client = endpoint(&served).await;
    let singles = settings.writers * settings.single_per_writer;
    let in_process = singles_in_process(&direct, &settings).await;
    let through = singles_endpoint(&client, &settings).await;
    report(
        "single person appends (rules, sealing)",
        singles,
        through,
        in_process,
    );

    let batched = settings.writers * settings.batches_per_writer * settings.batch;
    let in_process = batches_in_process(&direct, &settings).await;
    let through = batches_endpoint(&client, &settings).await;
    report(
        &format!("batches of {} plain events", settings.batch),
        batched,
        through,
        in_process,
    );

    let (read_direct, in_process) = read_in_process(&served).await;
    let (read_served, through) = read_endpoint(&client).await;
    assert_eq!(
        read_direct, read_served,
        "the endpoint reads every event of the log"
    );
    report(
        "full $all read (read and decode)",
        read_served,
        through,
        in_process,
    );
}
