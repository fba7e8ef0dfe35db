//! How keys reach new-api, behind one small trait so the sync logic does not care:
//! - [`import::ImportGateway`]: a patched new-api's import API (`NEWAPI_SYNC_MODE=import`,
//!   docs/newapi-import.md);
//! - [`database::DatabaseGateway`]: a stock new-api's own `users` and `tokens` tables
//!   (`NEWAPI_SYNC_MODE=database`, docs/newapi-database-mode.md).
//!
//! Both make the gateway hold what Tollgate holds: an active key present and enabled under
//! its name, a revoked key disabled, a deleted user's tokens and new-api user disabled.
//! Every call is idempotent; callers retry failures with backoff.

pub mod columns;
pub mod database;
pub mod import;
pub mod token_cache;

use futures_util::future::BoxFuture;
use tollgate_domain::api_key::ApiKey;
use tollgate_domain::ids::UserId;

/// Whose key it is, as far as the gateway is concerned.
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    /// The Supabase user.
    pub user: UserId,
    /// Their email when known (new-api's `display_name` and `email` in database mode).
    pub email: Option<&'a str>,
    /// Their new-api user id once known (database mode).
    pub newapi_user_id: Option<i64>,
}

/// What the gateway should hold for one key.
#[derive(Debug, Clone)]
pub struct KeyState<'a> {
    /// The key (sent or written without `sk-`).
    pub key: &'a ApiKey,
    /// Its name.
    pub name: &'a str,
    /// Active (present, enabled) or revoked (disabled, or absent).
    pub active: bool,
}

/// Where a key landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed {
    /// new-api's token id; `None` for a revoked key the gateway never had.
    pub token_id: Option<i64>,
    /// The owner's new-api user id (database mode).
    pub newapi_user_id: Option<i64>,
}

/// What disabling a deleted user did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDisabled {
    /// The new-api user id, when the gateway had the user.
    pub newapi_user_id: Option<i64>,
    /// Keys (without `sk-`) of the user's tokens, for cache invalidation; empty when the
    /// mode cannot tell.
    pub token_keys: Vec<String>,
}

/// Why a gateway call did not land. Messages never contain a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// No answer: refused, reset, or past the timeout (HTTP or database).
    #[error("new-api unreachable: {0}")]
    Transport(String),
    /// An HTTP error status.
    #[error("new-api answered HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// Its message, shortened.
        message: String,
    },
    /// new-api (or its data) refuses: `success:false`, a key of another user, a username
    /// taken by a user Tollgate did not create, the token cap. Needs an admin, or time.
    #[error("new-api refused: {0}")]
    Refused(String),
    /// An answer that is not the contract's shape.
    #[error("unexpected answer from new-api: {0}")]
    BadAnswer(String),
    /// A database error other than unreachability.
    #[error("new-api database error: {0}")]
    Database(String),
}

impl GatewayError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Transport(_) => "transport",
            GatewayError::Status { .. } => "status",
            GatewayError::Refused(_) => "refused",
            GatewayError::BadAnswer(_) => "bad_answer",
            GatewayError::Database(_) => "database",
        }
    }
}

/// Something that can make new-api hold Tollgate's keys.
pub trait Gateway: Send + Sync {
    /// Make the gateway hold `key` as described, idempotently.
    fn apply<'a>(
        &'a self,
        owner: Owner<'a>,
        key: KeyState<'a>,
    ) -> BoxFuture<'a, Result<Landed, GatewayError>>;

    /// Disable a deleted user: every token of theirs and their new-api user. Idempotent;
    /// a user the gateway never had is a success.
    fn disable_user<'a>(
        &'a self,
        owner: Owner<'a>,
    ) -> BoxFuture<'a, Result<UserDisabled, GatewayError>>;

    /// Put in several fresh signups at once — owners without a new-api user yet, each with
    /// one active key — all or nothing; answers where each landed, in order. A batch with a
    /// user or key that exists fails with [`GatewayError::Refused`] (the caller then applies
    /// them one by one). `None`: this gateway has no such path.
    fn create_fresh<'a>(
        &'a self,
        fresh: &'a [(Owner<'a>, KeyState<'a>)],
    ) -> Option<BoxFuture<'a, Result<Vec<Landed>, GatewayError>>> {
        let _ = fresh;
        None
    }

    /// The mode's name, for logs and the start-up line.
    fn mode(&self) -> &'static str;
}

/// Never let a key travel into an error message, a log line or the database.
pub(crate) fn scrub(text: &str, key: &ApiKey) -> String {
    text.replace(key.expose(), &key.hint())
}

/// At most 300 bytes of `text`, cut at a character boundary.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scrubbed_and_messages_shortened() {
        let key = ApiKey::generate();
        let text = format!("duplicate key {} for user", key.expose());
        let scrubbed = scrub(&text, &key);
        assert!(!scrubbed.contains(key.expose()));
        assert!(scrubbed.contains(&key.hint()));
        assert_eq!(shorten(&"é".repeat(400)).chars().count(), 151);
    }
}
