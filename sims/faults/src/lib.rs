//! Fault injection for the simulators, switchable at run time.
//!
//! A simulator wraps its app in [`middleware`] and registers [`control_routes`];
//! tests (or a person with curl) then set faults with
//! `POST /_sim/faults {"mode":"error","status":503,"path_prefix":"/api/token/import","count":3}`
//! (optionally `"method":"PUT"`: only requests with that method match),
//! read them with `GET /_sim/faults` and clear them with `DELETE /_sim/faults`.
//! In-process tests can hold the [`Faults`] handle and call [`Faults::push`] directly.
//!
//! Modes:
//! - `error`: answer `status` (default 500) with a JSON error body;
//! - `success_false`: answer HTTP 200 with `{"success":false,"message":…}` (new-api's habit);
//! - `delay`: sleep `delay_ms` and then serve normally (slowness, or a hang past a client's timeout);
//! - `drop`: close the TCP connection without sending any response.
//!
//! Paths under `/_sim/` are never faulted, so the control plane always answers.

pub mod serve;

use std::any::Any;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

/// What a matching request experiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Answer with an HTTP error status.
    Error,
    /// Answer HTTP 200 with `success:false`.
    SuccessFalse,
    /// Sleep, then serve the request normally.
    Delay,
    /// Close the connection without an answer.
    Drop,
}

/// One fault rule. Rules are checked in insertion order; the first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// What happens to a matching request.
    pub mode: FaultMode,
    /// Status for [`FaultMode::Error`] (default 500).
    #[serde(default)]
    pub status: Option<u16>,
    /// Sleep for [`FaultMode::Delay`] in milliseconds (default 1000).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Only requests whose path starts with this prefix match (default: all).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only requests with this HTTP method match, compared case-insensitively (default: all).
    #[serde(default)]
    pub method: Option<String>,
    /// Apply to this many matching requests, then remove the rule (default: until cleared).
    #[serde(default)]
    pub count: Option<u32>,
}

impl FaultRule {
    /// A rule of `mode` that matches every request until cleared.
    pub fn new(mode: FaultMode) -> Self {
        Self {
            mode,
            status: None,
            delay_ms: None,
            path_prefix: None,
            method: None,
            count: None,
        }
    }

    /// Restrict the rule to paths starting with `prefix`.
    pub fn path(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    /// Restrict the rule to requests with this HTTP method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    /// Apply the rule to the next `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }

    /// Status code for an `error` rule.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Delay for a `delay` rule.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(status) = self.status {
            if !(100..=599).contains(&status) {
                return Err(format!("status {status} is not an HTTP status"));
            }
        }
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        Ok(())
    }
}

/// The shared, mutable set of active fault rules of one simulator.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<FaultRule>>>,
}

impl Faults {
    /// Add a rule after the existing ones.
    pub fn push(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Remove every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The active rules.
    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// The first rule matching `method` and `path`, consuming one use of a counted rule.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultRule> {
        if path.starts_with("/_sim/") {
            return None;
        }
        let mut rules = self.lock();
        let index = rules.iter().position(|r| r.matches(method, path))?;
        let rule = rules[index].clone();
        if let Some(left) = rules[index].count.as_mut() {
            *left -= 1;
            if *left == 0 {
                rules.remove(index);
            }
        }
        Some(rule)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A duplicate handle on the accepted socket, so a handler can cut the connection.
#[derive(Clone)]
struct ConnSocket(Arc<socket2::Socket>);

/// Pass to `HttpServer::on_connect` so that `drop` faults can close connections.
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Ok(socket) = socket2::SockRef::from(stream).try_clone() {
            ext.insert(ConnSocket(Arc::new(socket)));
        }
    }
}

