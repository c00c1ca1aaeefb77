//! Hidden tools for the end-to-end tests.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Duration;
use clap::Subcommand;
use journey_core::envelope::PersonId;
use journey_core::keys::KeyState;
use journey_core::log::{ExpectedRevision, Position};
use journey_core::sample;
use uuid::Uuid;

use crate::context::{CliError, Context, Options};

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Registers PERSONS new persons, then appends to them from WRITERS tasks until killed (or until
    /// --events appends), printing `ack <event-id> <position>` for every acknowledged event.
    AppendLoop {
        #[arg(long, default_value_t = 4)]
        persons: usize,
        #[arg(long, default_value_t = 8)]
        writers: usize,
        #[arg(long)]
        events: Option<u64>,
    },
    /// Prints the person's data key in hex (or `destroyed` / `absent`), so the erasure test can search
    /// the data directory for its bytes. Needs the store, so the server must be stopped.
    DataKey { person: PersonId },
}

pub async fn run(options: &Options, command: DebugCommand) -> Result<ExitCode, CliError> {
    match command {
        DebugCommand::AppendLoop {
            persons,
            writers,
            events,
        } => append_loop(options, persons.max(1), writers.max(1), events).await,
        DebugCommand::DataKey { person } => data_key(options, person).await,
    }
}

async fn data_key(options: &Options, person: PersonId) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let state = context.ledger.keys().state(person)?;
    match state {
        KeyState::Present(key) => println!("{}", hex::encode(key.as_bytes())),
        KeyState::Destroyed => println!("destroyed"),
        KeyState::Absent => println!("absent"),
    }
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}

async fn append_loop(
    options: &Options,
    persons: usize,
    writers: usize,
    events: Option<u64>,
) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let ledger = context.ledger.clone();
    let today = ledger.clock().today();
    let start = today - Duration::days(30);
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let ack = {
        let out = out.clone();
        move |id: Uuid, position: Option<Position>| -> std::io::Result<()> {
            let mut out = out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            writeln!(out, "ack {id} {}", position.map_or(-1, |p| p.raw() as i64))?;
            out.flush()
        }
    };
    let mut people = Vec::with_capacity(persons);
    for _ in 0..persons {
        let person = PersonId(Uuid::new_v4());
        let id = Uuid::new_v4();
        let receipt = ledger
            .append(
                person,
                ExpectedRevision::NoStream,
                vec![sample::registration(id, start)],
            )
            .await?;
        ack(id, receipt.first_position)?;
        people.push(person);
    }
    let budget = events.map(|events| events / writers as u64 + 1);
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let ledger = ledger.clone();
        let people = people.clone();
        let ack = ack.clone();
        tasks.spawn(async move {
            let mut count = 0u64;
            loop {
                if budget.is_some_and(|budget| count >= budget) {
                    return Ok::<(), CliError>(());
                }
                let person = people[(writer + count as usize) % people.len()];
                let id = Uuid::new_v4();
                let receipt = ledger
                    .append(
                        person,
                        ExpectedRevision::Any,
                        vec![sample::counselling(id, today)],
                    )
                    .await?;
                ack(id, receipt.first_position)?;
                count += 1;
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.map_err(|error| format!("writer failed: {error}"))??;
    }
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}
