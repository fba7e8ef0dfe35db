//! Outbound calls never wait longer than their timeout.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_secs(5)).await;
    HttpResponse::Ok().finish()
}

#[tokio::test]
async fn requests_time_out_and_connect_errors_are_quick() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(|| App::new().route("/slow", web::get().to(slow)))
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);

    let client = tollgate_web::http_client::http_client(Duration::from_millis(300));
    let started = Instant::now();
    let err = client
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // Nothing listens on a port we just released: refused at once, not hanging.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = client
        .get(format!("http://{closed}/"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
}
