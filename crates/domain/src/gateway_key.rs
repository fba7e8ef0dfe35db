//! How new-api reads a bearer key: `Authorization: Bearer sk-<key>[-<channel spec>]`.
//! The `sk-` prefix is optional and everything from the first `-` after it is not part of
//! the key, which is why Tollgate's keys never contain `-`.

/// The key part of an `Authorization` header value, as new-api looks it up in `tokens.key`.
/// `None` when the header is not a bearer token or the key part is empty.
pub fn key_from_authorization(header: &str) -> Option<&str> {
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?
        .trim();
    let token = token.strip_prefix("sk-").unwrap_or(token);
    let key = token.split('-').next().unwrap_or("");
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefix_and_channel_suffix() {
        assert_eq!(key_from_authorization("Bearer sk-abc"), Some("abc"));
        assert_eq!(key_from_authorization("Bearer abc"), Some("abc"));
        assert_eq!(key_from_authorization("Bearer sk-abc-12"), Some("abc"));
        assert_eq!(key_from_authorization("bearer sk-abc"), Some("abc"));
    }

    #[test]
    fn refuses_non_bearer_and_empty_keys() {
        assert_eq!(key_from_authorization("Basic abc"), None);
        assert_eq!(key_from_authorization("Bearer "), None);
        assert_eq!(key_from_authorization("Bearer sk-"), None);
        assert_eq!(key_from_authorization("Bearer sk--1"), None);
    }
}
