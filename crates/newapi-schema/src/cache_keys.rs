//! The keys of new-api's Redis cache (`model/token_cache.go`, `model/user_cache.go`,
//! `common/crypto.go`), for whoever reads or invalidates it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cache key of a token: `token:` + lower-case hex HMAC-SHA256 of the key (without
/// `sk-`) under new-api's crypto secret (`CRYPTO_SECRET`, else `SESSION_SECRET`).
pub fn token_cache_key(crypto_secret: &str, key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(crypto_secret.as_bytes()).expect("any key length");
    mac.update(key.as_bytes());
    format!("token:{}", hex::encode(mac.finalize().into_bytes()))
}

/// The cache key of user `id`: `user:<id>`.
pub fn user_cache_key(id: i64) -> String {
    format!("user:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_are_new_apis() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            token_cache_key("Jefe", "what do ya want for nothing?"),
            "token:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(user_cache_key(42), "user:42");
    }
}
