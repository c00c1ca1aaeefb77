//! The `journey` binary: the command-line interface of the ledger.

mod commands;

/// Counts live heap bytes for `journey bench projections` (api/src/memory.rs says why).
#[global_allocator]
static ALLOCATOR: journey_api::memory::Counting = journey_api::memory::Counting;

use journey_api::context;
use journey_core::fault;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// journey: an event-sourced ledger of integration journeys.
#[derive(Debug, Parser)]
#[command(name = "journey", version, about, long_about = None)]
struct Cli {
    /// The data directory (the embedded store, the master key when generated).
    #[arg(
        long,
        global = true,
        env = "JOURNEY_DATA_DIR",
        default_value = "./data"
    )]
    data_dir: PathBuf,

    /// A file holding the master key (64 hex digits). Without it and without JOURNEY_MASTER_KEY, a key is
    /// generated into the data directory on first start.
    #[arg(long, global = true, env = "JOURNEY_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,

    /// The erasure register: every person ever erased, re-applied whenever a data directory is
    /// opened or restored, so that no backup brings an erased person back. Keep it with the master
    /// key, outside the data directory. Default: the master key file's path plus `.erasures`.
    #[arg(long, global = true, env = "JOURNEY_ERASURE_REGISTER")]
    erasure_register: Option<PathBuf>,

    /// Where the event log lives: `sled` (embedded in the data directory) or a KurrentDB server by
    /// its connection string (`kurrentdb://USER:PASSWORD@HOST:PORT?tlsCaFile=ca.crt`, also
    /// `esdb://…` and `kurrentdb+discover://…`). Keys, vault, tokens and audit stay in the data
    /// directory either way.
    /// (Parsed by `LogStore::parse`, not by clap, whose message would repeat the password.)
    #[arg(
        long,
        global = true,
        env = "JOURNEY_STORE",
        default_value = "sled",
        hide_env_values = true
    )]
    store: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Imports events from an NDJSON file (one event per line, the export format) through the ledger.
    Import(commands::import::ImportArgs),
    /// Exports the log as NDJSON in global order, payloads decrypted.
    Export(commands::export::ExportArgs),
    /// Shows a person's decoded timeline.
    Show(commands::show::ShowArgs),
    /// Checks both hash chains and that every event decrypts; exits non-zero at the first broken position.
    Verify,
    /// Prints counts of the log.
    Stats,
    /// Computes an indicator of the KPI catalogue (`journey kpi list` lists them).
    Kpi(commands::kpi::KpiArgs),
    /// Writes the council report: every indicator as one self-contained HTML file.
    Report(commands::report::ReportArgs),
    /// Writes a synthetic population (deterministic for a seed) through the ledger.
    Seed(commands::seed::SeedArgs),
    /// The projections (read models and indicators): status and rebuild.
    #[command(subcommand)]
    Projections(commands::projections::ProjectionsCommand),
    /// Erases persons whose case closed longer ago than the retention period.
    #[command(subcommand)]
    Retention(commands::retention::RetentionCommand),
    /// The registers (districts, areas, course providers): import, show, check, map.
    #[command(subcommand)]
    Registers(commands::registers::RegistersCommand),
    /// The audit log: export, verify its hash chain, prune entries past the audit retention.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Key rotation: a new master key (re-seals the epoch key) or a new epoch key (re-wraps every
    /// data key); on a stopped server's data directory.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Writes a backup as of one log position (through the running server when there is one).
    Backup(commands::backup::BackupArgs),
    /// Restores a backup into a new data directory (--data-dir), checked and verified, every
    /// erasure of the erasure register re-applied.
    Restore(commands::restore::RestoreArgs),
    /// Runs the GraphQL server (GraphiQL at /graphql) until SIGTERM or SIGINT.
    Serve(Box<commands::serve::ServeArgs>),
    /// Creates, revokes and lists the API's bearer tokens (works while the server runs).
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Benchmarks of the ledger (prints figures; see README).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Tools for tests; not part of the stable interface.
    #[command(subcommand, hide = true)]
    Debug(commands::debug::DebugCommand),
}

/// The server logs its start, stop and failures (`RUST_LOG=debug` adds every request); the other
/// commands only warnings.
fn default_log_filter(command: &Command) -> &'static str {
    match command {
        Command::Serve(_) => "info",
        _ => "warn",
    }
}

fn main() -> ExitCode {
    // Before the allocator maps much (`memory::no_transparent_huge_pages` says why).
    let small_pages = journey_api::memory::no_transparent_huge_pages();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(default_log_filter(&cli.command))
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if !small_pages {
        tracing::debug!("transparent huge pages stay as the kernel sets them (prctl refused)");
    }
    match fault::armed() {
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
        Ok(Some(point)) => no_core_dump(point),
        Ok(None) => {}
    }
    if !fault::ENABLED && std::env::var_os(fault::ENV).is_some() {
        // Say so rather than let a crash test believe it crashed the process where it asked.
        eprintln!(
            "warning: this journey is built without the fault-injection feature; {} is ignored",
            fault::ENV
        );
    }
    let store = match context::LogStore::parse(&cli.store) {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: --store: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = context::Options {
        data_dir: cli.data_dir,
        master_key_file: cli.master_key_file,
        erasure_register: cli.erasure_register,
        store,
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Import(args) => commands::import::run(&options, args).await,
            Command::Export(args) => commands::export::run(&options, args).await,
            Command::Show(args) => commands::show::run(&options, args).await,
            Command::Verify => commands::verify::run(&options).await,
            Command::Stats => commands::stats::run(&options).await,
            Command::Kpi(args) => commands::kpi::run(&options, args).await,
            Command::Report(args) => commands::report::run(&options, args).await,
            Command::Seed(args) => commands::seed::run(&options, args).await,
            Command::Projections(command) => commands::projections::run(&options, command).await,
            Command::Retention(command) => commands::retention::run(&options, command).await,
            Command::Registers(command) => commands::registers::run(&options, command).await,
            Command::Audit(command) => commands::audit::run(&options, command).await,
            Command::Keys(command) => commands::keys::run(&options, command).await,
            Command::Backup(args) => commands::backup::run(&options, args).await,
            Command::Restore(args) => commands::restore::run(&options, args).await,
            Command::Serve(args) => commands::serve::run(&options, *args).await,
            Command::Token(command) => commands::token::run(&options, command),
            Command::Bench(command) => commands::bench::run(&options, command).await,
            Command::Debug(command) => commands::debug::run(&options, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A process armed with a fault point aborts there on purpose: it writes no core file. CI turns
/// core files on to get the stacks of a test binary that crashes (`.ci/run`), and the crash tests'
/// aborts would otherwise each write one the size of the process's address space (about 1 GB)
/// into the test's directory.
fn no_core_dump(point: fault::FaultPoint) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let set = getrlimit(Resource::RLIMIT_CORE)
        .and_then(|(_, hard)| setrlimit(Resource::RLIMIT_CORE, 0, hard));
    if let Err(error) = set {
        tracing::warn!(%error, fault = point.name(), "the core file size limit stays as it was");
    }
}
