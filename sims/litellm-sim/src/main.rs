//! `litellm-sim`: the LiteLLM proxy simulator as a standalone server.
//!
//! Environment: `PORT` (default 4000), `LITELLM_MASTER_KEY` (required, `sk-…`), `WEBHOOK_URL`
//! (optional receiver of budget alerts, as LiteLLM's own setting). A bad or missing setting
//! prints one line naming it and exits with code 2. Binds `0.0.0.0:PORT`.

use std::io::IsTerminal;
use std::net::{Ipv4Addr, TcpListener};
use std::process::ExitCode;

use litellm_sim::Settings;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("litellm-sim: {error}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, settings.port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "litellm-sim: cannot bind 0.0.0.0:{}: {error}",
                settings.port
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("litellm-sim: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings, listener)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("litellm-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings, listener: TcpListener) -> anyhow::Result<()> {
    tracing::info!(
        port = settings.port,
        webhook_url = ?settings.sim.webhook_url,
        "starting litellm-sim"
    );
    let sim = litellm_sim::spawn(settings.sim, listener).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    sim.stop().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (what `docker stop` sends).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
