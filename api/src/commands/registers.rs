//! `journey registers …`: the municipality's reference data (see `journey_core::registers`).
//!
//! - `import FILE` (or `--default`, Salzgitter's shipped file) appends the differences between the
//!   file and the recorded registers as dated events and prints each;
//! - `show [REGISTER] [--on DATE]` lists the codes valid on a date (today by default);
//! - `check` lists every value in the log that no register knows, with counts and the closest
//!   codes, and exits non-zero when there is one;
//! - `map REGISTER VALUE CODE --reason TEXT` records that a stray value stands for a code.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::Subcommand;
use journey_core::envelope::Actor;
use journey_core::registers::{
    RegisterEvent, RegisterFile, RegisterKind, RegisterProposal, RegisterReceipt,
    RegisterValueMapped, SALZGITTER_JSON,
};

use crate::context::{CliError, Context, Options};

/// The actor register changes made on the command line are recorded with.
const REGISTERS_ACTOR: &str = "journey-registers";

#[derive(Debug, Subcommand)]
pub enum RegistersCommand {
    /// Imports a register file (JSON, schema `schemas/registers.schema.json`): appends what differs
    /// from the recorded registers as dated events. Importing the same file again writes nothing.
    Import {
        /// The register file; without it, `--default` must be given.
        #[arg(required_unless_present = "default", conflicts_with = "default")]
        file: Option<PathBuf>,
        /// Imports the shipped default, Salzgitter's districts and areas.
        #[arg(long)]
        default: bool,
    },
    /// Prints the shipped default register file (Salzgitter), a starting point for another city.
    Example,
    /// Lists the codes of a register (or of all) valid on a date.
    Show {
        register: Option<RegisterKind>,
        /// The date (default: today).
        #[arg(long)]
        on: Option<NaiveDate>,
    },
    /// Lists every value of a coded field in the log that no register knows, with its count and
    /// the closest codes; exits with status 1 when there is one.
    Check,
    /// Records that a stray value found by `check` stands for a code (the events are not changed).
    Map {
        register: RegisterKind,
        value: String,
        code: String,
        #[arg(long)]
        reason: String,
    },
}

fn print_receipt(receipt: &RegisterReceipt) {
    for proposal in &receipt.written {
        let what = match &proposal.event {
            RegisterEvent::EntryAdded(added) => match &added.parent {
                Some(parent) => format!("added `{}` (in `{parent}`)", added.code),
                None => format!("added `{}`", added.code),
            },
            RegisterEvent::EntryRetired(retired) if retired.successors.is_empty() => {
                format!("retired `{}`", retired.code)
            }
            RegisterEvent::EntryRetired(retired) => format!(
                "retired `{}`, succeeded by {}",
                retired.code,
                retired.successors.join(", ")
            ),
            RegisterEvent::ValueMapped(mapped) => {
                format!("mapped `{}` to `{}`", mapped.value, mapped.code)
            }
        };
        println!("{} {}: {what}", proposal.occurred_on, proposal.register);
    }
    println!(
        "{} register events written, {} already recorded",
        receipt.written.len(),
        receipt.already_recorded
    );
}

pub async fn run(options: &Options, command: RegistersCommand) -> Result<ExitCode, CliError> {
    if let RegistersCommand::Example = command {
        print!("{SALZGITTER_JSON}");
        return Ok(ExitCode::SUCCESS);
    }
    let context = Context::open(options).await?;
    let outcome = run_in(&context, command).await;
    context.close().await?;
    outcome
}

async fn run_in(context: &Context, command: RegistersCommand) -> Result<ExitCode, CliError> {
    let ledger = &context.ledger;
    let actor = Actor::system(REGISTERS_ACTOR);
    match command {
        RegistersCommand::Example => Ok(ExitCode::SUCCESS),
        RegistersCommand::Import { file, default } => {
            let register_file = match (file, default) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                    RegisterFile::parse(&text)
                        .map_err(|error| format!("{}: {error}", path.display()))?
                }
                (None, _) => RegisterFile::salzgitter(),
            };
            let receipt = ledger.import_register_file(&register_file, &actor).await?;
            print_receipt(&receipt);
            Ok(ExitCode::SUCCESS)
        }
        RegistersCommand::Show { register, on } => {
            let on = on.unwrap_or_else(|| ledger.clock().today());
            let registers = ledger.registers().await?;
            let kinds: Vec<RegisterKind> = register.map_or(RegisterKind::ALL.to_vec(), |k| vec![k]);
            for kind in kinds {
                let entries: Vec<_> = registers.register(kind).valid_on(on).collect();
                println!("{kind} on {on}: {} codes", entries.len());
                for entry in entries {
                    match &entry.parent {
                        Some(parent) => println!("  {} ({parent})", entry.code),
                        None => println!("  {}", entry.code),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistersCommand::Check => {
            let strays = ledger.stray_register_values().await?;
            for stray in &strays {
                println!(
                    "{}\t{}\t{} events\tclosest: {}",
                    stray.register,
                    stray.value,
                    stray.events,
                    if stray.suggestions.is_empty() {
                        "(the register is empty)".to_owned()
                    } else {
                        stray.suggestions.join(", ")
                    }
                );
            }
            if strays.is_empty() {
                println!("every coded value in the log is known to its register");
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "{} values no register knows; map each with `journey registers map REGISTER VALUE CODE --reason …` \
                     or in the register file's `mappings`",
                    strays.len()
                );
                Ok(ExitCode::FAILURE)
            }
        }
        RegistersCommand::Map {
            register,
            value,
            code,
            reason,
        } => {
            let receipt = ledger
                .append_register_events(
                    vec![RegisterProposal {
                        id: ledger.new_event_id(),
                        register,
                        occurred_on: ledger.clock().today(),
                        event: RegisterEvent::ValueMapped(RegisterValueMapped {
                            value,
                            code,
                            reason,
                        }),
                    }],
                    &actor,
                )
                .await?;
            print_receipt(&receipt);
            Ok(ExitCode::SUCCESS)
        }
    }
}
