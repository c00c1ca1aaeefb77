//! `journey export [--format ndjson|parquet] [--stream ID] [--from POS] [--out FILE]`.
//!
//! `ndjson` (the default): one event per line, in global order (or stream order for one stream),
//! payloads decrypted, in the envelope of DOMAIN.md section 2; the format `journey import` reads.
//! `parquet`: the analysts' table (`journey_api::parquet`), pseudonymised exactly as the GraphQL
//! `events` feed is for analysts, one column per envelope field and the filtered payload as JSON
//! text; it needs `--out`, since a binary file on a terminal helps nobody. A progress bar on stderr
//! counts the events (hidden when stderr is not a terminal).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use journey_api::parquet::{events_batch, events_schema, ParquetFile};
use journey_api::pseudonym::{AnalystView, Pseudonymizer};
use journey_core::envelope::PersonId;
use journey_core::ledger::DecodedEvent;
use journey_core::log::{AllFrom, Direction, Position, StreamFrom};

use crate::context::{CliError, Context, Options};

const PAGE_EVENTS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Every event decrypted, one JSON object a line (what `journey import` reads).
    Ndjson,
    /// The analysts' pseudonymised events as a Parquet table.
    Parquet,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: Format,
    /// Only this person's stream (`person-<uuid>` or the bare uuid).
    #[arg(long)]
    pub stream: Option<PersonId>,
    /// Start at this global position (with --stream: at this revision).
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Write to this file (replaced when complete) instead of standard output; needed for parquet.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Where the events go.
enum Sink {
    Ndjson(Box<dyn Write>),
    Parquet {
        file: Box<ParquetFile>,
        pseudonyms: Pseudonymizer,
        batch: Vec<AnalystView>,
    },
}

impl Sink {
    fn push(&mut self, decoded: &DecodedEvent) -> Result<(), CliError> {
        match self {
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, &decoded.to_wire())?;
                out.write_all(b"\n")?;
            }
            Sink::Parquet {
                file,
                pseudonyms,
                batch,
            } => {
                if !journey_api::pseudonym::in_analysts_feed(&decoded.recorded.stream) {
                    return Ok(());
                }
                batch.push(pseudonyms.view(decoded));
                if batch.len() == PAGE_EVENTS {
                    file.write(&events_batch(batch)?)?;
                    batch.clear();
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), CliError> {
        match self {
            Sink::Ndjson(mut out) => out.flush()?,
            Sink::Parquet {
                mut file, batch, ..
            } => {
                if !batch.is_empty() {
                    file.write(&events_batch(&batch)?)?;
                }
                file.finish()?;
            }
        }
        Ok(())
    }
}

pub async fn run(options: &Options, args: ExportArgs) -> Result<ExitCode, CliError> {
    if args.format == Format::Parquet && args.out.is_none() {
        return Err("--format parquet writes a binary file: give it with --out FILE".into());
    }
    let context = Context::open(options).await?;
    let mut sink = match (args.format, &args.out) {
        (Format::Parquet, Some(path)) => Sink::Parquet {
            file: Box::new(ParquetFile::create(path, events_schema())?),
            pseudonyms: Pseudonymizer::new(context.pseudonym_key),
            batch: Vec::with_capacity(PAGE_EVENTS),
        },
        (_, Some(path)) => Sink::Ndjson(Box::new(BufWriter::new(
            std::fs::File::create(path)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?,
        ))),
        (_, None) => Sink::Ndjson(Box::new(BufWriter::new(std::io::stdout()))),
    };
    let progress = match args.stream {
        Some(_) => ProgressBar::new_spinner(),
        None => {
            // Positions are not dense: the bar shows how far through the log's positions the
            // export is.
            let head = context.log.last_position().await?;
            ProgressBar::new(head.map_or(0, Position::raw)).with_style(
                ProgressStyle::with_template("{spinner} position {pos}/{len} [{bar:40}] ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        }
    };
    let mut from = args.from;
    let mut all_from = AllFrom::Including(Position::from_raw(args.from));
    loop {
        let page = match args.stream {
            Some(person) => {
                context
                    .log
                    .read_stream(
                        &person.stream_name(),
                        StreamFrom::Revision(from),
                        Direction::Forwards,
                        PAGE_EVENTS,
                    )
                    .await?
            }
            None => {
                context
                    .log
                    .read_all(all_from, Direction::Forwards, PAGE_EVENTS)
                    .await?
            }
        };
        let done = page.len() < PAGE_EVENTS;
        match (args.stream, page.last()) {
            (Some(_), _) => progress.inc(page.len() as u64),
            (None, Some(last)) => progress.set_position(last.position.raw()),
            (None, None) => {}
        }
        for recorded in page {
            if args.stream.is_some() {
                from = recorded.revision + 1;
            } else {
                all_from = AllFrom::Excluding(recorded.position);
            }
            let decoded = context.ledger.decode(recorded)?;
            sink.push(&decoded)?;
        }
        if done {
            break;
        }
    }
    progress.finish_and_clear();
    sink.finish()?;
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}
