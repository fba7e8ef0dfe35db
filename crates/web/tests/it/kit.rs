//! The web kit served for real on port 0: error shapes, limits, request ids, readiness,
//! metrics.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_web::{serve, ApiError, Readiness, ReadyCheck, ServerOptions};

#[derive(Deserialize)]
struct Item {
    name: String,
    count: u32,
}

#[derive(Deserialize)]
struct Page {
    page: u32,
}

async fn create(item: web::Json<Item>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "name": item.name, "count": item.count }))
}

async fn raw(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "len": body.len() }))
}

async fn paged(q: web::Query<Page>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "page": q.page }))
}

async fn by_id(id: web::Path<u64>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "id": id.into_inner() }))
}

async fn limited() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RateLimited {
        retry_after_secs: 7,
    })
}

async fn admin_only(_: tollgate_web::Admin) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "admin": true }))
}

async fn boom() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Internal(anyhow::anyhow!(
        "secret internal detail"
    )))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/items", web::post().to(create))
        .route("/raw", web::post().to(raw))
        .route("/paged", web::get().to(paged))
        .route("/items/{id}", web::get().to(by_id))
        .route("/limited", web::get().to(limited))
        .route("/boom", web::get().to(boom))
        .route("/admin-only", web::get().to(admin_only))
        .service(web::resource("/only-get").route(web::get().to(HttpResponse::Ok)));
}

struct Kit {
    base: String,
    healthy: Arc<AtomicBool>,
    client: reqwest::Client,
}

async fn spawn() -> Kit {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let check = ReadyCheck::new("dependency", move || {
        let ok = flag.load(Ordering::SeqCst);
        Box::pin(async move {
            if ok {
                Ok(())
            } else {
                Err("down".to_owned())
            }
        })
    });
    let options = ServerOptions {
        service: "kit-test",
        body_limit: 1024,
        shutdown_timeout: Duration::from_secs(1),
        readiness: Readiness::new(vec![check], Duration::from_secs(1)),
        registry: prometheus::Registry::new(),
        admin_token: "kit-admin".into(),
        openapi: tollgate_web::openapi::complete(
            utoipa::openapi::OpenApiBuilder::new().build(),
            &[tollgate_web::openapi::Scheme::AdminToken],
        ),
    };
    let server = serve(listener, options, routes).unwrap();
    tokio::spawn(server);
    Kit {
        base,
        healthy,
        client: reqwest::Client::new(),
    }
}

async fn error_of(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    let code = body["error"]["code"].as_str().unwrap().to_owned();
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, code, body)
}

