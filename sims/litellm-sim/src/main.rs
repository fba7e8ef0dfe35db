//! `litellm-sim`: the LiteLLM proxy simulator as a standalone server.
//!
//! Environment: `PORT` (default 4000), `LITELLM_MASTER_KEY` (required, `sk-…`), `WEBHOOK_URL`
//! (optional receiver of budget alerts, as LiteLLM's own setting). A bad or missing setting
//! prints one line naming it and exits with code 2. Binds `0.0.0.0:PORT`.

use std::process::ExitCode;

use litellm_sim::Settings;
use sim_faults::serve;

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("litellm-sim: {error}");
            return ExitCode::from(2);
        }
    };
    serve::run(
        "litellm-sim",
        settings.port,
        |listener, shutdown| async move {
            tracing::info!(
                port = settings.port,
                webhook_url = ?settings.sim.webhook_url,
                "starting litellm-sim"
            );
            let sim = litellm_sim::spawn(settings.sim, listener).await?;
            shutdown.wait().await;
            tracing::info!("shutting down");
            sim.stop().await;
            Ok(())
        },
    )
}
