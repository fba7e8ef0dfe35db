//! The `loadgen` binary: exit statuses and the JSON line on stdout.

use crate::common;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{web, HttpResponse};
use common::serve;

async fn loadgen_bin(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .output()
            .expect("run loadgen")
    })
    .await
    .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_one_json_line_and_sets_the_exit_status() {
    let calls = web::Data::new(AtomicU64::new(0));
    let c = calls.clone();
    let fake = serve(move |cfg| {
        cfg.app_data(c.clone())
            .route(
                "/ok",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
            .route(
                "/flaky",
                web::get().to(|calls: web::Data<AtomicU64>| async move {
                    if calls.fetch_add(1, Ordering::Relaxed) % 10 == 9 {
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::Ok().finish()
                    }
                }),
            );
    });
    let ok = format!("{}/ok", fake.base);
    let out = loadgen_bin(strings(&[
        "get",
        "--url",
        &ok,
        "--requests",
        "25",
        "--concurrency",
        "5",
        "--json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["total"], 25);
    assert_eq!(json["ok"], 25);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("end-to-end"), "{stderr}");

    let flaky = format!("{}/flaky", fake.base);
    let out = loadgen_bin(strings(&[
        "get",
        "--url",
        &flaky,
        "--requests",
        "30",
        "--concurrency",
        "3",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("status_500"), "{stdout}");

    let out = loadgen_bin(strings(&["get", "--url", "http://example.com/"])).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing non-local target"));
}
