//! The `cairn-collector` binary: parse the config, log, listen, serve until SIGTERM.

use clap::Parser;
use tokio::net::TcpListener;

use cairn_collector::{serve, Config};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    // Every file the collector creates (log, index, keys) is for its owner only: 0600
    // files and 0700 directories, sled's included.
    // SAFETY: umask only sets the process's file-creation mask; no memory is involved.
    unsafe { libc::umask(0o077) };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("CAIRN_LOG_FORMAT").as_deref() == Ok("json") {
        logs.json().init();
    } else {
        logs.compact().init();
    }
    let listener = match TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %config.listen, error = %e, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(data_dir = %config.data_dir.display(), "starting");
    match serve(config, listener, shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "collector failed");
            eprintln!("cairn-collector: {e}");
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
