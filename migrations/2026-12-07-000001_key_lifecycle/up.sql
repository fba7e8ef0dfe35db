-- Key lifecycle (rename, revoke, rotate) and stock new-api users.
--
-- api_keys: `status` 2 now means revoked (by its owner, an admin, a rotation or the user's
-- deletion). `sync_version` counts changes of what the gateway should hold (the key's
-- existence, name and status); an attempt records the version it applied, so a change made
-- while an attempt is in flight is never marked synced by that attempt.
ALTER TABLE api_keys
    ADD COLUMN sync_version integer NOT NULL DEFAULT 0,
    ADD COLUMN revoked_at timestamptz,
    ADD COLUMN replaced_by uuid;
-- A revoked key that never reached the gateway is in sync without a token id.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_synced_has_token;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_synced_has_token
    CHECK (NOT newapi_synced OR newapi_token_id IS NOT NULL OR status = 2);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_revoked_at
    CHECK ((status = 2) = (revoked_at IS NOT NULL));

-- Supabase users as the gateway knows them. No foreign key to auth.users: the row must
-- outlive the user, so a deletion can still disable the user's new-api user and tokens
-- after `api_keys` has cascaded away. `newapi_user_id` is set in database mode once the
-- new-api user exists. A deleted user (`deleted_at`) is disabled in the gateway by the
-- sync worker: `disabled` once that landed; bookkeeping as for keys.
CREATE TABLE gateway_users (
    user_id            uuid PRIMARY KEY,
    newapi_user_id     bigint,
    newapi_username    text,
    -- From the signup webhook: new-api's `display_name` and `email` in database mode.
    email              text,
    deleted_at         timestamptz,
    disabled           boolean NOT NULL DEFAULT false,
    disable_error      text,
    disable_attempts   integer NOT NULL DEFAULT 0,
    next_disable_at    timestamptz,
    disable_claimed_until timestamptz,
    disabled_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT gateway_users_disabled_when_deleted CHECK (NOT disabled OR deleted_at IS NOT NULL)
);
CREATE UNIQUE INDEX gateway_users_newapi_user ON gateway_users (newapi_user_id)
    WHERE newapi_user_id IS NOT NULL;
-- The worker's queue of deleted users still to disable.
CREATE INDEX gateway_users_disable_due ON gateway_users (next_disable_at)
    WHERE deleted_at IS NOT NULL AND NOT disabled;

SELECT diesel_manage_updated_at('gateway_users');
