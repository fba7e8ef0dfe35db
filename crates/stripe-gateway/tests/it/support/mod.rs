//! A scripted stand-in for Stripe on port 0: answers requests from a queue of canned replies
//! (the last one repeats) and records what it was sent.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tollgate_stripe::{StripeConfig, StripeGateway};

/// One canned answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What the fake was sent.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub form: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    replies: Mutex<Vec<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
}

pub struct FakeStripe {
    pub base_url: String,
    state: Arc<State>,
}

fn pairs(s: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<State>>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.recorded.lock().unwrap().push(Recorded {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: pairs(req.query_string()),
        form: pairs(std::str::from_utf8(&body).unwrap_or_default()),
        idempotency_key: header("idempotency-key"),
        authorization: header("authorization"),
    });
    let reply = {
        let mut replies = state.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.remove(0)
        } else {
            replies[0].clone()
        }
    };
    tokio::time::sleep(reply.delay).await;
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap())
        .content_type("application/json")
        .body(reply.body)
}

impl FakeStripe {
    /// Serve `replies` in order, repeating the last.
    pub fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        let state = Arc::new(State {
            replies: Mutex::new(replies),
            recorded: Mutex::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { base_url, state }
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    pub fn gateway(&self, timeout: Duration) -> StripeGateway {
        gateway(&self.base_url, timeout)
    }
}

pub fn gateway(base_url: &str, timeout: Duration) -> StripeGateway {
    StripeGateway::new(&StripeConfig {
        secret_key: "sk_test_tollgate".into(),
        api_base: base_url.into(),
        timeout,
    })
    .unwrap()
}
