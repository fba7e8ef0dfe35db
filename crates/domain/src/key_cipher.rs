//! Keys at rest: AES-256-GCM under `KEY_ENCRYPTION_KEY`, a fresh 96-bit nonce per key, the
//! owning user's id as associated data (a ciphertext moved to another user's row fails to
//! decrypt). Stored as `nonce || ciphertext || tag`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;

use crate::api_key::ApiKey;
use crate::ids::UserId;

const NONCE_LEN: usize = 12;

/// Encrypts and decrypts keys. `Debug` never shows the key material.
#[derive(Clone)]
pub struct KeyCipher(Aes256Gcm);

/// Why a cipher or a ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// `KEY_ENCRYPTION_KEY` is not base64 of exactly 32 bytes.
    #[error("must be base64 of exactly 32 bytes")]
    BadKey,
    /// Tampered, truncated, or encrypted under another key or for another user.
    #[error("ciphertext does not decrypt")]
    Undecryptable,
}

impl KeyCipher {
    /// From the base64 text of `KEY_ENCRYPTION_KEY`.
    pub fn from_base64(text: &str) -> Result<Self, CipherError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| CipherError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CipherError::BadKey)?;
        Ok(Self(Aes256Gcm::new(&key.into())))
    }

    /// Encrypt `key` for `owner`.
    pub fn encrypt(&self, key: &ApiKey, owner: UserId) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let payload = Payload {
            msg: key.expose().as_bytes(),
            aad: owner.0.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypt what [`encrypt`](Self::encrypt) produced for `owner`.
    pub fn decrypt(&self, stored: &[u8], owner: UserId) -> Result<ApiKey, CipherError> {
        if stored.len() <= NONCE_LEN {
            return Err(CipherError::Undecryptable);
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: owner.0.as_bytes(),
                },
            )
            .map_err(|_| CipherError::Undecryptable)?;
        let text = String::from_utf8(plain).map_err(|_| CipherError::Undecryptable)?;
        ApiKey::parse(&text).map_err(|_| CipherError::Undecryptable)
    }
}

impl std::fmt::Debug for KeyCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCipher(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "dG9sbGdhdGUtbG9jYWwtZGVtby1rZXktMzItYnl0ZXM=";

    fn other_key() -> String {
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }

    #[test]
    fn round_trip_and_fresh_nonces() {
        let cipher = KeyCipher::from_base64(K1).unwrap();
        let user = UserId::new_random();
        let key = ApiKey::generate();
        let a = cipher.encrypt(&key, user);
        let b = cipher.encrypt(&key, user);
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(cipher.decrypt(&a, user).unwrap(), key);
        assert!(!a
            .windows(8)
            .any(|w| key.expose().as_bytes().windows(8).any(|k| k == w)));
    }

    #[test]
    fn wrong_user_wrong_key_or_tampering_fail() {
        let cipher = KeyCipher::from_base64(K1).unwrap();
        let user = UserId::new_random();
        let mut sealed = cipher.encrypt(&ApiKey::generate(), user);
        assert_eq!(
            cipher.decrypt(&sealed, UserId::new_random()),
            Err(CipherError::Undecryptable)
        );
        let other = KeyCipher::from_base64(&other_key()).unwrap();
        assert_eq!(
            other.decrypt(&sealed, user),
            Err(CipherError::Undecryptable)
        );
        sealed[20] ^= 1;
        assert_eq!(
            cipher.decrypt(&sealed, user),
            Err(CipherError::Undecryptable)
        );
        assert_eq!(
            cipher.decrypt(&[1, 2, 3], user),
            Err(CipherError::Undecryptable)
        );
    }

    #[test]
    fn bad_encryption_keys_are_refused() {
        assert_eq!(
            KeyCipher::from_base64("not base64!").unwrap_err(),
            CipherError::BadKey
        );
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert_eq!(
            KeyCipher::from_base64(&short).unwrap_err(),
            CipherError::BadKey
        );
    }
}
