//! `journey retention run [--after-years N] [--dry-run]`: erases the persons whose case closed at
//! least N years ago, with reason `retention_expired`, and prints each one.

use std::process::ExitCode;

use clap::Subcommand;
use journey_api::retention::{self, RETENTION_YEARS_DEFAULT};

use crate::context::{CliError, Context, Options};

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Erases (or with --dry-run lists) every person whose case closed (moved away, or no event) at
    /// least --after-years years ago.
    Run {
        #[arg(long, default_value_t = RETENTION_YEARS_DEFAULT)]
        after_years: u32,
        /// Prints who would be erased and changes nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(options: &Options, command: RetentionCommand) -> Result<ExitCode, CliError> {
    let RetentionCommand::Run {
        after_years,
        dry_run,
    } = command;
    let context = Context::open(options).await?;
    let report = retention::run(&context.ledger, after_years, dry_run).await?;
    let verb = if dry_run { "would erase" } else { "erased" };
    for expired in &report.expired {
        println!(
            "{verb} {} retention_expired ({}, retention {after_years} years)",
            expired.person, expired.closure
        );
    }
    println!("{verb} {} persons", report.expired.len());
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}
