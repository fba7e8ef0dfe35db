//! What key-sync tells the other Tollgate services about one user's keys
//! (`GET /internal/users/{user_id}/keys`): never key material, only what identifies a key and
//! its new-api token.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's keys, oldest first, every status included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserKeys {
    /// The Supabase user.
    pub user_id: Uuid,
    /// Every key the user has (active or not).
    pub keys: Vec<UserKey>,
}

/// One key of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserKey {
    /// key-sync's id of the key.
    pub key_id: Uuid,
    /// Display name.
    pub name: String,
    /// `sk-…last4`.
    pub key_hint: String,
    /// new-api's `tokens.id` once the key landed there (its usage is logged under it).
    pub newapi_token_id: Option<i64>,
    /// Whether the key is usable now.
    pub status: KeyStatus,
    /// Unix seconds.
    pub created_at: i64,
}

/// Whether a key is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UserKeyStatus))]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Switched off (its past usage still counts).
    Disabled,
}
