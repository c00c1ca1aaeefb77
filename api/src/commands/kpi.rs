//! `journey kpi KEY --as-of DATE [--known-at TIME] [--by DIM[,DIM]] [--format table|json|csv|parquet]
//! [--out FILE]`. CSV and Parquet share their rows and columns (`journey_api::kpi_rows`).

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, ValueEnum};
use journey_api::kpi_rows::{self, cell_label, rows};
use journey_api::parquet::{kpi_batch, kpi_schema, ParquetFile};
use journey_projections::kpi::{self, Dimension, KpiResult, Suppression};
use journey_projections::KpiRequest;

use crate::commands::projections::open_caught_up;
use crate::context::{CliError, Options};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    /// The CSV's columns, typed, as a Parquet file (needs --out).
    Parquet,
}

#[derive(Debug, Args)]
pub struct KpiArgs {
    /// The indicator (`journey kpi list` shows the catalogue).
    pub key: String,
    /// The reporting date (valid time). Default: today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Use only what was recorded by this time (RFC 3339, e.g. 2025-01-31T23:59:59Z). Default: now.
    #[arg(long)]
    pub known_at: Option<DateTime<Utc>>,
    /// One or two dimensions, comma-separated: district, sex, age_band, nationality, arrival_cohort,
    /// years_since_arrival, years_since_entry, protection_status.
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<Dimension>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Suppress cells about fewer than K persons (and the cells that would reveal them); 0 turns
    /// disclosure control off, for roles allowed to see person-level data.
    #[arg(long, default_value_t = 3)]
    pub k: u32,
    /// Write to this file (replaced when complete) instead of standard output; needed for parquet.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub async fn run(options: &Options, args: KpiArgs) -> Result<ExitCode, CliError> {
    if args.key == "list" {
        for definition in kpi::catalogue() {
            println!("{:<36} {}", definition.key, definition.title);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if matches!(args.format, Format::Parquet) && args.out.is_none() {
        return Err("--format parquet writes a binary file: give it with --out FILE".into());
    }
    let (context, projections) = open_caught_up(options, args.known_at).await?;
    let request = KpiRequest {
        key: args.key.clone(),
        as_of: args.as_of.unwrap_or_else(|| projections.today()),
        known_at: args.known_at,
        by: args.by.clone(),
        suppression: (args.k > 0).then_some(Suppression { k: args.k }),
    };
    let outcome = projections.kpi(request);
    projections.shutdown().await?;
    context.close().await?;
    let result = outcome?;
    let text = match args.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&result)?),
        Format::Csv => kpi_rows::csv(&result),
        Format::Table => table(&result),
        Format::Parquet => {
            if let Some(path) = &args.out {
                let mut file = ParquetFile::create(path, kpi_schema())?;
                file.write(&kpi_batch(&result)?)?;
                file.finish()?;
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn value_text(value: Option<f64>, suppressed: bool) -> String {
    match (value, suppressed) {
        (_, true) => "suppressed".to_owned(),
        (Some(value), false) => format!("{value}"),
        (None, false) => "-".to_owned(),
    }
}

fn count_text(count: Option<u64>) -> String {
    count.map_or_else(|| "-".to_owned(), |count| count.to_string())
}

fn table(result: &KpiResult) -> String {
    let mut out = format!(
        "{}  as of {}  known at {}\ncounting unit: {:?}; over {}\nerased persons: {} (erasure removes a person from past cuts too)\n",
        result.key,
        result.as_of,
        result.known_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        result.counting_unit,
        result.denominator,
        result.metadata.erased_persons
    );
    out.push_str(&format!(
        "left out for an unknown birth year: {}\n",
        result.metadata.unknown_birth_year_excluded
    ));
    if let Some(fallbacks) = result.metadata.entry_date_fallbacks {
        out.push_str(&format!(
            "years since entry counted from the arrival (no entry date): {fallbacks}\n"
        ));
    }
    for cell in rows(result) {
        out.push_str(&format!("{}\n", cell_label(cell)));
        for measure in &cell.measures {
            out.push_str(&format!(
                "    {:<28} {:>12}   numerator {:>8}  denominator {:>8}\n",
                measure.name,
                value_text(measure.value, measure.suppressed),
                count_text(measure.numerator),
                count_text(measure.denominator),
            ));
        }
    }
    out
}