/// Actix middleware (use with `actix_web::middleware::from_fn`) applying the active faults.
/// The [`Faults`] handle must be registered as `web::Data<Faults>`.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let rule = req
        .app_data::<web::Data<Faults>>()
        .and_then(|faults| faults.take(req.method().as_str(), req.path()));
    let Some(rule) = rule else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    tracing::info!(path = req.path(), mode = ?rule.mode, "injecting fault");
    match rule.mode {
        FaultMode::Delay => {
            tokio::time::sleep(Duration::from_millis(rule.delay_ms.unwrap_or(1000))).await;
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        FaultMode::Error => {
            let status = actix_web::http::StatusCode::from_u16(rule.status.unwrap_or(500))
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            let body = serde_json::json!({
                "success": false,
                "message": "simulated error",
                "detail": "simulated error",
            });
            Ok(req.into_response(HttpResponse::build(status).json(body)))
        }
        FaultMode::SuccessFalse => {
            let body = serde_json::json!({"success": false, "message": "simulated failure"});
            Ok(req.into_response(HttpResponse::Ok().json(body)))
        }
        FaultMode::Drop => {
            if let Some(ConnSocket(socket)) = req.conn_data::<ConnSocket>() {
                // SO_LINGER 0 turns the close into a reset, like a crashed peer.
                let _ = socket.set_linger(Some(Duration::ZERO));
                let _ = socket.shutdown(Shutdown::Both);
            }
            // Never reaches the client: the socket is gone.
            Ok(req.into_response(
                HttpResponse::ServiceUnavailable()
                    .insert_header(("connection", "close"))
                    .finish(),
            ))
        }
    }
}

/// `GET|POST|DELETE /_sim/faults`.
pub fn control_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/_sim/faults")
            .route(web::get().to(list_faults))
            .route(web::post().to(add_fault))
            .route(web::delete().to(clear_faults)),
    );
}

async fn list_faults(faults: web::Data<Faults>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "faults": faults.list() }))
}

async fn add_fault(faults: web::Data<Faults>, body: web::Bytes) -> HttpResponse {
    let rule = match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => rule,
        Err(e) => return bad_request(&e.to_string()),
    };
    if let Err(message) = rule.validate() {
        return bad_request(&message);
    }
    faults.push(rule);
    HttpResponse::Ok().json(serde_json::json!({ "faults": faults.list() }))
}

async fn clear_faults(faults: web::Data<Faults>) -> HttpResponse {
    faults.clear();
    HttpResponse::Ok().json(serde_json::json!({ "faults": [] }))
}

fn bad_request(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "success": false, "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_expire_and_prefixes_match() {
        let faults = Faults::default();
        faults.push(FaultRule::new(FaultMode::Error).path("/api/").times(2));
        assert!(faults.take("GET", "/v1/models").is_none());
        assert!(faults.take("POST", "/api/token/import").is_some());
        assert!(faults.take("GET", "/api/token/import").is_some());
        assert!(faults.take("POST", "/api/token/import").is_none());
    }

    #[test]
    fn a_method_narrows_the_rule() {
        let faults = Faults::default();
        faults.push(
            FaultRule::new(FaultMode::Error)
                .path("/organizations/")
                .method("put"),
        );
        assert!(faults.take("POST", "/organizations/").is_none());
        assert!(faults.take("GET", "/organizations/o-1").is_none());
        assert!(faults.take("PUT", "/organizations/o-1/quota").is_some());
        let parsed: FaultRule = serde_json::from_str(
            r#"{"mode":"drop","method":"PUT","path_prefix":"/organizations/"}"#,
        )
        .unwrap();
        assert_eq!(parsed.method.as_deref(), Some("PUT"));
    }

    #[test]
    fn control_paths_are_never_faulted() {
        let faults = Faults::default();
        faults.push(FaultRule::new(FaultMode::Drop));
        assert!(faults.take("POST", "/_sim/faults").is_none());
        assert_eq!(
            faults.take("GET", "/x").map(|r| r.mode),
            Some(FaultMode::Drop)
        );
    }

    #[test]
    fn invalid_rules_are_rejected() {
        assert!(FaultRule::new(FaultMode::Error)
            .status(42)
            .validate()
            .is_err());
        assert!(FaultRule::new(FaultMode::Error)
            .times(0)
            .validate()
            .is_err());
        assert!(FaultRule::new(FaultMode::Error)
            .status(503)
            .validate()
            .is_ok());
    }
}
