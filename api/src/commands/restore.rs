//! `journey restore --from DIR --data-dir NEW`: a backup into a new data directory, every check
//! before anything is written, `verify` before it is put in place, every erasure in the erasure
//! register re-applied (see `journey_api::backup::restore`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use journey_api::backup::restore;
use journey_api::context::{CliError, Options};

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory (written by `journey backup`).
    #[arg(long)]
    pub from: PathBuf,
}

pub async fn run(options: &Options, args: RestoreArgs) -> Result<ExitCode, CliError> {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg:18} {bar:40} {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = restore::restore(&args.from, options, &|phase, done, total| {
        if bar.message() != phase {
            bar.set_message(phase.to_owned());
        }
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    println!(
        "restored {} events into {}; verify passed; {} person(s) erased after the backup stay erased (erasure register {})",
        report.events,
        options.data_dir.display(),
        report.erased_by_register,
        options.erasure_register_path().display()
    );
    Ok(ExitCode::SUCCESS)
}
