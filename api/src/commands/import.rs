//! `journey import FILE.ndjson [--check]`.
//!
//! Every line goes through the ledger's write path (decode, rules, sealing, chaining), so an import is
//! held to the same rules as a caseworker's mutation. Lines are taken in chunks: a chunk is checked
//! line by line against the journeys as they would be after the earlier lines, then the lines before
//! the first invalid one are written (persons in parallel, so the log's group commit shares flushes),
//! and the import stops there with the line number. Ids make it idempotent: running the same import
//! again skips what is already recorded and completes the rest.
//!
//! Lines of a register stream (`register-districts`, …, as `journey export` writes them) are register
//! events: each ends the chunk before it, which is written first, and is then appended on its own
//! through `Ledger::append_register_events`, so the person lines after it are checked against the
//! register as it then is. `--check` folds register lines onto a copy of the recorded registers
//! but checks person lines against the recorded registers only.
//!
//! Lines of an offer stream (`offer-<uuid>`) go the same way as register lines, one at a time
//! through `Ledger::append_offer_events` (its rules, the registers, the plain chain). `--check`
//! applies the offer rules to each line against the offer as recorded and the lines before it;
//! the district and provider codes are checked only when written.
//!
//! Lines of a volunteer stream (`volunteer-<uuid>`, the register's facts without the vault's
//! personal data) go the same way, one at a time through `Ledger::append_volunteer_events` (its
//! rules, the link to the mentee's `MentorAssigned`, the plain chain). `--check` decodes them; their
//! rules, which read the log for the mentoring they link, are checked when written.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use journey_core::envelope::PersonId;
use journey_core::ledger::{Ledger, LedgerError, Proposed, Simulation, WireEvent};
use journey_core::log::ExpectedRevision;
use journey_core::offers::{decode_offer_event, OfferId, OfferProposal, OfferState};
use journey_core::registers::{decode_register_event, RegisterKind, RegisterProposal, Registers};
use journey_core::volunteers::{decode_volunteer_event, VolunteerId, VolunteerProposal};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::context::{CliError, Context, Options};

/// Lines checked and written together.
const CHUNK_LINES: usize = 2048;
/// The longest line accepted, in bytes.
const LINE_BYTES_MAX: usize = 1024 * 1024;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The NDJSON file to import (`-` reads standard input).
    pub file: PathBuf,
    /// Check every line without writing anything, and report every invalid line.
    #[arg(long)]
    pub check: bool,
}

