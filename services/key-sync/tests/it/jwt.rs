//! Supabase user tokens: HS256 with the legacy secret, ES256/RS256 through a JWKS served over
//! real HTTP (fetches counted), and the `AuthUser` extractor in a real actix app.
//!
//! Keys are fixtures in `tests/fixtures/jwt/` (made with openssl); the JWK JSON there was
//! computed from the same keys independently of jsonwebtoken.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tollgate_supabase_auth::jwt::{JwtError, JwtVerifier, FAILURE_BACKOFF};
use tollgate_supabase_auth::AuthUser;
use tollgate_testkit::{answer, error, error_code, ClosedPort};

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
const TTL: Duration = Duration::from_secs(600);
const USER: &str = "6c0e4f5e-6f39-4d63-9b0a-2a8cfae4a3a1";
const EC_KID: &str = "ec-key-1";
const EC2_KID: &str = "ec-key-2";
const RSA_KID: &str = "rsa-key-1";

const EC_PEM: &[u8] = include_bytes!("../fixtures/jwt/es256.pem");
const EC_PUB_PEM: &[u8] = include_bytes!("../fixtures/jwt/es256.pub.pem");
const EC2_PEM: &[u8] = include_bytes!("../fixtures/jwt/es256-other.pem");
const RSA_PEM: &[u8] = include_bytes!("../fixtures/jwt/rs256.pem");

