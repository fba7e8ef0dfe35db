//! Wiring: settings → migrated pool → key service, sync worker, reconcile loop → server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio_util::sync::CancellationToken;
use tollgate_web::Application;

use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::newapi::{NewApiClient, TokenImporter};
use crate::settings::Settings;
use crate::state::AppState;
use crate::sync::{worker, Syncer};
use crate::{routes, SERVICE};
use tollgate_supabase_auth::JwtVerifier;
use tollgate_web::InternalToken;

/// Users given a key per reconcile pass.
const RECONCILE_LIMIT: i64 = 1_000;

/// Build the service against the real new-api.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let importer = NewApiClient::new(
        &settings.key_sync.newapi_base_url,
        &settings.key_sync.newapi_admin_token,
        settings.newapi_timeout(),
    );
    build_with(settings, Arc::new(importer)).await
}

/// Build the service with any importer: refuse an unreachable or unmigrated database, then
/// bind and attach the sync worker and the periodic reconcile.
pub async fn build_with(
    settings: Settings,
    importer: Arc<dyn TokenImporter>,
) -> anyhow::Result<Application> {
    let pool = tollgate_web::cli::connect_migrated(SERVICE, &settings.common).await?;
    let registry = prometheus::Registry::new();
    let metrics = Metrics::register(&registry)?;
    let ks = &settings.key_sync;
    let syncer = Arc::new(Syncer::new(
        pool.clone(),
        importer,
        settings.cipher.clone(),
        metrics.clone(),
        settings.backoff(),
        settings.newapi_timeout(),
    ));
    let keys = Keys::new(
        pool.clone(),
        settings.cipher.clone(),
        syncer.clone(),
        metrics,
        ks.max_keys_per_user,
    );
    let state = web::Data::new(AppState {
        keys,
        pool: pool.clone(),
        webhook_secret: ks.supabase_webhook_secret.clone(),
        max_keys_per_user: ks.max_keys_per_user,
        reconcile_limit: RECONCILE_LIMIT,
        sync_batch: ks.sync_batch_size,
    });
    let verifier = web::Data::new(JwtVerifier::new(
        ks.supabase_jwt_secret.clone(),
        ks.supabase_url.clone(),
        Duration::from_secs(ks.jwks_cache_secs),
    ));
    let internal = web::Data::new(InternalToken(ks.internal_token.clone()));
    let app_state = state.clone();
    let app = Application::start(
        SERVICE,
        &settings.common,
        pool,
        registry,
        Vec::new(),
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(app_state.clone())
                .app_data(verifier.clone())
                .app_data(internal.clone())
                .configure(routes::configure);
        },
    )?;
    let interval = Duration::from_millis(ks.sync_interval_ms);
    let batch = ks.sync_batch_size;
    let reconcile_every = Duration::from_secs(ks.reconcile_interval_secs);
    Ok(app
        .with_task("sync-worker", move |stop| {
            worker(syncer, interval, batch, stop)
        })
        .with_task("reconcile", move |stop| {
            reconcile_loop(state, reconcile_every, stop)
        }))
}

/// Reconcile every `every` (never when `every` is zero).
async fn reconcile_loop(state: web::Data<AppState>, every: Duration, stop: CancellationToken) {
    if every.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match state
            .keys
            .reconcile(state.reconcile_limit, state.sync_batch)
            .await
        {
            Ok(report) if report.created > 0 || report.retried > 0 => {
                tracing::info!(
                    created = report.created,
                    retried = report.retried,
                    "reconciled"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconcile failed"),
        }
    }
}

/// Build and serve until SIGTERM/SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    build(settings).await?.run_until_stopped().await?;
    Ok(())
}
