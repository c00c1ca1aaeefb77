//! `journey serve`: runs the API on a socket until SIGTERM or SIGINT.
//!
//! Start, in order: open the data directory, start the projection runner on the same ledger (it
//! loads its snapshot and catches up in the background; `/readyz` answers 503 until it has; once
//! caught up it builds the live views, so the first query finds them ready, then the kept rows of
//! past cuts), seed
//! the demo population and create the demo tokens with `--demo`, bind (and with `--grpc-listen`
//! prepare the gRPC endpoint's TLS identity and bind it too), write `server.json`.
//!
//! Shutdown, in order: stop accepting connections on both listeners, let in-flight requests finish
//! (at most [`ServeConfig::drain_timeout`]), end live subscriptions, give gRPC calls still running
//! the rest of the drain timeout, stop the projections and write their
//! snapshot, close the log (which waits for acknowledged appends to be durable), flush the store,
//! remove `server.json`. What is left then is memory only, handed back as [`Stopped`]: a test drops
//! it, `journey serve` ends the process without freeing it (`api/src/commands/serve.rs`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use journey_projections::kpi::Suppression;
use journey_projections::{Projections, RunnerConfig};
use tokio::net::TcpListener;

use crate::config::Limits;
use crate::context::{CliError, Context, Options};
use crate::grpc::server::GrpcEndpoint;
use crate::server_file::{self, ServerInfo};
use crate::state::AppState;

/// Settings of `journey serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub limits: Limits,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// The retention period of the daily retention run, in years; `None` disables the run.
    pub retention_years: Option<u32>,
    /// Indicator cells about fewer than this many persons are suppressed for every role but
    /// admins.
    pub k_threshold: u32,
    /// Seed a synthetic population into an empty store and print a token per role.
    pub demo: Option<crate::demo::DemoConfig>,
    /// The retention period of audit entries, in years; `None` disables the daily prune.
    pub audit_retention_years: Option<u32>,
    /// Scheduled backups, if any.
    pub backups: Option<crate::backup::online::ScheduleConfig>,
    /// The gRPC endpoint (the KurrentDB client protocol), with `--grpc-listen`.
    pub grpc: Option<crate::grpc::server::GrpcConfig>,
    /// Run as a read replica of this writer (`--replica-of`): follow its `$all`, serve every
    /// query, refuse every write.
    pub replica: Option<crate::replica::ReplicaConfig>,
}

/// Installs the handlers of SIGTERM and SIGINT now and returns a future that resolves on either.
/// The handlers must be in place before the server announces itself in `server.json`: a signal
/// sent right after that must shut it down gracefully, not kill it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match handlers {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                _ => {
                    // Without signal handlers, Ctrl-C through tokio's portable handler still works.
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// How to connect to the gRPC endpoint, printed at start.
fn print_grpc(grpc: &GrpcEndpoint) {
    let address = grpc.address();
    match grpc.ca_file() {
        Some(ca_file) => {
            println!(
                "  gRPC     {address} (KurrentDB client protocol, TLS; CA file {})",
                ca_file.display()
            );
            println!(
                "           kurrentdb://any:TOKEN@{address}?tls=true&tlsCaFile={}",
                ca_file.display()
            );
        }
        None if grpc.is_tls() => {
            println!(
                "  gRPC     {address} (KurrentDB client protocol, TLS with the given certificate)"
            );
            println!("           kurrentdb://any:TOKEN@{address}?tls=true");
        }
        None => {
            println!("  gRPC     {address} (KurrentDB client protocol, insecure: no TLS, no credentials)");
            println!("           kurrentdb://{address}?tls=false");
        }
    }
}

/// What a stopped server still holds once everything durable is flushed and closed (the log with
/// its index checkpoint, the audit log, the store, the projections' snapshot) and `server.json` is
/// removed: the ledger's and the projections' memory, nothing that writes. Dropping it frees that
/// memory one allocation at a time, which took 36 s for 13 GB at a million persons; a process that
/// ends anyway may exit without dropping it and let the system reclaim the memory at once.
#[must_use = "dropping it frees the server's memory; a process about to end may exit instead"]
#[derive(Debug)]
pub struct Stopped {
    pub context: Context,
    pub projections: Projections,
}

