//! `GET/POST /v1/keys` with Supabase user JWTs.

use crate::support;

use key_sync::handlers::views::{OwnerKey, OwnerKeyList};
use serde_json::{json, Value};
use support::*;
use tollgate_testkit::{answer, error_code};

#[tokio::test]
async fn users_see_only_their_own_keys() {
    let env = spawn().await;
    let (a, b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    post_signup(&env.app, &signup(&a)).await;
    post_signup(&env.app, &signup(&b)).await;
    let keys_a = owned_keys(&env.app, &a).await;
    let keys_b = owned_keys(&env.app, &b).await;
    assert_eq!((keys_a.len(), keys_b.len()), (1, 1));
    assert_ne!(keys_a[0].id, keys_b[0].id);
    assert_ne!(keys_a[0].key, keys_b[0].key);
    assert!(keys_a[0].key.is_some() && keys_b[0].key.is_some());
    let stranger = uuid::Uuid::new_v4().to_string();
    assert!(owned_keys(&env.app, &stranger).await.is_empty());
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&env.app, &signup(&user)).await;
    let now = chrono::Utc::now().timestamp();
    let expired = token_with(json!({"sub": user, "aud": "authenticated", "exp": now - 120}));
    let wrong_aud = token_with(json!({"sub": user, "aud": "anon", "exp": now + 600}));
    let no_aud = token_with(json!({"sub": user, "exp": now + 600}));
    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": user, "aud": "authenticated", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-not-the-secret-123"),
    )
    .unwrap();
    let not_uuid = token_with(json!({"sub": "bob", "aud": "authenticated", "exp": now + 600}));
    let url = env.app.url("/v1/keys");
    let headers = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer garbage".to_owned()),
        Some(format!("Basic {}", user_token(&user))),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {wrong_aud}")),
        Some(format!("Bearer {no_aud}")),
        Some(format!("Bearer {other_secret}")),
        Some(format!("Bearer {not_uuid}")),
    ];
    for header in headers {
        for post in [false, true] {
            let mut req = if post {
                env.app.client.post(&url).json(&json!({"name": "x"}))
            } else {
                env.app.client.get(&url)
            };
            if let Some(h) = &header {
                req = req.header("authorization", h);
            }
            let res = req.send().await.unwrap();
            assert_eq!(error_code(res, 401).await, "unauthorized", "{header:?}");
        }
    }
    assert_eq!(
        key_rows(&env.app).await,
        1,
        "no key created by a refused request"
    );
}

async fn create(env: &Env, user: &str, body: Value) -> reqwest::Response {
    env.app
        .client
        .post(env.app.url("/v1/keys"))
        .bearer_auth(user_token(user))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_add_keys_that_sync_up_to_the_cap() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&env.app, &signup(&user)).await;
    let res = create(&env, &user, json!({"name": "  ci runner "})).await;
    let key: OwnerKey = answer(res, 201).await;
    assert_eq!(key.name, "ci runner");
    assert!(!key.default);
    assert!(key.synced, "{key:?}");
    assert_eq!(
        gateway_status(&env.newapi, key.key.as_deref().unwrap()).await,
        200
    );
    // Cap is 3 in tests: the default key + 2.
    assert_eq!(
        create(&env, &user, json!({"name": "two"})).await.status(),
        201
    );
    let res = create(&env, &user, json!({"name": "three"})).await;
    assert_eq!(error_code(res, 409).await, "key_limit_reached");
    assert_eq!(owned_keys(&env.app, &user).await.len(), 3);
}

#[tokio::test]
async fn concurrent_creations_respect_the_cap() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    let results = futures_util::future::join_all(
        (0..10).map(|i| create(&env, &user, json!({"name": format!("k{i}")}))),
    )
    .await;
    let created = results.iter().filter(|r| r.status() == 201).count();
    let refused = results.iter().filter(|r| r.status() == 409).count();
    assert_eq!((created, refused), (3, 7));
    assert_eq!(key_rows(&env.app).await, 3);
}

#[tokio::test]
async fn bad_key_requests_are_400_and_create_nothing() {
    let env = spawn().await;
    let user = uuid::Uuid::new_v4().to_string();
    let long = "x".repeat(51);
    let cases = [
        json!({}),
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": long}),
        json!({"name": "tab\there"}),
        json!({"name": 7}),
        json!(["name"]),
    ];
    for body in cases {
        let res = create(&env, &user, body.clone()).await;
        assert_eq!(res.status(), 400, "{body}");
    }
    let res = env
        .app
        .client
        .post(env.app.url("/v1/keys"))
        .bearer_auth(user_token(&user))
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(key_rows(&env.app).await, 0);
}

/// A Supabase project that signs with ES256 and serves its JWKS.
async fn jwks_server() -> String {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let jwk: Value = serde_json::from_str(include_str!("../fixtures/jwt/es256.jwk.json")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let jwks = json!({ "keys": [jwk.clone()] });
        App::new().route(
            "/auth/v1/.well-known/jwks.json",
            web::get().to(move || {
                let jwks = jwks.clone();
                async move { HttpResponse::Ok().json(jwks) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    base
}

#[tokio::test]
async fn es256_tokens_from_the_jwks_work_beside_hs256() {
    let newapi = tollgate_testkit::newapi_sim(tollgate_testkit::NewapiBackend::Postgres).await;
    let supabase = jwks_server().await;
    let base = newapi.base_url();
    let app = tollgate_testkit::TestApp::spawn(|db_url| async move {
        let mut s = settings(&db_url, &base);
        s.key_sync.supabase_url = Some(supabase);
        key_sync::startup::build(s).await
    })
    .await
    .unwrap();
    let user = uuid::Uuid::new_v4().to_string();
    post_signup(&app, &signup(&user)).await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ec-key-1".into());
    let claims =
        json!({"sub": user, "aud": "authenticated", "exp": chrono::Utc::now().timestamp() + 600});
    let pem = include_bytes!("../fixtures/jwt/es256.pem");
    let es256 = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(pem).unwrap(),
    )
    .unwrap();
    for token in [es256, user_token(&user)] {
        let res = app
            .client
            .get(app.url("/v1/keys"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer::<OwnerKeyList>(res, 200).await.keys.len(), 1);
    }
    // Signed by a key the JWKS does not hold.
    let other = include_bytes!("../fixtures/jwt/es256-other.pem");
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(other).unwrap(),
    )
    .unwrap();
    let res = app
        .client
        .get(app.url("/v1/keys"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
