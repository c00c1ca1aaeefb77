//! `journey audit export | verify | prune`: the audit log of a stopped server's data directory.
//!
//! These commands open the store, so they refuse (with the usual message naming the running
//! `journey serve`) while a server holds the data directory.

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Subcommand, ValueEnum};
use journey_api::audit::{self, AuditLog};

use crate::context::{CliError, Context, Options};

/// The default audit retention, in years.
pub const AUDIT_RETENTION_YEARS_DEFAULT: u32 =
    journey_api::retention::AUDIT_RETENTION_YEARS_DEFAULT;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line, in sequence order, with `prev_hash` and `hash`.
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Writes the audit entries to standard output, one per line, in sequence order.
    Export {
        #[arg(long, value_enum, default_value_t = Format::Ndjson)]
        format: Format,
        /// The first sequence number to export (the start of the log when absent).
        #[arg(long)]
        from: Option<u64>,
    },
    /// Checks the hash chain from its start (or its prune anchor); exits non-zero and names the
    /// first broken sequence number if an entry was changed, removed or reordered.
    Verify,
    /// Removes the entries older than N years from the front of the chain, leaving a hashed anchor
    /// that verification starts from, and records the prune as an `auditPrune` entry.
    Prune {
        #[arg(long, default_value_t = AUDIT_RETENTION_YEARS_DEFAULT)]
        older_than_years: u32,
    },
}

pub async fn run(options: &Options, command: AuditCommand) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let audit = AuditLog::open(&context.store)?;
    let code = match command {
        AuditCommand::Export { format, from } => export(&audit, format, from)?,
        AuditCommand::Verify => verify(&audit)?,
        AuditCommand::Prune { older_than_years } => {
            let now = Utc::now();
            let cutoff = audit::retention_cutoff(now, older_than_years);
            let report = audit.prune(cutoff, now)?;
            println!(
                "pruned {} audit entries older than {} ({older_than_years} years)",
                report.removed,
                cutoff.to_rfc3339()
            );
            if let Some(anchor) = &report.anchor {
                println!(
                    "the chain starts after entry {} (hash {})",
                    anchor.pruned_through, anchor.last_hash
                );
            }
            ExitCode::SUCCESS
        }
    };
    drop(audit);
    context.close().await?;
    Ok(code)
}

fn export(audit: &AuditLog, format: Format, from: Option<u64>) -> Result<ExitCode, CliError> {
    const PAGE: usize = 1000;
    let Format::Ndjson = format;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // `read` takes the sequence number after which to start.
    let mut after = from.and_then(|seq| seq.checked_sub(1));
    loop {
        let entries = audit.read(after, PAGE)?;
        for entry in &entries {
            serde_json::to_writer(&mut out, entry)?;
            out.write_all(b"\n")?;
        }
        match entries.last() {
            Some(last) if entries.len() == PAGE => after = Some(last.seq),
            _ => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn verify(audit: &AuditLog) -> Result<ExitCode, CliError> {
    let start = match audit.anchor()? {
        Some(anchor) => format!(
            "from the prune anchor after entry {} (pruned {})",
            anchor.pruned_through,
            anchor.pruned_at.to_rfc3339()
        ),
        None => "from the first entry".to_owned(),
    };
    match audit.verify()? {
        Ok(count) => {
            println!("ok: {count} audit entries, hash chain intact {start}");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("BROKEN at audit entry {}: {}", broken.seq, broken.reason);
            Ok(ExitCode::FAILURE)
        }
    }
}
