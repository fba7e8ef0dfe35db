//! Wiring: settings → Tollgate's migrated pool and new-api's pools → server.

use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tollgate_newapi_schema::NewapiPool;
use tollgate_web::{Application, ReadyCheck};

use tollgate_domain::ids::UserId;
use tollgate_supabase_auth::JwtVerifier;

use crate::directory::{KeyDirectory, KeySyncDirectory};
use crate::edges::KeyLimiter;
use crate::ingest::{self, GapPolicy, Ingester};
use crate::settings::Settings;
use crate::state::AppState;
use crate::tokens::TokenCache;
use crate::{routes, SERVICE};

/// Build the service: refuse an unreachable or unmigrated Tollgate database, then bind.
/// `/ready` also requires new-api's database(s) to answer.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let pool = tollgate_web::cli::connect_migrated(SERVICE, &settings.common).await?;
    let timeout = Duration::from_secs(settings.common.db_connect_timeout_secs);
    let newapi = NewapiPool::new(
        settings.usage.newapi_database_url.expose_secret(),
        settings.usage.newapi_pool_size,
        timeout,
    )?;
    let mut checks = vec![newapi_check("newapi_db", newapi.clone())];
    // One pool for the logs database serves ingest, queries and readiness.
    let logs = match &settings.usage.newapi_log_database_url {
        Some(url) => {
            let logs = NewapiPool::new(
                url.expose_secret(),
                settings.usage.newapi_pool_size,
                timeout,
            )?;
            checks.push(newapi_check("newapi_log_db", logs.clone()));
            logs
        }
        None => newapi.clone(),
    };
    let ingester = Ingester {
        tollgate: pool.clone(),
        logs: logs.clone(),
        batch: settings.usage.ingest_batch,
        gaps: GapPolicy {
            grace: Duration::from_secs(settings.usage.ingest_gap_grace_secs),
            max_waiting: settings.usage.ingest_max_gaps,
        },
    };
    let ingest_every = Duration::from_millis(settings.usage.ingest_interval_ms);
    let limiter = web::Data::new(KeyLimiter::<i64>::new(settings.usage.rate_limit_per_min));
    let user_limiter = web::Data::new(KeyLimiter::<UserId>::new(settings.usage.rate_limit_per_min));
    let idle_users = user_limiter.clone();
    let verifier = web::Data::new(JwtVerifier::new(
        settings.usage.supabase_jwt_secret.clone(),
        settings.usage.supabase_url.clone(),
        Duration::from_secs(settings.usage.jwks_cache_secs),
    ));
    let directory = settings.usage.key_sync_url.as_deref().map(|url| {
        Arc::new(KeySyncDirectory::new(
            url,
            settings
                .usage
                .internal_token
                .as_ref()
                .map_or("", |t| t.expose_secret()),
            Duration::from_millis(settings.usage.key_sync_timeout_ms),
            Duration::from_millis(settings.usage.user_keys_cache_ms),
        )) as Arc<dyn KeyDirectory>
    });
    let cors_origins = settings.usage.cors_origins.clone();
    let idle_limiter = limiter.clone();
    let tokens = web::Data::new(TokenCache::new(
        newapi,
        Duration::from_millis(settings.usage.token_cache_ms),
    ));
    let state = web::Data::new(AppState {
        quota_per_unit: settings.usage.quota_per_unit,
        pool: pool.clone(),
        logs,
        results: crate::query::cache::ResultCache::new(settings.usage.result_cache_mb),
        directory,
    });
    let app = Application::start(
        SERVICE,
        &settings.common,
        pool,
        prometheus::Registry::new(),
        checks,
        crate::api_doc::document(),
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(tokens.clone())
                .app_data(state.clone())
                .app_data(limiter.clone())
                .app_data(user_limiter.clone())
                .app_data(verifier.clone())
                .configure(|cfg| routes::configure(cfg, &cors_origins));
        },
    )?;
    Ok(app
        .with_task("ingest", move |stop| {
            ingest::worker(ingester, ingest_every, stop)
        })
        .with_task("rate-limit-gc", move |stop| {
            forget_idle_keys(idle_limiter, idle_users, stop)
        }))
}

/// Keep the limiter's memory bounded by dropping quiet keys every minute.
async fn forget_idle_keys(
    limiter: web::Data<Option<KeyLimiter>>,
    users: web::Data<Option<KeyLimiter<UserId>>>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Some(l) = limiter.as_ref() {
            l.forget_idle();
        }
        if let Some(l) = users.as_ref() {
            l.forget_idle();
        }
    }
}

fn newapi_check(name: &'static str, pool: NewapiPool) -> ReadyCheck {
    ReadyCheck::new(name, move || {
        let pool = pool.clone();
        Box::pin(async move {
            pool.ping(Duration::from_secs(2))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// Build and serve until SIGTERM/SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    build(settings).await?.run_until_stopped().await?;
    Ok(())
}
