//! Verification of Supabase user access tokens (JWTs).
//!
//! - `HS256` tokens are checked with the project's legacy JWT secret (`SUPABASE_JWT_SECRET`,
//!   the raw string bytes);
//! - `ES256` and `RS256` tokens are checked with the public key the header's `kid` names in the
//!   project's JWKS (`$SUPABASE_URL/auth/v1/.well-known/jwks.json`).
//!
//! The verifier is picked by the token's `alg`, and a JWKS key is used only when its `kty`
//! (and `alg`, `use`, `key_ops` when given) fit that alg: no `alg: none`, no HMAC with a public
//! key. Symmetric (`oct`) keys in the JWKS are ignored.
//!
//! The JWKS is cached for a TTL. An unknown `kid` triggers a refetch at most once per
//! [`DEFAULT_REFETCH_INTERVAL`], one fetch is in flight at a time (waiters reuse its result),
//! and after a failed fetch the endpoint is left alone for [`FAILURE_BACKOFF`]; while it is
//! failing, cached keys stay usable for up to [`MAX_STALE`] past their TTL.

use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::PublicKeyUse;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;
use tollgate_domain::ids::UserId;

/// The audience Supabase puts in the access tokens of signed-in users.
pub const AUDIENCE: &str = "authenticated";
/// Clock skew tolerated on `exp` (and `nbf`), in seconds.
pub const LEEWAY_SECS: u64 = 10;
/// Least time between two JWKS refetches caused by an unknown `kid`.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Least time between a failed JWKS fetch and the next attempt.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(2);
/// How long past its TTL a cached key stays usable while the JWKS endpoint is failing.
pub const MAX_STALE: Duration = Duration::from_secs(3600);
/// Timeout of one JWKS fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest token accepted (bytes); longer input is rejected before any parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Largest JWKS document accepted (bytes).
const MAX_JWKS_LEN: usize = 1024 * 1024;

/// What a verified token says about its user.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The Supabase user (`sub`).
    pub sub: UserId,
    /// The user's email, if the token carries a non-empty one.
    pub email: Option<String>,
    /// The Postgres role claim (`authenticated` for signed-in users), if present.
    pub role: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// Why a token was refused. The messages are short and never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a well-formed JWT (shape, base64, JSON, missing `exp`, oversized).
    #[error("malformed token")]
    Malformed,
    /// `exp` is past (beyond the leeway), or `nbf` is in the future.
    #[error("token expired or not yet valid")]
    Expired,
    /// `aud` is missing or does not contain `authenticated`.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// The signature does not verify with the selected key.
    #[error("invalid token signature")]
    BadSignature,
    /// The token's `alg` has no configured verifier, or does not fit the key its `kid` names.
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    /// No JWKS key with the token's `kid` (or no `kid` at all).
    #[error("unknown signing key")]
    UnknownKey,
    /// `sub` is missing or not a UUID.
    #[error("token subject is not a user id")]
    BadSubject,
    /// The JWKS could not be fetched and the token needs it.
    #[error("signing keys unavailable: {0}")]
    JwksUnavailable(String),
}

/// Verifies Supabase access tokens. Cheap to clone (shared cache inside).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jwks = self.inner.jwks.as_ref();
        f.debug_struct("JwtVerifier")
            .field("hs256", &self.inner.hs256.as_ref().map(|_| "[configured]"))
            .field("jwks_url", &jwks.map(|j| j.url.as_str()))
            .field("jwks_ttl", &jwks.map(|j| j.ttl))
            .field("jwks_refetch_interval", &jwks.map(|j| j.refetch_interval))
            .finish()
    }
}

