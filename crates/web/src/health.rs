//! `GET /health` (the process is up) and `GET /ready` (every dependency answers).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use futures_util::future::{join_all, BoxFuture};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::ErrorDetail;

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

/// `GET /health`'s answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthAnswer {
    /// Always `ok`.
    pub status: String,
}

/// `GET /ready`'s answer when every dependency answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadyAnswer {
    /// Always `ready`.
    pub status: String,
    /// Check name → `ok`.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub checks: Map<String, Value>,
}

/// `GET /ready`'s answer when a dependency does not: the error shape plus every check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotReadyAnswer {
    /// Always `false`.
    pub success: bool,
    /// `not_ready`.
    pub error: ErrorDetail,
    /// Check name → `ok` or what failed.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub checks: Map<String, Value>,
}

/// `GET /health`: the process is up.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    responses((status = 200, description = "The process is up.", body = HealthAnswer))
)]
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthAnswer {
        status: "ok".into(),
    })
}

/// `GET /ready`: every dependency answers.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "service",
    responses(
        (status = 200, description = "Every dependency answers.", body = ReadyAnswer),
        (status = 503, description = "A dependency does not answer.", body = NotReadyAnswer),
    )
)]
pub(crate) async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    match readiness.run().await {
        Ok(checks) => HttpResponse::Ok().json(ReadyAnswer {
            status: "ready".into(),
            checks,
        }),
        Err(checks) => HttpResponse::ServiceUnavailable().json(NotReadyAnswer {
            success: false,
            error: ErrorDetail {
                code: "not_ready".into(),
                message: "a dependency is unavailable".into(),
            },
            checks,
        }),
    }
}
