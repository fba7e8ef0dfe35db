//! Tollgate's gateway keys: 48 characters of `0-9a-zA-Z` from the OS CSPRNG, shown to
//! users as `sk-<key>`. new-api cuts a bearer key at its first `-`, so a key holds none.

use std::fmt;

use sha2::{Digest, Sha256};

/// Characters of a key (new-api's own key alphabet).
pub const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Length of a key without `sk-`.
pub const KEY_LEN: usize = 48;

/// A full gateway key (without `sk-`). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a string is not a gateway key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key is 48 characters of 0-9a-zA-Z")]
pub struct InvalidKey;

impl ApiKey {
    /// A new key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::generate_with(|buf| getrandom::fill(buf).expect("the OS random source works"))
    }

    /// A new key from `fill`, a source of uniformly random bytes. Rejection sampling keeps
    /// every character equally likely (bytes ≥ 248 are drawn again).
    pub fn generate_with(mut fill: impl FnMut(&mut [u8])) -> Self {
        let mut key = String::with_capacity(KEY_LEN);
        let mut buf = [0u8; 64];
        while key.len() < KEY_LEN {
            fill(&mut buf);
            for &b in &buf {
                if b < 248 && key.len() < KEY_LEN {
                    key.push(ALPHABET[(b % 62) as usize] as char);
                }
            }
        }
        ApiKey(key)
    }

    /// Parse a key, with or without `sk-`.
    pub fn parse(text: &str) -> Result<Self, InvalidKey> {
        let bare = text.strip_prefix("sk-").unwrap_or(text);
        if bare.len() == KEY_LEN && bare.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(ApiKey(bare.to_owned()))
        } else {
            Err(InvalidKey)
        }
    }

    /// The key as new-api stores it (no `sk-`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key as users see and send it: `sk-<key>`.
    pub fn to_user_string(&self) -> String {
        format!("sk-{}", self.0)
    }

    /// SHA-256 of the key (without `sk-`): the unique lookup value stored at rest.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// A hint safe to show and log: `sk-…` and the last four characters.
    pub fn hint(&self) -> String {
        format!("sk-…{}", &self.0[KEY_LEN - 4..])
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_right_shape_and_differ() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a, b);
        for key in [&a, &b] {
            assert_eq!(key.expose().len(), KEY_LEN);
            assert!(key.expose().bytes().all(|c| ALPHABET.contains(&c)));
            assert!(!key.expose().contains('-'));
        }
    }

    #[test]
    fn rejection_sampling_skips_biased_bytes() {
        // A source of only 255s would bias toward low characters; they must be skipped.
        let mut calls = 0;
        let key = ApiKey::generate_with(|buf| {
            calls += 1;
            let v = if calls == 1 { 255 } else { 61 };
            buf.fill(v);
        });
        assert!(calls >= 2);
        assert_eq!(key.expose(), "Z".repeat(KEY_LEN));
    }

    #[test]
    fn characters_are_spread_over_the_whole_alphabet() {
        let mut seen = [0u32; 62];
        for _ in 0..200 {
            for c in ApiKey::generate().expose().bytes() {
                seen[ALPHABET.iter().position(|&a| a == c).unwrap()] += 1;
            }
        }
        // 9600 draws: every character expected ~155 times; none may be missing or dominant.
        assert!(seen.iter().all(|&n| (60..300).contains(&n)), "{seen:?}");
    }

    #[test]
    fn parse_hint_hash_and_debug() {
        let raw = "a".repeat(44) + "WXYZ";
        let key = ApiKey::parse(&format!("sk-{raw}")).unwrap();
        assert_eq!(key.expose(), raw);
        assert_eq!(key.to_user_string(), format!("sk-{raw}"));
        assert_eq!(key.hint(), "sk-…WXYZ");
        assert_eq!(format!("{key:?}"), "ApiKey(sk-…WXYZ)");
        assert_eq!(key.hash(), ApiKey::parse(&raw).unwrap().hash());
        assert_eq!(ApiKey::parse("short"), Err(InvalidKey));
        assert_eq!(ApiKey::parse(&("a".repeat(47) + "-")), Err(InvalidKey));
    }
}