fn jwk(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

fn ec_jwk() -> Value {
    jwk(include_str!("../fixtures/jwt/es256.jwk.json"))
}

fn ec2_jwk() -> Value {
    jwk(include_str!("../fixtures/jwt/es256-other.jwk.json"))
}

/// Supabase-like JWKS: the EC and RSA keys, plus entries a verifier must ignore.
fn jwks() -> Value {
    let oct =
        json!({"kty": "oct", "kid": "oct-1", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(SECRET)});
    let weird = json!({"kty": "OKP-nope", "kid": "weird"});
    let rsa = jwk(include_str!("../fixtures/jwt/rs256.jwk.json"));
    json!({ "keys": [ec_jwk(), rsa, oct, weird] })
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PEM).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a signed-in user, valid for an hour.
fn good() -> Value {
    json!({
        "sub": USER, "aud": "authenticated", "role": "authenticated",
        "email": "user@example.com", "iat": now(), "exp": now() + 3600,
        "iss": "https://example.supabase.co/auth/v1",
    })
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

fn without(mut claims: Value, field: &str) -> Value {
    claims.as_object_mut().unwrap().remove(field);
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

fn es(kid: &str, claims: &Value) -> String {
    sign(Algorithm::ES256, Some(kid), &ec_key(), claims)
}

/// A JWKS endpoint on 127.0.0.1 that counts its fetches; its document and status can change.
struct JwksServer {
    base_url: String,
    fetches: Arc<AtomicUsize>,
    doc: Arc<Mutex<Value>>,
    status: Arc<AtomicU16>,
    handle: ServerHandle,
}

#[derive(Clone)]
struct ServerState {
    fetches: Arc<AtomicUsize>,
    doc: Arc<Mutex<Value>>,
    status: Arc<AtomicU16>,
    delay: Duration,
}

async fn serve_jwks(state: web::Data<ServerState>) -> HttpResponse {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(state.delay).await;
    let status = state.status.load(Ordering::SeqCst);
    let doc = state.doc.lock().unwrap().clone();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(doc)
}

impl JwksServer {
    async fn start(doc: Value) -> Self {
        Self::start_with_delay(doc, Duration::ZERO).await
    }

    async fn start_with_delay(doc: Value, delay: Duration) -> Self {
        let state = ServerState {
            fetches: Arc::default(),
            doc: Arc::new(Mutex::new(doc)),
            status: Arc::new(AtomicU16::new(200)),
            delay,
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/auth/v1/.well-known/jwks.json", web::get().to(serve_jwks))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        JwksServer {
            base_url,
            fetches: state.fetches,
            doc: state.doc,
            status: state.status,
            handle,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(None, Some(format!("{}/", self.base_url)), TTL)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

fn hs_only() -> JwtVerifier {
    JwtVerifier::new(Some(SECRET.into()), None, TTL)
}

#[tokio::test]
async fn valid_hs256_token_yields_the_claims() {
    let exp = now() + 3600;
    let token = hs(&with(good(), "exp", json!(exp)));
    let claims = hs_only().verify(&token).await.unwrap();
    assert_eq!(claims.sub.to_string(), USER);
    assert_eq!(claims.email.as_deref(), Some("user@example.com"));
    assert_eq!(claims.role.as_deref(), Some("authenticated"));
    assert_eq!(claims.exp, exp);
    // aud as an array containing `authenticated` is fine too; email and role are optional.
    let minimal = json!({"sub": USER, "aud": ["other", "authenticated"], "exp": exp});
    let claims = hs_only().verify(&hs(&minimal)).await.unwrap();
    assert_eq!((claims.email, claims.role), (None, None));
}

#[tokio::test]
async fn valid_es256_and_rs256_tokens_verify_through_the_jwks() {
    let server = JwksServer::start(jwks()).await;
    let verifier = server.verifier();
    let claims = verifier.verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(claims.sub.to_string(), USER);
    let rsa = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some(RSA_KID), &rsa, &good());
    let claims = verifier.verify(&token).await.unwrap();
    assert_eq!(claims.email.as_deref(), Some("user@example.com"));
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_a_small_leeway() {
    let v = hs_only();
    let late = |secs: i64| hs(&with(good(), "exp", json!(now() - secs)));
    assert_eq!(v.verify(&late(60)).await.unwrap_err(), JwtError::Expired);
    assert_eq!(v.verify(&late(3600)).await.unwrap_err(), JwtError::Expired);
    assert!(
        v.verify(&late(3)).await.is_ok(),
        "a few seconds of skew pass"
    );
    let no_exp = hs(&without(good(), "exp"));
    assert_eq!(v.verify(&no_exp).await.unwrap_err(), JwtError::Malformed);
    let server = JwksServer::start(jwks()).await;
    let old = es(EC_KID, &with(good(), "exp", json!(now() - 120)));
    let err = server.verifier().verify(&old).await.unwrap_err();
    assert_eq!(err, JwtError::Expired);
}

#[tokio::test]
async fn audience_must_be_authenticated() {
    let v = hs_only();
    for aud in [json!("anon"), json!(["anon", "service_role"]), json!([])] {
        let token = hs(&with(good(), "aud", aud));
        assert_eq!(v.verify(&token).await.unwrap_err(), JwtError::WrongAudience);
    }
    let token = hs(&without(good(), "aud"));
    assert_eq!(v.verify(&token).await.unwrap_err(), JwtError::WrongAudience);
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    let other = EncodingKey::from_secret(b"another-secret-of-sufficient-length-123");
    let token = sign(Algorithm::HS256, None, &other, &good());
    assert_eq!(
        hs_only().verify(&token).await.unwrap_err(),
        JwtError::BadSignature
    );

    let server = JwksServer::start(jwks()).await;
    let v = server.verifier();
    let ec2 = EncodingKey::from_ec_pem(EC2_PEM).unwrap();
    let forged = sign(Algorithm::ES256, Some(EC_KID), &ec2, &good());
    assert_eq!(v.verify(&forged).await.unwrap_err(), JwtError::BadSignature);

    // A valid token whose payload was swapped for another user's.
    let valid = es(EC_KID, &good());
    let other_user = with(good(), "sub", json!(uuid::Uuid::new_v4().to_string()));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other_user).unwrap());
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        v.verify(&tampered).await.unwrap_err(),
        JwtError::BadSignature
    );

    // An RS256 token naming the EC key: the key does not fit the alg.
    let rsa = EncodingKey::from_rsa_pem(RSA_PEM).unwrap();
    let token = sign(Algorithm::RS256, Some(EC_KID), &rsa, &good());
    let err = v.verify(&token).await.unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlgorithm);
}

#[tokio::test]
async fn subject_must_be_a_uuid() {
    let v = hs_only();
    for sub in [json!("not-a-uuid"), json!(""), json!(42)] {
        let token = hs(&with(good(), "sub", sub));
        assert_eq!(v.verify(&token).await.unwrap_err(), JwtError::BadSubject);
    }
    let token = hs(&without(good(), "sub"));
    assert_eq!(v.verify(&token).await.unwrap_err(), JwtError::BadSubject);
}

#[tokio::test]
async fn alg_none_and_other_algorithms_are_refused() {
    let server = JwksServer::start(jwks()).await;
    let both = JwtVerifier::new(Some(SECRET.into()), Some(server.base_url.clone()), TTL);
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    let body = b64(good());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}));
        for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
            let err = both.verify(&token).await.unwrap_err();
            assert_eq!(err, JwtError::Malformed, "alg {alg}");
        }
    }
    // Supported by the library, not by us.
    let hs512 = sign(
        Algorithm::HS512,
        None,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        &good(),
    );
    let err = both.verify(&hs512).await.unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlgorithm);
    for garbage in ["", "abc", "a.b.c", "..", &"a".repeat(20_000)] {
        let err = both.verify(garbage).await.unwrap_err();
        assert_eq!(err, JwtError::Malformed);
    }
    assert_eq!(server.fetches(), 0, "refused before any JWKS fetch");
}