impl JwtVerifier {
    /// A verifier for `HS256` tokens when `hs256_secret` is set, and for `ES256`/`RS256`
    /// tokens through `$supabase_url/auth/v1/.well-known/jwks.json` when `supabase_url` is set
    /// (cached for `jwks_ttl`). Empty strings count as absent.
    pub fn new(
        hs256_secret: Option<SecretString>,
        supabase_url: Option<String>,
        jwks_ttl: Duration,
    ) -> Self {
        let hs256 = hs256_secret
            .filter(|s| !s.expose_secret().is_empty())
            .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes()));
        let jwks = supabase_url
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
            .map(|u| {
                JwksCache::new(
                    format!("{u}/auth/v1/.well-known/jwks.json"),
                    jwks_ttl,
                    DEFAULT_REFETCH_INTERVAL,
                )
            });
        JwtVerifier {
            inner: Arc::new(Inner { hs256, jwks }),
        }
    }

    /// The same configuration with another least time between unknown-`kid` refetches
    /// (default [`DEFAULT_REFETCH_INTERVAL`]). The returned verifier starts with an empty cache.
    pub fn with_jwks_refetch_interval(self, interval: Duration) -> Self {
        let jwks = self
            .inner
            .jwks
            .as_ref()
            .map(|j| JwksCache::new(j.url.clone(), j.ttl, interval));
        JwtVerifier {
            inner: Arc::new(Inner {
                hs256: self.inner.hs256.clone(),
                jwks,
            }),
        }
    }

    /// Whether `HS256` tokens can be verified.
    pub fn has_hs256(&self) -> bool {
        self.inner.hs256.is_some()
    }

    /// Whether `ES256`/`RS256` tokens can be verified (a JWKS URL is configured).
    pub fn has_jwks(&self) -> bool {
        self.inner.jwks.is_some()
    }

    /// Verify `token` (signature, `exp`, `aud`) and return its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        // An unknown `alg` (including `none`) fails to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 => self
                .inner
                .hs256
                .clone()
                .ok_or(JwtError::UnsupportedAlgorithm)?,
            Algorithm::ES256 | Algorithm::RS256 => {
                let jwks = self
                    .inner
                    .jwks
                    .as_ref()
                    .ok_or(JwtError::UnsupportedAlgorithm)?;
                let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
                let (alg, key) = jwks.key(kid).await?;
                if alg != header.alg {
                    return Err(JwtError::UnsupportedAlgorithm);
                }
                key
            }
            _ => return Err(JwtError::UnsupportedAlgorithm),
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation(header.alg))
            .map_err(|e| map_error(e.kind()))?;
        claims_from(data.claims)
    }
}

/// The checks for a token signed with `alg`: exactly that alg, `exp` and `aud` required.
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = LEEWAY_SECS;
    v.validate_nbf = true;
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v
}

fn map_error(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => JwtError::BadSignature,
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => JwtError::Expired,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => JwtError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) if c == "sub" => JwtError::BadSubject,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => JwtError::UnsupportedAlgorithm,
        _ => JwtError::Malformed,
    }
}

fn claims_from(mut raw: Map<String, Value>) -> Result<Claims, JwtError> {
    let sub = raw
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<UserId>().ok())
        .ok_or(JwtError::BadSubject)?;
    let exp = match raw.get("exp") {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or(JwtError::Malformed)?,
        _ => return Err(JwtError::Malformed),
    };
    let mut string = |name: &str| match raw.remove(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    Ok(Claims {
        sub,
        email: string("email"),
        role: string("role"),
        exp,
    })
}

/// The JWKS endpoint and its cached keys.
struct JwksCache {
    url: String,
    ttl: Duration,
    refetch_interval: Duration,
    client: reqwest::Client,
    state: RwLock<CacheState>,
    /// Held for the whole of a fetch: one fetch in flight.
    fetching: Mutex<()>,
}

/// A usable key: the one algorithm it verifies, and the key.
type KeyEntry = (Algorithm, DecodingKey);

#[derive(Default)]
struct CacheState {
    keys: HashMap<String, KeyEntry>,
    /// Last successful fetch.
    fetched_at: Option<Instant>,
    /// Last fetch caused by an unknown `kid` (successful or not).
    refetched_at: Option<Instant>,
    /// Last failed fetch, if after the last success, and why.
    failure: Option<(Instant, String)>,
}

/// What to do for a `kid`, given the cache.
enum Decision {
    Use(KeyEntry),
    Fetch { unknown_kid: bool },
    Reject(JwtError),
}

impl CacheState {
    fn decide(&self, kid: &str, now: Instant, ttl: Duration, refetch: Duration) -> Decision {
        let fresh = self
            .fetched_at
            .is_some_and(|t| now.saturating_duration_since(t) < ttl);
        if let (true, Some(entry)) = (fresh, self.keys.get(kid)) {
            return Decision::Use(entry.clone());
        }
        if let Some((at, why)) = &self.failure {
            if now.saturating_duration_since(*at) < FAILURE_BACKOFF {
                return self.fallback(kid, now, ttl, Some(why));
            }
        }
        if !fresh {
            return Decision::Fetch { unknown_kid: false };
        }
        match self.refetched_at {
            Some(t) if now.saturating_duration_since(t) < refetch => {
                Decision::Reject(JwtError::UnknownKey)
            }
            _ => Decision::Fetch { unknown_kid: true },
        }
    }

