//! Shared helpers of the integration tests: a simulator on a scratch database, an HTTP
//! client and direct database access.
#![allow(dead_code)]

use std::net::TcpListener;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use newapi_sim::{spawn, SimConfig, SimHandle};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tollgate_newapi_schema::schema::{logs, tokens};
use tollgate_newapi_schema::scratch::ScratchDb;
use tollgate_newapi_schema::{with_conn, Backend, Log, NewapiConn, Token};

pub const ADMIN: &str = "test-admin-token";

/// A running simulator on its own database. Fields drop in order: server, then database.
pub struct Env {
    pub sim: SimHandle,
    pub db: ScratchDb,
    pub client: reqwest::Client,
    pub base: String,
}

pub async fn start(backend: Backend) -> Env {
    let db = ScratchDb::create(backend, "newapi_sim")
        .await
        .expect("scratch db");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = spawn(SimConfig::new(db.url(), ADMIN), listener)
        .await
        .expect("spawn");
    let base = sim.base_url();
    Env {
        sim,
        db,
        client: client(Duration::from_secs(10)),
        base,
    }
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// A fresh valid key (48 alphanumerics, no `sk-`).
pub fn random_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")[..48].to_owned()
}

pub fn import_body(key: &str, external_user_id: &str) -> Value {
    json!({
        "key": key,
        "external_user_id": external_user_id,
        "name": "default",
        "unlimited_quota": true,
    })
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `POST /api/token/import` with the admin token and a JSON body.
    pub async fn import_json(&self, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/api/token/import"))
            .bearer_auth(ADMIN)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Import `key` for `external_user_id`; returns the token id, panicking on refusal.
    pub async fn import_ok(&self, key: &str, external_user_id: &str) -> i64 {
        let (status, body) = self.import_json(&import_body(key, external_user_id)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(body["message"], "", "{body}");
        body["data"]["token_id"].as_i64().expect("token_id")
    }

    /// `GET /v1/models` with `Authorization: <authorization>`.
    pub async fn models(&self, authorization: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url("/v1/models"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// `POST /v1/chat/completions` with the gateway key `key` and a raw body.
    pub async fn chat(&self, key: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(format!("sk-{key}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    pub async fn conn(&self) -> NewapiConn {
        NewapiConn::establish(self.db.url()).await.unwrap()
    }

    pub async fn token(&self, id: i64) -> Token {
        let mut conn = self.conn().await;
        with_conn!(&mut conn, |c| {
            tokens::table
                .find(id)
                .select(Token::as_select())
                .first(c)
                .await
        })
        .unwrap()
    }

    pub async fn tokens_with_key(&self, key: &str) -> Vec<Token> {
        let mut conn = self.conn().await;
        with_conn!(&mut conn, |c| {
            tokens::table
                .filter(tokens::key.eq(key))
                .select(Token::as_select())
                .load(c)
                .await
        })
        .unwrap()
    }

    pub async fn all_logs(&self) -> Vec<Log> {
        let mut conn = self.conn().await;
        with_conn!(&mut conn, |c| {
            logs::table
                .order(logs::id)
                .select(Log::as_select())
                .load(c)
                .await
        })
        .unwrap()
    }
}

/// Generate `#[tokio::test]`s running each listed `async fn(Backend)` on Postgres and MariaDB.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tollgate_newapi_schema::Backend::Postgres).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tollgate_newapi_schema::Backend::Mysql).await;
                }
            )*
        }
    };
}
