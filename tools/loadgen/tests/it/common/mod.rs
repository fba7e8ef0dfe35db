//! Fake servers on 127.0.0.1:0 and a way to run loadgen in-process.
#![allow(dead_code)]

use std::net::TcpListener;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpServer};
use serde_json::Value;

/// A fake HTTP server; stopped when dropped.
pub struct Fake {
    pub base: String,
    handle: ServerHandle,
}

impl Fake {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// Serve the routes `configure` registers on a fresh port of 127.0.0.1.
pub fn serve<F>(configure: F) -> Fake
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("address").port();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    Fake {
        base: format!("http://127.0.0.1:{port}"),
        handle,
    }
}

/// The bearer token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

/// A random 48-character alphanumeric key.
pub fn key48() -> String {
    let mut s = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    s.truncate(48);
    s
}

/// What one in-process loadgen run printed and returned.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout as the single JSON line of `--json`.
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one JSON line, got: {}",
            self.stdout
        );
        serde_json::from_str(lines[0]).expect("stdout is JSON")
    }
}

/// Run `loadgen <args>` in-process.
pub async fn loadgen(args: &[&str]) -> Outcome {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("loadgen").chain(args.iter().copied());
    let code = loadgen::cli::run(argv, &mut out, &mut err).await;
    Outcome {
        code,
        stdout: String::from_utf8(out).expect("utf-8 stdout"),
        stderr: String::from_utf8(err).expect("utf-8 stderr"),
    }
}

/// Assert the common fields of a report.
pub fn assert_report(json: &Value, scenario: &str, concurrency: u64, total: u64, ok: u64) {
    assert_eq!(json["scenario"], scenario, "{json}");
    assert_eq!(json["concurrency"], concurrency, "{json}");
    assert_eq!(json["total"], total, "{json}");
    assert_eq!(json["ok"], ok, "{json}");
    assert_eq!(json["error_count"], total - ok, "{json}");
    let errors: u64 = json["errors"]
        .as_object()
        .expect("errors is an object")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    assert_eq!(errors, total - ok, "{json}");
    assert!(
        json["duration_s"].as_f64().expect("duration_s") > 0.0,
        "{json}"
    );
    assert!(
        json["throughput_per_s"].as_f64().expect("throughput") > 0.0,
        "{json}"
    );
    let latency = &json["latency_ms"];
    assert_eq!(latency["count"], ok, "{json}");
    if ok > 0 {
        let mut last = 0.0;
        for p in ["p50", "p90", "p95", "p99", "max"] {
            let v = latency[p]
                .as_f64()
                .unwrap_or_else(|| panic!("latency {p}: {json}"));
            assert!(v > 0.0 && v >= last, "{p} = {v} after {last}: {json}");
            last = v;
        }
    }
}