    /// After a fetch (`failure` says why it failed): a cached key if not too stale, else why not.
    fn fallback(
        &self,
        kid: &str,
        now: Instant,
        ttl: Duration,
        failure: Option<&String>,
    ) -> Decision {
        let usable = self
            .fetched_at
            .is_some_and(|t| now.saturating_duration_since(t) < ttl + MAX_STALE);
        match (self.keys.get(kid), failure) {
            (Some(entry), _) if usable => Decision::Use(entry.clone()),
            (_, Some(why)) => Decision::Reject(JwtError::JwksUnavailable(why.clone())),
            (_, None) => Decision::Reject(JwtError::UnknownKey),
        }
    }
}

impl JwksCache {
    fn new(url: String, ttl: Duration, refetch_interval: Duration) -> Self {
        JwksCache {
            url,
            ttl,
            refetch_interval,
            client: tollgate_web::http_client::http_client(FETCH_TIMEOUT),
            state: RwLock::new(CacheState::default()),
            fetching: Mutex::new(()),
        }
    }

    async fn decide(&self, kid: &str) -> Decision {
        let state = self.state.read().await;
        state.decide(kid, Instant::now(), self.ttl, self.refetch_interval)
    }

    /// The key named `kid`, fetching the JWKS if the cache says so.
    async fn key(&self, kid: &str) -> Result<KeyEntry, JwtError> {
        match self.decide(kid).await {
            Decision::Use(entry) => return Ok(entry),
            Decision::Reject(e) => return Err(e),
            Decision::Fetch { .. } => {}
        }
        let _one_fetch = self.fetching.lock().await;
        // Double check: another task may have fetched while this one waited.
        let unknown_kid = match self.decide(kid).await {
            Decision::Use(entry) => return Ok(entry),
            Decision::Reject(e) => return Err(e),
            Decision::Fetch { unknown_kid } => unknown_kid,
        };
        let fetched = self.fetch().await;
        let now = Instant::now();
        let mut state = self.state.write().await;
        if unknown_kid {
            state.refetched_at = Some(now);
        }
        let failure = match fetched {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "fetched the Supabase JWKS");
                state.keys = keys;
                state.fetched_at = Some(now);
                state.failure = None;
                None
            }
            Err(why) => {
                tracing::warn!(url = %self.url, error = %why, "cannot fetch the Supabase JWKS");
                state.failure = Some((now, why.clone()));
                Some(why)
            }
        };
        match state.fallback(kid, now, self.ttl, failure.as_ref()) {
            Decision::Use(entry) => Ok(entry),
            Decision::Reject(e) => Err(e),
            Decision::Fetch { .. } => Err(JwtError::UnknownKey),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, KeyEntry>, String> {
        let res = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status().as_u16()));
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("reading the body failed: {}", e.without_url()))?;
        if body.len() > MAX_JWKS_LEN {
            return Err("JWKS document too large".into());
        }
        parse_jwks(&body)
    }
}

/// The usable signing keys of a JWKS document, by `kid`. Entries that are malformed,
/// symmetric, of another curve or use, or without `kid` are skipped.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, KeyEntry>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<Value>,
    }
    let doc: Doc = serde_json::from_slice(body).map_err(|e| format!("invalid JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for raw in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
            continue;
        };
        let (Some(kid), Some(entry)) = (jwk.common.key_id.clone(), usable_key(&jwk)) else {
            continue;
        };
        keys.entry(kid).or_insert(entry);
    }
    Ok(keys)
}

