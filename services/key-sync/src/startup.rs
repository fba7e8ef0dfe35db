//! Wiring: settings → migrated pool → key service, sync worker, reconcile loop → server.

use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio_util::sync::CancellationToken;
use tollgate_web::Application;

use crate::gateway::database::DatabaseGateway;
use crate::gateway::import::ImportGateway;
use crate::gateway::token_cache::TokenCacheInvalidator;
use crate::gateway::Gateway;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::settings::{Settings, SyncMode};
use crate::state::AppState;
use crate::sync::{worker, Syncer};
use crate::{routes, SERVICE};
use tollgate_supabase_auth::JwtVerifier;
use tollgate_web::InternalToken;

/// Users given a key per reconcile pass.
const RECONCILE_LIMIT: i64 = 1_000;

/// The gateway of `NEWAPI_SYNC_MODE`.
pub fn gateway(settings: &Settings) -> anyhow::Result<Arc<dyn Gateway>> {
    let ks = &settings.key_sync;
    Ok(match settings.mode {
        SyncMode::Import => Arc::new(ImportGateway::new(
            &ks.newapi_base_url,
            ks.newapi_admin_token.expose_secret(),
            settings.newapi_timeout(),
        )),
        SyncMode::Database => {
            let url = ks.newapi_database_url.as_ref().ok_or_else(|| {
                anyhow::anyhow!("NEWAPI_DATABASE_URL is required in database mode")
            })?;
            let pool = tollgate_newapi_schema::NewapiPool::with_server_timeouts(
                url.expose_secret(),
                ks.newapi_pool_size,
                settings.newapi_timeout(),
                settings.newapi_timeout(),
            )?;
            Arc::new(DatabaseGateway::new(
                pool,
                settings.provisioning(),
                ks.key_encryption_key.expose_secret().as_bytes(),
                settings.newapi_timeout(),
            ))
        }
    })
}

/// Build the service against the configured new-api.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let gateway = gateway(&settings)?;
    build_with(settings, gateway).await
}

/// Build the service with any gateway: refuse an unreachable or unmigrated database, then
/// bind and attach the sync worker and the periodic reconcile.
pub async fn build_with(
    settings: Settings,
    gateway: Arc<dyn Gateway>,
) -> anyhow::Result<Application> {
    let pool = tollgate_web::cli::connect_migrated(SERVICE, &settings.common).await?;
    let registry = prometheus::Registry::new();
    let metrics = Metrics::register(&registry)?;
    let ks = &settings.key_sync;
    let cache = match (&ks.newapi_redis_url, &ks.newapi_crypto_secret) {
        (Some(url), Some(secret)) => Some(
            TokenCacheInvalidator::new(
                url.expose_secret(),
                secret.expose_secret(),
                settings.newapi_timeout(),
            )
            .map_err(|e| anyhow::anyhow!("NEWAPI_REDIS_URL: {e}"))?,
        ),
        _ => None,
    };
    tracing::info!(
        mode = gateway.mode(),
        invalidates_token_cache = cache.is_some(),
        "new-api sync mode"
    );
    let syncer = Arc::new(Syncer::new(
        pool.clone(),
        gateway,
        cache,
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
        invalidates_cache: syncer.invalidates_cache(),
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
        crate::api_doc::document(),
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
            Ok(report) if report.created > 0 || report.retried > 0 || report.deleted > 0 => {
                tracing::info!(
                    created = report.created,
                    retried = report.retried,
                    deleted = report.deleted,
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
