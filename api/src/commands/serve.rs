//! `journey serve`: the GraphQL server, and with `--grpc-listen` the KurrentDB client protocol.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use journey_api::auth::Role;
use journey_api::config::Limits;
use journey_api::demo::DemoConfig;
use journey_api::grpc::server::GrpcFlags;
use journey_api::server::{self, ServeConfig};

use crate::context::{CliError, Options};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port; `server.json` in the data directory
    /// tells which).
    #[arg(long, default_value = "127.0.0.1:8080", env = "JOURNEY_LISTEN")]
    pub listen: SocketAddr,
    /// The deepest nesting of a query.
    #[arg(long, default_value_t = Limits::default().depth_max)]
    pub depth_max: usize,
    /// The largest complexity of a query (about the number of fields selected).
    #[arg(long, default_value_t = Limits::default().complexity_max)]
    pub complexity_max: usize,
    /// The most fields a query may select: every alias, `__typename` and the fields of every
    /// fragment spread count.
    #[arg(long, default_value_t = Limits::default().fields_max)]
    pub fields_max: usize,
    /// The largest page (`first`) of a paginated query.
    #[arg(long, default_value_t = Limits::default().page_size_max)]
    pub page_size_max: usize,
    /// The largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().request_body_bytes_max)]
    pub request_body_bytes_max: usize,
    /// Requests per second per token, on average (0: no limit).
    #[arg(long, default_value_t = Limits::default().rate_per_second)]
    pub rate_per_second: u32,
    /// Requests a token may send at once before the rate applies.
    #[arg(long, default_value_t = Limits::default().rate_burst)]
    pub rate_burst: u32,
    /// How long one request may take, in milliseconds.
    #[arg(long, default_value_t = Limits::default().request_timeout.as_millis() as u64)]
    pub request_timeout_ms: u64,
    /// How long a request with a `knownAt` the projections have not reached waits for them before
    /// it is refused, in milliseconds.
    #[arg(long, default_value_t = Limits::default().known_at_wait.as_millis() as u64)]
    pub known_at_wait_ms: u64,
    /// How long in-flight requests may take to finish after SIGTERM, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub drain_timeout_ms: u64,
    /// The daily retention run erases persons whose case closed this many years ago (0: no run).
    #[arg(long, default_value_t = journey_api::retention::RETENTION_YEARS_DEFAULT)]
    pub retention_years: u32,
    /// Indicator cells about fewer than K persons (and the cells that would reveal them) are
    /// suppressed for every role but admins; 0 turns suppression off.
    #[arg(long, default_value_t = 3)]
    pub k_threshold: u32,
    /// Seed a synthetic population when the store is empty and print a token per role.
    #[arg(long)]
    pub demo: bool,
    /// The persons `--demo` seeds into an empty store.
    #[arg(long, default_value_t = journey_api::demo::DEMO_PEOPLE)]
    pub demo_people: usize,
    /// The least time between two pushes of one `kpiChanged` subscription: a whole number of
    /// seconds, minutes or hours (`60s`, `5m`, `1h`), from 1s to 24h. Where answers are
    /// suppressed, a push also waits until at least K persons count differently in the table.
    #[arg(long, default_value = "60s", value_parser = journey_api::kpi_push::parse_push_interval)]
    pub kpi_push_interval: Duration,
    /// The daily retention run prunes audit entries older than this many years (0: no prune).
    #[arg(long, default_value_t = journey_api::retention::AUDIT_RETENTION_YEARS_DEFAULT)]
    pub audit_retention_years: u32,
    /// Take a backup this often (`30m`, `6h`, `1d`) into --backup-dir, keeping --backup-keep.
    #[arg(long, value_parser = journey_api::backup::online::parse_backup_interval, requires = "backup_dir")]
    pub backup_every: Option<Duration>,
    /// Where scheduled backups go, one directory `backup-<UTC time>` each; keep it on another
    /// volume than the data directory.
    #[arg(long, requires = "backup_every")]
    pub backup_dir: Option<std::path::PathBuf>,
    /// How many scheduled backups to keep; older ones are removed after each new one.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: u32,
    /// Serve the EventStoreDB/KurrentDB client protocol (gRPC, HTTP/2) on this address too, with TLS
    /// unless --grpc-insecure; port 0 picks a free port (`server.json` tells which).
    #[arg(long, env = "JOURNEY_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,
    /// The gRPC endpoint's certificate chain (PEM); without it, a CA and a certificate are
    /// generated into <data-dir>/grpc-tls/ on first start and reused.
    #[arg(long, requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --grpc-tls-cert.
    #[arg(long, requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<PathBuf>,
    /// Another name (DNS name or IP address) the generated certificate carries besides localhost,
    /// 127.0.0.1 and ::1; repeatable.
    #[arg(long)]
    pub grpc_tls_san: Vec<String>,
    /// Serve the gRPC endpoint without TLS and without checking credentials (loopback addresses
    /// only), like KurrentDB's insecure mode; every call runs as --grpc-insecure-role.
    #[arg(long)]
    pub grpc_insecure: bool,
    /// The role every call runs as with --grpc-insecure; without it every call is refused.
    #[arg(long)]
    pub grpc_insecure_role: Option<Role>,
    /// Run as a read replica of the writer whose gRPC endpoint this connection string names
    /// (`kurrentdb://NAME:TOKEN@writer:2113?tlsCaFile=ca.pem`, TOKEN of the writer's `replica`
    /// role): follow its `$all` into memory, serve every query, refuse every mutation.
    /// (Checked by `serve`, not by clap, whose message would repeat the token.)
    #[arg(
        long,
        env = "JOURNEY_REPLICA_OF",
        hide_env_values = true,
        conflicts_with_all = ["demo", "grpc_listen", "backup_every"]
    )]
    pub replica_of: Option<String>,
    /// Where a replica's clients send writes (the writer's GraphQL URL), named in the error every
    /// mutation gets; without it the error names the writer's gRPC address.
    #[arg(long, requires = "replica_of")]
    pub writer_url: Option<String>,
    /// The writer's key of the analysts' pseudonyms (`journey keys pseudonym-key --out FILE` on
    /// the writer), so that this replica's analysts see the writer's pseudonyms; without it the
    /// replica derives its own from its own master key.
    #[arg(long, requires = "replica_of")]
    pub pseudonym_key_file: Option<std::path::PathBuf>,
}

