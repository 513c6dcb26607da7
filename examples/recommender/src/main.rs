//! The `cairn-recommender` binary: parse the config, log, listen, serve until SIGTERM.

use clap::Parser;
use tokio::net::TcpListener;

use cairn_recommender::{serve, Config};

/// mimalloc rather than the system allocator: applying records and answering requests
/// allocate many small values from several threads, and glibc's malloc took ~40% of
/// the service's CPU under the load bench (perf), and kept freed copy-on-write shards
/// as resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs on stderr: stdout carries only the "listening on" line scripts read.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .compact()
        .init();
    // A missing key or a bad rule stops the service before it claims to listen.
    if let Err(e) = config
        .secrets()
        .and_then(|_| cairn_recommender::rules::Rules::load(config.rules.as_deref()))
    {
        tracing::error!(error = %e, "cannot start");
        return std::process::ExitCode::FAILURE;
    }
    let listener = match TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.listen, error = %e, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().expect("bound address");
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("cairn-recommender listening on http://{address}");
    match serve(config, listener, shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "recommender failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
