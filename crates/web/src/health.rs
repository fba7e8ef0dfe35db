//! `GET /health` (the process is up) and `GET /ready` (every dependency answers).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use futures_util::future::{join_all, BoxFuture};
use serde_json::{json, Map, Value};

/// One named readiness check.
#[derive(Clone)]
pub struct ReadyCheck {
    /// Shown in the `/ready` body, e.g. `postgres`.
    pub name: &'static str,
    check: Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

impl ReadyCheck {
    /// A check from an async closure.
    pub fn new<F>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        Self {
            name,
            check: Arc::new(check),
        }
    }

    /// Postgres answers `SELECT 1` through the pool.
    pub fn postgres(pool: tollgate_db::PgPool, timeout: Duration) -> Self {
        Self::new("postgres", move || {
            let pool = pool.clone();
            Box::pin(async move {
                tollgate_db::ping(&pool, timeout)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
    }
}

/// All checks `/ready` runs, concurrently, each bounded by `timeout`.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<ReadyCheck>,
    timeout: Duration,
}

impl Readiness {
    /// Readiness over `checks`, each failing after `timeout`.
    pub fn new(checks: Vec<ReadyCheck>, timeout: Duration) -> Self {
        Self { checks, timeout }
    }

    /// Run every check; `Ok` maps name → "ok", `Err` maps name → "ok" or the failure.
    pub async fn run(&self) -> Result<Map<String, Value>, Map<String, Value>> {
        let results = join_all(self.checks.iter().map(|c| async move {
            let outcome = tokio::time::timeout(self.timeout, (c.check)())
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
            (c.name, outcome)
        }))
        .await;
        let mut all_ok = true;
        let mut map = Map::new();
        for (name, outcome) in results {
            let value = match outcome {
                Ok(()) => "ok".to_owned(),
                Err(e) => {
                    all_ok = false;
                    tracing::warn!(check = name, error = %e, "readiness check failed");
                    e
                }
            };
            map.insert(name.to_owned(), Value::String(value));
        }
        if all_ok {
            Ok(map)
        } else {
            Err(map)
        }
    }
}

/// Register `/health` and `/ready`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.run().await {
        Ok(checks) => HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks })),
        Err(checks) => HttpResponse::ServiceUnavailable().json(json!({
            "success": false,
            "error": { "code": "not_ready", "message": "a dependency is unavailable" },
            "checks": checks,
        })),
    }
}
