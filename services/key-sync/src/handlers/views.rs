//! JSON views of keys. Only the owner's view carries the full key.

use serde_json::{json, Value};

use crate::keys::OwnedKey;
use crate::store::KeyRow;

fn sync_state(row: &KeyRow) -> &'static str {
    match (row.newapi_synced, row.sync_error.is_some()) {
        (true, _) => "synced",
        (false, true) => "failed",
        (false, false) => "pending",
    }
}

/// `active` or `revoked`.
pub fn status(row: &KeyRow) -> &'static str {
    if row.is_active() {
        "active"
    } else {
        "revoked"
    }
}

/// Where the gateway is with this key: `synced` (new-api holds the key as Tollgate does:
/// present, or disabled once revoked), `pending` or `failed`.
pub fn sync(row: &KeyRow) -> Value {
    json!({
        "state": sync_state(row),
        "newapi_token_id": row.newapi_token_id,
        "attempts": row.sync_attempts,
        "error": row.sync_error,
        "next_attempt_at": if row.newapi_synced { None } else { row.next_sync_at },
        "synced_at": row.synced_at,
    })
}

/// The owner's view of an active key with its full value; a revoked key without.
pub fn owned(key: &OwnedKey) -> Value {
    let full = key
        .key
        .as_ref()
        .filter(|_| key.row.is_active())
        .map(|k| k.to_user_string());
    owner(&key.row, full)
}

/// The owner's view, with `key` (`sk-…`, `null` if it cannot be decrypted or is revoked).
pub fn owner(row: &KeyRow, key: Option<String>) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "default": row.is_default,
        "key": key,
        "hint": row.key_hint,
        "status": status(row),
        "synced": row.newapi_synced,
        "sync": sync(row),
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "replaced_by": row.replaced_by,
    })
}

/// The admin view: never the key itself.
pub fn admin(row: &KeyRow) -> Value {
    json!({
        "id": row.id,
        "user_id": row.user_id,
        "name": row.name,
        "default": row.is_default,
        "hint": row.key_hint,
        "status": status(row),
        "synced": row.newapi_synced,
        "sync": sync(row),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "revoked_at": row.revoked_at,
        "replaced_by": row.replaced_by,
    })
}
