//! `journey export --format ndjson [--stream ID] [--from POS]`: one event per line, in global order (or
//! stream order for one stream), payloads decrypted, in the envelope of DOMAIN.md section 2.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use journey_core::envelope::PersonId;
use journey_core::log::{Direction, EventLog, StreamFrom};

use crate::context::{CliError, Context, Options};

const PAGE_EVENTS: usize = 4096;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Ndjson,
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
}

pub async fn run(options: &Options, args: ExportArgs) -> Result<ExitCode, CliError> {
    let Format::Ndjson = args.format;
    let context = Context::open(options).await?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut from = args.from;
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
            None => context.log.read_all(from, PAGE_EVENTS).await?,
        };
        let done = page.len() < PAGE_EVENTS;
        for recorded in page {
            from = if args.stream.is_some() {
                recorded.revision + 1
            } else {
                recorded.position + 1
            };
            let decoded = context.ledger.decode(recorded)?;
            serde_json::to_writer(&mut out, &decoded.to_wire())?;
            out.write_all(b"\n")?;
        }
        if done {
            break;
        }
    }
    out.flush()?;
    drop(out);
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}