/// A line that cannot be imported.
#[derive(Debug)]
struct LineError {
    line: usize,
    message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed line.
struct Line {
    number: usize,
    person: PersonId,
    proposed: Proposed,
}

/// A parsed line of a register stream.
struct RegisterLine {
    number: usize,
    proposal: RegisterProposal,
    actor: journey_core::envelope::Actor,
}

/// A parsed line of an offer stream.
struct OfferLine {
    number: usize,
    offer: OfferId,
    proposal: OfferProposal,
    actor: journey_core::envelope::Actor,
}

/// A parsed line of a volunteer stream.
struct VolunteerLine {
    number: usize,
    volunteer: VolunteerId,
    proposal: VolunteerProposal,
    actor: journey_core::envelope::Actor,
}

/// A line of a plain stream: appended on its own, after the person lines before it.
enum PlainLine {
    Register(RegisterLine),
    Offer(OfferLine),
    Volunteer(VolunteerLine),
}

enum Parsed {
    Person(Line),
    Plain(PlainLine),
}

fn parse_line(number: usize, text: &str) -> Result<Parsed, LineError> {
    let error = |message: String| LineError {
        line: number,
        message,
    };
    let wire: WireEvent =
        serde_json::from_str(text).map_err(|e| error(format!("not a valid event line: {e}")))?;
    if let Some(register) = RegisterKind::from_stream_name(&wire.stream) {
        let event = decode_register_event(&wire.event_type, wire.version, wire.data.clone())
            .map_err(error)?;
        return Ok(Parsed::Plain(PlainLine::Register(RegisterLine {
            number,
            proposal: RegisterProposal {
                id: wire.id,
                register,
                occurred_on: wire.occurred_on,
                event,
            },
            actor: wire.actor,
        })));
    }
    if let Some(offer) = OfferId::from_stream_name(&wire.stream) {
        let event =
            decode_offer_event(&wire.event_type, wire.version, wire.data.clone()).map_err(error)?;
        return Ok(Parsed::Plain(PlainLine::Offer(OfferLine {
            number,
            offer,
            proposal: OfferProposal {
                id: wire.id,
                occurred_on: wire.occurred_on,
                event,
            },
            actor: wire.actor,
        })));
    }
    if let Some(volunteer) = VolunteerId::from_stream_name(&wire.stream) {
        let event = decode_volunteer_event(&wire.event_type, wire.version, wire.data.clone())
            .map_err(error)?;
        return Ok(Parsed::Plain(PlainLine::Volunteer(VolunteerLine {
            number,
            volunteer,
            proposal: VolunteerProposal {
                id: wire.id,
                occurred_on: wire.occurred_on,
                event,
            },
            actor: wire.actor,
        })));
    }
    let person = wire.person().map_err(|e| error(describe(&e)))?;
    let proposed = wire.to_proposed().map_err(|e| error(describe(&e)))?;
    Ok(Parsed::Person(Line {
        number,
        person,
        proposed,
    }))
}

/// A ledger error about one event, described without the batch index (the line number says where).
fn describe(error: &LedgerError) -> String {
    match error {
        LedgerError::Invalid { field, message, .. } => match field {
            Some(field) if !field.is_empty() => format!("field `{field}`: {message}"),
            _ => message.clone(),
        },
        LedgerError::IdConflict { id, message, .. } => format!("id {id}: {message}"),
        LedgerError::UnknownCode { unknown, .. } => {
            format!("field `data.{}`: {unknown}", unknown.field)
        }
        LedgerError::Register { error, .. } => error.to_string(),
        LedgerError::Volunteer(violation) => format!(
            "rule {}{}: {}",
            violation.rule.code(),
            violation
                .field
                .as_ref()
                .map(|field| format!(", field `{field}`"))
                .unwrap_or_default(),
            violation.message
        ),
        LedgerError::Offer(violation) => format!(
            "rule {}{}: {}",
            violation.rule.code(),
            violation
                .field
                .as_ref()
                .map(|field| format!(", field `{field}`"))
                .unwrap_or_default(),
            violation.message
        ),
        other => other.to_string(),
    }
}

fn open_input(path: &PathBuf) -> Result<Box<dyn BufRead + Send>, CliError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file = std::fs::File::open(path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
}

/// Reads the next line, numbering from 1; `Err` for unreadable (for example non-UTF-8) lines.
fn next_line(input: &mut dyn BufRead, number: usize) -> Option<Result<String, LineError>> {
    let mut bytes = Vec::new();
    match input.read_until(b'\n', &mut bytes) {
        Ok(0) => None,
        Ok(_) if bytes.len() > LINE_BYTES_MAX => Some(Err(LineError {
            line: number,
            message: format!("line is longer than {LINE_BYTES_MAX} bytes"),
        })),
        Ok(_) => Some(String::from_utf8(bytes).map_err(|_| LineError {
            line: number,
            message: "line is not valid UTF-8".into(),
        })),
        Err(error) => Some(Err(LineError {
            line: number,
            message: format!("cannot read: {error}"),
        })),
    }
}

pub async fn run(options: &Options, args: ImportArgs) -> Result<ExitCode, CliError> {
    let total_bytes = if args.file.as_os_str() == "-" {
        None
    } else {
        std::fs::metadata(&args.file)
            .ok()
            .map(|metadata| metadata.len())
    };
    let mut input = open_input(&args.file)?;
    let context = Context::open(options).await?;
    let progress = match total_bytes {
        Some(bytes) => ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} [{bar:40}] {msg} ({eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    let outcome = if args.check {
        check_all(&context.ledger, input.as_mut(), &progress).await
    } else {
        import_all(&context.ledger, input.as_mut(), &progress).await
    };
    progress.finish_and_clear();
    context.close().await?;
    outcome
}

/// `--check`: every line, nothing written, every invalid line reported.
async fn check_all(
    ledger: &Ledger,
    input: &mut dyn BufRead,
    progress: &ProgressBar,
) -> Result<ExitCode, CliError> {
    let mut simulations: HashMap<PersonId, Simulation> = HashMap::new();
    let mut owners: HashMap<Uuid, PersonId> = HashMap::new();
    let mut registers: Registers = (*ledger.registers().await?).clone();
    let mut offers: HashMap<OfferId, OfferState> = HashMap::new();
    let mut errors = 0usize;
    let mut lines = 0usize;
    let mut number = 0usize;
    while let Some(text) = next_line(input, number + 1) {
        number += 1;
        progress.inc(text.as_ref().map_or(0, |text| text.len() as u64));
        let line = match text {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_line(number, &text),
            Err(error) => Err(error),
        };
        lines += 1;
        let result = match line {
            Err(error) => Err(error),
            Ok(Parsed::Person(line)) => {
                check_line(ledger, &mut simulations, &mut owners, &line).await
            }
            Ok(Parsed::Plain(PlainLine::Register(line))) => {
                check_register_line(ledger, &mut registers, &line).await
            }
            Ok(Parsed::Plain(PlainLine::Offer(line))) => {
                check_offer_line(ledger, &mut offers, &line).await
            }
            // Decoded by `parse_line`; the rules are checked when written (see the module).
            Ok(Parsed::Plain(PlainLine::Volunteer(_))) => Ok(()),
        };
        if let Err(error) = result {
            errors += 1;
            progress.suspend(|| println!("{error}"));
        }
    }
    println!(
        "checked {lines} lines: {} valid, {errors} invalid",
        lines - errors
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check_line(
    ledger: &Ledger,
    simulations: &mut HashMap<PersonId, Simulation>,
    owners: &mut HashMap<Uuid, PersonId>,
    line: &Line,
) -> Result<(), LineError> {
    let error = |message: String| LineError {
        line: line.number,
        message,
    };
    if let Some(owner) = owners.get(&line.proposed.id) {
        if *owner != line.person {
            return Err(error(format!(
                "id {}: already used for {owner} earlier in this file; every event needs its own id",
                line.proposed.id
            )));
        }
    }
    let simulation = match simulations.entry(line.person) {
        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
        std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
            ledger
                .simulate(line.person)
                .await
                .map_err(|e| error(describe(&e)))?,
        ),
    };
    ledger
        .simulate_append(simulation, std::slice::from_ref(&line.proposed))
        .await
        .map_err(|e| error(describe(&e)))?;
    owners.insert(line.proposed.id, line.person);
    Ok(())
}

/// Folds a register line onto the simulated registers (an id already recorded is skipped).
async fn check_register_line(
    ledger: &Ledger,
    registers: &mut Registers,
    line: &RegisterLine,
) -> Result<(), LineError> {
    let error = |message: String| LineError {
        line: line.number,
        message,
    };
    let proposal = &line.proposal;
    if ledger
        .log()
        .find_event(&proposal.register.stream_name(), proposal.id)
        .await
        .map_err(|e| error(e.to_string()))?
        .is_some()
    {
        return Ok(());
    }
    registers
        .apply(proposal.register, proposal.occurred_on, &proposal.event)
        .map_err(|e| error(e.to_string()))
}

/// Applies the offer rules to an offer line, against the offer as recorded and the lines before
/// it (an id already recorded is skipped).
async fn check_offer_line(
    ledger: &Ledger,
    offers: &mut HashMap<OfferId, OfferState>,
    line: &OfferLine,
) -> Result<(), LineError> {
    let error = |message: String| LineError {
        line: line.number,
        message,
    };
    let proposal = &line.proposal;
    if ledger
        .log()
        .find_event(&line.offer.stream_name(), proposal.id)
        .await
        .map_err(|e| error(e.to_string()))?
        .is_some()
    {
        return Ok(());
    }
    let state = match offers.entry(line.offer) {
        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
        std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
            ledger
                .read_offer(line.offer)
                .await
                .map_err(|e| error(describe(&e)))?
                .0,
        ),
    };
    let today = ledger.clock().today();
    let checked = journey_core::offers::Proposal {
        id: proposal.id,
        occurred_on: proposal.occurred_on,
        event: &proposal.event,
    };
    *state = journey_core::offers::decide(state, &[checked], today)
        .map_err(|violation| error(describe(&LedgerError::Offer(violation))))?;
    Ok(())
}

/// Writing import: stops at the first invalid line; everything before it is written.
async fn import_all(
    ledger: &Arc<Ledger>,
    input: &mut dyn BufRead,
    progress: &ProgressBar,
) -> Result<ExitCode, CliError> {
    let mut number = 0usize;
    let mut written = 0usize;
    let mut already = 0usize;
    loop {
        // Read and parse one chunk, stopping at the first line that does not parse.
        let mut chunk = Vec::with_capacity(CHUNK_LINES);
        let mut failure: Option<LineError> = None;
        let mut plain_line: Option<PlainLine> = None;
        let mut at_end = false;
        while chunk.len() < CHUNK_LINES {
            let Some(text) = next_line(input, number + 1) else {
                at_end = true;
                break;
            };
            number += 1;
            progress.inc(text.as_ref().map_or(0, |text| text.len() as u64));
            match text.and_then(|text| {
                if text.trim().is_empty() {
                    Ok(None)
                } else {
                    parse_line(number, &text).map(Some)
                }
            }) {
                Ok(Some(Parsed::Person(line))) => chunk.push(line),
                Ok(Some(Parsed::Plain(line))) => {
                    plain_line = Some(line);
                    break;
                }
                Ok(None) => {}
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        // Check the chunk line by line; cut it at the first line the ledger would refuse.
        let mut simulations: HashMap<PersonId, Simulation> = HashMap::new();
        let mut owners: HashMap<Uuid, PersonId> = HashMap::new();
        let mut valid = chunk.len();
        for (index, line) in chunk.iter().enumerate() {
            if let Err(error) = check_line(ledger, &mut simulations, &mut owners, line).await {
                valid = index;
                failure = Some(error);
                break;
            }
        }
        drop(simulations);
        chunk.truncate(valid);
        let (new, old) = write_chunk(ledger, chunk).await?;
        written += new;
        already += old;
        if failure.is_none() {
            if let Some(line) = plain_line {
                match append_plain_line(ledger, line).await {
                    Ok((new, old)) => {
                        written += new;
                        already += old;
                    }
                    Err(error) => failure = Some(error),
                }
            }
        }
        progress.set_message(format!("{written} written"));
        if let Some(error) = failure {
            progress.suspend(|| {
                eprintln!("error: {error}");
                eprintln!(
                    "import stopped: {written} events written, {already} already recorded; nothing from line {} on \
                     was written. Fix the line and run the same import again to complete it.",
                    error.line
                );
            });
            return Ok(ExitCode::FAILURE);
        }
        if at_end {
            break;
        }
    }
    println!("imported {written} events ({already} already recorded)");
    Ok(ExitCode::SUCCESS)
}

/// Appends one line of a plain stream. Returns (written, already recorded).
async fn append_plain_line(ledger: &Ledger, line: PlainLine) -> Result<(usize, usize), LineError> {
    let (number, outcome) = match line {
        PlainLine::Register(line) => (
            line.number,
            ledger
                .append_register_events(vec![line.proposal], &line.actor)
                .await
                .map(|receipt| (receipt.written.len(), receipt.already_recorded)),
        ),
        PlainLine::Offer(line) => (
            line.number,
            ledger
                .append_offer_events(line.offer, vec![line.proposal], &line.actor)
                .await
                .map(|receipt| {
                    let written = usize::from(receipt.first_position.is_some());
                    (written, receipt.already_recorded)
                }),
        ),
        PlainLine::Volunteer(line) => (
            line.number,
            ledger
                .append_volunteer_events(line.volunteer, vec![line.proposal], &line.actor)
                .await
                .map(|receipt| {
                    let written = usize::from(receipt.first_position.is_some());
                    (written, receipt.already_recorded)
                }),
        ),
    };
    outcome.map_err(|error| LineError {
        line: number,
        message: describe(&error),
    })
}

/// Writes checked lines: each person's lines in order, persons in parallel. Returns (written, already recorded).
async fn write_chunk(ledger: &Arc<Ledger>, chunk: Vec<Line>) -> Result<(usize, usize), CliError> {
    let mut by_person: HashMap<PersonId, Vec<Proposed>> = HashMap::new();
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for line in chunk {
        if seen.insert(line.person) {
            order.push(line.person);
        }
        by_person
            .entry(line.person)
            .or_default()
            .push(line.proposed);
    }
    let mut tasks = JoinSet::new();
    for person in order {
        let Some(events) = by_person.remove(&person) else {
            continue;
        };
        let ledger = ledger.clone();
        tasks.spawn(async move { ledger.append(person, ExpectedRevision::Any, events).await });
    }
    let (mut written, mut already) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        let receipt = result.map_err(|error| format!("import task failed: {error}"))??;
        already += receipt.already_recorded;
        written += receipt.written;
    }
    Ok((written, already))
}