pub async fn run(options: &Options, args: ServeArgs) -> Result<ExitCode, CliError> {
    let grpc = GrpcFlags {
        listen: args.grpc_listen,
        tls_cert: args.grpc_tls_cert,
        tls_key: args.grpc_tls_key,
        tls_san: args.grpc_tls_san,
        insecure: args.grpc_insecure,
        insecure_role: args.grpc_insecure_role,
    }
    .check()?;
    let replica = match args.replica_of {
        None => None,
        Some(connection) if journey_core::log::kurrent::is_connection_string(&connection) => {
            Some(journey_api::replica::ReplicaConfig {
                connection,
                writer_url: args.writer_url,
                pseudonym_key_file: args.pseudonym_key_file,
            })
        }
        Some(connection) => {
            return Err(format!(
                "--replica-of: `{}` is not a KurrentDB connection string; write the writer's gRPC endpoint as `kurrentdb://NAME:TOKEN@writer:2113?tlsCaFile=ca.pem` (TOKEN of its `replica` role)",
                journey_core::log::kurrent::redact(&connection)
            )
            .into())
        }
    };
    let config = ServeConfig {
        listen: args.listen,
        limits: Limits {
            depth_max: args.depth_max,
            complexity_max: args.complexity_max,
            fields_max: args.fields_max,
            page_size_max: args.page_size_max,
            request_body_bytes_max: args.request_body_bytes_max,
            rate_per_second: args.rate_per_second,
            rate_burst: args.rate_burst,
            request_timeout: Duration::from_millis(args.request_timeout_ms),
            kpi_push_interval: args.kpi_push_interval,
            known_at_wait: Duration::from_millis(args.known_at_wait_ms),
        },
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        retention_years: (args.retention_years > 0).then_some(args.retention_years),
        k_threshold: args.k_threshold,
        demo: args.demo.then_some(DemoConfig {
            people: args.demo_people,
        }),
        audit_retention_years: (args.audit_retention_years > 0)
            .then_some(args.audit_retention_years),
        backups: args.backup_every.zip(args.backup_dir).map(|(every, dir)| {
            journey_api::backup::online::ScheduleConfig {
                every,
                dir,
                keep: args.backup_keep as usize,
            }
        }),
        grpc,
        replica,
    };
    let stopped = server::serve(options, config).await?;
    exit_without_freeing(stopped)
}

/// Ends the process at once after a clean stop. Everything durable is flushed and closed by then
/// ([`server::Stopped`] says what), so nothing is lost by not running the destructors: what they
/// would do is free the ledger's and the projections' memory one allocation at a time (36 s for
/// 13 GB at a million persons) and wait for the runtime's blocking tasks (a build of the kept rows
/// under way), work the system does at once when the process ends. Only the binary does this;
/// tests that serve in-process drop the state.
fn exit_without_freeing(stopped: server::Stopped) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::mem::forget(stopped);
    std::process::exit(0)
}
