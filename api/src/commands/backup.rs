//! `journey backup --out DIR`: a consistent copy of the data directory as of one log position.
//!
//! On a stopped server's directory the command opens the store itself. While `journey serve` holds
//! it (sled admits one process), the command asks the server, found through `server.json`, to write
//! the backup: `POST /admin/backup` with an admin token (`--token` or `JOURNEY_TOKEN`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use journey_api::backup::{self, client, BackupSources, Manifest};
use journey_api::context::{CliError, Context, Options};
use journey_api::server_file;
use journey_core::log::LogError;
use journey_core::store::{Store, StoreConfig};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The directory to write the backup to; it must not exist or be empty.
    #[arg(long)]
    pub out: PathBuf,
    /// An admin token, needed when `journey serve` runs on the data directory (the server then
    /// writes the backup).
    #[arg(long, env = "JOURNEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub async fn run(options: &Options, args: BackupArgs) -> Result<ExitCode, CliError> {
    backup::check_empty_target(&args.out)
        .map_err(|message| format!("backup target `{}` {message}", args.out.display()))?;
    let manifest = if server_holds(options)? {
        let server = server_file::read(&options.data_dir).ok_or_else(|| {
            format!(
                "the data directory `{}` is locked but names no running server in server.json; \
                 is another journey command running on it?",
                options.data_dir.display()
            )
        })?;
        let token = args.token.ok_or(
            "`journey serve` runs on this data directory, so the server takes the backup: pass an \
             admin token with --token or JOURNEY_TOKEN",
        )?;
        // The server writes the files, so it needs a path it can resolve the same way.
        let out = std::path::absolute(&args.out)?;
        client::request_backup(&server, &token, &out).await?
    } else {
        offline(options, &args.out).await?
    };
    print(&manifest, &args.out);
    Ok(ExitCode::SUCCESS)
}

/// Whether another process (the server) holds the store.
fn server_holds(options: &Options) -> Result<bool, CliError> {
    if !options.data_dir.join("ledger").exists() {
        return Err(format!(
            "`{}` holds no journey store (no ledger directory)",
            options.data_dir.display()
        )
        .into());
    }
    match Store::open(&options.data_dir, &StoreConfig::default()) {
        Ok(_) => Ok(false),
        Err(LogError::Locked { .. }) => Ok(true),
        Err(error) => Err(error.into()),
    }
}

async fn offline(options: &Options, out: &std::path::Path) -> Result<Manifest, CliError> {
    let context = Context::open(options).await?;
    let Some(log) = context.sled_log.clone() else {
        return Err(backup::BackupError::RemoteLog.into());
    };
    let audit = journey_api::audit::AuditLog::open(&context.store)?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("backup {bar:40} {pos}/{len} events ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let manifest = backup::take_backup(
        BackupSources {
            log: &log,
            keys: context.ledger.keys(),
            audit: &audit,
            data_dir: &context.data_dir,
        },
        out,
        chrono::Utc::now(),
        &|copied, total| {
            bar.set_length(total);
            bar.set_position(copied);
        },
    )?;
    bar.finish_and_clear();
    drop(audit);
    context.close().await?;
    Ok(manifest)
}

fn print(manifest: &Manifest, out: &std::path::Path) {
    println!(
        "backup written to {}: {} events (log head {}), {} audit entries, {} files, {} bytes",
        out.display(),
        manifest.log.next_position,
        manifest.log.last_global_hash,
        manifest.audit.next_seq,
        manifest.files.len(),
        manifest.total_bytes()
    );
}
