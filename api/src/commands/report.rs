//! `journey report --as-of DATE [--known-at TIME] --out report.html [--lang de|en|both]`: the
//! council report (every indicator of the catalogue, see `journey_api::report`) as one
//! self-contained HTML file.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use journey_api::report::{self, Language, ReportRequest};
use journey_projections::kpi::Suppression;

use crate::commands::projections::open_caught_up;
use crate::context::{CliError, Options};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Lang {
    De,
    En,
    Both,
}

impl From<Lang> for Language {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::De => Language::De,
            Lang::En => Language::En,
            Lang::Both => Language::Both,
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The reporting date (valid time).
    #[arg(long)]
    pub as_of: NaiveDate,
    /// Use only what was recorded by this time (RFC 3339). Default: everything recorded so far.
    #[arg(long)]
    pub known_at: Option<DateTime<Utc>>,
    /// The HTML file to write (replaced if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// German, English, or both side by side.
    #[arg(long, value_enum, default_value = "both")]
    pub lang: Lang,
    /// Suppress cells about fewer than K persons (and the cells that would reveal them); 0 turns
    /// disclosure control off, for a report that is not published.
    #[arg(long, default_value_t = 3)]
    pub k: u32,
}

pub async fn run(options: &Options, args: ReportArgs) -> Result<ExitCode, CliError> {
    // Checked before anything is computed, so a typo costs no time and writes nothing.
    let directory = match args.out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !directory.is_dir() {
        return Err(format!(
            "cannot write {}: the directory {} does not exist",
            args.out.display(),
            directory.display()
        )
        .into());
    }
    let (context, projections) = open_caught_up(options, args.known_at).await?;
    let request = ReportRequest {
        as_of: args.as_of,
        known_at: args.known_at,
        suppression: (args.k > 0).then_some(Suppression { k: args.k }),
    };
    let computed = report::compute(&projections, &request);
    projections.shutdown().await?;
    context.close().await?;
    let html = report::render(&computed?, args.lang.into());
    // Written next to the target and renamed, so a failed write never leaves half a report.
    let mut file = tempfile::NamedTempFile::new_in(&directory)?;
    std::io::Write::write_all(&mut file, html.as_bytes())?;
    // A report is for handing on; the temporary file's owner-only mode is not what it needs.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.persist(&args.out).map_err(|error| error.error)?;
    println!(
        "journey report: wrote {} ({} indicators, as of {})",
        args.out.display(),
        journey_projections::kpi::catalogue().len(),
        args.as_of
    );
    Ok(ExitCode::SUCCESS)
}