#[tokio::test]
async fn hs256_is_never_verified_with_a_public_or_jwks_key() {
    let server = JwksServer::start(jwks()).await;
    let jwks_only = server.verifier();
    let both = JwtVerifier::new(Some(SECRET.into()), Some(server.base_url.clone()), TTL);
    // Signed with the public key's PEM / JWK bytes, naming that key.
    let ec_jwk_bytes = serde_json::to_vec(&ec_jwk()).unwrap();
    for secret in [EC_PUB_PEM, &ec_jwk_bytes] {
        let token = sign(
            Algorithm::HS256,
            Some(EC_KID),
            &EncodingKey::from_secret(secret),
            &good(),
        );
        let err = jwks_only.verify(&token).await.unwrap_err();
        assert_eq!(err, JwtError::UnsupportedAlgorithm);
        assert_eq!(
            both.verify(&token).await.unwrap_err(),
            JwtError::BadSignature
        );
    }
    // The JWKS publishes an `oct` key holding the secret: it must not make HS256 work.
    let token = sign(
        Algorithm::HS256,
        Some("oct-1"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        &good(),
    );
    let err = jwks_only.verify(&token).await.unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlgorithm);
    assert_eq!(server.fetches(), 0);
    // Nor may an ES256 token use it.
    let err = jwks_only.verify(&es("oct-1", &good())).await.unwrap_err();
    assert_eq!(err, JwtError::UnknownKey);
}

#[tokio::test]
async fn unknown_kid_refetches_once_then_is_rate_limited() {
    let server = JwksServer::start(jwks()).await;
    let v = server.verifier();
    v.verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(server.fetches(), 1);
    let err = v.verify(&es("rotated", &good())).await.unwrap_err();
    assert_eq!(err, JwtError::UnknownKey);
    assert_eq!(server.fetches(), 2, "one refetch for an unknown kid");
    for i in 0..50 {
        let err = v
            .verify(&es(&format!("junk-{i}"), &good()))
            .await
            .unwrap_err();
        assert_eq!(err, JwtError::UnknownKey);
    }
    assert_eq!(server.fetches(), 2, "refetches are rate-limited");
    // Known keys keep working meanwhile, and a token without kid never fetches.
    v.verify(&es(EC_KID, &good())).await.unwrap();
    let no_kid = sign(Algorithm::ES256, None, &ec_key(), &good());
    assert_eq!(v.verify(&no_kid).await.unwrap_err(), JwtError::UnknownKey);
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up() {
    let server = JwksServer::start(jwks()).await;
    let v = server
        .verifier()
        .with_jwks_refetch_interval(Duration::from_millis(300));
    let ec2 = EncodingKey::from_ec_pem(EC2_PEM).unwrap();
    let new_token = sign(Algorithm::ES256, Some(EC2_KID), &ec2, &good());
    v.verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(
        v.verify(&new_token).await.unwrap_err(),
        JwtError::UnknownKey
    );
    assert_eq!(server.fetches(), 2);
    server.doc.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(ec2_jwk());
    // Still within the refetch interval: refused without a fetch.
    assert_eq!(
        v.verify(&new_token).await.unwrap_err(),
        JwtError::UnknownKey
    );
    assert_eq!(server.fetches(), 2);
    tokio::time::sleep(Duration::from_millis(350)).await;
    v.verify(&new_token).await.unwrap();
    assert_eq!(server.fetches(), 3);

    // A fresh verifier, first token with the new key: fetched at once.
    let fresh = server.verifier();
    fresh.verify(&new_token).await.unwrap();
    assert_eq!(server.fetches(), 4);
}

#[tokio::test]
async fn the_jwks_is_cached_for_its_ttl() {
    let server = JwksServer::start(jwks()).await;
    let v = server.verifier();
    for _ in 0..30 {
        v.verify(&es(EC_KID, &good())).await.unwrap();
    }
    assert_eq!(server.fetches(), 1);
    // Clones share the cache.
    v.clone().verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(server.fetches(), 1);

    let short = JwtVerifier::new(
        None,
        Some(server.base_url.clone()),
        Duration::from_millis(200),
    );
    short.verify(&es(EC_KID, &good())).await.unwrap();
    short.verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(server.fetches(), 2);
    tokio::time::sleep(Duration::from_millis(250)).await;
    short.verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(server.fetches(), 3, "refetched after the TTL");
}

#[tokio::test]
async fn concurrent_verifications_share_one_fetch() {
    let server = JwksServer::start_with_delay(jwks(), Duration::from_millis(300)).await;
    let v = server.verifier();
    let token = es(EC_KID, &good());
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (v, token) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.fetches(), 1, "no stampede on the JWKS endpoint");
}

