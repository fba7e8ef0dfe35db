//! Diesel table definitions for Tollgate's own tables (one migration set in `migrations/`).
//! Each table has one owning service that writes it.

diesel::table! {
    /// key-sync's key pool (owner: key-sync).
    api_keys (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        is_default -> Bool,
        key_ciphertext -> Bytea,
        key_hash -> Bytea,
        key_hint -> Text,
        status -> Int2,
        newapi_synced -> Bool,
        newapi_token_id -> Nullable<Int8>,
        sync_error -> Nullable<Text>,
        sync_attempts -> Int4,
        next_sync_at -> Nullable<Timestamptz>,
        sync_claimed_until -> Nullable<Timestamptz>,
        last_sync_at -> Nullable<Timestamptz>,
        synced_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}