/// The algorithm `jwk` may verify and its decoding key, if it is a signing key we accept.
fn usable_key(jwk: &Jwk) -> Option<KeyEntry> {
    let common = &jwk.common;
    if matches!(&common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    if matches!(&common.key_operations, Some(ops) if !ops.contains(&KeyOperations::Verify)) {
        return None;
    }
    let (alg, key_alg) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        _ => return None,
    };
    if common.key_algorithm.is_some_and(|a| a != key_alg) {
        return None;
    }
    DecodingKey::from_jwk(jwk).ok().map(|k| (alg, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"e",
        "x":"Qy59ytyexgNgWxmofElXko7y6TIqDOztADXpCo2rvuE",
        "y":"uqtaL5w1FuEyV_yMeJiIbSql5Fqc8TUJkTc3FD5A42E"}"#;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    fn with(json: &str, field: &str, value: Value) -> Jwk {
        let mut v: Value = serde_json::from_str(json).unwrap();
        v[field] = value;
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepts_only_signing_keys_that_fit_their_alg() {
        assert_eq!(usable_key(&jwk(EC)).unwrap().0, Algorithm::ES256);
        let ok = with(EC, "alg", "ES256".into());
        assert!(usable_key(&ok).is_some());
        assert!(usable_key(&with(EC, "alg", "RS256".into())).is_none());
        assert!(usable_key(&with(EC, "alg", "HS256".into())).is_none());
        assert!(usable_key(&with(EC, "use", "enc".into())).is_none());
        assert!(usable_key(&with(EC, "key_ops", serde_json::json!(["sign"]))).is_none());
        assert!(usable_key(&with(EC, "crv", "P-384".into())).is_none());
        let oct = jwk(r#"{"kty":"oct","k":"c2VjcmV0","kid":"o","alg":"HS256"}"#);
        assert!(usable_key(&oct).is_none());
    }

    #[test]
    fn parse_jwks_skips_what_it_cannot_use() {
        let body = format!(
            r#"{{"keys":[{EC},{{"kty":"weird","kid":"w"}},{{"kty":"oct","k":"c2VjcmV0","kid":"o"}},
            {{"kty":"EC","crv":"P-256","x":"Qy59ytyexgNgWxmofElXko7y6TIqDOztADXpCo2rvuE",
              "y":"uqtaL5w1FuEyV_yMeJiIbSql5Fqc8TUJkTc3FD5A42E"}}]}}"#
        );
        let keys = parse_jwks(body.as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["e"]);
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"not json").is_err());
    }

    /// A short label for a decision, to compare in tests.
    fn label(d: Decision) -> String {
        match d {
            Decision::Use((alg, _)) => format!("use {alg:?}"),
            Decision::Fetch { unknown_kid } => format!("fetch unknown_kid={unknown_kid}"),
            Decision::Reject(e) => format!("reject {e:?}"),
        }
    }

    #[test]
    fn cache_decisions() {
        let ttl = Duration::from_secs(600);
        let refetch = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut s = CacheState::default();
        let at = |s: &CacheState, kid: &str, t: Instant| label(s.decide(kid, t, ttl, refetch));
        assert_eq!(at(&s, "e", t0), "fetch unknown_kid=false");

        s.keys = parse_jwks(format!(r#"{{"keys":[{EC}]}}"#).as_bytes()).unwrap();
        s.fetched_at = Some(t0);
        assert_eq!(at(&s, "e", t0), "use ES256");
        assert_eq!(at(&s, "x", t0), "fetch unknown_kid=true");
        s.refetched_at = Some(t0);
        assert_eq!(
            at(&s, "x", t0 + Duration::from_secs(10)),
            "reject UnknownKey"
        );
        assert_eq!(at(&s, "x", t0 + refetch), "fetch unknown_kid=true");

        // Expired cache: refetch; while the endpoint fails, the stale key still serves.
        let t1 = t0 + ttl;
        assert_eq!(at(&s, "e", t1), "fetch unknown_kid=false");
        s.failure = Some((t1, "down".into()));
        assert_eq!(at(&s, "e", t1), "use ES256");
        assert_eq!(at(&s, "x", t1), r#"reject JwksUnavailable("down")"#);
        assert_eq!(at(&s, "x", t1 + FAILURE_BACKOFF), "fetch unknown_kid=false");
        // ... but not forever.
        let t2 = t0 + ttl + MAX_STALE;
        s.failure = Some((t2, "down".into()));
        assert_eq!(at(&s, "e", t2), r#"reject JwksUnavailable("down")"#);
    }

    #[test]
    fn claims_need_a_uuid_subject() {
        let claims = |v: Value| claims_from(v.as_object().unwrap().clone());
        let sub = "6c0e4f5e-6f39-4d63-9b0a-2a8cfae4a3a1";
        let ok =
            claims(serde_json::json!({"sub": sub, "exp": 5, "email": "", "role": "authenticated"}))
                .unwrap();
        assert_eq!(ok.sub.to_string(), sub);
        assert_eq!(
            (ok.email, ok.role.as_deref(), ok.exp),
            (None, Some("authenticated"), 5)
        );
        let bad = claims(serde_json::json!({"sub": "not-a-uuid", "exp": 5}));
        assert_eq!(bad.unwrap_err(), JwtError::BadSubject);
        let bad = claims(serde_json::json!({"sub": 42, "exp": 5}));
        assert_eq!(bad.unwrap_err(), JwtError::BadSubject);
    }

    #[test]
    fn debug_hides_the_secret() {
        let v = JwtVerifier::new(
            Some("hunter2-secret".into()),
            None,
            Duration::from_secs(600),
        );
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("configured"));
    }
}