#[tokio::test]
async fn jwks_down_fails_es256_but_not_hs256() {
    let dead = ClosedPort::new();
    let v = JwtVerifier::new(Some(SECRET.into()), Some(dead.url()), TTL);
    let err = v.verify(&es(EC_KID, &good())).await.unwrap_err();
    assert!(matches!(err, JwtError::JwksUnavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("eyJ"), "no token in the message");
    v.verify(&hs(&good())).await.unwrap();

    // An endpoint answering 503: unavailable, then usable once it recovers.
    let server = JwksServer::start(jwks()).await;
    server.status.store(503, Ordering::SeqCst);
    let v = server.verifier();
    for _ in 0..10 {
        let err = v.verify(&es(EC_KID, &good())).await.unwrap_err();
        assert!(matches!(err, JwtError::JwksUnavailable(_)), "{err:?}");
    }
    assert_eq!(server.fetches(), 1, "failed fetches back off too");
    server.status.store(200, Ordering::SeqCst);
    tokio::time::sleep(FAILURE_BACKOFF + Duration::from_millis(100)).await;
    v.verify(&es(EC_KID, &good())).await.unwrap();
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn each_configuration_verifies_only_its_own_algorithms() {
    let err = hs_only().verify(&es(EC_KID, &good())).await.unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlgorithm);
    let server = JwksServer::start(jwks()).await;
    let err = server.verifier().verify(&hs(&good())).await.unwrap_err();
    assert_eq!(err, JwtError::UnsupportedAlgorithm);
    let none = JwtVerifier::new(Some("".into()), Some(String::new()), TTL);
    for token in [hs(&good()), es(EC_KID, &good())] {
        let err = none.verify(&token).await.unwrap_err();
        assert_eq!(err, JwtError::UnsupportedAlgorithm);
    }
    assert_eq!(server.fetches(), 0);
    let dbg = format!("{:?}", hs_only());
    assert!(!dbg.contains(SECRET), "{dbg}");
}

// ---- the extractor ----

/// What `GET /me` answers: the verified caller.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Me {
    sub: String,
    email: Option<String>,
}

async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        sub: user.0.sub.to_string(),
        email: user.0.email.clone(),
    })
}

/// An app with `GET /me` taking [`AuthUser`]; returns its base URL.
fn spawn_app(verifier: JwtVerifier) -> (String, ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let data = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/me", web::get().to(me))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

async fn get_me(base: &str, auth: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{base}/me"));
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn extractor_yields_the_user_or_answers_401_json() {
    let server = JwksServer::start(jwks()).await;
    let verifier = JwtVerifier::new(Some(SECRET.into()), Some(server.base_url.clone()), TTL);
    let (base, handle) = spawn_app(verifier);

    for token in [hs(&good()), es(EC_KID, &good())] {
        let body: Me = answer(get_me(&base, Some(&format!("Bearer {token}"))).await, 200).await;
        assert_eq!(body.sub, USER);
        assert_eq!(body.email.as_deref(), Some("user@example.com"));
    }

    let expired = hs(&with(good(), "exp", json!(now() - 600)));
    let wrong_aud = hs(&with(good(), "aud", json!("anon")));
    let cases = [
        None,
        Some("Basic dXNlcjpwYXNzd29yZA==".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer not-a-jwt".to_owned()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {wrong_aud}")),
        Some(hs(&good())), // no scheme
    ];
    for auth in &cases {
        let e = error(get_me(&base, auth.as_deref()).await, 401).await;
        assert_eq!(e.code, "unauthorized", "{auth:?}");
        assert!(!e.message.is_empty() && !e.message.contains("eyJ"), "{e:?}");
    }
    handle.stop(false).await;
}

#[tokio::test]
async fn extractor_answers_503_when_the_jwks_is_unreachable() {
    let dead = ClosedPort::new();
    let verifier = JwtVerifier::new(Some(SECRET.into()), Some(dead.url()), TTL);
    let (base, handle) = spawn_app(verifier);
    let res = get_me(&base, Some(&format!("Bearer {}", es(EC_KID, &good())))).await;
    assert_eq!(error_code(res, 503).await, "unavailable");
    let res = get_me(&base, Some(&format!("Bearer {}", hs(&good())))).await;
    answer::<Me>(res, 200).await;
    handle.stop(false).await;
}
