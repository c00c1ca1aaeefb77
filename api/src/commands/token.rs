//! `journey token create | revoke | list`: bearer tokens of the API.
//!
//! These commands touch only `<data-dir>/tokens.json`, never the store, so they work while
//! `journey serve` runs on the same data directory; the server picks changes up with the next
//! request.

use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;
use journey_api::auth::{self, Role};
use journey_core::catalogue::Agency;
use rand::rngs::OsRng;

use crate::context::{CliError, Options};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it (as the last word of the output); it is shown only once.
    Create {
        /// caseworker, coordinator, analyst, auditor or admin.
        #[arg(long)]
        role: Role,
        /// The agency of a caseworker (required for them) or coordinator.
        #[arg(long, value_parser = parse_agency)]
        agency: Option<Agency>,
        /// A name for the token, recorded as the actor of events and in the audit log.
        #[arg(long)]
        name: Option<String>,
    },
    /// Revokes a token by id or name; the server refuses it from the next request on.
    Revoke { id_or_name: String },
    /// Lists the tokens (never the tokens themselves: only their hashes are stored).
    List,
}

fn parse_agency(value: &str) -> Result<Agency, String> {
    Agency::parse(value).ok_or_else(|| {
        format!(
            "unknown agency `{value}`; agencies: {}",
            Agency::ALL
                .iter()
                .map(Agency::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

pub fn run(options: &Options, command: TokenCommand) -> Result<ExitCode, CliError> {
    let data_dir = &options.data_dir;
    match command {
        TokenCommand::Create { role, agency, name } => {
            let created = auth::create_token(data_dir, role, agency, name, Utc::now(), &mut OsRng)?;
            let record = &created.record;
            println!(
                "created token {} ({}{}{}); it is shown only this once:",
                record.id,
                record.role,
                record
                    .agency
                    .map(|agency| format!(", {agency}"))
                    .unwrap_or_default(),
                record
                    .name
                    .as_ref()
                    .map(|name| format!(", name {name}"))
                    .unwrap_or_default(),
            );
            println!("{}", created.token);
        }
        TokenCommand::Revoke { id_or_name } => {
            let record = auth::revoke_token(data_dir, &id_or_name, Utc::now())?;
            println!("revoked token {}", record.id);
        }
        TokenCommand::List => {
            let tokens = auth::list_tokens(data_dir)?;
            if tokens.is_empty() {
                println!("no tokens (create one with `journey token create --role ROLE`)");
            }
            for token in tokens {
                println!(
                    "{:<18} {:<12} {:<20} {:<20} created {}{}",
                    token.id,
                    token.role,
                    token
                        .agency
                        .map(|agency| agency.to_string())
                        .unwrap_or_else(|| "-".into()),
                    token.name.as_deref().unwrap_or("-"),
                    token.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    token
                        .revoked_at
                        .map(|at| format!(", revoked {}", at.format("%Y-%m-%dT%H:%M:%SZ")))
                        .unwrap_or_default(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