pub async fn serve(options: &Options, config: ServeConfig) -> Result<Stopped, CliError> {
    let (context, replica) = match &config.replica {
        None => (Context::open(options).await?, None),
        Some(replica) => {
            let opened = crate::replica::open(options, replica).await?;
            (opened.context, Some((opened.follower, opened.status)))
        }
    };
    let mut runner = RunnerConfig::new(context.data_dir.join("projections"));
    // A replica holds its writer's events in memory only, and its projections with them.
    runner.snapshots = replica.is_none();
    let started = std::time::Instant::now();
    let projections = Projections::start(context.ledger.clone(), runner).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the projections are started (their snapshot loaded; the catch-up runs on)"
    );
    // The snapshot load and the catch-up decode far more than the projections keep: once caught
    // up, give the freed memory back so that the node's resident memory is what it holds. (The
    // projections build the live views themselves once caught up, before the kept rows:
    // `journey_projections::kept_rows`.)
    let trimmed = projections.clone();
    tokio::spawn(async move {
        if trimmed.caught_up().await.is_ok() {
            crate::memory::trim();
        }
    });
    let demo_tokens = match &config.demo {
        Some(demo) => Some(crate::demo::prepare(&context, &projections, demo).await?),
        None => None,
    };
    let started = std::time::Instant::now();
    let state = AppState::with_projections(
        &context,
        config.limits.clone(),
        projections.clone(),
        Suppression {
            k: config.k_threshold,
        },
    )
    .await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the server's state is built (audit log, vault, event hub)"
    );
    if let Some(tokens) = &demo_tokens {
        // Set once, right after the state is built; nothing else sets it.
        let _ = state.demo_tokens.set(tokens.clone());
    }
    let (follower_stop, follower_stopped) = tokio::sync::watch::channel(false);
    let follower_task = replica.map(|(follower, status)| {
        // Set once, before the first request; nothing else sets it.
        let _ = state.replica.set(status);
        tokio::spawn(follower.run(follower_stopped))
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    let address = listener.local_addr()?;
    let grpc = match &config.grpc {
        Some(grpc) => Some(GrpcEndpoint::bind(grpc, &context.data_dir).await?),
        None => None,
    };
    let signal = shutdown_signal();
    let info = ServerInfo {
        pid: std::process::id(),
        listen: address.to_string(),
        started_at: Utc::now(),
        grpc_listen: grpc.as_ref().map(|grpc| grpc.address().to_string()),
        grpc_ca_file: grpc
            .as_ref()
            .and_then(|grpc| grpc.ca_file().map(Path::to_owned)),
    };
    server_file::write(&context.data_dir, &info)?;
    tracing::info!(%address, data_dir = %context.data_dir.display(), "journey serve started");
    println!("journey serve: listening on http://{address}");
    println!("  web      http://{address}/  (the dashboard; the council report at /report)");
    println!(
        "  GraphQL  http://{address}/graphql  (GraphiQL in a browser; WebSocket at /graphql/ws)"
    );
    println!("  health   http://{address}/healthz, /readyz, /metrics");
    if let Some(replica) = state.replica.get() {
        println!(
            "  replica  of {} (queries only; mutations are refused)",
            replica.writer()
        );
    }
    println!(
        "  tokens   journey --data-dir {} token create --role ROLE [--agency AGENCY]",
        context.data_dir.display()
    );
    if let Some(grpc) = &grpc {
        print_grpc(grpc);
    }
    if let Some(tokens) = &demo_tokens {
        crate::demo::print(&address, tokens);
    }

    let (retention_stop, retention_stopped) = tokio::sync::watch::channel(false);
    // A replica erases nothing itself: its writer's retention run does, and the erasures arrive.
    let retention_years = config
        .retention_years
        .filter(|_| state.replica.get().is_none());
    let retention_task = (retention_years.is_some() || config.audit_retention_years.is_some())
        .then(|| {
            tokio::spawn(crate::retention::daily(
                state.clone(),
                retention_years,
                config.audit_retention_years,
                retention_stopped,
            ))
        });
    let backup_task = config.backups.clone().map(|schedule| {
        tokio::spawn(crate::backup::online::scheduled(
            state.clone(),
            schedule,
            retention_stop.subscribe(),
        ))
    });
    let (signalled_sender, signalled) = tokio::sync::oneshot::channel::<()>();
    // The gRPC endpoint stops accepting when the HTTP server does: on the signal, or when the HTTP
    // server ends for another reason (then the sender is set below).
    let (grpc_stop, grpc_stopped) = tokio::sync::watch::channel(false);
    let grpc_stop_on_signal = grpc_stop.clone();
    let graceful = async move {
        signal.await;
        tracing::info!("shutdown signal received: draining in-flight requests");
        grpc_stop_on_signal.send_replace(true);
        let _ = signalled_sender.send(());
    };
    let grpc_task = grpc.map(|grpc| {
        let state = state.clone();
        let mut stopped = grpc_stopped;
        tokio::spawn(grpc.serve(state, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }))
    });
    let server = axum::serve(listener, crate::app(state.clone())).with_graceful_shutdown(graceful);
    let drain_timeout = config.drain_timeout;
    let served = tokio::select! {
        served = server => served.map_err(CliError::from),
        () = async move {
            if signalled.await.is_ok() {
                tokio::time::sleep(drain_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(?drain_timeout, "requests still running after the drain timeout; shutting down anyway");
            Ok(())
        }
    };
    grpc_stop.send_replace(true);
    state.begin_shutdown();
    if let Some(mut task) = grpc_task {
        // Live subscriptions end with `begin_shutdown`; a call that still runs after the drain
        // timeout is cut off, as HTTP requests are.
        match tokio::time::timeout(drain_timeout, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(%error, "the gRPC endpoint failed"),
            Ok(Err(error)) => tracing::error!(%error, "the gRPC endpoint's task failed"),
            Err(_) => {
                tracing::warn!(
                    ?drain_timeout,
                    "gRPC calls still running after the drain timeout; shutting down anyway"
                );
                task.abort();
            }
        }
    }
    retention_stop.send_replace(true);
    if let Some(task) = retention_task {
        // A run in progress finishes its current erasure first; the task ends at its next check.
        let _ = task.await;
    }
    if let Some(task) = backup_task {
        // A backup in progress is finished first: it ends at a position and is renamed whole.
        let _ = task.await;
    }
    follower_stop.send_replace(true);
    if let Some(task) = follower_task {
        let _ = task.await;
    }
    let closed = async {
        projections.shutdown().await?;
        context.log.close().await?;
        state.audit.flush().await?;
        context.store.flush()?;
        Ok::<(), CliError>(())
    }
    .await;
    drop(state);
    let removed = server_file::remove(&context.data_dir);
    served?;
    closed?;
    removed?;
    tracing::info!("journey serve stopped");
    println!("journey serve: stopped");
    Ok(Stopped {
        context,
        projections,
    })
}
