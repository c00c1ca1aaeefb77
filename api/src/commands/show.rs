//! `journey show PERSON_ID`: the decoded timeline of one person.

use std::process::ExitCode;

use clap::Args;
use journey_core::envelope::PersonId;

use crate::context::{CliError, Context, Options};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// `person-<uuid>` or the bare uuid.
    pub person: PersonId,
    /// Print the events as NDJSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(options: &Options, args: ShowArgs) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let events = context.ledger.read_person(args.person).await?;
    if events.is_empty() {
        context.close().await?;
        return Err(format!("{} is not in the ledger", args.person).into());
    }
    println!("{}  ({} events)", args.person, events.len());
    for decoded in &events {
        let event = &decoded.recorded.event;
        if args.json {
            println!("{}", serde_json::to_string(&decoded.to_wire())?);
            continue;
        }
        let data = match &decoded.data {
            Some(data) => serde_json::to_string(data)?,
            None => "(erased)".to_owned(),
        };
        let agency = decoded
            .actor
            .agency
            .map(|agency| agency.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>4}  {}  {:<26} v{}  {}  by {}@{}  recorded {}",
            decoded.recorded.revision,
            event.occurred_on,
            event.event_type,
            event.version,
            data,
            decoded.actor.id,
            agency,
            event.recorded_at.format("%Y-%m-%dT%H:%M:%SZ"),
        );
    }
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}
