//! Wiring: settings → migrated pool → server.

use tollgate_web::Application;

use crate::settings::Settings;
use crate::{routes, SERVICE};

/// Build the service: refuse an unreachable or unmigrated database, then bind.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let pool = tollgate_web::cli::connect_migrated(SERVICE, &settings.common).await?;
    let registry = prometheus::Registry::new();
    Application::start(
        SERVICE,
        &settings.common,
        pool,
        registry,
        Vec::new(),
        routes::configure,
    )
}

/// Build and serve until SIGTERM/SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    build(settings).await?.run_until_stopped().await?;
    Ok(())
}
