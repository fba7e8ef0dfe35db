//! `get` and `post`: round-robin URLs, headers, body sent as is, expected status, errors.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::{web, HttpRequest, HttpResponse};
use common::{assert_report, loadgen, serve};

#[derive(Default)]
struct Hits {
    a: AtomicU64,
    b: AtomicU64,
    all: AtomicU64,
    bodies: Mutex<Vec<Vec<u8>>>,
}

fn has_header(req: &HttpRequest) -> bool {
    req.headers().get("x-bench").and_then(|v| v.to_str().ok()) == Some("yes: really")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_goes_round_robin_with_the_headers() {
    let hits = web::Data::new(Hits::default());
    let h = hits.clone();
    let fake = serve(move |cfg| {
        cfg.app_data(h.clone())
            .route(
                "/a",
                web::get().to(|req: HttpRequest, h: web::Data<Hits>| async move {
                    h.a.fetch_add(1, Ordering::Relaxed);
                    if has_header(&req) {
                        HttpResponse::Ok().body("a")
                    } else {
                        HttpResponse::BadRequest().finish()
                    }
                }),
            )
            .route(
                "/b",
                web::get().to(|req: HttpRequest, h: web::Data<Hits>| async move {
                    h.b.fetch_add(1, Ordering::Relaxed);
                    if has_header(&req) {
                        HttpResponse::Ok().body("b")
                    } else {
                        HttpResponse::BadRequest().finish()
                    }
                }),
            );
    });
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/a"),
        "--url",
        &fake.url("/b"),
        "--header",
        "X-Bench: yes: really",
        "--concurrency",
        "3",
        "--requests",
        "30",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_report(&json, "get", 3, 30, 30);
    assert_eq!(hits.a.load(Ordering::Relaxed), 15);
    assert_eq!(hits.b.load(Ordering::Relaxed), 15);
    // Single-step scenarios report no per-step table.
    assert!(json["steps"].as_object().unwrap().is_empty(), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_counts_one_failure_in_ten() {
    let hits = web::Data::new(Hits::default());
    let h = hits.clone();
    let fake = serve(move |cfg| {
        cfg.app_data(h.clone()).route(
            "/flaky",
            web::get().to(|h: web::Data<Hits>| async move {
                let n = h.all.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(10) {
                    HttpResponse::ServiceUnavailable().body("overloaded")
                } else {
                    HttpResponse::Ok().finish()
                }
            }),
        );
    });
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/flaky"),
        "--concurrency",
        "5",
        "--requests",
        "100",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_report(&json, "get", 5, 100, 90);
    assert_eq!(json["errors"]["status_503"], 10, "{json}");
    assert_eq!(json["error_samples"]["status_503"], "overloaded");
    assert!(
        out.stderr.contains("10 request(s) failed"),
        "{}",
        out.stderr
    );

    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/flaky"),
        "--concurrency",
        "5",
        "--requests",
        "20",
        "--allow-errors",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("status_503"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_failures_fail_the_run_but_are_not_recorded() {
    let hits = web::Data::new(Hits::default());
    let h = hits.clone();
    let fake = serve(move |cfg| {
        cfg.app_data(h.clone()).route(
            "/cold",
            web::get().to(|h: web::Data<Hits>| async move {
                // The first request fails (a cold start), the rest succeed.
                if h.all.fetch_add(1, Ordering::Relaxed) == 0 {
                    HttpResponse::InternalServerError().finish()
                } else {
                    HttpResponse::Ok().finish()
                }
            }),
        );
    });
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/cold"),
        "--concurrency",
        "1",
        "--requests",
        "5",
        "--warmup",
        "3",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    let json = out.json();
    assert_report(&json, "get", 1, 5, 5);
    assert_eq!(json["warmup"]["done"], 3);
    assert_eq!(json["warmup"]["errors"]["status_500"], 1, "{json}");
    assert_eq!(hits.all.load(Ordering::Relaxed), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_sends_the_body_file_as_is() {
    let body: Vec<u8> = b"{\"a\": 1,\n \"bin\": \"\xff\x00\"}"
        .iter()
        .copied()
        .chain([0u8, 1, 2])
        .collect();
    let dir = std::env::temp_dir().join(format!("loadgen-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.bin");
    std::fs::write(&file, &body).unwrap();

    let hits = web::Data::new(Hits::default());
    let h = hits.clone();
    let fake = serve(move |cfg| {
        cfg.app_data(h.clone()).route(
            "/in",
            web::post().to(
                |req: HttpRequest, h: web::Data<Hits>, b: web::Bytes| async move {
                    let typed = req
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        == Some("application/octet-stream");
                    h.bodies.lock().unwrap().push(b.to_vec());
                    if typed {
                        HttpResponse::Created().finish()
                    } else {
                        HttpResponse::UnsupportedMediaType().finish()
                    }
                },
            ),
        );
    });
    let file_arg = file.to_str().unwrap();
    let out = loadgen(&[
        "post",
        "--url",
        &fake.url("/in"),
        "--header",
        "Content-Type: application/octet-stream",
        "--body-file",
        file_arg,
        "--expect-status",
        "201",
        "--concurrency",
        "4",
        "--requests",
        "20",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_report(&out.json(), "post", 4, 20, 20);
    let bodies = hits.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 20);
    assert!(bodies.iter().all(|b| *b == body));

    // The default expected status is 200: 201 then counts as an error.
    let out = loadgen(&[
        "post",
        "--url",
        &fake.url("/in"),
        "--header",
        "Content-Type: application/octet-stream",
        "--body-file",
        file_arg,
        "--concurrency",
        "2",
        "--requests",
        "4",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["errors"]["status_201"], 4);

    // A missing body file is a usage error.
    let out = loadgen(&[
        "post",
        "--url",
        &fake.url("/in"),
        "--body-file",
        dir.join("missing").to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--body-file"), "{}", out.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
