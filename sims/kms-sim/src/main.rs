//! `kms-sim`: the KMS simulator as a standalone server.
//!
//! Environment: `PORT` (default 8089), `KMS_WEBHOOK_URL` (optional receiver of the limit
//! webhook), `LITELLM_WEBHOOK_SECRET` (required when `KMS_WEBHOOK_URL` is set). A bad or
//! missing setting prints one line naming it and exits with code 2. Binds `0.0.0.0:PORT`.

use std::process::ExitCode;

use kms_sim::Settings;
use sim_faults::serve;

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("kms-sim: {error}");
            return ExitCode::from(2);
        }
    };
    serve::run("kms-sim", settings.port, |listener, shutdown| async move {
        tracing::info!(
            port = settings.port,
            webhook_secret_set = !settings.sim.webhook_secret.is_empty(),
            "starting kms-sim"
        );
        let sim = kms_sim::spawn(settings.sim, listener).await?;
        shutdown.wait().await;
        tracing::info!("shutting down");
        sim.stop().await;
        Ok(())
    })
}
