-- key-sync's key pool. Owned and written by key-sync only.
-- The seed's `key` column is replaced by what may be stored at rest: AES-256-GCM
-- ciphertext, a unique SHA-256 hash (lookups, uniqueness) and a display hint.
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    name            text NOT NULL DEFAULT 'default',
    is_default      boolean NOT NULL DEFAULT false,
    key_ciphertext  bytea NOT NULL,
    key_hash        bytea NOT NULL,
    key_hint        text NOT NULL,
    status          smallint NOT NULL DEFAULT 1,
    newapi_synced   boolean NOT NULL DEFAULT false,
    newapi_token_id bigint,
    sync_error      text,
    sync_attempts   integer NOT NULL DEFAULT 0,
    next_sync_at    timestamptz,
    -- An attempt in flight holds the key until this time, so replicas, the webhook's
    -- inline push and manual re-syncs never push the same key at once.
    sync_claimed_until timestamptz,
    last_sync_at    timestamptz,
    synced_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_key_hash_unique UNIQUE (key_hash),
    CONSTRAINT api_keys_key_hash_len CHECK (octet_length(key_hash) = 32),
    CONSTRAINT api_keys_name_len CHECK (char_length(name) BETWEEN 1 AND 64),
    CONSTRAINT api_keys_status CHECK (status IN (1, 2)),
    CONSTRAINT api_keys_synced_has_token CHECK (NOT newapi_synced OR newapi_token_id IS NOT NULL)
);

-- One default key per user, however many times the signup webhook arrives.
CREATE UNIQUE INDEX api_keys_one_default_per_user ON api_keys (user_id) WHERE is_default;
CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at);
-- The sync worker's queue: unsynced keys by due time.
CREATE INDEX api_keys_sync_due ON api_keys (next_sync_at) WHERE NOT newapi_synced;

SELECT diesel_manage_updated_at('api_keys');
