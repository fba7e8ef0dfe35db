//! The JSON answers of key-sync, as types: what handlers send and what clients (tests, the
//! load generator) read back. Only the owner's view carries the full key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::keys::OwnedKey;
use crate::store::KeyRow;

/// Where the gateway is with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// new-api holds the key as Tollgate does: present, or disabled once revoked.
    Synced,
    /// Not yet pushed, or a retry is due.
    Pending,
    /// The last attempt failed; retried on the backoff schedule.
    Failed,
}

/// Whether a key still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Usable on the gateway (once synced).
    Active,
    /// Revoked by its owner, an operator, a rotation or the user's deletion.
    Revoked,
}

/// A key's sync progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncView {
    /// See [`SyncState`].
    pub state: SyncState,
    /// new-api's `tokens.id`, once known.
    pub newapi_token_id: Option<i64>,
    /// Attempts so far.
    pub attempts: i32,
    /// The last attempt's error, if it failed.
    pub error: Option<String>,
    /// When the next attempt is due (`null` once synced).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When new-api last confirmed the key.
    pub synced_at: Option<DateTime<Utc>>,
}

/// The owner's view of a key (`GET /v1/keys` and the key routes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OwnerKey {
    /// Tollgate's key id.
    pub id: Uuid,
    /// The owner's name for it.
    pub name: String,
    /// The key every user gets at signup.
    pub default: bool,
    /// The full `sk-…` key: `null` once revoked or if it cannot be decrypted.
    pub key: Option<String>,
    /// Enough of the key to recognise it.
    pub hint: String,
    /// See [`KeyStatus`].
    pub status: KeyStatus,
    /// Shorthand for `sync.state == synced`.
    pub synced: bool,
    /// See [`SyncView`].
    pub sync: SyncView,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key that replaced it in a rotation.
    pub replaced_by: Option<Uuid>,
    /// On a revocation: when the gateway stops accepting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takes_effect: Option<String>,
    /// On a rotation: the key it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaced>,
}

/// The key a rotation revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Replaced {
    /// Its id.
    pub id: Uuid,
    /// Now `revoked`.
    pub status: KeyStatus,
    /// Its sync progress (the revocation travels to new-api too).
    pub sync: SyncView,
    /// When the gateway stops accepting it.
    pub takes_effect: String,
}

/// The operator's view (`GET /admin/keys`): never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminKey {
    /// Tollgate's key id.
    pub id: Uuid,
    /// Its owner (Supabase `auth.users.id`).
    pub user_id: Uuid,
    /// The owner's name for it.
    pub name: String,
    /// The key every user gets at signup.
    pub default: bool,
    /// Enough of the key to recognise it.
    pub hint: String,
    /// See [`KeyStatus`].
    pub status: KeyStatus,
    /// Shorthand for `sync.state == synced`.
    pub synced: bool,
    /// See [`SyncView`].
    pub sync: SyncView,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub updated_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key that replaced it in a rotation.
    pub replaced_by: Option<Uuid>,
}

/// `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OwnerKeyList {
    /// The caller's keys.
    pub keys: Vec<OwnerKey>,
}

/// `GET /admin/keys`: one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminKeyPage {
    /// The page's keys, newest first.
    pub keys: Vec<AdminKey>,
    /// Its number, from 1.
    pub page: i64,
    /// Keys per page.
    pub page_size: i64,
    /// Keys matching the filter.
    pub total: i64,
}

/// `POST /admin/keys/{id}/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResyncAnswer {
    /// The key.
    pub key_id: Uuid,
    /// Whether new-api now holds it.
    pub synced: bool,
    /// new-api's `tokens.id`, when synced and known.
    pub newapi_token_id: Option<i64>,
    /// Why not, when not synced.
    pub error: Option<String>,
}

/// `POST /webhooks/supabase/users`, for a signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignupAnswer {
    /// The user's default key.
    pub key_id: Uuid,
    /// Whether new-api already holds it.
    pub synced: bool,
    /// `false` when this delivery repeated an earlier one.
    pub created: bool,
}

/// `POST /webhooks/supabase/users`, for a deleted user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletionAnswer {
    /// The deleted user.
    pub user_id: Uuid,
    /// Always `true`.
    pub deleted: bool,
    /// Whether an earlier delivery already handled it.
    pub already: bool,
    /// Whether the user's new-api account was disabled.
    pub disabled: bool,
    /// Keys this delivery revoked.
    pub keys_revoked: usize,
}

/// `POST /webhooks/supabase/users`, for any other event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IgnoredAnswer {
    /// Always `true`.
    pub ignored: bool,
    /// Why.
    pub reason: String,
}

/// The body of `POST /v1/keys` and of both renames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NameRequest {
    /// 1 to 50 printable characters, trimmed.
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
}

/// What `POST /webhooks/supabase/users` answers, by event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookAnswer {
    /// An INSERT: the user's default key.
    Signup(SignupAnswer),
    /// A DELETE: the user's keys revoked.
    Deletion(DeletionAnswer),
    /// Any other event.
    Ignored(IgnoredAnswer),
}

fn sync_state(row: &KeyRow) -> SyncState {
    match (row.newapi_synced, row.sync_error.is_some()) {
        (true, _) => SyncState::Synced,
        (false, true) => SyncState::Failed,
        (false, false) => SyncState::Pending,
    }
}

/// `active` or `revoked`.
pub fn status(row: &KeyRow) -> KeyStatus {
    if row.is_active() {
        KeyStatus::Active
    } else {
        KeyStatus::Revoked
    }
}

/// Where the gateway is with this key.
pub fn sync(row: &KeyRow) -> SyncView {
    SyncView {
        state: sync_state(row),
        newapi_token_id: row.newapi_token_id,
        attempts: row.sync_attempts,
        error: row.sync_error.clone(),
        next_attempt_at: if row.newapi_synced {
            None
        } else {
            row.next_sync_at
        },
        synced_at: row.synced_at,
    }
}

/// The owner's view of an active key with its full value; a revoked key without.
pub fn owned(key: &OwnedKey) -> OwnerKey {
    let full = key
        .key
        .as_ref()
        .filter(|_| key.row.is_active())
        .map(|k| k.to_user_string());
    owner(&key.row, full)
}

/// The owner's view, with `key` (`sk-…`, `None` if it cannot be decrypted or is revoked).
pub fn owner(row: &KeyRow, key: Option<String>) -> OwnerKey {
    OwnerKey {
        id: row.id,
        name: row.name.clone(),
        default: row.is_default,
        key,
        hint: row.key_hint.clone(),
        status: status(row),
        synced: row.newapi_synced,
        sync: sync(row),
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        replaced_by: row.replaced_by,
        takes_effect: None,
        replaces: None,
    }
}

/// The admin view: never the key itself.
pub fn admin(row: &KeyRow) -> AdminKey {
    AdminKey {
        id: row.id,
        user_id: row.user_id,
        name: row.name.clone(),
        default: row.is_default,
        hint: row.key_hint.clone(),
        status: status(row),
        synced: row.newapi_synced,
        sync: sync(row),
        created_at: row.created_at,
        updated_at: row.updated_at,
        revoked_at: row.revoked_at,
        replaced_by: row.replaced_by,
    }
}
