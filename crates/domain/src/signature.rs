//! Secret comparison and webhook signatures, always in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Compare two secrets without leaking where they differ. Lengths may leak.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Check an `Authorization: Bearer <secret>` header value against the expected secret.
pub fn bearer_matches(header: Option<&str>, expected: &str) -> bool {
    match header.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(given) => !expected.is_empty() && secrets_equal(given.as_bytes(), expected.as_bytes()),
        None => false,
    }
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`, the limit webhook's signature header.
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verify a `sha256=<hex>` signature over the raw body in constant time.
pub fn verify_sha256(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip() {
        let sig = sign_sha256(b"s3cret", b"{\"a\":1}");
        assert!(sig.starts_with("sha256="));
        assert!(verify_sha256(b"s3cret", b"{\"a\":1}", &sig));
        assert!(!verify_sha256(b"s3cret", b"{\"a\":2}", &sig));
        assert!(!verify_sha256(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_sha256(b"s3cret", b"{\"a\":1}", &sig[7..]));
        assert!(!verify_sha256(b"s3cret", b"{\"a\":1}", "sha256=zz"));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        let sig = sign_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bearer_comparison() {
        assert!(bearer_matches(Some("Bearer abc"), "abc"));
        assert!(!bearer_matches(Some("Bearer abd"), "abc"));
        assert!(!bearer_matches(Some("abc"), "abc"));
        assert!(!bearer_matches(None, "abc"));
        assert!(!bearer_matches(Some("Bearer "), ""));
    }
}
