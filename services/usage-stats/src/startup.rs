//! Wiring: settings → Tollgate's migrated pool and new-api's pools → server.

use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tollgate_newapi_schema::NewapiPool;
use tollgate_web::{Application, ReadyCheck};

use tollgate_domain::ids::UserId;
use tollgate_supabase_auth::JwtVerifier;

use crate::clickhouse::{dsn, ChError, ChLogs, ClickHouse};
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
    let clickhouse = match &settings.usage.newapi_log_database_url {
        Some(url) => {
            clickhouse_logs(url.expose_secret(), settings.usage.clickhouse_timeout_ms).await?
        }
        None => None,
    };
    if let Some(ch) = &clickhouse {
        checks.push(clickhouse_check(ch.clone()));
    }
    // One pool for the logs database serves ingest, queries and readiness.
    let logs = match &settings.usage.newapi_log_database_url {
        Some(url) if clickhouse.is_none() => {
            let logs = NewapiPool::new(
                url.expose_secret(),
                settings.usage.newapi_pool_size,
                timeout,
            )?;
            checks.push(newapi_check("newapi_log_db", logs.clone()));
            logs
        }
        _ => newapi.clone(),
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
        // The cache follows the ingest's versions; ClickHouse answers are read fresh.
        results: match clickhouse {
            Some(_) => None,
            None => crate::query::cache::ResultCache::new(settings.usage.result_cache_mb),
        },
        clickhouse: clickhouse.clone(),
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
    let app = app.with_task("rate-limit-gc", move |stop| {
        forget_idle_keys(idle_limiter, idle_users, stop)
    });
    // With the logs in ClickHouse there is nothing to ingest.
    Ok(match clickhouse {
        Some(_) => app,
        None => app.with_task("ingest", move |stop| {
            ingest::worker(ingester, ingest_every, stop)
        }),
    })
}

/// new-api's logs in ClickHouse when `url` names it. The server is asked its version once:
/// a URL naming the native port stops the start with what to change; an unreachable server
/// is only logged (readiness reports it, and answers are 503 until it is back).
async fn clickhouse_logs(url: &str, timeout_ms: u64) -> anyhow::Result<Option<ChLogs>> {
    let Some(target) = dsn::parse(url).map_err(anyhow::Error::msg)? else {
        return Ok(None);
    };
    let (base, database) = (target.base.clone(), target.database.clone());
    let client = ClickHouse::new(target, Duration::from_millis(timeout_ms))?;
    match client.version().await {
        Ok(version) => {
            tracing::info!(%base, %database, %version, "new-api's logs are read from ClickHouse")
        }
        Err(e @ ChError::NativePort(_)) => return Err(e.into()),
        Err(e) => tracing::warn!(%base, error = %e, "ClickHouse does not answer yet"),
    }
    Ok(Some(ChLogs::new(client)))
}

fn clickhouse_check(logs: ChLogs) -> ReadyCheck {
    ReadyCheck::new("clickhouse", move || {
        let logs = logs.clone();
        Box::pin(async move {
            logs.client()
                .version()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    })
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
