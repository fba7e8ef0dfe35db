//! Safety and bounds: only local targets, no redirects followed, time-bounded runs,
//! argument validation.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use common::{loadgen, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_local_targets_are_refused_before_any_request() {
    for url in [
        "http://example.com/",
        "http://10.1.2.3:8080/",
        "http://127.0.0.2:8080/",
        "http://[::1]:8080/",
        "http://localhost.example.com/",
        "http://127.0.0.1@example.com/",
    ] {
        let out = loadgen(&["get", "--url", url, "--requests", "1"]).await;
        assert_eq!(out.code, 2, "{url}: {out:?}");
        assert!(out.stderr.contains("refusing"), "{url}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{url}: {}", out.stdout);
    }
    // One bad URL among good ones is enough to refuse the run.
    let out = loadgen(&[
        "get",
        "--url",
        "http://127.0.0.1:9/",
        "--url",
        "http://192.0.2.1/",
    ])
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    let out = loadgen(&[
        "signup",
        "--key-sync",
        "http://127.0.0.1:9",
        "--newapi",
        "https://gateway.example.net",
        "--webhook-secret",
        "s",
        "--jwt-secret",
        "j",
    ])
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("gateway.example.net"), "{}", out.stderr);
    let out = loadgen(&[
        "import",
        "--newapi",
        "http://203.0.113.7:3000",
        "--admin-token",
        "t",
    ])
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    let out = loadgen(&[
        "post",
        "--url",
        "http://198.51.100.1/",
        "--body-file",
        "/dev/null",
    ])
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("refusing"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let fake = serve(|cfg| {
        cfg.route(
            "/away",
            web::get().to(|| async {
                HttpResponse::Found()
                    .insert_header(("location", "http://192.0.2.1/elsewhere"))
                    .finish()
            }),
        );
    });
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/away"),
        "--requests",
        "3",
        "--concurrency",
        "1",
        "--json",
        "--timeout-s",
        "2",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["errors"]["status_302"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_bounds_a_run() {
    let calls = web::Data::new(AtomicU64::new(0));
    let c = calls.clone();
    let fake = serve(move |cfg| {
        cfg.app_data(c.clone()).route(
            "/slow",
            web::get().to(|calls: web::Data<AtomicU64>| async move {
                calls.fetch_add(1, Ordering::Relaxed);
                actix_web::rt::time::sleep(Duration::from_millis(200)).await;
                HttpResponse::Ok().finish()
            }),
        );
    });
    let started = Instant::now();
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/slow"),
        "--concurrency",
        "4",
        "--requests",
        "1000000",
        "--duration-s",
        "1",
        "--json",
    ])
    .await;
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(json["stopped_by"], "time", "{json}");
    let total = json["total"].as_u64().unwrap();
    // 4 workers, 200 ms per request, 1 s: about 20 requests, and never more than 4 × 6.
    assert!((8..=24).contains(&total), "{total}: {json}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let duration = json["duration_s"].as_f64().unwrap();
    assert!((1.0..2.0).contains(&duration), "{duration}");
    assert_eq!(calls.load(Ordering::Relaxed), total);

    // The warm-up is bounded by the same time limit.
    let started = Instant::now();
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/slow"),
        "--concurrency",
        "4",
        "--requests",
        "4",
        "--warmup",
        "1000000",
        "--duration-s",
        "0.5",
        "--json",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let json = out.json();
    assert_eq!(json["total"], 4);
    assert!(json["warmup"]["done"].as_u64().unwrap() < 20, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_time_out() {
    let fake = serve(|cfg| {
        cfg.route(
            "/hang",
            web::get().to(|| async {
                actix_web::rt::time::sleep(Duration::from_secs(5)).await;
                HttpResponse::Ok().finish()
            }),
        );
    });
    let started = Instant::now();
    let out = loadgen(&[
        "get",
        "--url",
        &fake.url("/hang"),
        "--concurrency",
        "2",
        "--requests",
        "2",
        "--timeout-s",
        "0.3",
        "--json",
    ])
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["errors"]["timeout"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_counted() {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://localhost:{port}/");
    let out = loadgen(&["get", "--url", &url, "--requests", "3", "--json"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["errors"]["connect"], 3);
}

#[tokio::test]
async fn bad_arguments_are_usage_errors() {
    for args in [
        &["get", "--url", "http://127.0.0.1:9/", "--concurrency", "0"][..],
        &["get", "--url", "http://127.0.0.1:9/", "--requests", "0"],
        &["get", "--url", "http://127.0.0.1:9/", "--duration-s", "0"],
        &["get", "--url", "http://127.0.0.1:9/", "--duration-s", "inf"],
        &[
            "get",
            "--url",
            "http://127.0.0.1:9/",
            "--duration-s",
            "100000",
        ],
        &["get", "--url", "http://127.0.0.1:9/", "--timeout-s", "-1"],
        &[
            "get",
            "--url",
            "http://127.0.0.1:9/",
            "--header",
            "no colon",
        ],
        &[
            "get",
            "--url",
            "http://127.0.0.1:9/",
            "--expect-status",
            "42",
        ],
        &["get"],
        &["import", "--newapi", "http://127.0.0.1:9"],
        &["signup", "--webhook-secret", "x"],
        &["bogus"],
        &[],
    ] {
        let out = loadgen(args).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    let out = loadgen(&["--help"]).await;
    assert_eq!(out.code, 0);
    for sub in ["signup", "import", "get", "post"] {
        assert!(out.stdout.contains(sub), "{}", out.stdout);
    }
}
