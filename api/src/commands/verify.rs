//! `journey verify`.

use std::process::ExitCode;

use indicatif::ProgressBar;
use journey_core::verify::{verify, VerifyOptions};

use crate::context::{CliError, Context, Options};

pub async fn run(options: &Options) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    // Positions are not dense, so the count of events checked is shown, not a fraction.
    let progress = ProgressBar::new_spinner();
    let report = verify(&context.ledger, VerifyOptions::default(), |checked| {
        progress.set_position(checked)
    })
    .await?;
    progress.finish_and_clear();
    context.close().await?;
    match report.first_problem {
        None => {
            println!(
                "ok: {} events in {} streams; the hash chains intact, every event decodes ({} events of erased persons)",
                report.events, report.streams, report.erased_events
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(problem) => {
            println!("BROKEN at {problem}");
            println!("{} events before it are intact", report.events);
            Ok(ExitCode::FAILURE)
        }
    }
}