#[tokio::test]
async fn valid_json_is_accepted() {
    let kit = spawn().await;
    let res = kit
        .client
        .post(format!("{}/items", kit.base))
        .json(&json!({"name": "a", "count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"name": "a", "count": 2})
    );
}

#[tokio::test]
async fn malformed_json_wrong_types_and_wrong_content_type_are_400() {
    let kit = spawn().await;
    let post = |body: &'static str, ct: &'static str| {
        kit.client
            .post(format!("{}/items", kit.base))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let (s, code, _) = error_of(post("{not json", "application/json").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (400, "invalid_json"));
    let (s, code, body) = error_of(
        post(r#"{"name":"a","count":"two"}"#, "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "invalid_body"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected u32"),
        "{body}"
    );
    let (s, code, _) = error_of(post(r#"{"name":"a"}"#, "application/json").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (400, "invalid_body"));
    let (s, code, _) = error_of(
        post(r#"{"name":"a","count":1}"#, "text/plain")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, code.as_str()), (400, "unsupported_media_type"));
}

#[tokio::test]
async fn oversized_bodies_are_413_json_for_json_and_raw_extractors() {
    let kit = spawn().await;
    let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(4096));
    for path in ["/items", "/raw"] {
        let res = kit
            .client
            .post(format!("{}{path}", kit.base))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        let (s, code, _) = error_of(res).await;
        assert_eq!((s, code.as_str()), (413, "payload_too_large"), "{path}");
    }
    let res = kit
        .client
        .post(format!("{}/raw", kit.base))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"len": 5}));
}

#[tokio::test]
async fn bad_query_and_path_values_are_400() {
    let kit = spawn().await;
    let res = kit
        .client
        .get(format!("{}/paged?page=-1", kit.base))
        .send()
        .await
        .unwrap();
    let (s, code, _) = error_of(res).await;
    assert_eq!((s, code.as_str()), (400, "invalid_query"));
    let res = kit
        .client
        .get(format!("{}/items/abc", kit.base))
        .send()
        .await
        .unwrap();
    let (s, code, _) = error_of(res).await;
    assert_eq!((s, code.as_str()), (400, "invalid_path"));
}

#[tokio::test]
async fn unknown_routes_methods_and_internal_errors_keep_the_shape() {
    let kit = spawn().await;
    let res = kit
        .client
        .get(format!("{}/nope", kit.base))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "not_found");
    let res = kit
        .client
        .post(format!("{}/only-get", kit.base))
        .send()
        .await
        .unwrap();
    let (s, code, _) = error_of(res).await;
    assert_eq!((s, code.as_str()), (405, "method_not_allowed"));
    let res = kit
        .client
        .get(format!("{}/boom", kit.base))
        .send()
        .await
        .unwrap();
    let (s, code, body) = error_of(res).await;
    assert_eq!((s, code.as_str()), (500, "internal"));
    assert!(!body.to_string().contains("secret internal detail"));
    let res = kit
        .client
        .get(format!("{}/limited", kit.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "7");
    assert_eq!(error_of(res).await.1, "rate_limited");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let kit = spawn().await;
    let res = kit
        .client
        .get(format!("{}/health", kit.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = kit
        .client
        .get(format!("{}/health", kit.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32);
    let res = kit
        .client
        .get(format!("{}/nope", kit.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn ready_follows_its_checks() {
    let kit = spawn().await;
    let res = kit
        .client
        .get(format!("{}/ready", kit.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["checks"]["dependency"],
        "ok"
    );
    kit.healthy.store(false, Ordering::SeqCst);
    let res = kit
        .client
        .get(format!("{}/ready", kit.base))
        .send()
        .await
        .unwrap();
    let (s, code, body) = error_of(res).await;
    assert_eq!((s, code.as_str()), (503, "not_ready"));
    assert_eq!(body["checks"]["dependency"], "down");
    let res = kit
        .client
        .get(format!("{}/health", kit.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_per_route_pattern_with_histograms() {
    let kit = spawn().await;
    for id in [1, 2, 3] {
        kit.client
            .get(format!("{}/items/{id}", kit.base))
            .send()
            .await
            .unwrap();
    }
    kit.client
        .get(format!("{}/no/such/{}", kit.base, 9))
        .send()
        .await
        .unwrap();
    let text = kit
        .client
        .get(format!("{}/metrics", kit.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"kit_test_http_requests_total{endpoint="/items/{id}",method="GET",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"kit_test_http_requests_duration_seconds_bucket{endpoint="/items/{id}""#)
    );
    assert!(text.contains(r#"endpoint="UNKNOWN""#));
    assert!(!text.contains("/no/such/9"));
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let kit = spawn().await;
    let url = format!("{}/admin-only", kit.base);
    let res = kit
        .client
        .get(&url)
        .bearer_auth("kit-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for auth in [
        Some("Bearer kit-admi"),
        Some("Bearer kit-admin2"),
        Some("kit-admin"),
        None,
    ] {
        let mut req = kit.client.get(&url);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let (s, code, _) = error_of(req.send().await.unwrap()).await;
        assert_eq!((s, code.as_str()), (401, "unauthorized"), "{auth:?}");
    }
}

#[tokio::test]
async fn openapi_json_serves_the_document_with_the_kits_routes_and_schemes() {
    let kit = spawn().await;
    let res = kit
        .client
        .get(format!("{}/openapi.json", kit.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/health", "/ready", "/metrics", "/openapi.json"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    assert_eq!(
        doc["paths"]["/ready"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/NotReadyAnswer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_token"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}
