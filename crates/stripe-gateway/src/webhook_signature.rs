//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` where each
//! `v1` is HMAC-SHA256(secret, "`t`.`raw body`"), hex-encoded.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a `Stripe-Signature` header was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSignatureError {
    /// The header has no usable `t=` timestamp or no `v1=` signature.
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    /// No `v1` signature matches the body under the secret.
    #[error("no v1 signature matches the payload")]
    Mismatch,
    /// The signature is valid but its timestamp is too far from now (a replay?).
    #[error("signature timestamp {timestamp} is outside the tolerance at {now}")]
    TimestampOutOfTolerance {
        /// `t` from the header.
        timestamp: i64,
        /// The time it was checked at.
        now: i64,
    },
}

fn expected_signature(body: &[u8], secret: &str, t: i64) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Check a `Stripe-Signature` header against the raw request body: any `v1` may match
/// (compared in constant time), and `|now_unix - t|` must be at most `tolerance_secs`.
pub fn verify_webhook_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), WebhookSignatureError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" if timestamp.is_none() => {
                let t = value
                    .trim()
                    .parse()
                    .map_err(|_| WebhookSignatureError::Malformed("timestamp is not a number"))?;
                timestamp = Some(t);
            }
            // A v1 that is not hex can never match; skip it rather than fail the others.
            "v1" => signatures.extend(hex::decode(value.trim()).ok()),
            _ => {}
        }
    }
    let t = timestamp.ok_or(WebhookSignatureError::Malformed("no t= timestamp"))?;
    if signatures.is_empty() {
        return Err(WebhookSignatureError::Malformed("no v1= signature"));
    }
    let expected = expected_signature(body, secret, t).finalize().into_bytes();
    let matched = signatures.iter().fold(subtle::Choice::from(0), |any, sig| {
        any | expected.as_slice().ct_eq(sig)
    });
    if !bool::from(matched) {
        return Err(WebhookSignatureError::Mismatch);
    }
    if now_unix.abs_diff(t) > tolerance_secs.max(0).unsigned_abs() {
        return Err(WebhookSignatureError::TimestampOutOfTolerance {
            timestamp: t,
            now: now_unix,
        });
    }
    Ok(())
}

/// Sign `body` the way Stripe does, for tests and simulators: `t=<t>,v1=<hex>`.
pub fn sign_webhook(body: &[u8], secret: &str, t: i64) -> String {
    let mac = expected_signature(body, secret, t).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    const NOW: i64 = 1_700_000_000;

    #[test]
    fn signed_body_verifies() {
        let header = sign_webhook(BODY, SECRET, NOW);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(
            verify_webhook_signature(&header, BODY, SECRET, NOW, 300),
            Ok(())
        );
        // Within tolerance either way.
        assert_eq!(
            verify_webhook_signature(&header, BODY, SECRET, NOW + 300, 300),
            Ok(())
        );
        assert_eq!(
            verify_webhook_signature(&header, BODY, SECRET, NOW - 300, 300),
            Ok(())
        );
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("whsec_test", "1700000000.{...}") computed independently (openssl).
        let header = sign_webhook(BODY, SECRET, NOW);
        let v1 = header.split("v1=").nth(1).unwrap();
        assert_eq!(v1.len(), 64);
        assert_eq!(v1, KNOWN_V1);
    }

    const KNOWN_V1: &str = "001ce3ef73e456cedaab328328720d3ad59defb8bbd0f1518f46c04ad4ac0bb7";

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let header = sign_webhook(BODY, "whsec_other", NOW);
        assert_eq!(
            verify_webhook_signature(&header, BODY, SECRET, NOW, 300),
            Err(WebhookSignatureError::Mismatch)
        );
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let header = sign_webhook(BODY, SECRET, NOW);
        let tampered = br#"{"id":"evt_1","type":"payment_intent.succeedee"}"#;
        assert_eq!(
            verify_webhook_signature(&header, tampered, SECRET, NOW, 300),
            Err(WebhookSignatureError::Mismatch)
        );
        // Changing t invalidates the signature too.
        let v1 = header.split("v1=").nth(1).unwrap();
        let moved = format!("t={},v1={v1}", NOW + 1);
        assert_eq!(
            verify_webhook_signature(&moved, BODY, SECRET, NOW, 300),
            Err(WebhookSignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_timestamp_is_rejected() {
        let header = sign_webhook(BODY, SECRET, NOW);
        for now in [NOW + 301, NOW - 301] {
            assert_eq!(
                verify_webhook_signature(&header, BODY, SECRET, now, 300),
                Err(WebhookSignatureError::TimestampOutOfTolerance {
                    timestamp: NOW,
                    now
                })
            );
        }
        // Extreme values do not overflow; a negative tolerance means "exactly now".
        for now in [i64::MIN, i64::MAX] {
            assert!(
                matches!(
                    verify_webhook_signature(&header, BODY, SECRET, now, i64::MAX),
                    Err(WebhookSignatureError::TimestampOutOfTolerance { .. })
                ) == (now == i64::MIN)
            );
        }
        assert_eq!(
            verify_webhook_signature(&header, BODY, SECRET, NOW, -5),
            Ok(())
        );
        assert!(verify_webhook_signature(&header, BODY, SECRET, NOW + 1, -5).is_err());
    }

    #[test]
    fn malformed_headers() {
        let v1 = sign_webhook(BODY, SECRET, NOW);
        let v1 = v1.split("v1=").nth(1).unwrap();
        for (header, why) in [
            ("", "no t= timestamp"),
            ("garbage", "no t= timestamp"),
            (&format!("v1={v1}") as &str, "no t= timestamp"),
            (&format!("t={NOW}"), "no v1= signature"),
            (&format!("t={NOW},v0={v1}"), "no v1= signature"),
            (&format!("t={NOW},v1=zz"), "no v1= signature"),
            (&format!("t=abc,v1={v1}"), "timestamp is not a number"),
        ] {
            assert_eq!(
                verify_webhook_signature(header, BODY, SECRET, NOW, 300),
                Err(WebhookSignatureError::Malformed(why)),
                "{header}"
            );
        }
    }

    #[test]
    fn any_of_several_v1_may_match() {
        let good = sign_webhook(BODY, SECRET, NOW);
        let good = good.split("v1=").nth(1).unwrap();
        let other = sign_webhook(BODY, "whsec_rolled", NOW);
        let other = other.split("v1=").nth(1).unwrap();
        for header in [
            format!("t={NOW},v1={other},v1={good}"),
            format!("t={NOW}, v1={good}, v1={other}, v0=abc"),
        ] {
            assert_eq!(
                verify_webhook_signature(&header, BODY, SECRET, NOW, 300),
                Ok(()),
                "{header}"
            );
        }
        let none = format!("t={NOW},v1={other},v1={other}");
        assert_eq!(
            verify_webhook_signature(&none, BODY, SECRET, NOW, 300),
            Err(WebhookSignatureError::Mismatch)
        );
    }
}
